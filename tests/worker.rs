//! `runbox worker` against a real redis-server (Debian's, installed by scripts/setup.sh),
//! which each test starts on a free loopback port in a temp dir of its own and stops.
//! Workers are separate processes, as on separate machines. The tests run one at a time
//! ([`one_at_a_time`]): each loads both CPUs, and each checks that nothing is left.

use redis::streams::{StreamPendingReply, StreamRangeReply};
use redis::{Commands, Connection, Value};
use runbox_tests::{assert_nothing_left, one_at_a_time, processes_with, runbox_bin, TempDir};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const REQUESTS: &str = "runbox:requests";
const RESULTS: &str = "runbox:results";
const GROUP: &str = "runbox";

/// A redis-server of this test's own, stopped on drop.
struct Server {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Server {
    /// Starts a server on a free loopback port, its data (an append-only file written at
    /// each command, so that a restart loses nothing) in a temp dir.
    fn start(name: &str) -> Server {
        let dir = TempDir::new(&format!("redis-{name}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Server::spawn(port, &dir);
        let server = Server { child, port, dir };
        server.wait_ready();
        server
    }

    fn spawn(port: u16, dir: &TempDir) -> Child {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &dir.join("")])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--daemonize", "no", "--logfile", &dir.join("redis.log")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/setup.sh installs it)")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ping = self
                .client()
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (it writes its data out) and starts it again on the same port.
    fn restart(&mut self) {
        self.stop();
        std::thread::sleep(Duration::from_millis(500));
        self.child = Server::spawn(self.port, &self.dir);
        self.wait_ready();
    }

    fn stop(&mut self) {
        signal(&self.child, libc::SIGTERM);
        let _ = self.child.wait();
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("the URL")
    }

