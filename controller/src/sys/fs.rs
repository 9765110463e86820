//! Files, descriptors and memfds.

use super::{check, Path};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `mkdir(path, mode)`; an existing entry is not an error.
pub fn mkdir(path: Path, mode: u32) -> io::Result<()> {
    // SAFETY: path is a live NUL-terminated string.
    match check(unsafe { libc::mkdir(path.as_ptr(), mode) }) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}

/// `open(path, O_CREAT | O_WRONLY | O_CLOEXEC, mode)` then `close`: an empty file to mount
/// over; an existing one is fine.
pub fn create_file(path: Path, mode: u32) -> io::Result<()> {
    // SAFETY: path is a live NUL-terminated string; the fd is closed below.
    let fd = check(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            mode,
        )
    })?;
    // SAFETY: fd was just opened here and is used no more.
    unsafe { close(fd) };
    Ok(())
}

/// `symlink(target, linkpath)`.
pub fn symlink(target: Path, linkpath: Path) -> io::Result<()> {
    // SAFETY: both are live NUL-terminated strings.
    check(unsafe { libc::symlink(target.as_ptr(), linkpath.as_ptr()) }).map(drop)
}

/// `open(path, O_RDWR | O_CLOEXEC)`.
pub fn open_rdwr(path: Path) -> io::Result<RawFd> {
    // SAFETY: path is a live NUL-terminated string.
    check(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })
}

/// `close(fd)`.
///
/// # Safety
/// The caller owns `fd` and nothing uses it afterwards (no `OwnedFd` of it is dropped
/// later, which would close a number that may by then be another file's).
pub unsafe fn close(fd: RawFd) {
    // SAFETY: the caller's promise, above.
    unsafe { libc::close(fd) };
}

/// `dup3(old, new, 0)`, or clearing FD_CLOEXEC when they are the same fd.
pub fn dup_to(old: RawFd, new: RawFd) -> io::Result<()> {
    if old == new {
        // SAFETY: descriptor flags only.
        return check(unsafe { libc::fcntl(old, libc::F_SETFD, 0) }).map(drop);
    }
    // SAFETY: descriptor numbers only.
    check(unsafe { libc::dup3(old, new, 0) }).map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`.
pub fn dup_at_least(fd: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: descriptor numbers only.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: every fd from `first` on closes at the
/// next execve. Falls back to `fcntl(FD_CLOEXEC)` fd by fd on kernels before 5.11.
///
/// # Safety
/// Every fd from `first` on is the caller's to close: it execs next (a forked child).
pub unsafe fn cloexec_from(first: RawFd) -> io::Result<()> {
    // SAFETY: descriptor flags only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    for fd in first..65536 {
        // SAFETY: descriptor flags only; EBADF for fds that are not open is expected.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// `close_range(first, ~0, 0)`, or `close` fd by fd on kernels before 5.9.
///
/// # Safety
/// Every fd from `first` on is the caller's, and none is used afterwards (a forked child
/// about to exec).
pub unsafe fn close_from(first: RawFd) -> io::Result<()> {
    // SAFETY: closes descriptors the caller (a child about to exec) no longer uses.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    for fd in first..65536 {
        // SAFETY: the caller's promise covers every fd from `first` on.
        unsafe { close(fd) };
    }
    Ok(())
}

/// A sealed memfd holding `bytes`, ready for `execveat(fd, "", ..., AT_EMPTY_PATH)`:
/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC)` (without MFD_EXEC on
/// kernels before 6.3), `write`, then seals against any change.
pub fn sealed_memfd(name: Path, bytes: &[u8]) -> io::Result<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: name is a live NUL-terminated string.
    let fd = match check(unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) }) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // SAFETY: as above.
            check(unsafe { libc::memfd_create(name.as_ptr(), flags) })?
        }
        other => other?,
    };
    // SAFETY: fd was just returned by memfd_create and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut written = 0;
    while written < bytes.len() {
        let rest = &bytes[written..];
        // SAFETY: rest is live and readable for its whole length.
        let n = check(unsafe { libc::write(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len()) })?;
        written += n as usize;
    }
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: seal flags only.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
    Ok(fd)
}

/// `fstat(fd)`: the size of a regular file, or `None` for anything else (a pipe, a tty).
pub fn regular_file_size(fd: std::os::fd::BorrowedFd<'_>) -> Option<u64> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is a live descriptor (borrowed) and st a live stat.
    let ret = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    (ret == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG).then_some(st.st_size as u64)
}

