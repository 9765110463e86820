//! The limits ptrace mode keeps from outside the traced tree, without cgroups: CPU time
//! (every process's CPU clock, exact to the nanosecond) and wall time. A thread beside the
//! tracer sleeps until the earliest moment a limit could be reached (as the cgroup enforcer
//! does, [`crate::supervise::next_check`]), looks, and kills every process of the run
//! through pidfds, which cannot hit a process that merely reused a pid.

use crate::cancel::Cancel;
use crate::supervise::next_check;
use crate::sys::ptrace;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why the run was killed from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    /// Its CPU time reached the limit.
    Cpu,
    /// Its wall time reached the limit.
    Wall,
    /// The tracer ended it (a denied file, a forbidden call, or the main program's exit).
    Tracer,
    /// Its cancel order came ([`crate::cancel`]).
    Cancelled,
}

#[derive(Debug, Default)]
struct State {
    /// The run's live processes (thread-group leaders) and their pidfds.
    live: HashMap<libc::pid_t, OwnedFd>,
    /// CPU time of processes already gone.
    gone_cpu: Duration,
    killed: Option<Killed>,
    done: bool,
    /// The tracer's thread, woken (see [`WAKE_SIGNAL`]) while a killed run is not done.
    tracer: Option<libc::pid_t>,
}

/// The signal that wakes the tracer from a blocking wait: once the run is killed, a tracer
/// holding stops for a checked call (whose tracees a group exit may never let report)
/// releases them all, so the run ends at its limit whatever it was doing.
pub const WAKE_SIGNAL: libc::c_int = libc::SIGURG;

/// How often a killed run's tracer is woken until it is done.
const WAKE_EVERY: Duration = Duration::from_millis(20);

/// How often a run that may be cancelled looks at its cancel order.
const CANCEL_EVERY: Duration = Duration::from_millis(20);

/// What the tracer and the watchdog share.
#[derive(Debug, Default)]
pub struct Watch {
    state: Mutex<State>,
    wake: Condvar,
}

impl Watch {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new process of the run (stopped or not yet reaped, so its pid is still its own).
    /// If the run is already being killed, so is it.
    pub fn add(&self, pid: libc::pid_t) -> std::io::Result<()> {
        let pidfd = ptrace::pidfd_open(pid)?;
        let mut state = self.lock();
        if state.killed.is_some() {
            ptrace::pidfd_kill(pidfd.as_fd())?;
        }
        state.live.insert(pid, pidfd);
        Ok(())
    }

    /// A process of the run is gone, having used `cpu`.
    pub fn gone(&self, pid: libc::pid_t, cpu: Duration) {
        let mut state = self.lock();
        if state.live.remove(&pid).is_some() {
            state.gone_cpu += cpu;
        }
    }

    /// Kills every live process of the run; the first reason given is the one kept.
    pub fn kill_all(&self, why: Killed) {
        let mut state = self.lock();
        kill(&mut state, why);
        // The watchdog, asleep until its next check, now wakes the tracer until it is done.
        self.wake.notify_all();
    }

    /// Why the run was killed, if it was.
    pub fn killed(&self) -> Option<Killed> {
        self.lock().killed
    }

    /// The tracer runs on this thread (its kernel id): wake it while a killed run is not done.
    pub fn tracer_is(&self, tid: libc::pid_t) {
        self.lock().tracer = Some(tid);
    }

    /// The tracer is done: the watchdog stops.
    pub fn finish(&self) {
        self.lock().done = true;
        self.wake.notify_all();
    }

    /// Runs until [`Watch::finish`]: kills the run when its CPU time reaches `time`, when
    /// `wall` has passed since `started`, or (looked at every [`CANCEL_EVERY`]) when
    /// `cancel` is given.
    pub fn keep(
        &self,
        time: Duration,
        wall: Duration,
        started: Instant,
        cpus: u64,
        cancel: Option<&Cancel>,
    ) {
        // Within the bounds (RunSpec::check) this cannot overflow; a deadline past what an
        // Instant holds never comes.
        let deadline = started.checked_add(wall);
        let mut state = self.lock();
        while !state.done {
            let mut sleep = Duration::from_secs(3600);
            if state.killed.is_none() {
                let now = Instant::now();
                let cpu = used(&state);
                if deadline.is_some_and(|at| now >= at) {
                    kill(&mut state, Killed::Wall);
                } else if cpu >= time {
                    kill(&mut state, Killed::Cpu);
                } else if cancel.is_some_and(Cancel::fired) {
                    kill(&mut state, Killed::Cancelled);
                } else {
                    let left = deadline.map_or(Duration::MAX, |at| at - now);
                    sleep = next_check(time, cpu, cpus).min(left);
                    if cancel.is_some() {
                        sleep = sleep.min(CANCEL_EVERY);
                    }
                }
            }
            if state.killed.is_some() {
                // Killed, not done: the tracer may be waiting for stops that cannot come.
                if let Some(tid) = state.tracer {
                    let _ = crate::sys::process::wake_thread(tid, WAKE_SIGNAL);
                }
                sleep = WAKE_EVERY;
            }
            state = match self.wake.wait_timeout(state, sleep) {
                Ok((state, _)) => state,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

fn used(state: &State) -> Duration {
    let live: Duration = state
        .live
        .keys()
        .filter_map(|&pid| ptrace::process_cpu_time(pid).ok())
        .sum();
    state.gone_cpu + live
}

fn kill(state: &mut State, why: Killed) {
    if state.killed.is_none() {
        state.killed = Some(why);
    }
    for pidfd in state.live.values() {
        let _ = ptrace::pidfd_kill(pidfd.as_fd());
    }
}
