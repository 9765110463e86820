//! The only place in init where `unsafe` is allowed: raw syscalls, each wrapped in a function
//! that returns a `Result` at once, the process entry point, and the few memory routines the
//! compiler expects from a libc that init does not link.
//!
//! Every wrapper is named for its syscall and documented by its call shape; see the man page
//! of the same name (<https://man7.org/linux/man-pages/man2/>).
#![allow(unsafe_code)]

use core::mem::size_of;
use core::sync::atomic::AtomicU32;
use runbox_shared::Failure;
use syscalls::{syscall, Sysno};

/// A positive errno value.
pub type Errno = i32;
/// The result of a syscall.
pub type Result<T> = core::result::Result<T, Errno>;

fn check(ret: core::result::Result<usize, syscalls::Errno>) -> Result<usize> {
    ret.map_err(|e| e.into_raw())
}

pub const SIGKILL: i32 = 9;
pub const SIGCHLD: i32 = 17;
pub const EINTR: Errno = 4;
pub const EAGAIN: Errno = 11;
pub const EACCES: Errno = 13;
pub const ENOENT: Errno = 2;
pub const ENOTDIR: Errno = 20;
pub const ENOSYS: Errno = 38;
pub const EINVAL: Errno = 22;
pub const POLLIN: i16 = 1;
pub const POLLHUP: i16 = 0x10;
pub const WNOHANG: i32 = 1;

/// `struct timespec` with the native `long`: right for the non-`time64` syscalls on every
/// architecture init supports.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Timespec {
    pub sec: isize,
    pub nsec: isize,
}

/// `struct rusage`: two `timeval`s and fourteen `long`s.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Rusage {
    pub utime_sec: isize,
    pub utime_usec: isize,
    pub stime_sec: isize,
    pub stime_usec: isize,
    pub maxrss_kib: isize,
    rest: [isize; 13],
}

#[repr(C)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

#[repr(C)]
struct Iovec {
    base: *mut u8,
    len: usize,
}

/// The kernel's `struct user_msghdr`.
#[repr(C)]
struct MsgHdr {
    name: *mut u8,
    namelen: u32,
    iov: *mut Iovec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}

/// The kernel's `struct cmsghdr`, followed by its data aligned to `usize`.
#[repr(C)]
struct CmsgHdr {
    len: usize,
    level: i32,
    kind: i32,
}

const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
const MSG_TRUNC: i32 = 0x20;
const MSG_CTRUNC: i32 = 0x8;
const MSG_NOSIGNAL: usize = 0x4000;
/// Room for the header and `MAX_FDS` descriptors, `usize`-aligned (CMSG_SPACE).
const FDS_LEN: usize = (runbox_shared::MAX_FDS * 4).next_multiple_of(size_of::<usize>());
const CONTROL_LEN: usize = size_of::<CmsgHdr>() + FDS_LEN;

/// A received datagram: its length and the descriptors that came with it.
pub struct Received {
    pub len: usize,
    pub truncated: bool,
    pub fds: [i32; runbox_shared::MAX_FDS],
    pub nfds: usize,
}

