//! The mount plan: which directories, binds, tmpfs and links make a container's root. Pure:
//! it looks at the host only through [`HostView`], so it is tested without root on a fake
//! host. [`super::apply`] carries it out in the container's set-up child.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

/// What the container's root is made of, as the user asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootSpec {
    /// The root's entries come from this directory instead of the host's defaults.
    pub rootfs: Option<PathBuf>,
    /// A host directory bind-mounted read-write at `/w`, instead of a tmpfs.
    pub work_dir: Option<PathBuf>,
    /// Extra binds.
    pub binds: Vec<Bind>,
}

/// `--bind SRC[:DST[:rw]]`: a host path mounted in the container, read-only unless writable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The host path.
    pub source: PathBuf,
    /// Where it appears in the container.
    pub target: PathBuf,
    /// Read-write instead of read-only.
    pub writable: bool,
}

/// A bind that does not parse as `SRC[:DST[:rw]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// No source.
    #[error("empty bind source")]
    NoSource,
    /// A mode other than `rw` or `ro`.
    #[error("bind mode must be rw or ro, not {0:?}")]
    Mode(String),
    /// More than three parts.
    #[error("a bind is SRC[:DST[:rw]]")]
    TooManyParts,
}

impl FromStr for Bind {
    type Err = BindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(':');
        let source = parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or(BindError::NoSource)?;
        let target = parts.next().filter(|p| !p.is_empty()).unwrap_or(source);
        let writable = match parts.next() {
            None | Some("ro") => false,
            Some("rw") => true,
            Some(other) => return Err(BindError::Mode(other.to_string())),
        };
        if parts.next().is_some() {
            return Err(BindError::TooManyParts);
        }
        Ok(Bind {
            source: source.into(),
            target: target.into(),
            writable,
        })
    }
}

/// A bind in a batch line: a string, as on the command line; a bad one is named with why.
impl<'de> serde::Deserialize<'de> for Bind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bind, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse()
            .map_err(|why| serde::de::Error::custom(format_args!("{text:?}: {why}")))
    }
}

/// What a host path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file, or anything else that is not a directory (a device node).
    File,
    /// A symbolic link, with its target as written.
    Symlink(PathBuf),
    /// Nothing is there.
    Missing,
}

/// The planner's only view of the host filesystem.
pub trait HostView {
    /// What `path` itself is (`lstat`).
    fn entry(&self, path: &Path) -> Entry;
    /// What `path` leads to (`stat`, following links).
    fn resolve(&self, path: &Path) -> Entry;
    /// The names in a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;
}

/// One step of the plan. Paths are inside the new root (absolute); the applier puts them
/// under the staging directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `mkdir`, an existing directory being fine.
    MakeDir { path: PathBuf, mode: u32 },
    /// An empty file to mount a file over.
    MakeFile { path: PathBuf },
    /// A recursive bind of a host path, then (unless writable) a read-only remount.
    Bind {
        source: PathBuf,
        target: PathBuf,
        writable: bool,
    },
    /// A fresh tmpfs.
    Tmpfs { target: PathBuf, mode: u32 },
    /// A fresh proc of the container's pid namespace.
    Proc { target: PathBuf },
    /// A symbolic link at `path` pointing to `points_to`.
    Symlink { points_to: PathBuf, path: PathBuf },
    /// A read-only remount of a mount made earlier in the plan.
    RemountReadOnly { target: PathBuf },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::MakeDir { path, .. } => write!(f, "mkdir {}", path.display()),
            Op::MakeFile { path } => write!(f, "create {}", path.display()),
            Op::Bind {
                source,
                target,
                writable,
            } => {
                let mode = if *writable { "rw" } else { "ro" };
                write!(
                    f,
                    "bind {} -> {} ({mode})",
                    source.display(),
                    target.display()
                )
            }
            Op::Tmpfs { target, .. } => write!(f, "tmpfs at {}", target.display()),
            Op::Proc { target } => write!(f, "proc at {}", target.display()),
            Op::Symlink { points_to, path } => {
                write!(f, "symlink {} -> {}", path.display(), points_to.display())
            }
            Op::RemountReadOnly { target } => write!(f, "remount {} read-only", target.display()),
        }
    }
}

