//! Real programs in real sandboxes, in both modes: exit statuses, signals, stdio, argv and
//! env, the filesystem, identity, processes and network.

use runbox_tests::{each_mode, probe_bind, processes_with, run, TempDir, PROBE};

each_mode! {
    fn exit_zero_is_ok(mode) {
        let ran = run(mode, &[], &["/bin/true"]);
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        assert_eq!(ran.result["exit_code"], 0, "{mode}");
        assert_eq!(ran.result["signal"], serde_json::Value::Null, "{mode}");
        assert_eq!(ran.code, 0, "{mode}");
    }
}

each_mode! {
    fn exit_three_is_nonzero_exit(mode) {
        let ran = run(mode, &[], &["sh", "-c", "exit 3"]);
        assert_eq!(ran.status(), "nonzero_exit", "{mode}: {ran:?}");
        assert_eq!(ran.result["exit_code"], 3, "{mode}");
        assert_eq!(ran.code, 0, "{mode}: runbox did its job");
    }
}

each_mode! {
    fn a_fault_and_an_abort_are_signaled_with_their_signal(mode) {
        let bind = probe_bind();
        for (what, signal, name) in [
            ("segv", libc::SIGSEGV, "SIGSEGV"),
            ("abort", libc::SIGABRT, "SIGABRT"),
        ] {
            let ran = run(mode, &["--bind", &bind], &[PROBE, what]);
            assert_eq!(ran.status(), "signaled", "{mode} {what}: {ran:?}");
            assert_eq!(ran.result["signal"], signal, "{mode} {what}");
            assert_eq!(ran.result["detail"], name, "{mode} {what}");
            assert_eq!(
                ran.result["exit_code"],
                serde_json::Value::Null,
                "{mode} {what}"
            );
        }
    }
}

each_mode! {
    fn ten_mib_pass_from_stdin_to_stdout_unchanged(mode) {
        let dir = TempDir::new("stdio");
        let (input, output) = (dir.join("in"), dir.join("out"));
        // Every byte value, in an order that no off-by-one would preserve.
        let data: Vec<u8> = (0..10u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&input, &data).unwrap();
        let ran = run(mode, &["--stdin", &input, "--stdout", &output], &["cat"]);
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        let got = std::fs::read(&output).unwrap();
        assert!(
            got == data,
            "{mode}: {} bytes out, {} in, contents differ",
            got.len(),
            data.len()
        );
    }
}

each_mode! {
    fn argv_and_env_arrive_exactly_and_nothing_of_the_controller_leaks(mode) {
        let bind = probe_bind();
        let args = ["args", "two words", "", "ünïcødé", "'\"$HOME`x`", "-", "--"];
        let mut argv = vec![PROBE];
        argv.extend(args);
        let ran = runbox_tests::finish(
            std::process::Command::new(runbox_tests::runbox_bin())
                .args(["run", "--json", "--mode", mode, "--bind", &bind])
                .args(["--time", &runbox_tests::budget(1000)])
                .args(["--env", "A=1", "--env", "EMPTY=", "--env", "SPACED=a b=c"])
                .arg("--")
                .args(&argv)
                .env("RUNBOX_TEST_SECRET", "must-not-leak")
                .output()
                .unwrap(),
        );
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        let mut expected: Vec<u8> = Vec::new();
        for s in argv
            .iter()
            .copied()
            .chain(["--", "A=1", "EMPTY=", "SPACED=a b=c"])
        {
            expected.extend_from_slice(s.as_bytes());
            expected.push(0);
        }
        // The output does not end with a newline: runbox adds one before its result line.
        expected.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&ran.stdout),
            String::from_utf8_lossy(&expected),
            "{mode}"
        );
    }
}

