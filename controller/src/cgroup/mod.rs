//! cgroups: one per container (and per namespace-mode run), under a `runbox` parent below
//! this process's own cgroup. One interface, [`Cgroup`]; one file per version ([`v1`],
//! [`v2`]); the layout detection apart and pure ([`detect`]); every file access through
//! [`file`](mod@file).
//!
//! Names are `c-<controller pid>-<n>`: a later controller removes those whose controller is
//! gone ([`sweep`]).

pub mod delegation;
pub mod detect;
pub mod file;
pub mod v1;
pub mod v2;

use detect::Layout;
pub use file::CgroupError;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The kernel's most pids (`PID_MAX_LIMIT`), the largest value `pids.max` takes: 4 Mi on
/// 64-bit kernels, 32 Ki on 32-bit ones. runbox's own bound (`MAX_PROCESSES`, + 1 for PID 1)
/// is below the first but not the second. Taken from runbox's own width: a 32-bit runbox
/// on a 64-bit kernel allows 32 Ki, less than it could, never a value the kernel refuses.
pub const PID_MAX_LIMIT: u64 = if cfg!(target_pointer_width = "64") {
    4 << 20
} else {
    32 << 10
};
/// The directory runbox creates below the controller's own cgroup(s).
pub const PARENT: &str = "runbox";

/// Names the cgroup (a path within each hierarchy, as `/proc/self/cgroup` writes it, e.g.
/// `/judge`) below which runbox makes its `runbox` parent, instead of its own cgroup.
pub const PARENT_ENV: &str = "RUNBOX_CGROUP_PARENT";

/// A run's accounting, read from the cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// CPU time of every process of the cgroup since the reset, microseconds.
    pub cpu_us: u64,
    /// The peak of charged memory since the reset, bytes.
    pub memory_peak: u64,
    /// How many processes the OOM killer has killed in the cgroup, ever.
    pub oom_kills: u64,
}

/// A cgroup of runbox's.
#[derive(Debug)]
pub enum Cgroup {
    /// In the v1 hierarchies.
    V1(v1::V1Group),
    /// In the unified hierarchy.
    V2(v2::V2Group),
}

/// Why runbox cannot make cgroups here.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// `/proc/self/mountinfo` or `/proc/self/cgroup` could not be read.
    #[error("read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No hierarchy runbox can use (which is missing, and what to do).
    #[error("{0}")]
    NoCgroups(String),
    /// No v2 cgroup that runbox may divide ([`delegation`]).
    #[error("{0}")]
    Undelegated(#[source] delegation::TakeOverError),
    /// A `runbox` parent could not be made.
    #[error("{0}")]
    Parent(#[source] CgroupError),
}

/// Why a cgroup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// runbox cannot make cgroups on this host (detected once per process).
    #[error("{0}")]
    Layout(&'static LayoutError),
    /// Making this one failed.
    #[error("{0}")]
    Make(#[source] CgroupError),
}

static LAYOUT: OnceLock<Result<Layout, LayoutError>> = OnceLock::new();
/// A cgroup's name: this prefix, the controller's pid, a number ([`crate::leftovers`]).
const NAME_PREFIX: &str = "c-";

/// The host's layout with runbox's parent directories created, detected once per process.
/// A getter: the sweep of what dead controllers left is [`sweep_leftovers`], which the first
/// [`Cgroup::create`] of a process calls.
pub fn layout() -> Result<&'static Layout, &'static LayoutError> {
    LAYOUT.get_or_init(detect_layout).as_ref()
}

fn detect_layout() -> Result<Layout, LayoutError> {
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|source| LayoutError::Read {
            path: path.into(),
            source,
        })
    };
    let mountinfo = read("/proc/self/mountinfo")?;
    let actual = detect::parse_proc_cgroup(&read("/proc/self/cgroup")?);
    let named = std::env::var(PARENT_ENV).ok();
    let mut own = actual.clone();
    if let Some(parent) = &named {
        detect::place_under(&mut own, parent);
    }
    let hierarchies = detect::parse_mountinfo(&mountinfo);
    let layout = detect::choose(&hierarchies, &own).map_err(|e| LayoutError::NoCgroups(e.0))?;
    let layout = match layout {
        Layout::V1 {
            cpuacct,
            memory,
            pids,
        } => Layout::V1 {
            cpuacct: cpuacct.join(PARENT),
            memory: memory.join(PARENT),
            pids: pids.join(PARENT),
        },
        Layout::V2 { .. } => {
            // choose() found both.
            let mount = hierarchies
                .iter()
                .find(|h| h.unified)
                .map(|h| h.mount.as_path());
            let own = actual.get("").map(String::as_str);
            let (Some(mount), Some(own)) = (mount, own) else {
                return Err(LayoutError::NoCgroups("no cgroup2 entry".into()));
            };
            let dir = delegation::take_over(mount, own, named.as_deref())
                .map_err(LayoutError::Undelegated)?;
            Layout::V2 { dir }
        }
    };
    for parent in parents(&layout) {
        file::mkdir(parent).map_err(LayoutError::Parent)?;
    }
    Ok(layout)
}

fn parents(layout: &Layout) -> Vec<&Path> {
    match layout {
        Layout::V1 {
            cpuacct,
            memory,
            pids,
        } => vec![cpuacct, memory, pids],
        Layout::V2 { dir } => vec![dir],
    }
}

/// Removes `c-<pid>-<n>` cgroups under `parent` whose controller process is gone. Their
/// processes died with it (PR_SET_PDEATHSIG), so they are empty; one that is not is left.
pub fn sweep(parent: &Path) {
    crate::leftovers::sweep(parent, NAME_PREFIX, |dir| {
        let _ = file::rmdir(dir);
    });
}

