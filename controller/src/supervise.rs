//! The controller's side of a run in a container: wait for the reply
//! while enforcing the CPU-time limit from the cgroup, then measure.
//!
//! CPU time cannot grow faster than wall time times the CPUs the run may use, so instead of
//! ticking, the controller sleeps until the earliest moment the limit could be reached,
//! reads the cgroup, and repeats; the sleeps shrink as the limit nears, down to
//! [`MIN_CHECK`]. A single-threaded busy loop is killed within about a millisecond of its
//! limit.

use crate::cancel::Cancel;
use crate::cgroup::{Cgroup, Usage};
use crate::error::Error;
use crate::files::collect::Collector;
use crate::spec::Limits;
use crate::status::Accounting;
use crate::sys::socket;
use runbox_shared::{self as wire, Reply};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The shortest sleep between two CPU-time checks.
pub const MIN_CHECK: Duration = Duration::from_millis(1);
/// How long past the wall limit the controller waits for PID 1's word before giving up.
pub const GRACE: Duration = Duration::from_secs(2);

/// The CPUs a run may use: this process's affinity (inherited by the sandbox).
fn cpus() -> u64 {
    static CPUS: OnceLock<u64> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
}

/// The earliest time, from now, at which `used` could reach `limit`.
pub fn next_check(limit: Duration, used: Duration, cpus: u64) -> Duration {
    let left = limit.saturating_sub(used);
    (left / cpus.max(1) as u32).max(MIN_CHECK)
}

/// How the wait ended.
#[derive(Debug)]
pub struct Waited {
    /// PID 1's reply, or `None` if the sandbox closed the socket without one.
    pub reply: Option<Reply>,
    /// The controller killed the run for its CPU time.
    pub cpu_killed: bool,
    /// The controller killed the run on its [`Cancel`] order.
    pub cancelled: bool,
}

/// What the wait watches beside the socket: the collected outputs it drains, and the
/// order that ends the run early.
#[derive(Debug, Default)]
pub struct Watch<'a> {
    /// The collectors, drained as the program writes ([`crate::files::collect`]).
    pub collectors: &'a mut [Collector],
    /// The order to end the run now ([`crate::cancel`]).
    pub cancel: Option<&'a Cancel>,
}

/// Waits for the reply that ends a run on `socket`, killing the run with `kill` when its
/// CPU time in `cgroup` reaches the limit, when a collected output passes its bound, or
/// when the cancel order of `watch` comes (the poll wakes on it at once).
pub fn wait_for_reply(
    socket: RawFd,
    buf: &mut [u8],
    cgroup: &Cgroup,
    limits: &Limits,
    watch: Watch<'_>,
    kill: &mut dyn FnMut() -> Result<(), Error>,
) -> Result<Waited, Error> {
    let Watch { collectors, cancel } = watch;
    let mut output_killed = false;
    // Within the bounds (RunSpec::check) this cannot overflow; checked all the same.
    let give_up = Instant::now().checked_add(limits.wall.saturating_add(GRACE));
    let mut cpu_killed = false;
    let mut cancelled = false;
    loop {
        let mut timeout = give_up.map_or(Duration::MAX, |at| {
            at.saturating_duration_since(Instant::now())
        });
        if timeout.is_zero() {
            return Err(Error::Unresponsive("within the wall limit"));
        }
        if !cancelled && cancel.is_some_and(Cancel::fired) {
            if !cpu_killed && !output_killed {
                kill()?;
            }
            cancelled = true;
        }
        if !cpu_killed && !cancelled {
            let used = Duration::from_micros(cgroup.cpu_us().map_err(Error::Cgroup)?);
            if used >= limits.time {
                kill()?;
                cpu_killed = true;
            } else {
                timeout = timeout.min(next_check(limits.time, used, cpus()));
            }
        }
        let mut wait = timeout;
        // Until it comes, the order is watched with the socket (once given, no more).
        let order = cancel.filter(|_| !cancelled);
        if !collectors.is_empty() || order.is_some() {
            // The socket, the order and the collectors' pipes together: what the program
            // wrote is drained as it comes, and the reply read once the socket has one.
            let socket_ready = wait_with(socket, order, collectors, timeout)?;
            if !output_killed && collectors.iter().any(Collector::over) {
                output_killed = true;
                if !cpu_killed && !cancelled {
                    kill()?;
                }
            }
            if !socket_ready {
                continue;
            }
            wait = Duration::ZERO;
        }
        match hear(socket, buf, Some(wait))? {
            Heard::Nothing => {}
            Heard::Closed => {
                drain_all(collectors)?;
                return Ok(Waited {
                    reply: None,
                    cpu_killed,
                    cancelled,
                });
            }
            Heard::Reply(reply) => {
                drain_all(collectors)?;
                let reply = Some(reply);
                return Ok(Waited {
                    reply,
                    cpu_killed,
                    cancelled,
                });
            }
        }
    }
}