each_mode! {
    fn only_stdio_fds_are_open_even_when_the_controller_has_more(mode) {
        let bind = probe_bind();
        // fd 7 is inherited by runbox without close-on-exec; it must not reach the program.
        let script = format!(
            "exec 7</etc/hostname; exec {} run --json --mode {mode} --bind {bind} -- {PROBE} fds",
            runbox_tests::runbox_bin().display()
        );
        let ran = runbox_tests::finish(
            std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap(),
        );
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        assert_eq!(ran.out(), "0\n1\n2\n", "{mode}");
    }
}

each_mode! {
    fn cwd_is_a_writable_w_and_usr_is_read_only(mode) {
        let ran = run(
            mode,
            &[],
            &["sh", "-c", "pwd; echo x > f && cat f; : > /usr/runbox-test"],
        );
        assert_eq!(ran.out(), "/w\nx\n", "{mode}: {ran:?}");
        assert!(
            ran.stderr.contains("Read-only file system"),
            "{mode}: {}",
            ran.stderr
        );
        assert_eq!(ran.status(), "nonzero_exit", "{mode}");
    }
}

each_mode! {
    fn a_host_file_outside_the_binds_cannot_be_seen(mode) {
        let dir = TempDir::new("hidden");
        let secret = dir.join("secret");
        std::fs::write(&secret, "secret").unwrap();
        let script = format!("for f in {secret} /etc/passwd /etc/shadow /root /home /var /run/runbox; do test -e $f && echo seen $f; done; ls /etc");
        let ran = run(mode, &[], &["sh", "-c", &script]);
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        let listed: Vec<&str> = ran
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        assert!(
            !listed.iter().any(|l| l.starts_with("seen")),
            "{mode}: {listed:?}"
        );
        for entry in &listed {
            assert!(
                ["alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d"].contains(entry),
                "{mode}: /etc has {entry}"
            );
        }
    }
}

each_mode! {
    fn hostname_and_domainname_are_the_container_s(mode) {
        let ran = run(
            mode,
            &[],
            &[
                "cat",
                "/proc/sys/kernel/hostname",
                "/proc/sys/kernel/domainname",
            ],
        );
        assert_eq!(ran.out(), "runbox\nrunbox\n", "{mode}: {ran:?}");
    }
}

each_mode! {
    fn the_program_is_no_host_root_and_has_no_capabilities(mode) {
        let ran = run(mode, &[], &["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; grep -E '^(Cap|Groups|NoNewPrivs)' /proc/self/status"]);
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        let out = ran.out();
        let mut lines = out.lines();
        // As root the program is uid and gid 1 (init is 0), no host root. Without root the
        // kernel maps one id, the user's own: the program keeps init's, uid and gid 0
        // inside, without capabilities.
        let rootless = runbox::container::rootless();
        let (inside, map_lines) = if rootless { ("0", 2) } else { ("1", 4) };
        assert_eq!(lines.next(), Some(inside), "{mode}: {out}");
        assert_eq!(lines.next(), Some(inside), "{mode}: {out}");
        let maps: Vec<Vec<u32>> = lines
            .by_ref()
            .take(map_lines)
            .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
            .collect();
        // uid and gid maps alike: as root, inside 0 (init) and 1 (the program) -> two host
        // ids of the sandbox range, one id each; without root, 0 -> the user's id. Nothing
        // maps to host root.
        let user = [
            runbox::sys::process::effective_uid(),
            runbox::sys::process::effective_gid(),
        ];
        for (i, map) in maps.iter().enumerate() {
            assert_eq!(map.len(), 3, "{mode}: {out}");
            assert!(map[0] <= 1 && map[2] == 1, "{mode}: {out}");
            match rootless {
                true => assert_eq!(map[1], user[i], "{mode}: {out}"),
                false => assert!(runbox::sandbox_ids::is_sandbox_id(map[1]), "{mode}: {out}"),
            }
        }
        if !rootless {
            assert_ne!(
                maps[0][1], maps[1][1],
                "{mode}: init and program share a host uid"
            );
        }
        let out: String = out
            .lines()
            .skip(2 + map_lines)
            .map(|l| format!("{l}\n"))
            .collect();
        for line in out.lines() {
            let (key, value) = line.split_once(':').unwrap();
            let value = value.trim();
            match key {
                // Without root setgroups is denied: the user's own groups stay.
                "Groups" if rootless => {}
                "Groups" => assert_eq!(value, "", "{mode}: supplementary groups"),
                "NoNewPrivs" => assert_eq!(value, "1", "{mode}"),
                _ => assert_eq!(value, "0000000000000000", "{mode}: {key}"),
            }
        }
    }
}

