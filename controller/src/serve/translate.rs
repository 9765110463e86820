//! go-judge's model onto runbox's: a [`Cmd`] becomes the [`RunOptions`] of one run (the
//! same schema as a batch line, run by the one lifecycle), and its [`RunResult`] becomes
//! go-judge's [`CmdResult`] by go-judge's precedence (GOJUDGE-API.md §3.3). Pure, apart
//! from resolving a `src` path against `--src-prefix`.
//!
//! Units: go-judge's nanoseconds become runbox's microseconds rounded up (a limit is never
//! tightened), its bytes stay bytes. go-judge takes any 64-bit value; runbox's limits have
//! bounds (CPU and wall time up to 24 h, memory 1 MiB to 1 TiB, stack from 64 KiB): a
//! value past them is clamped to the bound, and the verdict is still decided against the
//! value the judge sent, so that "0 means 0" holds: `cpuLimit` 0 runs under runbox's least
//! limit and any CPU time is over it (Time Limit Exceeded), `memoryLimit` 0 likewise ends
//! Memory Limit Exceeded, and `procLimit` 0 lets no process start (Internal Error, as
//! go-judge's clone into a cgroup with `pids.max` 0).

use super::gojudge::{Cmd, CmdResult, FileKind, GoStatus};
use crate::options::RunOptions;
use crate::result::RunResult;
use crate::spec::{CpuTime, Memory, Output, Processes, Stack, WallTime};
use crate::status::Status;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The memory go-judge adds to a run's cgroup limit (`-extra-memory-limit`, 16 KiB): a
/// peak just past `memoryLimit` is measured and judged, not cut off.
pub const EXTRA_MEMORY: u64 = 16 << 10;

/// The server's settings a translation needs.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Bytes a run may write to any one file (go-judge's `-output-limit`).
    pub output_limit: u64,
    /// Where `src` host paths may lie (`--src-prefix`); empty: anywhere.
    pub src_prefix: Vec<PathBuf>,
    /// The run configuration's profile every run uses.
    pub profile: Option<String>,
}

/// Why a command cannot be translated: the HTTP code the whole request gets, and the
/// message, as go-judge answers (§8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 500: the request names something the server cannot give (a stdin `src` it cannot
    /// read, a file-store id it does not have, a pipe slot taken).
    #[error("{0}")]
    Server(String),
    /// The request is well formed but asks for a part of the contract this build of
    /// runbox does not have; answered 500, saying which.
    #[error("{0}: not supported by this runbox")]
    Unsupported(String),
}

/// The limits as the judge sent them, against which the verdict is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    /// cpuLimit, ns.
    pub cpu_ns: u64,
    /// The wall-clock limit sent (realCpuLimit or clockLimit), ns; 0 if none was.
    pub clock_ns: u64,
    /// memoryLimit, bytes.
    pub memory: u64,
}

/// What a command becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A run of these options, judged against these limits.
    Run(Box<RunOptions>, Sent),
    /// No run can start (procLimit 0, no args): this is its result.
    Answer(CmdResult),
}

