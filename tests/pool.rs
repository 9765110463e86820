//! The pool and the batch interface: many runs through one container leave nothing behind,
//! a dead container is replaced, runs are isolated from each other, and `runbox batch`
//! answers every line.

use runbox::pool::Pool;
use runbox::{ContainerConfig, Outcome, RunSpec};
use runbox_tests::{assert_nothing_left, one_at_a_time, slowdown, TempDir};
use std::os::fd::AsFd;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn run_in(pool: &Pool, argv: &[&str], stdout: &std::fs::File) -> Outcome {
    let mut spec = RunSpec::new(argv.iter().map(|s| s.to_string()).collect());
    // The default limits' CPU budget, on this machine (runbox_tests::budget).
    spec.limits.time *= slowdown();
    spec.limits.wall *= slowdown();
    let wire = spec.to_wire().unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let run = wire.run();
    let stdio = [null.as_fd(), stdout.as_fd(), null.as_fd()];
    let room = runbox::mount::plan::default_room();
    pool.run(&room, &run, &stdio, &spec.limits).unwrap()
}

fn exit_of(outcome: &Outcome) -> runbox_shared::Exit {
    match outcome {
        Outcome::Finished { finished, .. } => finished.exit,
        other => panic!("{other:?}"),
    }
}

/// How many runs the long test makes: `$RUNBOX_TEST_POOL_RUNS`, 1000 when unset (the
/// emulated x86_64 guest, where a run is many times slower, makes fewer).
fn pool_runs() -> usize {
    std::env::var("RUNBOX_TEST_POOL_RUNS").map_or(1000, |text| {
        text.parse()
            .ok()
            .filter(|&runs| runs > 50)
            .unwrap_or_else(|| panic!("RUNBOX_TEST_POOL_RUNS={text}: a count above 50"))
    })
}

#[test]
fn a_thousand_runs_through_one_container_leave_nothing_and_do_not_grow() {
    let _serial = one_at_a_time();
    let null = std::fs::File::create("/dev/null").unwrap();
    assert_nothing_left("before"); // and the host's mounts noted
    let fds = open_fds();
    let pool = Pool::new(ContainerConfig::default(), 1).unwrap();
    let pid = pool.idle_pids()[0];
    let mut memory_after_warmup = 0;
    let runs = pool_runs();
    for i in 0..runs {
        // Each run leaves something behind for the cleaning to remove.
        let outcome = run_in(
            &pool,
            &["sh", "-c", "echo x > /w/f; echo y > /tmp/g; exit 0"],
            &null,
        );
        assert_eq!(exit_of(&outcome), runbox_shared::Exit::Code(0), "run {i}");
        if i == 50 {
            memory_after_warmup = pool.idle_resident().unwrap();
        }
    }
    if runbox::container::rootless() {
        // Without root a container serves one run, and is replaced.
        assert!(
            !pool.idle_pids().contains(&pid),
            "the first container served again"
        );
    } else {
        assert_eq!(
            pool.idle_pids(),
            vec![pid],
            "the same container served every run"
        );
        // Anonymous and tmpfs memory: what a leak would be. (The total charge also holds
        // reclaimable kernel caches, dentries of the files each run made, which grow
        // slowly.)
        let memory = pool.idle_resident().unwrap();
        assert!(
            memory <= memory_after_warmup + (64 << 10),
            "the container grew from {memory_after_warmup} to {memory} bytes"
        );
    }
    drop(pool);
    assert_nothing_left(&format!("{runs} runs"));
    // The init memfd is made once per process and kept.
    assert!(
        open_fds() <= fds + 1,
        "{fds} fds before, {} after",
        open_fds()
    );
}

/// Cgroups made on one thread while another thread's are removed, as a pool's keeper makes
/// a container while a used one is dropped (without root, after every run). Removing the
/// last cgroup also removes runbox's parent (`Cgroup`'s drop); a creation at that moment
/// must neither fail nor leave its cgroup behind. On cgroup v2 it once made its cgroup in
/// the parent made again, without the controllers, failed there and left the directory:
/// the rootless pool test of the x86_64 guest lost one cgroup in about 100 runs.
#[test]
fn cgroups_made_while_others_are_removed_are_all_made_and_all_removed() {
    let _serial = one_at_a_time();
    assert_nothing_left("before");
    let rounds = 200;
    std::thread::scope(|scope| {
        for thread in 0..2 {
            scope.spawn(move || {
                for round in 0..rounds {
                    let made = runbox::cgroup::Cgroup::create();
                    let group =
                        made.unwrap_or_else(|e| panic!("thread {thread}, round {round}: {e}"));
                    drop(group);
                }
            });
        }
    });
    assert_nothing_left(&format!("2 threads of {rounds} cgroups"));
}

