//! # A fresh room for every run
//!
//! A warm container's base (its root's entries, `/proc`, `/dev`) is built once by the
//! set-up child; what one run may change or bring is mounted for that run alone and taken
//! away after it: a new tmpfs at `/w` (or the judge's directory), a new tmpfs at `/tmp`,
//! the request's and the profile's binds. The steps are the plan's room
//! ([`MountPlan::room`](crate::mount::MountPlan::room)), carried out in two places:
//!
//! 1. [`Room::prepare`], on the calling thread (on the host's root): every mount of the room
//!    made **detached** — `fsopen`/`fsmount` for a tmpfs (owned by the program's host uid
//!    for `/w`, by init's for `/tmp`; nosuid, nodev; large folios where the kernel has
//!    them), or taken from the [`Spares`] the room thread made after the last take-down,
//!    `open_tree(OPEN_TREE_CLONE |
//!    AT_RECURSIVE)` of a judge's path reached through no symbolic link, made nosuid and
//!    nodev (and read-only unless `:rw`) recursively with `mount_setattr`;
//! 2. on the container's **room thread** ([`RoomThread`]): a controller thread that left the
//!    process's shared filesystem state (`unshare(CLONE_FS)`) and joined the container's
//!    mount namespace (`setns`), so that its paths are the container's. It makes the mount
//!    points the room needs (inside the fresh tmpfs, or, on the container's read-only root,
//!    through a writable detached copy of the root mount), attaches each mount with
//!    `move_mount`, and after the run (without the caller waiting: what was written is
//!    looked at through descriptors of the mounts, [`crate::output`]) detaches it all
//!    (`umount2(MNT_DETACH)`), removing the mount points it made. What a
//!    run left in its tmpfs is freed with the mount, never walked file by file, and no
//!    host directory is ever emptied.
//!
//! A room that cannot be taken down cleanly makes its container unfit to serve again
//! ([`crate::container::Container::reusable`]).

use crate::error::Error;
use crate::mount::plan::Op;
use crate::sys::{fs, mount, process};
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// The host ids of a container: its init's and its programs'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostIds {
    /// What init (uid 0 inside) is on the host.
    pub init: u32,
    /// What a program (uid [`runbox_shared::PROGRAM_ID`] inside) is on the host.
    pub program: u32,
}

/// One mount of the room, made and not yet attached.
#[derive(Debug)]
enum Piece {
    /// A mount point to make: a directory, or an empty file.
    MountPoint { path: PathBuf, dir: bool },
    /// A detached mount, and where it goes.
    Mount {
        tree: OwnedFd,
        target: PathBuf,
        tmpfs: bool,
        entry: String,
    },
}

/// A run's room, from its preparation to its removal.
#[derive(Debug, Default)]
pub struct Room {
    pieces: Vec<Piece>,
    /// Where mounts were attached, in order.
    attached: Vec<PathBuf>,
    /// The options of its tmpfs mounts: what the room thread makes spares of.
    tmpfs: Vec<TmpfsOptions>,
}

/// What tells one fresh tmpfs of a room from another: its root's mode and owner (a host
/// id, the program's or init's). Two made with the same options are alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TmpfsOptions {
    mode: u32,
    owner: u32,
}

/// Whether this kernel's tmpfs takes `huge=within_size` (not without transparent huge
/// pages): folios larger than a page where they lie within the file's size. A file copied
/// in then costs half as much to write (1 MiB from a memfd by sendfile, a C loop on this
/// kind of machine: 249 us with pages, 123 us with large folios); a program's memory is
/// charged the same bytes, and a small file still takes pages alone.
static LARGE_FOLIOS: AtomicBool = AtomicBool::new(true);

impl TmpfsOptions {
    /// A new detached tmpfs with these options, nosuid and nodev, with large folios where
    /// the kernel has them ([`LARGE_FOLIOS`]).
    fn make(self) -> std::io::Result<OwnedFd> {
        let mode = CString::new(format!("{:o}", self.mode)).expect("digits");
        let owner = CString::new(self.owner.to_string()).expect("digits");
        let options = [(c"mode", &*mode), (c"uid", &*owner), (c"gid", &*owner)];
        let attributes = mount::ATTR_NOSUID | mount::ATTR_NODEV;
        if LARGE_FOLIOS.load(Ordering::Relaxed) {
            let mut with = options.to_vec();
            with.push((c"huge", c"within_size"));
            match mount::new_tmpfs(&with, attributes) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    LARGE_FOLIOS.store(false, Ordering::Relaxed)
                }
                made => return made,
            }
        }
        mount::new_tmpfs(&options, attributes)
    }
}

