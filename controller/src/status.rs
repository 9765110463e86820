//! The verdict: one pure function from how a run ended to its status.

use crate::spec::Limits;
use runbox_shared::{Exit, Failure, Finished, KillReason};
use serde::Serialize;

/// How a run ended: PID 1's report and the controller's measurements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The program ran and ended.
    Finished {
        /// What PID 1 saw: the exit, rusage, wall time, its own kills.
        finished: Finished,
        /// What the controller measured and did.
        accounting: Accounting,
    },
    /// The program could not be started (exec failed, a bad rlimit...).
    NotStarted(Failure),
}

/// What happened to a program, as a judge needs to know it. Its name in results is
/// [`Status::as_str`]'s, in JSON as on the human summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It exited with code 0 within every limit.
    Ok,
    /// It exited with another code.
    NonzeroExit,
    /// A signal ended it (not one of the limits').
    Signaled,
    /// It used more CPU time or wall time than allowed.
    TimeLimitExceeded,
    /// It used more memory than allowed.
    MemoryLimitExceeded,
    /// It wrote more than allowed.
    OutputLimitExceeded,
    /// It made a system call its profile forbids.
    DisallowedSyscall,
    /// It touched a file its profile forbids.
    FileAccessDenied,
    /// The sandbox could not do its job (the program could not start, the container failed).
    InternalError,
}

impl Status {
    /// The name used in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NonzeroExit => "nonzero_exit",
            Status::Signaled => "signaled",
            Status::TimeLimitExceeded => "time_limit_exceeded",
            Status::MemoryLimitExceeded => "memory_limit_exceeded",
            Status::OutputLimitExceeded => "output_limit_exceeded",
            Status::DisallowedSyscall => "disallowed_syscall",
            Status::FileAccessDenied => "file_access_denied",
            Status::InternalError => "internal_error",
        }
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status.
    pub status: Status,
    /// The limit, signal or cause behind it, where there is one.
    pub detail: Option<String>,
}

fn verdict(status: Status, detail: Option<&str>) -> Verdict {
    Verdict {
        status,
        detail: detail.map(Into::into),
    }
}

/// What the controller measured and did, beside what init reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accounting {
    /// CPU time of every process of the run, microseconds (cgroup).
    pub cpu_us: u64,
    /// Peak memory of the run, bytes (cgroup, PID 1's own charge taken out).
    pub memory_bytes: u64,
    /// The OOM killer killed a process of the run.
    pub oom_killed: bool,
    /// The controller killed the run because its CPU time reached the limit.
    pub cpu_killed: bool,
    /// The run's cancel order came while it ran (`runbox::cancel`): the controller's kill
    /// order was for it, unless a limit's came first.
    pub cancelled: bool,
    /// A file the run wrote (its stdout or stderr file, or one in /w or /tmp) reached the
    /// output limit.
    pub output_full: bool,
    /// An allocation past the memory limit was refused (ptrace mode's rlimit: the run's
    /// address-space peak reached the limit).
    pub memory_refused: bool,
    /// The resident peak went over the limit where nothing held it there (ptrace mode
    /// without cgroups).
    pub memory_over: bool,
    /// The tracer ended the run at a file its sets do not allow (ptrace mode): the call, the
    /// path and the access.
    pub file_denied: Option<String>,
}

