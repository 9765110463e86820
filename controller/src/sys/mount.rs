//! Mounts and the root switch.

use super::{check, Path};
use std::io;
use std::ptr;

/// `mount(source, target, fstype, flags, data)`; `None` passes NULL.
pub fn mount(
    source: Option<Path>,
    target: Path,
    fstype: Option<Path>,
    flags: libc::c_ulong,
    data: Option<Path>,
) -> io::Result<()> {
    let opt = |p: Option<Path>| p.map_or(ptr::null(), |p| p.as_ptr());
    // SAFETY: every pointer is NULL or a live NUL-terminated string.
    check(unsafe {
        libc::mount(
            opt(source),
            target.as_ptr(),
            opt(fstype),
            flags,
            opt(data).cast(),
        )
    })
    .map(drop)
}

/// The `MS_*` flags a remount of `path`'s mount must keep: inside a user namespace the
/// kernel refuses to clear nosuid, nodev, noexec or the atime flags that the mount already
/// has (they are locked), so a read-only remount repeats them. `statvfs(path).f_flag`.
pub fn locked_flags(path: Path) -> io::Result<libc::c_ulong> {
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is a live NUL-terminated string and st a live statvfs.
    check(unsafe { libc::statvfs(path.as_ptr(), &mut st) })?;
    let pairs = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (ST_RELATIME, libc::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st_flag, _)| st.f_flag & st_flag != 0)
        .fold(0, |acc, (_, ms)| acc | ms))
}

/// `ST_RELATIME` of statvfs(3), the same on every Linux architecture; the libc crate has it
/// for glibc only.
const ST_RELATIME: libc::c_ulong = 4096;

/// `umount2(target, flags)`.
pub fn umount2(target: Path, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: target is a live NUL-terminated string.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// `pivot_root(new_root, put_old)`.
pub fn pivot_root(new_root: Path, put_old: Path) -> io::Result<()> {
    // SAFETY: both are live NUL-terminated strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// `chdir(path)`.
pub fn chdir(path: Path) -> io::Result<()> {
    // SAFETY: path is a live NUL-terminated string.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// Binds `source` (recursively) at `target` with no symbolic link followed anywhere on
/// `source`'s path: `openat2(source, O_PATH, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`,
/// `open_tree(fd, "", OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH)`, then
/// `move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`.
/// <https://man7.org/linux/man-pages/man2/open_tree.2.html>
pub fn bind_no_symlinks(source: Path, target: Path) -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
    let located = super::fs::open_no_symlinks(source, libc::O_PATH, 0)?;
    let flags = OPEN_TREE_CLONE
        | OPEN_TREE_CLOEXEC
        | libc::AT_RECURSIVE as libc::c_uint
        | libc::AT_EMPTY_PATH as libc::c_uint;
    // SAFETY: located is a live fd and the path an empty NUL-terminated string.
    let tree = check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            located.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    })?;
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as libc::c_int) };
    // SAFETY: tree is a live fd; both paths are live NUL-terminated strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}
