//! The copies in and out of a run's fresh tmpfs, through the mount's own descriptor.
//!
//! **In**, before the run, on the mount made detached for it (`container::room`):
//! nothing but the controller can reach it yet, and every name is opened beneath the
//! mount's root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` all the same. Parent directories are made (0755), the file is
//! created new (`O_EXCL`), filled (in the kernel from a file: [`copy_fd`]), given its mode
//! and, like the directories made, the program's host uid and gid. A symbolic link
//! ([`link_in`]) is made by `symlinkat` in its parent's descriptor, which resolves nothing
//! but that one new name (an existing one is `EEXIST`), and owned likewise
//! (`fchownat(AT_SYMLINK_NOFOLLOW)`: the link itself); its target is never looked at.
//!
//! **Out**, after the run, through a descriptor of the same mount kept from before it was
//! attached (the program is dead; the mount is detached but alive while the descriptor
//! is): each path opened beneath it with no link followed (a link, anywhere on the path,
//! is `ELOOP`), `O_NONBLOCK` (a FIFO opens without waiting for a writer) and `O_NOCTTY`,
//! then `fstat`: only a regular file within the bound is read, at most that many bytes.

use super::path::SandboxPath;
use crate::sys::fs;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Copies `size` bytes of `from`, from its offset 0 (its own offset is not moved, so
/// readers may share it), to `to` at its offset; returns the bytes copied (fewer if `from`
/// is shorter). In the kernel: `copy_file_range` where it copies between the two file
/// systems (Linux 6.x refuses it between two tmpfs, EXDEV), else `sendfile`, else through a
/// buffer.
pub fn copy_fd(from: BorrowedFd<'_>, to: BorrowedFd<'_>, size: u64) -> io::Result<u64> {
    let (from, to) = (from.as_raw_fd(), to.as_raw_fd());
    let mut offset = 0i64;
    let left = |offset: i64| (size - offset as u64).min(1 << 30) as usize;
    let mut kernel_copy = true;
    while (offset as u64) < size {
        let want = left(offset);
        let copied = match kernel_copy {
            true => fs::copy_file_range(from, &mut offset, to, want),
            false => fs::sendfile(to, from, &mut offset, want),
        };
        match copied {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Across file systems of different kinds (EXDEV), or where not supported.
            Err(e)
                if kernel_copy
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                    ) =>
            {
                kernel_copy = false
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                return copy_by_hand(from, to, offset, size)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(offset as u64)
}

fn copy_by_hand(from: i32, to: i32, mut offset: i64, size: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    while (offset as u64) < size {
        let want = buf.len().min((size - offset as u64) as usize);
        let n = fs::pread(from, &mut buf[..want], offset)?;
        if n == 0 {
            break;
        }
        fs::write_fully(to, &buf[..n])?;
        offset += n as i64;
    }
    Ok(offset as u64)
}

/// What a file copied in is made of.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// The first `size` bytes of a regular file (read at explicit offsets).
    File {
        /// The file.
        fd: BorrowedFd<'a>,
        /// Its size.
        size: u64,
    },
}

/// A copy-in step that failed: the step, the path, the OS error.
#[derive(Debug, thiserror::Error)]
#[error("copy_in {path}: {step}: {}", explain(source))]
pub struct CopyInError {
    /// The path in the sandbox.
    pub path: String,
    /// The step (`make directory a`, `create`, `write`).
    pub step: String,
    /// Its error.
    #[source]
    pub source: io::Error,
}

fn explain(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EEXIST) => {
            "already there (given twice, or made a directory by another entry)".into()
        }
        Some(libc::ENOTDIR) => "a parent is a file copied in by another entry".into(),
        _ => e.to_string(),
    }
}

/// The error of the step `step` on `path`, from its OS error.
fn failed(path: &SandboxPath, step: impl Into<String>) -> impl FnOnce(io::Error) -> CopyInError {
    let (path, step) = (path.to_string(), step.into());
    move |source| CopyInError { path, step, source }
}

fn c(name: &str) -> CString {
    CString::new(name).expect("checked paths hold no NUL")
}

