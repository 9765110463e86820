//! go-judge's REST wire types (GOJUDGE-API.md §2, §4, §5), and how a body becomes a
//! [`Request`]: what a judge sends to `POST /run` and what it gets back, field for field,
//! with go-judge's units (nanoseconds, bytes) and its leniency (no Content-Type check,
//! unknown fields ignored, `null` for absent, keys matched without regard to case, bytes
//! after the first JSON value ignored). Pure: no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A `/run` (or `/ws`) request: the commands and, for two or more, the pipes between them.
#[derive(Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Echoed by `/ws` only; `/run` ignores it.
    pub request_id: Option<String>,
    /// The commands, one result each, in order.
    pub cmd: Option<Vec<Cmd>>,
    /// Pipes between the commands of a group; ignored for a single command.
    pub pipe_mapping: Option<Vec<PipeMap>>,
    /// `/ws` only: cancel the request of this id instead.
    pub cancel_request_id: Option<String>,
}

/// One command. Every limit is in go-judge's unit, and 0 means 0 (no server defaults).
#[derive(Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cmd {
    /// argv.
    pub args: Option<Vec<String>>,
    /// The whole environment, `K=V`.
    pub env: Option<Vec<String>>,
    /// fd i is `files[i]`; `null` is a slot a pipe fills.
    pub files: Option<Vec<Option<CmdFile>>>,
    /// One pty for every slot.
    pub tty: Option<bool>,
    /// CPU time, nanoseconds.
    pub cpu_limit: Option<u64>,
    /// Wall-clock time, nanoseconds; 0: = cpuLimit.
    pub clock_limit: Option<u64>,
    /// Deprecated wall-clock alias; replaces clockLimit when above 0.
    pub real_cpu_limit: Option<u64>,
    /// Memory, bytes.
    pub memory_limit: Option<u64>,
    /// Stack, bytes; 0: not set.
    pub stack_limit: Option<u64>,
    /// Processes and threads.
    pub proc_limit: Option<u64>,
    /// CPU share, 1/1000 of a CPU (go-judge honours it only with a server flag).
    pub cpu_rate_limit: Option<u64>,
    /// A cpuset list.
    pub cpu_set_limit: Option<String>,
    /// Deprecated alias of dataSegmentLimit.
    pub strict_memory_limit: Option<bool>,
    /// RLIMIT_DATA too.
    pub data_segment_limit: Option<bool>,
    /// RLIMIT_AS too.
    pub address_space_limit: Option<bool>,
    /// Files written into the sandbox before the start, by container path.
    pub copy_in: Option<BTreeMap<String, CmdFile>>,
    /// Files read back after the end (`name?`: optional).
    pub copy_out: Option<Vec<String>>,
    /// Files put into the file store after the end.
    pub copy_out_cached: Option<Vec<String>>,
    /// Per-file bound of copyOut and copyOutCached, bytes; 0 or absent: the server's.
    pub copy_out_max: Option<u64>,
    /// Over copyOutMax, keep the first copyOutMax bytes (still a File Error).
    pub copy_out_truncate: Option<bool>,
}

/// A file as a request names it, every field optional: [`CmdFile::kind`] (in `files`) and
/// [`CmdFile::copy_in_kind`] (in `copyIn`) tell which one it is by go-judge's order.
#[derive(Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CmdFile {
    /// A path on the server's host.
    pub src: Option<String>,
    /// Literal content.
    pub content: Option<String>,
    /// A file-store id.
    pub file_id: Option<String>,
    /// A collector's name.
    pub name: Option<String>,
    /// A collector's bound, bytes.
    pub max: Option<i64>,
    /// A collector that is a pipe rather than a file in `/w`.
    pub pipe: Option<bool>,
    /// copyIn only: a symlink to this target.
    pub symlink: Option<String>,
    /// `/stream` only.
    pub stream_in: Option<bool>,
    /// `/stream` only.
    pub stream_out: Option<bool>,
}