/// Fresh tmpfs mounts made ahead, detached, that no program and no room has seen: the room
/// thread makes them after a take-down (the answer already given), the next
/// [`Room::prepare`] takes one instead of making it on the run's path.
#[derive(Debug, Clone, Default)]
pub struct Spares(Arc<Mutex<Vec<(TmpfsOptions, OwnedFd)>>>);

/// The most spares kept: a room has two tmpfs (`/w` and `/tmp`).
const MAX_SPARES: usize = 4;

impl Spares {
    /// A spare made with `options`, if there is one.
    fn take(&self, options: TmpfsOptions) -> Option<OwnedFd> {
        let mut spares = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let at = spares.iter().position(|(o, _)| *o == options)?;
        Some(spares.swap_remove(at).1)
    }

    /// Makes a spare for each of `wanted` that has none, up to [`MAX_SPARES`]. A failure
    /// only means the next room makes its own (and reports the error there).
    fn refill(&self, wanted: &[TmpfsOptions]) {
        for &options in wanted {
            let have = {
                let spares = self.0.lock().unwrap_or_else(|e| e.into_inner());
                let alike = spares.iter().filter(|(o, _)| *o == options).count();
                let wanted_alike = wanted.iter().filter(|o| **o == options).count();
                alike >= wanted_alike || spares.len() >= MAX_SPARES
            };
            if have {
                continue;
            }
            if let Ok(tree) = options.make() {
                let mut spares = self.0.lock().unwrap_or_else(|e| e.into_inner());
                spares.push((options, tree));
            }
        }
    }
}

/// The error of a room's step, naming the plan entry.
fn failed(entry: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::io(format!("fresh room: {entry}"), source)
}

/// A path as a C string.
fn c_path(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::BadRequest(format!("{}: a path holds a NUL byte", path.display())))
}

impl Room {
    /// Makes every mount of `ops` (the plan's room) detached, on the host's paths (a tmpfs
    /// taken from `spares` where one is made alike); see the module's docs.
    pub fn prepare(ops: &[Op], ids: HostIds, spares: &Spares) -> Result<Room, Error> {
        let mut pieces = Vec::with_capacity(ops.len());
        let mut tmpfs = Vec::new();
        for op in ops {
            let entry = op.to_string();
            let piece = match op {
                Op::MakeDir { path, .. } => Piece::MountPoint {
                    path: path.clone(),
                    dir: true,
                },
                Op::MakeFile { path } => Piece::MountPoint {
                    path: path.clone(),
                    dir: false,
                },
                Op::Tmpfs { target, mode } => {
                    // The program's own /w; everything else init's (a sticky /tmp).
                    let owner = match target == Path::new("/w") {
                        true => ids.program,
                        false => ids.init,
                    };
                    let options = TmpfsOptions { mode: *mode, owner };
                    tmpfs.push(options);
                    let tree = match spares.take(options) {
                        Some(tree) => tree,
                        None => options.make().map_err(failed(&entry))?,
                    };
                    Piece::Mount {
                        tree,
                        target: target.clone(),
                        tmpfs: true,
                        entry,
                    }
                }
                Op::Bind {
                    source,
                    target,
                    writable,
                } => {
                    let tree = mount::clone_tree(&c_path(source)?).map_err(failed(&entry))?;
                    let mut attributes = mount::ATTR_NOSUID | mount::ATTR_NODEV;
                    if !writable {
                        attributes |= mount::ATTR_RDONLY;
                    }
                    mount::set_attributes(tree.as_fd(), attributes, 0).map_err(failed(&entry))?;
                    Piece::Mount {
                        tree,
                        target: target.clone(),
                        tmpfs: false,
                        entry,
                    }
                }
                Op::Proc { .. } | Op::Symlink { .. } | Op::RemountReadOnly { .. } => {
                    return Err(Error::Protocol(format!("{entry}: not a step of a room")));
                }
            };
            pieces.push(piece);
        }
        Ok(Room {
            pieces,
            tmpfs,
            ..Room::default()
        })
    }

