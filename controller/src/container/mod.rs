//! # Container mode: a pre-forked sandbox with an init as PID 1
//!
//! ## Theory of operation
//!
//! [`Container::create`] plans the root's base (pure, [`crate::mount::plan`]), takes two
//! host ids of its own ([`crate::sandbox_ids`]), makes the container's cgroup, prepares
//! every string the child will need, opens a `SOCK_SEQPACKET` socket pair, and clones a
//! child into new user, pid, mount, ipc, uts, net and cgroup namespaces. Three processes
//! take part:
//!
//! - **the controller** (this process) writes the child's uid and gid maps (uid 0, init, and
//!   uid [`runbox_shared::PROGRAM_ID`], every program, are the two host ids, no real user),
//!   says go, waits for `Ready`, and starts the container's room thread ([`room`]);
//! - **the set-up child** ([`setup`]) joins the cgroup (v1: by writing 0 to `tasks` files
//!   the controller opened; v2: the controller moves it), makes `/` private, builds the
//!   root on a tmpfs, pivots
//!   into it, detaches the old root, makes the root read-only, sets the hostname and
//!   domainname, drops every capability but init's ([`runbox_shared::INIT_CAPABILITIES`]),
//!   sets no_new_privs and `execveat`s the embedded
//!   init from a sealed memfd, with the socket as fd 3. A failed step comes back as a
//!   `Failed` record naming the step, the errno and the plan entry;
//! - **init** (crate runbox-init) is then PID 1 and serves runs: see its theory of operation.
//!
//! [`Container::run`] reclaims what earlier runs left and sets the limits on init's own
//! charge, puts up the run's fresh room ([`room`]), sends one request with its stdio fds,
//! waits for `Started` and then `Finished` or `Failed`, and takes the room down. Without
//! root the controller cannot mount into a live container: the set-up child builds the
//! room in, init and the programs share the user's one id, and the container serves one
//! run ([`rootless`]). Dropping a [`Container`] kills its PID 1 (and so everything in it)
//! and reaps it. The set-up child has `PR_SET_PDEATHSIG`: a container dies with the
//! controller **thread** that created it, so create containers on threads that live as
//! long as they do.

pub mod init_image;
pub mod room;
pub mod setup;

use crate::cgroup::Cgroup;
use crate::error::Error;
use crate::files::collect::Collector;
use crate::files::{Area, KeptMounts, RunFiles};
use crate::mount::apply::Prepared;
use crate::mount::host::HostFs;
use crate::mount::plan::Op;
use crate::mount::{plan, RootSpec};
use crate::output;
use crate::sandbox_ids;
use crate::spec::Limits;
use crate::status::Outcome;
use crate::supervise::{account, hear, wait_for_reply, Figures, Heard, Watch};
use crate::sys::{self, process, socket};
use room::{HostIds, RoomThread};
use runbox_shared::{self as wire, Failure, Reply, Request, Run, MAX_MESSAGE};
use setup::Names;
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where each set-up child mounts its new root, in its own mount namespace (so one fixed,
/// empty directory serves every container at once). Root-owned, never written.
pub const STAGE_DIR: &str = "/run/runbox/root";

/// [`STAGE_DIR`] for root; for another user, who cannot write /run, `runbox/root` in their
/// `$XDG_RUNTIME_DIR` (or in the temp dir, as `runbox-<uid>/root`).
pub fn stage_dir() -> PathBuf {
    let uid = process::effective_uid();
    if uid == 0 {
        return STAGE_DIR.into();
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("runbox/root"),
        _ => std::env::temp_dir().join(format!("runbox-{uid}/root")),
    }
}

/// The uid and gid maps of a container's user namespace. As root: uid 0 (init) and
/// [`wire::PROGRAM_ID`] (every program) are the container's two host ids, no real user.
/// Without root (`rootless`), the kernel lets a user map only their own ids, one each, with
/// setgroups denied: the container's root is the user who runs runbox, and init and every
/// program share that one uid (the program then runs without capabilities instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    /// `/proc/PID/uid_map`.
    pub uid_map: String,
    /// `/proc/PID/gid_map`.
    pub gid_map: String,
    /// Write "deny" to `/proc/PID/setgroups` first (what the kernel requires of a user
    /// without CAP_SETGID in the parent namespace).
    pub deny_setgroups: bool,
}

