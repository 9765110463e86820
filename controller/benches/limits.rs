//! Benchmarks of the limits (run as root: `cargo bench --bench limits`, or scripts/bench.sh):
//!
//! 1. kill overshoot: how far past --time a single-threaded busy loop gets before the CPU
//!    enforcer stops it, median and worst (target: median <= 10 ms);
//! 2. the per-run cost of the accounting on a warm container: reading the baseline,
//!    resetting the counters, reading the figures and looking for full output files
//!    (target: under 0.2 ms), beside a whole run of a static `true` for scale.
//!
//! Medians and p90 in microseconds; noisy shared machines make single figures meaningless.

mod table;

use runbox::cgroup::Cgroup;
use runbox::{Container, ContainerConfig, Limits, Outcome, RunSpec};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use table::percentile;

fn report(name: &str, mut samples: Vec<u64>) {
    samples.sort_unstable();
    println!(
        "{name:<48} median {:>8} us   p90 {:>8} us   max {:>8} us   (n={})",
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        samples[samples.len() - 1],
        samples.len()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` runs benches in test mode: nothing to check here.
    }
    let probe = std::env::var("RUNBOX_PROBE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/release/runbox-probe"
        )
        .into()
    });
    let null = std::fs::File::open("/dev/null").unwrap();
    let stdio = [null.as_fd(), null.as_fd(), null.as_fd()];

    // 1. Kill overshoot of a busy loop (the probe's spin-forever) past a 200 ms limit.
    let config = ContainerConfig {
        root: runbox::mount::RootSpec {
            binds: vec![format!("{probe}:/probe").parse().unwrap()],
            ..Default::default()
        },
        ..ContainerConfig::default()
    };
    let room = config.room().expect("the room");
    let mut container =
        Container::create(&config).expect("a container (run as root, build the probe)");
    let limit = Duration::from_millis(200);
    let mut spec = RunSpec::new(vec!["/probe".into(), "spin-forever".into()]);
    spec.limits = Limits {
        time: limit,
        wall: Duration::from_secs(5),
        ..Limits::default()
    };
    let wire = spec.to_wire().unwrap();
    let mut overshoot = Vec::new();
    for _ in 0..25 {
        match container
            .run(&room, &wire.run(), &stdio, &spec.limits)
            .unwrap()
        {
            Outcome::Finished { accounting, .. } => {
                assert!(accounting.cpu_killed, "the enforcer did not act");
                overshoot.push(accounting.cpu_us.saturating_sub(limit.as_micros() as u64));
            }
            other => panic!("{other:?}"),
        }
    }
    report("kill overshoot past --time 200ms (busy loop)", overshoot);

    // 2. The accounting's own per-run work, on this warm container's cgroup.
    let spec = RunSpec::new(vec!["/bin/true".into()]);
    let wire = spec.to_wire().unwrap();
    let mut whole = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        container
            .run(&room, &wire.run(), &stdio, &spec.limits)
            .unwrap();
        whole.push(started.elapsed().as_micros() as u64);
    }
    report("whole run of /bin/true in a warm container", whole);

    let cgroup = Cgroup::create().unwrap();
    let root = std::path::PathBuf::from(format!("/proc/{}/root", container.pid()));
    let mut accounting = Vec::new();
    for _ in 0..2000 {
        let started = Instant::now();
        let baseline = cgroup.memory_current().unwrap();
        cgroup
            .set_limits(spec.limits.memory + baseline, spec.limits.processes + 1)
            .unwrap();
        cgroup.reset().unwrap();
        let _ = cgroup.cpu_us().unwrap();
        let usage = cgroup.usage().unwrap();
        let figures = runbox::supervise::Figures {
            usage,
            baseline,
            oom_before: 0,
            cpu_killed: false,
            cancelled: false,
            max_rss_kib: 0,
        };
        let (w, tmp) = (root.join("w"), root.join("tmp"));
        let full = runbox::output::outputs_full(spec.limits.output, &stdio)
            || runbox::output::dirs_hold_full_file(&[&w, &tmp], spec.limits.output);
        let _ = runbox::supervise::account(figures, full);
        accounting.push(started.elapsed().as_micros() as u64);
    }
    report(
        "accounting per run (set, reset, read, output scan)",
        accounting,
    );
}
