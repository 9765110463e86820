//! One run, seen from init: fork, wait with a deadline while reaping orphans and listening
//! for a kill order, then kill and reap the rest of the container.

use crate::handover::Handover;
use crate::{child, sys, Ready, SOCKET};
use runbox_shared::{self as wire, Exit, Failure, Finished, KillReason, Reply, Request, Run, Step};

/// Runs one program (the request `run`, decoded from `datagram`) and returns the reply
/// that ends the run.
pub fn run(run: &Run<'_>, datagram: &[u8], fds: &[i32], ready: &mut Ready) -> Reply {
    if let Err(errno) = ready.fresh_ipc {
        return Reply::Failed(Failure {
            step: Step::NewIpcNamespace,
            errno,
            index: 0,
        });
    }
    let handover = Handover::at(ready.record_page);
    let mut start = sys::monotonic_us();
    let pid = match ready.ahead.hand_over(run, datagram, fds) {
        Some(pid) => pid,
        None => {
            ready.record_page.put_failure(None);
            handover.reset();
            start = sys::monotonic_us();
            match sys::fork() {
                Ok(0) => child::exec(run, fds, ready.record_page),
                Ok(pid) => pid,
                Err(errno) => {
                    return Reply::Failed(Failure {
                        step: Step::Fork,
                        errno,
                        index: 0,
                    })
                }
            }
        }
    };
    crate::reply(&Reply::Started { pid });
    let listener = match run.seccomp_listener.then(|| handover.take(pid)) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(fd))) => Some(fd),
        Some(Err(errno)) => {
            // Unwatched, the filter's notifications would block the program for good.
            let _ = sys::kill(pid as i32, sys::SIGKILL);
            kill_and_reap_all(ready.signals);
            return Reply::Failed(Failure {
                step: Step::TakeListener,
                errno,
                index: 0,
            });
        }
    };
    // Saturating, a second wall behind the controller's bounds: a limit that would pass
    // u64::MAX microseconds never comes, rather than wrapping into the past.
    let deadline = (run.wall_limit_us != 0).then(|| start.saturating_add(run.wall_limit_us));
    let ended = wait_for(pid, deadline, ready.signals, listener);
    if let Some(fd) = listener {
        sys::close(fd);
    }
    kill_and_reap_all(ready.signals);

    if let Some(failure) = ready.record_page.failure() {
        return Reply::Failed(failure);
    }
    match ended {
        Ok(ended) => Reply::Finished(Finished {
            exit: decode_status(ended.status),
            user_us: timeval_us(ended.usage.utime_sec, ended.usage.utime_usec),
            sys_us: timeval_us(ended.usage.stime_sec, ended.usage.stime_usec),
            max_rss_kib: ended.usage.maxrss_kib.max(0) as u64,
            wall_us: ended.at_us.saturating_sub(start),
            killed: ended.killed,
        }),
        Err(errno) => Reply::Failed(Failure {
            step: Step::Wait,
            errno,
            index: 0,
        }),
    }
}

/// The main child's end.
struct Ended {
    status: i32,
    usage: sys::Rusage,
    at_us: u64,
    killed: Option<KillReason>,
}

/// Waits until `pid` ends, reaping every other child on the way. Kills the whole container
/// at the deadline, on a kill order, or at the first call the seccomp `listener` hears of.
/// Exits init if the controller goes away.
fn wait_for(
    pid: u32,
    deadline: Option<u64>,
    signals: i32,
    listener: Option<i32>,
) -> sys::Result<Ended> {
    let mut killed = None;
    let mut listener = listener.unwrap_or(-1);
    loop {
        // Reap first: a SIGCHLD may have come before the poll.
        while let Some((reaped, status, usage)) = sys::wait4(-1, sys::WNOHANG)? {
            if reaped == pid {
                return Ok(Ended {
                    status,
                    usage,
                    at_us: sys::monotonic_us(),
                    killed,
                });
            }
        }
        let mut timeout = None;
        if let (Some(deadline), None) = (deadline, killed) {
            let now = sys::monotonic_us();
            if now >= deadline {
                let _ = sys::kill(-1, sys::SIGKILL);
                killed = Some(KillReason::WallLimit);
                continue;
            }
            let left = deadline - now;
            timeout = Some(sys::Timespec {
                // At most isize::MAX seconds (68 years on 32 bits): ppoll refuses a negative
                // time, and waking early only means waiting again.
                sec: isize::try_from(left / 1_000_000).unwrap_or(isize::MAX),
                nsec: ((left % 1_000_000) * 1000) as isize,
            });
        }
        let mut fds = [
            sys::PollFd {
                fd: signals,
                events: sys::POLLIN,
                revents: 0,
            },
            sys::PollFd {
                fd: SOCKET,
                events: sys::POLLIN,
                revents: 0,
            },
            // A negative fd is skipped by ppoll.
            sys::PollFd {
                fd: listener,
                events: sys::POLLIN,
                revents: 0,
            },
        ];
        match sys::ppoll(&mut fds, timeout) {
            Ok(_) | Err(sys::EINTR) => {}
            Err(errno) => return Err(errno),
        }
        if fds[0].revents != 0 {
            drain(signals);
        }
        if fds[1].revents != 0 && listen(killed.is_none()) {
            let _ = sys::kill(-1, sys::SIGKILL);
            killed = Some(KillReason::KillOrder);
        }
        if fds[2].revents & sys::POLLIN != 0 {
            // The call stays suspended in the kernel until the caller dies: it never runs.
            if let (Ok((nr, arch)), None) = (sys::notif_recv(listener), killed) {
                let _ = sys::kill(-1, sys::SIGKILL);
                killed = Some(KillReason::DisallowedSyscall { nr, arch });
            }
        } else if fds[2].revents != 0 {
            listener = -1; // POLLHUP: no process uses the filter any more
        }
    }
}

/// Reads what the controller sent during a run. True for a kill order that should be acted
/// on; exits init when the controller is gone.
fn listen(running: bool) -> bool {
    let mut buf = [0u8; 64];
    match sys::recv_nowait(SOCKET, &mut buf) {
        Ok(0) => {
            let _ = sys::kill(-1, sys::SIGKILL);
            sys::exit(0)
        }
        Ok(len) => running && matches!(wire::decode_request(&buf[..len], 0), Ok(Request::Kill)),
        Err(sys::EAGAIN) | Err(sys::EINTR) => false,
        Err(_) => sys::exit(1),
    }
}

/// Kills every process of the container but init, and reaps them all.
fn kill_and_reap_all(signals: i32) {
    let _ = sys::kill(-1, sys::SIGKILL);
    // Until ECHILD: none left.
    while let Ok(_) | Err(sys::EINTR) = sys::wait4(-1, 0) {}
    drain(signals);
}

/// Empties the signalfd, so that the next poll waits for a new SIGCHLD.
fn drain(signals: i32) {
    let mut infos = [0u8; 128 * 8];
    while let Ok(n) = sys::read(signals, &mut infos) {
        if n < infos.len() {
            break;
        }
    }
}

fn decode_status(status: i32) -> Exit {
    match status & 0x7f {
        0 => Exit::Code((status >> 8) & 0xff),
        signal => Exit::Signal(signal),
    }
}

fn timeval_us(sec: isize, usec: isize) -> u64 {
    (sec.max(0) as u64) * 1_000_000 + usec.max(0) as u64
}