/// Decides the status of a run that ended, from how it ended (`finished`), what was measured
/// and done (`accounting`) and the limits. The order settles the ambiguous cases:
///
/// 0. the tracer ended it at a file its sets do not allow (ptrace mode):
///    file_access_denied, with the call, path and access;
/// 1. PID 1 (or the tracer) ended it at a call its filter forbids: disallowed_syscall, with
///    the name;
/// 2. the OOM killer acted, or the resident peak went over the limit where no cgroup held
///    it (ptrace mode): memory, whatever signal or exit followed (a run that
///    hits the CPU and the memory limit in the same instant is memory_limit_exceeded: the
///    kernel's kill is the one that is certain to be about that run);
/// 3. time ran out while its memory was at the limit: memory (a program thrashing at its
///    limit, which the kernel does not always OOM-kill, is out of memory, not slow);
/// 4. the CPU enforcer, the wall deadline or SIGXCPU killed it, or its CPU time is over
///    the limit even though it exited: time;
/// 5. a kill order the controller gave on the run's cancel order: signaled (SIGKILL),
///    "cancelled"; for another reason: internal error;
/// 6. SIGXFSZ, or a written file at the output limit, even after a clean exit: output;
/// 7. it failed with its memory at the limit, or an allocation past it refused: memory;
/// 8. otherwise the exit itself.
pub fn decide(finished: &Finished, accounting: &Accounting, limits: &Limits) -> Verdict {
    let cpu_over = u128::from(accounting.cpu_us) > limits.time.as_micros();
    let failed = finished.exit != Exit::Code(0);
    if let Some(denied) = &accounting.file_denied {
        return verdict(Status::FileAccessDenied, Some(denied));
    }
    if let Some(KillReason::DisallowedSyscall { nr, arch }) = finished.killed {
        return Verdict {
            status: Status::DisallowedSyscall,
            detail: Some(syscall_name(nr, arch)),
        };
    }
    if accounting.oom_killed {
        return verdict(Status::MemoryLimitExceeded, Some("out of memory"));
    }
    if accounting.memory_over {
        return verdict(Status::MemoryLimitExceeded, Some("memory limit exceeded"));
    }
    let timed_out =
        accounting.cpu_killed || cpu_over || finished.killed == Some(KillReason::WallLimit);
    if timed_out && accounting.memory_bytes >= limits.memory {
        // Stuck at its memory limit: with no swap, the kernel reclaims the program's own file
        // pages over and over (cgroup v1 does not always OOM-kill) until time runs out.
        return verdict(Status::MemoryLimitExceeded, Some("memory limit reached"));
    }
    if accounting.cpu_killed || finished.exit == Exit::Signal(libc::SIGXCPU) || cpu_over {
        return verdict(Status::TimeLimitExceeded, Some("cpu time"));
    }
    match finished.killed {
        Some(KillReason::WallLimit) => {
            return verdict(Status::TimeLimitExceeded, Some("wall time"))
        }
        // The controller's order for a collected output past its bound: output, below.
        Some(KillReason::KillOrder) if accounting.output_full => {}
        Some(KillReason::KillOrder) if accounting.cancelled => {
            return verdict(Status::Signaled, Some("cancelled"))
        }
        Some(KillReason::KillOrder) => {
            return verdict(Status::InternalError, Some("killed by the controller"))
        }
        Some(KillReason::DisallowedSyscall { .. }) | None => {}
    }
    if finished.exit == Exit::Signal(libc::SIGXFSZ) || accounting.output_full {
        return verdict(Status::OutputLimitExceeded, Some("output"));
    }
    if failed && (accounting.memory_bytes >= limits.memory || accounting.memory_refused) {
        return verdict(Status::MemoryLimitExceeded, Some("memory limit reached"));
    }
    match finished.exit {
        // The filter's own kill (a call from another architecture or ABI), which no handler
        // can catch; a program that raises SIGSYS itself is counted here too. Calls a
        // profile refuses by name come as DisallowedSyscall kills, named, above.
        Exit::Signal(libc::SIGSYS) => verdict(
            Status::DisallowedSyscall,
            Some("killed by the syscall filter"),
        ),
        Exit::Signal(signal) => verdict(Status::Signaled, Some(signal_name(signal))),
        Exit::Code(0) => verdict(Status::Ok, None),
        Exit::Code(_) => verdict(Status::NonzeroExit, None),
    }
}

/// The name of syscall `nr` of the architecture `arch` (an `AUDIT_ARCH_*`), or `syscall N`.
fn syscall_name(nr: u32, arch: u32) -> String {
    use crate::seccomp::arch::Arch;
    let known = [Arch::X86_64, Arch::Aarch64, Arch::Arm]
        .into_iter()
        .find(|a| a.audit() == arch);
    known
        .and_then(|a| a.name(nr))
        .map_or_else(|| format!("syscall {nr}"), String::from)
}

