//! # A pool of pre-forked containers
//!
//! `Pool::run` takes an idle container, runs one program in it in a fresh room (init kills
//! and reaps everything; the room's mounts go after the run; the cgroup's counters are
//! reset at the next run's start) and gives it back. A container that fails a step, whose
//! room could not be taken down, or whose init has died, is destroyed and a replacement is
//! ordered; creation happens off the hot path, on the pool's keeper thread. [`Pools`] keeps
//! one pool per root.
//!
//! The keeper thread creates every container, because a container dies with the thread
//! that created it (PR_SET_PDEATHSIG): the keeper lives as long as the pool. Dropping the
//! pool stops the keeper, which destroys every idle container and its cgroup.

use crate::container::{Container, ContainerConfig};
use crate::error::Error;
use crate::files::RunFiles;
use crate::mount::plan::Op;
use crate::spec::Limits;
use crate::status::Outcome;
use runbox_shared::Run;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Containers kept warm, shared by any number of threads.
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
    orders: mpsc::Sender<Order>,
    keeper: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Containers made since the start.
    created: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    idle: Vec<Container>,
    /// Containers that exist or are being made: idle, busy or ordered.
    live: usize,
    /// How many the pool keeps: more are made for a group larger than this, and destroyed
    /// when they come back with no one waiting.
    size: usize,
    /// Why the last creation failed, if it did.
    failure: Option<Error>,
    /// The next taker's ticket, and the ticket served now: takers are served in the order
    /// they came, so that a group waiting for k idle containers is not passed over for
    /// ever by single runs that each take one.
    next_ticket: u64,
    serving: u64,
}

impl State {
    /// True when a taker is waiting for its turn or for containers.
    fn someone_waits(&self) -> bool {
        self.serving != self.next_ticket
    }
}

#[derive(Debug)]
enum Order {
    Create,
    Stop,
}

impl Pool {
    /// Starts a pool of `size` containers of `config` and waits until all are ready.
    pub fn new(config: ContainerConfig, size: usize) -> Result<Pool, Error> {
        let shared = Arc::new(Shared::default());
        shared.state.lock().unwrap_or_else(|e| e.into_inner()).size = size.max(1);
        let (orders, inbox) = mpsc::channel();
        let keeper_shared = Arc::clone(&shared);
        let keeper = std::thread::Builder::new()
            .name("runbox-pool".into())
            .spawn(move || keep(config, keeper_shared, inbox))
            .map_err(|e| Error::io("spawn the pool's keeper thread", e))?;
        let pool = Pool {
            shared,
            orders,
            keeper: Some(keeper),
        };
        let mut state = pool.lock();
        pool.order(&mut state, size.max(1));
        while state.idle.len() < size.max(1) {
            if let Some(failure) = state.failure.take() {
                drop(state);
                return Err(failure);
            }
            state = pool.wait(state);
        }
        drop(state);
        Ok(pool)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.shared
            .changed
            .wait(state)
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Orders `n` more containers from the keeper.
    fn order(&self, state: &mut State, n: usize) {
        state.live += n;
        for _ in 0..n {
            let _ = self.orders.send(Order::Create);
        }
    }

    /// Takes `n` idle, live containers at once, never some while waiting for the rest (two
    /// groups each holding part of what they need would wait for each other for ever), in
    /// the order the takers came. Where the pool has fewer than `n` in all, it grows for
    /// this taker (and shrinks back as they come back: [`Pool::give_back`]).
    fn take(&self, n: usize) -> Result<Vec<Container>, Error> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let mut grown = false;
        let taken = loop {
            if state.serving != ticket {
                state = self.wait(state);
                continue;
            }
            if state.idle.len() >= n {
                let at = state.idle.len() - n;
                let mut taken: Vec<Container> = state.idle.drain(at..).collect();
                let before = taken.len();
                // An init that died while idle: replaced, and the taker waits again.
                taken.retain_mut(Container::is_alive);
                let dead = before - taken.len();
                if dead == 0 {
                    break Ok(taken);
                }
                state.idle.append(&mut taken);
                state.live -= dead;
                self.order(&mut state, dead);
                continue;
            }
            if state.live < n {
                match state.failure.take() {
                    // What this taker ordered could not be made.
                    Some(why) if grown => break Err(why),
                    // A failure of long ago is no reason to refuse: this taker tries.
                    _ => {}
                }
                let more = n - state.live;
                self.order(&mut state, more);
                grown = true;
            }
            state = self.wait(state);
        };
        state.serving += 1;
        drop(state);
        self.shared.changed.notify_all();
        taken
    }

