//! The verdict: one pure function from how a run ended to its status.

use crate::spec::Limits;
use runbox_shared::{Exit, Finished, KillReason};
use serde::Serialize;

/// What happened to a program, as a judge needs to know it.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
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

/// Decides the status of a run that ended. Who killed it comes first (the wall deadline is
/// certain), then the limits the kernel enforces by signal, then the exit itself.
pub fn decide(finished: &Finished, limits: &Limits) -> Verdict {
    let cpu_us = finished.user_us + finished.sys_us;
    match (finished.killed, finished.exit) {
        (Some(KillReason::WallLimit), _) => verdict(Status::TimeLimitExceeded, Some("wall time")),
        (Some(KillReason::KillOrder), _) => {
            verdict(Status::InternalError, Some("killed by the controller"))
        }
        (None, Exit::Signal(libc::SIGXCPU)) => verdict(Status::TimeLimitExceeded, Some("cpu time")),
        (None, _) if u128::from(cpu_us) > limits.time.as_micros() => {
            verdict(Status::TimeLimitExceeded, Some("cpu time"))
        }
        (None, Exit::Signal(libc::SIGXFSZ)) => {
            verdict(Status::OutputLimitExceeded, Some("file size"))
        }
        (None, Exit::Signal(signal)) => verdict(Status::Signaled, Some(signal_name(signal))),
        (None, Exit::Code(0)) => verdict(Status::Ok, None),
        (None, Exit::Code(_)) => verdict(Status::NonzeroExit, None),
    }
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
    use std::time::Duration;

    fn ended(exit: Exit, cpu_ms: u64, killed: Option<KillReason>) -> Finished {
        Finished {
            exit,
            user_us: cpu_ms * 1000,
            sys_us: 0,
            max_rss_kib: 100,
            wall_us: cpu_ms * 1000,
            killed,
        }
    }

    fn status(finished: Finished) -> Status {
        let limits = Limits {
            time: Duration::from_secs(1),
            ..Limits::default()
        };
        decide(&finished, &limits).status
    }

    #[test]
    fn exits() {
        assert_eq!(status(ended(Exit::Code(0), 10, None)), Status::Ok);
        assert_eq!(status(ended(Exit::Code(3), 10, None)), Status::NonzeroExit);
        let segv = decide(
            &ended(Exit::Signal(libc::SIGSEGV), 10, None),
            &Limits::default(),
        );
        assert_eq!(segv, verdict(Status::Signaled, Some("SIGSEGV")));
    }

    #[test]
    fn the_wall_deadline_wins_over_the_signal_it_sent() {
        let killed = ended(Exit::Signal(libc::SIGKILL), 10, Some(KillReason::WallLimit));
        assert_eq!(status(killed), Status::TimeLimitExceeded);
    }

    #[test]
    fn cpu_time_over_the_limit_is_a_time_limit_even_after_a_clean_exit() {
        assert_eq!(
            status(ended(Exit::Code(0), 1001, None)),
            Status::TimeLimitExceeded
        );
        assert_eq!(status(ended(Exit::Code(0), 1000, None)), Status::Ok);
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGXCPU), 900, None)),
            Status::TimeLimitExceeded
        );
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGKILL), 1500, None)),
            Status::TimeLimitExceeded
        );
    }

    #[test]
    fn file_size_signal_is_an_output_limit() {
        assert_eq!(
            status(ended(Exit::Signal(libc::SIGXFSZ), 10, None)),
            Status::OutputLimitExceeded
        );
    }

    #[test]
    fn a_kill_order_is_the_sandbox_s_doing() {
        let killed = ended(Exit::Signal(libc::SIGKILL), 10, Some(KillReason::KillOrder));
        assert_eq!(status(killed), Status::InternalError);
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