/// `recvmsg(fd, {buf, control for MAX_FDS fds}, MSG_CMSG_CLOEXEC)`. Returns `len == 0` at
/// the peer's close. Descriptors beyond `MAX_FDS` are closed by the kernel (MSG_CTRUNC).
pub fn recv_with_fds(fd: i32, buf: &mut [u8]) -> Result<Received> {
    #[repr(C, align(8))]
    struct Control([u8; CONTROL_LEN]);
    let mut control = Control([0; CONTROL_LEN]);
    let mut iov = Iovec {
        base: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let mut msg = MsgHdr {
        name: core::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: control.0.as_mut_ptr(),
        controllen: CONTROL_LEN,
        flags: 0,
    };
    // SAFETY: msg, iov, buf and control are live for the call and the kernel writes within
    // the lengths given.
    let len = check(unsafe {
        syscall!(
            Sysno::recvmsg,
            fd,
            &mut msg as *mut MsgHdr,
            MSG_CMSG_CLOEXEC
        )
    })?;
    let mut received = Received {
        len,
        truncated: msg.flags & (MSG_TRUNC | MSG_CTRUNC) != 0,
        fds: [-1; runbox_shared::MAX_FDS],
        nfds: 0,
    };
    // One SCM_RIGHTS header at most: the controller sends a single one.
    if msg.controllen >= size_of::<CmsgHdr>() {
        // SAFETY: control is 8-aligned and at least one header long, as just checked.
        let header = unsafe { &*(control.0.as_ptr() as *const CmsgHdr) };
        if header.level == SOL_SOCKET && header.kind == SCM_RIGHTS {
            let bytes = header.len.saturating_sub(size_of::<CmsgHdr>()).min(FDS_LEN);
            let data = &control.0[size_of::<CmsgHdr>()..size_of::<CmsgHdr>() + bytes];
            for chunk in data.chunks_exact(4) {
                let fd = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                if received.nfds < received.fds.len() {
                    received.fds[received.nfds] = fd;
                    received.nfds += 1;
                } else {
                    close(fd);
                }
            }
        }
    }
    Ok(received)
}

/// `recvfrom(fd, buf, len, MSG_DONTWAIT)`: a datagram without its descriptors (the kernel
/// closes any that came with it).
pub fn recv_nowait(fd: i32, buf: &mut [u8]) -> Result<usize> {
    const MSG_DONTWAIT: usize = 0x40;
    // SAFETY: buf is live and writable for its whole length; no address is asked for.
    check(unsafe {
        syscall!(
            Sysno::recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            MSG_DONTWAIT,
            0,
            0
        )
    })
}

/// `sendto(fd, buf, len, MSG_NOSIGNAL)`.
pub fn send(fd: i32, buf: &[u8]) -> Result<usize> {
    // SAFETY: buf is live and readable for its whole length; no address is given.
    check(unsafe {
        syscall!(
            Sysno::sendto,
            fd,
            buf.as_ptr(),
            buf.len(),
            MSG_NOSIGNAL,
            0,
            0
        )
    })
}

/// `sendmsg(fd, {buf, SCM_RIGHTS fds}, MSG_NOSIGNAL)`: one datagram with at most
/// `MAX_FDS` descriptors.
pub fn send_with_fds(fd: i32, buf: &[u8], fds: &[i32]) -> Result<usize> {
    #[repr(C, align(8))]
    struct Control([u8; CONTROL_LEN]);
    let fds = &fds[..fds.len().min(runbox_shared::MAX_FDS)];
    let mut control = Control([0; CONTROL_LEN]);
    let header = CmsgHdr {
        len: size_of::<CmsgHdr>() + fds.len() * 4,
        level: SOL_SOCKET,
        kind: SCM_RIGHTS,
    };
    // SAFETY: control is 8-aligned and longer than one header; the header is plain data.
    unsafe { core::ptr::write(control.0.as_mut_ptr() as *mut CmsgHdr, header) };
    for (i, fd) in fds.iter().enumerate() {
        let at = size_of::<CmsgHdr>() + i * 4;
        control.0[at..at + 4].copy_from_slice(&fd.to_ne_bytes());
    }
    let mut iov = Iovec {
        base: buf.as_ptr() as *mut u8,
        len: buf.len(),
    };
    let msg = MsgHdr {
        name: core::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: control.0.as_mut_ptr(),
        // CMSG_SPACE of the fds sent (no header with none).
        controllen: match fds.len() {
            0 => 0,
            n => size_of::<CmsgHdr>() + (n * 4).next_multiple_of(size_of::<usize>()),
        },
        flags: 0,
    };
    // SAFETY: msg, iov, buf and control are live for the call; the kernel only reads them
    // (iov's base is never written through by sendmsg).
    check(unsafe { syscall!(Sysno::sendmsg, fd, &msg as *const MsgHdr, MSG_NOSIGNAL) })
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)`.
pub fn socketpair() -> Result<[i32; 2]> {
    const AF_UNIX: usize = 1;
    const SOCK_SEQPACKET: usize = 5;
    const SOCK_CLOEXEC: usize = 0o2_000_000;
    let mut pair = [-1i32; 2];
    // SAFETY: pair is a live array of two ints, which the kernel fills.
    check(unsafe {
        syscall!(
            Sysno::socketpair,
            AF_UNIX,
            SOCK_SEQPACKET | SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr()
        )
    })?;
    Ok(pair)
}

/// `close(fd)`; the result is of no use to init.
pub fn close(fd: i32) {
    // SAFETY: closing a descriptor touches no memory of ours.
    let _ = unsafe { syscall!(Sysno::close, fd) };
}

/// `close_range(first, ~0, 0)`, or a loop of `close` on kernels before 5.9.
pub fn close_from(first: u32) -> Result<()> {
    // SAFETY: closing descriptors touches no memory of ours.
    match check(unsafe { syscall!(Sysno::close_range, first, u32::MAX, 0) }) {
        Err(ENOSYS) => {
            for fd in first..4096 {
                close(fd as i32);
            }
            Ok(())
        }
        other => other.map(drop),
    }
}

/// `dup3(old, new, 0)`: the new fd is not close-on-exec.
pub fn dup_to(old: i32, new: i32) -> Result<()> {
    if old == new {
        return clear_cloexec(old);
    }
    // SAFETY: descriptor numbers only.
    check(unsafe { syscall!(Sysno::dup3, old, new, 0) }).map(drop)
}

/// `fcntl(fd, F_DUPFD, least)`: a copy of `fd` at the lowest free number from `least` on.
pub fn dup_at_least(fd: i32, least: i32) -> Result<i32> {
    const F_DUPFD: usize = 0;
    // SAFETY: descriptor numbers only.
    check(unsafe { syscall!(Sysno::fcntl, fd, F_DUPFD, least) }).map(|fd| fd as i32)
}

/// `fcntl(fd, F_SETFD, 0)`.
fn clear_cloexec(fd: i32) -> Result<()> {
    const F_SETFD: usize = 2;
    // SAFETY: descriptor flags only.
    check(unsafe { syscall!(Sysno::fcntl, fd, F_SETFD, 0) }).map(drop)
}

/// `fcntl(fd, F_SETFD, FD_CLOEXEC)`.
pub fn set_cloexec(fd: i32) -> Result<()> {
    const F_SETFD: usize = 2;
    // SAFETY: descriptor flags only.
    check(unsafe { syscall!(Sysno::fcntl, fd, F_SETFD, 1) }).map(drop)
}

/// `chdir(path)`.
pub fn chdir(path: &core::ffi::CStr) -> Result<()> {
    // SAFETY: path is a live NUL-terminated string.
    check(unsafe { syscall!(Sysno::chdir, path.as_ptr()) }).map(drop)
}

/// `prlimit64(0, resource, &{soft, hard}, NULL)`.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> Result<()> {
    let limit = [soft, hard];
    // SAFETY: limit is a live `struct rlimit64`; the old value is not asked for.
    check(unsafe { syscall!(Sysno::prlimit64, 0, resource, limit.as_ptr(), 0) }).map(drop)
}

/// `setsid()`: a new session and process group, led by the caller, without a terminal.
pub fn setsid() -> Result<()> {
    // SAFETY: no arguments, no memory.
    check(unsafe { syscall!(Sysno::setsid) }).map(drop)
}

/// `unshare(CLONE_NEWIPC)`: a new, empty IPC namespace for the caller.
pub fn unshare_ipc() -> Result<()> {
    const CLONE_NEWIPC: usize = 0x0800_0000;
    // SAFETY: flags only, no memory.
    check(unsafe { syscall!(Sysno::unshare, CLONE_NEWIPC) }).map(drop)
}

/// `setgroups(0, NULL)`, `setresgid(id, id, id)`, `setresuid(id, id, id)`: no supplementary
/// groups, then uid and gid `id` (real, effective, saved). From uid 0 to another, the
/// kernel clears every capability. Per thread, which in init's forked child is the process.
pub fn become_user(id: u32) -> Result<()> {
    #[cfg(target_arch = "arm")]
    let (groups, gid, uid) = (Sysno::setgroups32, Sysno::setresgid32, Sysno::setresuid32);
    #[cfg(not(target_arch = "arm"))]
    let (groups, gid, uid) = (Sysno::setgroups, Sysno::setresgid, Sysno::setresuid);
    // SAFETY: an empty list: no memory is read.
    check(unsafe { syscall!(groups, 0, 0) })?;
    // SAFETY: integers only.
    check(unsafe { syscall!(gid, id, id, id) })?;
    // SAFETY: integers only.
    check(unsafe { syscall!(uid, id, id, id) }).map(drop)
}

/// `capset` with empty effective, permitted and inheritable sets (version 3: two entries).
pub fn drop_capabilities() -> Result<()> {
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header: [u32; 2] = [LINUX_CAPABILITY_VERSION_3, 0];
    let data = [0u32; 6];
    // SAFETY: header and data are live and of the v3 layout (two 3-word entries).
    check(unsafe { syscall!(Sysno::capset, header.as_ptr(), data.as_ptr()) }).map(drop)
}

/// `prctl(option, arg)`.
pub fn prctl(option: usize, arg: usize) -> Result<()> {
    // SAFETY: init only uses prctl options that take integers, not pointers.
    check(unsafe { syscall!(Sysno::prctl, option, arg, 0, 0, 0) }).map(drop)
}
pub const PR_SET_DUMPABLE: usize = 4;
/// `prctl(PR_CAPBSET_DROP, cap)`.
pub const PR_CAPBSET_DROP: usize = 24;
pub const PR_SET_NO_NEW_PRIVS: usize = 38;

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: the install returns a user-notification fd.
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: usize = 1 << 3;

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &{len, filter})`; `program` is an array of
/// `struct sock_filter` (8 bytes each). Returns the listener fd with the listener flag.
pub fn seccomp_filter(program: &[u8], flags: usize) -> Result<usize> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const u8,
    }
    let len = u16::try_from(program.len() / 8).map_err(|_| 22)?;
    let fprog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    // SAFETY: fprog points at `len` whole instructions inside `program`; the kernel copies
    // and validates them before returning.
    check(unsafe { syscall!(Sysno::seccomp, 1, flags, &fprog as *const SockFprog) })
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: u32) -> Result<i32> {
    // SAFETY: no memory is involved.
    check(unsafe { syscall!(Sysno::pidfd_open, pid, 0) }).map(|fd| fd as i32)
}

