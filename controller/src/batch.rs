//! `runbox batch`: run requests as JSON lines on stdin, one result line per request on
//! stdout, in completion order, up to `parallel` at once.
//!
//! Each request goes through the one lifecycle ([`crate::run::run`]) with warm pools of
//! `parallel` containers: container-mode requests are served by the pool of their root (the
//! default root's, made at start, or that of their `rootfs`, made on its first request),
//! each run in a fresh room with its own `dir` and `bind`s; namespace-mode requests get a
//! container made for the run; ptrace-mode requests are traced from the
//! worker's own thread. A line that cannot be
//! run (bad JSON, no `argv`, an unknown field, a bad value) is answered with status
//! `internal_error` and a detail saying what is wrong, with its `id` when one could be read;
//! the batch goes on. At EOF runbox finishes what is running and exits 0.
//!
//! A line with a `group` is a group of programs connected by pipes ([`crate::group`]),
//! answered with one line `{"id": ..., "results": [...], "captures": [...]}` when its last
//! program ends, or with `internal_error` and nothing started when the group is wrong.

use crate::answer::{on_runners, result_line, Runs};
use crate::config::Config;
use crate::error::Error;
use crate::files::FileStore;
use crate::group::{GroupError, GroupRequest, GroupResult};
use crate::options::RunOptions;
use crate::result::RunResult;
use serde::Serialize;
use std::io::BufRead;
use std::sync::Mutex;

/// A group's result line: the group's id first, then its members' results and captures.
#[derive(Serialize, Debug)]
struct GroupLine<'a> {
    id: Option<&'a str>,
    #[serde(flatten)]
    result: &'a GroupResult,
}

