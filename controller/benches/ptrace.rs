//! ptrace mode's benchmarks (run as root: scripts/bench.sh). Medians and p90 in
//! microseconds, interleaved with what they are compared to:
//!
//! 1. one run of a static `true` in ptrace mode, beside the same in a warm container and a
//!    plain fork + execve + wait4 (the floor);
//! 2. the cost of one checked file syscall: a static program that opens an allowed file
//!    10,000 times, traced and not, the difference divided by 10,000; alone, and with a
//!    second thread (blocked meanwhile), where each checked call holds the other thread
//!    still until it has returned (the check-then-use race closed).
#![allow(unsafe_code)]

mod table;

use runbox::{Container, ContainerConfig, Outcome, RunSpec, Status};
use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use table::{fork_exec_wait, header, micros, row};

/// Opens made by the file-call program.
const OPENS: u64 = 10_000;

fn built(env: &str, name: &str) -> String {
    let path = std::env::var(env)
        .unwrap_or_else(|_| format!("{}/../target/bench/{name}", env!("CARGO_MANIFEST_DIR")));
    assert!(
        Path::new(&path).exists(),
        "{path}: scripts/bench.sh builds it"
    );
    path
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` builds benches in test mode: nothing to check here.
    }
    let true_path = built("RUNBOX_TRUE", "true-static");
    let open_many = built("RUNBOX_OPEN_MANY", "open-many");
    let null = std::fs::File::open("/dev/null").unwrap();
    let stdio = [null.as_fd(), null.as_fd(), null.as_fd()];
    let traced = runbox::config::Config::builtin()
        .get("default")
        .unwrap()
        .filter(true);
    let ptrace_spec = |argv: Vec<String>| {
        let mut spec = RunSpec::new(argv);
        spec.seccomp = Arc::clone(&traced);
        spec.limits.time = Duration::from_secs(10);
        spec.limits.wall = Duration::from_secs(30);
        spec.limits.processes = 1; // ptrace mode's default, as the CLI resolves it
        spec
    };
    let traced_run = |spec: &RunSpec| {
        let started = Instant::now();
        let outcome = runbox::ptrace::run(spec, None, stdio, None).expect("ptrace run");
        let result = runbox::RunResult::from_outcome(&outcome, &spec.limits, &spec.argv[0]);
        assert_eq!(result.status, Status::Ok, "{result:?}");
        micros(started)
    };

    // 1. static true: ptrace mode beside a warm container and the floor.
    let config = ContainerConfig {
        root: runbox::mount::RootSpec {
            binds: vec![format!("{true_path}:/true").parse().unwrap()],
            ..Default::default()
        },
        ..ContainerConfig::default()
    };
    let in_container = RunSpec::new(vec!["/true".into()]);
    let wire = in_container.to_wire().unwrap();
    let room = config.room().expect("the room");
    let mut container = Container::create(&config).expect("a container (run as root)");
    let true_traced = ptrace_spec(vec![true_path.clone()]);
    let host_true = [CString::new(true_path.clone()).unwrap()];
    const N: usize = 200;
    header("1. static true: ptrace mode beside container mode, interleaved");
    let (mut floor, mut warm, mut ptrace) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..N {
        let t = Instant::now();
        fork_exec_wait(&host_true);
        floor.push(micros(t));
        let t = Instant::now();
        let outcome = container
            .run(&room, &wire.run(), &stdio, &in_container.limits)
            .expect("run");
        assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
        warm.push(micros(t));
        ptrace.push(traced_run(&true_traced));
    }
    let floor = row("fork + execve + wait4 on the host (the floor)", floor);
    let warm = row("container mode, warm, default profile", warm);
    let ptrace = row("ptrace mode, default profile", ptrace);
    println!(
        "ratios of medians to the floor: container {:.2}, ptrace {:.2}",
        warm as f64 / floor as f64,
        ptrace as f64 / floor as f64
    );

    // 2. One checked file syscall.
    header(&format!(
        "2. a program opening an allowed file {OPENS} times, traced and not, interleaved"
    ));
    let file = "/etc/ld.so.cache";
    let argv = vec![open_many.clone(), file.into(), OPENS.to_string()];
    let host_argv: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap())
        .collect();
    let opens_traced = ptrace_spec(argv.clone());
    // With more than one process allowed, the run and its tracer are not bound to one CPU.
    let mut opens_unbound = opens_traced.clone();
    opens_unbound.limits.processes = 2;
    // The same with a second thread: every checked call interrupts it and waits for the
    // call's exit stop before letting it go on.
    let mut threaded_argv = argv.clone();
    threaded_argv.push("thread".into());
    let host_threaded: Vec<CString> = threaded_argv
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap())
        .collect();
    let mut opens_threaded = ptrace_spec(threaded_argv);
    opens_threaded.limits.processes = 2;
    let (mut plain, mut checked, mut unbound) = (Vec::new(), Vec::new(), Vec::new());
    let (mut plain_threaded, mut threaded) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        fork_exec_wait(&host_argv);
        plain.push(micros(t));
        checked.push(traced_run(&opens_traced));
        unbound.push(traced_run(&opens_unbound));
        let t = Instant::now();
        fork_exec_wait(&host_threaded);
        plain_threaded.push(micros(t));
        threaded.push(traced_run(&opens_threaded));
    }
    let plain = row("unsandboxed (fork + execve + wait4)", plain);
    let checked = row("ptrace mode, run and tracer on one CPU", checked);
    let unbound = row("ptrace mode, --processes 2 (any CPU)", unbound);
    let plain_threaded = row("unsandboxed, with a second thread", plain_threaded);
    let threaded = row("ptrace, --processes 2, a 2nd thread held", threaded);
    let per_call = |m: u64, floor: u64| m.saturating_sub(floor) as f64 / OPENS as f64;
    println!(
        "cost per checked file syscall: {:.1} us on one CPU, {:.1} us across CPUs, {:.1} us \
         with a second thread held still (median difference / {OPENS})",
        per_call(checked, plain),
        per_call(unbound, plain),
        per_call(threaded, plain_threaded)
    );
}