/// What a [`CmdFile`] is, by the first of go-judge's rules it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind<'a> {
    /// A host path.
    Src(&'a str),
    /// Literal content.
    Content(&'a str),
    /// A file-store id.
    FileId(&'a str),
    /// An output collector: name, bound (bytes), pipe or file.
    Collector {
        /// The name of its entry in the result's `files`.
        name: &'a str,
        /// At most this many bytes are kept (one more tells it went over).
        max: u64,
        /// A pipe rather than a file at `/w/<name>`.
        pipe: bool,
    },
    /// copyIn only: a symlink to the target.
    Symlink(&'a str),
}

/// A [`CmdFile`] that matches no rule (go-judge: `file type is not valid for cmd`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("file type is not valid for cmd: {0}")]
pub struct InvalidFile(pub String);

impl CmdFile {
    /// What this file is in a `files` slot.
    pub fn kind(&self) -> Result<FileKind<'_>, InvalidFile> {
        if let Some(src) = &self.src {
            return Ok(FileKind::Src(src));
        }
        if let Some(content) = &self.content {
            return Ok(FileKind::Content(content));
        }
        if let Some(id) = &self.file_id {
            return Ok(FileKind::FileId(id));
        }
        if let (Some(name), Some(max)) = (&self.name, self.max) {
            return Ok(FileKind::Collector {
                name,
                // go-judge's max is an int64; a negative bound keeps nothing.
                max: u64::try_from(max).unwrap_or(0),
                pipe: self.pipe.unwrap_or(false),
            });
        }
        Err(InvalidFile(self.describe()))
    }

    /// What this file is in `copyIn`: a symlink first, then the input kinds (a collector is
    /// no input).
    pub fn copy_in_kind(&self) -> Result<FileKind<'_>, InvalidFile> {
        if let Some(target) = &self.symlink {
            return Ok(FileKind::Symlink(target));
        }
        match self.kind()? {
            FileKind::Collector { .. } => Err(InvalidFile(self.describe())),
            kind => Ok(kind),
        }
    }

    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// One pipe between two commands of a group: `in` writes, `out` reads.
#[derive(Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PipeMap {
    /// The writing end: command index and fd.
    #[serde(rename = "in")]
    pub input: Option<PipeIndex>,
    /// The reading end.
    #[serde(rename = "out")]
    pub output: Option<PipeIndex>,
    /// A relay in the server, which keeps draining after the reader ends.
    pub proxy: Option<bool>,
    /// With proxy: the traffic's first `max` bytes go to the writer's `files[name]`.
    pub name: Option<String>,
    /// The capture's bound, bytes.
    pub max: Option<i64>,
}

/// A command's fd.
#[derive(Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipeIndex {
    /// The command's index in `cmd`.
    pub index: Option<u64>,
    /// Its fd.
    pub fd: Option<u64>,
}

/// go-judge's status strings, exactly as on the wire (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoStatus {
    /// Exit 0 within every limit.
    Accepted,
    /// Peak memory over memoryLimit (or the kernel's OOM kill: runbox is sure of it).
    MemoryLimitExceeded,
    /// CPU over cpuLimit, or the wall clock over clockLimit.
    TimeLimitExceeded,
    /// RLIMIT_FSIZE, or a collector over its max after a clean exit.
    OutputLimitExceeded,
    /// A copyIn or copyOut problem.
    FileError,
    /// An exit code other than 0.
    NonzeroExitStatus,
    /// A signal (not a limit's).
    Signalled,
    /// A call the syscall filter refuses.
    DangerousSyscall,
    /// The sandbox could not run it.
    InternalError,
}

impl GoStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            GoStatus::Accepted => "Accepted",
            GoStatus::MemoryLimitExceeded => "Memory Limit Exceeded",
            GoStatus::TimeLimitExceeded => "Time Limit Exceeded",
            GoStatus::OutputLimitExceeded => "Output Limit Exceeded",
            GoStatus::FileError => "File Error",
            GoStatus::NonzeroExitStatus => "Nonzero Exit Status",
            GoStatus::Signalled => "Signalled",
            GoStatus::DangerousSyscall => "Dangerous Syscall",
            GoStatus::InternalError => "Internal Error",
        }
    }
}