each_mode! {
    fn the_program_sees_only_the_sandbox_s_processes(mode) {
        let ran = run(mode, &[], &["sh", "-c", "cd /proc && ls -d [0-9]*"]);
        let pids: Vec<u32> = ran.out().lines().map(|l| l.parse().unwrap()).collect();
        // PID 1 (init or the waiter), the shell, and ls.
        assert!(pids.len() <= 3 && pids.contains(&1), "{mode}: {pids:?}");
        assert!(pids.iter().all(|&p| p < 10), "{mode}: {pids:?}");
    }
}

each_mode! {
    fn the_network_has_only_lo(mode) {
        let ran = run(mode, &[], &["cat", "/proc/net/dev"]);
        let interfaces: Vec<String> = ran
            .out()
            .lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap().trim().to_string())
            .collect();
        assert_eq!(interfaces, ["lo"], "{mode}: {ran:?}");
    }
}

each_mode! {
    fn a_grandchild_left_running_is_killed_and_the_result_still_comes(mode) {
        let marker = format!(
            "{}{}",
            900_000 + std::process::id() % 1000,
            if mode == "container" { 1 } else { 2 }
        );
        let script = format!("(sleep {marker} &) ; exit 0");
        let started = std::time::Instant::now();
        let ran = run(mode, &[], &["sh", "-c", &script]);
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        assert!(
            started.elapsed().as_secs() < 10 * u64::from(runbox_tests::slowdown()),
            "{mode}: waited for the grandchild"
        );
        let left = processes_with(&format!("sleep {marker}"));
        assert!(left.is_empty(), "{mode}: left behind {left:?}");
    }
}

each_mode! {
    fn the_wall_limit_kills_a_busy_loop_and_everything_it_started(mode) {
        let marker = format!(
            "{}{}",
            800_000 + std::process::id() % 1000,
            if mode == "container" { 1 } else { 2 }
        );
        let script = format!("sleep {marker} & while :; do :; done");
        let ran = run(
            mode,
            &["--time", &runbox_tests::budget(5000), "--wall", "300ms"],
            &["sh", "-c", &script],
        );
        assert_eq!(ran.status(), "time_limit_exceeded", "{mode}: {ran:?}");
        assert_eq!(ran.result["detail"], "wall time", "{mode}");
        let wall = ran.result["wall_ms"].as_u64().unwrap();
        assert!((300..2000).contains(&wall), "{mode}: wall {wall}");
        assert!(
            processes_with(&format!("sleep {marker}")).is_empty(),
            "{mode}"
        );
    }
}

each_mode! {
    fn program_names_are_looked_up_in_the_sandbox_path(mode) {
        let ran = run(
            mode,
            &["--env", "PATH=/nowhere:/usr/bin"],
            &["echo", "found"],
        );
        assert_eq!(ran.out(), "found\n", "{mode}: {ran:?}");
        let ran = run(mode, &["--env", "PATH=/nowhere"], &["echo", "found"]);
        assert_eq!(ran.status(), "internal_error", "{mode}: {ran:?}");
    }
}

