//! `runbox batch`: run requests as JSON lines on stdin, one result line per request on
//! stdout, in completion order, up to `parallel` at once.
//!
//! Container-mode requests with the default root go to a pool of `parallel` warm
//! containers; a request with its own root (`dir`, `bind`, `rootfs`) gets a container of
//! its own for that run; namespace-mode requests get fresh namespaces; ptrace-mode requests
//! are traced from the worker's own thread. A line that cannot be
//! run (bad JSON, no `argv`, an unknown field, a bad value) is answered with status
//! `internal_error` and a detail saying what is wrong, with its `id` when one could be read;
//! the batch goes on. At EOF runbox finishes what is running and exits 0.

use crate::container::{Container, ContainerConfig};
use crate::error::Error;
use crate::namespace;
use crate::options::{OutputDefault, RunOptions};
use crate::pool::Pool;
use crate::result::RunResult;
use crate::spec::{LimitChoices, Mode};
use crate::units::{parse_duration, parse_size};
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

/// One request line, as written. Every field but `argv` is optional; an unknown field is
/// an error, not ignored.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RequestLine {
    /// Read from the raw JSON before this parse (so a bad line keeps its id); declared here
    /// so that it is a known field of type string.
    #[allow(dead_code)]
    id: Option<String>,
    argv: Vec<String>,
    env: Option<Vec<String>>,
    mode: Option<String>,
    time: Option<String>,
    wall: Option<String>,
    memory: Option<String>,
    stack: Option<String>,
    output: Option<String>,
    processes: Option<u64>,
    stdin: Option<PathBuf>,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
    dir: Option<PathBuf>,
    bind: Option<Vec<String>>,
    rootfs: Option<PathBuf>,
    profile: Option<String>,
    allow_read: Option<Vec<String>>,
    allow_write: Option<Vec<String>>,
}

/// A result line: the `run --json` object with the request's id first.
#[derive(Serialize, Debug)]
struct ResultLine<'a> {
    id: Option<&'a str>,
    #[serde(flatten)]
    result: &'a RunResult,
}

/// Parses one line into its id (when one can be read) and its options.
pub fn parse_line(line: &str) -> (Option<String>, Result<RunOptions, String>) {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(e) => return (None, Err(format!("not valid JSON: {e}"))),
    };
    let id = value.get("id").and_then(|id| id.as_str()).map(String::from);
    let request: RequestLine = match serde_json::from_value(value) {
        Ok(request) => request,
        Err(e) => return (id, Err(format!("bad request: {e}"))),
    };
    (id, options(request))
}

