//! ptrace, the traced program's memory and registers, pidfds and CPU clocks: what ptrace
//! mode's tracer and watchdog call.

use super::check;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `ptrace(PTRACE_SEIZE, pid, 0, options)`: traces `pid` without stopping it, with
/// `PTRACE_LISTEN` and `PTRACE_INTERRUPT` available and group-stops reported as such.
pub fn seize(pid: libc::pid_t, options: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, options as usize) }).map(drop)
}

/// `ptrace(PTRACE_INTERRUPT, pid, 0, 0)`: a seized tracee stops (`PTRACE_EVENT_STOP`) as
/// soon as it can.
pub fn interrupt(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0usize, 0usize) }).map(drop)
}

/// `ptrace(PTRACE_LISTEN, pid, 0, 0)`: a tracee in group-stop stays stopped, as without a
/// tracer, until a `SIGCONT` (or `SIGKILL`).
pub fn listen(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::ptrace(libc::PTRACE_LISTEN, pid, 0usize, 0usize) }).map(drop)
}

/// `ptrace(PTRACE_CONT, pid, 0, signal)`.
pub fn cont(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0usize, signal as usize) }).map(drop)
}

/// `ptrace(PTRACE_SYSCALL, pid, 0, signal)`: resumes, stopping at the next syscall stop
/// (from a seccomp stop: the call's exit).
pub fn resume_to_syscall(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0usize, signal as usize) }).map(drop)
}

/// `ptrace(PTRACE_GETEVENTMSG, pid)`: a new tracee's pid, or a seccomp stop's data.
pub fn event_message(pid: libc::pid_t) -> io::Result<u64> {
    let mut message: libc::c_ulong = 0;
    // SAFETY: message is a live c_ulong, which the kernel writes.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            0usize,
            &mut message as *mut libc::c_ulong,
        )
    })?;
    Ok(message as u64)
}

/// `ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, {buf})`: the general registers, in the
/// kernel's layout for the architecture; returns how many bytes it wrote.
pub fn get_registers(pid: libc::pid_t, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: iov describes `buf`, live and writable; the kernel writes at most iov_len
    // bytes and shortens iov_len to what it wrote.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGSET,
            pid,
            libc::NT_PRSTATUS as usize,
            &mut iov as *mut libc::iovec,
        )
    })?;
    Ok(iov.iov_len)
}

/// `ptrace(PTRACE_SETREGSET, pid, kind, {bytes})`: sets a register set (`NT_PRSTATUS`, or
/// `NT_ARM_SYSTEM_CALL` on aarch64).
pub fn set_register_set(pid: libc::pid_t, kind: u32, bytes: &[u8]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: iov describes `bytes`, live; SETREGSET only reads it.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGSET,
            pid,
            kind as usize,
            &mut iov as *mut libc::iovec,
        )
    })
    .map(drop)
}

/// `ptrace(PTRACE_SET_SYSCALL, pid, 0, nr)`: 32-bit ARM's way to change (or, with -1, skip)
/// the stopped call.
pub fn set_syscall_arm(pid: libc::pid_t, nr: libc::c_int) -> io::Result<()> {
    const PTRACE_SET_SYSCALL: libc::c_uint = 23;
    // SAFETY: no memory is involved.
    check(unsafe { libc::ptrace(PTRACE_SET_SYSCALL as _, pid, 0usize, nr as isize as usize) })
        .map(drop)
}

/// `process_vm_readv`: copies from the traced program's memory at `addr` into `buf`;
/// returns how many bytes came (fewer at the end of a mapping).
pub fn read_memory(pid: libc::pid_t, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, live and writable; `remote` is only an address in
    // the other process, which the kernel checks.
    check(unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) }).map(|n| n as usize)
}

/// `pidfd_open(pid, 0)`: a handle that names this process and no later one with its pid.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: no memory is involved.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `pidfd_send_signal(pidfd, SIGKILL, NULL, 0)`; a process already gone is not an error.
pub fn pidfd_kill(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no memory is involved (the info pointer is NULL).
    match check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            0usize,
            0u32,
        )
    }) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other.map(drop),
    }
}

/// The CPU time (user + system, every thread, exact) of process `pid` so far:
/// `clock_gettime` on its process CPU clock (`CPUCLOCK_SCHED`).
pub fn process_cpu_time(pid: libc::pid_t) -> io::Result<Duration> {
    const CPUCLOCK_SCHED: libc::clockid_t = 2;
    let clock = (!pid << 3) | CPUCLOCK_SCHED;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a live timespec.
    check(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}
