//! What a run reports: the contract's result object, as JSON or for people.

use crate::error::describe_failure;
use crate::spec::Limits;
use crate::status::{decide, Outcome, Status};
use runbox_shared::Exit;
use runbox_shared::Failure;
use serde::Serialize;

/// One run's result. Field order and names are the CLI contract's.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// The verdict.
    pub status: Status,
    /// The exit code, when the program exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// User + system CPU time, milliseconds (rounded to nearest).
    pub time_ms: u64,
    /// Wall-clock time from start to exit, milliseconds.
    pub wall_ms: u64,
    /// Peak memory, KiB.
    pub memory_kib: u64,
    /// The limit, signal, syscall, path or internal cause behind the status.
    pub detail: Option<String>,
    /// Collected outputs, files copied out, stored ids and file problems (each absent when
    /// empty).
    #[serde(flatten)]
    pub files: crate::files::FilesOut,
    /// The same measurements in the units they were taken in, for an entry whose answer
    /// has finer units than the contract's (`runbox serve`: nanoseconds and bytes); not
    /// part of the result object.
    #[serde(skip)]
    pub measured: Measured,
}

/// A run's measurements as taken: the cgroup's CPU time and peak, init's wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measured {
    /// User + system CPU time of every process of the run, microseconds.
    pub cpu_us: u64,
    /// Wall-clock time from start to exit, microseconds.
    pub wall_us: u64,
    /// Peak memory, bytes.
    pub memory_bytes: u64,
}

fn ms(us: u64) -> u64 {
    (us + 500) / 1000
}

impl RunResult {
    /// The result of a run of `program` that got as far as init, with what
    /// the controller measured.
    pub fn from_outcome(outcome: &Outcome, limits: &Limits, program: &str) -> RunResult {
        match outcome {
            Outcome::NotStarted(failure) => {
                RunResult::internal_error(not_started_detail(failure, program))
            }
            Outcome::Finished {
                finished,
                accounting,
            } => {
                let verdict = decide(finished, accounting, limits);
                let (exit_code, signal) = match finished.exit {
                    Exit::Code(code) => (Some(code), None),
                    Exit::Signal(signal) => (None, Some(signal)),
                };
                RunResult {
                    status: verdict.status,
                    exit_code,
                    signal,
                    time_ms: ms(accounting.cpu_us),
                    wall_ms: ms(finished.wall_us),
                    memory_kib: accounting.memory_bytes.div_ceil(1024),
                    detail: verdict.detail,
                    measured: Measured {
                        cpu_us: accounting.cpu_us,
                        wall_us: finished.wall_us,
                        memory_bytes: accounting.memory_bytes,
                    },
                    files: Default::default(),
                }
            }
        }
    }

    /// A result for a run the sandbox could not carry out.
    pub fn internal_error(detail: String) -> RunResult {
        RunResult {
            status: Status::InternalError,
            exit_code: None,
            signal: None,
            time_ms: 0,
            wall_ms: 0,
            memory_kib: 0,
            detail: Some(detail),
            measured: Measured::default(),
            files: Default::default(),
        }
    }

    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"status":"internal_error"}"#.into())
    }

    /// A few aligned lines for people.
    pub fn to_human(&self) -> String {
        let mut out = format!("status:  {}", self.status.as_str());
        if let Some(detail) = &self.detail {
            out += &format!(" ({detail})");
        }
        if let Some(code) = self.exit_code {
            out += &format!("\nexit:    {code}");
        }
        if let Some(signal) = self.signal {
            out += &format!(
                "\nsignal:  {signal} ({})",
                crate::status::signal_name(signal)
            );
        }
        out += &format!(
            "\ntime:    {} ms\nwall:    {} ms\nmemory:  {} KiB\n",
            self.time_ms, self.wall_ms, self.memory_kib
        );
        out
    }
}

/// A one-line description of a failure to start `program`, for a result's detail.
pub fn not_started_detail(failure: &Failure, program: &str) -> String {
    if failure.step == runbox_shared::Step::Exec {
        let os = std::io::Error::from_raw_os_error(failure.errno);
        return format!("cannot execute {program:?}: {os}");
    }
    describe_failure(failure)
}