/// Removes, once per process, the cgroups that controllers which died left under runbox's
/// parents.
pub fn sweep_leftovers(layout: &Layout) {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| sweep_now(layout));
}

/// Removes now the cgroups that controllers which died left under runbox's parents: for a
/// long-lived controller (`runbox worker`) taking over the work of one that died.
pub fn sweep_now(layout: &Layout) {
    parents(layout).into_iter().for_each(sweep);
}

impl Cgroup {
    /// Creates a fresh cgroup with a new name (the process's first also sweeps leftovers).
    pub fn create() -> Result<Cgroup, CreateError> {
        let layout = layout().map_err(CreateError::Layout)?;
        sweep_leftovers(layout);
        let name = crate::leftovers::name(NAME_PREFIX);
        let made = match layout {
            Layout::V1 {
                cpuacct,
                memory,
                pids,
            } => file::again_while_vanished(file::CREATE_ATTEMPTS, || {
                // The parents as a v2 creation retries them: another runbox's drop may
                // remove one between create_dir_all's steps.
                v1::V1Group::create([cpuacct.as_path(), memory.as_path(), pids.as_path()], &name)
            })
            .map(Cgroup::V1),
            Layout::V2 { dir } => v2::V2Group::create_in(dir, &name).map(Cgroup::V2),
        };
        made.map_err(CreateError::Make)
    }

    /// Files that a process writes "0" to in order to move itself in (v1: the `tasks` files,
    /// which avoid the global lock a move of another process takes); empty where the parent
    /// must move the child with [`Cgroup::add`] (v2).
    pub fn self_join_files(&self) -> Result<Vec<std::os::fd::OwnedFd>, CgroupError> {
        match self {
            Cgroup::V1(g) => g.self_join_files(),
            Cgroup::V2(_) => Ok(Vec::new()),
        }
    }

    /// The cgroup's directory, open, for a child to be born in (clone3's
    /// `CLONE_INTO_CGROUP`, v2 only: v1 has one directory per controller); `None` on v1.
    pub fn placement_dir(&self) -> Option<Result<std::os::fd::OwnedFd, CgroupError>> {
        match self {
            Cgroup::V1(_) => None,
            Cgroup::V2(g) => Some(g.open_dir()),
        }
    }

    /// Moves a process into the cgroup (a migration: done once per container, never per run).
    pub fn add(&self, pid: libc::pid_t) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(g) => g.add(pid),
            Cgroup::V2(g) => g.add(pid),
        }
    }

    /// Sets the memory limit (bytes, swap excluded) and the most processes and threads.
    /// `pids` past [`PID_MAX_LIMIT`], which the kernel refuses in `pids.max`, is written as
    /// that limit: no more processes than that can exist anyway.
    pub fn set_limits(&self, memory: u64, pids: u64) -> Result<(), CgroupError> {
        let pids = pids.min(PID_MAX_LIMIT);
        match self {
            Cgroup::V1(g) => g.set_limits(memory, pids),
            Cgroup::V2(g) => g.set_limits(memory, pids),
        }
    }

    /// Starts a run's accounting from zero.
    pub fn reset(&self) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(g) => g.reset(),
            Cgroup::V2(g) => g.reset(),
        }
    }

    /// Reclaims what the kernel can take back (page cache, dentries, inodes) of the
    /// `bytes` charged above what the cgroup's processes hold, so that the next run starts
    /// from the container's true baseline.
    pub fn reclaim(&self, bytes: u64) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(g) => g.reclaim(),
            Cgroup::V2(g) => g.reclaim(bytes),
        }
    }

    /// CPU time since the last reset, microseconds: the one read made while a run goes on.
    pub fn cpu_us(&self) -> Result<u64, CgroupError> {
        match self {
            Cgroup::V1(g) => g.cpu_us(),
            Cgroup::V2(g) => g.cpu_us(),
        }
    }

    /// The bytes charged now.
    pub fn memory_current(&self) -> Result<u64, CgroupError> {
        match self {
            Cgroup::V1(g) => g.memory_current(),
            Cgroup::V2(g) => g.memory_current(),
        }
    }

    /// The charged memory that reclaim cannot take back (anonymous and tmpfs), bytes. The
    /// rest of the charge is page cache and kernel caches (dentries, inodes), which a
    /// container accumulates run after run and the kernel reclaims under pressure.
    pub fn resident(&self) -> Result<u64, CgroupError> {
        match self {
            Cgroup::V1(g) => g.resident(),
            Cgroup::V2(g) => g.resident(),
        }
    }

    /// The accounting since the last reset.
    pub fn usage(&self) -> Result<Usage, CgroupError> {
        match self {
            Cgroup::V1(g) => g.usage(),
            Cgroup::V2(g) => g.usage(),
        }
    }

    /// Removes the cgroup; its processes must be gone.
    pub fn remove(&self) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(g) => g.remove(),
            Cgroup::V2(g) => g.remove(),
        }
    }

    /// Where it is, for messages and tests.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V1(g) => g.dirs().to_vec(),
            Cgroup::V2(g) => vec![g.dir().to_path_buf()],
        }
    }
}

impl Drop for Cgroup {
    /// Removes the cgroup, and runbox's parent directories if no other cgroup is left in them
    /// (another controller's would keep them: rmdir fails on a non-empty cgroup; a creation
    /// that this removal overtakes tries again, [`v2::V2Group::create_in`]). Its owner
    /// has killed and reaped its processes first (a container's init is reaped only once
    /// every process of its pid namespace is gone).
    fn drop(&mut self) {
        if self.remove().is_ok() {
            for dir in self.paths() {
                if let Some(parent) = dir.parent() {
                    let _ = std::fs::remove_dir(parent);
                }
            }
        }
    }
}
