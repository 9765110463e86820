//! Processes, credentials, capabilities, signals and exec.

use super::{check, ExecArray, Path};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// `clone(flags | SIGCHLD, NULL, ...)`: a fork into new namespaces. `Ok(None)` in the child.
///
/// # Safety
/// The caller must be ready for the child: in a multi-threaded process the child may only
/// make async-signal-safe calls (no allocation, no locks) until it execs or exits.
pub unsafe fn clone(flags: libc::c_int) -> io::Result<Option<libc::pid_t>> {
    // SAFETY: without CLONE_VM the child runs on a copy of our memory, so sharing the stack
    // is sound; the caller upholds the async-signal-safety contract above. The other
    // arguments are NULL, which makes their per-arch order irrelevant.
    let pid = check(unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    })?;
    Ok((pid != 0).then_some(pid as libc::pid_t))
}

/// `clone3({flags, exit_signal: SIGCHLD, cgroup, CLONE_INTO_CGROUP})`: a fork into new
/// namespaces, born in the cgroup whose directory `cgroup` is open on (Linux 5.7), so that
/// nothing has to move it there. `Ok(None)` in the child. ENOSYS (no clone3, or a seccomp
/// filter that hides it), E2BIG (no `cgroup` field) and EINVAL (no CLONE_INTO_CGROUP) say
/// the kernel cannot: the caller falls back to [`clone`] and a move.
/// <https://man7.org/linux/man-pages/man2/clone3.2.html>
///
/// # Safety
/// As for [`clone`].
pub unsafe fn clone_into_cgroup(
    flags: libc::c_int,
    cgroup: RawFd,
) -> io::Result<Option<libc::pid_t>> {
    /// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup as u64,
    };
    // SAFETY: args is a live clone_args of the size given; with no stack the child runs on
    // a copy of our memory as after fork, so sharing the stack is sound; the caller upholds
    // the async-signal-safety contract of [`clone`].
    let pid = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    Ok((pid != 0).then_some(pid as libc::pid_t))
}

/// A fork into new namespaces, born in the cgroup whose directory `cgroup` is open on by
/// [`clone_into_cgroup`] where the kernel can, else by [`clone`] (then the caller must move
/// the child). Returns the fork's result and whether the child was born inside.
///
/// # Safety
/// As for [`clone`].
pub unsafe fn clone_in_cgroup(
    flags: libc::c_int,
    cgroup: Option<RawFd>,
) -> io::Result<(Option<libc::pid_t>, bool)> {
    if let Some(dir) = cgroup {
        // SAFETY: forwarded contract.
        match unsafe { clone_into_cgroup(flags, dir) } {
            Ok(forked) => return Ok((forked, true)),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: forwarded contract.
    unsafe { clone(flags) }.map(|forked| (forked, false))
}

/// `fork()` by `clone(SIGCHLD)`, with the same contract as [`clone`].
///
/// # Safety
/// As for [`clone`].
pub unsafe fn fork() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: forwarded contract.
    unsafe { clone(0) }
}

/// `wait4(pid, &status, flags, &rusage)`, retried on EINTR. `Ok(None)` for WNOHANG and
/// nothing yet.
pub fn wait4(
    pid: libc::pid_t,
    flags: libc::c_int,
) -> io::Result<Option<(libc::pid_t, libc::c_int, libc::rusage)>> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and usage are live and of the kernel's layouts.
        match check(unsafe { libc::wait4(pid, &mut status, flags, &mut usage) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(0) => return Ok(None),
            Ok(pid) => return Ok(Some((pid, status, usage))),
        }
    }
}

/// `wait4(pid, &status, flags, &rusage)` once: an interruption is `Interrupted`, for a
/// caller that a signal wakes on purpose ([`wake_on`]).
pub fn wait4_once(
    pid: libc::pid_t,
    flags: libc::c_int,
) -> io::Result<Option<(libc::pid_t, libc::c_int, libc::rusage)>> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: status and usage are live and of the kernel's layouts.
    match check(unsafe { libc::wait4(pid, &mut status, flags, &mut usage) })? {
        0 => Ok(None),
        pid => Ok(Some((pid, status, usage))),
    }
}