#[test]
fn a_container_whose_init_is_killed_is_replaced() {
    let _serial = one_at_a_time();
    let null = std::fs::File::create("/dev/null").unwrap();
    let pool = Pool::new(ContainerConfig::default(), 1).unwrap();
    let old = pool.idle_pids()[0];
    runbox::sys::process::kill(old, libc::SIGKILL).unwrap();
    let outcome = run_in(&pool, &["true"], &null);
    assert_eq!(exit_of(&outcome), runbox_shared::Exit::Code(0));
    let new = pool.idle_pids();
    assert!(!new.contains(&old), "still the killed container");
    // (Without root the container that served is retired too, its replacement perhaps
    // still being made.)
    if !runbox::container::rootless() {
        assert_eq!(new.len(), 1);
    }
}

#[test]
fn what_one_run_leaves_in_w_and_tmp_is_gone_for_the_next() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("pool-clean");
    let pool = Pool::new(ContainerConfig::default(), 1).unwrap();
    let null = std::fs::File::create("/dev/null").unwrap();
    run_in(
        &pool,
        &[
            "sh",
            "-c",
            "mkdir -p /w/d/e; echo x > /w/d/e/f; echo y > /tmp/g; ln -s /etc /w/link",
        ],
        &null,
    );
    let out = std::fs::File::create(dir.join("out")).unwrap();
    run_in(&pool, &["sh", "-c", "ls -A /w /tmp"], &out);
    assert_eq!(
        std::fs::read_to_string(dir.join("out")).unwrap(),
        "/tmp:\n\n/w:\n"
    );
}

#[test]
fn parallel_containers_do_not_see_each_other() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("pool-isolation");
    let pool = Pool::new(ContainerConfig::default(), 2).unwrap();
    let script = "echo $0 > /w/mine; echo $0 > /tmp/mine; sleep 0.3; cat /w/* /tmp/*; ls /proc | grep -c '^[0-9]'";
    std::thread::scope(|scope| {
        for name in ["left", "right"] {
            let (pool, dir) = (&pool, &dir);
            scope.spawn(move || {
                let out = std::fs::File::create(dir.join(name)).unwrap();
                run_in(pool, &["sh", "-c", script, name], &out);
            });
        }
    });
    for name in ["left", "right"] {
        let seen = std::fs::read_to_string(dir.join(name)).unwrap();
        // Its own two files, and its own processes only: init, sh, ls and perhaps grep (ls
        // may read /proc before sh has started grep); the other run's would add three.
        let (files, count) = seen
            .rsplit_once('\n')
            .map(|(a, _)| a.rsplit_once('\n').unwrap())
            .unwrap();
        assert_eq!(files, format!("{name}\n{name}"), "{name}: {seen}");
        assert!(["3", "4"].contains(&count), "{name}: {count} processes");
    }
}

#[test]
fn batch_answers_every_line_and_exits_zero() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("batch");
    let out = dir.join("echo.out");
    let lines = [
        format!(r#"{{"id":"ok","argv":["/bin/echo","hi"],"stdout":"{out}"}}"#),
        "this is not json".to_string(),
        r#"{"id":"typo","argv":["true"],"memroy":"64M"}"#.to_string(),
        r#"{"id":"noargv"}"#.to_string(),
        r#"{"id":"missing","argv":["no-such-program"]}"#.to_string(),
        r#"{"id":"badsize","argv":["true"],"memory":"lots"}"#.to_string(),
        r#"{"id":"ns","argv":["sh","-c","exit 4"],"mode":"namespace"}"#.to_string(),
        r#"{"id":"tle","argv":["sh","-c","while :; do :; done"],"time":"200ms"}"#.to_string(),
        r#"{"id":"own-root","argv":["cat","/data"],"bind":["/etc/ld.so.cache:/data"]}"#.to_string(),
        r#"{"id":"loud","argv":["sh","-c","echo noise; echo noise >&2"]}"#.to_string(),
        r#"{"id":"strict-ok","argv":["/bin/true"],"profile":"strict"}"#.to_string(),
        r#"{"id":"strict-refused","argv":["sh","-c","true"],"profile":"strict"}"#.to_string(),
        r#"{"id":"no-profile","argv":["true"],"profile":"nope"}"#.to_string(),
    ];
    let results = runbox_tests::batch(&(lines.join("\n") + "\n"), 2);
    assert_eq!(
        results.len(),
        lines.len(),
        "one result per line: {results:?}"
    );
    let by_id = |id: &str| {
        results
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no result for {id}"))
    };
    let expect = [
        ("ok", "ok"),
        ("typo", "internal_error"),
        ("noargv", "internal_error"),
        ("missing", "internal_error"),
        ("badsize", "internal_error"),
        ("ns", "nonzero_exit"),
        ("tle", "time_limit_exceeded"),
        ("own-root", "ok"),
        ("loud", "ok"),
        ("strict-ok", "ok"),
        ("strict-refused", "disallowed_syscall"),
        ("no-profile", "internal_error"),
    ];
    for (id, status) in expect {
        assert_eq!(by_id(id)["status"], status, "{id}: {:?}", by_id(id));
    }
    assert!(by_id("typo")["detail"].as_str().unwrap().contains("memroy"));
    assert!(by_id("missing")["detail"]
        .as_str()
        .unwrap()
        .contains("no-such-program"));
    assert_eq!(
        results.iter().filter(|r| r["id"].is_null()).count(),
        1,
        "the non-JSON line"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hi\n");
}
