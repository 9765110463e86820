//! The group benchmark (run as root: scripts/bench.sh, or `cargo bench --bench groups`
//! with RUNBOX_PING and RUNBOX_PONG naming static ping and pong programs): an interactive
//! ping-pong, two static programs exchanging 10,000 one-byte messages, as a runbox group
//! (each in its own warm container, connected by plain kernel pipes) beside the same two
//! programs connected by pipes on the host with no sandbox, interleaved; medians in
//! microseconds and their ratio.

mod table;

use runbox::group::{engine, GroupRequest};
use runbox::pool::Pools;
use runbox::{Config, OutputDefault, Status};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use table::{header, micros, row};

/// The messages each way.
const MESSAGES: u32 = 10_000;
/// The rounds of each, interleaved.
const ROUNDS: usize = 21;

fn program(var: &str, default: &str) -> String {
    let path = std::env::var(var)
        .unwrap_or_else(|_| format!("{}/../target/bench/{default}", env!("CARGO_MANIFEST_DIR")));
    assert!(
        Path::new(&path).exists(),
        "{path}: build the static ping and pong (scripts/bench.sh does)"
    );
    path
}

/// ping and pong on the host: ping's stdout into pong's stdin, and back.
fn on_the_host(ping: &str, pong: &str) {
    let (to_pong_r, to_pong_w) = runbox::sys::fs::pipe().expect("pipe");
    let (to_ping_r, to_ping_w) = runbox::sys::fs::pipe().expect("pipe");
    let mut pinger = Command::new(ping)
        .arg(MESSAGES.to_string())
        .stdin(Stdio::from(to_ping_r))
        .stdout(Stdio::from(to_pong_w))
        .spawn()
        .expect("spawn ping");
    let mut ponger = Command::new(pong)
        .stdin(Stdio::from(to_pong_r))
        .stdout(Stdio::from(to_ping_w))
        .spawn()
        .expect("spawn pong");
    assert!(pinger.wait().expect("wait").success());
    assert!(ponger.wait().expect("wait").success());
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test` builds benches in test mode: nothing to check here.
    }
    let (ping, pong) = (
        program("RUNBOX_PING", "ping"),
        program("RUNBOX_PONG", "pong"),
    );
    let request: GroupRequest = serde_json::from_value(serde_json::json!({
        "group": [
            {"argv": ["/ping", MESSAGES.to_string()], "bind": [format!("{ping}:/ping")]},
            {"argv": ["/pong"], "bind": [format!("{pong}:/pong")]},
        ],
        "pipes": [
            {"from": {"run": 0, "fd": 1}, "to": {"run": 1, "fd": 0}},
            {"from": {"run": 1, "fd": 1}, "to": {"run": 0, "fd": 0}},
        ],
    }))
    .expect("the group");
    let config = Config::builtin();
    let pools = Pools::new(2).expect("a pool of two");
    let in_group = || {
        let answer = engine::run(
            &request,
            &config,
            Some(&pools),
            OutputDefault::Discard,
            None,
            None,
        )
        .expect("the group runs");
        for result in &answer.results {
            assert_eq!(result.status, Status::Ok, "{result:?}");
        }
    };
    // Warm up both.
    in_group();
    on_the_host(&ping, &pong);
    let (mut group, mut host) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        in_group();
        group.push(micros(start));
        let start = Instant::now();
        on_the_host(&ping, &pong);
        host.push(micros(start));
    }
    header(&format!(
        "8. interactive ping-pong: {MESSAGES} one-byte messages each way, interleaved"
    ));
    let group = row("runbox group of two, warm containers", group);
    let host = row("the same two piped on the host, no sandbox", host);
    println!(
        "\nratio group / host: {:.3} (the sandbox adds {:+.1} %)",
        group as f64 / host as f64,
        (group as f64 / host as f64 - 1.0) * 100.0
    );
}