impl IdMaps {
    /// The maps for a controller running as `uid`/`gid`, for a container of host ids
    /// `ids`. Pure.
    pub fn for_controller(uid: u32, gid: u32, ids: HostIds) -> IdMaps {
        match uid {
            0 => {
                let map = format!("0 {} 1\n{} {} 1\n", ids.init, wire::PROGRAM_ID, ids.program);
                IdMaps {
                    uid_map: map.clone(),
                    gid_map: map,
                    deny_setgroups: false,
                }
            }
            _ => IdMaps {
                uid_map: format!("0 {uid} 1\n"),
                gid_map: format!("0 {gid} 1\n"),
                deny_setgroups: true,
            },
        }
    }

    /// True when runbox is not root (the maps are the user's own ids).
    pub fn rootless(&self) -> bool {
        self.deny_setgroups
    }
}

/// True when runbox runs without root: a container then has one id (the user's), its room
/// is built in at its creation, and it serves one run (see the README, Without root).
pub fn rootless() -> bool {
    process::effective_uid() != 0
}

/// Every namespace a sandbox gets.
pub const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// How long a container may take to start before it is killed.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the controller waits for init to start a program.
const REPLY_GRACE: Duration = Duration::from_secs(2);

/// What every container of a kind shares.
#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    /// The root filesystem: its `rootfs` makes the container's base; its `work_dir` and
    /// `binds` are the room of each run, given to [`Container::run`].
    pub root: RootSpec,
    /// Hostname and domainname.
    pub names: Names,
}

impl ContainerConfig {
    /// The room of a run with this configuration's work dir and binds (planned against the
    /// host, so a missing bind source is an error here).
    pub fn room(&self) -> Result<Vec<Op>, Error> {
        Ok(plan::plan(&self.root, &HostFs)?.room().to_vec())
    }
}

/// A live container: its PID 1, the controller's end of the socket, its cgroup, its room
/// thread and its host ids.
#[derive(Debug)]
pub struct Container {
    pid: libc::pid_t,
    socket: OwnedFd,
    buf: Vec<u8>,
    cgroup: Cgroup,
    /// The (memory, pids) limits last written to the cgroup.
    limits_set: Option<(u64, u64)>,
    /// The cgroup's OOM-kill count after the last run.
    oom_seen: u64,
    /// What init alone holds, bytes: the charge of the new container, on which every run's
    /// memory limit is set.
    baseline: u64,
    /// Where each run's room comes from.
    rooms: Rooms,
    /// The host ids of init and of the programs, this container's alone (none without
    /// root: the user's own id is the only one).
    ids: Option<[sandbox_ids::Id; 2]>,
    /// A run's room could not be taken down: the container must not serve again.
    unclean: bool,
}

/// How a container gets each run's fresh room.
#[derive(Debug)]
enum Rooms {
    /// As root: its room thread mounts each run's room into the live container and takes
    /// it down after the run.
    Thread(RoomThread),
    /// Without root: the controller cannot mount into a live container, so the set-up
    /// child built this room (the plan's room steps) in at its creation; the container
    /// serves one run, in it.
    BuiltIn(Vec<Op>),
    /// None to be had: the container is being made, or its built-in room has served.
    None,
}