/// `SIGSEGV` for 11, and so on; `signal` when unknown.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_written_by_its_one_name() {
        for status in [Status::Ok, Status::TimeLimitExceeded, Status::InternalError] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!(Status::NonzeroExit.as_str(), "nonzero_exit");
    }
    use std::time::Duration;

    fn ended(exit: Exit, killed: Option<KillReason>) -> Finished {
        Finished {
            exit,
            user_us: 0,
            sys_us: 0,
            max_rss_kib: 100,
            wall_us: 1000,
            killed,
        }
    }

    fn used(cpu_ms: u64, memory_mib: u64) -> Accounting {
        Accounting {
            cpu_us: cpu_ms * 1000,
            memory_bytes: memory_mib << 20,
            ..Accounting::default()
        }
    }

    fn limits() -> Limits {
        Limits {
            time: Duration::from_secs(1),
            memory: 64 << 20,
            ..Limits::default()
        }
    }

    fn status(finished: Finished, accounting: Accounting) -> Status {
        decide(&finished, &accounting, &limits()).status
    }

    #[test]
    fn exits() {
        assert_eq!(status(ended(Exit::Code(0), None), used(10, 1)), Status::Ok);
        assert_eq!(
            status(ended(Exit::Code(3), None), used(10, 1)),
            Status::NonzeroExit
        );
        let segv = decide(
            &ended(Exit::Signal(libc::SIGSEGV), None),
            &used(10, 1),
            &limits(),
        );
        assert_eq!(segv, verdict(Status::Signaled, Some("SIGSEGV")));
    }

    #[test]
    fn a_notified_call_is_disallowed_with_its_name() {
        let finished = ended(
            Exit::Signal(libc::SIGKILL),
            Some(KillReason::DisallowedSyscall {
                nr: 101,
                arch: crate::seccomp::arch::Arch::X86_64.audit(),
            }),
        );
        let verdict = decide(&finished, &used(5, 1), &limits());
        assert_eq!(
            (verdict.status, verdict.detail.as_deref()),
            (Status::DisallowedSyscall, Some("ptrace"))
        );
        let unknown = ended(
            Exit::Signal(libc::SIGKILL),
            Some(KillReason::DisallowedSyscall { nr: 9999, arch: 1 }),
        );
        assert_eq!(
            decide(&unknown, &used(5, 1), &limits()).detail.as_deref(),
            Some("syscall 9999")
        );
    }

    #[test]
    fn a_kill_order_given_on_a_cancel_is_signaled_and_a_limit_before_it_stands() {
        let killed = ended(Exit::Signal(libc::SIGKILL), Some(KillReason::KillOrder));
        let cancelled = Accounting {
            cancelled: true,
            ..used(5, 1)
        };
        assert_eq!(
            decide(&killed, &cancelled, &limits()),
            verdict(Status::Signaled, Some("cancelled"))
        );
        // Without the cancel, the controller's kill is its own failure.
        assert_eq!(status(killed, used(5, 1)), Status::InternalError);
        // Killed for its CPU time first: that is the verdict.
        let timed_out = Accounting {
            cpu_killed: true,
            ..cancelled
        };
        assert_eq!(status(killed, timed_out), Status::TimeLimitExceeded);
    }

    #[test]
    fn sigkill_from_the_oom_killer_is_memory_even_with_nothing_measured() {
        let oom = Accounting {
            oom_killed: true,
            ..Accounting::default()
        };
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGKILL), None), oom),
            Status::MemoryLimitExceeded
        );
    }

    #[test]
    fn without_a_cgroup_memory_over_the_limit_or_a_refused_allocation_is_memory() {
        // ptrace mode without cgroups: the resident peak went over, even with a clean exit.
        let over = Accounting {
            memory_over: true,
            ..used(5, 300)
        };
        assert_eq!(
            decide(&ended(Exit::Code(0), None), &over, &limits()),
            verdict(Status::MemoryLimitExceeded, Some("memory limit exceeded"))
        );
        // An allocation refused by the rlimit: only a run that failed is judged on it.
        let refused = Accounting {
            memory_refused: true,
            ..used(5, 10)
        };
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGSEGV), None), refused.clone()),
            Status::MemoryLimitExceeded
        );
        assert_eq!(status(ended(Exit::Code(0), None), refused), Status::Ok);
    }

    #[test]
    fn a_denied_file_comes_first_whatever_the_exit() {
        let denied = Accounting {
            file_denied: Some("openat /etc/shadow (read)".into()),
            cpu_killed: true,
            ..used(2000, 300)
        };
        let finished = ended(
            Exit::Signal(libc::SIGKILL),
            Some(KillReason::DisallowedSyscall {
                nr: 101,
                arch: 0xc000_003e,
            }),
        );
        assert_eq!(
            decide(&finished, &denied, &limits()),
            verdict(Status::FileAccessDenied, Some("openat /etc/shadow (read)"))
        );
    }

    #[test]
    fn sigkill_from_the_cpu_enforcer_is_time() {
        let killed = Accounting {
            cpu_killed: true,
            ..used(1001, 1)
        };
        let finished = ended(Exit::Signal(libc::SIGKILL), Some(KillReason::KillOrder));
        assert_eq!(
            decide(&finished, &killed, &limits()),
            verdict(Status::TimeLimitExceeded, Some("cpu time"))
        );
    }

    #[test]
    fn sigkill_at_the_wall_deadline_is_time() {
        let finished = ended(Exit::Signal(libc::SIGKILL), Some(KillReason::WallLimit));
        assert_eq!(
            decide(&finished, &used(5, 1), &limits()),
            verdict(Status::TimeLimitExceeded, Some("wall time"))
        );
    }

    #[test]
    fn time_running_out_at_the_memory_limit_is_memory() {
        let stuck = Accounting {
            cpu_killed: true,
            ..used(1001, 64)
        };
        assert_eq!(
            status(
                ended(Exit::Signal(libc::SIGKILL), Some(KillReason::KillOrder)),
                stuck
            ),
            Status::MemoryLimitExceeded
        );
        let walled = ended(Exit::Signal(libc::SIGKILL), Some(KillReason::WallLimit));
        assert_eq!(status(walled, used(5, 64)), Status::MemoryLimitExceeded);
        // Below the limit, time is time.
        let slow = Accounting {
            cpu_killed: true,
            ..used(1001, 63)
        };
        assert_eq!(
            status(
                ended(Exit::Signal(libc::SIGKILL), Some(KillReason::KillOrder)),
                slow
            ),
            Status::TimeLimitExceeded
        );
    }

    #[test]
    fn cpu_and_memory_in_the_same_instant_is_memory() {
        let both = Accounting {
            oom_killed: true,
            cpu_killed: true,
            ..used(1001, 64)
        };
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGKILL), None), both),
            Status::MemoryLimitExceeded
        );
    }

    #[test]
    fn cpu_time_over_the_limit_is_time_even_after_a_clean_exit() {
        assert_eq!(
            status(ended(Exit::Code(0), None), used(1001, 1)),
            Status::TimeLimitExceeded
        );
        assert_eq!(
            status(ended(Exit::Code(0), None), used(1000, 1)),
            Status::Ok
        );
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGXCPU), None), used(900, 1)),
            Status::TimeLimitExceeded
        );
    }

    #[test]
    fn output_at_the_limit_is_output_even_after_a_clean_exit() {
        let full = Accounting {
            output_full: true,
            ..used(5, 1)
        };
        assert_eq!(
            status(ended(Exit::Code(0), None), full),
            Status::OutputLimitExceeded
        );
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGXFSZ), None), used(5, 1)),
            Status::OutputLimitExceeded
        );
    }

    #[test]
    fn a_failure_at_the_memory_limit_is_memory_but_a_success_is_not() {
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGSEGV), None), used(5, 64)),
            Status::MemoryLimitExceeded
        );
        assert_eq!(
            status(ended(Exit::Code(1), None), used(5, 64)),
            Status::MemoryLimitExceeded
        );
        assert_eq!(status(ended(Exit::Code(0), None), used(5, 64)), Status::Ok);
    }

    #[test]
    fn a_kill_order_for_another_reason_is_the_sandbox_s_doing() {
        let finished = ended(Exit::Signal(libc::SIGKILL), Some(KillReason::KillOrder));
        assert_eq!(status(finished, used(5, 1)), Status::InternalError);
    }

    #[test]
    fn status_names_match_serde() {
        for s in [
            Status::Ok,
            Status::NonzeroExit,
            Status::TimeLimitExceeded,
            Status::InternalError,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