/// Installs, once per process, a handler that does nothing for `signal`, without
/// `SA_RESTART`: sent to a thread with [`wake_thread`], it makes that thread's blocking
/// call return `EINTR`, and nothing else.
pub fn wake_on(signal: libc::c_int) -> io::Result<()> {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = nothing as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: action is a live sigaction whose handler is async-signal-safe (it does
    // nothing); the old action is not asked for.
    check(unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) }).map(drop)
}

/// `tgkill(getpid(), tid, signal)`: a signal to one thread of this process.
pub fn wake_thread(tid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, signal) }).map(drop)
}

/// `gettid()`.
pub fn thread_id() -> libc::pid_t {
    // SAFETY: no arguments, no memory.
    unsafe { libc::gettid() }
}

/// `kill(pid, sig)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `setsid()`: a new session and process group led by the caller, with no controlling
/// terminal. <https://man7.org/linux/man-pages/man2/setsid.2.html>
pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments, no memory.
    check(unsafe { libc::setsid() }).map(drop)
}

/// `prctl(option, arg, 0, 0, 0)` for the options that take integers.
pub fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: only integer arguments.
    check(unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

/// `setresgid(0, 0, 0)`, `setgroups(0, NULL)`, `setresuid(0, 0, 0)`: the container's root,
/// with no supplementary group left over from the host. With `keep_groups` (a user
/// namespace made without privileges, where the kernel denies setgroups so that an
/// unprivileged user cannot drop a group that denies it access) setgroups is not called
/// and the host user's supplementary groups stay (seen inside as the overflow gid).
pub fn become_namespace_root(keep_groups: bool) -> io::Result<()> {
    set_ids(0, !keep_groups)
}

/// `setresgid(id, id, id)`, `setgroups(0, NULL)`, `setresuid(id, id, id)`: uid and gid `id`,
/// no supplementary groups.
///
/// Raw syscalls, not the C library's wrappers: in a multi-threaded process those make every
/// thread change ids together (glibc's setxid broadcast), taking a lock that a child forked
/// while another thread held it finds held forever. Only forked children call this, where
/// the calling thread is the only one, so the per-thread syscall is the whole process's.
pub fn become_user(id: u32) -> io::Result<()> {
    set_ids(id, true)
}

/// [`become_user`], with setgroups only if `drop_groups`.
fn set_ids(id: u32, drop_groups: bool) -> io::Result<()> {
    #[cfg(target_arch = "arm")]
    let (setresgid, setgroups, setresuid) = (
        libc::SYS_setresgid32,
        libc::SYS_setgroups32,
        libc::SYS_setresuid32,
    );
    #[cfg(not(target_arch = "arm"))]
    let (setresgid, setgroups, setresuid) = (
        libc::SYS_setresgid,
        libc::SYS_setgroups,
        libc::SYS_setresuid,
    );
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(setresgid, id, id, id) })?;
    if drop_groups {
        // SAFETY: an empty list; the pointer is not read.
        check(unsafe { libc::syscall(setgroups, 0, std::ptr::null::<libc::gid_t>()) })?;
    }
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(setresuid, id, id, id) }).map(drop)
}

/// `geteuid()`.
pub fn effective_uid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// `getegid()`.
pub fn effective_gid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getegid() }
}

/// Keeps the capabilities of `keep` (bit numbers) and drops every other one from every
/// set: bounding (`PR_CAPBSET_DROP`), ambient (cleared), and effective, permitted and
/// inheritable (`capset`: `keep` effective and permitted, none inheritable). `keep` 0
/// drops them all.
pub fn keep_only_capabilities(keep: u64) -> io::Result<()> {
    for cap in 0..64 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        if let Err(e) = prctl(libc::PR_CAPBSET_DROP, cap) {
            if e.raw_os_error() == Some(libc::EINVAL) {
                break; // past the last capability this kernel knows
            }
            return Err(e);
        }
    }
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    )?;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let (low, high) = (keep as u32, (keep >> 32) as u32);
    // Two {effective, permitted, inheritable} entries: capabilities 0-31, then 32-63.
    let data = [low, low, 0, high, high, 0];
    // SAFETY: header and data are live and of the v3 layout (two 3-word entries).
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) })
        .map(drop)
}