/// Translates one command.
pub fn plan(cmd: &Cmd, settings: &Settings) -> Result<Plan, Refusal> {
    if cmd.tty == Some(true) {
        return Err(Refusal::Unsupported("tty".into()));
    }
    let argv = cmd.args.clone().unwrap_or_default();
    if argv.is_empty() {
        return Ok(Plan::Answer(CmdResult::internal_error(
            "args: no program given",
        )));
    }
    if cmd.proc_limit.unwrap_or(0) == 0 {
        return Ok(Plan::Answer(CmdResult::internal_error(
            "procLimit 0: pids.max 0 lets no process start",
        )));
    }
    let sent = Sent {
        cpu_ns: cmd.cpu_limit.unwrap_or(0),
        clock_ns: match cmd.real_cpu_limit.unwrap_or(0) {
            0 => cmd.clock_limit.unwrap_or(0),
            real => real,
        },
        memory: cmd.memory_limit.unwrap_or(0),
    };
    let wall_ns = if sent.clock_ns == 0 {
        sent.cpu_ns
    } else {
        sent.clock_ns
    };
    let memory = sent.memory.saturating_add(EXTRA_MEMORY);
    let mut options = RunOptions {
        argv,
        env: Some(cmd.env.clone().unwrap_or_default()),
        profile: settings.profile.clone(),
        time: Some(CpuTime::clamped(micros(sent.cpu_ns))),
        wall: Some(WallTime::clamped(micros(wall_ns))),
        memory: Some(Memory::clamped(memory)),
        stack: match cmd.stack_limit.unwrap_or(0) {
            0 => None,
            stack => Some(Stack::clamped(stack.min(memory))),
        },
        output: Some(Output::clamped(settings.output_limit)),
        processes: Some(Processes::clamped(cmd.proc_limit.unwrap_or(0))),
        ..RunOptions::default()
    };
    let files = cmd.files.as_deref().unwrap_or(&[]);
    if files.len() > 3 {
        return Err(Refusal::Unsupported(format!(
            "files: {} fds (more than 3 need groups)",
            files.len()
        )));
    }
    for (fd, file) in files.iter().enumerate() {
        let Some(file) = file else {
            return Err(Refusal::Server(format!(
                "files[{fd}]: null, and no pipe fills it"
            )));
        };
        match (fd, file.kind().map_err(|e| Refusal::BadRequest(e.to_string()))?) {
            (0, FileKind::Src(src)) => options.stdin = Some(stdin_src(src, settings)?),
            (_, FileKind::Src(_)) => {
                return Err(Refusal::Unsupported(format!(
                    "files[{fd}]: src as an output"
                )))
            }
            (_, FileKind::Content(_)) => {
                return Err(Refusal::Unsupported(format!("files[{fd}]: content")))
            }
            (_, FileKind::FileId(_)) => {
                return Err(Refusal::Unsupported(format!("files[{fd}]: fileId")))
            }
            (_, FileKind::Collector { .. }) => {
                return Err(Refusal::Unsupported(format!("files[{fd}]: collectors")))
            }
            (_, FileKind::Symlink(_)) => unreachable!("kind() never gives a symlink"),
        }
    }
    for (what, given) in [
        ("copyIn", cmd.copy_in.as_ref().is_some_and(|m| !m.is_empty())),
        ("copyOut", cmd.copy_out.as_ref().is_some_and(|v| !v.is_empty())),
        (
            "copyOutCached",
            cmd.copy_out_cached.as_ref().is_some_and(|v| !v.is_empty()),
        ),
    ] {
        if given {
            return Err(Refusal::Unsupported(what.into()));
        }
    }
    Ok(Plan::Run(Box::new(options), sent))
}

/// `ns` nanoseconds as microseconds, rounded up.
fn micros(ns: u64) -> Duration {
    Duration::from_micros(ns.div_ceil(1000))
}

/// A stdin `src`: the path with its links resolved, which must lie under a `--src-prefix`
/// where there are any (else 400) and be readable (else 500, as go-judge's unreadable
/// stdin).
fn stdin_src(src: &str, settings: &Settings) -> Result<PathBuf, Refusal> {
    let path = allowed_src(src, &settings.src_prefix)?;
    std::fs::File::open(&path).map_err(|e| Refusal::Server(format!("open {src:?}: {e}")))?;
    Ok(path)
}

/// `src` with its links resolved, if `prefixes` (none: anywhere) allow it.
pub fn allowed_src(src: &str, prefixes: &[PathBuf]) -> Result<PathBuf, Refusal> {
    let resolved = std::fs::canonicalize(src);
    if prefixes.is_empty() {
        return resolved.map_err(|e| Refusal::Server(format!("open {src:?}: {e}")));
    }
    let resolved =
        resolved.map_err(|e| Refusal::BadRequest(format!("src {src:?} not allowed: {e}")))?;
    if prefixes.iter().any(|p| resolved.starts_with(p)) {
        Ok(resolved)
    } else {
        Err(Refusal::BadRequest(format!(
            "src {src:?} not allowed: outside the src prefixes"
        )))
    }
}