/// `read(fd, buf)`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is live and writable for its whole length.
    check(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }).map(|n| n as usize)
}

/// `write(fd, bytes)`, all of them in one call (for cgroup files, which take one write).
pub fn write_all(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: bytes is live and readable for its whole length.
    let n = check(unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) })?;
    if n as usize == bytes.len() {
        Ok(())
    } else {
        Err(io::Error::from(io::ErrorKind::WriteZero))
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a live array of two ints, which the kernel fills.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `tee(from, to, len, 0)`: copies up to `len` bytes from pipe `from` to pipe `to` without
/// consuming them (zero-copy: the pages are shared). 0 when `from` is empty and has no
/// writer left.
pub fn tee(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: descriptor numbers and a length only; no memory of ours is touched.
    check(unsafe { libc::tee(from, to, len, 0) }).map(|n| n as usize)
}

/// `splice(from, NULL, to, NULL, len, SPLICE_F_MOVE)`: moves up to `len` bytes from pipe
/// `from` to pipe `to` (zero-copy). 0 when `from` is empty and has no writer left.
pub fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let (no_offset_in, no_offset_out) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: both offsets are NULL (pipes have none); no memory of ours is touched.
    check(unsafe {
        libc::splice(
            from,
            no_offset_in,
            to,
            no_offset_out,
            len,
            libc::SPLICE_F_MOVE,
        )
    })
    .map(|n| n as usize)
}

/// `openat2(AT_FDCWD, path, {flags | O_CLOEXEC, mode, RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS})`: like `open`, but ELOOP if any component of the path is a
/// symbolic link (the last one included).
/// <https://man7.org/linux/man-pages/man2/openat2.2.html>
pub fn open_no_symlinks(path: Path, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    // struct open_how: flags, mode, resolve.
    let how: [u64; 3] = [
        (flags | libc::O_CLOEXEC) as u64,
        u64::from(mode),
        RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    ];
    // SAFETY: path is NUL-terminated and how a live open_how of the size given.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            how.as_ptr(),
            std::mem::size_of_val(&how),
        )
    })?;
    // SAFETY: openat2 returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `open(path, flags | O_CLOEXEC)` (for `/proc/self/fd/N`: a new description of that file).