/// Reclaim before a run when what earlier runs left above init's own charge passes this
/// share of the run's memory limit (1/32; 8 MiB at 256M), or [`MIN_RECLAIM`]: a run's peak
/// then includes at most that much of an earlier run's cache, and cache that every run
/// reads again (an interpreter's libraries) is not evicted each time.
const RECLAIM_SHARE: u64 = 32;
/// See [`RECLAIM_SHARE`].
const MIN_RECLAIM: u64 = 1 << 20;
/// How long a run waits, at most, for what the last run left that the kernel frees on its
/// own after a while (the last run's IPC namespace: within about 15 ms here), and how
/// often it looks.
const FREEING_WAIT: Duration = Duration::from_millis(200);
/// See [`FREEING_WAIT`].
const FREEING_POLL: Duration = Duration::from_millis(1);

/// A set-up child just cloned, told to go.
struct Spawned {
    pid: libc::pid_t,
    /// The controller's end of the socket.
    socket: OwnedFd,
    /// The plan steps the child carries out (for naming a failed one).
    base: Vec<Op>,
    /// Without root, the room among them ([`Rooms::BuiltIn`]).
    built_in: Option<Vec<Op>>,
}

/// The container's set-up: plan, prepare, clone, maps, go. Returns the child, which
/// executes init (`init_memfd`) after the set-up.
#[allow(unsafe_code)] // the clone; see the crate docs
fn spawn_sandbox(
    root: &RootSpec,
    names: &Names,
    cgroup: &Cgroup,
    ids: HostIds,
    init_memfd: libc::c_int,
) -> Result<Spawned, Error> {
    let argv = sys::CStrArray::new(vec![CString::from(c"runbox-init")]);
    let envp = sys::CStrArray::new(Vec::new());
    // As root, the base alone: the work dir and the binds are each run's room. Without
    // root the controller cannot mount into a live container: the room is built in.
    let plan = match rootless() {
        true => plan::plan(root, &HostFs)?,
        false => plan::plan(
            &RootSpec {
                rootfs: root.rootfs.clone(),
                ..RootSpec::default()
            },
            &HostFs,
        )?,
    };
    let (base, built_in) = match rootless() {
        true => (plan.ops.clone(), Some(plan.room().to_vec())),
        false => (plan.base().to_vec(), None),
    };
    let stage = stage_dir();
    let prepared = Prepared::new(&base, &stage)
        .map_err(|_| Error::BadRequest("a path holds a NUL byte".into()))?;
    std::fs::create_dir_all(&stage)
        .map_err(|e| Error::io(format!("mkdir {}", stage.display()), e))?;
    let maps = IdMaps::for_controller(process::effective_uid(), process::effective_gid(), ids);
    let rootless = maps.rootless();
    let (ours, theirs) = socket::seqpacket_pair().map_err(|e| Error::io("socketpair", e))?;
    let join_files = cgroup.self_join_files().map_err(Error::Cgroup)?;
    let join_fds: Vec<libc::c_int> = join_files.iter().map(AsRawFd::as_raw_fd).collect();
    let self_join = !join_fds.is_empty();
    let placement = cgroup.placement_dir().transpose().map_err(Error::Cgroup)?;
    let dir = placement.as_ref().map(AsRawFd::as_raw_fd);
    // SAFETY: the child below only calls `setup::enter`, `setup::exec_init` and `setup::fail`, which make
    // syscalls on data prepared above and never allocate, lock or return.
    let forked = unsafe { process::clone_in_cgroup(NAMESPACES, dir) };
    drop(placement);
    let (forked, born_inside) = forked.map_err(|e| Error::io("clone into new namespaces", e))?;
    match forked {
        None => {
            // The controller's end must not stay open here: with it, the child would never
            // see the controller go away while it waits for "go".
            drop(ours);
            let fd = theirs.as_raw_fd();
            let err = match setup::enter(&prepared, names, fd, &join_fds, rootless) {
                Ok(()) => setup::exec_init(fd, init_memfd, &argv, &envp)
                    .map_or_else(|e| e, |never| match never {}),
                Err(e) => e,
            };
            setup::fail(fd, err)
        }
        Some(pid) => {
            drop(theirs);
            drop(join_files);
            // Neither born inside nor with files to join by: the child is moved from here.
            let joined = match self_join || born_inside {
                true => Ok(()),
                false => cgroup.add(pid).map_err(Error::Cgroup),
            };
            let started = joined
                .and_then(|()| write_id_maps(pid, &maps))
                .and_then(|()| {
                    socket::send(ours.as_raw_fd(), b"go")
                        .map_err(|e| Error::io("send go to the set-up child", e))
                });
            if let Err(e) = started {
                kill_and_reap(pid);
                return Err(e);
            }
            Ok(Spawned {
                pid,
                socket: ours,
                base,
                built_in,
            })
        }
    }
}

