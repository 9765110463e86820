//! Every limit and verdict with a real misbehaving program, in both modes, asserting the
//! status and the reported figures; and nothing left behind afterwards.
//!
//! The tests run one at a time ([`one_at_a_time`]): CPU figures on a shared 2-CPU machine
//! are only meaningful when the runs do not compete.
//!
//! On a slow machine (the emulated x86_64 guest: [`runbox_tests::slowdown`]) the limits
//! under test stay as they are; the CPU budgets of the runs whose time is not under test
//! grow ([`budget`]), and the timing checks take the bounds measured there
//! ([`tolerance`]: `tolerance(native, emulated)`).

use runbox_tests::{
    assert_nothing_left, assert_verdict, budget, each_mode, num, one_at_a_time, probe_bind, run,
    tolerance, Ran, TempDir, PROBE,
};

/// True when two threads of this test process, each spinning for 200 ms of its own CPU
/// time, get it in less than 0.9 x the 400 ms one CPU would take: the host's CPUs are free
/// enough right now for two threads to run at once.
fn host_runs_two_threads_at_once() -> bool {
    fn thread_cpu() -> std::time::Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a live timespec the call fills.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
    let started = std::time::Instant::now();
    let spin = || {
        while thread_cpu() < std::time::Duration::from_millis(200) {
            std::hint::spin_loop();
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(spin);
        scope.spawn(spin);
    });
    started.elapsed() * 10 < std::time::Duration::from_millis(400) * 9
}

fn probe(mode: &str, options: &[&str], args: &[&str]) -> Ran {
    let bind = probe_bind();
    let mut all = vec!["--bind", bind.as_str()];
    all.extend(options);
    let mut argv = vec![PROBE];
    argv.extend(args);
    run(mode, &all, &argv)
}

each_mode! {
    fn a_busy_loop_is_stopped_at_its_cpu_time(mode) {
        let _serial = one_at_a_time();
        let ran = probe(
            mode,
            &["--time", "300ms", "--wall", &budget(5000)],
            &["spin-forever"],
        );
        assert_verdict(&ran, "time_limit_exceeded", "cpu time", mode);
        let time = num(&ran, "time_ms");
        assert!(
            (300..=300 + tolerance(40, 150)).contains(&time),
            "{mode}: time {time} ms for a 300 ms limit"
        );
        // One thread's CPU time cannot outgrow its wall time: stopped by its CPU time, not
        // earlier. The time reported is the cgroup's, which also holds init's own work
        // around the program (its fork, the kill, the reaping) outside the wall time, from
        // fork to reaping: natively under a millisecond. In the emulated guest a host that
        // preempts qemu's thread while init runs there charges init the whole pause, so the
        // gap grows with the host's load (measured: in 10 runs on a quiet host, the wall at
        // least the time; in 30 beside three busy loops on the host, up to 37 ms under it,
        // 274 ms for 311; once with other sessions' builds, 126 ms, 203 ms for 329).
        let wall = num(&ran, "wall_ms");
        assert!(
            wall + tolerance(0, 120) >= 300,
            "{mode}: stopped at wall {wall} ms, time {time} ms"
        );
        assert_nothing_left(mode);
    }
}

each_mode! {
    fn cpu_time_counts_every_thread_and_every_child(mode) {
        let _serial = one_at_a_time();
        // Not in the emulated guest: its CPUs are threads of an emulator on a shared host,
        // and two busy guest threads may take turns (measured: 613 ms of CPU in 577 ms of
        // wall). The sums of every thread and child, below, prove the counting there.
        let native = runbox_tests::slowdown() == 1;
        for args in [&["spin-forever", "2"][..], &["spin-children", "2"]] {
            // Two busy threads reach 600 ms of CPU in about 300 ms; one thread's CPU time
            // could never outgrow the wall time like this. Where the host's CPUs are busy
            // with other work, neither can the run's: up to three tries, and the check
            // fails only if the host ran two threads at once after each.
            let mut tries = Vec::new();
            for _ in 0..3 {
                let ran = probe(mode, &["--time", "600ms", "--wall", &budget(5000)], args);
                assert_verdict(
                    &ran,
                    "time_limit_exceeded",
                    "cpu time",
                    &format!("{mode} {args:?}"),
                );
                let (time, wall) = (num(&ran, "time_ms"), num(&ran, "wall_ms"));
                assert!(
                    (600..=600 + tolerance(80, 200)).contains(&time),
                    "{mode} {args:?}: time {time}"
                );
                if !native || wall * 10 < time * 9 {
                    break;
                }
                let host_free = host_runs_two_threads_at_once();
                tries.push((wall, time, host_free));
                if !host_free {
                    break;
                }
            }
            assert!(
                tries.len() < 3 || !tries.iter().all(|&(_, _, free)| free),
                "{mode} {args:?}: (wall, time, host free) {tries:?}"
            );
            assert_nothing_left(mode);
        }
    }
}