/// `sethostname(name, len)`.
pub fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: name is live for its length.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `setdomainname(name, len)`.
pub fn setdomainname(name: &[u8]) -> io::Result<()> {
    // SAFETY: name is live for its length.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: only returns on failure.
pub fn execveat_fd(fd: RawFd, argv: &impl ExecArray, envp: &impl ExecArray) -> io::Error {
    let (argv, envp) = (argv.as_ptr(), envp.as_ptr());
    // SAFETY: the path is the empty string literal; the ExecArray types guarantee
    // NULL-terminated arrays of strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv,
            envp,
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// `execve(path, argv, envp)`: only returns on failure.
pub fn execve(path: Path, argv: &impl ExecArray, envp: &impl ExecArray) -> io::Error {
    // SAFETY: path is a live NUL-terminated string; the ExecArray types guarantee
    // NULL-terminated arrays of strings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// `setrlimit(resource, {soft, hard})`.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: limit is a live rlimit64.
    check(unsafe { libc::setrlimit64(resource as _, &limit) }).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &{len, filter})` for a BPF program given as
/// bytes; returns what the kernel returns (a listener fd with the listener flag).
fn seccomp_install(program: &[u8], flags: libc::c_ulong) -> io::Result<libc::c_long> {
    let len =
        u16::try_from(program.len() / 8).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `len` whole instructions inside `program`; the kernel copies
    // them before returning.
    check(unsafe { libc::syscall(libc::SYS_seccomp, 1 as libc::c_ulong, flags, &fprog) })
}

/// Installs a seccomp filter given as bytes.
pub fn seccomp_filter(program: &[u8]) -> io::Result<()> {
    seccomp_install(program, 0).map(drop)
}

/// `sigprocmask(how, {signals}, NULL)`.
pub fn sigprocmask(how: libc::c_int, signals: &[libc::c_int]) -> io::Result<()> {
    let set = sigset(signals);
    // SAFETY: set is a live sigset_t; the old mask is not asked for.
    check(unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) }).map(drop)
}

/// `sigwait({signals})`: waits for one of `signals` (blocked in every thread) and takes it.
pub fn sigwait(signals: &[libc::c_int]) -> io::Result<libc::c_int> {
    let set = sigset(signals);
    let mut signal: libc::c_int = 0;
    // SAFETY: set and signal are live; sigwait returns an error number, not -1 and errno.
    match unsafe { libc::sigwait(&set, &mut signal) } {
        0 => Ok(signal),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value, and sigemptyset makes it empty anyway.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a live sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &sig in signals {
        // SAFETY: set is a live sigset_t; invalid numbers are refused with EINVAL.
        unsafe { libc::sigaddset(&mut set, sig) };
    }
    set
}

/// `_exit(code)`: no atexit handlers, no stdio flushing; right in a forked child.
pub fn exit_now(code: libc::c_int) -> ! {
    // SAFETY: ends the process without touching shared state.
    unsafe { libc::_exit(code) }
}

/// The CPUs this thread may run on (`sched_getaffinity(0)`).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a live cpu_set_t of the size given.
    check(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads the set within its size (cpu < max).
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Binds the calling thread (and what it forks afterwards) to one CPU.
pub fn bind_thread_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes inside the set; cpu comes from `allowed_cpus`, below its size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: set is a live cpu_set_t of the size given.
    check(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) })
        .map(drop)
}

/// `unshare(flags)`: this thread (or process) leaves what it shared.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// `setns(fd, nstype)`: the calling thread joins the namespace `fd` names.
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is a live fd.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// `setfsuid(id)` and `setfsgid(id)`, for the calling thread alone (the raw syscalls: the
/// kernel's fs ids are per thread): the ids its file accesses and creations are made as.
/// From 0 to another id, the kernel takes the file capabilities (CAP_DAC_OVERRIDE,
/// CAP_CHOWN...) out of the thread's effective set, and back to 0 gives them back.
pub fn set_fs_ids(id: u32) {
    #[cfg(target_arch = "arm")]
    let (uid, gid) = (libc::SYS_setfsuid32, libc::SYS_setfsgid32);
    #[cfg(not(target_arch = "arm"))]
    let (uid, gid) = (libc::SYS_setfsuid, libc::SYS_setfsgid);
    // SAFETY: integers only. setfsuid reports no error (it returns the previous id).
    unsafe {
        libc::syscall(gid, id);
        libc::syscall(uid, id);
    }
}
