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

use super::gojudge::{Cmd, CmdResult, FileError, FileKind, GoStatus};
use crate::files::collect::MAX_COLLECT;
use crate::files::FileErrorKind;
use crate::files::FileStore;
use crate::files::{CopyIn, CopyInList, FileMode, InSource, Input, OutName, OutputTo};
use crate::options::RunOptions;
use crate::result::RunResult;
use crate::spec::{CpuTime, Memory, Output, Processes, Stack, WallTime};
use crate::status::Status;
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
    /// The default copyOutMax, bytes (go-judge's `-copy-out-limit`).
    pub copy_out_limit: u64,
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
    /// A run of these options, judged against these limits, its outputs named so.
    Run(Box<RunOptions>, Sent, Outputs),
    /// No run can start (procLimit 0, no args): this is its result.
    Answer(CmdResult),
}

/// go-judge's names of a run's collected outputs, and what becomes of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outputs {
    /// The collectors of fd 1 and fd 2: name and max.
    pub collectors: [Option<(String, u64)>; 2],
    /// Collector names in copyOutCached: their output goes to the file store.
    pub cached: Vec<String>,
}

/// go-judge's mode of a copied-in file (it asks for 0777: a binary runs without a chmod).
const COPY_IN_MODE: FileMode = FileMode(0o755);

/// Translates one command. `stored` tells whether the file store has an id (an unknown
/// one is go-judge's HTTP 500 for the whole request).
pub fn plan(
    cmd: &Cmd,
    settings: &Settings,
    stored: &dyn Fn(&str) -> bool,
) -> Result<Plan, Refusal> {
    plan_member(cmd, settings, stored, &[])
}

/// [`plan`] for a command of a group whose fds `piped` pipes give: those slots must be
/// `null` or past the end of `files` (go-judge's rule; else HTTP 500).
pub fn plan_member(
    cmd: &Cmd,
    settings: &Settings,
    stored: &dyn Fn(&str) -> bool,
    piped: &[u64],
) -> Result<Plan, Refusal> {
    if cmd.tty == Some(true) {
        return Err(Refusal::Unsupported("tty".into()));
    }
    let argv = cmd.args.clone().unwrap_or_default();
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
    let copy_out_max = match cmd.copy_out_max.unwrap_or(0) {
        0 => settings.copy_out_limit,
        max => max,
    };
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
        copy_out_max: Some(Output::clamped(copy_out_max)),
        // go-judge's rlimits: memoryLimit + 16 KiB, as the memory above.
        address_space: cmd
            .address_space_limit
            .unwrap_or(false)
            .then(|| Memory::clamped(memory)),
        data_segment: (cmd.data_segment_limit.unwrap_or(false)
            || cmd.strict_memory_limit.unwrap_or(false))
        .then(|| Memory::clamped(memory)),
        ..RunOptions::default()
    };
    let mut outputs = Outputs::default();
    let files = cmd.files.as_deref().unwrap_or(&[]);
    for (fd, file) in files.iter().enumerate() {
        let by_pipe = piped.contains(&(fd as u64));
        let file = match (file, by_pipe) {
            (None, true) => continue,
            (None, false) => {
                return Err(Refusal::Server(format!(
                    "files[{fd}]: null, and no pipe fills it"
                )))
            }
            (Some(_), true) => {
                return Err(Refusal::Server(format!(
                    "files[{fd}]: given, and a pipe gives it too"
                )))
            }
            (Some(file), false) => file,
        };
        let kind = file
            .kind()
            .map_err(|e| Refusal::BadRequest(e.to_string()))?;
        match (fd, kind) {
            (0, FileKind::Src(src)) => options.stdin = Some(Input::Path(stdin_src(src, settings)?)),
            (0, FileKind::Content(text)) => options.stdin = Some(Input::Content(text.into())),
            (0, FileKind::FileId(id)) => options.stdin = Some(Input::File(known(id, stored)?)),
            (1 | 2, FileKind::Collector { name, max, .. }) => {
                if outputs.collectors[0]
                    .as_ref()
                    .is_some_and(|(n, _)| n == name)
                {
                    return Err(Refusal::Unsupported(format!(
                        "files[2]: one collector ({name:?}) for stdout and stderr"
                    )));
                }
                // One byte past max tells the judge it went over, as go-judge's max + 1.
                let bound = max.saturating_add(1).min(MAX_COLLECT);
                let to = Some(OutputTo::Collect(bound));
                match fd {
                    1 => options.stdout = to,
                    _ => options.stderr = to,
                }
                outputs.collectors[fd - 1] = Some((name.to_string(), max));
            }
            (_, kind) => {
                return Err(Refusal::Unsupported(format!(
                    "files[{fd}]: {} at fd {fd}",
                    match kind {
                        FileKind::Collector { .. } => "a collector",
                        _ => "an input",
                    }
                )))
            }
        }
    }
    let mut copy_in = Vec::new();
    for (path, file) in cmd.copy_in.iter().flatten() {
        let kind = file
            .copy_in_kind()
            .map_err(|e| Refusal::BadRequest(e.to_string()))?;
        let (source, mode) = match kind {
            FileKind::Src(src) => (
                InSource::Src(allowed_src(src, &settings.src_prefix)?),
                Some(COPY_IN_MODE),
            ),
            FileKind::Content(text) => (InSource::Content(text.into()), Some(COPY_IN_MODE)),
            FileKind::FileId(id) => (InSource::File(known(id, stored)?), Some(COPY_IN_MODE)),
            // Made in the run's tmpfs as it is, never followed.
            FileKind::Symlink(target) => (InSource::Symlink(link_target(path, target)?), None),
            FileKind::Collector { .. } => {
                return Err(Refusal::BadRequest(format!(
                    "copyIn {path:?}: a collector is no file to copy in"
                )))
            }
        };
        let path = crate::files::path::parse(path)
            .map_err(|e| Refusal::BadRequest(format!("copyIn {path:?}: {e}")))?;
        copy_in.push(CopyIn { path, source, mode });
    }
    options.copy_in = CopyInList(copy_in);
    let collector = |name: &str| {
        outputs
            .collectors
            .iter()
            .flatten()
            .any(|(n, _)| n == name.strip_suffix('?').unwrap_or(name))
    };
    for name in cmd.copy_out.iter().flatten() {
        // A collector's output is in `files` already.
        if !collector(name) {
            options.copy_out.push(out_name(name)?);
        }
    }
    for name in cmd.copy_out_cached.iter().flatten() {
        if collector(name) {
            let bare = name.strip_suffix('?').unwrap_or(name);
            outputs.cached.push(bare.to_string());
        } else {
            options.copy_out_cached.push(out_name(name)?);
        }
    }
    // The request is well formed: whether it can start is the run's result.
    if options.argv.is_empty() {
        return Ok(Plan::Answer(CmdResult::internal_error(
            "args: no program given",
        )));
    }
    if cmd.proc_limit.unwrap_or(0) == 0 {
        return Ok(Plan::Answer(CmdResult::internal_error(
            "procLimit 0: pids.max 0 lets no process start",
        )));
    }
    Ok(Plan::Run(Box::new(options), sent, outputs))
}