/// Waits up to `timeout` until `socket`, the cancel `order` or a collector's pipe is
/// readable, and drains the collectors that are; true when the socket is readable.
fn wait_with(
    socket: RawFd,
    order: Option<&Cancel>,
    collectors: &mut [Collector],
    timeout: Duration,
) -> Result<bool, Error> {
    let pollfd = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // Absent, past its bound or at its end: `-1`, which poll ignores.
    let order = order.map_or(-1, |c| c.ready_fd().as_raw_fd());
    let mut fds = vec![pollfd(socket), pollfd(order)];
    fds.extend(collectors.iter().map(|c| pollfd(c.poll_fd().unwrap_or(-1))));
    crate::sys::fs::poll(&mut fds, Some(timeout))
        .map_err(|e| Error::io("poll the sandbox and the collected outputs", e))?;
    for (collector, fd) in collectors.iter_mut().zip(&fds[2..]) {
        if fd.revents != 0 {
            collector
                .drain()
                .map_err(|e| Error::io("read a collected output", e))?;
        }
    }
    Ok(fds[0].revents != 0)
}

/// Drains every collector of what is left in its pipe, once the run has ended.
fn drain_all(collectors: &mut [Collector]) -> Result<(), Error> {
    for collector in collectors {
        collector
            .drain()
            .map_err(|e| Error::io("read a collected output", e))?;
    }
    Ok(())
}

/// What one wait on a sandbox's socket gave.
#[derive(Debug)]
pub enum Heard {
    /// A reply.
    Reply(Reply),
    /// Nothing before the timeout.
    Nothing,
    /// The sandbox closed its end.
    Closed,
}

/// Waits up to `timeout` (`None`: for ever) for one reply on a sandbox's socket.
pub fn hear(socket: RawFd, buf: &mut [u8], timeout: Option<Duration>) -> Result<Heard, Error> {
    let received = socket::recv_timeout(socket, buf, timeout)
        .map_err(|e| Error::io("recv from the sandbox", e))?;
    match received {
        None => Ok(Heard::Nothing),
        Some(0) => Ok(Heard::Closed),
        Some(len) if len > buf.len() => Err(Error::Protocol("oversized reply".into())),
        Some(len) => Ok(Heard::Reply(wire::decode_reply(&buf[..len])?)),
    }
}

/// What was read and seen at the end of a run, before it becomes [`Accounting`].
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// The cgroup's figures since the reset.
    pub usage: Usage,
    /// What PID 1 had charged before the run.
    pub baseline: u64,
    /// The cgroup's OOM-kill count before the run.
    pub oom_before: u64,
    /// The controller killed the run for its CPU time.
    pub cpu_killed: bool,
    /// The controller killed the run on its cancel order.
    pub cancelled: bool,
    /// The program's own peak resident set (wait4), KiB; 0 if unknown.
    pub max_rss_kib: u64,
}

/// The run's accounting: the cgroup's figures less PID 1's own charge (but never below the
/// program's own peak resident set: PID 1 may free some of its pages during the run), the
/// OOM kills since the run began, and whether a written file reached the output limit
/// (`output_full`, from [`crate::output`]).
pub fn account(figures: Figures, output_full: bool) -> Accounting {
    let charged = figures.usage.memory_peak.saturating_sub(figures.baseline);
    Accounting {
        cpu_us: figures.usage.cpu_us,
        memory_bytes: charged.max(figures.max_rss_kib * 1024),
        oom_killed: figures.usage.oom_kills > figures.oom_before,
        cpu_killed: figures.cpu_killed,
        cancelled: figures.cancelled,
        output_full,
        memory_refused: false,
        memory_over: false,
        file_denied: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_no_earlier_than_the_limit_could_be_reached() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(next_check(s(1), s(0), 1), s(1));
        assert_eq!(next_check(s(1), s(0), 2), ms(500));
        assert_eq!(next_check(s(1), ms(900), 2), ms(50));
        assert_eq!(next_check(s(1), ms(1000), 2), MIN_CHECK);
        assert_eq!(next_check(s(1), ms(1200), 4), MIN_CHECK);
    }
}