/// `pidfd_getfd(pidfd, fd, 0)`: a copy of another process's fd (close-on-exec).
pub fn pidfd_getfd(pidfd: i32, fd: i32) -> Result<i32> {
    // SAFETY: no memory is involved.
    check(unsafe { syscall!(Sysno::pidfd_getfd, pidfd, fd, 0) }).map(|fd| fd as i32)
}

/// `futex(word, FUTEX_WAIT, expected, timeout)`: sleeps while `*word == expected`. Not
/// private: the word is in a page shared by two processes.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Timespec>) {
    let timeout_ptr = match &timeout {
        Some(t) => t as *const Timespec,
        None => core::ptr::null(),
    };
    // SAFETY: word is a live, aligned u32; the timeout is live for the call. Spurious
    // wake-ups and EAGAIN are the caller's loop's business.
    let _ = unsafe { syscall!(Sysno::futex, word.as_ptr(), 0, expected, timeout_ptr, 0, 0) };
}

/// `futex(word, FUTEX_WAKE, all)`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: word is a live, aligned u32.
    let _ = unsafe { syscall!(Sysno::futex, word.as_ptr(), 1, i32::MAX, 0, 0, 0) };
}

/// `ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif)`: the next notification's syscall
/// number and arch (`struct seccomp_notif`: id, pid, flags, then `struct seccomp_data`).
pub fn notif_recv(listener: i32) -> Result<(u32, u32)> {
    use runbox_shared::handover::{notif_call, NOTIF_SIZE, SECCOMP_IOCTL_NOTIF_RECV};
    #[repr(C, align(8))]
    struct Notif([u8; NOTIF_SIZE]);
    // The kernel wants it zeroed.
    let mut notif = Notif([0; NOTIF_SIZE]);
    // SAFETY: notif is a live, 8-aligned, zeroed buffer of the size the request encodes.
    check(unsafe {
        syscall!(
            Sysno::ioctl,
            listener,
            SECCOMP_IOCTL_NOTIF_RECV as usize,
            notif.0.as_mut_ptr()
        )
    })?;
    Ok(notif_call(&notif.0))
}