each_mode! {
    fn a_work_dir_and_binds_are_mounted_as_asked(mode) {
        let dir = TempDir::new("binds");
        std::fs::write(dir.join("input.txt"), "42\n").unwrap();
        let work = TempDir::new("work");
        // The sandbox's root is an unprivileged host uid: a --dir or rw bind must be writable by it.
        for writable in [&work.0, &dir.0] {
            std::fs::set_permissions(
                writable,
                std::os::unix::fs::PermissionsExt::from_mode(0o777),
            )
            .unwrap();
        }
        let input_bind = format!("{}:/data/in.txt", dir.join("input.txt"));
        let rw_bind = format!("{}:/scratch:rw", dir.0.display());
        let ran = run(
            mode,
            &["--dir", &work.join(""), "--bind", &input_bind, "--bind", &rw_bind],
            &["sh", "-c", "cat /data/in.txt; echo out > /w/result; echo rw > /scratch/made; echo no > /data/x"],
        );
        assert_eq!(ran.out(), "42\n", "{mode}: {ran:?}");
        assert_eq!(
            std::fs::read_to_string(work.0.join("result")).unwrap(),
            "out\n",
            "{mode}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.0.join("made")).unwrap(),
            "rw\n",
            "{mode}"
        );
        assert!(
            ran.stderr.contains("Read-only file system"),
            "{mode}: {}",
            ran.stderr
        );
    }
}

each_mode! {
    fn a_rootfs_directory_replaces_the_host_root(mode) {
        let rootfs = TempDir::new("rootfs");
        // A minimal root: the host's /usr and the merged-/usr links, and a marker file.
        for link in ["bin", "lib", "lib64"] {
            std::os::unix::fs::symlink(format!("usr/{link}"), rootfs.0.join(link)).unwrap();
        }
        std::fs::create_dir(rootfs.0.join("usr")).unwrap();
        std::fs::write(rootfs.0.join("marker"), "from rootfs\n").unwrap();
        let usr_bind = "/usr:/usr".to_string();
        let ran = run(
            mode,
            &["--rootfs", &rootfs.join(""), "--bind", &usr_bind],
            &[
                "sh",
                "-c",
                "cat /marker; test -e /etc/ld.so.cache && echo host-etc; ls /",
            ],
        );
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        let out = ran.out();
        assert!(out.starts_with("from rootfs\n"), "{mode}: {out}");
        assert!(!out.contains("host-etc"), "{mode}: {out}");
    }
}

#[test]
fn human_output_goes_to_stderr_and_the_program_s_to_stdout() {
    let output = std::process::Command::new(runbox_tests::runbox_bin())
        .args(["run", "--time", &runbox_tests::budget(1000)])
        .args(["--", "/bin/echo", "hello"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("status:  ok\nexit:    0\n"), "{stderr}");
    assert_eq!(output.status.code(), Some(0));
}

each_mode! {
    fn the_sandbox_dies_with_the_controller(mode) {
        let marker = format!(
            "{}{}",
            700_000 + std::process::id() % 1000,
            if mode == "container" { 1 } else { 2 }
        );
        let mut runbox = std::process::Command::new(runbox_tests::runbox_bin())
            // `$0` keeps "sleep MARKER" out of runbox's own command line (and its copies').
            .args([
                "run",
                "--mode",
                mode,
                "--time",
                "60s",
                "--",
                "sh",
                "-c",
                "exec sleep $0",
                &marker,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let needle = format!("sleep {marker}");
        let wait_until = |gone: bool| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while processes_with(&needle).is_empty() != gone {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{mode}: sleep still {}",
                    if gone { "there" } else { "missing" }
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        wait_until(false);
        let pid = runbox.id();
        runbox.kill().unwrap(); // SIGKILL: no chance to clean up
        runbox.wait().unwrap();
        wait_until(true);
        // Its cgroup stays behind until the next controller starts and sweeps it.
        let left = |name: &str| {
            runbox_tests::runbox_cgroups()
                .iter()
                .any(|p| p.ends_with(name))
        };
        let name = format!("c-{pid}-0");
        // (Whether it is still there now depends on the tests running beside this one: any
        // controller that starts sweeps it.) Only sweeping can remove it: its owner is dead.
        let ran = run(mode, &[], &["true"]);
        assert_eq!(ran.status(), "ok", "{mode}: {ran:?}");
        assert!(!left(&name), "{mode}: {name} was not swept");
    }
}
