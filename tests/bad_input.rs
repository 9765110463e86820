//! Bad input gets a clear message and leaves nothing behind: no process, mount, fd or file.
//!
//! One test function on purpose: it checks the whole host for sandbox processes and mounts,
//! and this process for fds, after each case, which is only meaningful while nothing else
//! runs (cargo runs test binaries one after another).

use runbox::mount::{Bind, RootSpec};
use runbox::{Container, ContainerConfig, Error};
use runbox_tests::{run, runbox_cgroups, sandbox_processes, TempDir, MODES};
use std::process::Command;

fn mounts() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

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

fn assert_nothing_left(case: &str, mounts_before: &str) {
    assert_eq!(
        sandbox_processes(),
        vec![],
        "{case}: sandbox processes left"
    );
    assert_eq!(
        runbox_cgroups(),
        Vec::<std::path::PathBuf>::new(),
        "{case}: cgroups left"
    );
    assert_eq!(mounts(), mounts_before, "{case}: host mounts changed");
    let state: Vec<_> = std::fs::read_dir("/run/runbox")
        .map_or(vec![], |d| d.flatten().map(|e| e.file_name()).collect());
    assert!(
        state.iter().all(|n| n == "root"),
        "{case}: /run/runbox holds {state:?}"
    );
    if let Ok(stage) = std::fs::read_dir("/run/runbox/root") {
        assert_eq!(stage.count(), 0, "{case}: the staging dir is not empty");
    }
}

#[test]
fn bad_input_is_reported_and_leaves_nothing_behind() {
    let before = mounts();
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
    let empty_rootfs = dir.join("empty-root");
    std::fs::create_dir(&empty_rootfs).unwrap();

    // Programs that cannot start: the sandbox ran, found nothing to execute: exit 3.
    for mode in MODES {
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
            assert_nothing_left(&format!("{mode} {argv:?}"), &before);
        }
        // A rootfs with nothing in it: no shell to run.
        let ran = run(mode, &["--rootfs", &empty_rootfs], &["sh", "-c", "true"]);
        assert_eq!(
            (ran.status(), ran.code),
            ("internal_error", 3),
            "{mode}: {ran:?}"
        );
        assert_nothing_left(&format!("{mode} empty rootfs"), &before);
        // A bind source the sandbox's uid cannot reach: the set-up child fails at that step.
        let bind = format!("{}:/data", private.join("data").display());
        let ran = run(mode, &["--bind", &bind], &["true"]);
        assert_eq!(
            (ran.status(), ran.code),
            ("internal_error", 3),
            "{mode}: {ran:?}"
        );
        let detail = ran.result["detail"].as_str().unwrap();
        assert!(
            detail.contains("bind mount: Permission denied") && detail.contains("/data"),
            "{mode}: {detail}"
        );
        assert_nothing_left(&format!("{mode} private bind"), &before);
    }

    // Usage errors: exit 2, a message naming the culprit, no result, nothing started.
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
        (&["--rootfs", &file], "not a directory"),
        (
            &["--rootfs", "/no/such/root"],
            "--rootfs /no/such/root: not a directory",
        ),
        (&["--dir", &file], "--dir"),
        (&["--stack", "12Q"], "unknown size unit"),
        (&["--time", "5"], "a duration needs a unit"),
        (
            &["--stdin", "/no/such/input"],
            "--stdin /no/such/input: No such file or directory",
        ),
    ];
    for (options, says) in usage_cases {
        for mode in MODES {
            let mut all = vec!["--mode", mode, "--json"];
            all.extend(options);
            let (code, stdout, stderr) = runbox(&all, &["true"]);
            assert_eq!(code, 2, "{options:?}: {stderr}");
            assert!(stderr.contains(says), "{options:?}: {stderr}");
            assert_eq!(stdout, "", "{options:?}: no result for a usage error");
            assert_nothing_left(&format!("{options:?}"), &before);
        }
    }

    // The library: a plan error and a set-up failure close every fd they opened.
    let fds = open_fds();
    let private_bind = format!("{}:/x", private.join("data").display());
    for bind in ["/no/such/source:/x", private_bind.as_str()] {
        let config = ContainerConfig {
            root: RootSpec {
                binds: vec![bind.parse::<Bind>().unwrap()],
                ..RootSpec::default()
            },
            ..ContainerConfig::default()
        };
        let err = Container::create(&config).unwrap_err();
        assert!(matches!(err, Error::Plan(_) | Error::Setup { .. }), "{err}");
        assert_nothing_left(bind, &before);
    }
    // The init memfd is made once per process and kept: allow for it.
    assert!(
        open_fds() <= fds + 1,
        "{fds} fds before, {} after",
        open_fds()
    );
}
