//! Mounts and the root switch.

use super::{check, Path};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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
/// `source`'s path: [`clone_tree`], then [`attach`].
pub fn bind_no_symlinks(source: Path, target: Path) -> io::Result<()> {
    attach(clone_tree(source)?.as_fd(), target)
}

/// `mount_setattr`'s `MOUNT_ATTR_RDONLY`, `_NOSUID` and `_NODEV`.
pub const ATTR_RDONLY: u64 = 0x01;
/// See [`ATTR_RDONLY`].
pub const ATTR_NOSUID: u64 = 0x02;
/// See [`ATTR_RDONLY`].
pub const ATTR_NODEV: u64 = 0x04;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
/// `MS_PRIVATE` as `mount_attr.propagation` takes it (a `u64` on every architecture).
const PROPAGATION_PRIVATE: u64 = 1 << 18;

/// A detached, recursive copy of the mount tree at `source`, with no symbolic link followed
/// anywhere on its path: `openat2(source, O_PATH, RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS)`, then `open_tree(fd, "", OPEN_TREE_CLONE | AT_RECURSIVE |
/// AT_EMPTY_PATH)`. <https://man7.org/linux/man-pages/man2/open_tree.2.html>
pub fn clone_tree(source: Path) -> io::Result<OwnedFd> {
    let located = super::fs::open_no_symlinks(source, libc::O_PATH, 0)?;
    open_tree(located.as_fd(), libc::AT_RECURSIVE as libc::c_uint)
}

/// A detached copy of the one mount at the calling thread's root (not those under it):
/// `open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE)`.
pub fn clone_root_mount() -> io::Result<OwnedFd> {
    // SAFETY: the path is a live NUL-terminated string.
    let tree = check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
        )
    })?;
    // SAFETY: open_tree returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(tree as libc::c_int) })
}

fn open_tree(at: BorrowedFd<'_>, extra: libc::c_uint) -> io::Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint | extra;
    // SAFETY: `at` is a live fd and the path an empty NUL-terminated string.
    let tree =
        check(unsafe { libc::syscall(libc::SYS_open_tree, at.as_raw_fd(), c"".as_ptr(), flags) })?;
    // SAFETY: open_tree returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(tree as libc::c_int) })
}

/// Sets and clears mount attributes ([`ATTR_RDONLY`]...) on the mount `tree` is the root
/// of, and on every mount under it, and makes each of them private: `mount_setattr(tree,
/// "", AT_EMPTY_PATH | AT_RECURSIVE, {set, clear, MS_PRIVATE})`.
/// <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>
///
/// Private, because `tree` is a clone ([`clone_tree`]) and the clone of a shared mount is
/// its peer (as every mount is under systemd, which makes `/` shared): an unmount under a
/// room's bind would propagate to the host, so that a run's take-down unmounted the judge's
/// own mounts under a bound path, and a host's mount would appear in a live room.
pub fn set_attributes(tree: BorrowedFd<'_>, set: u64, clear: u64) -> io::Result<()> {
    // struct mount_attr: attr_set, attr_clr, propagation, userns_fd.
    let attr: [u64; 4] = [set, clear, PROPAGATION_PRIVATE, 0];
    let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
    // SAFETY: tree is a live fd, the path an empty NUL-terminated string and attr a live
    // mount_attr of the size given.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    })
    .map(drop)
}

/// A new tmpfs, detached, with `options` (`mode`, `uid`...; ids as this process's user
/// namespace has them) and mount attributes `attributes`: `fsopen("tmpfs")`, `fsconfig`
/// for each option, `FSCONFIG_CMD_CREATE`, `fsmount`.
/// <https://man7.org/linux/man-pages/man2/fsopen.2.html>
pub fn new_tmpfs(options: &[(&CStr, &CStr)], attributes: u64) -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: the name is a live NUL-terminated string.
    let context =
        check(unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: fsopen returned a new fd that nothing else owns.
    let context = unsafe { OwnedFd::from_raw_fd(context as libc::c_int) };
    for (key, value) in options {
        // SAFETY: context is a live fd; key and value live NUL-terminated strings.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                context.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: context is a live fd; no key or value for this command.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: context is a live, created fs context.
    let mount = check(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            context.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attributes as libc::c_uint,
        )
    })?;
    // SAFETY: fsmount returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(mount as libc::c_int) })
}

/// Attaches the detached mount `tree` at `target` (resolved from the calling thread's root
/// and working directory): `move_mount(tree, "", AT_FDCWD, target,
/// MOVE_MOUNT_F_EMPTY_PATH)`. <https://man7.org/linux/man-pages/man2/move_mount.2.html>
pub fn attach(tree: BorrowedFd<'_>, target: Path) -> io::Result<()> {
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