/// The ordered steps that build a root, in two parts: the **base** (`ops[..room]`: the
/// root's entries, `/proc`, `/dev` and the mount points `/w` and `/tmp`), which the set-up
/// child builds once per container, and the **room** (`ops[room..]`: the tmpfs or the
/// judge's directory at `/w`, a tmpfs at `/tmp`, the binds), which the controller mounts
/// into a live container for one run and takes away after it (the container's room).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountPlan {
    /// In the order they are carried out.
    pub ops: Vec<Op>,
    /// Where the room's steps begin.
    pub room: usize,
}

impl MountPlan {
    /// The base's steps.
    pub fn base(&self) -> &[Op] {
        &self.ops[..self.room]
    }

    /// The room's steps.
    pub fn room(&self) -> &[Op] {
        &self.ops[self.room..]
    }
}

/// Why a root cannot be planned: each names the path at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// `--rootfs` is not a directory.
    RootfsNotDir(PathBuf),
    /// `--rootfs` could not be listed.
    RootfsUnreadable(PathBuf, String),
    /// `--dir` is not a directory.
    WorkDirNotDir(PathBuf),
    /// A bind's source does not exist.
    BindSourceMissing(PathBuf),
    /// A bind's target is not an absolute path without `.` and `..`, or is `/`.
    BadTarget(PathBuf),
    /// A bind's target lies in a place runbox builds itself (`/proc`, `/dev`).
    ReservedTarget(PathBuf),
    /// A bind's target passes through a symbolic link of the root.
    TargetThroughSymlink(PathBuf),
    /// A bind's target lies inside a read-only host bind where no mount point exists.
    NoMountPoint { target: PathBuf, host_path: PathBuf },
    /// A host path given to runbox (`--dir`, `--rootfs`, a bind's source) passes through a
    /// symbolic link (`link`), which runbox does not follow: a sandbox may have planted it.
    SymlinkOnPath {
        option: &'static str,
        path: PathBuf,
        link: PathBuf,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::RootfsNotDir(p) => write!(f, "rootfs {}: not a directory", p.display()),
            PlanError::RootfsUnreadable(p, e) => write!(f, "rootfs {}: cannot list it: {e}", p.display()),
            PlanError::WorkDirNotDir(p) => write!(f, "dir {}: not a directory", p.display()),
            PlanError::BindSourceMissing(p) => write!(f, "bind source {}: no such file or directory", p.display()),
            PlanError::BadTarget(p) => write!(
                f,
                "bind target {}: must be an absolute path other than /, without . or ..",
                p.display()
            ),
            PlanError::ReservedTarget(p) => {
                write!(f, "bind target {}: /proc and /dev are built by runbox", p.display())
            }
            PlanError::TargetThroughSymlink(p) => write!(
                f,
                "bind target {}: passes through a symbolic link of the root; name the real path",
                p.display()
            ),
            PlanError::SymlinkOnPath { option, path, link } => write!(
                f,
                "{option} {}: {} is a symbolic link, and runbox follows none in a path it is given (name the real path)",
                path.display(),
                link.display()
            ),
            PlanError::NoMountPoint { target, host_path } => write!(
                f,
                "bind target {}: no mount point, and runbox never creates one on the host (create {} or choose another target)",
                target.display(),
                host_path.display()
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// The host paths that make the default root, bound read-only where they exist (symbolic
/// links, as on merged-/usr systems, are recreated as links).
pub const DEFAULT_ROOT: &[&str] = &[
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
];

/// Names at the top of a `--rootfs` that runbox builds itself, so are not taken from it.
const BUILT_BY_RUNBOX: &[&str] = &["proc", "dev", "tmp", "w", "sys"];

/// The device nodes bound from the host into the container's `/dev`.
pub const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// What lies under a path of the new root, to decide how a mount point is made there.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layer {
    /// A tmpfs of the container: mount points are created freely.
    Tmpfs,
    /// A bind of this host path: runbox never creates anything in it.
    Host(PathBuf),
    /// Built by runbox (proc, dev): nothing goes under it.
    Reserved,
    /// A symbolic link.
    Symlink,
}

struct Planner<'h> {
    host: &'h dyn HostView,
    ops: Vec<Op>,
    layers: Vec<(PathBuf, Layer)>,
    dirs: BTreeSet<PathBuf>,
}