/// `execve(path, argv, envp)`; only returns on failure.
///
/// # Safety
/// `path` must point at a NUL-terminated string, and `argv` and `envp` at NULL-terminated
/// arrays of pointers to NUL-terminated strings, all live for the call.
pub unsafe fn execve(path: *const u8, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: the caller's promise, above.
    match check(unsafe { syscall!(Sysno::execve, path, argv, envp) }) {
        Ok(_) => 0,
        Err(errno) => errno,
    }
}

/// `clone(SIGCHLD, 0, 0, 0, 0)`, a plain fork: 0 in the child, the pid in the parent.
pub fn fork() -> Result<u32> {
    // SAFETY: without CLONE_VM the child gets a copy of our memory, so both sides may go on
    // using the same stack; with no other thread in init, no lock can be held across it.
    check(unsafe { syscall!(Sysno::clone, SIGCHLD, 0, 0, 0, 0) }).map(|pid| pid as u32)
}

/// `wait4(pid, &status, options, &rusage)`: `Ok(None)` when WNOHANG found nothing.
pub fn wait4(pid: i32, options: i32) -> Result<Option<(u32, i32, Rusage)>> {
    let mut status = 0i32;
    let mut usage = Rusage::default();
    // SAFETY: status and usage are live and have the kernel's layouts.
    let pid = check(unsafe {
        syscall!(
            Sysno::wait4,
            pid,
            &mut status as *mut i32,
            options,
            &mut usage as *mut Rusage
        )
    })?;
    Ok((pid != 0).then_some((pid as u32, status, usage)))
}