/// Writes the child's uid and gid maps ([`IdMaps`]). As root setgroups stays allowed, so
/// that the child can empty its supplementary groups.
fn write_id_maps(pid: libc::pid_t, maps: &IdMaps) -> Result<(), Error> {
    let write = |file: &str, value: &str| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, value).map_err(|e| Error::io(format!("write {path}"), e))
    };
    if maps.deny_setgroups {
        write("setgroups", "deny")?;
    }
    write("uid_map", &maps.uid_map)?;
    write("gid_map", &maps.gid_map)
}

/// Kills a child of ours by pid and reaps it.
pub(crate) fn kill_and_reap(pid: libc::pid_t) {
    let _ = process::kill(pid, libc::SIGKILL);
    let _ = process::wait4(pid, 0);
}

/// Why a child of ours ended, for messages.
pub(crate) fn reap_reason(pid: libc::pid_t) -> String {
    match process::wait4(pid, 0) {
        Ok(Some((_, status, _))) if libc::WIFEXITED(status) => {
            format!("exit code {}", libc::WEXITSTATUS(status))
        }
        Ok(Some((_, status, _))) => format!("signal {}", libc::WTERMSIG(status)),
        Ok(None) => "still running".into(),
        Err(e) => format!("wait4: {e}"),
    }
}

impl Container {
    /// Builds a container (its base: `config.root.rootfs`) in a cgroup of its own, with
    /// host ids of its own, and waits until its init is ready.
    pub fn create(config: &ContainerConfig) -> Result<Container, Error> {
        let memfd = init_image::memfd()?;
        let take = || sandbox_ids::take().map_err(|e| Error::io("take a sandbox id", e));
        let ids = match rootless() {
            true => None,
            false => Some([take()?, take()?]),
        };
        let host_ids = host_ids_of(&ids);
        let cgroup = Cgroup::create().map_err(Error::NoCgroup)?;
        let spawned = spawn_sandbox(&config.root, &config.names, &cgroup, host_ids, memfd)?;
        let (pid, base) = (spawned.pid, spawned.base);
        let mut container = Container {
            pid,
            socket: spawned.socket,
            buf: vec![0; MAX_MESSAGE],
            cgroup,
            limits_set: None,
            oom_seen: 0,
            baseline: 0,
            rooms: Rooms::None,
            ids,
            unclean: false,
        };
        match container.receive(Some(START_TIMEOUT), "at start")? {
            Reply::Ready => {}
            Reply::Failed(failure) => return Err(setup_error(failure, &base)),
            other => return Err(Error::Protocol(format!("expected ready, got {other:?}"))),
        }
        container.rooms = match spawned.built_in {
            Some(room) => Rooms::BuiltIn(room),
            None => Rooms::Thread(RoomThread::enter(pid, host_ids)?),
        };
        container.oom_seen = container.cgroup.usage().map_err(Error::Cgroup)?.oom_kills;
        container.baseline = container.cgroup.memory_current().map_err(Error::Cgroup)?;
        Ok(container)
    }

    /// The container's room thread, for the benchmark of the room's pieces.
    #[doc(hidden)]
    pub fn room_thread(&self) -> Option<&RoomThread> {
        match &self.rooms {
            Rooms::Thread(thread) => Some(thread),
            _ => None,
        }
    }

