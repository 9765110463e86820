//! Starting a traced program: everything it needs is prepared before the fork, and the
//! forked child makes only async-signal-safe calls (the controller has threads) until it
//! execs: a wait until the tracer has seized it (`PTRACE_SEIZE`, with its options), into
//! the run's cgroup where there is one, stdio in place, other fds closed, cwd, rlimits, a
//! session and process group of its own (no controlling terminal: nothing it does reaches
//! the judge's terminal or process group), unprivileged ids, a parent-death signal,
//! no_new_privs, the filter, execve. The execve itself stops in the tracer like any file
//! call. A failed step is written to a close-on-exec pipe, which stays empty on success.
#![allow(unsafe_code)] // the fork; see `spawn`

use crate::sys::process;
use crate::sys::{fs, ptrace, CStrArray};
use runbox_shared::{Failure, Rlimit, Step};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// Where the child keeps the report pipe while it arranges fds 0-2.
const HIGH_FD: RawFd = 10;
/// Where the report pipe sits until exec closes it.
const REPORT_FD: RawFd = 3;

/// A program ready to start.
#[derive(Debug)]
pub struct Prepared {
    /// The absolute path execve gets.
    pub path: CString,
    /// argv.
    pub argv: CStrArray,
    /// envp.
    pub envp: CStrArray,
    /// The working directory.
    pub cwd: CString,
    /// The rlimits to set.
    pub rlimits: Vec<Rlimit>,
    /// The uid and gid to become, if runbox runs as root.
    pub ids: Option<u32>,
    /// The compiled filter.
    pub filter: Vec<u8>,
    /// Files the child writes "0" to, to join the run's cgroup (v1's `tasks`), if any.
    pub cgroup_joins: Vec<RawFd>,
}

/// A started child and the read end of its report pipe.
#[derive(Debug)]
pub struct Started {
    /// Its pid.
    pub pid: libc::pid_t,
    /// Reads a [`Failure`] if the child failed before its execve went through.
    pub report: OwnedFd,
}