/// `kill(pid, sig)`.
pub fn kill(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { syscall!(Sysno::kill, pid, sig) }).map(drop)
}

/// `exit_group(code)`.
pub fn exit(code: i32) -> ! {
    // SAFETY: the process ends here.
    let _ = unsafe { syscall!(Sysno::exit_group, code) };
    // exit_group does not return; should it ever, stop here rather than run on.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `clock_gettime(CLOCK_MONOTONIC)` in microseconds.
pub fn monotonic_us() -> u64 {
    let mut now = Timespec::default();
    // SAFETY: now is a live `struct timespec` of the native `long`.
    let _ = unsafe { syscall!(Sysno::clock_gettime, 1, &mut now as *mut Timespec) };
    now.sec as u64 * 1_000_000 + now.nsec as u64 / 1000
}

/// `rt_sigprocmask(how, &set, NULL, 8)` with a 64-signal mask.
pub fn sigprocmask(how: usize, set: u64) -> Result<()> {
    // SAFETY: set is a live 8-byte kernel sigset; the old mask is not asked for.
    check(unsafe { syscall!(Sysno::rt_sigprocmask, how, &set as *const u64, 0, 8) }).map(drop)
}
pub const SIG_BLOCK: usize = 0;
pub const SIG_SETMASK: usize = 2;

/// `signalfd4(-1, &mask, 8, SFD_CLOEXEC | SFD_NONBLOCK)`.
pub fn signalfd(mask: u64) -> Result<i32> {
    const SFD_FLAGS: usize = 0o2000000 | 0o4000;
    // SAFETY: mask is a live 8-byte kernel sigset.
    check(unsafe { syscall!(Sysno::signalfd4, -1isize, &mask as *const u64, 8, SFD_FLAGS) })
        .map(|fd| fd as i32)
}

/// `read(fd, buf, len)`.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is live and writable for its whole length.
    check(unsafe { syscall!(Sysno::read, fd, buf.as_mut_ptr(), buf.len()) })
}

/// `ppoll(fds, n, timeout, NULL)`; `None` waits without a limit. Returns the ready count.
pub fn ppoll(fds: &mut [PollFd], timeout: Option<Timespec>) -> Result<usize> {
    let timeout_ptr = match &timeout {
        Some(t) => t as *const Timespec,
        None => core::ptr::null(),
    };
    // SAFETY: fds and the timeout are live for the call; no signal mask is changed.
    check(unsafe { syscall!(Sysno::ppoll, fds.as_mut_ptr(), fds.len(), timeout_ptr, 0, 8) })
}

/// `umask(mask)`.
pub fn umask(mask: u32) {
    // SAFETY: no memory is involved.
    let _ = unsafe { syscall!(Sysno::umask, mask) };
}

/// One shared, anonymous, read-write page that init and its forked child both see: the
/// child's failure record at its start, and the listener hand-over's words (at offsets the
/// protocol crate fixes). Made once by [`shared_page`], never unmapped.
#[derive(Clone, Copy)]
pub struct SharedPage(*mut u8);