    /// The host ids of init and of the programs.
    pub fn host_ids(&self) -> HostIds {
        host_ids_of(&self.ids)
    }

    /// Runs one program under `limits` in a fresh room made of `room` (the plan's room:
    /// [`crate::mount::MountPlan::room`]). `fds` become its fds 0, 1, 2 (stdin, stdout,
    /// stderr) and on (a group's pipes: 3, 4, ...), at most [`wire::MAX_FDS`]. A container
    /// made without root serves one run, in the room of its configuration.
    pub fn run(
        &mut self,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
    ) -> Result<Outcome, Error> {
        self.run_files(room, run, fds, limits, None)
    }

    /// [`Container::run`] with files: `files`' inputs are written into the room's fresh
    /// tmpfs before it is attached, its collectors drained while the program runs, and its
    /// outputs copied out after ([`crate::files`]); what came out is in `files.out`.
    pub fn run_files(
        &mut self,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        match std::mem::replace(&mut self.rooms, Rooms::None) {
            Rooms::Thread(thread) => {
                let outcome = self.run_in_room(&thread, room, run, fds, limits, files);
                self.rooms = Rooms::Thread(thread);
                outcome
            }
            Rooms::BuiltIn(built) if built == room => self.run_built_in(run, fds, limits, files),
            Rooms::BuiltIn(built) => {
                self.rooms = Rooms::BuiltIn(built);
                Err(Error::BadRequest(
                    "without root a container's room (its /w, /tmp and binds) is built in \
                     when it is made, and this run asks for another"
                        .into(),
                ))
            }
            Rooms::None => Err(Error::Protocol(
                "a container made without root serves one run, and it has served".into(),
            )),
        }
    }

    /// [`Container::run`] in the room built in at the container's creation (without root).
    /// What the run wrote is looked at through init's root, `/proc/PID/root` (every program
    /// of the run is gone by then, so nothing there changes under the look); the room goes
    /// with the container.
    fn run_built_in(
        &mut self,
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        let watch = match files {
            Some(files) if !files.spec.is_empty() => {
                return Err(Error::BadRequest(
                    "copy_in, copy_out and copy_out_cached need a room mounted for the run: \
                     not without root"
                        .into(),
                ))
            }
            Some(files) => watch_of(files),
            None => Watch::default(),
        };
        self.start_clean(limits)?;
        // Its one run: no next one to fork ahead for.
        let served = self.serve(run, fds, limits, watch, false)?;
        let root = PathBuf::from(format!("/proc/{}/root", self.pid));
        let dirs = [root.join("w"), root.join("tmp")];
        let dirs_full = output::dirs_hold_full_file(&[&dirs[0], &dirs[1]], limits.output);
        Ok(with_full_outputs(served, limits, fds, dirs_full))
    }