/// Writes `source` at `path` beneath `root` (a fresh tmpfs's root), with `mode`, owned by
/// `owner` (uid and gid), making the parent directories it needs.
pub fn write_in(
    root: BorrowedFd<'_>,
    path: &SandboxPath,
    source: Source<'_>,
    mode: u32,
    owner: u32,
) -> Result<(), CopyInError> {
    let failed = |step: String| failed(path, step);
    let (here, file) = parents(root, path, owner)?;
    let at = here.as_ref().map_or(root, |fd| fd.as_fd());
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY;
    let out = fs::open_beneath(at, &c(file), flags, 0o600).map_err(failed("create".into()))?;
    match source {
        Source::Bytes(bytes) => {
            fs::write_fully(out.as_raw_fd(), bytes).map_err(failed("write".into()))?
        }
        Source::File { fd, size } => {
            copy_fd(fd, out.as_fd(), size).map_err(failed("copy".into()))?;
        }
    }
    fs::fchown(out.as_fd(), owner, owner).map_err(failed("chown".into()))?;
    // After the chown, which clears the set-id bits.
    fs::fchmod(out.as_fd(), mode).map_err(failed("chmod".into()))
}

/// Makes the parent directories of `path` beneath `root` (0755, owned by `owner`) where
/// missing, through no link; the innermost one's descriptor (`None`: `root` itself) and the
/// last name.
fn parents<'p>(
    root: BorrowedFd<'_>,
    path: &'p SandboxPath,
    owner: u32,
) -> Result<(Option<OwnedFd>, &'p str), CopyInError> {
    let failed = |step: String| failed(path, step);
    let names: Vec<&str> = path.names().collect();
    let (file, parents) = names.split_last().expect("a checked path names a file");
    let mut here: Option<OwnedFd> = None;
    let directory = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    for name in parents {
        let at = here.as_ref().map_or(root, |fd| fd.as_fd());
        let made =
            fs::mkdir_at(at, &c(name), 0o755).map_err(failed(format!("make directory {name}")))?;
        let dir = fs::open_beneath(at, &c(name), directory, 0)
            .map_err(failed(format!("open directory {name}")))?;
        if made {
            fs::fchown(dir.as_fd(), owner, owner).map_err(failed(format!("chown {name}")))?;
        }
        here = Some(dir);
    }
    Ok((here, file))
}

/// Makes a symbolic link at `path` beneath `root` (a fresh tmpfs's root) whose content is
/// `target`, owned by `owner`, making the parent directories it needs; see the module docs.
pub fn link_in(
    root: BorrowedFd<'_>,
    path: &SandboxPath,
    target: &CStr,
    owner: u32,
) -> Result<(), CopyInError> {
    let (here, name) = parents(root, path, owner)?;
    let at = here.as_ref().map_or(root, |fd| fd.as_fd());
    let name = c(name);
    fs::symlink_at(target, at, &name).map_err(failed(path, "make the symbolic link"))?;
    fs::lchown_at(at, &name, owner, owner).map_err(failed(path, "chown the symbolic link"))
}

/// What a copy-out path leads to.
#[derive(Debug)]
pub enum Found {
    /// A regular file within the bound, open for reading, and its size.
    File(OwnedFd, u64),
    /// Nothing (or a parent that is not a directory).
    Missing,
    /// Something other than a regular file: what it is.
    NotRegular(&'static str),
    /// A regular file past the bound: its size.
    TooLarge(u64),
}

/// Opens `path` beneath `root` for a copy out of at most `max` bytes; see the module docs.
pub fn open_out(root: BorrowedFd<'_>, path: &SandboxPath, max: u64) -> io::Result<Found> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let fd = match fs::open_beneath(root, &c(&path.relative), flags, 0) {
        Ok(fd) => fd,
        Err(e) => {
            return match e.raw_os_error() {
                Some(libc::ENOENT | libc::ENOTDIR) => Ok(Found::Missing),
                Some(libc::ELOOP) => Ok(Found::NotRegular("a symbolic link")),
                // A device node on a nodev tmpfs, a socket.
                Some(libc::EACCES | libc::ENXIO | libc::EPERM) => {
                    Ok(Found::NotRegular("not a regular file"))
                }
                _ => Err(e),
            };
        }
    };
    let (kind, _, size) = fs::stat_fd(fd.as_fd())?;
    Ok(match kind {
        libc::S_IFREG if size > max => Found::TooLarge(size),
        libc::S_IFREG => Found::File(fd, size),
        libc::S_IFDIR => Found::NotRegular("a directory"),
        libc::S_IFIFO => Found::NotRegular("a FIFO"),
        _ => Found::NotRegular("not a regular file"),
    })
}

/// Reads at most `size` bytes of `fd` from offset 0.
pub fn read_at_most(fd: BorrowedFd<'_>, size: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; size as usize];
    let mut done = 0;
    while done < bytes.len() {
        match fs::pread(fd.as_raw_fd(), &mut bytes[done..], done as i64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(done);
    Ok(bytes)
}