pub fn open(path: Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: path is NUL-terminated.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstat(fd)`: the file type bits of `st_mode` and `st_rdev`.
pub fn file_type(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<(libc::mode_t, libc::dev_t)> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is a live descriptor (borrowed) and st a live stat.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((st.st_mode & libc::S_IFMT, st.st_rdev))
}

/// `open(dir, O_TMPFILE | O_EXCL | O_RDWR, 0600)`: a regular file with no name, which can
/// never be given one (O_EXCL), gone with its last fd; a memfd where the file system has no
/// O_TMPFILE.
pub fn unnamed_file(dir: Path) -> io::Result<OwnedFd> {
    let flags = libc::O_TMPFILE | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC;
    // SAFETY: dir is NUL-terminated; the mode is an integer.
    let fd = check(unsafe { libc::open(dir.as_ptr(), flags, 0o600) });
    if let Ok(fd) = fd {
        // SAFETY: open returned a new fd that nothing else owns.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    // SAFETY: the name is NUL-terminated.
    let fd = check(unsafe { libc::memfd_create(c"runbox-output".as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An offset as this target's `off_t` (32 bits on armv7's glibc): EOVERFLOW past it.
fn off_t(offset: i64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))
}

/// `sendfile(out, in, &offset, len)` from `offset`: the bytes copied (0 at the end).
pub fn sendfile(out: RawFd, from: RawFd, offset: &mut i64, len: usize) -> io::Result<usize> {
    let mut off = off_t(*offset)?;
    // SAFETY: off is a live off_t the kernel updates; no other memory is touched.
    let n = check(unsafe { libc::sendfile(out, from, &mut off, len) })?;
    // off_t is i64 on most targets, i32 on armv7's glibc: widening either way.
    #[allow(clippy::useless_conversion)]
    {
        *offset = i64::from(off);
    }
    Ok(n as usize)
}

/// `pread(fd, buf, offset)`.
pub fn pread(fd: RawFd, buf: &mut [u8], offset: i64) -> io::Result<usize> {
    let offset = off_t(offset)?;
    // SAFETY: buf is live and writable for its whole length.
    check(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset) })
        .map(|n| n as usize)
}

/// `write(fd, bytes)`: the bytes written.
pub fn write(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: bytes is live and readable for its whole length.
    check(unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) }).map(|n| n as usize)
}

/// `poll({fd, POLLOUT}, 1, -1)`: waits until `fd` takes a write (or has failed).
pub fn wait_writable(fd: RawFd) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: pfd is one live pollfd.
    check(unsafe { libc::poll(&mut pfd, 1, -1) }).map(drop)
}

/// `lseek(fd, 0, SEEK_SET)`.
pub fn rewind(fd: RawFd) -> io::Result<()> {
    // SAFETY: offsets only.
    check(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) }).map(drop)
}

/// `fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)`.
pub fn set_blocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: file status flags only.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) }).map(drop)
}

/// `openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)`, from the working
/// directory when `dirfd` is `None`: a directory, never through a link.
pub fn open_dir_at(dirfd: Option<std::os::fd::BorrowedFd<'_>>, name: Path) -> io::Result<OwnedFd> {
    let at = dirfd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: name is NUL-terminated; at is a live fd (borrowed) or AT_FDCWD.
    let fd = check(unsafe { libc::openat(at, name.as_ptr(), flags) })?;
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `unlinkat(dirfd, name, AT_REMOVEDIR if dir)`.
pub fn unlink_at(dirfd: std::os::fd::BorrowedFd<'_>, name: Path, dir: bool) -> io::Result<()> {
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: name is NUL-terminated; dirfd is a live fd (borrowed).
    check(unsafe { libc::unlinkat(dirfd.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `mkdirat(dirfd, name, mode)`: true if it made the directory, false if something was
/// already there.
pub fn mkdir_at(dirfd: std::os::fd::BorrowedFd<'_>, name: Path, mode: u32) -> io::Result<bool> {
    // SAFETY: name is NUL-terminated; dirfd is a live fd (borrowed).
    match check(unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), mode) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `mknodat(dirfd, name, S_IFREG | mode, 0)`: an empty file to mount over; true if it made
/// it, false if something was already there.
pub fn create_file_at(
    dirfd: std::os::fd::BorrowedFd<'_>,
    name: Path,
    mode: u32,
) -> io::Result<bool> {
    // SAFETY: name is NUL-terminated; dirfd is a live fd (borrowed).
    match check(unsafe { libc::mknodat(dirfd.as_raw_fd(), name.as_ptr(), libc::S_IFREG | mode, 0) })
    {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `getxattr(path, name, buf, 0)`: whether the file has the extended attribute `name`
/// (its size is asked for, not its value). A missing attribute, and one the caller may
/// not read (`trusted.*` without CAP_SYS_ADMIN), is `false`.
/// <https://man7.org/linux/man-pages/man2/getxattr.2.html>
pub fn has_xattr(path: Path, name: Path) -> io::Result<bool> {
    // SAFETY: both are live NUL-terminated strings; a NULL buffer of size 0 asks for the
    // size only, so nothing is written.
    match check(unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) }) {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENODATA | libc::EPERM | libc::ENOTSUP)
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// `openat2(dir, path, {flags | O_CLOEXEC, mode, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS})`: `path` resolved inside the tree of `dir` only (no `..` above
/// it, no absolute path), through no symbolic link (the last component included: ELOOP),
/// EXDEV for anything that would leave the tree.
/// <https://man7.org/linux/man-pages/man2/openat2.2.html>
pub fn open_beneath(
    dir: std::os::fd::BorrowedFd<'_>,
    path: Path,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_NO_SYMLINKS: u64 = 0x04;
    const RESOLVE_BENEATH: u64 = 0x08;
    let how: [u64; 3] = [
        (flags | libc::O_CLOEXEC) as u64,
        u64::from(mode),
        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    ];
    // SAFETY: path is NUL-terminated, dir a live fd (borrowed), how a live open_how of the
    // size given.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            how.as_ptr(),
            std::mem::size_of_val(&how),
        )
    })?;
    // SAFETY: openat2 returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`: a counter that reads as ready (`POLLIN`)