/// What is wrong with a request line; each message names the field where there is one (as
/// the line spells it: `rootfs`, not `--rootfs`).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A line past [`MAX_LINE`].
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    /// A line that is not UTF-8.
    #[error("not UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not a request: a field missing or unknown.
    #[error("bad request: {0}")]
    Shape(#[source] serde_json::Error),
    /// A field of the wrong type, or a value that does not parse or is past its bounds
    /// (`time: "fast": not a duration`, `memory: must be at most 1T ...`).
    #[error("{field}: {source}")]
    Field {
        /// The field, as the line spells it (`memory`, `bind[1]`).
        field: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// An empty `argv`.
    #[error("argv: no program given")]
    NoProgram,
    /// A file store order that is not one.
    #[error("{0}")]
    Order(&'static str),
    /// A group where one run was asked for.
    #[error("group: a group of runs, where one run is asked for")]
    NotOneRun,
    /// A group that cannot be run as asked (the message names the field).
    #[error("{0}")]
    Group(#[source] GroupError),
}

/// The longest request line read, newline excluded: 16 MiB. A longer one is answered
/// `internal_error` without being kept, and reading goes on after its newline.
pub const MAX_LINE: usize = 16 << 20;

/// The requests of a batch input, parsed, one per line that is not blank: the id where
/// one could be read, and the options or what is wrong. Ends at EOF or a read error.
#[derive(Debug)]
pub struct Requests<R> {
    input: R,
    line: Vec<u8>,
}

/// The requests of `input`, read as bytes: a line that is not UTF-8, or is longer than
/// [`MAX_LINE`], is one bad request, not the end of the batch.
pub fn requests<R: BufRead>(input: R) -> Requests<R> {
    Requests {
        input,
        line: Vec::new(),
    }
}

/// One request line: a run, a group of runs, or an order to the file store.
#[derive(Debug)]
pub enum Request {
    /// A run.
    Run(Box<RunOptions>),
    /// A group of programs connected by pipes.
    Group(GroupRequest),
    /// `{"id": ..., "delete_files": ["ID", ...]}`: remove these stored files.
    DeleteFiles(Vec<String>),
    /// `{"id": ..., "list_files": true}`: list the stored files.
    ListFiles,
}

/// A line that orders the file store about: exactly one of its two orders.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreOrder {
    #[allow(dead_code)] // read from the line itself, first
    id: Option<String>,
    delete_files: Option<Vec<String>>,
    list_files: Option<bool>,
}

impl<R: BufRead> Iterator for Requests<R> {
    type Item = (Option<String>, Result<Request, RequestError>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let fits = read_line(&mut self.input, &mut self.line, MAX_LINE).ok()??;
            if !fits {
                return Some((None, Err(RequestError::TooLong)));
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            match std::str::from_utf8(&self.line) {
                Ok(text) if text.trim().is_empty() => continue,
                _ => return Some(parse_bytes(&self.line)),
            }
        }
    }
}

/// Reads one line into `line`, without its newline. `None` at EOF; `Some(false)` for a
/// line longer than `max` bytes, which is read to its end but not kept.
fn read_line(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    line.clear();
    let (mut any, mut fits) = (false, true);
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let newline = chunk.iter().position(|&b| b == b'\n');
        let end = newline.unwrap_or(chunk.len());
        if fits && line.len() + end <= max {
            line.extend_from_slice(&chunk[..end]);
        } else if fits {
            fits = false;
            line.clear();
        }
        input.consume(newline.map_or(end, |i| i + 1));
        if newline.is_some() {
            break;
        }
    }
    Ok(any.then_some(fits))
}

/// The id of a line that is not UTF-8, where it can be read for sure. In a lossy decode
/// every invalid sequence becomes U+FFFD and nothing else changes: every quote, backslash,
/// brace and comma (all ASCII, never part of a multi-byte sequence) stays, so the JSON has
/// the same structure as the line. An id with no U+FFFD in it is then exactly the bytes
/// the judge wrote. An id with one is not reported (it could be a damaged id, and a judge
/// must never be handed the id of another request), even when the judge wrote U+FFFD
/// itself: no id is better than a wrong one.
fn id_despite_bad_bytes(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let id = value.get("id")?.as_str()?;
    (!id.contains('\u{FFFD}')).then(|| id.to_string())
}

/// Parses one line given as bytes, its newline excluded (a line of stdin, a Redis entry's
/// `request`): one past [`MAX_LINE`] or not UTF-8 is a bad request, with the id where it
/// is certain.
pub fn parse_bytes(line: &[u8]) -> (Option<String>, Result<Request, RequestError>) {
    if line.len() > MAX_LINE {
        return (None, Err(RequestError::TooLong));
    }
    match std::str::from_utf8(line) {
        Ok(text) => parse_request(text),
        Err(e) => {
            let why = RequestError::NotUtf8 {
                offset: e.valid_up_to(),
            };
            (id_despite_bad_bytes(line), Err(why))
        }
    }
}

/// Answers one request line given as bytes: parses it, runs it, and returns its result line
/// (without a newline); a bad line, and a file store order (which only `runbox batch`
/// takes, in the order of its lines), is answered `internal_error`.
pub fn answer(runs: Runs<'_>, line: &[u8]) -> String {
    let (id, parsed) = parse_bytes(line);
    let result = match parsed {
        Ok(Request::Run(options)) => runs.execute(&options, None),
        Ok(Request::Group(group)) => {
            return group_line(id.as_deref(), &runs.execute_group(&group, None))
        }
        Ok(_) => RunResult::internal_error(
            "delete_files and list_files are orders of runbox batch's own file store".into(),
        ),
        Err(why) => RunResult::internal_error(why.to_string()),
    };
    result_line(id.as_deref(), &result)
}

/// Parses one line into its id (when one can be read) and its request: a run, a group
/// (a line with `group`), or a file store order (a line with `delete_files` or
/// `list_files`).
pub fn parse_request(line: &str) -> (Option<String>, Result<Request, RequestError>) {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(e) => return (None, Err(RequestError::NotJson(e))),
    };
    let is_order = value.get("delete_files").is_some() || value.get("list_files").is_some();
    if value.get("group").is_some() {
        let (id, group) = read_fields::<GroupRequest>(value);
        // Checked here, so that a wrong group is answered at once and never started.
        let group = group.and_then(|group| match group.wire() {
            Ok(_) => Ok(Request::Group(group)),
            Err(why) => Err(RequestError::Group(why)),
        });
        return (id, group);
    }
    if !is_order {
        let (id, options) = read_fields::<RunOptions>(value);
        let run = options.and_then(|options| match options.argv.is_empty() {
            true => Err(RequestError::NoProgram),
            false => Ok(Request::Run(Box::new(options))),
        });
        return (id, run);
    }
    let (id, order) = read_fields::<StoreOrder>(value);
    let order = match order {
        Ok(order) => order,
        Err(e) => return (id, Err(e)),
    };
    let request = match (order.delete_files, order.list_files) {
        (Some(ids), None) => Ok(Request::DeleteFiles(ids)),
        (None, Some(true)) => Ok(Request::ListFiles),
        (None, Some(false)) => Err(RequestError::Order("list_files: only true lists the files")),
        _ => Err(RequestError::Order(
            "a request is a run, or one of delete_files and list_files",
        )),
    };
    (id, request)
}