    /// The mount made for `target` (`/w`, `/tmp`), before the room is put up: the root of
    /// a fresh tmpfs that only the controller can reach yet (or the judge's `dir`).
    pub fn mount_of(&self, target: &Path) -> Option<BorrowedFd<'_>> {
        self.pieces.iter().find_map(|piece| match piece {
            Piece::Mount {
                tree, target: t, ..
            } if t == target => Some(tree.as_fd()),
            _ => None,
        })
    }

    /// Makes the mount points and attaches the mounts, in the plan's order. Runs on the room
    /// thread. On an error, what was attached stays recorded, for [`Room::take_down`].
    ///
    /// Mount points on the container's root stay between runs (a judge binds the same
    /// targets run after run): those of an earlier room that this one does not need are
    /// removed first, so that no program sees another run's.
    fn put_up(&mut self, state: &mut ThreadState) -> Result<(), Error> {
        let on_root: Vec<(PathBuf, bool)> = self
            .pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::MountPoint { path, dir } if !self.in_fresh_tmpfs(path) => {
                    Some((path.strip_prefix("/").unwrap_or(path).to_path_buf(), *dir))
                }
                _ => None,
            })
            .collect();
        state.keep_only(&on_root)?;
        let mut fresh: Vec<PathBuf> = Vec::new();
        for piece in std::mem::take(&mut self.pieces) {
            match piece {
                Piece::MountPoint { path, dir } => {
                    let entry = format!("mount point {}", path.display());
                    if fresh.iter().any(|tmpfs| path.starts_with(tmpfs)) {
                        // Inside a tmpfs of this room: gone with it.
                        let c = c_path(&path)?;
                        match dir {
                            true => fs::mkdir(&c, 0o755),
                            false => fs::create_file(&c, 0o644),
                        }
                        .map_err(failed(&entry))?;
                        continue;
                    }
                    let relative = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
                    if state.kept.contains(&(relative.clone(), dir)) {
                        continue;
                    }
                    let c = c_path(&relative)?;
                    let made = state.on_root(|root| match dir {
                        true => fs::mkdir_at(root, &c, 0o755),
                        false => fs::create_file_at(root, &c, 0o644),
                    });
                    if made?.map_err(failed(&entry))? {
                        state.kept.push((relative, dir));
                    }
                }
                Piece::Mount {
                    tree,
                    target,
                    tmpfs,
                    entry,
                } => {
                    mount::attach(tree.as_fd(), &c_path(&target)?).map_err(failed(&entry))?;
                    if tmpfs {
                        fresh.push(target.clone());
                    }
                    self.attached.push(target);
                }
            }
        }
        Ok(())
    }

    /// True when `path` lies in a tmpfs this room mounts (made before it, as the plan
    /// orders them).
    fn in_fresh_tmpfs(&self, path: &Path) -> bool {
        self.pieces.iter().any(|piece| {
            matches!(piece, Piece::Mount { target, tmpfs: true, .. } if path.starts_with(target) && path != target)
        })
    }

    /// Detaches every mount of the room, in reverse order. Runs on the room thread; every
    /// mount is tried, and the first error returned.
    fn take_down(&mut self) -> Result<(), Error> {
        let mut first = Ok(());
        while let Some(target) = self.attached.pop() {
            let detached = c_path(&target).and_then(|c| {
                mount::umount2(&c, libc::MNT_DETACH)
                    .map_err(failed(&format!("detach {}", target.display())))
            });
            if first.is_ok() {
                first = detached;
            }
        }
        first
    }
}

/// What the room thread keeps between runs.
#[derive(Debug)]
struct ThreadState {
    /// A detached copy of the container's root mount, writable: where mount points on the
    /// read-only root are made and removed.
    root: Option<OwnedFd>,
    /// The host id of the container's root (init): the root's files are made as it.
    init_id: u32,
    /// Mount points made on the root (relative paths; directory or file), in order.
    kept: Vec<(PathBuf, bool)>,
    /// How the last room's take-down, which ends after the run's answer, went.
    last_take_down: Result<(), Error>,
}

impl ThreadState {
    /// Removes the kept mount points that are not in `needed`, deepest first.
    fn keep_only(&mut self, needed: &[(PathBuf, bool)]) -> Result<(), Error> {
        let mut kept = std::mem::take(&mut self.kept);
        let mut result = Ok(());
        for at in (0..kept.len()).rev() {
            if needed.contains(&kept[at]) || result.is_err() {
                continue;
            }
            let (path, dir) = kept.remove(at);
            let entry = format!("remove mount point /{}", path.display());
            let c = c_path(&path)?;
            result = self
                .on_root(|root| fs::unlink_at(root, &c, dir))
                .and_then(|removed| removed.map_err(failed(&entry)));
            if result.is_err() {
                kept.insert(at, (path, dir));
            }
        }
        self.kept = kept;
        result
    }