fn options(r: RequestLine) -> Result<RunOptions, String> {
    let duration = |field: &str, v: Option<String>| {
        v.map(|v| parse_duration(&v))
            .transpose()
            .map_err(|e| format!("{field}: {e}"))
    };
    let size = |field: &str, v: Option<String>| {
        v.map(|v| parse_size(&v))
            .transpose()
            .map_err(|e| format!("{field}: {e}"))
    };
    let mode = match r.mode.as_deref() {
        None => Mode::Container,
        Some(name) => Mode::parse(name).map_err(|e| format!("mode: {e}"))?,
    };
    if let Some(profile) = r
        .profile
        .as_deref()
        .filter(|p| crate::config::current().get(p).is_none())
    {
        return Err(format!("profile: unknown profile {profile:?}"));
    }
    if r.argv.is_empty() {
        return Err("argv: no program given".into());
    }
    let bind = r
        .bind
        .unwrap_or_default()
        .iter()
        .map(|b| b.parse().map_err(|e| format!("bind {b:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let limits = LimitChoices {
        time: duration("time", r.time)?,
        wall: duration("wall", r.wall)?,
        memory: size("memory", r.memory)?,
        stack: size("stack", r.stack)?,
        output: size("output", r.output)?,
        processes: r.processes,
    };
    limits.check()?;
    Ok(RunOptions {
        mode,
        limits,
        stdin: r.stdin,
        stdout: r.stdout,
        stderr: r.stderr,
        dir: r.dir,
        bind,
        rootfs: r.rootfs,
        env: r.env,
        profile: r.profile,
        allow_read: r.allow_read.unwrap_or_default(),
        allow_write: r.allow_write.unwrap_or_default(),
        argv: r.argv,
    })
}

/// Runs one parsed request.
fn execute(options: &RunOptions, pool: &Pool) -> RunResult {
    let stdio = match options.open_stdio(OutputDefault::Discard) {
        Ok(stdio) => stdio,
        Err(e) => return RunResult::internal_error(e),
    };
    let fds = stdio.borrow();
    let (config, spec) = match options.resolve() {
        Ok(resolved) => (resolved.config, resolved.spec),
        Err(e) => return RunResult::internal_error(e),
    };
    let default_root = config.root == ContainerConfig::default().root;
    let limits = &spec.limits;
    let outcome = match options.mode {
        // No wire request: the program is traced from this worker's process.
        Mode::Ptrace => {
            return crate::ptrace::run(&spec, options.dir.as_deref(), fds)
                .unwrap_or_else(|e| RunResult::internal_error(e.to_string()))
        }
        Mode::Container if default_root => spec
            .to_wire()
            .and_then(|wire| pool.run(&wire.run(), fds, limits)),
        Mode::Container => spec.to_wire().and_then(|wire| {
            Container::create(&config).and_then(|mut c| c.run(&wire.run(), fds, limits))
        }),
        Mode::Namespace => spec
            .to_wire()
            .and_then(|wire| namespace::run(&config, &wire.run(), fds, limits)),
    };
    match outcome {
        Ok(outcome) => RunResult::from_outcome(&outcome, &spec.limits, &spec.argv[0]),
        Err(e) => RunResult::internal_error(e.to_string()),
    }
}

/// Where result lines go: runbox's stdout, one whole line per write, and whether one of
/// them could not be written.
struct Results {
    failed: Mutex<Option<std::io::Error>>,
}

impl Results {
    /// Writes one result line; a failure is kept (the batch then ends as an internal error).
    fn emit(&self, id: Option<&str>, result: &RunResult) {
        let mut line = serde_json::to_string(&ResultLine { id, result })
            .unwrap_or_else(|_| r#"{"status":"internal_error"}"#.into());
        line.push('\n');
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.is_none() {
            if let Err(e) = crate::stdio::write_fully(libc::STDOUT_FILENO, line.as_bytes()) {
                *failed = Some(e);
            }
        }
    }
}

/// Reads requests from `input` until EOF, runs them on `parallel` workers, prints results.
pub fn run_batch(input: impl BufRead, parallel: usize) -> Result<(), Error> {
    let parallel = parallel.max(1);
    let pool = Pool::new(ContainerConfig::default(), parallel)?;
    let out = Results {
        failed: Mutex::new(None),
    };
    let (jobs, inbox) = mpsc::channel::<(Option<String>, RunOptions)>();
    let inbox = Arc::new(Mutex::new(inbox));
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            let inbox = Arc::clone(&inbox);
            let (pool, out) = (&pool, &out);
            scope.spawn(move || loop {
                let job = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((id, options)) = job else { break };
                out.emit(id.as_deref(), &execute(&options, pool));
            });
        }
        for line in input.lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(&line) {
                (id, Ok(options)) => {
                    let _ = jobs.send((id, options));
                }
                (id, Err(why)) => out.emit(id.as_deref(), &RunResult::internal_error(why)),
            }
        }
        drop(jobs);
    });
    match out.failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(Error::io("write a result line to stdout", e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_request_parses() {
        let line = r#"{"id":"a1","argv":["/bin/echo","hi"],"env":["A=1"],"mode":"namespace","time":"500ms","wall":"2s","memory":"64M","stack":"8M","output":"1M","processes":4,"stdin":"/in","stdout":"/out","stderr":"/err","dir":"/d","bind":["/x:/y:rw"],"rootfs":"/r","profile":"default"}"#;
        let (id, options) = parse_line(line);
        assert_eq!(id.as_deref(), Some("a1"));
        let options = options.unwrap();
        assert_eq!(options.mode, Mode::Namespace);
        let limits = options.limits.resolve(&LimitChoices::default());
        assert_eq!(limits.memory, 64 << 20);
        assert_eq!(limits.wall, std::time::Duration::from_secs(2));
        assert_eq!(options.bind[0].target, PathBuf::from("/y"));
        assert_eq!(options.env, Some(vec!["A=1".to_string()]));
    }

    #[test]
    fn bad_lines_say_what_is_wrong_and_keep_their_id() {
        let cases = [
            ("not json", None, "not valid JSON"),
            (r#"{"id":"x"}"#, Some("x"), "missing field `argv`"),
            (
                r#"{"id":"y","argv":["true"],"memroy":"1M"}"#,
                Some("y"),
                "unknown field `memroy`",
            ),
            (
                r#"{"id":"z","argv":["true"],"time":"fast"}"#,
                Some("z"),
                "time:",
            ),
            (r#"{"argv":["true"],"mode":"vm"}"#, None, "mode:"),
            (r#"{"argv":[]}"#, None, "no program"),
            (
                r#"{"id":"m","argv":["true"],"memory":"1K"}"#,
                Some("m"),
                "memory: must be at least",
            ),
            (
                r#"{"argv":["true"],"time":"0s"}"#,
                None,
                "time: must be more than zero",
            ),
            (
                r#"{"argv":["true"],"processes":0}"#,
                None,
                "processes: must be at least 1",
            ),
            (
                r#"{"argv":["true"],"profile":"nope"}"#,
                None,
                "unknown profile",
            ),
            (r#"{"id":7,"argv":["true"]}"#, None, "invalid type"),
        ];
        for (line, id, says) in cases {
            let (got_id, options) = parse_line(line);
            assert_eq!(got_id.as_deref(), id, "{line}");
            let err = options.unwrap_err();
            assert!(err.contains(says), "{line}: {err}");
        }
    }
}
