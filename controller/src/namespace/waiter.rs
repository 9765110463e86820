//! PID 1 of a namespace-mode sandbox: fork the program, wait for it with the wall limit while
//! reaping orphans, report, exit. Runs in the set-up child: syscalls only, no allocation.

use super::program;
use crate::mount::apply::StepError;
use crate::sys::process;
use crate::sys::socket;
use runbox_shared::{self as wire, Exit, Failure, Finished, KillReason, Reply, Run, Step};
use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Runs the program once and exits; returns only if it could not start waiting.
#[allow(unsafe_code)] // the fork; see the crate docs
pub fn run(run: &Run<'_>, stdio: [RawFd; 3], socket: RawFd) -> Result<Infallible, StepError> {
    let at = |step: Step| move |e: std::io::Error| (step, e, 0);
    // Nothing in the sandbox (same uid) may ptrace this copy of the controller or read it.
    process::prctl(libc::PR_SET_DUMPABLE, 0).map_err(at(Step::Fork))?;
    let page = process::shared_page().map_err(at(Step::Fork))?;
    page.put::<Option<Failure>>(None);
    process::sigprocmask(libc::SIG_BLOCK, &[libc::SIGCHLD]).map_err(at(Step::Fork))?;
    let children = process::signalfd(&[libc::SIGCHLD]).map_err(at(Step::Fork))?;
    super::handover::reset(&page);
    // Set up: the controller measures this process's charge, sets the limits, says go.
    send(socket, &Reply::Ready);
    await_controller(socket);
    let start = Instant::now();
    // SAFETY: the program child only calls `program::exec`, which makes syscalls on data
    // prepared before the first fork and never returns.
    let pid = match unsafe { process::fork() }.map_err(at(Step::Fork))? {
        None => program::exec(run, stdio, &page),
        Some(pid) => pid,
    };
    send(socket, &Reply::Started { pid: pid as u32 });
    let listener = match run
        .seccomp_listener
        .then(|| super::handover::take(&page, pid))
    {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(fd))) => Some(fd),
        Some(Err(e)) => {
            // Unwatched, the filter's notifications would block the program for good.
            let _ = process::kill(-1, libc::SIGKILL);
            send(
                socket,
                &Reply::Failed(Failure {
                    step: Step::Seccomp,
                    errno: e.raw_os_error().unwrap_or(0),
                    index: 2,
                }),
            );
            await_controller(socket);
            process::exit_now(0)
        }
    };
    // Checked, as init's is saturating: a deadline past what an Instant holds never comes.
    let deadline = (run.wall_limit_us != 0)
        .then(|| start.checked_add(Duration::from_micros(run.wall_limit_us)))
        .flatten();
    let ended = wait_for(
        pid,
        deadline,
        children.as_raw_fd(),
        listener.as_ref().map(AsRawFd::as_raw_fd),
    );
    // The program child writes the page only when it could not exec.
    let reply = match (ended, page.get::<Option<Failure>>()) {
        (_, Some(failure)) => Reply::Failed(failure),
        (Err(e), None) => Reply::Failed(Failure {
            step: Step::Wait,
            errno: e.raw_os_error().unwrap_or(0),
            index: 0,
        }),
        (Ok((status, usage, killed)), None) => Reply::Finished(Finished {
            exit: if libc::WIFEXITED(status) {
                Exit::Code(libc::WEXITSTATUS(status))
            } else {
                Exit::Signal(libc::WTERMSIG(status))
            },
            user_us: timeval_us(usage.ru_utime),
            sys_us: timeval_us(usage.ru_stime),
            max_rss_kib: usage.ru_maxrss.max(0) as u64,
            wall_us: start.elapsed().as_micros() as u64,
            killed,
        }),
    };
    send(socket, &reply);
    // The controller looks at /w and /tmp through this process's root, then closes its end.
    await_controller(socket);
    // Exiting as PID 1 makes the kernel kill everything left in the namespace.
    process::exit_now(0)
}

/// Blocks until the controller sends something or closes its end.
fn await_controller(socket: RawFd) {
    let mut buf = [0u8; 8];
    let _ = socket::recv(socket, &mut buf);
}

type Ended = (libc::c_int, libc::rusage, Option<KillReason>);

/// Waits until `pid` ends, reaping every orphan on the way; kills everything at the
/// deadline, or at the first call the seccomp `listener` hears of.
fn wait_for(
    pid: libc::pid_t,
    mut deadline: Option<Instant>,
    children: RawFd,
    listener: Option<RawFd>,
) -> std::io::Result<Ended> {
    let mut killed = None;
    let mut listener = listener.unwrap_or(-1);
    loop {
        while let Some((reaped, status, usage)) = process::wait4(-1, libc::WNOHANG)? {
            if reaped == pid {
                return Ok((status, usage, killed));
            }
        }
        let mut timeout = None;
        if let Some(at) = deadline {
            let now = Instant::now();
            if now >= at {
                let _ = process::kill(-1, libc::SIGKILL);
                killed = Some(KillReason::WallLimit);
                deadline = None;
                continue;
            }
            timeout = Some(at - now);
        }
        // A negative fd is skipped by poll.
        let mut fds = [
            libc::pollfd {
                fd: children,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        process::poll(&mut fds, timeout)?;
        if fds[0].revents != 0 {
            drain(children);
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // The call stays suspended in the kernel until the caller dies: it never runs.
            if let (Ok((nr, arch)), None) = (process::notif_recv(listener), killed) {
                let _ = process::kill(-1, libc::SIGKILL);
                killed = Some(KillReason::DisallowedSyscall { nr, arch });
            }
        } else if fds[1].revents != 0 {
            listener = -1; // POLLHUP: no process uses the filter any more
        }
    }
}

/// Empties the signalfd, so that the next poll waits for a new SIGCHLD.
fn drain(children: RawFd) {
    let mut infos = [0u8; 128 * 8];
    while crate::sys::fs::read(children, &mut infos).is_ok_and(|n| n == infos.len()) {}
}

fn send(socket: RawFd, reply: &Reply) {
    let mut buf = [0u8; 128];
    if let Ok(datagram) = wire::encode(reply, &mut buf) {
        let _ = socket::send(socket, datagram);
    }
}

fn timeval_us(t: libc::timeval) -> u64 {
    (t.tv_sec.max(0) as u64) * 1_000_000 + t.tv_usec.max(0) as u64
}