    /// Calls `f` with the writable copy of the container's root (made on first use), with
    /// the thread's fs ids those of the container's root: the root's tmpfs belongs to the
    /// container's user namespace, where the host's root is no id (EOVERFLOW).
    fn on_root<T>(&mut self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> Result<T, Error> {
        if self.root.is_none() {
            let entry = "a writable copy of the root mount";
            let root = mount::clone_root_mount().map_err(failed(entry))?;
            mount::set_attributes(root.as_fd(), 0, mount::ATTR_RDONLY).map_err(failed(entry))?;
            self.root = Some(root);
        }
        let root = self.root.as_ref().expect("made above").as_fd();
        process::set_fs_ids(self.init_id);
        let done = f(root);
        process::set_fs_ids(0);
        Ok(done)
    }
}

/// A job for the room thread.
type Job = Box<dyn FnOnce(&mut ThreadState) + Send>;

/// A controller thread in a container's mount namespace, serving its rooms.
#[derive(Debug)]
pub struct RoomThread {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    spares: Spares,
}

impl RoomThread {
    /// Starts the thread for the container whose PID 1 is `init` (on the host).
    pub fn enter(init: libc::pid_t, ids: HostIds) -> Result<RoomThread, Error> {
        let path = format!("/proc/{init}/ns/mnt");
        let namespace =
            std::fs::File::open(&path).map_err(|e| Error::io(format!("open {path}"), e))?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (entered, entering) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("runbox-room".into())
            .spawn(move || {
                // Its own root and working directory (no longer the process's), then the
                // container's: from here on its paths are the container's.
                let joined = process::unshare(libc::CLONE_FS)
                    .map_err(|e| Error::io("unshare(CLONE_FS) on the room thread", e))
                    .and_then(|()| {
                        process::setns(namespace.as_fd(), libc::CLONE_NEWNS)
                            .map_err(|e| Error::io(format!("setns {path}"), e))
                    });
                drop(namespace);
                let ok = joined.is_ok();
                let _ = entered.send(joined);
                if !ok {
                    return;
                }
                let mut state = ThreadState {
                    root: None,
                    init_id: ids.init,
                    kept: Vec::new(),
                    last_take_down: Ok(()),
                };
                for job in inbox {
                    job(&mut state);
                }
            })
            .map_err(|e| Error::io("spawn a room thread", e))?;
        let thread = RoomThread {
            jobs: Some(jobs),
            thread: Some(thread),
            spares: Spares::default(),
        };
        match entering.recv() {
            Ok(Ok(())) => Ok(thread),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Protocol("the room thread ended at its start".into())),
        }
    }

    /// [`Room::prepare`] with this container's spare tmpfs mounts.
    pub fn prepare(&self, ops: &[Op], ids: HostIds) -> Result<Room, Error> {
        Room::prepare(ops, ids, &self.spares)
    }

    /// Runs `job` on the thread and returns what it gives.
    fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut ThreadState) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let (answer, answered) = mpsc::sync_channel(1);
        let sent = self.jobs.as_ref().map(|jobs| {
            jobs.send(Box::new(move |state| {
                let _ = answer.send(job(state));
            }))
        });
        let gone = || Error::Protocol("the room thread is gone".into());
        match sent {
            Some(Ok(())) => answered.recv().map_err(|_| gone()),
            _ => Err(gone()),
        }
    }

    /// Puts `room` up in the container. On an error, what was put up is taken down again.
    /// The error says whether the container is still clean: not when this take-down, or the
    /// last room's (which ended after its run's answer), failed.
    pub fn put_up(&self, mut room: Room) -> Result<Room, (Error, bool)> {
        let done = self.call(move |state| {
            if let Err(e) = std::mem::replace(&mut state.last_take_down, Ok(())) {
                state.last_take_down = Err(Error::Protocol("an earlier room stayed up".into()));
                return Err((e, false));
            }
            match room.put_up(state) {
                Ok(()) => Ok(room),
                Err(e) => {
                    let clean = room.take_down().is_ok();
                    Err((e, clean))
                }
            }
        });
        match done {
            Ok(Ok(room)) => Ok(room),
            Ok(Err(e)) => Err(e),
            Err(e) => Err((e, false)),
        }
    }

    /// Takes `room` down after its run: the caller does not wait for the detaching, whose
    /// failure the next [`RoomThread::put_up`] reports, nor for the spares made for the
    /// next room. What the run left is still there to look at through descriptors of its
    /// mounts taken before (a detached mount lives while a descriptor holds it).
    pub fn take_down(&self, mut room: Room) -> Result<(), Error> {
        let spares = self.spares.clone();
        let sent = self.jobs.as_ref().map(|jobs| {
            jobs.send(Box::new(move |state: &mut ThreadState| {
                state.last_take_down = room.take_down();
                spares.refill(&room.tmpfs);
            }) as Job)
        });
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(Error::Protocol("the room thread is gone".into())),
        }
    }
}

impl Drop for RoomThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