/// The id of a line's JSON (where it is a string) and its fields read as a `T`; an error
/// names the field (or the line as a whole: a field missing or unknown).
fn read_fields<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> (Option<String>, Result<T, RequestError>) {
    let id = value.get("id").and_then(|id| id.as_str()).map(String::from);
    let read = serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let source = e.into_inner();
        match field.as_str() {
            "." => RequestError::Shape(source),
            _ => RequestError::Field { field, source },
        }
    });
    (id, read)
}

/// Parses one line into its id (when one can be read) and its options: a run's only.
pub fn parse_line(line: &str) -> (Option<String>, Result<RunOptions, RequestError>) {
    let (id, request) = parse_request(line);
    let options = request.and_then(|request| match request {
        Request::Run(options) => Ok(*options),
        Request::Group(_) => Err(RequestError::NotOneRun),
        Request::DeleteFiles(_) | Request::ListFiles => Err(RequestError::Order(
            "a file store order, where one run is asked for",
        )),
    });
    (id, options)
}

/// A group's result line (its `internal_error` line when it was not run), without a
/// newline.
fn group_line(id: Option<&str>, answer: &Result<GroupResult, GroupError>) -> String {
    match answer {
        Ok(result) => serde_json::to_string(&GroupLine { id, result })
            .unwrap_or_else(|_| r#"{"status":"internal_error"}"#.into()),
        Err(why) => result_line(id, &RunResult::internal_error(why.to_string())),
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
        self.emit_line(result_line(id, result));
    }

    /// Writes a group's result line, or its `internal_error` line.
    fn emit_group(&self, id: Option<&str>, answer: &Result<GroupResult, GroupError>) {
        self.emit_line(group_line(id, answer));
    }

    /// Writes the answer to a file store order.
    fn emit_answer(&self, answer: &OrderAnswer<'_>) {
        let line = serde_json::to_string(answer)
            .unwrap_or_else(|_| r#"{"status":"internal_error"}"#.into());
        self.emit_line(line);
    }

    fn emit_line(&self, mut line: String) {
        line.push('\n');
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.is_none() {
            if let Err(e) = crate::stdio::write_fully(libc::STDOUT_FILENO, line.as_bytes()) {
                *failed = Some(e);
            }
        }
    }
}

/// The answer to a file store order.
#[derive(Serialize, Debug)]
#[serde(untagged)]
enum OrderAnswer<'a> {
    Deleted {
        id: Option<&'a str>,
        deleted: &'a [String],
    },
    Listed {
        id: Option<&'a str>,
        files: std::collections::BTreeMap<String, String>,
    },
}

/// Carries out a file store order (on the reading thread, in the order of the lines).
fn order(out: &Results, id: Option<&str>, request: &Request, store: &FileStore) {
    match request {
        Request::DeleteFiles(ids) => match store.delete(ids) {
            Ok(()) => out.emit_answer(&OrderAnswer::Deleted { id, deleted: ids }),
            Err(e) => out.emit(id, &RunResult::internal_error(format!("delete_files: {e}"))),
        },
        Request::ListFiles => {
            let files = store.list().into_iter().collect();
            out.emit_answer(&OrderAnswer::Listed { id, files });
        }
        Request::Run(_) | Request::Group(_) => {}
    }
}

/// Reads requests from `input` until EOF, runs them on `parallel` workers, prints results;
/// with a file store in memory of the default bound.
pub fn run_batch(input: impl BufRead, config: &Config, parallel: usize) -> Result<(), Error> {
    run_batch_with_store(input, config, parallel, &FileStore::default())
}

/// [`run_batch`], with `store` for the requests' stored files and store orders.
pub fn run_batch_with_store(
    input: impl BufRead,
    config: &Config,
    parallel: usize,
    store: &FileStore,
) -> Result<(), Error> {
    let out = Results {
        failed: Mutex::new(None),
    };
    let work = |runs: Runs<'_>, (id, request): (Option<String>, Request)| match request {
        Request::Run(options) => out.emit(id.as_deref(), &runs.execute(&options, None)),
        Request::Group(group) => out.emit_group(id.as_deref(), &runs.execute_group(&group, None)),
        Request::DeleteFiles(_) | Request::ListFiles => {}
    };
    on_runners(config, parallel, store, work, |jobs| {
        for (id, parsed) in requests(input) {
            match parsed {
                Ok(request @ (Request::Run(_) | Request::Group(_))) => {
                    let _ = jobs.send((id, request));
                }
                Ok(request) => order(&out, id.as_deref(), &request, store),
                Err(why) => out.emit(id.as_deref(), &RunResult::internal_error(why.to_string())),
            }
        }
    })?;
    match out.failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(Error::io("write a result line to stdout", e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{LimitChoices, Mode, MAX_MEMORY, MAX_PROCESSES, MAX_TIME, MAX_WALL};
    use crate::units::{format_duration, format_size};
    use std::path::PathBuf;

    #[test]
    fn a_full_request_parses() {
        let line = r#"{"id":"a1","argv":["/bin/echo","hi"],"env":["A=1"],"mode":"namespace","time":"500ms","wall":"2s","memory":"64M","stack":"8M","output":"1M","processes":4,"stdin":"/in","stdout":"/out","stderr":"/err","dir":"/d","bind":["/x:/y:rw"],"rootfs":"/r","profile":"default"}"#;
        let (id, options) = parse_line(line);
        assert_eq!(id.as_deref(), Some("a1"));
        let options = options.unwrap();
        assert_eq!(options.mode, Mode::Namespace);
        let limits = options.limits().resolve(&LimitChoices::default());
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
            (r#"{"id":7,"argv":["true"]}"#, None, "invalid type"),
            // Past the bounds, or past 64 bits: named, never wrapped.
            (
                r#"{"id":"p","argv":["true"],"processes":18446744073709551615}"#,
                Some("p"),
                "processes: must be at most 1000000",
            ),
            (
                r#"{"argv":["true"],"processes":18446744073709551616}"#,
                None,
                "processes: 1.8446744073709552e+19 is not a whole number from 1 to 1000000",
            ),
            (
                r#"{"argv":["true"],"processes":-1}"#,
                None,
                "processes: -1 is not a whole number",
            ),
            (
                r#"{"argv":["true"],"processes":2.5}"#,
                None,
                "processes: 2.5 is not a whole number",
            ),
            (
                r#"{"argv":["true"],"processes":"4"}"#,
                None,
                "processes: \"4\" is not a whole number",
            ),
            (
                r#"{"argv":["true"],"processes":1000001}"#,
                None,
                "processes: must be at most 1000000",
            ),
            (
                r#"{"argv":["true"],"time":"18446744073709s"}"#,
                None,
                "time: must be at most 1440m (24 hours)",
            ),
            (
                r#"{"argv":["true"],"wall":"86400.000001s"}"#,
                None,
                "wall: must be at most 1440m (24 hours)",
            ),
            (
                r#"{"argv":["true"],"wall":"18446744073709552s"}"#,
                None,
                "wall: \"18446744073709552s\": too long a duration",
            ),
            (
                r#"{"argv":["true"],"memory":"1025G"}"#,
                None,
                "memory: must be at most 1T (1099511627776 bytes)",
            ),
            (
                r#"{"argv":["true"],"stack":"18446744073709551615K"}"#,
                None,
                "stack: \"18446744073709551615K\": too large a size",
            ),
            (
                r#"{"argv":["true"],"output":"2T"}"#,
                None,
                "output: must be at most 1T",
            ),
        ];
        for (line, id, says) in cases {
            let (got_id, options) = parse_line(line);
            assert_eq!(got_id.as_deref(), id, "{line}");
            let err = options.unwrap_err().to_string();
            assert!(err.contains(says), "{line}: {err}");
        }
    }

    #[test]
    fn a_group_line_is_a_group_and_a_wrong_one_is_answered_at_once() {
        let line = r#"{"id":"g","group":[{"argv":["a"]},{"argv":["b"]}],"pipes":[{"from":{"run":0,"fd":1},"to":{"run":1,"fd":0},"capture":"1K"}]}"#;
        let (id, job) = parse_request(line);
        assert_eq!(id.as_deref(), Some("g"));
        match job.unwrap() {
            Request::Group(group) => assert_eq!(group.pipes.len(), 1),
            other => panic!("{other:?}"),
        }
        let cases = [
            (r#"{"id":"e","group":[]}"#, "group: no program given"),
            (
                r#"{"id":"t","group":[{"argv":["a"]}],"pipes":[{"from":{"run":0,"fd":1},"to":{"run":0,"fd":0},"capture":"1G"}]}"#,
                "pipes[0].capture: must be at most 64M",
            ),
            (
                r#"{"id":"f","group":[{"argv":["a"]}],"pipes":[{"from":{"run":0,"fd":-1},"to":{"run":0,"fd":0}}]}"#,
                "pipes[0].from.fd:",
            ),
            (
                r#"{"id":"u","group":[{"argv":["a"]}],"pipez":[]}"#,
                "pipez: unknown field `pipez`",
            ),
        ];
        for (line, says) in cases {
            let (id, job) = parse_request(line);
            assert!(id.is_some(), "{line}");
            let err = job.unwrap_err().to_string();
            assert!(err.starts_with(says), "{line}: {err}");
        }
        assert!(parse_line(line)
            .1
            .unwrap_err()
            .to_string()
            .contains("a group of runs"));
    }

    #[test]
    fn limits_at_their_bounds_are_accepted() {
        let line = r#"{"argv":["true"],"time":"86400s","wall":"1440m","memory":"1T","stack":"1T","output":"1T","processes":1000000}"#;
        let limits = parse_line(line).1.unwrap().limits();
        assert_eq!(limits.time.map(|t| t.get()), Some(MAX_TIME));
        assert_eq!(limits.wall.map(|w| w.get()), Some(MAX_WALL));
        assert_eq!(limits.memory.map(|m| m.get()), Some(MAX_MEMORY));
        assert_eq!(limits.processes.map(|p| p.get()), Some(MAX_PROCESSES));
    }

    #[test]
    fn store_orders_parse_and_bad_ones_are_named() {
        let (id, order) = parse_request(r#"{"id":"d","delete_files":["AAAAAAAA"]}"#);
        assert_eq!(id.as_deref(), Some("d"));
        assert!(matches!(order.unwrap(), Request::DeleteFiles(ids) if ids == ["AAAAAAAA"]));
        let (_, order) = parse_request(r#"{"id":"l","list_files":true}"#);
        assert!(matches!(order.unwrap(), Request::ListFiles));
        let cases = [
            (r#"{"id":"x","list_files":false}"#, "list_files: only true"),
            (
                r#"{"id":"x","list_files":"yes"}"#,
                "list_files: invalid type",
            ),
            (
                r#"{"id":"x","delete_files":"AAAAAAAA"}"#,
                "delete_files: invalid type",
            ),
            (
                r#"{"id":"x","delete_files":[],"list_files":true}"#,
                "one of delete_files and list_files",
            ),
            (
                r#"{"id":"x","list_files":true,"argv":["true"]}"#,
                "unknown field `argv`",
            ),
        ];
        for (line, says) in cases {
            let (id, order) = parse_request(line);
            assert_eq!(id.as_deref(), Some("x"), "{line}");
            let err = order.unwrap_err().to_string();
            assert!(err.contains(says), "{line}: {err}");
        }
    }

    #[test]
    fn bad_file_fields_name_the_field() {
        let cases = [
            (
                r#"{"argv":["true"],"copy_in":{"../x":{"content":""}}}"#,
                "copy_in:",
            ),
            (
                r#"{"argv":["true"],"copy_in":{"a":{"file":7}}}"#,
                "copy_in.a.file:",
            ),
            (
                r#"{"argv":["true"],"copy_in":{"a":{"content":"x","mode":"9"}}}"#,
                "copy_in.a:",
            ),
            (
                r#"{"argv":["true"],"copy_out":["/etc/passwd"]}"#,
                "copy_out[0]:",
            ),
            (
                r#"{"argv":["true"],"copy_out_cached":"a.out"}"#,
                "copy_out_cached:",
            ),
            (
                r#"{"argv":["true"],"copy_out_max":"lots"}"#,
                "copy_out_max:",
            ),
            (
                r#"{"argv":["true"],"stdin":{"content":1}}"#,
                "stdin.content:",
            ),
            (r#"{"argv":["true"],"stdout":{"collect":"-1"}}"#, "stdout:"),
            (
                r#"{"argv":["true"],"stderr":{"collect":"1K","x":1}}"#,
                "stderr:",
            ),
        ];
        for (line, says) in cases {
            let err = parse_line(line).1.unwrap_err().to_string();
            assert!(err.starts_with(says), "{line}: {err}");
        }
        let (_, ok) = parse_line(
            r#"{"argv":["./a"],"copy_in":{"a":{"file":"AAAAAAAA","mode":"0755"}},"stdin":{"content":"1"},"stdout":{"collect":"1K"},"copy_out":["o?"],"copy_out_cached":["b"],"copy_out_max":"1M"}"#,
        );
        let ok = ok.unwrap();
        assert_eq!(ok.copy_in.0.len(), 1);
        assert_eq!(ok.copy_out_max.map(|m| m.get()), Some(1 << 20));
    }

    /// An id, and the options' argv or the error.
    type Answer = (Option<String>, Result<Vec<String>, String>);

    /// What `requests` makes of `input`.
    fn answers(input: &[u8]) -> Vec<Answer> {
        requests(input)
            .map(|(id, parsed)| {
                let argv = parsed.map_err(|e| e.to_string()).and_then(|r| match r {
                    Request::Run(options) => Ok(options.argv),
                    Request::Group(group) => Ok(vec![format!("group of {}", group.group.len())]),
                    other => Err(format!("not a run: {other:?}")),
                });
                (id, argv)
            })
            .collect()
    }

    #[test]
    fn a_line_that_is_not_utf8_is_one_bad_request_and_the_batch_goes_on() {
        let mut input = Vec::new();
        input.extend_from_slice(b"{\"id\":\"a\",\"argv\":[\"true\"]}\n");
        input.extend_from_slice(b"{\"id\":\"b\",\"argv\":[\"caf\xe9\"]}\n");
        input.extend_from_slice(b"\n   \r\n");
        input.extend_from_slice(b"{\"id\":\"c\xff\",\"argv\":[\"true\"]}\n");
        input.extend_from_slice(b"\xc3\n");
        input.extend_from_slice(b"{\"id\":\"d\",\"argv\":[\"x\"]}\r\n");
        input.extend_from_slice(b"{\"id\":\"e\",\"argv\":[\"y\"]}");
        let got = answers(&input);
        let not_utf8 = |at: usize| Err(format!("not UTF-8: invalid byte at offset {at}"));
        assert_eq!(
            got,
            vec![
                (Some("a".into()), Ok(vec!["true".into()])),
                // The bad bytes are in argv: the id is the judge's own, exactly.
                (Some("b".into()), not_utf8(22)),
                // The bad bytes are in the id: no id rather than a damaged one.
                (None, not_utf8(8)),
                (None, not_utf8(0)),
                (Some("d".into()), Ok(vec!["x".into()])),
                (Some("e".into()), Ok(vec!["y".into()])),
            ]
        );
    }

    #[test]
    fn an_id_is_read_past_bad_bytes_only_when_it_is_certain() {
        for (line, id) in [
            (&b"{\"id\":\"ok\",\"env\":[\"\xff\"]}"[..], Some("ok")),
            // A truncated sequence right before a quote: the quote stays a quote.
            (b"{\"argv\":[\"\xe2\x82\"],\"id\":\"q\"}", Some("q")),
            (b"{\"id\":\"\xe2\x82\"}", None),
            // U+FFFD the judge wrote itself is not told apart: no id.
            (b"{\"id\":\"\\ufffd\",\"x\":\"\xff\"}", None),
            (b"{\"id\":\"\xef\xbf\xbd\",\"x\":\"\xff\"}", None),
            // A key with a bad byte is not `id`.
            (b"{\"i\xffd\":\"k\"}", None),
            (b"\xff{\"id\":\"k\"}", None),
            (b"{\"id\":7,\"x\":\"\xff\"}", None),
        ] {
            assert_eq!(id_despite_bad_bytes(line).as_deref(), id, "{line:?}");
        }
    }

    #[test]
    fn a_line_past_the_bound_is_answered_and_skipped_to_its_newline() {
        let mut input = b"{\"id\":\"long\",\"argv\":[\"".to_vec();
        input.resize(MAX_LINE + 1, b'x');
        input.extend_from_slice(b"\"]}\n{\"id\":\"next\",\"argv\":[\"true\"]}\n");
        let got = answers(&input);
        assert_eq!(
            got,
            vec![
                (None, Err(format!("line longer than {MAX_LINE} bytes"))),
                (Some("next".into()), Ok(vec!["true".into()])),
            ]
        );
        // At the bound exactly, the line is read (and here is not JSON).
        let mut at = vec![b' '; MAX_LINE - 2];
        at.extend_from_slice(b"{}\n");
        assert!(answers(&at)[0]
            .1
            .as_ref()
            .unwrap_err()
            .contains("missing field"));
    }

    #[test]
    fn lines_are_read_whatever_the_buffer_size() {
        let text = b"ab\n\ncdef\nghijklmnop\nq";
        for capacity in 1..8 {
            let mut input = std::io::BufReader::with_capacity(capacity, &text[..]);
            let mut line = Vec::new();
            let mut got = Vec::new();
            while let Some(fits) = read_line(&mut input, &mut line, 4).unwrap() {
                got.push(fits.then(|| String::from_utf8(line.clone()).unwrap()));
            }
            let want = [Some("ab"), Some(""), Some("cdef"), None, Some("q")];
            assert_eq!(
                got,
                want.map(|w| w.map(String::from)),
                "capacity {capacity}"
            );
        }
    }

    use proptest::prelude::*;

    /// A request's JSON value for a field: a string, or now and then a number or nothing.
    fn field() -> impl Strategy<Value = Option<serde_json::Value>> {
        prop_oneof![
            Just(None),
            "[0-9]{0,22}(\\.[0-9]{0,20})?(us|ms|s|m|K|M|G|T|KiB|B|x|)".prop_map(|s| Some(s.into())),
            "\\PC{0,12}".prop_map(|s| Some(s.into())),
            any::<u64>().prop_map(|n| Some(n.into())),
            any::<i64>().prop_map(|n| Some(n.into())),
            any::<f64>().prop_map(|n| Some(n.into())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn any_text_is_answered_without_a_panic(line in "\\PC{0,80}") {
            let _ = parse_line(&line);
        }

        #[test]
        fn any_bytes_are_answered_line_by_line_without_a_panic(
            input in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let lines = input.split(|&b| b == b'\n').filter(|l| {
                std::str::from_utf8(l).map_or(true, |t| !t.trim().is_empty())
            });
            // One answer per line that is not blank (a final empty piece is no line).
            prop_assert_eq!(requests(&input[..]).count(), lines.count());
        }

        #[test]
        fn every_accepted_request_is_within_the_bounds(
            time in field(), wall in field(), memory in field(), stack in field(),
            output in field(), processes in field(),
        ) {
            let mut request = serde_json::json!({"id": "r", "argv": ["true"]});
            for (key, value) in [
                ("time", time), ("wall", wall), ("memory", memory), ("stack", stack),
                ("output", output), ("processes", processes),
            ] {
                if let Some(value) = value {
                    request[key] = value;
                }
            }
            let line = request.to_string();
            let (id, parsed) = parse_line(&line);
            prop_assert_eq!(id.as_deref(), Some("r"));
            if let Ok(options) = parsed {
                // The limits' types hold only values within the bounds; resolved, so are
                // the defaults they make.
                let limits = options.limits().resolve(&LimitChoices::default());
                prop_assert_eq!(limits.check(), Ok(()));
                prop_assert!(limits.wall <= MAX_WALL && limits.time <= MAX_TIME);
            }
        }

        #[test]
        fn limits_written_out_parse_back(limits in crate::spec::limits_within_bounds()) {
            let all = limits.resolve(&LimitChoices::default());
            let line = serde_json::json!({
                "argv": ["true"],
                "time": format_duration(all.time),
                "wall": format_duration(all.wall),
                "memory": format_size(all.memory),
                "stack": format_size(all.stack),
                "output": format_size(all.output),
                "processes": all.processes,
            });
            prop_assert_eq!(parse_line(&line.to_string()).1.unwrap().limits(), limits);
        }
    }
}