    /// Gives a container back, or destroys it and orders a replacement; one made beyond the
    /// pool's size is destroyed once no taker waits.
    fn give_back(&self, mut container: Container, healthy: bool) {
        let mut state = self.lock();
        let mut surplus = Vec::new();
        if healthy && container.reusable() {
            state.idle.push(container);
            while state.live > state.size && !state.someone_waits() {
                let Some(spare) = state.idle.pop() else { break };
                surplus.push(spare);
                state.live -= 1;
            }
        } else {
            surplus.push(container);
            state.live -= 1;
            if state.live < state.size || state.someone_waits() {
                self.order(&mut state, 1);
            }
        }
        drop(state);
        self.shared.changed.notify_all();
        drop(surplus);
    }

    /// Runs one program in an idle container; see [`Container::run`]. If the container
    /// turns out to be dead before the program started (its init was killed from outside
    /// while idle), the run goes to another container, once.
    pub fn run(
        &self,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
    ) -> Result<Outcome, Error> {
        self.run_files(room, run, fds, limits, None)
    }

    /// [`Pool::run`] with files in and out ([`Container::run_files`]): the collected
    /// outputs, the files copied out and the stored ids are in `files.out`.
    pub fn run_files(
        &self,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        let container = self.take_one()?;
        self.run_in(container, room, run, fds, limits, files)
    }

    fn take_one(&self) -> Result<Container, Error> {
        let mut one = self.take(1)?;
        one.pop()
            .ok_or_else(|| Error::Pool("took no container".into()))
    }

    /// [`Pool::run_files`] in `container`, taken from this pool, which gets it back.
    fn run_in(
        &self,
        mut container: Container,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        mut files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        let mut result = container.run_files(room, run, fds, limits, files.as_deref_mut());
        if let Err(Error::ContainerGone(_)) = result {
            self.give_back(container, false);
            container = self.take_one()?;
            result = container.run_files(room, run, fds, limits, files);
        }
        let fit = result
            .as_ref()
            .map_or_else(Error::leaves_container_fit, |_| true);
        self.give_back(container, fit);
        result
    }

    /// The pids (on the host) of the idle containers' inits.
    pub fn idle_pids(&self) -> Vec<libc::pid_t> {
        self.lock().idle.iter().map(Container::pid).collect()
    }

    /// Containers this pool has made since its start (replacements included).
    pub fn created(&self) -> u64 {
        self.shared.created.load(Ordering::Relaxed)
    }

    /// The containers that exist or are being made, idle or busy.
    pub fn live(&self) -> usize {
        self.lock().live
    }

    /// The idle containers' memory that reclaim cannot take back, bytes.
    pub fn idle_resident(&self) -> Result<u64, Error> {
        self.lock()
            .idle
            .iter()
            .map(Container::memory_resident)
            .sum()
    }
}

/// A container taken from a pool for one run of a group, all of whose containers were
/// taken at once ([`Pools::lease`]); given back when its run ends, or when it is dropped
/// unused.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    container: Option<Container>,
}

impl Lease {
    /// Runs one program in the leased container, as [`Pool::run`] does, and gives the
    /// container back.
    pub fn run(
        self,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
    ) -> Result<Outcome, Error> {
        self.run_files(room, run, fds, limits, None)
    }

    /// [`Lease::run`] with files in and out; see [`Pool::run_files`].
    pub fn run_files(
        mut self,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        let container = self
            .container
            .take()
            .ok_or_else(|| Error::Pool("the lease holds no container".into()))?;
        self.pool.run_in(container, room, run, fds, limits, files)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            self.pool.give_back(container, true);
        }
    }
}