/// go-judge's result for runbox's `result` of a run under `sent` (§3.3): runbox's verdict
/// in go-judge's words, then go-judge's own rules on the measurements: CPU time over
/// cpuLimit is Time Limit Exceeded even after a clean exit; a peak over memoryLimit is
/// Memory Limit Exceeded over anything; a Time Limit Exceeded that is neither over
/// cpuLimit nor over a clockLimit sent is Signalled. Where runbox knows more than the
/// numbers, its verdict stands: a refused call stays Dangerous Syscall (the call in
/// `error`), an OOM kill stays Memory Limit Exceeded whatever the peak read.
pub fn result(run: &RunResult, sent: &Sent) -> CmdResult {
    let m = run.measured;
    let (time, run_time) = (m.cpu_us.saturating_mul(1000), m.wall_us.saturating_mul(1000));
    let exit_status = run.signal.or(run.exit_code).unwrap_or(0);
    let mut status = match run.status {
        Status::Ok => GoStatus::Accepted,
        Status::NonzeroExit => GoStatus::NonzeroExitStatus,
        Status::Signaled => GoStatus::Signalled,
        Status::TimeLimitExceeded => GoStatus::TimeLimitExceeded,
        Status::MemoryLimitExceeded => GoStatus::MemoryLimitExceeded,
        Status::OutputLimitExceeded => GoStatus::OutputLimitExceeded,
        Status::DisallowedSyscall | Status::FileAccessDenied => GoStatus::DangerousSyscall,
        Status::InternalError => GoStatus::InternalError,
    };
    let ran = !matches!(
        status,
        GoStatus::InternalError | GoStatus::DangerousSyscall
    );
    if ran && status != GoStatus::MemoryLimitExceeded && time > sent.cpu_ns {
        status = GoStatus::TimeLimitExceeded;
    }
    if ran && m.memory_bytes > sent.memory {
        status = GoStatus::MemoryLimitExceeded;
    }
    if status == GoStatus::TimeLimitExceeded
        && exit_status != 0
        && time < sent.cpu_ns
        && run_time < sent.clock_ns
    {
        status = GoStatus::Signalled;
    }
    let error = match status {
        GoStatus::Accepted => String::new(),
        _ => run.detail.clone().unwrap_or_default(),
    };
    CmdResult {
        status,
        exit_status,
        error,
        time,
        memory: m.memory_bytes,
        run_time,
        proc_peak: 0,
        files: BTreeMap::new(),
        file_ids: BTreeMap::new(),
        file_error: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Measured;
    use crate::serve::gojudge::parse_request;

    fn cmd(json: &str) -> Cmd {
        let body = format!(r#"{{"cmd":[{json}]}}"#);
        parse_request(body.as_bytes()).unwrap().cmd.unwrap().remove(0)
    }

    fn settings() -> Settings {
        Settings {
            output_limit: 256 << 20,
            ..Settings::default()
        }
    }

    fn options(json: &str) -> (RunOptions, Sent) {
        match plan(&cmd(json), &settings()).unwrap() {
            Plan::Run(options, sent) => (*options, sent),
            Plan::Answer(answer) => panic!("{json}: answered {answer:?}"),
        }
    }

    #[test]
    fn limits_keep_their_units_and_round_up() {
        let (o, sent) = options(
            r#"{"args":["a"],"cpuLimit":1500,"clockLimit":2000000000,"memoryLimit":268435456,
                "stackLimit":8388608,"procLimit":50}"#,
        );
        assert_eq!(o.time.unwrap().get(), Duration::from_micros(2));
        assert_eq!(o.wall.unwrap().get(), Duration::from_secs(2));
        assert_eq!(o.memory.unwrap().get(), (256 << 20) + EXTRA_MEMORY);
        assert_eq!(o.stack.unwrap().get(), 8 << 20);
        assert_eq!(o.processes.unwrap().get(), 50);
        assert_eq!(o.output.unwrap().get(), 256 << 20);
        assert_eq!(o.env, Some(vec![]));
        assert_eq!(
            sent,
            Sent {
                cpu_ns: 1500,
                clock_ns: 2_000_000_000,
                memory: 256 << 20
            }
        );
    }

    #[test]
    fn zero_means_zero() {
        // cpuLimit 0: the least limit runbox has; no clock limit: = cpuLimit.
        let (o, sent) = options(r#"{"args":["a"],"procLimit":1}"#);
        assert_eq!(o.time.unwrap().get(), Duration::from_micros(1));
        assert_eq!(o.wall.unwrap().get(), Duration::from_micros(1));
        assert_eq!(o.memory.unwrap().get(), crate::spec::MIN_MEMORY);
        assert_eq!(o.stack, None);
        assert_eq!(sent, Sent::default());
        // procLimit 0: nothing can start.
        let answered = plan(&cmd(r#"{"args":["a"]}"#), &settings()).unwrap();
        let Plan::Answer(result) = answered else {
            panic!("ran")
        };
        assert_eq!(result.status, GoStatus::InternalError);
        assert!(result.error.contains("procLimit 0"));
        // The deprecated realCpuLimit replaces clockLimit when above 0.
        let (o, _) = options(
            r#"{"args":["a"],"procLimit":1,"cpuLimit":1000,"clockLimit":5000,"realCpuLimit":9000}"#,
        );
        assert_eq!(o.wall.unwrap().get(), Duration::from_micros(9));
        // Past runbox's bounds: clamped.
        let (o, _) = options(
            r#"{"args":["a"],"procLimit":18446744073709551615,"cpuLimit":18446744073709551615,
                "memoryLimit":18446744073709551615}"#,
        );
        assert_eq!(o.time.unwrap().get(), crate::spec::MAX_TIME);
        assert_eq!(o.memory.unwrap().get(), crate::spec::MAX_MEMORY);
        assert_eq!(o.processes.unwrap().get(), crate::spec::MAX_PROCESSES);
    }

    #[test]
    fn what_this_build_cannot_do_is_said() {
        for (json, says) in [
            (r#"{"args":["a"],"procLimit":1,"tty":true}"#, "tty"),
            (
                r#"{"args":["a"],"procLimit":1,"files":[{"content":""}]}"#,
                "files[0]: content",
            ),
            (
                r#"{"args":["a"],"procLimit":1,"files":[null]}"#,
                "files[0]: null",
            ),
            (
                r#"{"args":["a"],"procLimit":1,"files":[{}]}"#,
                "file type is not valid",
            ),
        ] {
            let err = plan(&cmd(json), &settings()).unwrap_err().to_string();
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn a_src_outside_the_prefixes_is_a_bad_request() {
        let dir = std::env::temp_dir().join(format!("runbox-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inside = dir.join("in");
        std::fs::write(&inside, "x").unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        let prefixes = [std::fs::canonicalize(&dir).unwrap()];
        assert!(allowed_src(inside.to_str().unwrap(), &prefixes).is_ok());
        for bad in [link.to_str().unwrap(), "/etc/passwd", "/nonexistent/x"] {
            assert!(
                matches!(allowed_src(bad, &prefixes), Err(Refusal::BadRequest(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            allowed_src("/nonexistent/x", &[]),
            Err(Refusal::Server(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn ran(status: Status, exit: Option<i32>, signal: Option<i32>, m: Measured) -> RunResult {
        RunResult {
            status,
            exit_code: exit,
            signal,
            measured: m,
            detail: None,
            ..RunResult::internal_error(String::new())
        }
    }

    fn measured(cpu_us: u64, wall_us: u64, memory_bytes: u64) -> Measured {
        Measured {
            cpu_us,
            wall_us,
            memory_bytes,
        }
    }

    const SENT: Sent = Sent {
        cpu_ns: 1_000_000_000,
        clock_ns: 0,
        memory: 64 << 20,
    };

    #[test]
    fn verdicts_follow_go_judges_precedence() {
        let small = measured(1000, 2000, 1 << 20);
        let go = |r: &RunResult, sent: &Sent| result(r, sent).status;
        assert_eq!(
            go(&ran(Status::Ok, Some(0), None, small), &SENT),
            GoStatus::Accepted
        );
        let nz = result(&ran(Status::NonzeroExit, Some(3), None, small), &SENT);
        assert_eq!((nz.status, nz.exit_status), (GoStatus::NonzeroExitStatus, 3));
        let sig = result(&ran(Status::Signaled, None, Some(11), small), &SENT);
        assert_eq!((sig.status, sig.exit_status), (GoStatus::Signalled, 11));
        // CPU over the limit after a clean exit: TLE.
        let slow = measured(1_000_001, 1_100_000, 1 << 20);
        assert_eq!(
            go(&ran(Status::Ok, Some(0), None, slow), &SENT),
            GoStatus::TimeLimitExceeded
        );
        // cpuLimit 0: any CPU time is over it.
        let zero = Sent {
            memory: 64 << 20,
            ..Sent::default()
        };
        assert_eq!(
            go(&ran(Status::Ok, Some(0), None, small), &zero),
            GoStatus::TimeLimitExceeded
        );
        // A peak over memoryLimit: MLE over everything, even a clean exit or a TLE.
        let big = measured(1000, 2000, (64 << 20) + 1);
        for status in [Status::Ok, Status::TimeLimitExceeded, Status::NonzeroExit] {
            assert_eq!(
                go(&ran(status, Some(0), None, big), &SENT),
                GoStatus::MemoryLimitExceeded
            );
        }
        // memoryLimit 0: any peak is over it.
        assert_eq!(
            go(
                &ran(Status::Ok, Some(0), None, small),
                &Sent {
                    cpu_ns: 1_000_000_000,
                    ..Sent::default()
                }
            ),
            GoStatus::MemoryLimitExceeded
        );
        // runbox's OOM kill is MLE whatever the peak read.
        assert_eq!(
            go(
                &ran(Status::MemoryLimitExceeded, None, Some(9), small),
                &SENT
            ),
            GoStatus::MemoryLimitExceeded
        );
        // A TLE under both limits sent (a kill for another reason): Signalled.
        let with_clock = Sent {
            clock_ns: 3_000_000_000,
            ..SENT
        };
        assert_eq!(
            go(
                &ran(Status::TimeLimitExceeded, None, Some(9), small),
                &with_clock
            ),
            GoStatus::Signalled
        );
        // ... but not when no clockLimit was sent (0 never satisfies it).
        assert_eq!(
            go(&ran(Status::TimeLimitExceeded, None, Some(9), small), &SENT),
            GoStatus::TimeLimitExceeded
        );
        // A refused call stays Dangerous Syscall with its name; units are ns and bytes.
        let mut refused = ran(Status::DisallowedSyscall, None, Some(31), big);
        refused.detail = Some("ptrace".into());
        let r = result(&refused, &SENT);
        assert_eq!(
            (r.status, r.error.as_str(), r.exit_status),
            (GoStatus::DangerousSyscall, "ptrace", 31)
        );
        assert_eq!((r.time, r.memory, r.run_time), (1_000_000, (64 << 20) + 1, 2_000_000));
        let internal = result(&RunResult::internal_error("boom".into()), &zero);
        assert_eq!(
            (internal.status, internal.error.as_str()),
            (GoStatus::InternalError, "boom")
        );
    }
}