impl Serialize for GoStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One command's result (§4): empty `error`, `files`, `fileIds`, `fileError` and a zero
/// `procPeak` are left out; the rest is always there.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CmdResult {
    /// The verdict.
    pub status: GoStatus,
    /// The exit code, or the signal's number.
    pub exit_status: i32,
    /// What went wrong, for a status other than Accepted.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// CPU time, nanoseconds.
    pub time: u64,
    /// Peak memory, bytes.
    pub memory: u64,
    /// Wall-clock time, nanoseconds.
    pub run_time: u64,
    /// Peak process count (runbox does not measure it: always left out).
    #[serde(skip_serializing_if = "is_zero")]
    pub proc_peak: u64,
    /// Collected outputs and copyOut files, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// copyOutCached files' store ids, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub file_ids: BTreeMap<String, String>,
    /// File problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_error: Vec<FileError>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One file problem (§4.2).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file's name as the request gave it (without `?`).
    pub name: String,
    /// go-judge's type string (`CopyOutOpen`, `CollectSizeExceeded`...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What happened.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl CmdResult {
    /// A result for a command the sandbox could not run.
    pub fn internal_error(error: impl Into<String>) -> CmdResult {
        CmdResult {
            status: GoStatus::InternalError,
            exit_status: 0,
            error: error.into(),
            time: 0,
            memory: 0,
            run_time: 0,
            proc_peak: 0,
            files: BTreeMap::new(),
            file_ids: BTreeMap::new(),
            file_error: Vec::new(),
        }
    }
}

/// Why a body is no request (HTTP 400, the message as a JSON string).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or JSON of the wrong shape or type.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// No command.
    #[error("no cmd provided")]
    NoCmd,
}

/// Reads a request the way go-judge does: the first JSON value of the body (what follows it
/// is ignored), object keys matched to field names without regard to case, unknown fields
/// and `null`s ignored.
pub fn parse_request(body: &[u8]) -> Result<Request, BodyError> {
    let request = parse_any(body)?;
    match &request.cmd {
        Some(cmd) if !cmd.is_empty() => Ok(request),
        _ => Err(BodyError::NoCmd),
    }
}

/// Reads a request as [`parse_request`] does, with or without commands (a `/ws` frame may
/// be a cancel order).
pub fn parse_any(body: &[u8]) -> Result<Request, serde_json::Error> {
    serde_json::from_value(canonical_request(first_value(body)?))
}

/// The first JSON value of `body`; bytes after it are ignored, as Go's decoder does.
pub fn first_value(body: &[u8]) -> Result<Value, serde_json::Error> {
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match values.next() {
        Some(value) => value,
        None => serde_json::from_slice(body),
    }
}

const REQUEST_KEYS: &[&str] = &["requestId", "cmd", "pipeMapping", "cancelRequestId"];
const CMD_KEYS: &[&str] = &[
    "args",
    "env",
    "files",
    "tty",
    "cpuLimit",
    "clockLimit",
    "realCpuLimit",
    "memoryLimit",
    "stackLimit",
    "procLimit",
    "cpuRateLimit",
    "cpuSetLimit",
    "strictMemoryLimit",
    "dataSegmentLimit",
    "addressSpaceLimit",
    "copyIn",
    "copyOut",
    "copyOutCached",
    "copyOutMax",
    "copyOutTruncate",
];
const FILE_KEYS: &[&str] = &[
    "src",
    "content",
    "fileId",
    "name",
    "max",
    "pipe",
    "symlink",
    "streamIn",
    "streamOut",
];
const PIPE_KEYS: &[&str] = &["in", "out", "proxy", "name", "max"];
const INDEX_KEYS: &[&str] = &["index", "fd"];

