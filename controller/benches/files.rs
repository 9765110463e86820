//! Files in and out of a warm container, beside the same run without them (run as root:
//! `scripts/bench.sh`, or `cargo bench --bench files` after it built target/bench/). Every
//! figure is a median and p90 in microseconds over runs interleaved with what they are
//! compared to.
//!
//! 1. through the library, in one warm container: a 1 MiB static program copied in from
//!    the file store, run, and its 4 KiB output copied out, beside the same program bound
//!    into the root (target: at most 0.3 ms more);
//! 2. through `runbox batch`: the compile-once, run-many flow (g++ with `copy_out_cached`,
//!    then 50 runs of the stored binary, each with its input as content and its output
//!    collected), per test run beside a plain warm run of the same binary.

#[path = "table/mod.rs"]
mod table;

use runbox::files::collect::Collector;
use runbox::files::{self, FileSpec, FileStore, RunFiles};
use runbox::{Container, ContainerConfig, Outcome, RunSpec};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use table::{header, micros, row};

const N: usize = 300;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` builds benches in test mode: nothing to check here.
    }
    let bench = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench");
    let program = format!("{bench}/write4k-1m");
    assert!(
        Path::new(&program).exists(),
        "{program}: a static program padded to 1 MiB that writes 4 KiB to ./out (scripts/bench.sh builds it)"
    );
    library(&program);
    batch(bench);
}

fn library(program: &str) {
    header("1. copy_in of a 1 MiB binary from the store + run + copy_out of 4 KiB, in one warm container");
    let null = std::fs::File::open("/dev/null").unwrap();
    let stdio = [null.as_fd(), null.as_fd(), null.as_fd()];
    let bound = ContainerConfig {
        root: runbox::mount::RootSpec {
            binds: vec![format!("{program}:/prog").parse().unwrap()],
            ..Default::default()
        },
        ..ContainerConfig::default()
    };
    let in_root = bound.room().unwrap();
    let fresh = ContainerConfig::default().room().unwrap();
    let store = FileStore::default();
    let id = store
        .add("a.out", &std::fs::read(program).unwrap())
        .unwrap();
    let spec_in_root = RunSpec::new(vec!["/prog".into()]);
    let mut spec = RunSpec::new(vec!["/w/a.out".into()]);
    let request = json!({"copy_in": {"a.out": {"file": id}}, "copy_out": ["out"]});
    spec.files = FileSpec {
        copy_in: serde_json::from_value::<files::CopyInList>(request["copy_in"].clone())
            .unwrap()
            .0,
        copy_out: serde_json::from_value(request["copy_out"].clone()).unwrap(),
        ..FileSpec::default()
    };
    let (wire_root, wire) = (spec_in_root.to_wire().unwrap(), spec.to_wire().unwrap());
    let mut container = Container::create(&ContainerConfig::default()).expect("a container (root)");
    let (mut plain, mut copied) = (Vec::new(), Vec::new());
    for _ in 0..N {
        let t = Instant::now();
        let outcome = container
            .run(&in_root, &wire_root.run(), &stdio, &spec_in_root.limits)
            .unwrap();
        assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
        plain.push(micros(t));
        let t = Instant::now();
        // The whole of a run with files, as the lifecycle does it: the inputs opened
        // (the store looked up), written in, the run, the output read.
        let inputs = files::open_inputs(&spec.files, Some(&store)).unwrap();
        let mut collectors: [Collector; 0] = [];
        let mut run_files = RunFiles {
            inputs: &inputs,
            spec: &spec.files,
            collectors: &mut collectors,
            store: Some(&store),
            cancel: None,
            out: Default::default(),
        };
        let outcome = container
            .run_files(
                &fresh,
                &wire.run(),
                &stdio,
                &spec.limits,
                Some(&mut run_files),
            )
            .unwrap();
        copied.push(micros(t));
        assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
        assert_eq!(
            run_files.out.files["out"].len(),
            4096,
            "{:?}",
            run_files.out
        );
    }
    let a = row("the program bound into the root, its output left", plain);
    let b = row(
        "copied in from the store, its 4 KiB output copied out",
        copied,
    );
    println!(
        "difference of medians: {} us (target <= 300)",
        b as i64 - a as i64
    );
}

/// One `runbox batch --parallel 1`, asked one line at a time.
struct Session {
    child: std::process::Child,
    output: BufReader<std::process::ChildStdout>,
}

impl Session {
    fn ask(&mut self, request: &Value) -> (Value, u64) {
        let t = Instant::now();
        let input = self.child.stdin.as_mut().unwrap();
        writeln!(input, "{request}").unwrap();
        input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        (serde_json::from_str(&line).unwrap(), micros(t))
    }
}

fn batch(bench: &str) {
    header("2. compile once (g++, copy_out_cached), run 50 tests from the stored binary, through runbox batch");
    let runbox = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/runbox");
    let mut child = Command::new(runbox)
        .args(["batch", "--parallel", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("target/release/runbox (cargo build --release)");
    let output = BufReader::new(child.stdout.take().unwrap());
    let mut s = Session { child, output };
    let source = "#include <cstdio>\nint main(){long a,b;if(scanf(\"%ld %ld\",&a,&b)!=2)return 1;printf(\"%ld\\n\",a+b);}";
    let (built, compile_us) = s.ask(&json!({
        "argv": ["/usr/bin/g++", "-O2", "-static", "-o", "a.out", "main.cpp"], "profile": "gpp",
        "copy_in": {"main.cpp": {"content": source}}, "copy_out_cached": ["a.out"]}));
    assert_eq!(built["status"], "ok", "{built}");
    let id = built["file_ids"]["a.out"].as_str().unwrap().to_string();
    println!(
        "compile (g++ -O2 -static, copy_out_cached): {} ms",
        compile_us / 1000
    );
    // The same binary on the host, bound in, for the plain warm runs.
    let host_binary = format!("{bench}/sum-static");
    let status = Command::new("/usr/bin/g++")
        .args(["-O2", "-static", "-o", &host_binary, "-x", "c++", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(source.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(status.success());
    let input = format!("{bench}/sum-input");
    std::fs::write(&input, "20 22\n").unwrap();
    let (mut plain, mut flow) = (Vec::new(), Vec::new());
    for test in 0..50 {
        let (got, us) = s.ask(&json!({"argv": ["/sum"], "profile": "cpp",
            "bind": [format!("{host_binary}:/sum")], "stdin": input}));
        assert_eq!(got["status"], "ok", "{got}");
        plain.push(us);
        let (got, us) = s.ask(&json!({"argv": ["./a.out"], "profile": "cpp",
            "copy_in": {"a.out": {"file": id}},
            "stdin": {"content": format!("{test} {}\n", test + 1)},
            "stdout": {"collect": "1K"}}));
        assert_eq!(got["stdout"], format!("{}\n", 2 * test + 1), "{got}");
        flow.push(us);
    }
    let a = row(
        "plain warm run (binary bound in, stdin a host file, stdout discarded)",
        plain,
    );
    let b = row(
        "test run from the stored binary (copy_in by id, stdin content, stdout collected)",
        flow,
    );
    println!(
        "per test run: {} us more than a plain warm run (ratio {:.2})",
        b as i64 - a as i64,
        b as f64 / a as f64
    );
    drop(s.child.stdin.take());
    let _ = s.child.wait();
}