/// Forks the child and seizes it from this thread, its tracer, with `options`; the child
/// waits for that before anything else.
pub fn spawn(
    prepared: &Prepared,
    stdio: [BorrowedFd<'_>; 3],
    options: libc::c_int,
) -> io::Result<Started> {
    let (report, report_child) = fs::pipe()?;
    let (go_child, go) = fs::pipe()?;
    let raw = stdio.map(|fd| fd.as_raw_fd());
    let pipes = Pipes {
        report: report_child.as_raw_fd(),
        go: go_child.as_raw_fd(),
        go_parent: go.as_raw_fd(),
    };
    // SAFETY: the child runs only `child`, which makes async-signal-safe calls (raw syscalls
    // through crate::sys, no allocation, no locks, no panics) and ends in execve or _exit.
    let pid = match unsafe { process::fork() }? {
        None => child(prepared, raw, pipes),
        Some(pid) => pid,
    };
    drop(go_child);
    let seized = ptrace::seize(pid, options).and_then(|()| fs::write_all(go.as_raw_fd(), b"g"));
    if let Err(e) = seized {
        // The child sees the pipe close and exits: reap it.
        drop(go);
        let _ = process::wait4(pid, libc::__WALL);
        return Err(e);
    }
    Ok(Started { pid, report })
}

/// The pipes' ends as the child sees them.
#[derive(Debug, Clone, Copy)]
struct Pipes {
    /// Where a failed step is reported.
    report: RawFd,
    /// One byte comes once the tracer has seized the child.
    go: RawFd,
    /// The tracer's end of `go`, which the child closes.
    go_parent: RawFd,
}

/// The failure the child reported, if it did: read once the child exited before its exec.
pub fn failure(report: &OwnedFd) -> Option<Failure> {
    let mut buf = [0u8; 32];
    let n = fs::read(report.as_raw_fd(), &mut buf).ok()?;
    postcard::from_bytes(&buf[..n]).ok()
}

fn child(p: &Prepared, stdio: [RawFd; 3], pipes: Pipes) -> ! {
    let (step, error, index) = match prepare_and_exec(p, stdio, pipes) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let failure = Failure {
        step,
        errno: error.raw_os_error().unwrap_or(0),
        index: index as u32,
    };
    let mut buf = [0u8; 32];
    if let Ok(bytes) = postcard::to_slice(&failure, &mut buf) {
        let _ = fs::write_all(REPORT_FD, bytes);
    }
    process::exit_now(127)
}

type StepError = (Step, io::Error, usize);

#[allow(unsafe_code)] // closing inherited fds; see the crate docs
fn prepare_and_exec(
    p: &Prepared,
    stdio: [RawFd; 3],
    pipes: Pipes,
) -> Result<std::convert::Infallible, StepError> {
    let at = |step: Step, index: usize| move |e: io::Error| (step, e, index);
    process::sigprocmask(libc::SIG_SETMASK, &[]).map_err(at(Step::RestoreSignals, 0))?;
    // Traced from here on, or nothing: the pipe closes unwritten if the tracer failed.
    // SAFETY: the parent's end, inherited by this child, which never uses it.
    unsafe { fs::close(pipes.go_parent) };
    let mut go = [0u8; 1];
    match fs::read(pipes.go, &mut go) {
        Ok(1) => {}
        Ok(_) => return Err((Step::Trace, io::Error::from_raw_os_error(libc::EPIPE), 0)),
        Err(e) => return Err((Step::Trace, e, 0)),
    }
    // SAFETY: read once above; nothing uses it again.
    unsafe { fs::close(pipes.go) };
    let report = pipes.report;
    for (i, &join) in p.cgroup_joins.iter().enumerate() {
        fs::write_all(join, b"0").map_err(at(Step::JoinCgroup, i))?;
    }
    // Everything above fd 9 first, so that no dup2 below overwrites a source.
    let report = fs::dup_at_least(report, HIGH_FD).map_err(at(Step::Stdio, 3))?;
    let mut high = [0; 3];
    for (i, &fd) in stdio.iter().enumerate() {
        high[i] = fs::dup_at_least(fd, HIGH_FD).map_err(at(Step::Stdio, i))?;
    }
    for (target, &source) in high.iter().enumerate() {
        fs::dup_to(source, target as RawFd).map_err(at(Step::Stdio, target))?;
    }
    fs::dup_to(report, REPORT_FD).map_err(at(Step::Stdio, 3))?;
    // SAFETY: this child execs the program next; every fd above the report pipe is an
    // inherited copy it owns and never uses, and the report pipe itself closes at the exec.
    unsafe { fs::close_from(REPORT_FD + 1) }.map_err(at(Step::CloseFds, 0))?;
    // SAFETY: as above.
    unsafe { fs::cloexec_from(REPORT_FD) }.map_err(at(Step::MarkCloseOnExec, 0))?;
    crate::sys::mount::chdir(&p.cwd).map_err(at(Step::Chdir, 0))?;
    for (i, limit) in p.rlimits.iter().enumerate() {
        process::setrlimit(limit.resource.number(), limit.soft, limit.hard)
            .map_err(at(Step::Setrlimit, i))?;
    }
    process::setsid().map_err(at(Step::NewSession, 0))?;
    if let Some(id) = p.ids {
        process::become_user(id).map_err(at(Step::SetIds, 0))?;
    }
    // After the ids change, which clears it. The tracer thread is the parent: when it
    // ends, so does the program (PTRACE_O_EXITKILL says the same for every tracee).
    process::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
        .map_err(at(Step::ParentDeathSignal, 0))?;
    process::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(at(Step::NoNewPrivs, 0))?;
    process::seccomp_filter(&p.filter).map_err(at(Step::Seccomp, 0))?;
    Err((Step::Exec, process::execve(&p.path, &p.argv, &p.envp), 0))
}