/// The request with every field name spelled as [`Request`] spells it, whatever the case
/// the body used; map keys (copyIn paths) are left as they are.
pub fn canonical_request(value: Value) -> Value {
    canonical(value, REQUEST_KEYS, &|key, value| match key {
        "cmd" => each(value, &|cmd| {
            canonical(cmd, CMD_KEYS, &|key, value| match key {
                "files" => each(value, &canonical_file),
                "copyIn" => match value {
                    Value::Object(map) => Value::Object(
                        map.into_iter()
                            .map(|(path, file)| (path, canonical_file(file)))
                            .collect(),
                    ),
                    other => other,
                },
                _ => value,
            })
        }),
        "pipeMapping" => each(value, &|pipe| {
            canonical(pipe, PIPE_KEYS, &|key, value| match key {
                "in" | "out" => canonical(value, INDEX_KEYS, &|_, v| v),
                _ => value,
            })
        }),
        _ => value,
    })
}

fn canonical_file(value: Value) -> Value {
    canonical(value, FILE_KEYS, &|_, v| v)
}

fn each(value: Value, f: &dyn Fn(Value) -> Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(f).collect()),
        other => other,
    }
}

/// An object's keys renamed to the one of `known` they equal without regard to case (an
/// exact match wins where two keys differ only in case), each value then passed to
/// `inner` with its canonical key; keys not known are dropped.
fn canonical(value: Value, known: &[&'static str], inner: &dyn Fn(&str, Value) -> Value) -> Value {
    let Value::Object(map) = value else {
        return value;
    };
    let mut out = Map::new();
    for (key, value) in map {
        let exact = known.iter().find(|k| **k == key);
        let folded = known.iter().find(|k| k.eq_ignore_ascii_case(&key));
        let Some(name) = exact.or(folded) else {
            continue;
        };
        if exact.is_none() && out.contains_key(*name) {
            continue;
        }
        out.insert((*name).to_string(), inner(name, value));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compile_request_of_go_judge_py_parses() {
        let body = br#"{"cmd":[{"args":["/usr/bin/g++","a.cc","-o","a"],"env":["PATH=/usr/bin:/bin"],
            "files":[{"content":""},{"name":"stdout","max":10240},{"name":"stderr","max":10240}],
            "cpuLimit":30000000000,"clockLimit":60000000000,"memoryLimit":536870912,"procLimit":50,
            "copyIn":{"a.cc":{"content":"int main(){}"}},"copyOut":["stdout","stderr"],"copyOutCached":["a"]}]}"#;
        let request = parse_request(body).unwrap();
        let cmd = &request.cmd.unwrap()[0];
        assert_eq!(cmd.cpu_limit, Some(30_000_000_000));
        assert_eq!(cmd.proc_limit, Some(50));
        let files = cmd.files.as_ref().unwrap();
        assert_eq!(
            files[1].as_ref().unwrap().kind().unwrap(),
            FileKind::Collector {
                name: "stdout",
                max: 10240,
                pipe: false
            }
        );
        assert_eq!(
            files[0].as_ref().unwrap().kind().unwrap(),
            FileKind::Content("")
        );
        assert_eq!(
            cmd.copy_in.as_ref().unwrap()["a.cc"]
                .copy_in_kind()
                .unwrap(),
            FileKind::Content("int main(){}")
        );
    }

    #[test]
    fn input_is_read_leniently() {
        // Keys in any case, unknown fields, nulls, and bytes after the value.
        let body = br#"{"CMD":[{"Args":["x"],"CPULimit":5,"memorylimit":null,"copyOutDir":"d",
            "files":[null,{"NAME":"stdout","Max":3}],"copyIn":{"Keep.Case":{"CONTENT":"c"}}}],
            "pipeMapping":null,"whatever":1} trailing garbage"#;
        let request = parse_request(body).unwrap();
        let cmd = &request.cmd.unwrap()[0];
        assert_eq!(cmd.args.as_deref(), Some(&["x".to_string()][..]));
        assert_eq!(cmd.cpu_limit, Some(5));
        assert_eq!(cmd.memory_limit, None);
        let files = cmd.files.as_ref().unwrap();
        assert!(files[0].is_none());
        assert_eq!(files[1].as_ref().unwrap().name.as_deref(), Some("stdout"));
        assert_eq!(
            cmd.copy_in.as_ref().unwrap()["Keep.Case"]
                .content
                .as_deref(),
            Some("c")
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_a_message() {
        for (body, says) in [
            (&b"not json"[..], "expected"),
            (b"", "EOF"),
            (b"{}", "no cmd provided"),
            (br#"{"cmd":[]}"#, "no cmd provided"),
            (br#"{"cmd":null}"#, "no cmd provided"),
            (br#"{"cmd":[{"cpuLimit":"1"}]}"#, "invalid type"),
            (br#"{"cmd":[{"cpuLimit":-1}]}"#, "invalid value"),
            (br#"{"cmd":[{"cpuLimit":1e9}]}"#, "invalid type"),
            (br#"{"cmd":[{"cpuLimit":1000000000.0}]}"#, "invalid type"),
            (br#"{"cmd":{"args":["x"]}}"#, "invalid type"),
        ] {
            let err = parse_request(body).unwrap_err().to_string();
            assert!(
                err.contains(says),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_file_is_what_the_first_matching_rule_says() {
        let file = |json: &str| serde_json::from_str::<CmdFile>(json).unwrap();
        assert_eq!(
            file(r#"{"src":"/a","content":"b"}"#).kind().unwrap(),
            FileKind::Src("/a")
        );
        assert_eq!(
            file(r#"{"name":"x","max":-4,"pipe":true}"#).kind().unwrap(),
            FileKind::Collector {
                name: "x",
                max: 0,
                pipe: true
            }
        );
        assert!(file(r#"{"name":"x"}"#).kind().is_err());
        assert!(file("{}").kind().is_err());
        assert!(file(r#"{"streamIn":true}"#).kind().is_err());
        assert_eq!(
            file(r#"{"symlink":"t","content":"c"}"#)
                .copy_in_kind()
                .unwrap(),
            FileKind::Symlink("t")
        );
        assert!(file(r#"{"symlink":"t"}"#).kind().is_err());
        assert!(file(r#"{"name":"x","max":1}"#).copy_in_kind().is_err());
        assert!(file(r#"{}"#)
            .kind()
            .unwrap_err()
            .to_string()
            .starts_with("file type is not valid for cmd"));
    }

    #[test]
    fn results_leave_out_what_is_empty() {
        let result = CmdResult::internal_error("");
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status":"Internal Error","exitStatus":0,"time":0,"memory":0,"runTime":0})
        );
        let mut full = CmdResult {
            status: GoStatus::NonzeroExitStatus,
            exit_status: 3,
            error: "x".into(),
            proc_peak: 2,
            ..CmdResult::internal_error("")
        };
        full.files.insert("stdout".into(), "hi".into());
        full.file_ids.insert("a".into(), "ABCDEFGH".into());
        full.file_error.push(FileError {
            name: "o".into(),
            kind: "CopyOutOpen",
            message: String::new(),
        });
        let json = serde_json::to_value(&full).unwrap();
        assert_eq!(json["status"], "Nonzero Exit Status");
        assert_eq!(json["procPeak"], 2);
        assert_eq!(json["fileIds"]["a"], "ABCDEFGH");
        assert_eq!(
            json["fileError"],
            serde_json::json!([{"name":"o","type":"CopyOutOpen"}])
        );
    }

    #[test]
    fn every_status_has_its_exact_wire_string() {
        let all = [
            (GoStatus::Accepted, "Accepted"),
            (GoStatus::MemoryLimitExceeded, "Memory Limit Exceeded"),
            (GoStatus::TimeLimitExceeded, "Time Limit Exceeded"),
            (GoStatus::OutputLimitExceeded, "Output Limit Exceeded"),
            (GoStatus::FileError, "File Error"),
            (GoStatus::NonzeroExitStatus, "Nonzero Exit Status"),
            (GoStatus::Signalled, "Signalled"),
            (GoStatus::DangerousSyscall, "Dangerous Syscall"),
            (GoStatus::InternalError, "Internal Error"),
        ];
        for (status, wire) in all {
            assert_eq!(serde_json::to_value(status).unwrap(), wire);
        }
    }
}