/// once anything is written to it, until it is read.
/// <https://man7.org/linux/man-pages/man2/eventfd.2.html>
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: integer arguments only.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: eventfd returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `write(fd, &1u64, 8)` on an eventfd: adds one to its counter (it is then ready). A
/// counter at its maximum (EAGAIN) is ready already.
pub fn eventfd_signal(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    match write(fd.as_raw_fd(), &1u64.to_ne_bytes()) {
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(()),
        other => other.map(drop),
    }
}

/// `symlinkat(target, dir, name)`: a symbolic link `name` in `dir` (a single name: nothing
/// is resolved but `dir` itself) whose content is `target`, which is not looked at.
/// <https://man7.org/linux/man-pages/man2/symlinkat.2.html>
pub fn symlink_at(target: Path, dir: std::os::fd::BorrowedFd<'_>, name: Path) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated; dir is a live fd (borrowed).
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`: the entry `name` of `dir` itself
/// (a symbolic link: the link, never what it points to).
pub fn lchown_at(
    dir: std::os::fd::BorrowedFd<'_>,
    name: Path,
    uid: u32,
    gid: u32,
) -> io::Result<()> {
    // SAFETY: name is NUL-terminated; dir is a live fd (borrowed); ids are integers.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// `fchown(fd, uid, gid)`.
pub fn fchown(fd: std::os::fd::BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: fd is a live descriptor (borrowed); ids are integers.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// `fchmod(fd, mode)`.
pub fn fchmod(fd: std::os::fd::BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: fd is a live descriptor (borrowed); the mode is an integer.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `fstat(fd)`: (file type bits, permission bits, size).
pub fn stat_fd(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<(libc::mode_t, u32, u64)> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is a live descriptor (borrowed) and st a live stat.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((
        st.st_mode & libc::S_IFMT,
        (st.st_mode & 0o7777) as u32,
        st.st_size as u64,
    ))
}

/// `copy_file_range(from, &offset, to, NULL, len, 0)`: the bytes copied in the kernel
/// from `offset` (moved; `from`'s own offset is not) to `to`'s offset (0 at the end).
/// <https://man7.org/linux/man-pages/man2/copy_file_range.2.html>
pub fn copy_file_range(from: RawFd, offset: &mut i64, to: RawFd, len: usize) -> io::Result<usize> {
    // The kernel's loff_t, 64 bits on every target (glibc's off_t is 32 on armv7).
    let off: *mut i64 = offset;
    // SAFETY: off points to a live i64 the kernel updates; a NULL out offset uses `to`'s own.
    let n = check(unsafe { libc::copy_file_range(from, off, to, std::ptr::null_mut(), len, 0) })?;
    Ok(n as usize)
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`: an empty memory file, to be
/// filled and then [`seal`]ed.
pub fn memfd(name: Path) -> io::Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: name is a live NUL-terminated string.
    let fd = check(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fcntl(fd, F_ADD_SEALS, SHRINK | GROW | WRITE | SEAL)`: a memfd no one can change again.
pub fn seal(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: seal flags only.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// `fcntl(fd, F_SETFL, flags | O_NONBLOCK)`.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: file status flags only.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// `poll(fds, timeout)` (`None`: for ever), retried on EINTR: how many have events.
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<std::time::Duration>) -> io::Result<usize> {
    let ms = timeout.map_or(-1, |t| {
        // Rounded up: a timeout of 0.4 ms must not become a busy loop of zero waits.
        let ms = t.as_micros().div_ceil(1000);
        ms.min(i32::MAX as u128) as libc::c_int
    });
    loop {
        // SAFETY: fds is a live array of pollfds of the length given.
        match check(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other.map(|n| n as usize),
        }
    }
}

/// `getrandom(buf, 0)`, until `buf` is full.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: rest is live and writable for its whole length.
        match check(unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
            Ok(n) => filled += n as usize,
        }
    }
    Ok(())
}

/// `fcntl(fd, F_SETPIPE_SZ, size)`, best effort: a pipe's buffer (an unprivileged limit
/// may refuse it; the default then stays).
pub fn set_pipe_size(fd: RawFd, size: libc::c_int) {
    // SAFETY: an integer argument only.
    let _ = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size) };
}

/// Writes all of `bytes` to `fd`, waiting where it is non-blocking and full: for runbox's
/// own output (results), which someone else may have made non-blocking.
pub fn write_fully(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match write(fd, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => wait_writable(fd)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
