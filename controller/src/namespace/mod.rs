//! # Namespace mode: the same isolation for one run, with no init and no pool
//!
//! The set-up child is cloned and set up exactly as in container mode
//! ([`crate::container::spawn_sandbox`]), but instead of executing init it becomes a small
//! waiter ([`waiter`]): it stays PID 1 of the new pid namespace and forks the program as
//! PID 2. The program is not made PID 1 itself, because PID 1 ignores every signal it has
//! no handler for: `abort()` would end in SIGSEGV rather than SIGABRT, and a program could
//! not be told apart from its own orphans. The waiter enforces the wall limit, reaps
//! orphans, sends `Started` and `Finished` (or `Failed`) on the socket like init, and exits;
//! the kernel then kills whatever is left in the namespace.

mod program;
mod waiter;

use crate::container::{
    kill_and_reap, reap_reason, setup_error, spawn_sandbox, ContainerConfig, Outcome,
};
use crate::error::Error;
use crate::mount::MountPlan;
use crate::sys::socket;
use runbox_shared::{self as wire, Reply, Run};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// Runs one program in fresh namespaces and returns how it ended.
pub fn run(
    config: &ContainerConfig,
    run: &Run<'_>,
    stdio: [BorrowedFd<'_>; 3],
) -> Result<Outcome, Error> {
    // The set-up puts /dev/null on 0, 1 and 2: keep the program's stdio above them.
    let owned = stdio
        .iter()
        .map(|fd| fd.try_clone_to_owned())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::io("dup a stdio fd", e))?;
    let raw = [
        owned[0].as_raw_fd(),
        owned[1].as_raw_fd(),
        owned[2].as_raw_fd(),
    ];
    let wait = |socket| waiter::run(run, raw, socket);
    let (pid, ours, plan) = spawn_sandbox(&config.root, &config.names, &wait)?;
    drop(owned);
    let result = receive_outcome(ours.as_raw_fd(), run, &plan);
    match &result {
        Err(Error::ContainerDied(_)) => {}
        _ => kill_and_reap(pid),
    }
    result.map_err(|e| match e {
        Error::ContainerDied(_) => Error::ContainerDied(reap_reason(pid)),
        other => other,
    })
}

fn receive_outcome(socket: i32, run: &Run<'_>, plan: &MountPlan) -> Result<Outcome, Error> {
    let mut buf = [0u8; 256];
    let wall = Duration::from_micros(run.wall_limit_us);
    let mut receive = |timeout: Duration, when| -> Result<Reply, Error> {
        let timeout = (run.wall_limit_us != 0).then_some(timeout);
        match socket::recv_timeout(socket, &mut buf, timeout)
            .map_err(|e| Error::io("recv from the sandbox", e))?
        {
            None => Err(Error::Unresponsive(when)),
            Some(0) => Err(Error::ContainerDied(String::new())),
            Some(len) if len > buf.len() => Err(Error::Protocol("oversized reply".into())),
            Some(len) => Ok(wire::decode_reply(&buf[..len])?),
        }
    };
    // The first reply also waits for the whole set-up.
    match receive(Duration::from_secs(10) + wall, "at start")? {
        Reply::Started { .. } => {}
        Reply::Failed(failure) if failure.step.is_setup() => {
            return Err(setup_error(failure, plan))
        }
        Reply::Failed(failure) => return Ok(Outcome::NotStarted(failure)),
        other => return Err(Error::Protocol(format!("expected started, got {other:?}"))),
    }
    match receive(wall + Duration::from_secs(2), "within the wall limit")? {
        Reply::Finished(finished) => Ok(Outcome::Finished(finished)),
        Reply::Failed(failure) => Ok(Outcome::NotStarted(failure)),
        other => Err(Error::Protocol(format!("expected finished, got {other:?}"))),
    }
}
