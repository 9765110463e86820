//! Syscall profiles with real programs: the default profile refuses each listed kernel
//! surface, ordinary programs and compilers still run under it, and strict ends a run that
//! steps outside its allow-list, SIGSYS handler or not.

use runbox_tests::{probe_bind, run, Ran, TempDir, PROBE};

fn probe_call(profile: &str, call: &str, arg0: &str) -> Ran {
    run(
        "container",
        &["--bind", &probe_bind(), "--profile", profile],
        &[PROBE, "syscall", call, arg0],
    )
}

#[test]
fn the_default_profile_refuses_every_listed_surface_with_eperm() {
    for (call, arg0) in [
        ("ptrace", "16"), // PTRACE_ATTACH
        ("mount", "0"),
        ("unshare", "0x10000000"), // CLONE_NEWUSER
        ("keyctl", "0"),
        ("bpf", "0"),
        ("perf_event_open", "0"),
        ("userfaultfd", "0"),
        ("io_uring_setup", "1"),
        ("socket", "2"),             // AF_INET
        ("personality", "0x400000"), // READ_IMPLIES_EXEC
        ("reboot", "0"),
        ("open_by_handle_at", "0"),
    ] {
        let ran = probe_call("default", call, arg0);
        assert_eq!(
            (ran.status(), ran.out().as_str()),
            ("ok", "errno 1\n"),
            "{call}: {ran:?}"
        );
    }
    // What stays allowed: a Unix socket, and asking for the current persona.
    for (call, arg0) in [("socket", "1"), ("personality", "0xffffffff")] {
        let ran = probe_call("default", call, arg0);
        assert_eq!(ran.out(), "ok\n", "{call} {arg0}: {ran:?}");
    }
    // Even without a profile, namespaces stay refused: a wall no profile lifts.
    let ran = probe_call("none", "unshare", "0x10000000");
    assert_eq!(ran.out(), "errno 1\n", "{ran:?}");
}

const THREADS_CPP: &str = r#"
#include <thread>
#include <vector>
#include <atomic>
#include <iostream>
int main() {
    std::atomic<long> sum{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) threads.emplace_back([&] { for (int i = 0; i < 1000; i++) sum += i; });
    for (auto &t : threads) t.join();
    std::cout << sum << std::endl;
}
"#;

const SUM_C: &str = r#"
#include <stdio.h>
int main(void) { long s = 0; for (int i = 0; i < 1000; i++) s += i; printf("%ld\n", s); return 0; }
"#;

const FORKS_C: &str = r#"
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("before\n"); fflush(stdout); fork(); printf("after\n"); return 0; }
"#;

const HIDES_C: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static void ignore(int sig) { (void)sig; }
int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = ignore;
    sigaction(SIGSYS, &sa, 0);
    syscall(SYS_getppid);
    printf("survived\n");
    return 0;
}
"#;

/// A work directory the sandbox may write, with the sources in it.
fn sources(test: &str) -> TempDir {
    let dir = TempDir::new(test);
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    for (name, text) in [
        ("threads.cpp", THREADS_CPP),
        ("sum.c", SUM_C),
        ("forks.c", FORKS_C),
        ("hides.c", HIDES_C),
    ] {
        std::fs::write(dir.0.join(name), text).unwrap();
    }
    dir
}

#[test]
fn compilers_and_ordinary_programs_run_under_the_default_profile() {
    let dir = sources("seccomp-default");
    let work = dir.join("");
    let limits = [
        "--dir",
        work.as_str(),
        "--time",
        "20s",
        "--memory",
        "1G",
        "--processes",
        "64",
    ];
    for (what, script, expect) in [
        ("gcc", "gcc -O2 -o sum sum.c && ./sum", "499500\n"),
        (
            "g++ with threads",
            "g++ -O2 -pthread -o threads threads.cpp && ./threads",
            "1998000\n",
        ),
        (
            "python3 with imports",
            "python3 -c 'import json, re, collections, math; print(json.dumps(sum(range(1000))))'",
            "499500\n",
        ),
    ] {
        let ran = run("container", &limits, &["sh", "-c", script]);
        assert_eq!(
            (ran.status(), ran.out().as_str()),
            ("ok", expect),
            "{what}: {ran:?}"
        );
    }
}