/// The first symbolic link among `path` and its ancestors, seen from the root down.
fn symlink_on(path: &Path, host: &dyn HostView) -> Option<PathBuf> {
    let mut prefixes: Vec<&Path> = path.ancestors().collect();
    prefixes.reverse();
    prefixes
        .into_iter()
        .find(|p| matches!(host.entry(p), Entry::Symlink(_)))
        .map(Path::to_path_buf)
}

/// Refuses the host paths the judge gave (`--dir`, `--rootfs`, bind sources) that pass
/// through a symbolic link: the set-up child, which binds them, follows none either
/// (`RESOLVE_NO_SYMLINKS`), so this is the early, clear error.
fn refuse_symlinks(spec: &RootSpec, host: &dyn HostView) -> Result<(), PlanError> {
    let given = spec
        .work_dir
        .iter()
        .map(|p| ("dir", p))
        .chain(spec.rootfs.iter().map(|p| ("rootfs", p)))
        .chain(spec.binds.iter().map(|b| ("bind source", &b.source)));
    for (option, path) in given {
        if let Some(link) = symlink_on(path, host) {
            return Err(PlanError::SymlinkOnPath {
                option,
                path: path.clone(),
                link,
            });
        }
    }
    Ok(())
}

/// Plans the root for `spec`. An error names the request's field (`rootfs`, `bind
/// source`), to which the command line adds its `--`.
pub fn plan(spec: &RootSpec, host: &dyn HostView) -> Result<MountPlan, PlanError> {
    refuse_symlinks(spec, host)?;
    let mut p = Planner {
        host,
        ops: Vec::new(),
        layers: vec![(PathBuf::from("/"), Layer::Tmpfs)],
        dirs: BTreeSet::from([PathBuf::from("/")]),
    };
    for (inside, on_host) in root_entries(spec, host)? {
        p.root_entry(&inside, &on_host);
    }
    p.mkdir(Path::new("/proc"));
    p.ops.push(Op::Proc {
        target: "/proc".into(),
    });
    p.layers.push(("/proc".into(), Layer::Reserved));
    p.dev();
    p.mkdir(Path::new("/w"));
    p.mkdir(Path::new("/tmp"));
    let room = p.ops.len();
    match &spec.work_dir {
        None => p.tmpfs("/w", 0o755),
        Some(dir) => {
            if host.resolve(dir) != Entry::Dir {
                return Err(PlanError::WorkDirNotDir(dir.clone()));
            }
            p.bind(dir, Path::new("/w"), true, Entry::Dir);
        }
    }
    p.tmpfs("/tmp", 0o1777);
    let mut binds: Vec<&Bind> = spec.binds.iter().collect();
    binds.sort_by_key(|b| b.target.components().count());
    for bind in binds {
        p.user_bind(bind)?;
    }
    Ok(MountPlan { ops: p.ops, room })
}

/// The room of a run on the default root with nothing of its own: a tmpfs at `/w` and at
/// `/tmp`.
pub fn default_room() -> Vec<Op> {
    vec![
        Op::Tmpfs {
            target: "/w".into(),
            mode: 0o755,
        },
        Op::Tmpfs {
            target: "/tmp".into(),
            mode: 0o1777,
        },
    ]
}

/// The (inside, host) pairs of the root's top entries.
fn root_entries(
    spec: &RootSpec,
    host: &dyn HostView,
) -> Result<Vec<(PathBuf, PathBuf)>, PlanError> {
    let Some(rootfs) = &spec.rootfs else {
        return Ok(DEFAULT_ROOT.iter().map(|p| (p.into(), p.into())).collect());
    };
    if host.resolve(rootfs) != Entry::Dir {
        return Err(PlanError::RootfsNotDir(rootfs.clone()));
    }
    let mut names = host
        .list(rootfs)
        .map_err(|e| PlanError::RootfsUnreadable(rootfs.clone(), e.to_string()))?;
    names.sort();
    Ok(names
        .into_iter()
        .filter(|n| !BUILT_BY_RUNBOX.iter().any(|b| n == b))
        .map(|n| (Path::new("/").join(&n), rootfs.join(&n)))
        .collect())
}

