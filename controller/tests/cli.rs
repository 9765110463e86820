//! The command line's contract where no sandbox is needed: help, version and usage errors
//! (exit 2, a message, no result). Living in the controller package, it also makes
//! `cargo test` build the `runbox` binary that tests/ drives.

use std::process::Command;

fn runbox(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_runbox"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn help_names_the_run_options() {
    let (code, stdout, _) = runbox(&["run", "--help"]);
    assert_eq!(code, 0);
    for option in [
        "--mode", "--time", "--wall", "--stack", "--output", "--stdin", "--dir", "--bind",
        "--rootfs", "--json",
    ] {
        assert!(stdout.contains(option), "{option} missing from help");
    }
}

#[test]
fn usage_errors_exit_2_with_a_message_and_no_result() {
    for args in [
        &["run"][..],
        &["run", "--time", "fast", "--", "true"],
        &["run", "--wall", "1.5us", "--", "true"],
        &["run", "--output", "12X", "--", "true"],
        &["run", "--mode", "vm", "--", "true"],
        &["run", "--bind", "/a:/b:rx", "--", "true"],
        // Impossible limits.
        &["run", "--time", "0s", "--", "true"],
        &["run", "--wall", "0ms", "--", "true"],
        &["run", "--memory", "100K", "--", "true"],
        &["run", "--stack", "1K", "--", "true"],
        &["run", "--processes", "0", "--", "true"],
        &["frobnicate"],
    ] {
        let (code, stdout, stderr) = runbox(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.is_empty(), "{args:?}: no message");
        assert_eq!(stdout, "", "{args:?}");
    }
}
