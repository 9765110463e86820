//! Carrying out a [`MountPlan`](super::MountPlan)'s base in the container's set-up child.
//!
//! [`Prepared::new`] turns the plan into C strings under the staging directory before the
//! fork; [`Prepared::apply`] only makes syscalls, so it is safe between fork and exec.

use super::plan::Op;
use crate::sys::mount::{bind_no_symlinks, chdir, locked_flags, mount, pivot_root, umount2};
use crate::sys::{fs, Path as CPath};
use runbox_shared::Step;
use std::ffi::{CString, NulError};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One step with its paths made absolute under the staging directory.
#[derive(Debug)]
enum PreparedOp {
    MakeDir {
        path: CString,
        mode: u32,
    },
    MakeFile {
        path: CString,
    },
    Bind {
        source: CString,
        target: CString,
        writable: bool,
    },
    Tmpfs {
        target: CString,
        options: CString,
    },
    Proc {
        target: CString,
    },
    Symlink {
        points_to: CString,
        path: CString,
    },
    RemountReadOnly {
        target: CString,
    },
}

/// A plan ready to apply without allocating.
#[derive(Debug)]
pub struct Prepared {
    stage: CString,
    ops: Vec<PreparedOp>,
}

/// A failed step of the set-up, with the plan entry it was at.
pub type StepError = (Step, io::Error, usize);

const NOSUID_NODEV: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV;

fn c(path: &Path) -> Result<CString, NulError> {
    CString::new(path.as_os_str().as_bytes())
}

impl Prepared {
    /// Puts every path of `ops` (a plan's base) under `stage`, the directory where the new
    /// root is mounted.
    pub fn new(ops: &[Op], stage: &Path) -> Result<Prepared, NulError> {
        let inside = |p: &Path| c(&stage.join(p.strip_prefix("/").unwrap_or(p)));
        let ops = ops
            .iter()
            .map(|op| {
                Ok(match op {
                    Op::MakeDir { path, mode } => PreparedOp::MakeDir {
                        path: inside(path)?,
                        mode: *mode,
                    },
                    Op::MakeFile { path } => PreparedOp::MakeFile {
                        path: inside(path)?,
                    },
                    Op::Bind {
                        source,
                        target,
                        writable,
                    } => PreparedOp::Bind {
                        source: c(source)?,
                        target: inside(target)?,
                        writable: *writable,
                    },
                    Op::Tmpfs { target, mode } => PreparedOp::Tmpfs {
                        target: inside(target)?,
                        options: CString::new(format!("mode={mode:o}"))?,
                    },
                    Op::Proc { target } => PreparedOp::Proc {
                        target: inside(target)?,
                    },
                    Op::Symlink { points_to, path } => PreparedOp::Symlink {
                        points_to: c(points_to)?,
                        path: inside(path)?,
                    },
                    Op::RemountReadOnly { target } => PreparedOp::RemountReadOnly {
                        target: inside(target)?,
                    },
                })
            })
            .collect::<Result<_, NulError>>()?;
        Ok(Prepared {
            stage: c(stage)?,
            ops,
        })
    }

    /// Makes `/` private, builds the new root on a tmpfs at the staging directory, pivots into
    /// it, detaches the old root and makes the new one read-only.
    pub fn apply(&self) -> Result<(), StepError> {
        let at = |step: Step, index: usize| move |e: io::Error| (step, e, index);
        mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
            .map_err(at(Step::MakeRootPrivate, 0))?;
        mount(
            Some(c"tmpfs"),
            &self.stage,
            Some(c"tmpfs"),
            NOSUID_NODEV,
            Some(c"mode=755"),
        )
        .map_err(at(Step::MountNewRoot, 0))?;
        for (i, op) in self.ops.iter().enumerate() {
            apply_op(op).map_err(|(step, e)| (step, e, i))?;
        }
        chdir(&self.stage).map_err(at(Step::EnterNewRoot, 0))?;
        pivot_root(c".", c".").map_err(at(Step::PivotRoot, 0))?;
        umount2(c".", libc::MNT_DETACH).map_err(at(Step::DetachOldRoot, 0))?;
        chdir(c"/").map_err(at(Step::EnterNewRoot, 0))?;
        remount_read_only(c"/").map_err(at(Step::RemountRootReadOnly, 0))
    }

    /// The plan entry behind a failure's index, for messages.
    pub fn describe(ops: &[Op], index: usize) -> Option<String> {
        ops.get(index).map(ToString::to_string)
    }
}

fn remount_read_only(target: CPath) -> io::Result<()> {
    let keep = locked_flags(target)?;
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | NOSUID_NODEV | keep;
    mount(None, target, None, flags, None)
}

fn apply_op(op: &PreparedOp) -> Result<(), (Step, io::Error)> {
    let at = |step: Step| move |e: io::Error| (step, e);
    match op {
        PreparedOp::MakeDir { path, mode } => {
            fs::mkdir(path, *mode).map_err(at(Step::MakeMountPoint))
        }
        PreparedOp::MakeFile { path } => {
            fs::create_file(path, 0o644).map_err(at(Step::MakeFileMountPoint))
        }
        PreparedOp::Bind {
            source,
            target,
            writable,
        } => {
            // Recursive: a user namespace may not bind a mount without the mounts under it.
            // No symbolic link on the source's path is followed: a sandbox may have planted
            // one where a judge's --dir or bind source leads (the plan refused those it saw).
            bind_no_symlinks(source, target).map_err(at(Step::BindMount))?;
            if *writable {
                return Ok(());
            }
            // Right after the bind, so that nothing later in the plan can write through it.
            remount_read_only(target).map_err(at(Step::RemountReadOnly))
        }
        PreparedOp::Tmpfs { target, options } => mount(
            Some(c"tmpfs"),
            target,
            Some(c"tmpfs"),
            NOSUID_NODEV,
            Some(options),
        )
        .map_err(at(Step::MountTmpfs)),
        PreparedOp::Proc { target } => mount(
            Some(c"proc"),
            target,
            Some(c"proc"),
            NOSUID_NODEV | libc::MS_NOEXEC,
            None,
        )
        .map_err(at(Step::MountProc)),
        PreparedOp::Symlink { points_to, path } => {
            fs::symlink(points_to, path).map_err(at(Step::MakeSymlink))
        }
        PreparedOp::RemountReadOnly { target } => {
            remount_read_only(target).map_err(at(Step::RemountReadOnly))
        }
    }
}
