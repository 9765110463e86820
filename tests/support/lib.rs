//! Helpers for the integration tests: find the built binaries, run `runbox run --json`, and
//! look for processes left behind on the host.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Writes one test case per mode from one body, so that a failure in one mode hides no
/// other's: `fn name(mode) { .. }` becomes the module `name` with the tests
/// `name::container` and `name::namespace` (the two isolation modes, where every behaviour
/// test runs), `fn name(mode in container, namespace, ptrace) { .. }` one test for each
/// mode named. The body sees `mode` as the mode's name (`"container"`) and the test file's
/// items as its own. The cases run in parallel threads like any tests: a fixed name a body
/// makes on the host must tell the modes apart ([`TempDir::new`] names are unique), and a
/// body that asserts the host's global state ([`assert_nothing_left`]) holds
/// [`one_at_a_time`] first.
#[macro_export]
macro_rules! each_mode {
    ($(#[$meta:meta])* fn $name:ident($mode:ident) $body:block) => {
        $crate::each_mode! { $(#[$meta])* fn $name($mode in container, namespace) $body }
    };
    ($(#[$meta:meta])* fn $name:ident($mode:ident in $($each:ident),+) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($mode: &str) $body

            $(
                #[test]
                fn $each() {
                    body(stringify!($each))
                }
            )+
        }
    };
}

/// A binary of this build: the test binaries run from target/<profile>/deps, the binaries
/// sit one level up.
fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is not built: run the suite with `cargo test`",
        bin.display()
    );
    bin
}

/// The `runbox` binary of this build, or `$RUNBOX_BIN`.
pub fn runbox_bin() -> PathBuf {
    std::env::var_os("RUNBOX_BIN").map_or_else(|| built("runbox"), PathBuf::from)
}

/// A binary of this build (a test program), as a string.
pub fn built_bin(name: &str) -> String {
    built(name).to_string_lossy().into_owned()
}

/// The probe program of this build.
pub fn probe_bin() -> PathBuf {
    built("runbox-probe")
}

/// Where the probe appears inside a sandbox started with [`probe_bind`].
pub const PROBE: &str = "/probe";

/// The `--bind` argument that puts the probe at [`PROBE`].
pub fn probe_bind() -> String {
    format!("{}:{PROBE}", probe_bin().display())
}

/// What one `runbox run` printed and returned.
#[derive(Debug)]
pub struct Ran {
    /// The JSON result (Null if there was none).
    pub result: Value,
    /// The program's stdout (everything before the result line).
    pub stdout: Vec<u8>,
    /// runbox's and the program's stderr.
    pub stderr: String,
    /// runbox's exit code.
    pub code: i32,
}

impl Ran {
    /// The result's status.
    pub fn status(&self) -> &str {
        self.result["status"].as_str().unwrap_or("<no result>")
    }

    /// The program's stdout as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// How many times slower than native this machine runs the tests' programs:
/// `$RUNBOX_TEST_SLOWDOWN`, 1 when unset. The emulated x86_64 guest sets it (TCG runs a
/// program's start-up, page faults and syscalls many times slower than a native CPU).
/// The CPU budget of a run whose time is not what its test checks is that many times
/// larger ([`budget`]), and so are the tolerances of the timing checks; the limits under
/// test are not.
pub fn slowdown() -> u32 {
    match std::env::var("RUNBOX_TEST_SLOWDOWN") {
        Err(_) => 1,
        Ok(text) => match text.parse::<u32>() {
            Ok(factor) if factor >= 1 => factor,
            _ => panic!("RUNBOX_TEST_SLOWDOWN={text}: a whole factor of 1 or more"),
        },
    }
}

/// A CPU budget of `ms` native milliseconds on this machine ([`slowdown`] times it), as a
/// `--time` value.
pub fn budget(ms: u64) -> String {
    format!("{}ms", ms * u64::from(slowdown()))
}

/// The bound of a timing check, ms: `native` on a native machine, `emulated` on a slow one
/// ([`slowdown`] above 1: the emulated x86_64 guest, where it was sized from what was
/// measured; see the README, Tests).
pub fn tolerance(native: u64, emulated: u64) -> u64 {
    match slowdown() {
        1 => native,
        _ => emulated,
    }
}

/// `runbox run --json --mode MODE OPTIONS -- ARGV`: the program's stdout is runbox's stdout,
/// and the result is its last line. Without a `--time` in `options`, on a slow machine
/// ([`slowdown`]) the run gets [`budget`]`(1000)`, runbox's default of 1 s natively.
pub fn run(mode: &str, options: &[&str], argv: &[&str]) -> Ran {
    let mut command = Command::new(runbox_bin());
    command.args(["run", "--json", "--mode", mode]);
    if slowdown() > 1 && !options.contains(&"--time") {
        command.args(["--time", &budget(1000)]);
    }
    command.args(options).arg("--").args(argv);
    finish(command.stdin(Stdio::null()).output().expect("spawn runbox"))
}

/// `runbox batch --parallel N` fed `input`: asserts it exits 0 by itself within two
/// minutes ([`slowdown`] times that) and returns its result lines, parsed, in the order
/// they came. On a slow machine ([`slowdown`]) a request without a "time" gets
/// [`budget`]`(1000)`.
pub fn batch(input: &str, parallel: u32) -> Vec<Value> {
    use std::io::Write;
    let input: String = match slowdown() {
        1 => input.to_string(),
        _ => input.lines().map(with_budget).collect(),
    };

    // Under `timeout`: a batch that hangs fails its test instead of stalling the suite.
    let mut child = Command::new("timeout")
        .arg((120 * slowdown()).to_string())
        .arg(runbox_bin())
        .args(["batch", "--parallel", &parallel.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn runbox batch");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(input.as_bytes())
        .expect("write the requests");
    let output = child.wait_with_output().expect("wait for runbox batch");
    assert_eq!(output.status.code(), Some(0), "runbox batch exits 0");
    String::from_utf8(output.stdout)
        .expect("UTF-8 results")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON result line"))
        .collect()
}

/// A batch line, with [`budget`]`(1000)` as its "time" if it is a request without one.
fn with_budget(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(mut request))
            if request.contains_key("argv") && !request.contains_key("time") =>
        {
            request.insert("time".into(), budget(1000).into());
            format!("{}\n", Value::Object(request))
        }
        _ => format!("{line}\n"),
    }
}

/// A number field of the result.
pub fn num(ran: &Ran, field: &str) -> u64 {
    ran.result[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {ran:?}"))
}

/// The result has this status and detail, and runbox itself did its job (exit 0).
pub fn assert_verdict(ran: &Ran, status: &str, detail: &str, what: &str) {
    assert_eq!(ran.status(), status, "{what}: {ran:?}");
    assert_eq!(ran.result["detail"], detail, "{what}: {ran:?}");
    assert_eq!(ran.code, 0, "{what}: runbox did its job");
}

/// Splits runbox's output into the program's stdout and the result line.
pub fn finish(output: Output) -> Ran {
    let mut stdout = output.stdout;
    let mut result = Value::Null;
    // The result is the last line; the program's output before it may lack a newline.
    let marker = b"{\"status\"";
    if let Some(start) = stdout.windows(marker.len()).rposition(|w| w == marker) {
        if let Ok(value) = serde_json::from_slice(&stdout[start..]) {
            result = value;
            stdout.truncate(start);
        }
    }
    Ran {
        result,
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

/// Every host process but this one, as (pid, command line with spaces for NULs).
fn host_processes() -> Vec<(u32, String)> {
    let pids = std::fs::read_dir("/proc").expect("read /proc").flatten();
    pids.filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
        })
        .collect()
}

/// Host processes whose command line contains `needle`, as (pid, command line).
pub fn processes_with(needle: &str) -> Vec<(u32, String)> {
    host_processes()
        .into_iter()
        .filter(|(_, cmdline)| cmdline.contains(needle))
        .collect()
}

/// Host processes running as a sandbox's uid (any of [`runbox::sandbox_ids`]'s range), as
/// (pid, command line). Without root a sandbox runs as the user, as this test does: then
/// the containers' inits (a container's processes end with its init, the PID 1 of their
/// namespace).
pub fn sandbox_processes() -> Vec<(u32, String)> {
    match runbox::container::rootless() {
        true => processes_with("runbox-init"),
        false => processes_as(runbox::sandbox_ids::is_sandbox_id),
    }
}

/// Host processes whose real uid passes `wanted`, zombies left out, as (pid, command line).
fn processes_as(wanted: impl Fn(u32) -> bool) -> Vec<(u32, String)> {
    let runs_as_sandbox = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .unwrap_or("")
                .to_string()
        };
        // A zombie whose parent was killed is the host init's to reap; it holds nothing.
        let zombie = field("State:").contains('Z');
        let uid = field("Uid:")
            .split_whitespace()
            .nth(1)
            .map(str::parse::<u32>);
        !zombie && matches!(uid, Some(Ok(uid)) if wanted(uid))
    };
    host_processes()
        .into_iter()
        .filter(|&(pid, _)| runs_as_sandbox(pid))
        .collect()
}

/// A fresh host directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `runbox-test-<name>-<pid>-<n>`, `n` counting the dirs this process made: a
    /// name of its own even where tests (one a mode) running at once ask for the same.
    pub fn new(name: &str) -> TempDir {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("runbox-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    /// A path inside it, as a string.
    pub fn join(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// runbox's cgroups (`c-*` below the runbox parents) that exist now.
pub fn runbox_cgroups() -> Vec<PathBuf> {
    let parents: Vec<PathBuf> = match runbox::cgroup::layout() {
        Ok(runbox::cgroup::detect::Layout::V1 {
            cpuacct,
            memory,
            pids,
        }) => {
            vec![cpuacct.clone(), memory.clone(), pids.clone()]
        }
        Ok(runbox::cgroup::detect::Layout::V2 { dir }) => vec![dir.clone()],
        Err(_) => vec![],
    };
    parents
        .iter()
        .filter_map(|p| std::fs::read_dir(p).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("c-"))
        .map(|e| e.path())
        .collect()
}

/// Serialises the tests that measure time: on a 2-CPU machine, two busy runs at once
/// would skew each other's figures.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The host's mount table, as this process sees it.
pub fn host_mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo")
}

/// Asserts that runbox left nothing on the host: no process of a sandbox uid, no cgroup of
/// its own, no ptrace work directory, nothing staged in `/run/runbox`, and the host's mount
/// table as it was when this test process first asked (runbox never mounts on the host).
pub fn assert_nothing_left(what: &str) {
    static MOUNTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let mounts_before = MOUNTS.get_or_init(host_mounts);
    assert_eq!(sandbox_processes(), vec![], "{what}: processes left");
    assert_eq!(
        runbox_cgroups(),
        Vec::<PathBuf>::new(),
        "{what}: cgroups left"
    );
    let work_dirs: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .expect("read the temp dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("runbox-ptrace-"))
        .collect();
    assert_eq!(
        work_dirs,
        Vec::<String>::new(),
        "{what}: ptrace work dirs left"
    );
    assert_eq!(&host_mounts(), mounts_before, "{what}: host mounts changed");
    let state: Vec<_> = std::fs::read_dir("/run/runbox")
        .map_or(vec![], |d| d.flatten().map(|e| e.file_name()).collect());
    assert!(
        state.iter().all(|n| n == "root"),
        "{what}: /run/runbox holds {state:?}"
    );
    if let Ok(stage) = std::fs::read_dir("/run/runbox/root") {
        assert_eq!(stage.count(), 0, "{what}: the staging dir is not empty");
    }
}
