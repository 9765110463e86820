//! # Namespace mode: the same isolation for one run, with no init and no pool
//!
//! The set-up child is cloned and set up exactly as in container mode
//! (`crate::container::spawn_sandbox`), in a cgroup of its own, but instead of executing
//! init it becomes a small waiter (`waiter`): it stays PID 1 of the new pid namespace and
//! forks the program as PID 2. The program is not made PID 1 itself, because PID 1 ignores
//! every signal it has no handler for: `abort()` would end in SIGSEGV rather than SIGABRT,
//! and a program could not be told apart from its own orphans.
//!
//! The conversation on the socket: the waiter says `Ready` once set up; the controller
//! measures the waiter's own memory charge, sets the limits on top of it, resets the
//! accounting and says go; the waiter forks the program (`Started`), enforces the wall
//! limit, reaps orphans and reports `Finished` (or `Failed`); the controller measures and
//! closes, and the waiter exits, which kills whatever is left in the namespace. For the CPU
//! limit the controller kills the waiter, and with it the whole namespace.

mod handover;
mod program;
mod waiter;

use crate::cgroup::Cgroup;
use crate::container::{kill_and_reap, setup_error, spawn_sandbox, ContainerConfig, Outcome};
use crate::error::Error;
use crate::mount::MountPlan;
use crate::output;
use crate::spec::Limits;
use crate::supervise::{account, cgroup_error, hear, wait_for_reply, Figures, Heard};
use crate::sys::{process, socket};
use runbox_shared::{Exit, Finished, KillReason, Reply, Run};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long the set-up may take before the sandbox is given up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one program in fresh namespaces and returns how it ended.
pub fn run(
    config: &ContainerConfig,
    run: &Run<'_>,
    stdio: [BorrowedFd<'_>; 3],
    limits: &Limits,
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
    let cgroup = Cgroup::create().map_err(Error::Cgroup)?;
    let wait = |socket| waiter::run(run, raw, socket);
    let (pid, ours, plan) = spawn_sandbox(&config.root, &config.names, &cgroup, &wait)?;
    drop(owned);
    let sandbox = Sandbox {
        pid,
        socket: ours.as_raw_fd(),
        cgroup: &cgroup,
        plan: &plan,
    };
    let result = sandbox.supervise(stdio, limits);
    drop(ours);
    kill_and_reap(pid);
    result
}

/// One namespace-mode sandbox, seen from the controller.
struct Sandbox<'a> {
    pid: libc::pid_t,
    socket: RawFd,
    cgroup: &'a Cgroup,
    plan: &'a MountPlan,
}

impl Sandbox<'_> {
    fn receive(
        &self,
        buf: &mut [u8],
        timeout: Duration,
        when: &'static str,
    ) -> Result<Reply, Error> {
        match hear(self.socket, buf, Some(timeout))? {
            Heard::Reply(reply) => Ok(reply),
            Heard::Nothing => Err(Error::Unresponsive(when)),
            Heard::Closed => Err(Error::ContainerDied(format!("{when}, without a word"))),
        }
    }

    fn supervise(&self, stdio: [BorrowedFd<'_>; 3], limits: &Limits) -> Result<Outcome, Error> {
        let mut buf = [0u8; 256];
        match self.receive(&mut buf, START_TIMEOUT, "at start")? {
            Reply::Ready => {}
            Reply::Failed(failure) => return Err(setup_error(failure, self.plan)),
            other => return Err(Error::Protocol(format!("expected ready, got {other:?}"))),
        }
        // Everything charged so far is the waiter's: the run's limit comes on top of it.
        let baseline = self.cgroup.memory_current().map_err(cgroup_error)?;
        self.cgroup
            .set_limits(
                limits.memory.saturating_add(baseline),
                limits.processes.saturating_add(1),
            )
            .map_err(cgroup_error)?;
        self.cgroup.reset().map_err(cgroup_error)?;
        let started = Instant::now();
        socket::send(self.socket, b"go").map_err(|e| Error::io("send go to the waiter", e))?;
        match self.receive(&mut buf, Duration::from_secs(2), "to go")? {
            Reply::Started { .. } => {}
            Reply::Failed(failure) => return Ok(Outcome::NotStarted(failure)),
            other => return Err(Error::Protocol(format!("expected started, got {other:?}"))),
        }
        let mut kill =
            || process::kill(self.pid, libc::SIGKILL).map_err(|e| Error::io("kill the sandbox", e));
        let waited = wait_for_reply(self.socket, &mut buf, self.cgroup, limits, &mut kill)?;
        let finished = match waited.reply {
            Some(Reply::Finished(finished)) => finished,
            Some(Reply::Failed(failure)) => return Ok(Outcome::NotStarted(failure)),
            Some(other) => {
                return Err(Error::Protocol(format!("expected finished, got {other:?}")))
            }
            // Killed by the controller: the namespace is gone with its waiter.
            None if waited.cpu_killed => Finished {
                exit: Exit::Signal(libc::SIGKILL),
                user_us: 0,
                sys_us: 0,
                max_rss_kib: 0,
                wall_us: started.elapsed().as_micros() as u64,
                killed: Some(KillReason::KillOrder),
            },
            None => {
                return Err(Error::ContainerDied(
                    "during the run, without a word".into(),
                ))
            }
        };
        let usage = self.cgroup.usage().map_err(cgroup_error)?;
        let root = PathBuf::from(format!("/proc/{}/root", self.pid));
        let figures = Figures {
            usage,
            baseline,
            oom_before: 0,
            cpu_killed: waited.cpu_killed,
            max_rss_kib: finished.max_rss_kib,
        };
        let (w, tmp) = (root.join("w"), root.join("tmp"));
        let look = [(w.as_path(), false), (tmp.as_path(), false)];
        let output_full = output::sweep(limits.output, &stdio[1..], &look).unwrap_or(false);
        let accounting = account(figures, output_full);
        Ok(Outcome::Finished {
            finished,
            accounting,
        })
    }
}