/// The keeper thread: creates containers on order, until told to stop; then destroys the
/// idle ones.
fn keep(config: ContainerConfig, shared: Arc<Shared>, inbox: mpsc::Receiver<Order>) {
    for order in inbox {
        match order {
            Order::Create => {
                let made = Container::create(&config);
                let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                match made {
                    Ok(container) => {
                        state.idle.push(container);
                        shared.created.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        state.live -= 1;
                        state.failure = Some(e);
                    }
                }
                drop(state);
                shared.changed.notify_all();
            }
            Order::Stop => break,
        }
    }
    let idle = std::mem::take(&mut shared.state.lock().unwrap_or_else(|e| e.into_inner()).idle);
    drop(idle);
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.orders.send(Order::Stop);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

/// The warm pools of a batch or a server: one for the default root, made at once, and one
/// for each `rootfs` asked for, made on its first request and kept for the next ones (at
/// most [`MAX_ROOTS`] of them; the least recently used is dropped for a new one, once the
/// runs it serves are over).
#[derive(Debug)]
pub struct Pools {
    size: usize,
    default: Arc<Pool>,
    by_root: Mutex<Vec<(PathBuf, Arc<Pool>)>>,
}

/// The most roots of their own kept warm at once, beside the default one.
pub const MAX_ROOTS: usize = 4;

impl Pools {
    /// Starts the default root's pool of `size` containers and waits until all are ready.
    pub fn new(size: usize) -> Result<Pools, Error> {
        Ok(Pools {
            size,
            default: Arc::new(Pool::new(ContainerConfig::default(), size)?),
            by_root: Mutex::new(Vec::new()),
        })
    }

    /// Runs one program in a warm container of the pool for `rootfs` (the default root for
    /// `None`), making that pool first if it is new; see [`Pool::run`].
    pub fn run(
        &self,
        rootfs: Option<&Path>,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
    ) -> Result<Outcome, Error> {
        self.run_files(rootfs, room, run, fds, limits, None)
    }

    /// [`Pools::run`] with files in and out; see [`Pool::run_files`].
    pub fn run_files(
        &self,
        rootfs: Option<&Path>,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        match rootfs {
            None => self.default.run_files(room, run, fds, limits, files),
            Some(rootfs) => self
                .for_root(rootfs)?
                .run_files(room, run, fds, limits, files),
        }
    }

    /// Takes one container for each of `roots` (a group's members: the pool of each one's
    /// `rootfs`, `None` for the default root), all of a pool's at once, the pools in one
    /// fixed order (the default root first, then by path), so that no two groups each hold
    /// what the other waits for. The leases come in the order of `roots`.
    pub fn lease(&self, roots: &[Option<&Path>]) -> Result<Vec<Lease>, Error> {
        let mut distinct: Vec<Option<&Path>> = roots.to_vec();
        distinct.sort();
        distinct.dedup();
        let mut leases: Vec<Option<Lease>> = roots.iter().map(|_| None).collect();
        for root in distinct {
            let pool = match root {
                None => Arc::clone(&self.default),
                Some(rootfs) => self.for_root(rootfs)?,
            };
            let wanted: Vec<usize> = (0..roots.len()).filter(|&i| roots[i] == root).collect();
            let containers = pool.take(wanted.len())?;
            for (at, container) in wanted.into_iter().zip(containers) {
                leases[at] = Some(Lease {
                    pool: Arc::clone(&pool),
                    container: Some(container),
                });
            }
        }
        leases
            .into_iter()
            .map(|lease| lease.ok_or_else(|| Error::Pool("a member got no container".into())))
            .collect()
    }

    /// The containers of the default root's pool that exist or are being made.
    pub fn live(&self) -> usize {
        self.default.live()
    }

    /// The pool for `rootfs`, most recently used now.
    fn for_root(&self, rootfs: &Path) -> Result<Arc<Pool>, Error> {
        let mut pools = self.by_root.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = pools.iter().position(|(root, _)| root == rootfs) {
            let entry = pools.remove(at);
            let pool = Arc::clone(&entry.1);
            pools.push(entry);
            return Ok(pool);
        }
        // Made under the lock: two first requests for one root make one pool.
        let config = ContainerConfig {
            root: crate::mount::RootSpec {
                rootfs: Some(rootfs.to_path_buf()),
                ..crate::mount::RootSpec::default()
            },
            ..ContainerConfig::default()
        };
        let pool = Arc::new(Pool::new(config, self.size)?);
        if pools.len() == MAX_ROOTS {
            pools.remove(0);
        }
        pools.push((rootfs.to_path_buf(), Arc::clone(&pool)));
        Ok(pool)
    }

    /// The host pids of every idle container's init, of every root.
    pub fn idle_pids(&self) -> Vec<libc::pid_t> {
        let pools = self.by_root.lock().unwrap_or_else(|e| e.into_inner());
        let mut pids = self.default.idle_pids();
        pools
            .iter()
            .for_each(|(_, pool)| pids.extend(pool.idle_pids()));
        pids
    }

    /// Containers made since the start, by the pools of every root kept now.
    pub fn created(&self) -> u64 {
        let pools = self.by_root.lock().unwrap_or_else(|e| e.into_inner());
        self.default.created() + pools.iter().map(|(_, pool)| pool.created()).sum::<u64>()
    }
}
