//! The container benchmarks (run as root: scripts/bench.sh, or `cargo bench --bench
//! container` with RUNBOX_TRUE naming a static `true`). Every figure is a median and p90 in
//! microseconds over runs interleaved with what they are compared to, on this machine.
//!
//! 1. the seed's table: fork, clone with each namespace alone, all namespaces, mount +
//!    pivot_root, and a run inside a pre-forked container;
//! 2. the headline: request -> result for a static `true` in a warm container, beside a
//!    plain fork + execve + wait4 of the same binary, interleaved, and their ratio;
//! 3. runs per second through `runbox batch` with 1 and 2 containers;
//! 4. container creation and destruction;
//! 5. the init's binary size and an idle container's memory;
//! 6. the per-run cost of a seccomp filter of 40 and of 400 instructions.
#![allow(unsafe_code)]

mod table;

use runbox::container::init_image::INIT;
use runbox::container::NAMESPACES;
use runbox::mount::apply::Prepared;
use runbox::sys::process;
use runbox::{Container, ContainerConfig, Outcome, RunSpec};
use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use table::{fork_exec_wait, header, micros, row};

/// Clones a child with `flags` that runs `child` and exits; waits for it.
fn clone_and_wait(flags: libc::c_int, child: &dyn Fn() -> i32) {
    // SAFETY: the child only runs `child` (syscalls on prepared data) and _exits.
    match unsafe { process::clone(flags) }.expect("clone") {
        None => process::exit_now(child()),
        Some(pid) => {
            process::wait4(pid, 0).expect("wait4");
        }
    }
}