/// `mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)`.
pub fn shared_page() -> Result<SharedPage> {
    const PROT_RW: usize = 3;
    const MAP_SHARED_ANON: usize = 0x01 | 0x20;
    #[cfg(target_arch = "arm")]
    const MMAP: Sysno = Sysno::mmap2;
    #[cfg(not(target_arch = "arm"))]
    const MMAP: Sysno = Sysno::mmap;
    // SAFETY: a fresh anonymous mapping aliases no memory of ours.
    check(unsafe { syscall!(MMAP, 0, 4096, PROT_RW, MAP_SHARED_ANON, -1isize, 0) })
        .map(|p| SharedPage(p as *mut u8))
}

impl SharedPage {
    /// Writes the child's failure record (or init's empty one) at the page's start.
    pub fn put_failure(self, value: Option<Failure>) {
        const { assert!(size_of::<Option<Failure>>() <= FAILURE_BYTES) };
        // SAFETY: the page is 4096 bytes from `shared_page`, page-aligned and so aligned for
        // any type, and the record fits before the hand-over's words (checked above). Only
        // the child writes it, while init waits; init reads it only after the child is gone.
        unsafe { core::ptr::write_volatile(self.0 as *mut Option<Failure>, value) }
    }

    /// The record last written by [`put_failure`](Self::put_failure).
    pub fn failure(self) -> Option<Failure> {
        // SAFETY: as in put_failure; init writes the empty record before each fork, so a
        // valid value is always there.
        unsafe { core::ptr::read_volatile(self.0 as *const Option<Failure>) }
    }

    /// The `u32` at `OFFSET` in the page, seen as an atomic by both processes.
    pub fn word<const OFFSET: usize>(self) -> &'static AtomicU32 {
        const { assert!(OFFSET.is_multiple_of(4) && OFFSET >= FAILURE_BYTES && OFFSET + 4 <= 4096) };
        // SAFETY: the page is 4096 bytes from `shared_page`, never unmapped, so the reference
        // lives as long as the process; the offset is in bounds, 4-aligned and past the
        // failure record (checked at compile time above). All accesses to these words are
        // atomic.
        unsafe { &*(self.0.add(OFFSET) as *const AtomicU32) }
    }
}

/// The bytes at the page's start that the failure record may take.
const FAILURE_BYTES: usize = 64;

// ---------------------------------------------------------------------------------------
// Process entry: no libc, so `_start` is ours. The kernel leaves argc, argv and envp on the
// stack; init needs none of them. Align the stack as the ABI wants and call `crate::main`.
// ---------------------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym crate::main,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov x29, #0",
    "mov x30, #0",
    "mov x0, sp",
    "and x0, x0, #-16",
    "mov sp, x0",
    "bl {main}",
    "brk #0",
    main = sym crate::main,
);

#[cfg(target_arch = "arm")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov fp, #0",
    "mov lr, #0",
    "bic sp, sp, #7",
    "bl {main}",
    "udf #0",
    main = sym crate::main,
);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable by design (init never panics on input), but if it happens the container
    // ends and the controller replaces it.
    exit(101)
}

// The compiler calls these for copies and fills; without libc, init provides them. Volatile
// accesses keep LLVM from turning the loops back into calls to themselves.

/// # Safety
/// As C's memcpy: the ranges are valid and do not overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees both ranges hold n bytes.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

/// # Safety
/// As C's memmove: the ranges are valid and may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) {
        // SAFETY: copying forwards is right when dst starts at or before src.
        return unsafe { memcpy(dst, src, n) };
    }
    for i in (0..n).rev() {
        // SAFETY: the caller guarantees both ranges hold n bytes.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dst
}

/// # Safety
/// As C's memset: the range is valid.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, value: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees the range holds n bytes.
        unsafe { dst.add(i).write_volatile(value as u8) };
    }
    dst
}

/// # Safety
/// As C's memcmp: both ranges are valid.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller guarantees both ranges hold n bytes.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// As C's bcmp: both ranges are valid.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

// Unwinding never happens (panic = abort), but debug builds and ARM's exception tables still
// name these symbols.
#[cfg(target_arch = "arm")]
#[no_mangle]
pub extern "C" fn __aeabi_unwind_cpp_pr0() {}
#[cfg(target_arch = "arm")]
#[no_mangle]
pub extern "C" fn __aeabi_unwind_cpp_pr1() {}
/// Named by compiler_builtins' ARM exception tables; never called, since nothing unwinds.
#[cfg(target_arch = "arm")]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