each_mode! {
    fn cpu_time_is_the_sum_of_every_thread_and_every_child(mode) {
        let _serial = one_at_a_time();
        for kind in ["threads", "children"] {
            // Two threads (or children) that each burn 200 ms by their own clock and end,
            // whether or not they run at once: counting one of them would report half.
            let ran = probe(mode, &["--time", &budget(2000)], &["spin-each", kind, "2", "200"]);
            assert_eq!(ran.status(), "ok", "{mode} {kind}: {ran:?}");
            let own_ms = ran.out().trim().parse::<u64>().unwrap() / 1000;
            assert!(own_ms >= 400, "{mode} {kind}: the probe burnt {own_ms} ms");
            let time = num(&ran, "time_ms");
            // Above the program's own count: init's own work (its fork, the reaping) and
            // what the kernel charges outside the program's clocks. Natively a few ms; in
            // the emulated guest on a loaded host far more, with children most (measured:
            // 948 ms reported for 791, where the children's 2 x 200 ms by their own clocks
            // became 791 ms in their rusage, their exits included).
            assert!(
                (own_ms.saturating_sub(tolerance(20, 100))..=own_ms + tolerance(20, 300))
                    .contains(&time),
                "{mode} {kind}: reported {time} ms for the {own_ms} ms the program measured"
            );
        }
        assert_nothing_left(mode);
    }
}

each_mode! {
    fn blocked_programs_meet_the_wall_limit(mode) {
        let _serial = one_at_a_time();
        for what in ["sleep", "pause", "read"] {
            // The wall limit may be lower than the CPU limit.
            let ran = probe(mode, &["--time", &budget(2000), "--wall", "300ms"], &[what]);
            assert_verdict(
                &ran,
                "time_limit_exceeded",
                "wall time",
                &format!("{mode} {what}"),
            );
            let wall = num(&ran, "wall_ms");
            assert!(
                (300..300 + tolerance(700, 2700)).contains(&wall),
                "{mode} {what}: wall {wall}"
            );
            let time = num(&ran, "time_ms");
            assert!(
                time < tolerance(100, 400),
                "{mode} {what}: it was not busy, yet {time} ms"
            );
        }
        assert_nothing_left(mode);
    }
}

each_mode! {
    fn cpu_time_is_reported_as_the_program_itself_measures_it(mode) {
        let _serial = one_at_a_time();
        // One run natively; on a slow machine the median of three: a host that stalls the
        // emulator's thread charges the stall to whatever guest task was running.
        let tries = if runbox_tests::slowdown() > 1 { 3 } else { 1 };
        let mut seen: Vec<(u64, u64)> = (0..tries)
            .map(|_| {
                let ran = probe(mode, &["--time", &budget(2000)], &["spin", "300"]);
                assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
                let own_ms = ran.out().trim().parse::<u64>().unwrap() / 1000;
                (num(&ran, "time_ms").abs_diff(own_ms), own_ms)
            })
            .collect();
        seen.sort();
        let (off, own_ms) = seen[seen.len() / 2];
        assert!(
            off <= tolerance(15, 100),
            "{mode}: reported {off} ms off the {own_ms} ms the program measured ({seen:?})"
        );
    }
}

each_mode! {
    fn touched_memory_is_reported_never_below_what_was_touched(mode) {
        let _serial = one_at_a_time();
        let ran = probe(mode, &["--memory", "256M"], &["touch", "64"]);
        assert_eq!(
            (ran.status(), ran.out().as_str()),
            ("ok", "touched\n"),
            "{mode}: {ran:?}"
        );
        let kib = num(&ran, "memory_kib");
        // The program's binary, libc and heap bookkeeping on top of the 64 MiB.
        assert!(
            (65536..65536 + 8192).contains(&kib),
            "{mode}: {kib} KiB for 64 MiB touched"
        );
    }
}