impl Planner<'_> {
    fn root_entry(&mut self, inside: &Path, on_host: &Path) {
        match self.host.entry(on_host) {
            Entry::Missing => {}
            Entry::Symlink(points_to) => {
                self.mkdir_parents(inside);
                self.ops.push(Op::Symlink {
                    points_to,
                    path: inside.into(),
                });
                self.layers.push((inside.into(), Layer::Symlink));
            }
            kind @ (Entry::Dir | Entry::File) => {
                self.mkdir_parents(inside);
                self.bind(on_host, inside, false, kind);
            }
        }
    }

    fn mkdir(&mut self, path: &Path) {
        if self.dirs.insert(path.into()) {
            self.ops.push(Op::MakeDir {
                path: path.into(),
                mode: 0o755,
            });
        }
    }

    fn mkdir_parents(&mut self, path: &Path) {
        let parents: Vec<PathBuf> = path.ancestors().skip(1).map(Path::to_path_buf).collect();
        for dir in parents.iter().rev() {
            self.mkdir(dir);
        }
    }

    fn bind(&mut self, source: &Path, target: &Path, writable: bool, kind: Entry) {
        if kind == Entry::Dir {
            self.mkdir(target);
        } else {
            self.ops.push(Op::MakeFile {
                path: target.into(),
            });
        }
        self.ops.push(Op::Bind {
            source: source.into(),
            target: target.into(),
            writable,
        });
        self.layers
            .push((target.into(), Layer::Host(source.into())));
    }

    fn tmpfs(&mut self, target: &str, mode: u32) {
        self.mkdir(Path::new(target));
        self.ops.push(Op::Tmpfs {
            target: target.into(),
            mode,
        });
        self.layers.push((target.into(), Layer::Tmpfs));
    }

    /// A read-only tmpfs `/dev` with the usual nodes bound from the host and the usual links.
    fn dev(&mut self) {
        self.tmpfs("/dev", 0o755);
        for node in DEV_NODES {
            let path = Path::new("/dev").join(node);
            self.ops.push(Op::MakeFile { path: path.clone() });
            self.ops.push(Op::Bind {
                source: path.clone(),
                target: path,
                writable: true,
            });
        }
        let links = [
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
            // POSIX shared memory lives in the run's writable, cleaned /tmp.
            ("/tmp", "/dev/shm"),
        ];
        for (points_to, path) in links {
            self.ops.push(Op::Symlink {
                points_to: points_to.into(),
                path: path.into(),
            });
        }
        self.ops.push(Op::RemountReadOnly {
            target: "/dev".into(),
        });
        if let Some(layer) = self.layers.last_mut() {
            layer.1 = Layer::Reserved;
        }
    }

    fn user_bind(&mut self, bind: &Bind) -> Result<(), PlanError> {
        let target = &bind.target;
        let normal = target.is_absolute()
            && target
                .components()
                .skip(1)
                .all(|c| matches!(c, Component::Normal(_)))
            && target.components().count() > 1;
        if !normal {
            return Err(PlanError::BadTarget(target.clone()));
        }
        let kind = match self.host.resolve(&bind.source) {
            Entry::Missing => return Err(PlanError::BindSourceMissing(bind.source.clone())),
            Entry::Dir => Entry::Dir,
            _ => Entry::File,
        };
        let (under, layer) = self
            .layers
            .iter()
            .filter(|(path, _)| target.starts_with(path))
            .max_by_key(|(path, _)| path.components().count())
            .cloned()
            .unwrap_or(("/".into(), Layer::Tmpfs));
        match layer {
            Layer::Reserved => return Err(PlanError::ReservedTarget(target.clone())),
            Layer::Symlink => return Err(PlanError::TargetThroughSymlink(target.clone())),
            Layer::Tmpfs => {
                self.mkdir_parents(target);
                self.bind(&bind.source, target, bind.writable, kind);
            }
            Layer::Host(host_dir) => {
                let relative = target.strip_prefix(&under).unwrap_or(target);
                let host_path = host_dir.join(relative);
                if self.host.resolve(&host_path) != kind {
                    return Err(PlanError::NoMountPoint {
                        target: target.clone(),
                        host_path,
                    });
                }
                self.ops.push(Op::Bind {
                    source: bind.source.clone(),
                    target: target.clone(),
                    writable: bind.writable,
                });
                self.layers
                    .push((target.clone(), Layer::Host(bind.source.clone())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
