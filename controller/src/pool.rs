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
    /// Why the last creation failed, if it did.
    failure: Option<Error>,
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
        for _ in 0..size.max(1) {
            pool.order_one();
        }
        let mut state = pool.lock();
        while state.idle.len() < size.max(1) {
            if let Some(failure) = state.failure.take() {
                drop(state);
                return Err(failure);
            }
            state = pool
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        Ok(pool)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn order_one(&self) {
        self.lock().live += 1;
        let _ = self.orders.send(Order::Create);
    }

    /// Takes an idle, live container, waiting for one if all are busy.
    fn take(&self) -> Result<Container, Error> {
        let mut state = self.lock();
        loop {
            while let Some(mut container) = state.idle.pop() {
                if container.is_alive() {
                    return Ok(container);
                }
                // Its init died while idle: replace it.
                state.live -= 1;
                drop(state);
                drop(container);
                self.order_one();
                state = self.lock();
            }
            if state.live == 0 {
                let why = state.failure.take();
                return Err(why.unwrap_or_else(|| Error::Pool("no container is left".into())));
            }
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Gives a container back, or destroys it and orders a replacement.
    fn give_back(&self, mut container: Container, healthy: bool) {
        if healthy && container.reusable() {
            self.lock().idle.push(container);
            self.shared.changed.notify_one();
        } else {
            drop(container);
            self.lock().live -= 1;
            self.order_one();
        }
    }

    /// Runs one program in an idle container; see [`Container::run`]. If the container
    /// turns out to be dead before the program started (its init was killed from outside
    /// while idle), the run goes to another container, once.
    pub fn run(
        &self,
        room: &[Op],
        run: &Run<'_>,
        stdio: [BorrowedFd<'_>; 3],
        limits: &Limits,
    ) -> Result<Outcome, Error> {
        self.run_files(room, run, stdio, limits, None)
    }

    /// [`Pool::run`] with files in and out ([`Container::run_files`]): the collected
    /// outputs, the files copied out and the stored ids are in `files.out`.
    pub fn run_files(
        &self,
        room: &[Op],
        run: &Run<'_>,
        stdio: [BorrowedFd<'_>; 3],
        limits: &Limits,
        mut files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        let mut container = self.take()?;
        let mut result = container.run_files(room, run, stdio, limits, files.as_deref_mut());
        if let Err(Error::ContainerGone(_)) = result {
            self.give_back(container, false);
            container = self.take()?;
            result = container.run_files(room, run, stdio, limits, files);
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

    /// The idle containers' memory that reclaim cannot take back, bytes.
    pub fn idle_resident(&self) -> Result<u64, Error> {
        self.lock()
            .idle
            .iter()
            .map(Container::memory_resident)
            .sum()
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
    default: Pool,
    by_root: Mutex<Vec<(PathBuf, Arc<Pool>)>>,
}

/// The most roots of their own kept warm at once, beside the default one.
pub const MAX_ROOTS: usize = 4;

impl Pools {
    /// Starts the default root's pool of `size` containers and waits until all are ready.
    pub fn new(size: usize) -> Result<Pools, Error> {
        Ok(Pools {
            size,
            default: Pool::new(ContainerConfig::default(), size)?,
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
        stdio: [BorrowedFd<'_>; 3],
        limits: &Limits,
    ) -> Result<Outcome, Error> {
        self.run_files(rootfs, room, run, stdio, limits, None)
    }

    /// [`Pools::run`] with files in and out; see [`Pool::run_files`].
    pub fn run_files(
        &self,
        rootfs: Option<&Path>,
        room: &[Op],
        run: &Run<'_>,
        stdio: [BorrowedFd<'_>; 3],
        limits: &Limits,
        files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        match rootfs {
            None => self.default.run_files(room, run, stdio, limits, files),
            Some(rootfs) => self
                .for_root(rootfs)?
                .run_files(room, run, stdio, limits, files),
        }
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