/// A copyIn symlink's target, if it can be one (else 400).
fn link_target(path: &str, target: &str) -> Result<String, Refusal> {
    crate::files::check_link_target(target)
        .map_err(|e| Refusal::BadRequest(format!("copyIn {path:?}: {e}")))?;
    Ok(target.to_string())
}

/// A copyOut name (`name?`: optional), relative to /w or absolute under /w or /tmp.
fn out_name(name: &str) -> Result<OutName, Refusal> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|e| Refusal::BadRequest(format!("copyOut {name:?}: {e}")))
}

/// `id`, if the store has it; else go-judge's 500.
fn known(id: &str, stored: &dyn Fn(&str) -> bool) -> Result<String, Refusal> {
    match stored(id) {
        true => Ok(id.to_string()),
        false => Err(Refusal::Server(format!(
            "file does not exists with id: {id:?}"
        ))),
    }
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

/// go-judge's result for runbox's `run` under `sent`, its outputs named by `outputs`
/// (§3.3, in go-judge's order): runbox's verdict in go-judge's words; after a clean exit, a
/// collector past its max is Output Limit Exceeded and a copy-out problem File Error; CPU
/// time over cpuLimit is Time Limit Exceeded even after a clean exit; a peak over
/// memoryLimit is Memory Limit Exceeded over anything; a Time Limit Exceeded that is
/// neither over cpuLimit nor over a clockLimit sent is Signalled. Where runbox knows more
/// than the numbers, its verdict stands: a refused call stays Dangerous Syscall (the call
/// in `error`), an OOM kill stays Memory Limit Exceeded whatever the peak read.
pub fn result(run: &RunResult, sent: &Sent, outputs: &Outputs) -> CmdResult {
    let m = run.measured;
    let (time, run_time) = (
        m.cpu_us.saturating_mul(1000),
        m.wall_us.saturating_mul(1000),
    );
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
    let mut error = run.detail.clone().unwrap_or_default();
    let (mut files, mut file_error) = (run.files.files.clone(), Vec::new());
    let mut over = false;
    let collected = [&run.files.stdout, &run.files.stderr];
    for (collector, text) in outputs.collectors.iter().zip(collected) {
        if let (Some((name, max)), Some(text)) = (collector, text) {
            if text.len() as u64 > *max {
                over = true;
                file_error.push(FileError {
                    name: name.clone(),
                    kind: "CollectSizeExceeded",
                    message: "Output Limit Exceeded".into(),
                });
            }
            files.insert(name.clone(), text.clone());
        }
    }
    let copy_errors = run.files.file_errors.iter().map(|e| FileError {
        name: e.name.clone(),
        kind: match e.kind {
            FileErrorKind::NotFound => "CopyOutOpen",
            FileErrorKind::TooLarge => "CopyOutSizeExceeded",
            FileErrorKind::NotRegular => "CopyOutNotRegularFile",
        },
        message: e.message.clone(),
    });
    let first_copy_error = file_error.len();
    file_error.extend(copy_errors);
    if status == GoStatus::Accepted && over {
        (status, error) = (
            GoStatus::OutputLimitExceeded,
            "Output Limit Exceeded".into(),
        );
    } else if status == GoStatus::Accepted && file_error.len() > first_copy_error {
        (status, error) = (
            GoStatus::FileError,
            file_error[first_copy_error].message.clone(),
        );
    }
    let ran = !matches!(status, GoStatus::InternalError | GoStatus::DangerousSyscall);
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
    if status == GoStatus::Accepted {
        error.clear();
    }
    CmdResult {
        status,
        exit_status,
        error,
        time,
        memory: m.memory_bytes,
        run_time,
        proc_peak: 0,
        files,
        file_ids: run.files.file_ids.clone(),
        file_error,
    }
}

/// Moves the outputs of the collectors named in copyOutCached from `files` into `store`,
/// their ids into `fileIds` (HydroJudge's `copyOutCached: ["stdout"]`); a store that
/// refuses one makes the result File Error (§3.3 step 8).
pub fn cache_collected(result: &mut CmdResult, outputs: &Outputs, store: &FileStore) {
    for name in &outputs.cached {
        let Some(text) = result.files.remove(name) else {
            continue;
        };
        match store.add(name, text.as_bytes()) {
            Ok(id) => {
                result.file_ids.insert(name.clone(), id);
            }
            Err(e) => {
                result.file_error.push(FileError {
                    name: name.clone(),
                    kind: "CopyOutCreateFile",
                    message: e.to_string(),
                });
                result.status = GoStatus::FileError;
                result.error = e.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Measured;
    use crate::serve::gojudge::parse_request;

    fn cmd(json: &str) -> Cmd {
        let body = format!(r#"{{"cmd":[{json}]}}"#);
        parse_request(body.as_bytes())
            .unwrap()
            .cmd
            .unwrap()
            .remove(0)
    }

    fn settings() -> Settings {
        Settings {
            output_limit: 256 << 20,
            ..Settings::default()
        }
    }

    fn options(json: &str) -> (RunOptions, Sent) {
        match plan(&cmd(json), &settings(), &|id| id == "KNOWN234").unwrap() {
            Plan::Run(options, sent, _) => (*options, sent),
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
        let answered = plan(&cmd(r#"{"args":["a"]}"#), &settings(), &|_| false).unwrap();
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
                r#"{"args":["a"],"procLimit":1,"files":[{"content":""},{"content":""}]}"#,
                "files[1]: an input",
            ),
            (
                r#"{"args":["a"],"procLimit":1,"files":[{"content":""},{"name":"o","max":1},{"name":"o","max":1}]}"#,
                "files[2]: one collector",
            ),
            (
                r#"{"args":["a"],"procLimit":1,"copyIn":{"l":{"symlink":""}}}"#,
                "symlink: \"\" is no link target",
            ),
            (
                r#"{"args":["a"],"procLimit":1,"copyIn":{"../x":{"content":""}}}"#,
                "copyIn \"../x\"",
            ),
            (
                r#"{"args":["a"],"procLimit":1,"files":[{"fileId":"NOPE2345"}]}"#,
                "file does not exists with id: \"NOPE2345\"",
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
            let err = plan(&cmd(json), &settings(), &|_| false)
                .unwrap_err()
                .to_string();
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
        let go = |r: &RunResult, sent: &Sent| result(r, sent, &Outputs::default()).status;
        assert_eq!(
            go(&ran(Status::Ok, Some(0), None, small), &SENT),
            GoStatus::Accepted
        );
        let none = Outputs::default();
        let nz = result(
            &ran(Status::NonzeroExit, Some(3), None, small),
            &SENT,
            &none,
        );
        assert_eq!(
            (nz.status, nz.exit_status),
            (GoStatus::NonzeroExitStatus, 3)
        );
        let sig = result(&ran(Status::Signaled, None, Some(11), small), &SENT, &none);
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
        let r = result(&refused, &SENT, &none);
        assert_eq!(
            (r.status, r.error.as_str(), r.exit_status),
            (GoStatus::DangerousSyscall, "ptrace", 31)
        );
        assert_eq!(
            (r.time, r.memory, r.run_time),
            (1_000_000, (64 << 20) + 1, 2_000_000)
        );
        let internal = result(&RunResult::internal_error("boom".into()), &zero, &none);
        assert_eq!(
            (internal.status, internal.error.as_str()),
            (GoStatus::InternalError, "boom")
        );
    }

    #[test]
    fn files_map_onto_runbox_s_and_back() {
        let (o, _) = options(
            r#"{"args":["a"],"procLimit":1,"files":[{"fileId":"KNOWN234"},{"name":"stdout","max":10},
                {"name":"stderr","max":0}],"copyIn":{"a.cc":{"content":"x"},"/tmp/b":{"fileId":"KNOWN234"}},
                "copyOut":["stdout","out?","/w/abs"],"copyOutCached":["stdout","bin"],"copyOutMax":5}"#,
        );
        assert_eq!(o.stdin, Some(Input::File("KNOWN234".into())));
        assert_eq!(o.stdout, Some(OutputTo::Collect(11)));
        assert_eq!(o.stderr, Some(OutputTo::Collect(1)));
        assert_eq!(o.copy_in.0.len(), 2);
        assert!(o.copy_in.0.iter().all(|c| c.mode == Some(COPY_IN_MODE)));
        // A collector's name in copyOut is no file to read; in copyOutCached, it is cached.
        let names: Vec<_> = o
            .copy_out
            .iter()
            .map(|n| (n.name.as_str(), n.optional))
            .collect();
        assert_eq!(names, [("out", true), ("/w/abs", false)]);
        assert_eq!(o.copy_out_cached.len(), 1);
        assert_eq!(o.copy_out_max.unwrap().get(), 5);
        let Plan::Run(_, _, outputs) = plan(
            &cmd(r#"{"args":["a"],"procLimit":1,"files":[null,{"name":"stdout","max":3}],"copyOutCached":["stdout"]}"#.replace("null,", "{\"content\":\"\"},").as_str()),
            &settings(),
            &|_| false,
        )
        .unwrap() else {
            panic!("answered")
        };
        assert_eq!(outputs.cached, ["stdout"]);

        let outputs = Outputs {
            collectors: [Some(("stdout".into(), 3)), Some(("stderr".into(), 10))],
            cached: vec![],
        };
        let mut run = ran(Status::Ok, Some(0), None, measured(10, 10, 100));
        run.files.stdout = Some("abcd".into());
        run.files.stderr = Some("e".into());
        let r = result(&run, &SENT, &outputs);
        assert_eq!(
            (r.status, r.error.as_str()),
            (GoStatus::OutputLimitExceeded, "Output Limit Exceeded")
        );
        assert_eq!(r.files["stdout"], "abcd");
        assert_eq!(r.file_error[0].kind, "CollectSizeExceeded");
        // Over max after a failure: the failure stays, the file error is recorded.
        run.status = Status::NonzeroExit;
        run.exit_code = Some(1);
        let r = result(&run, &SENT, &outputs);
        assert_eq!(
            (r.status, r.file_error.len()),
            (GoStatus::NonzeroExitStatus, 1)
        );
        // A copy-out problem after a clean exit: File Error with its message.
        let mut run = ran(Status::Ok, Some(0), None, measured(10, 10, 100));
        run.files.file_errors.push(crate::files::FileError {
            name: "out".into(),
            kind: FileErrorKind::NotFound,
            message: "out: not found".into(),
        });
        let r = result(&run, &SENT, &Outputs::default());
        assert_eq!(
            (r.status, r.error.as_str(), r.file_error[0].kind),
            (GoStatus::FileError, "out: not found", "CopyOutOpen")
        );
        // Cached collector output moves into the store.
        let store = FileStore::in_memory(1 << 20);
        let mut run = ran(Status::Ok, Some(0), None, measured(10, 10, 100));
        run.files.stdout = Some("hi".into());
        let outputs = Outputs {
            collectors: [Some(("stdout".into(), 10)), None],
            cached: vec!["stdout".into()],
        };
        let mut r = result(&run, &SENT, &outputs);
        cache_collected(&mut r, &outputs, &store);
        assert!(r.files.is_empty());
        let id = &r.file_ids["stdout"];
        assert_eq!(store.get(id).unwrap().read_all().unwrap(), b"hi");
    }
}