    /// [`Container::run_files`], with the room thread.
    fn run_in_room(
        &mut self,
        thread: &RoomThread,
        room: &[Op],
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        mut files: Option<&mut RunFiles<'_>>,
    ) -> Result<Outcome, Error> {
        if !(3..=wire::MAX_FDS).contains(&fds.len()) {
            let why = format!("a program takes 3 to {} fds", wire::MAX_FDS);
            return Err(Error::BadRequest(why));
        }
        let ids = self.host_ids();
        let prepared = thread.prepare(room, ids)?;
        // The roots of /w and /tmp, held to read what the run wrote once it is over.
        let mount_of = |area: Area| prepared.mount_of(Path::new(area.dir()));
        let kept =
            KeptMounts::keep(mount_of).map_err(|e| Error::io("keep the room's mounts", e))?;
        if let Some(files) = files.as_deref() {
            files
                .fill(mount_of, ids.program)
                .map_err(|e| Error::BadRequest(e.to_string()))?;
        }
        let room = match thread.put_up(prepared) {
            Ok(room) => room,
            // The last room stayed up: nothing ran here, and nothing will again.
            Err((e, false)) => {
                self.unclean = true;
                return Err(Error::ContainerGone(e.to_string()));
            }
            Err((e, true)) => return Err(e),
        };
        let watch = files.as_deref_mut().map_or_else(Watch::default, watch_of);
        // After the put-up, which followed the last room's take-down: its tmpfs are freed.
        let served = self
            .start_clean(limits)
            .and_then(|()| self.serve(run, fds, limits, watch, true));
        // The room goes, whatever happened, without waiting (the next put-up reports a
        // failure); what the run wrote is looked at through the mounts held.
        if thread.take_down(room).is_err() {
            self.unclean = true;
        }
        let dirs_full = output::trees_hold_full_file(&kept.roots(), limits.output);
        let outcome = with_full_outputs(served?, limits, fds, dirs_full);
        if let Some(files) = files {
            files
                .copy_out(&kept)
                .map_err(|e| Error::io("copy_out", e))?;
        }
        Ok(outcome)
    }

    /// Before a run: what earlier runs left that the kernel can take back is reclaimed
    /// (past [`RECLAIM_SHARE`] of the limit), the limits are set on init's own charge, and
    /// the counters reset.
    fn start_clean(&mut self, limits: &Limits) -> Result<(), Error> {
        let bound = (limits.memory / RECLAIM_SHARE).max(MIN_RECLAIM);
        let left = |cgroup: &Cgroup| {
            let current = cgroup.memory_current().map_err(Error::Cgroup)?;
            Ok::<u64, Error>(current.saturating_sub(self.baseline))
        };
        let first = left(&self.cgroup)?;
        if first > bound {
            self.cgroup.reclaim(first).map_err(Error::Cgroup)?;
            // What reclaim cannot take back though nothing holds it any more: the last
            // run's IPC namespace (its SysV shared memory, semaphores and queues), which
            // the kernel frees from a work queue after an RCU grace period, milliseconds
            // after init left it. Waited for, a bounded while: still there after it, it
            // would be this run's (in its figures, against its limit, which could not even
            // be set below it), so the container is retired and the run goes elsewhere.
            let until = Instant::now() + FREEING_WAIT;
            let mut still = left(&self.cgroup)?;
            while still > bound && Instant::now() < until {
                std::thread::sleep(FREEING_POLL);
                still = left(&self.cgroup)?;
            }
            if still > bound {
                self.unclean = true;
                return Err(Error::ContainerGone(format!(
                    "{} KiB an earlier run left are still charged to the container",
                    still / 1024
                )));
            }
        }
        let wanted = (
            limits.memory.saturating_add(self.baseline),
            limits.processes.saturating_add(1),
        );
        if self.limits_set != Some(wanted) {
            self.cgroup
                .set_limits(wanted.0, wanted.1)
                .map_err(Error::Cgroup)?;
            self.limits_set = Some(wanted);
        }
        self.cgroup.reset().map_err(Error::Cgroup)
    }

