//! # runbox-init: PID 1 of a runbox container
//!
//! ## Theory of operation
//!
//! The controller builds a container (fresh user, pid, mount, ipc, uts, net and cgroup
//! namespaces, a read-only root, no capabilities) and `execveat`s this binary from a sealed
//! memfd as the container's PID 1, with its end of a `SOCK_SEQPACKET` socket at fd 3 and
//! `/dev/null` as stdio. Three roles take part:
//!
//! - **the controller**, on the host, owns the namespaces, mounts and cgroups and speaks the
//!   protocol of `runbox-shared` on the socket;
//! - **init** (this file), unprivileged PID 1, not dumpable so that nothing in the container
//!   can ptrace it or read its memory. It blocks every signal and hears of its children
//!   through a signalfd. It serves one request at a time, forever:
//!   receive a [`Request::Run`] with its stdio fds -> fork (or hand it to the process forked
//!   ahead for it, [`next_program`]) -> reply `Started` -> wait for the program with the
//!   wall-clock deadline, reaping every orphan and listening for a kill order -> `wait4`
//!   rusage -> kill and reap every other process of the container -> reply `Finished` (or
//!   `Failed`, if the child could not exec) -> a new IPC namespace; on [`Request::Ahead`],
//!   fork the next run's process;
//! - **the child** ([`child`]), between fork and execve: a session of its own (setsid),
//!   the program's ids, stdio in place, every other fd closed, chdir, rlimits,
//!   no_new_privs, seccomp last, execve; or, forked ahead, the filter first and the
//!   request's part after it. It only makes raw syscalls:
//!   no allocation, no locks, no panics. A failure is written to a page shared with init.
//!
//! When the controller's end of the socket closes, init exits, and the kernel kills whatever
//! is left in the pid namespace. A malformed datagram is answered with `Malformed` and init
//! goes on serving; it never panics on input.
//!
//! No libc, no allocator: [`sys`] holds every syscall, the entry point and the memory
//! routines; the one exception to `deny(unsafe_code)` outside it is [`child`]'s calls of the
//! unsafe `sys::execve`, each with the reason its pointer arrays hold. The x86_64 binary must stay static and within 64 KiB (tests/ checks both).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod child;
mod handover;
mod next_program;
mod supervise;
mod sys;

use runbox_shared::{self as wire, Reply, Request, INIT_SOCKET_FD, MAX_MESSAGE};

const SOCKET: i32 = INIT_SOCKET_FD;
const SIGCHLD_MASK: u64 = 1 << (sys::SIGCHLD - 1);

/// Called by `_start`.
extern "C" fn main() -> ! {
    let Ok(ready) = start() else { sys::exit(1) };
    serve(ready)
}

/// What init sets up once.
struct Ready {
    /// Reports SIGCHLD, which stays blocked.
    signals: i32,
    /// The page the forked child writes its failure record to.
    record_page: sys::SharedPage,
    /// Whether init is in an IPC namespace no program has used: the container's own at the
    /// start, then one made after each run (off the next request's path), which the next
    /// program inherits. An error is the next run's failure.
    fresh_ipc: sys::Result<()>,
    /// The next run's process, forked ahead of its request.
    ahead: next_program::Ahead,
}

fn start() -> sys::Result<Ready> {
    sys::prctl(sys::PR_SET_DUMPABLE, 0)?;
    // Every signal stays blocked in init (PID 1 has no default actions anyway); the child
    // restores an empty mask before execve.
    sys::sigprocmask(sys::SIG_BLOCK, !0)?;
    let signals = sys::signalfd(SIGCHLD_MASK)?;
    sys::set_cloexec(SOCKET)?;
    sys::umask(0o022);
    let record_page = sys::shared_page()?;
    Ok(Ready {
        signals,
        record_page,
        fresh_ipc: Ok(()),
        ahead: next_program::Ahead::new(),
    })
}

fn serve(mut ready: Ready) -> ! {
    let mut datagram = [0u8; MAX_MESSAGE];
    // Ready once every buffer is in place: the controller takes init's memory charge now as
    // the container's baseline, which pages init touched later would not be in.
    reply(&Reply::Ready);
    loop {
        let received = match sys::recv_with_fds(SOCKET, &mut datagram) {
            // SOCK_SEQPACKET reads 0 both for an empty datagram and at the peer's close.
            Ok(r) if r.len == 0 && peer_closed() => sys::exit(0),
            Ok(r) => r,
            Err(sys::EINTR) => continue,
            Err(_) => sys::exit(1),
        };
        let fds = &received.fds[..received.nfds];
        // A block of its own: the decoded request borrows the buffer, which the process
        // forked ahead takes over after it.
        let fork_ahead = {
            let decoded = if received.truncated {
                Err(wire::WireError::TooLarge)
            } else {
                wire::decode_request(&datagram[..received.len], fds.len())
            };
            match decoded {
                Ok(Request::Run(run)) => {
                    let outcome = supervise::run(&run, &datagram[..received.len], fds, &mut ready);
                    reply(&outcome);
                    // Every process of that run is gone: SysV shared memory, semaphores,
                    // message queues and POSIX queues it made go with its namespace, and the
                    // next program starts in a new, empty one.
                    ready.fresh_ipc = sys::unshare_ipc();
                    ready.ahead.remember(&run);
                    false
                }
                // In the namespace the next program would get; it reports its failure.
                Ok(Request::Ahead) => ready.fresh_ipc.is_ok(),
                // A kill order with nothing running: nothing to do.
                Ok(Request::Kill) => false,
                Err(error) => {
                    reply(&Reply::Malformed(error));
                    false
                }
            }
        };
        for &fd in fds {
            sys::close(fd);
        }
        if fork_ahead {
            ready.ahead.fork(ready.record_page, &mut datagram);
        }
    }
}

/// True when the controller's end is closed (POLLHUP), not merely sending an empty datagram.
fn peer_closed() -> bool {
    let mut fds = [sys::PollFd {
        fd: SOCKET,
        events: sys::POLLIN,
        revents: 0,
    }];
    let zero = Some(sys::Timespec::default());
    let polled = sys::ppoll(&mut fds, zero);
    polled.is_err() || fds[0].revents & sys::POLLHUP != 0
}

/// Sends one reply; a controller that cannot hear it is gone, and so is the container.
fn reply(message: &Reply) {
    let mut buf = [0u8; 128];
    let sent = wire::encode(message, &mut buf).map(|datagram| sys::send(SOCKET, datagram));
    if !matches!(sent, Ok(Ok(_))) {
        sys::exit(1);
    }
}