    fn con(&self) -> Connection {
        self.client()
            .get_connection()
            .expect("connect to redis-server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `signal` to a child this test started and has not reaped (so the pid is its).
fn signal(child: &Child, signal: libc::c_int) {
    let pid = child.id() as libc::pid_t;
    runbox::sys::process::kill(pid, signal).expect("kill a child");
}

/// A `runbox worker` process, killed on drop if it is still running.
struct Worker {
    child: Child,
    name: String,
    log: String,
}

impl Worker {
    /// `runbox worker --consumer NAME --parallel N --claim-after 1s ARGS` for `server`;
    /// its stderr goes to NAME.log in the server's dir.
    fn start(server: &Server, name: &str, parallel: u32, args: &[&str]) -> Worker {
        let log = server.dir.join(&format!("{name}.log"));
        let child = Command::new(runbox_bin())
            .args(["worker", "--redis", &server.url(), "--consumer", name])
            .args(["--parallel", &parallel.to_string(), "--claim-after", "1s"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the worker's log"))
            .spawn()
            .expect("spawn runbox worker");
        Worker {
            child,
            name: name.into(),
            log,
        }
    }

    /// Waits up to `limit` for it to exit.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the worker") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and its exit status.
    fn stop(&mut self) -> ExitStatus {
        signal(&self.child, libc::SIGTERM);
        self.wait(Duration::from_secs(60))
    }

    fn kill9(&mut self) {
        signal(&self.child, libc::SIGKILL);
        self.wait(Duration::from_secs(10));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    /// A test that failed stops its workers as gracefully as it can, so that what they
    /// leave does not fail the next test.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(&self.child, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Adds one entry per field list, in one pipeline; returns their ids.
fn add(con: &mut Connection, entries: &[Vec<(&str, Vec<u8>)>]) -> Vec<String> {
    let mut pipe = redis::pipe();
    for fields in entries {
        pipe.xadd(REQUESTS, "*", fields);
    }
    pipe.query(con).expect("XADD the requests")
}

/// Adds one entry `request: LINE` per line.
fn add_requests(con: &mut Connection, lines: &[String]) -> Vec<String> {
    let entries: Vec<_> = lines
        .iter()
        .map(|l| vec![("request", l.clone().into_bytes())])
        .collect();
    add(con, &entries)
}

/// A result entry: the request entry it answers and its result line, parsed.
#[derive(Debug, Clone)]
struct Answer {
    entry: String,
    result: serde_json::Value,
}

/// Every result written to `stream` so far, in order.
fn answers(con: &mut Connection, stream: &str) -> Vec<Answer> {
    let range: StreamRangeReply = con.xrange_all(stream).expect("XRANGE the results");
    let text =
        |fields: &std::collections::HashMap<String, Value>, name: &str| match fields.get(name) {
            Some(Value::BulkString(b)) => String::from_utf8(b.clone()).expect("UTF-8"),
            other => panic!("field {name}: {other:?}"),
        };
    range
        .ids
        .iter()
        .map(|e| Answer {
            entry: text(&e.map, "entry"),
            result: serde_json::from_str(&text(&e.map, "result")).expect("a JSON result"),
        })
        .collect()
}

/// Waits up to `limit` until every one of `entries` has a result; returns all results.
fn wait_answered(
    con: &mut Connection,
    entries: &[String],
    limit: Duration,
    workers: &[&Worker],
) -> Vec<Answer> {
    let deadline = Instant::now() + limit;
    let wanted: BTreeSet<&String> = entries.iter().collect();
    loop {
        let got = answers(con, RESULTS);
        let answered: BTreeSet<&String> = got.iter().map(|a| &a.entry).collect();
        let missing = wanted.difference(&answered).count();
        if missing == 0 {
            return got;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = workers.iter().map(|w| w.log()).collect();
            panic!("{missing} entries unanswered; worker logs: {logs:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to `limit` until `stream` holds at least `n` results.
fn wait_results(con: &mut Connection, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while answers(con, RESULTS).len() < n {
        assert!(Instant::now() < deadline, "fewer than {n} results in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The group's pending entries: in all, and per consumer.
fn pending(con: &mut Connection) -> (usize, BTreeMap<String, usize>) {
    let reply: StreamPendingReply = match con.xpending(REQUESTS, GROUP) {
        // No worker has made the group yet.
        Err(e) if e.code() == Some("NOGROUP") => return (0, BTreeMap::new()),
        reply => reply.expect("XPENDING"),
    };
    match reply {
        StreamPendingReply::Data(data) => (
            data.count,
            data.consumers
                .into_iter()
                .map(|c| (c.name, c.pending))
                .collect(),
        ),
        _ => (0, BTreeMap::new()),
    }
}

/// Request `i` of a load: three programs with three verdicts, told apart by the id.
fn mixed(i: usize) -> String {
    let argv = match i % 3 {
        0 => r#"["/bin/true"]"#,
        1 => r#"["/bin/false"]"#,
        _ => r#"["/bin/sh","-c","exit 7"]"#,
    };
    format!(r#"{{"id":"r{i}","argv":{argv}}}"#)
}

/// Checks that each result is the verdict its request calls for.
fn assert_verdicts(answers: &[Answer]) {
    for a in answers {
        let id = a.result["id"].as_str().expect("an id");
        let i: usize = id[1..].parse().expect("r<number>");
        let (status, code) = match i % 3 {
            0 => ("ok", 0),
            1 => ("nonzero_exit", 1),
            _ => ("nonzero_exit", 7),
        };
        assert_eq!(a.result["status"], status, "{id}: {}", a.result);
        assert_eq!(a.result["exit_code"], code, "{id}: {}", a.result);
    }
}

/// How many results each request id got.
fn per_id(answers: &[Answer]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for a in answers {
        let id = a.result["id"].as_str().unwrap_or("<none>").to_string();
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Adds two requests that sleep `seconds` (the wall limit well above).
fn two_sleeps(con: &mut Connection, seconds: &str) -> Vec<String> {
    let lines: Vec<String> = (0..2)
        .map(|i| format!(r#"{{"id":"l{i}","argv":["/bin/sleep","{seconds}"],"wall":"10s"}}"#))
        .collect();
    add_requests(con, &lines)
}

/// Waits until `worker` holds `n` entries.
fn wait_holding(con: &mut Connection, worker: &Worker, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending(con).1.get(&worker.name) != Some(&n) {
        assert!(Instant::now() < deadline, "{}", worker.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A test's start: alone on the host, nothing left by earlier runs, a server of its own.
fn begin(name: &str) -> (std::sync::MutexGuard<'static, ()>, Server, Connection) {
    let serial = one_at_a_time();
    assert_nothing_left("before");
    let server = Server::start(name);
    let con = server.con();
    (serial, server, con)
}

/// A test's end: the workers stop on SIGTERM with exit 0, every entry is acknowledged, and
/// nothing is left on the host.
fn end(con: &mut Connection, workers: &mut [&mut Worker], what: &str) {
    for w in workers.iter_mut() {
        let status = w.stop();
        assert!(status.success(), "{what}: {status:?} {}", w.log());
    }
    assert_eq!(pending(con).0, 0, "{what}: every entry acknowledged");
    assert_nothing_left(what);
}

#[test]
fn two_workers_answer_2000_requests_with_their_verdicts() {
    let (_serial, server, mut con) = begin("load");
    let lines: Vec<String> = (0..2000).map(mixed).collect();
    let entries = add_requests(&mut con, &lines);
    let mut a = Worker::start(&server, "a", 1, &[]);
    let mut b = Worker::start(&server, "b", 1, &[]);
    let got = wait_answered(&mut con, &entries, Duration::from_secs(180), &[&a, &b]);
    assert_verdicts(&got);
    let counts = per_id(&got);
    assert_eq!(counts.len(), 2000, "every id answered");
    // Nobody died: each exactly once.
    assert!(
        counts.values().all(|&n| n == 1),
        "duplicates without a crash"
    );
    end(&mut con, &mut [&mut a, &mut b], "two workers");
}

#[test]
fn a_killed_workers_requests_are_finished_by_the_other() {
    let (_serial, server, mut con) = begin("kill");
    // Some requests take a while, so that the killed worker has runs in flight.
    let lines: Vec<String> = (0..600)
        .map(|i| match i % 10 {
            9 => format!(r#"{{"id":"r{i}","argv":["/bin/sh","-c","sleep 0.1; exit 7"]}}"#),
            _ => mixed(i),
        })
        .collect();
    let entries = add_requests(&mut con, &lines);
    let mut victim = Worker::start(&server, "victim", 2, &[]);
    let mut other = Worker::start(&server, "other", 2, &[]);
    wait_results(&mut con, 150, Duration::from_secs(60));
    victim.kill9();
    let in_flight = pending(&mut con).1.get("victim").copied().unwrap_or(0);
    let got = wait_answered(&mut con, &entries, Duration::from_secs(120), &[&other]);
    let counts = per_id(&got);
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= in_flight,
        "{duplicates} duplicates, {in_flight} in flight in the killed worker"
    );
    assert!(other.log().contains("took over"), "{}", other.log());
    for a in &got {
        let id = a.result["id"].as_str().unwrap();
        let i: usize = id[1..].parse().unwrap();
        let code = if lines[i].contains("exit 7") {
            7
        } else {
            [0, 1, 7][i % 3]
        };
        assert_eq!(a.result["exit_code"], code, "{}", a.result);
    }
    // The killed worker's containers died with it, and the other swept their cgroups.
    end(&mut con, &mut [&mut other], "a worker killed");
}

#[test]
fn a_run_longer_than_claim_after_is_not_taken_over_from_a_live_worker() {
    let (_serial, server, mut con) = begin("long");
    // `--claim-after 1s`: each run is idle for three times that.
    let entries = two_sleeps(&mut con, "3");
    let mut a = Worker::start(&server, "a", 2, &[]);
    wait_holding(&mut con, &a, 2);
    let mut b = Worker::start(&server, "b", 2, &[]);
    let got = wait_answered(&mut con, &entries, Duration::from_secs(30), &[&a, &b]);
    assert_eq!(got.len(), 2, "run once each: {got:?}");
    assert!(got.iter().all(|a| a.result["status"] == "ok"), "{got:?}");
    assert!(!b.log().contains("took over"), "{}", b.log());
    end(&mut con, &mut [&mut a, &mut b], "long runs");
}

#[test]
fn a_request_that_kills_its_worker_each_time_is_answered_after_max_deliveries() {
    let (_serial, server, mut con) = begin("poison");
    let poison = r#"{"id":"poison","argv":["/bin/sleep","60"],"time":"90s","wall":"90s"}"#;
    let entries = add_requests(&mut con, &[poison.to_string()]);
    // Whichever worker holds it dies (as if the request crashed it): killed by the test.
    let max = 2;
    let max_arg = max.to_string();
    let args = ["--max-deliveries", max_arg.as_str()];
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let survivor = loop {
        let name = format!("w{kills}");
        let mut worker = Worker::start(&server, &name, 1, &args);
        loop {
            assert!(Instant::now() < deadline, "{}", worker.log());
            if !answers(&mut con, RESULTS).is_empty() {
                break;
            }
            let running = !processes_with("/bin/sleep 60").is_empty();
            if running && pending(&mut con).1.get(&name) == Some(&1) {
                worker.kill9();
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if worker.child.try_wait().unwrap().is_none() {
            break worker;
        }
    };
    let mut survivor = survivor;
    let got = wait_answered(&mut con, &entries, Duration::from_secs(30), &[&survivor]);
    assert_eq!(kills, max, "run (and killed) max-deliveries times");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].result["id"], "poison");
    assert_eq!(got[0].result["status"], "internal_error");
    assert_eq!(
        got[0].result["detail"],
        format!("delivered {} times", max + 1)
    );
    end(&mut con, &mut [&mut survivor], "poison");
}

#[test]
fn sigterm_finishes_and_acknowledges_what_is_running_then_exits_0() {
    let (_serial, server, mut con) = begin("term");
    let lines: Vec<String> = (0..40)
        .map(|i| format!(r#"{{"id":"s{i}","argv":["/bin/sh","-c","sleep 0.2; exit 3"]}}"#))
        .collect();
    let entries = add_requests(&mut con, &lines);
    let mut worker = Worker::start(&server, "term", 2, &[]);
    wait_results(&mut con, 4, Duration::from_secs(60));
    // Both slots busy: a run is in flight when the signal comes.
    let status = worker.stop();
    assert!(status.success(), "exit 0: {status:?} {}", worker.log());
    let got = answers(&mut con, RESULTS);
    assert!(got.len() < 40, "stopped in the middle");
    assert!(got.iter().all(|a| a.result["exit_code"] == 3), "{got:?}");
    // Everything it read was run, written and acknowledged: nothing pending.
    assert_eq!(pending(&mut con).0, 0, "{}", worker.log());
    // And the rest is there for the next worker, each answered once in all.
    let mut next = Worker::start(&server, "next", 2, &[]);
    let got = wait_answered(&mut con, &entries, Duration::from_secs(60), &[&next]);
    assert_eq!(got.len(), 40);
    assert!(per_id(&got).values().all(|&n| n == 1));
    end(&mut con, &mut [&mut next], "sigterm");
}

#[test]
fn a_second_signal_ends_the_worker_at_once_and_leaves_its_entries_pending() {
    let (_serial, server, mut con) = begin("term2");
    let entries = two_sleeps(&mut con, "2");
    let mut worker = Worker::start(&server, "impatient", 2, &[]);
    wait_holding(&mut con, &worker, 2);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    signal(&worker.child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    signal(&worker.child, libc::SIGINT);
    let status = worker.wait(Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_millis(1500), "at once");
    assert_eq!(status.code(), Some(128 + libc::SIGINT), "{}", worker.log());
    assert_eq!(pending(&mut con).0, 2, "left pending for the others");
    // Another takes them over (and sweeps what the first left).
    let mut next = Worker::start(&server, "patient", 2, &[]);
    let got = wait_answered(&mut con, &entries, Duration::from_secs(30), &[&next]);
    assert!(got.iter().all(|a| a.result["status"] == "ok"), "{got:?}");
    end(&mut con, &mut [&mut next], "second signal");
}

#[test]
fn workers_reconnect_to_a_restarted_server_and_finish_the_work() {
    let (_serial, mut server, mut con) = begin("restart");
    let lines: Vec<String> = (0..900).map(mixed).collect();
    let entries = add_requests(&mut con, &lines);
    let mut a = Worker::start(&server, "a", 1, &[]);
    let mut b = Worker::start(&server, "b", 1, &[]);
    wait_results(&mut con, 150, Duration::from_secs(60));
    server.restart();
    let mut con = server.con();
    let got = wait_answered(&mut con, &entries, Duration::from_secs(120), &[&a, &b]);
    assert_verdicts(&got);
    assert_eq!(per_id(&got).len(), 900);
    for w in [&a, &b] {
        assert!(w.log().contains("Redis is back"), "{}", w.log());
    }
    end(&mut con, &mut [&mut a, &mut b], "restart");
}

#[test]
fn malformed_entries_are_answered_internal_error_and_acknowledged() {
    let (_serial, server, mut con) = begin("malformed");
    let _: () = con.set("plain", "a string, not a stream").unwrap();
    let line = |text: &str| text.as_bytes().to_vec();
    let entries = add(
        &mut con,
        &[
            vec![("foo", line("bar"))],
            vec![("request", line("not json"))],
            vec![(
                "request",
                line(r#"{"id":"u","argv":["true"],"memroy":"1M"}"#),
            )],
            vec![("request", b"{\"id\":\"b\",\"argv\":[\"\xff\"]}".to_vec())],
            vec![("request", line(r#"{"id":"a"}"#))],
            vec![
                (
                    "request",
                    line(r#"{"id":"elsewhere","argv":["/bin/true"]}"#),
                ),
                ("reply_to", line("judge:7")),
            ],
            vec![
                (
                    "request",
                    line(r#"{"id":"wrongtype","argv":["/bin/true"]}"#),
                ),
                ("reply_to", line("plain")),
            ],
        ],
    );
    let mut worker = Worker::start(&server, "m", 2, &[]);
    let mut others = entries.clone();
    let elsewhere = others.remove(5);
    let got = wait_answered(&mut con, &others, Duration::from_secs(30), &[&worker]);
    let by_entry: BTreeMap<&str, &serde_json::Value> =
        got.iter().map(|a| (a.entry.as_str(), &a.result)).collect();
    let expect = [
        (0, None, "entry has no `request` field"),
        (1, None, "not valid JSON"),
        (2, Some("u"), "unknown field `memroy`"),
        (3, Some("b"), "not UTF-8: invalid byte at offset 19"),
        (4, Some("a"), "missing field `argv`"),
        (6, Some("wrongtype"), "reply_to plain: WRONGTYPE"),
    ];
    for (i, id, says) in expect {
        let result = by_entry[entries[i].as_str()];
        assert_eq!(result["status"], "internal_error", "{result}");
        assert_eq!(result["id"].as_str(), id, "{result}");
        let detail = result["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{says}: {result}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let to_judge = loop {
        let got = answers(&mut con, "judge:7");
        if !got.is_empty() || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(to_judge.len(), 1, "reply_to is honoured");
    assert_eq!(to_judge[0].entry, elsewhere);
    assert_eq!(to_judge[0].result["status"], "ok");
    end(&mut con, &mut [&mut worker], "malformed");
}