#[test]
fn strict_runs_a_plain_program_and_ends_one_that_steps_outside() {
    let dir = sources("seccomp-strict");
    let work = dir.join("");
    let compile = run(
        "container",
        &["--dir", &work, "--time", "20s", "--memory", "1G"],
        &[
            "sh",
            "-c",
            "gcc -O2 -o sum sum.c && gcc -O2 -o forks forks.c && gcc -O2 -o hides hides.c",
        ],
    );
    assert_eq!(compile.status(), "ok", "{compile:?}");
    let strict = ["--dir", work.as_str(), "--profile", "strict"];

    let ran = run("container", &strict, &["./sum"]);
    assert_eq!(
        (ran.status(), ran.out().as_str()),
        ("ok", "499500\n"),
        "{ran:?}"
    );

    // glibc's fork() is the clone syscall; the verdict names it.
    let ran = run("container", &strict, &["./forks"]);
    assert_eq!(
        (ran.status(), ran.result["detail"].as_str()),
        ("disallowed_syscall", Some("clone")),
        "{ran:?}"
    );
    assert_eq!(ran.out(), "before\n", "it got no further than the fork");

    // A program that installs its own SIGSYS handler cannot hide the verdict.
    let ran = run("container", &strict, &["./hides"]);
    assert_eq!(
        (ran.status(), ran.result["detail"].as_str()),
        ("disallowed_syscall", Some("getppid")),
        "{ran:?}"
    );
    assert_eq!(ran.out(), "", "{ran:?}");

    // Namespace mode's waiter holds the listener as init does.
    let ran = run("namespace", &strict, &["./forks"]);
    assert_eq!(
        (ran.status(), ran.result["detail"].as_str()),
        ("disallowed_syscall", Some("clone")),
        "{ran:?}"
    );

    // The same programs are fine under the default profile.
    let ran = run("container", &["--dir", &work], &["./forks"]);
    assert_eq!(ran.status(), "ok", "{ran:?}");
}

#[test]
fn language_profiles_compile_and_run_real_programs() {
    let dir = sources("seccomp-languages");
    let work = dir.join("");
    for (what, compiler, script, profile, program, expect) in [
        (
            "c",
            "gcc",
            "gcc -O2 -o sum sum.c",
            "c",
            &["./sum"][..],
            "499500\n",
        ),
        (
            "c++ with threads",
            "gpp",
            "g++ -O2 -pthread -o threads threads.cpp",
            "cpp",
            &["./threads"][..],
            "1998000\n",
        ),
    ] {
        let built = run(
            "container",
            &["--dir", &work, "--profile", compiler],
            &["sh", "-c", script],
        );
        assert_eq!(built.status(), "ok", "{what}: compiling: {built:?}");
        let ran = run(
            "container",
            &["--dir", &work, "--profile", profile],
            program,
        );
        assert_eq!(
            (ran.status(), ran.out().as_str()),
            ("ok", expect),
            "{what}: {ran:?}"
        );
    }
    let ran = run(
        "container",
        &["--profile", "python3"],
        &["python3", "-c", "import os, json; print(json.dumps([os.environ['PYTHONDONTWRITEBYTECODE'], sum(range(1000))]))"],
    );
    assert_eq!(
        (ran.status(), ran.out().as_str()),
        ("ok", "[\"1\", 499500]\n"),
        "{ran:?}"
    );
    // The c profile allows one process: a forking program is refused by pids.max and the
    // filter alike.
    let ran = run(
        "container",
        &["--dir", &work, "--profile", "c"],
        &["sh", "-c", "true"],
    );
    assert_eq!(ran.status(), "disallowed_syscall", "{ran:?}");
}

#[test]
fn profiles_are_listed_and_broken_configs_are_refused_with_file_line_and_key() {
    let out = std::process::Command::new(runbox_tests::runbox_bin())
        .arg("profiles")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    for name in [
        "default", "strict", "c", "cpp", "python3", "java", "go", "gcc", "gpp", "rustc", "javac",
        "go-build",
    ] {
        assert!(
            listing.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing:\n{listing}"
        );
    }
    let dir = TempDir::new("configs");
    for (text, says) in [
        (
            "[profile.x]\nmemroy = \"1M\"\n",
            ":2: unknown field `memroy`",
        ),
        (
            "[profile.x]\nallow = [\"frobnicate\"]\n",
            ":2: profile.x.allow: unknown syscall \"frobnicate\"",
        ),
        (
            "[profile.x]\ntime = \"0ms\"\n",
            ":2: profile.x.time: must be more than zero",
        ),
        (
            "[profile.x]\nmemory = \"100K\"\n",
            ":2: profile.x.memory: must be at least",
        ),
        ("[profile.x\n", ":1:"),
    ] {
        let file = dir.join("judge.toml");
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(runbox_tests::runbox_bin())
            .args(["run", "--config", &file, "--", "true"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(
            stderr.contains(&format!("{file}{says}")),
            "{text}: {stderr}"
        );
    }
    // A good file adds a profile that runs.
    let file = dir.join("judge.toml");
    std::fs::write(
        &file,
        "[profile.quiet]\nsyscalls = \"default\"\nrefuse = [\"getppid\"]\nprocesses = 4\n",
    )
    .unwrap();
    let ran = run(
        "container",
        &["--config", &file, "--profile", "quiet"],
        &["sh", "-c", "echo $PPID"],
    );
    assert_eq!(ran.status(), "ok", "{ran:?}");
}
