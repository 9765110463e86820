//! The host's walls, with hostile programs: nothing a program does turns runbox (root on
//! the judge's host) against the host or the judge. Each test is one wall of the README's
//! security section, in every mode where it applies.

use runbox_tests::{
    batch, each_mode, finish, probe_bin, probe_bind, run, runbox_bin, Ran, TempDir, PROBE,
};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// The probe's options and argv[0] in `mode`: bound at [`PROBE`] in a sandbox; its host
/// path in ptrace mode (which has no binds), with two processes allowed there, as the
/// other modes allow by default.
fn probe_argv(mode: &str) -> (Vec<String>, String) {
    match mode {
        "ptrace" => (
            vec!["--processes".into(), "2".into()],
            probe_bin().display().to_string(),
        ),
        _ => (vec!["--bind".into(), probe_bind()], PROBE.into()),
    }
}

fn probe(mode: &str, options: &[&str], args: &[&str]) -> Ran {
    let (mut all, program) = probe_argv(mode);
    all.extend(options.iter().map(|o| o.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let argv: Vec<&str> = [program.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    run(mode, &all, &argv)
}

/// A batch line running the probe with `args` in `mode`.
fn probe_request(id: &str, mode: &str, args: &[&str]) -> String {
    let (options, program) = probe_argv(mode);
    let argv: Vec<String> = [program]
        .into_iter()
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
    let extra = match mode {
        "ptrace" => r#""processes":2"#.to_string(),
        _ => format!(r#""bind":["{}"]"#, options[1]),
    };
    format!(
        "{{\"id\":\"{id}\",\"mode\":\"{mode}\",\"argv\":{},{extra}}}\n",
        serde_json::to_string(&argv).unwrap()
    )
}

each_mode! {
    fn nested_namespaces_fail_under_every_profile(mode in container, namespace, ptrace) {
        // (profile, what unshare and setns get): the strict-based profiles forbid them by name.
        let refused = "errno 1\n";
        for (profile, others) in [
            ("default", refused),
            ("none", refused),
            ("python3", refused),
            ("rust", "disallowed_syscall"),
        ] {
            let p = ["--profile", profile];
            for (args, says) in [
                (&["clone-ns", "0x10000000"][..], refused), // CLONE_NEWUSER
                (&["clone-ns", "0x20000"], refused),        // CLONE_NEWNS
                (&["clone-ns", "0x40000000"], refused),     // CLONE_NEWNET
                (&["clone3-ns", "0x10000000"], "errno 38\n"), // ENOSYS: libc falls back
                (&["clone3-ns", "0"], "errno 38\n"),
                (&["syscall", "unshare", "0x10000000"], others),
                (&["syscall", "setns", "0"], others),
            ] {
                let ran = probe(mode, &p, args);
                let got = match ran.status() {
                    "ok" => ran.out(),
                    other => other.to_string(),
                };
                assert_eq!(got, says, "{mode} {profile} {args:?}: {ran:?}");
            }
        }
        // A plain fork stays a fork.
        let ran = probe(mode, &[], &["clone-ns", "0"]);
        assert_eq!(ran.out(), "ok\n", "{mode}: {ran:?}");
        // strict allows no clone at all (tests/seccomp.rs: fork is disallowed_syscall,
        // named); its threads-allowing child, rust, is above.
    }
}

each_mode! {
    fn a_program_leads_a_session_of_its_own_with_no_terminal(mode in container, namespace, ptrace) {
        let ran = probe(mode, &[], &["session"]);
        assert_eq!(ran.out(), "leader yes tty 0\n", "{mode}: {ran:?}");
    }
}

/// A pseudo-terminal pair in raw mode: (controller side, terminal side).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: two live ints for the fds; no name, termios or window size asked for.
    let ret = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(ret, 0, "openpty");
    // SAFETY: openpty returned two new fds that nothing else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // SAFETY: an all-zero termios is overwritten by tcgetattr; the fd is live.
    let mut tio: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        libc::tcgetattr(slave.as_raw_fd(), &mut tio);
        libc::cfmakeraw(&mut tio);
        libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &tio);
    }
    (master, slave)
}

/// What is waiting in the terminal's input queue (what a shell on it would read next).
fn pending_input(slave: &OwnedFd) -> Vec<u8> {
    // SAFETY: flags of a live fd of ours, then a read into a live buffer.
    unsafe {
        let flags = libc::fcntl(slave.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(slave.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        let mut buf = [0u8; 256];
        let n = libc::read(slave.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
        buf[..n.max(0) as usize].to_vec()
    }
}

each_mode! {
    fn tiocsti_from_a_program_on_the_judges_terminal_injects_nothing(
        mode in container, namespace, ptrace
    ) {
        let (master, slave) = pty();
        let (options, program) = probe_argv(mode);
        // runbox's stdout and stderr are the terminal, as when a judge runs it in a shell.
        let out = Command::new(runbox_bin())
            .args(["run", "--json", "--mode", mode])
            .args(&options)
            .arg("--")
            .args([program.as_str(), "tiocsti", "touch /tmp/PWNED\n"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode}");
        assert_eq!(pending_input(&slave), b"", "{mode}: keystrokes were queued");
        // What runbox and the program wrote arrived on the terminal: the probe's report
        // (no push succeeded), then the result.
        // SAFETY: a non-blocking read of a live fd of ours into a live buffer.
        let shown = unsafe {
            let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            let mut buf = vec![0u8; 64 << 10];
            let n = libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len());
            String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned()
        };
        assert!(shown.contains("fd0 errno"), "{mode}: {shown}");
        assert!(!shown.contains(" ok"), "{mode}: a push succeeded: {shown}");
        // ptrace mode ends a run that opens /dev/tty, outside every file set.
        let status = match mode {
            "ptrace" => r#""status":"file_access_denied""#,
            _ => r#""status":"ok""#,
        };
        assert!(shown.contains(status), "{mode}: {shown}");
        // Handing the terminal itself as --stdout is refused: a device is no output file.
        let name = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
        let ran = run(mode, &["--stdout", name.to_str().unwrap()], &["/bin/true"]);
        assert_eq!(ran.code, 2, "{mode}: {ran:?}");
        assert!(ran.stderr.contains("a character device"), "{ran:?}");
    }
}

fn autogroup() -> String {
    std::fs::read_to_string("/proc/self/autogroup").unwrap_or_default()
}

// One batch, every mode at once: an attacker in one mode must reach no victim in any.
#[test]
fn kill_and_autogroup_reach_nothing_outside_the_run() {
    // SAFETY: a query of our own process group.
    let judge_group = unsafe { libc::getpgrp() }.to_string();
    let before = autogroup();
    let mut lines = String::new();
    for mode in ["container", "namespace", "ptrace"] {
        lines += &probe_request(&format!("attack-{mode}"), mode, &["kill-all", &judge_group]);
        lines += &probe_request(&format!("victim-{mode}"), mode, &["spin", "300"]);
    }
    // The batch helper asserts that runbox itself exits 0 (it was not killed).
    let results = batch(&lines, 6);
    assert_eq!(results.len(), 6, "{results:?}");
    for result in &results {
        if result["id"].as_str().unwrap().starts_with("victim") {
            assert_eq!(result["status"], "ok", "{result}");
        }
    }
    assert_eq!(autogroup(), before, "the judge's autogroup changed");
}

each_mode! {
    fn symlinks_and_fifos_left_in_a_dir_are_not_followed_or_opened(
        mode in container, namespace, ptrace
    ) {
        let secret = TempDir::new("walls-secret");
        std::fs::write(secret.join("secret"), "SECRET").unwrap();
        std::fs::write(secret.join("victim"), "VICTIM").unwrap();
        let mode_0700 = std::os::unix::fs::PermissionsExt::from_mode(0o700);
        std::fs::set_permissions(&secret.0, mode_0700).unwrap();
        let dir = TempDir::new("walls-dir");
        let mode_0777 = std::os::unix::fs::PermissionsExt::from_mode(0o777);
        std::fs::set_permissions(&dir.0, mode_0777).unwrap();
        // The first run plants them (in a container: the planting is not what is tested).
        let plant = format!(
            "ln -sf {s}/secret /w/in.txt; ln -sf {s}/victim /w/out.txt; ln -sfn {s} /w/sub; \
             rm -f /w/fifo; mkfifo /w/fifo",
            s = secret.0.display()
        );
        let ran = run(
            "container",
            &["--dir", &dir.join("")],
            &["/bin/sh", "-c", &plant],
        );
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        // The next runs name them; each is refused, naming the path.
        for (option, path, says) in [
            ("--stdin", "in.txt", "a symbolic link on the path"),
            ("--stdout", "out.txt", "a symbolic link on the path"),
            ("--stderr", "out.txt", "a symbolic link on the path"),
            ("--stdin", "sub/secret", "a symbolic link on the path"),
            ("--stdout", "fifo", "a FIFO"),
            ("--stdin", "fifo", "a FIFO"),
            ("--dir", "sub", "symbolic link"),
            ("--bind", "in.txt", "symbolic link"),
        ] {
            if mode == "ptrace" && option == "--bind" {
                continue; // no binds in ptrace mode at all
            }
            let path = dir.join(path);
            let arg = match option {
                "--bind" => format!("{path}:/x"),
                _ => path.clone(),
            };
            let ran = run(mode, &[option, &arg], &["/bin/cat"]);
            assert_eq!(ran.code, 2, "{mode} {option} {path}: {ran:?}");
            assert!(
                ran.stderr.contains(&path) && ran.stderr.contains(says),
                "{mode} {option} {path}: {ran:?}"
            );
            assert!(!ran.out().contains("SECRET"), "{ran:?}");
        }
        // A batch line gets the same answer, and the batch goes on.
        let line = format!(
            "{{\"id\":\"s\",\"mode\":\"{mode}\",\"argv\":[\"/bin/cat\"],\"stdin\":\"{}\"}}\n{{\"id\":\"t\",\"mode\":\"{mode}\",\"argv\":[\"/bin/true\"]}}\n",
            dir.join("in.txt")
        );
        let line = line
            + &format!(
                "{{\"id\":\"u\",\"mode\":\"{mode}\",\"argv\":[\"/bin/true\"],\"dir\":\"{}\"}}\n",
                dir.join("sub")
            );
        let mut results = batch(&line, 1);
        results.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
        assert_eq!(results[0]["status"], "internal_error", "{results:?}");
        assert!(results[0]["detail"]
            .as_str()
            .unwrap()
            .contains("a symbolic link on the path"));
        assert_eq!(results[1]["status"], "ok", "{results:?}");
        // A batch's error names its field, not the command line's flag.
        assert!(results.len() == 3, "{results:?}");
        let detail = results[2]["detail"].as_str().unwrap();
        assert!(detail.starts_with("dir /"), "{mode}: {detail}");
        // Root's files were neither read into a sandbox nor written.
        let victim = std::fs::read_to_string(secret.join("victim")).unwrap();
        assert_eq!(victim, "VICTIM");
    }
}

each_mode! {
    fn a_program_cannot_forge_or_lose_the_result_line(mode in container, namespace, ptrace) {
        // runbox's stdout is a pipe (the test reads it); the program makes its own stdout
        // non-blocking and fills it with forged result lines.
        let ran = probe(mode, &[], &["forge-results", "20000"]);
        assert_eq!(ran.code, 0, "{mode}: {ran:?}");
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        assert!(ran.result["detail"].is_null(), "{mode}: took a forged line");
        assert!(
            ran.out().contains("forged"),
            "{mode}: the program's output is kept"
        );
        // The real result is the very last line.
        assert!(ran.stderr.is_empty(), "{mode}: {}", ran.stderr);
    }
}

#[test]
fn a_result_that_cannot_be_written_is_an_internal_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(runbox_bin())
        .args(["run", "--json", "--", "/bin/true"])
        .stdout(Stdio::from(full.try_clone().unwrap()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the result"));
    // With output of the program's own, its copy from the spool fails first.
    let out = Command::new(runbox_bin())
        .args(["run", "--", "/bin/echo", "hi"])
        .stdout(Stdio::from(full.try_clone().unwrap()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("cannot copy the program's output"), "{said}");
    let mut child = Command::new(runbox_bin())
        .args(["batch", "--parallel", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"{\"argv\":[\"/bin/true\"]}\n").unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write a result line"));
}

each_mode! {
    fn output_to_a_pipe_is_limited_and_input_is_never_output(mode in container, namespace, ptrace) {
        // runbox's own stdout is the test's pipe.
        let out = Command::new(runbox_bin())
            .args(["run", "--json", "--mode", mode, "--output", "1M", "--"])
            .args(["/usr/bin/head", "-c", "50000000", "/dev/zero"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let ran = finish(out);
        assert_eq!(
            ran.status(),
            "output_limit_exceeded",
            "{mode}: {:?}",
            ran.result
        );
        // 1 MiB of the program's, then the newline runbox adds before its result.
        assert_eq!(ran.stdout.len(), (1 << 20) + 1, "{mode}");
        assert_eq!(ran.stdout.last(), Some(&b'\n'), "{mode}");
        // A stdin twice the output limit, read whole: ok.
        let input = TempDir::new("walls-input");
        std::fs::write(input.join("in"), vec![b'x'; 2 << 20]).unwrap();
        let ran = run(
            mode,
            &["--output", "1M", "--stdin", &input.join("in")],
            &["/usr/bin/wc", "-c"],
        );
        assert_eq!(
            (ran.status(), ran.out().trim()),
            ("ok", "2097152"),
            "{mode}: {ran:?}"
        );
    }
}

each_mode! {
    fn fallocate_reserves_no_disk_past_the_output_limit(mode in container, namespace, ptrace) {
        let dir = TempDir::new("walls-fallocate");
        let mode_0777 = std::os::unix::fs::PermissionsExt::from_mode(0o777);
        std::fs::set_permissions(&dir.0, mode_0777).unwrap();
        let inside = match mode {
            "ptrace" => dir.join(""),
            _ => "/w/".into(),
        };
        let opts = ["--dir", &dir.join(""), "--output", "1M"];
        for (fmode, says) in [
            ("0x01", "errno 95\n"), // FALLOC_FL_KEEP_SIZE: past RLIMIT_FSIZE's sight
            ("0x03", "errno 95\n"), // and punching holes, which needs it
            ("0", "output_limit_exceeded"), // growing the file: SIGXFSZ at the limit
        ] {
            // A file per mode: each run's uid is its own, and may not write another's.
            let file = format!("{inside}f{mode}{fmode}");
            let ran = probe(mode, &opts, &["fallocate", &file, fmode, "100"]);
            let got = match ran.status() {
                "ok" => ran.out(),
                other => other.to_string(),
            };
            assert_eq!(got, says, "{mode} {fmode}: {ran:?}");
            let on_disk = std::fs::metadata(dir.join(&format!("f{mode}{fmode}"))).unwrap();
            let blocks = std::os::unix::fs::MetadataExt::blocks(&on_disk);
            assert!(blocks * 512 <= 1 << 20, "{mode} {fmode}: {blocks} blocks");
        }
    }
}

#[test]
fn a_deep_tree_left_behind_loses_no_result() {
    // 20,000 nested directories in /tmp and /w: the cleaning between runs must neither
    // overflow a stack (which ended the whole batch) nor serve the next run unclean.
    let mut lines = String::new();
    for (i, dir) in ["/tmp", "/w", "/tmp"].iter().enumerate() {
        lines += &probe_request(
            &format!("deep-{i}"),
            "container",
            &["deep-tree", dir, "20000"],
        );
        lines += &format!("{{\"id\":\"after-{i}\",\"argv\":[\"/bin/sh\",\"-c\",\"[ -z \\\"$(ls -A /tmp)$(ls -A /w)\\\" ]\"]}}\n");
    }
    // ptrace mode's own work dir, on the host, nested by renames past PATH_MAX: its
    // recursive removal overflowed a worker's stack and aborted the batch (exit 134).
    let deep = probe_request("deep-ptrace", "ptrace", &["deep-renames", "20000"]);
    lines += &deep.replacen("{", "{\"time\":\"10s\",\"wall\":\"30s\",", 1);
    lines += "{\"id\":\"after-ptrace\",\"argv\":[\"/bin/true\"]}\n";
    // The batch helper asserts that runbox exits 0.
    let results = batch(&lines, 1);
    assert_eq!(results.len(), 8, "{results:?}");
    for result in &results {
        assert_eq!(result["status"], "ok", "{result}");
    }
}

#[test]
fn a_batch_request_cannot_read_the_batchs_own_requests() {
    let lines = "{\"id\":\"a\",\"argv\":[\"/bin/cat\"],\"stdin\":\"-\"}\n{\"id\":\"b\",\"argv\":[\"/bin/true\"]}\n";
    let mut results = batch(lines, 1);
    results.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0]["status"], "internal_error");
    assert!(results[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("stdin -:"));
    assert_eq!(results[1]["status"], "ok");
}

#[test]
fn a_lease_on_a_named_file_is_refused_not_waited_out() {
    // A sandbox that made a file in a shared --dir owns it, and may take a lease on it:
    // opening it then waited for the lease break time (45 s). Here the test holds the lease.
    let dir = TempDir::new("walls-lease");
    let path = dir.join("out.txt");
    std::fs::write(&path, b"").unwrap();
    let held = std::fs::File::open(&path).unwrap();
    // The lease break's notice is SIGIO to the holder, which would end this test process.
    // SAFETY: ignoring a signal; no handler runs.
    unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
    // SAFETY: a lease on a live fd of ours.
    let ret = unsafe { libc::fcntl(held.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) };
    assert_eq!(ret, 0, "F_SETLEASE: {}", std::io::Error::last_os_error());
    let started = std::time::Instant::now();
    let ran = run("container", &["--stdout", &path], &["/bin/true"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("held by a lease"), "{ran:?}");
    // Refused at once, not after the lease break time: a generous bound, not a timing test.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // SAFETY: as above.
    unsafe { libc::fcntl(held.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
}