/// A filter of `n` instructions that allows everything: load the syscall number, `n - 2`
/// comparisons that never match, allow.
fn filter(n: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut push = |code: u16, k: u32| {
        bytes.extend_from_slice(&code.to_ne_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&k.to_ne_bytes());
    };
    push(0x20, 0); // ld [nr]
    for _ in 0..n - 2 {
        push(0x15, 0xffff); // jeq #0xffff, +0, +0
    }
    push(0x06, 0x7fff_0000); // ret ALLOW
    bytes
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` builds benches in test mode: nothing to check here.
    }
    let true_path = std::env::var("RUNBOX_TRUE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/true-static").into()
    });
    assert!(
        Path::new(&true_path).exists(),
        "{true_path}: build a static true (scripts/bench.sh does)"
    );
    let runbox_bin = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/runbox");
    let host_true = CString::new(true_path.clone()).unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let stdio = [null.as_fd(), null.as_fd(), null.as_fd()];
    let config = ContainerConfig {
        root: runbox::mount::RootSpec {
            binds: vec![format!("{true_path}:/true").parse().unwrap()],
            ..Default::default()
        },
        ..ContainerConfig::default()
    };
    let spec = RunSpec::new(vec!["/true".into()]);
    let wire = spec.to_wire().unwrap();
    let room = config.room().expect("the room");
    let mut container = Container::create(&config).expect("a container (run as root)");
    let warm_run = |container: &mut Container, seccomp: &runbox::seccomp::Filter| {
        let mut run = wire.run();
        run.seccomp = &seccomp.bytes;
        run.seccomp_listener = seccomp.listener;
        run.seccomp_ahead = seccomp.ahead;
        let started = Instant::now();
        let outcome = container
            .run(&room, &run, &stdio, &spec.limits)
            .expect("run");
        assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
        micros(started)
    };
    const N: usize = 300;

    // 1. The seed's table.
    header("1. the seed's table (each row: clone/fork, the child _exits, wait4)");
    let clone_row = |name: &str, flags: libc::c_int| {
        let samples = (0..N / 3)
            .map(|_| {
                let t = Instant::now();
                clone_and_wait(flags, &|| 0);
                micros(t)
            })
            .collect();
        row(name, samples)
    };
    clone_row("fork", 0);
    for (name, flag) in [
        ("clone CLONE_NEWUSER", libc::CLONE_NEWUSER),
        ("clone CLONE_NEWPID", libc::CLONE_NEWPID),
        ("clone CLONE_NEWNS", libc::CLONE_NEWNS),
        ("clone CLONE_NEWIPC", libc::CLONE_NEWIPC),
        ("clone CLONE_NEWUTS", libc::CLONE_NEWUTS),
        ("clone CLONE_NEWNET", libc::CLONE_NEWNET),
        ("clone CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP),
    ] {
        clone_row(name, flag);
    }
    clone_row("clone, all seven namespaces", NAMESPACES);
    let prepared = Prepared::new(&[], Path::new(runbox::container::STAGE_DIR)).unwrap();
    std::fs::create_dir_all(runbox::container::STAGE_DIR).unwrap();
    let pivot: Vec<u64> = (0..N / 3)
        .map(|_| {
            let t = Instant::now();
            clone_and_wait(libc::CLONE_NEWNS, &|| i32::from(prepared.apply().is_err()));
            micros(t)
        })
        .collect();
    row("clone CLONE_NEWNS + tmpfs + pivot_root", pivot);
    let in_container: Vec<u64> = (0..N / 3)
        .map(|_| warm_run(&mut container, &runbox::seccomp::Filter::default()))
        .collect();
    row(
        "run of a static true in a pre-forked container",
        in_container,
    );

    // 2. The headline, interleaved: as runs go by default, with the default profile's
    // filter, and without any filter, each in a warm container of its own (a container's
    // next program is forked and filtered ahead for the filter of its last run); and both
    // in turn in one container, where every run's process is forked and filtered for it.
    // Twice: back to back, where what a run leaves to do after its answer (the room's
    // take-down, the next program's fork) falls into the next figure taken; and each after
    // a pause, as a request comes to an idle container.
    header("2. the headline: static true, interleaved");
    let default_filter = runbox::seccomp::default_filter();
    let no_filter = runbox::seccomp::Filter::default();
    let mut bare_container = Container::create(&config).expect("a container");
    let mut both_container = Container::create(&config).expect("a container");
    for pause in [Duration::ZERO, Duration::from_millis(2)] {
        let settle = || std::thread::sleep(pause);
        let (mut floor, mut warm, mut bare) = (Vec::new(), Vec::new(), Vec::new());
        let (mut turns_default, mut turns_bare) = (Vec::new(), Vec::new());
        for _ in 0..N {
            settle();
            let t = Instant::now();
            fork_exec_wait(std::slice::from_ref(&host_true));
            floor.push(micros(t));
            settle();
            warm.push(warm_run(&mut container, &default_filter));
            settle();
            bare.push(warm_run(&mut bare_container, &no_filter));
            settle();
            turns_default.push(warm_run(&mut both_container, &default_filter));
            settle();
            turns_bare.push(warm_run(&mut both_container, &no_filter));
        }
        match pause.is_zero() {
            true => println!("back to back:"),
            false => println!("each after a pause of {} ms:", pause.as_millis()),
        }
        let floor = row("fork + execve + wait4 on the host (the floor)", floor);
        let warm = row("request -> result, warm, default profile", warm);
        let bare = row("request -> result, warm, no filter", bare);
        let turns_default = row(
            "... default profile, in turn with no filter in one container",
            turns_default,
        );
        let turns_bare = row(
            "... no filter, in turn with the default profile in one container",
            turns_bare,
        );
        let ratio = |m: u64| m as f64 / floor as f64;
        println!(
            "ratio of medians: {:.2} with the default profile, {:.2} without a filter (target <= 1.25); \
             filters in turn, each run forked for its own: {:.2} and {:.2}",
            ratio(warm),
            ratio(bare),
            ratio(turns_default),
            ratio(turns_bare)
        );
    }
    drop((bare_container, both_container));

    // 6. seccomp filters (run here, while the container is warm). In turn in one container,
    // each run's process is forked for it and installs its filter on the run's path: this
    // is what a filter costs a run that cannot take the process forked ahead.
    header(
        "6. a seccomp filter per run, every profile (static true in a warm container, interleaved)",
    );
    let raw = |bytes| runbox::seccomp::Filter {
        bytes,
        listener: false,
        traced: false,
        ahead: true,
    };
    let mut filters: Vec<(String, runbox::seccomp::Filter)> = vec![
        ("no filter".into(), raw(vec![])),
        ("40 instructions, linear".into(), raw(filter(40))),
        ("400 instructions, linear".into(), raw(filter(400))),
    ];
    for profile in runbox::config::Config::builtin().profiles() {
        let compiled = profile.filter(false);
        let name = format!(
            "profile {}: {} instructions",
            profile.name,
            compiled.bytes.len() / 8
        );
        filters.push((name, (*compiled).clone()));
    }
    let mut samples = vec![Vec::new(); filters.len()];
    for _ in 0..N {
        for (i, (_, compiled)) in filters.iter().enumerate() {
            samples[i].push(warm_run(&mut container, compiled));
        }
    }
    let medians: Vec<u64> = filters
        .iter()
        .zip(samples)
        .map(|((name, _), s)| row(name, s))
        .collect();
    for ((name, _), median) in filters.iter().zip(&medians).skip(1) {
        println!(
            "cost per run of {name}: {} us",
            *median as i64 - medians[0] as i64
        );
    }

    // 7. The fresh room: every run above already had one (a tmpfs at /w and /tmp, and the
    // /true bind); here, a run that brings its own dir, and its own dir and two binds more,
    // beside it, in the same warm container (no container is made for any of them).
    header("7. the fresh room: a run with its own dir and binds, in the same warm container");
    let work = std::env::temp_dir().join(format!("runbox-bench-dir-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let with = |work_dir: bool, binds: &[&str]| {
        let mut root = config.root.clone();
        root.work_dir = work_dir.then(|| work.clone());
        root.binds.extend(
            binds
                .iter()
                .map(|b| b.parse::<runbox::mount::Bind>().unwrap()),
        );
        ContainerConfig {
            root,
            ..ContainerConfig::default()
        }
        .room()
        .unwrap()
    };
    let rooms = [
        (
            "warm run: tmpfs /w and /tmp, one bind (the program)",
            room.clone(),
        ),
        ("... with its own dir at /w", with(true, &[])),
        (
            "... with its own dir and two binds more",
            with(
                true,
                &["/usr/share:/data/share", "/etc/hostname:/data/hostname"],
            ),
        ),
    ];
    let pid = container.pid();
    let mut samples = vec![Vec::new(); rooms.len()];
    let mut floor_samples = Vec::new();
    for _ in 0..N {
        let t = Instant::now();
        fork_exec_wait(std::slice::from_ref(&host_true));
        floor_samples.push(micros(t));
        for (i, (_, room)) in rooms.iter().enumerate() {
            let started = Instant::now();
            let outcome = container
                .run(room, &wire.run(), &stdio, &spec.limits)
                .expect("run");
            assert!(matches!(outcome, Outcome::Finished { .. }), "{outcome:?}");
            samples[i].push(micros(started));
        }
    }
    let floor7 = row(
        "fork + execve + wait4 on the host (the floor)",
        floor_samples,
    );
    let medians: Vec<u64> = rooms
        .iter()
        .zip(samples)
        .map(|((name, _), s)| row(name, s))
        .collect();
    println!(
        "ratios of medians: warm/floor {:.2} (target <= 1.25); dir/warm {:.2} (target <= 1.15); dir + 2 binds/warm {:.2} (target <= 1.25)",
        medians[0] as f64 / floor7 as f64,
        medians[1] as f64 / medians[0] as f64,
        medians[2] as f64 / medians[0] as f64
    );
    // The room's pieces, on this container's room thread: made detached on the host, put up
    // (mount points, attach), taken down (detach, mount points removed).
    let thread = container.room_thread().expect("a room thread");
    let ids = container.host_ids();
    let pieces: [(&str, Vec<runbox::mount::plan::Op>); 3] = [
        ("tmpfs /w and /tmp", runbox::mount::plan::default_room()),
        ("the /true bind alone", room[2..].to_vec()),
        ("tmpfs /w, /tmp and the /true bind", room.clone()),
    ];
    for (name, ops) in &pieces {
        let (mut prepare, mut up, mut down) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..N {
            let t = Instant::now();
            let made = thread.prepare(ops, ids).unwrap();
            prepare.push(micros(t));
            let t = Instant::now();
            let made = thread.put_up(made).map_err(|(e, _)| e).unwrap();
            up.push(micros(t));
            let t = Instant::now();
            thread.take_down(made).unwrap();
            down.push(micros(t));
        }
        row(&format!("{name}: made detached"), prepare);
        row(&format!("{name}: put up"), up);
        row(
            &format!("{name}: taken down (sent; the detaching follows)"),
            down,
        );
    }
    let made = usize::from(container.pid() != pid);
    println!(
        "containers created for these {} runs: {made}",
        N * rooms.len()
    );
    let _ = std::fs::remove_dir(&work);

    // 5. Size and idle memory.
    println!("\n5. the init and an idle container");
    println!(
        "init binary: {} bytes ({})",
        INIT.len(),
        runbox::container::init_image::INIT_TARGET
    );
    println!(
        "a container after ~2000 runs: {} KiB charged (reclaimable caches included), {} KiB anonymous + tmpfs",
        container.memory_current().unwrap() / 1024,
        container.memory_resident().unwrap() / 1024
    );
    drop(container);
    // An idle container as a pool holds it: created, one run served, waiting.
    let mut idle: Vec<u64> = Vec::new();
    for _ in 0..10 {
        let mut fresh = Container::create(&config).unwrap();
        let run = wire.run();
        fresh.run(&room, &run, &stdio, &spec.limits).unwrap();
        idle.push(fresh.memory_current().unwrap() / 1024);
    }
    idle.sort_unstable();
    println!(
        "an idle container (created, one run served): {} KiB charged, median of 10",
        idle[5]
    );

    // 4. Creation and destruction.
    header("4. container creation and destruction");
    let (mut create, mut destroy) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        let t = Instant::now();
        let c = Container::create(&ContainerConfig::default()).unwrap();
        create.push(micros(t));
        let t = Instant::now();
        drop(c);
        destroy.push(micros(t));
        // Creations a judge makes are spread out: do not let one's cost hide the next's.
        std::thread::sleep(Duration::from_millis(50));
    }
    row("create, 50 ms apart (ready to serve)", create);
    row("destroy (killed, reaped, cgroup removed)", destroy);
    let back_to_back = (0..30)
        .map(|_| {
            let t = Instant::now();
            let c = Container::create(&ContainerConfig::default()).unwrap();
            let took = micros(t);
            drop(c);
            took
        })
        .collect();
    row("create, back to back", back_to_back);

    // 3. Throughput through the CLI.
    println!("\n3. runs per second through `runbox batch` (/bin/true, the default root)");
    for parallel in [1, 2] {
        let runs = 600;
        let mut child = Command::new(runbox_bin)
            .args(["batch", "--parallel", &parallel.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn runbox batch (build it with cargo build --release)");
        let mut input = child.stdin.take().unwrap();
        let lines: String = (0..runs)
            .map(|i| format!("{{\"id\":\"{i}\",\"argv\":[\"/bin/true\"]}}\n"))
            .collect();
        let writer = std::thread::spawn(move || input.write_all(lines.as_bytes()));
        let mut results = BufReader::new(child.stdout.take().unwrap()).lines();
        results.next().unwrap().unwrap(); // the first result: the pool is up
        let t = Instant::now();
        let rest = results
            .map_while(Result::ok)
            .filter(|l| l.contains("\"ok\""))
            .count();
        let elapsed = t.elapsed().as_secs_f64();
        writer.join().unwrap().unwrap();
        child.wait().unwrap();
        assert_eq!(rest, runs - 1, "every run ok");
        println!("--parallel {parallel}: {:.0} runs/s", rest as f64 / elapsed);
    }
}