    /// Sends the run to init and waits for its end; `ahead`: then tells init that it may
    /// fork the next run's process.
    fn serve(
        &mut self,
        run: &Run<'_>,
        fds: &[BorrowedFd<'_>],
        limits: &Limits,
        watch: Watch<'_>,
        ahead: bool,
    ) -> Result<Outcome, Error> {
        let mut run = run.clone();
        // Another uid than init's where the container has two.
        run.program_ids = self.ids.is_some();
        // The passed fds in order: the i-th becomes the program's fd i (at most MAX_FDS,
        // checked by the caller, each index below 256).
        run.fds = (0..fds.len() as u8).collect();
        let datagram = wire::encode(&Request::Run(run), &mut self.buf)?;
        // Failing here, the container was gone before the program could start: say so, so
        // that a pool can run the request elsewhere.
        let gone = |e: Error| Error::ContainerGone(e.to_string());
        socket::send_with_fds(self.socket.as_raw_fd(), datagram, fds)
            .map_err(|e| gone(Error::io("send the run request to init", e)))?;
        match self
            .receive(Some(REPLY_GRACE), "to the run request")
            .map_err(gone)?
        {
            Reply::Started { .. } => {}
            Reply::Failed(failure) => return Ok(Outcome::NotStarted(failure)),
            Reply::Malformed(e) => {
                let refused = format!("init refused the request: {}", e.describe());
                return Err(Error::Protocol(refused));
            }
            other => return Err(Error::Protocol(format!("expected started, got {other:?}"))),
        }
        let socket = self.socket.as_raw_fd();
        let mut kill_order = || {
            let mut buf = [0u8; 8];
            let datagram = wire::encode(&Request::Kill, &mut buf)?;
            socket::send(socket, datagram).map_err(|e| Error::io("send the kill order to init", e))
        };
        let Watch { collectors, cancel } = watch;
        let waited = wait_for_reply(
            socket,
            &mut self.buf,
            &self.cgroup,
            limits,
            Watch {
                collectors: &mut *collectors,
                cancel,
            },
            &mut kill_order,
        );
        let waited = match waited {
            Err(e) => {
                let _ = process::kill(self.pid, libc::SIGKILL);
                return Err(e);
            }
            Ok(waited) => waited,
        };
        match waited.reply {
            Some(Reply::Finished(finished)) => {
                let usage = self.cgroup.usage().map_err(Error::Cgroup)?;
                // Read: init may fork the next run's process now, which this run's counters
                // must not see. Not heard, it only makes the next run fork its own; a gone
                // init is the next run's error.
                if ahead {
                    let mut buf = [0u8; 8];
                    if let Ok(datagram) = wire::encode(&Request::Ahead, &mut buf) {
                        let _ = socket::send(self.socket.as_raw_fd(), datagram);
                    }
                }
                let figures = Figures {
                    usage,
                    baseline: self.baseline,
                    oom_before: self.oom_seen,
                    cpu_killed: waited.cpu_killed,
                    cancelled: waited.cancelled,
                    max_rss_kib: finished.max_rss_kib,
                };
                // A collected output past its bound: the controller stopped the run for it.
                let output_over = collectors.iter().any(Collector::over);
                let mut accounting = account(figures, output_over);
                // A peak past the limit (the cgroup's, or the resident set's, which counts
                // mapped file pages charged elsewhere) is never ok, whatever the exit.
                accounting.memory_over = accounting.memory_bytes > limits.memory;
                self.oom_seen = usage.oom_kills;
                Ok(Outcome::Finished {
                    finished,
                    accounting,
                })
            }
            Some(Reply::Failed(failure)) => Ok(Outcome::NotStarted(failure)),
            Some(other) => Err(Error::Protocol(format!("expected finished, got {other:?}"))),
            None => {
                let _ = process::kill(self.pid, libc::SIGKILL);
                Err(Error::ContainerDied(reap_reason(std::mem::replace(
                    &mut self.pid,
                    0,
                ))))
            }
        }
    }

    /// Receives one reply; a container that closes or times out is killed.
    fn receive(&mut self, timeout: Option<Duration>, when: &'static str) -> Result<Reply, Error> {
        match hear(self.socket.as_raw_fd(), &mut self.buf, timeout)? {
            Heard::Reply(reply) => Ok(reply),
            Heard::Nothing => {
                let _ = process::kill(self.pid, libc::SIGKILL);
                Err(Error::Unresponsive(when))
            }
            Heard::Closed => {
                let _ = process::kill(self.pid, libc::SIGKILL);
                let pid = std::mem::replace(&mut self.pid, 0);
                Err(Error::ContainerDied(reap_reason(pid)))
            }
        }
    }

    /// The container's PID 1, as the host sees it.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// The controller's end of the socket, for tests of the protocol.
    pub fn socket(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.socket.as_fd()
    }

    /// True while init runs and its end of the socket is open. An init found dead is reaped
    /// here (so its pid is never signalled again).
    pub fn is_alive(&mut self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        if !matches!(process::wait4(self.pid, libc::WNOHANG), Ok(None)) {
            self.pid = 0;
            return false;
        }
        !socket::peer_closed(self.socket.as_raw_fd())
    }

    /// True when the container may serve another run: init alive, the last run's room
    /// taken down, and (without root) its one run not yet served.
    pub fn reusable(&mut self) -> bool {
        !self.unclean && !matches!(self.rooms, Rooms::None) && self.is_alive()
    }

    /// The memory charged to the container now, bytes (an idle container: init's own, and
    /// reclaimable kernel caches).
    pub fn memory_current(&self) -> Result<u64, Error> {
        self.cgroup.memory_current().map_err(Error::Cgroup)
    }

    /// The container's memory that reclaim cannot take back (anonymous and tmpfs), bytes.
    pub fn memory_resident(&self) -> Result<u64, Error> {
        self.cgroup.resident().map_err(Error::Cgroup)
    }
}

/// The host ids of init and of the programs: the two taken, or (without root) the user's
/// own for both.
fn host_ids_of(ids: &Option<[sandbox_ids::Id; 2]>) -> HostIds {
    match ids {
        Some([init, program]) => HostIds {
            init: init.get(),
            program: program.get(),
        },
        None => HostIds {
            init: process::effective_uid(),
            program: process::effective_uid(),
        },
    }
}

/// What the wait for a run's end watches of its files: the collectors and the cancel order.
fn watch_of<'w>(files: &'w mut RunFiles<'_>) -> Watch<'w> {
    Watch {
        collectors: &mut *files.collectors,
        cancel: files.cancel,
    }
}

/// `outcome`, with its output verdict: a full file among its output fds (1 and on: stdout,
/// stderr; a group's pipes are no files), or `dirs_full` (a full file under `/w` or `/tmp`).
fn with_full_outputs(
    mut outcome: Outcome,
    limits: &Limits,
    fds: &[BorrowedFd<'_>],
    dirs_full: bool,
) -> Outcome {
    if let Outcome::Finished { accounting, .. } = &mut outcome {
        accounting.output_full |= dirs_full || output::outputs_full(limits.output, &fds[1..]);
    }
    outcome
}

/// The error for a failed set-up step, naming the base's plan entry where the step has one.
pub(crate) fn setup_error(failure: Failure, base: &[Op]) -> Error {
    Error::Setup {
        failure,
        entry: Prepared::describe(base, failure.index as usize).filter(|_| is_plan_step(failure)),
    }
}

/// True when the failure's index points into the mount plan.
fn is_plan_step(failure: Failure) -> bool {
    use runbox_shared::Step::*;
    matches!(
        failure.step,
        MakeMountPoint
            | MakeFileMountPoint
            | BindMount
            | RemountReadOnly
            | MakeSymlink
            | MountTmpfs
            | MountProc
    )
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.pid > 0 {
            kill_and_reap(self.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_maps_to_the_sandbox_id_and_a_user_to_their_own() {
        let ids = HostIds {
            init: 2_000_000_010,
            program: 2_000_000_011,
        };
        let root = IdMaps::for_controller(0, 0, ids);
        assert_eq!(root.uid_map, "0 2000000010 1\n1 2000000011 1\n");
        assert_eq!(root.gid_map, root.uid_map);
        assert!(!root.rootless());
        let user = IdMaps::for_controller(1000, 1001, ids);
        assert_eq!(
            user,
            IdMaps {
                uid_map: "0 1000 1\n".into(),
                gid_map: "0 1001 1\n".into(),
                deny_setgroups: true,
            }
        );
    }
}