each_mode! {
    fn memory_over_the_limit_is_memory_limit_exceeded(mode) {
        let _serial = one_at_a_time();
        let big = format!(
            "{}:/big",
            runbox_tests::probe_bin()
                .with_file_name("runbox-bigstatic")
                .display()
        );
        for (options, argv) in [
            (&["--memory", "128M"][..], &[PROBE, "touch", "300"][..]),
            (&["--memory", "256M"], &[PROBE, "mmap-touch", "1024"]),
            (&["--memory", "64M", "--stack", "1G"], &[PROBE, "recurse"]),
        ] {
            let mut all = vec!["--bind".to_string(), probe_bind()];
            all.extend(options.iter().map(|s| s.to_string()));
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            let ran = run(mode, &all, argv);
            assert_verdict(
                &ran,
                "memory_limit_exceeded",
                "out of memory",
                &format!("{mode} {argv:?}"),
            );
            let limit_kib = runbox::units::parse_size(options[1]).unwrap() / 1024;
            assert!(
                num(&ran, "memory_kib") >= limit_kib * 9 / 10,
                "{mode} {argv:?}: {ran:?}"
            );
        }
        // The 700 MB static array under 512 MB: killed by the OOM killer as it touches it,
        // or thrashing at the limit until the time runs out; memory either way. Time enough
        // to reach the limit on a loaded machine (with 1 s, it once ran out of CPU time at
        // 459 MB: page faults are dear on this VM when other work runs).
        let ran = run(
            mode,
            &["--memory", "512M", "--time", &budget(5000), "--bind", &big],
            &["/big"],
        );
        assert_eq!(
            ran.status(),
            "memory_limit_exceeded",
            "{mode} static array: {ran:?}"
        );
        assert_nothing_left(mode);
    }
}

each_mode! {
    fn a_small_stack_overflows_as_a_signal(mode) {
        let _serial = one_at_a_time();
        let ran = probe(mode, &["--stack", "1M"], &["recurse"]);
        assert_eq!(ran.status(), "signaled", "{mode}: {ran:?}");
        // Rust's runtime turns the guard-page fault into abort(); a C program gets SIGSEGV.
        assert!(
            ["SIGABRT", "SIGSEGV"].contains(&ran.result["detail"].as_str().unwrap()),
            "{mode}: {ran:?}"
        );
        assert!(num(&ran, "memory_kib") < 16 * 1024, "{mode}");
    }
}

each_mode! {
    fn floods_stop_at_the_output_limit(mode) {
        let _serial = one_at_a_time();
        let dir = TempDir::new("flood");
        let out = dir.join(&format!("{mode}.out"));
        let ran = run(mode, &["--output", "1M", "--stdout", &out], &["yes"]);
        assert_verdict(
            &ran,
            "output_limit_exceeded",
            "output",
            &format!("{mode} stdout"),
        );
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 1 << 20, "{mode}");

        let ran = run(
            mode,
            &["--output", "1M"],
            &["sh", "-c", "head -c 5000000 /dev/zero > /w/flood"],
        );
        assert_verdict(
            &ran,
            "output_limit_exceeded",
            "output",
            &format!("{mode} file in /w"),
        );

        // A program that ignores SIGXFSZ sees only EFBIG and exits 0: still the output limit.
        let ran = probe(mode, &["--output", "1M"], &["flood-ignoring", "/w/flood"]);
        assert_eq!(ran.out(), "write refused\n", "{mode}");
        assert_eq!(ran.result["exit_code"], 0, "{mode}");
        assert_verdict(
            &ran,
            "output_limit_exceeded",
            "output",
            &format!("{mode} ignoring SIGXFSZ"),
        );
        assert_nothing_left(mode);
    }
}

each_mode! {
    fn fork_and_thread_bombs_stop_at_the_process_limit(mode) {
        let _serial = one_at_a_time();
        for what in ["fork-count", "thread-count"] {
            let ran = probe(mode, &["--processes", "10"], &[what]);
            assert_eq!(ran.status(), "ok", "{mode} {what}: {ran:?}");
            let made: u64 = ran.out().trim().parse().unwrap();
            // The probe itself is one of the 10.
            assert!((1..=9).contains(&made), "{mode} {what}: made {made}");
        }
        // A real fork bomb ends at the wall limit, and nothing of it survives.
        let ran = run(
            mode,
            &["--processes", "20", "--time", &budget(5000), "--wall", "500ms"],
            &["sh", "-c", "b() { b | b & }; b; wait"],
        );
        assert_ne!(ran.status(), "internal_error", "{mode}: {ran:?}");
        assert_nothing_left(mode);
    }
}
