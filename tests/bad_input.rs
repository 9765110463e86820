//! Bad input gets a clear message and leaves nothing behind: no process, mount, fd or file.
//!
//! Each test (one a mode where the cases run in a mode) holds [`one_at_a_time`] from its
//! start: it checks the whole host for sandbox processes and mounts, and this process for
//! fds, after each case, which is only meaningful while nothing else runs (the other tests
//! of this binary wait for the lock; cargo runs test binaries one after another).

use runbox::mount::host::HostFs;
use runbox::mount::plan::{default_room, plan, Op};
use runbox::mount::{Bind, PlanError, RootSpec};
use runbox::{Container, ContainerConfig, Outcome, RunSpec};
use runbox_tests::{assert_nothing_left, each_mode, one_at_a_time, run, TempDir};
use serde_json::Value;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `runbox run OPTIONS -- ARGV` and returns (exit code, stdout, stderr).
fn runbox(options: &[&str], argv: &[&str]) -> (i32, String, String) {
    let out = Command::new(runbox_tests::runbox_bin())
        .arg("run")
        .args(options)
        .arg("--")
        .args(argv)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The files the cases name: a regular file, a directory only root may enter with a file in
/// it, and an empty root.
struct Files {
    /// Removed on drop: kept as long as the paths are used.
    _dir: TempDir,
    file: String,
    private: std::path::PathBuf,
    empty_rootfs: String,
}

fn files() -> Files {
    let dir = TempDir::new("bad-input");
    let file = dir.join("file");
    std::fs::write(&file, "not a directory").unwrap();
    let private = dir.0.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(private.join("data"), "x").unwrap();
    std::fs::set_permissions(
        private.join("data"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let empty_rootfs = dir.join("empty-root");
    std::fs::create_dir(&empty_rootfs).unwrap();
    Files {
        _dir: dir,
        file,
        private,
        empty_rootfs,
    }
}

each_mode! {
    /// Programs that cannot start: the sandbox ran, found nothing to execute: exit 3.
    fn programs_that_cannot_start_are_internal_errors(mode) {
        let _serial = one_at_a_time();
        assert_nothing_left("before any case"); // and the host's mounts noted
        let f = files();
        for (argv, says) in [
            (
                &["no-such-program"][..],
                "cannot execute \"no-such-program\": No such file or directory",
            ),
            (&["/usr"][..], "cannot execute \"/usr\": Permission denied"),
            (
                &["/etc/ld.so.cache"][..],
                "cannot execute \"/etc/ld.so.cache\": Permission denied",
            ),
        ] {
            let ran = run(mode, &[], argv);
            assert_eq!(
                (ran.status(), ran.code),
                ("internal_error", 3),
                "{mode} {argv:?}: {ran:?}"
            );
            let detail = ran.result["detail"].as_str().unwrap();
            assert!(detail.starts_with(says), "{mode}: {detail}");
            assert_nothing_left(&format!("{mode} {argv:?}"));
        }
        // A rootfs with nothing in it: no shell to run.
        let ran = run(mode, &["--rootfs", &f.empty_rootfs], &["sh", "-c", "true"]);
        assert_eq!(
            (ran.status(), ran.code),
            ("internal_error", 3),
            "{mode}: {ran:?}"
        );
        assert_nothing_left(&format!("{mode} empty rootfs"));
        // A bind source is reached with the controller's authority (the judge named it), never
        // through a link; inside, the file's own mode holds: 0600 root's is not the program's.
        let bind = format!("{}:/data", f.private.join("data").display());
        let ran = run(mode, &["--bind", &bind], &["cat", "/data"]);
        assert_eq!(
            (ran.status(), ran.code),
            ("nonzero_exit", 0),
            "{mode}: {ran:?}"
        );
        assert!(ran.stderr.contains("Permission denied"), "{mode}: {ran:?}");
        assert_nothing_left(&format!("{mode} private bind"));
    }
}

each_mode! {
    /// Usage errors: exit 2, a message naming the culprit, no result, nothing started.
    fn usage_errors_name_the_culprit_and_start_nothing(mode) {
        let _serial = one_at_a_time();
        assert_nothing_left("before any case");
        let f = files();
        let usage_cases: [(&[&str], &str); 9] = [
            (
                &["--bind", "/no/such/source:/x"],
                "--bind source /no/such/source: no such file or directory",
            ),
            (
                &["--bind", "/usr:relative"],
                "bind target relative: must be an absolute path",
            ),
            (&["--bind", "/usr:/x:rx"], "bind mode must be rw or ro"),
            (&["--rootfs", &f.file], "not a directory"),
            (
                &["--rootfs", "/no/such/root"],
                "--rootfs /no/such/root: not a directory",
            ),
            (&["--dir", &f.file], "--dir"),
            (&["--stack", "12Q"], "unknown size unit"),
            (&["--time", "5"], "a duration needs a unit"),
            (
                &["--stdin", "/no/such/input"],
                "--stdin /no/such/input: No such file or directory",
            ),
        ];
        for (options, says) in usage_cases {
            let mut all = vec!["--mode", mode, "--json"];
            all.extend(options);
            let (code, stdout, stderr) = runbox(&all, &["true"]);
            assert_eq!(code, 2, "{options:?}: {stderr}");
            assert!(stderr.contains(says), "{options:?}: {stderr}");
            assert_eq!(stdout, "", "{options:?}: no result for a usage error");
            assert_nothing_left(&format!("{options:?}"));
        }
    }
}

#[test]
fn the_library_closes_every_fd_it_opened() {
    let _serial = one_at_a_time();
    assert_nothing_left("before any case");
    // The library: a plan error, and a room that cannot be made, close every fd they opened.
    let fds = open_fds();
    let missing = RootSpec {
        binds: vec!["/no/such/source:/x".parse::<Bind>().unwrap()],
        ..RootSpec::default()
    };
    let err = plan(&missing, &HostFs).unwrap_err();
    assert!(matches!(err, PlanError::BindSourceMissing(_)), "{err}");
    {
        let mut container = Container::create(&ContainerConfig::default()).unwrap();
        let spec = RunSpec::new(vec!["/bin/sh".into(), "-c".into(), "test ! -e /x".into()]);
        let wire = spec.to_wire().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let stdio = [null.as_fd(), null.as_fd(), null.as_fd()];
        // Its source gone since it was planned: the run is refused, nothing of the room
        // stays (the mount point made for it included), and the container serves on.
        let room = [
            Op::MakeDir {
                path: "/x".into(),
                mode: 0o755,
            },
            Op::Bind {
                source: "/no/such/source".into(),
                target: "/x".into(),
                writable: false,
            },
        ];
        let err = container
            .run(&room, &wire.run(), &stdio, &spec.limits)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("fresh room: bind /no/such/source -> /x (ro): No such file"),
            "{err}"
        );
        assert!(container.reusable());
        let outcome = container
            .run(&default_room(), &wire.run(), &stdio, &spec.limits)
            .unwrap();
        match outcome {
            Outcome::Finished { finished, .. } => {
                assert_eq!(finished.exit, runbox_shared::Exit::Code(0), "/x is left")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_nothing_left("a room that could not be made");
    // The init memfd is made once per process and kept: allow for it.
    assert!(
        open_fds() <= fds + 1,
        "{fds} fds before, {} after",
        open_fds()
    );
}

each_mode! {
    /// Every limit at its bound (README, Limits) runs `/bin/true` to `ok` in every mode; one
    /// past it, or past 64 bits, is a usage error naming the option (or the file, line and key
    /// of a profile), never a wrap (`--time 18446744073709s` once made init's deadline pass at
    /// once: a wall-time TLE for /bin/true).
    fn limits_at_and_past_their_bounds(mode in container, namespace, ptrace) {
        let _serial = one_at_a_time();
        assert_nothing_left("before any case");
        let dir = TempDir::new("bounds");
        let at_max = [
            "--time",
            "86400s",
            "--wall",
            "1440m",
            "--memory",
            "1T",
            "--stack",
            "1024G",
            "--output",
            "1T",
            "--processes",
            "1000000",
        ];
        for options in [&at_max[..], &["--time", "86400s"]] {
            let ran = run(mode, options, &["/bin/true"]);
            assert_eq!(
                (ran.status(), ran.code),
                ("ok", 0),
                "{mode} {options:?}: {ran:?}"
            );
            assert_nothing_left(&format!("{mode} {options:?}"));
        }
        let past: [(&[&str], &str); 14] = [
            (
                &["--time", "86400.000001s"],
                "--time: must be at most 1440m (24 hours)",
            ),
            (
                &["--time", "18446744073709s"],
                "--time: must be at most 1440m",
            ),
            (
                &["--wall", "18446744073709s"],
                "--wall: must be at most 1440m",
            ),
            (&["--wall", "1441m"], "--wall: must be at most 1440m"),
            (&["--time", "18446744073709551616us"], "too long a duration"),
            (&["--wall", "1e30s"], "unknown duration unit"),
            (
                &["--memory", "1025G"],
                "--memory: must be at most 1T (1099511627776 bytes)",
            ),
            (&["--memory", "18446744073709551615K"], "too large a size"),
            (&["--stack", "1099511627777"], "--stack: must be at most 1T"),
            (&["--output", "2T"], "--output: must be at most 1T"),
            (&["--output", "18446744073709551616"], "too large a size"),
            (
                &["--processes", "1000001"],
                "--processes: must be at most 1000000",
            ),
            (
                &["--processes", "18446744073709551615"],
                "--processes: must be at most 1000000",
            ),
            (&["--processes", "18446744073709551616"], "--processes"),
        ];
        for (options, says) in past {
            let mut all = vec!["--mode", mode, "--json"];
            all.extend(options);
            let (code, stdout, stderr) = runbox(&all, &["/bin/true"]);
            assert_eq!(code, 2, "{mode} {options:?}: {stderr}");
            assert!(stderr.contains(says), "{mode} {options:?}: {stderr}");
            assert_eq!(
                stdout, "",
                "{mode} {options:?}: no result for a usage error"
            );
            assert_nothing_left(&format!("{mode} {options:?}"));
        }
        // A profile: at the bounds it runs; past them, file:line: key, exit 2.
        let config = dir.join("bounds.toml");
        std::fs::write(
            &config,
            "[profile.most]\ntime = \"86400s\"\nwall = \"86400s\"\nmemory = \"1T\"\nstack = \"1T\"\noutput = \"1T\"\nprocesses = 1000000\n",
        )
        .unwrap();
        let ran = run(
            mode,
            &["--config", &config, "--profile", "most"],
            &["/bin/true"],
        );
        assert_eq!(
            (ran.status(), ran.code),
            ("ok", 0),
            "{mode} profile: {ran:?}"
        );
        assert_nothing_left(&format!("{mode} profile at the bounds"));
    }
}

/// Past 64 bits the parse error names the option too; a profile past a bound names its
/// file, line and key (exit 2).
#[test]
fn the_wrapped_parse_errors_and_profiles_past_their_bounds_say_where() {
    let _serial = one_at_a_time();
    assert_nothing_left("before any case");
    let dir = TempDir::new("bounds");
    let config = dir.join("bounds.toml");
    // The wrapped parse errors name the option too (clap's own words around ours).
    let (_, _, stderr) = runbox(&["--time", "18446744073709551616us"], &["/bin/true"]);
    assert!(stderr.contains("--time"), "{stderr}");

    for (text, says) in [
        (
            "[profile.p]\nwall = \"18446744073709s\"\n",
            ":2: profile.p.wall: must be at most 1440m",
        ),
        (
            "[profile.p]\n\ntime = \"86400.000001s\"\n",
            ":3: profile.p.time: must be at most 1440m",
        ),
        (
            "[profile.p]\nmemory = \"2T\"\n",
            ":2: profile.p.memory: must be at most 1T",
        ),
        (
            "[profile.p]\nprocesses = 1000001\n",
            ":2: profile.p.processes: must be at most 1000000",
        ),
        (
            "[profile.p]\nprocesses = 18446744073709551615\n",
            ":2: profile.p.processes: ",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let (code, stdout, stderr) = runbox(&["--config", &config, "--json"], &["/bin/true"]);
        assert_eq!(code, 2, "{text}: {stderr}");
        assert!(
            stderr.contains(&format!("{config}{says}")),
            "{text}: {stderr}"
        );
        assert_eq!(stdout, "", "{text}");
        assert_nothing_left(text);
    }
}

/// `runbox batch` fed these bytes: its exit code and result lines, by id.
fn batch_bytes(input: &[u8]) -> (i32, Vec<Value>) {
    let mut child = Command::new(runbox_tests::runbox_bin())
        .args(["batch", "--parallel", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    let results = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (output.status.code().unwrap_or(-1), results)
}

/// A batch answers every line: one that is not UTF-8, one too long, and limits past their
/// bounds are each one internal_error naming what is wrong, and the requests after them
/// run.
#[test]
fn a_batch_answers_every_line() {
    let _serial = one_at_a_time();
    assert_nothing_left("before any case");
    let mut input = Vec::new();
    let line = |input: &mut Vec<u8>, text: &str| {
        input.extend_from_slice(text.as_bytes());
        input.push(b'\n');
    };
    line(&mut input, r#"{"id":"first","argv":["/bin/true"]}"#);
    line(
        &mut input,
        r#"{"id":"most","argv":["/bin/true"],"time":"86400s","wall":"86400s","memory":"1T","stack":"1T","output":"1T","processes":1000000}"#,
    );
    line(
        &mut input,
        r#"{"id":"most-ns","mode":"namespace","argv":["/bin/true"],"time":"86400s","wall":"86400s","processes":1000000}"#,
    );
    input.extend_from_slice(b"{\"id\":\"latin1\",\"argv\":[\"caf\xe9\"]}\n");
    input.extend_from_slice(b"{\"id\":\"bad\xff\",\"argv\":[\"/bin/true\"]}\n");
    let mut long = br#"{"id":"long","argv":[""#.to_vec();
    long.resize(16 << 20 | 1, b'x');
    input.extend_from_slice(&long);
    line(&mut input, r#""]}"#);
    for (id, field) in [
        ("time", r#""time":"18446744073709s""#),
        ("wall", r#""wall":"18446744073709s""#),
        ("memory", r#""memory":"1025G""#),
        ("stack", r#""stack":"18446744073709551615K""#),
        ("output", r#""output":"2T""#),
        ("processes", r#""processes":18446744073709551615"#),
        ("processes-2^64", r#""processes":18446744073709551616"#),
    ] {
        line(
            &mut input,
            &format!(r#"{{"id":"{id}","argv":["/bin/true"],{field}}}"#),
        );
    }
    line(&mut input, r#"{"id":"last","argv":["/bin/true"]}"#);
    let (code, results) = batch_bytes(&input);
    assert_eq!(code, 0, "the batch ends as usual");
    assert_eq!(results.len(), 14, "one result per line: {results:?}");
    let result = |id: Option<&str>, detail: &str| {
        results
            .iter()
            .find(|r| r["id"].as_str() == id && r["detail"].as_str().unwrap_or("").contains(detail))
    };
    for id in ["first", "most", "most-ns", "last"] {
        let r = result(Some(id), "").unwrap_or_else(|| panic!("{id}: {results:?}"));
        assert_eq!(r["status"], "ok", "{id}: {r}");
    }
    for (id, says) in [
        (Some("latin1"), "not UTF-8: invalid byte at offset 27"),
        // The bad byte is in the id: no id rather than a damaged one.
        (None, "not UTF-8: invalid byte at offset 10"),
        (None, "line longer than 16777216 bytes"),
        (Some("time"), "time: must be at most 1440m"),
        (Some("wall"), "wall: must be at most 1440m"),
        (Some("memory"), "memory: must be at most 1T"),
        (
            Some("stack"),
            "stack: \"18446744073709551615K\": too large a size",
        ),
        (Some("output"), "output: must be at most 1T"),
        (Some("processes"), "processes: must be at most 1000000"),
        (
            Some("processes-2^64"),
            "processes: 1.8446744073709552e+19 is not a whole number",
        ),
    ] {
        let r = result(id, says).unwrap_or_else(|| panic!("{id:?} {says}: {results:?}"));
        assert_eq!(r["status"], "internal_error", "{r}");
    }
    assert_nothing_left("batch");
}
