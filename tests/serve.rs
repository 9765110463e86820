//! `runbox serve` through a real HTTP client (ureq) against the real server on a loopback
//! port: every endpoint, each go-judge status from a real program, the zero limits, files in
//! and out, the error shapes and codes, auth, load, the queue bound and the SIGTERM drain.

use runbox_tests::{probe_bin, TempDir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `runbox serve` of this build on a free loopback port; SIGTERM and waited for on drop.
struct Server {
    child: Child,
    base: String,
    /// The monitor's /metrics, when asked for.
    monitor: Option<String>,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(flags: &[&str]) -> Server {
        Server::start_with_env(flags, &[])
    }

    /// [`Server::start`], with these environment variables set (flags given by them).
    fn start_with_env(flags: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(runbox_tests::runbox_bin())
            .args(["serve", "--http-addr", "127.0.0.1:0"])
            .args(flags)
            .envs(env.iter().copied())
            .args(match flags.contains(&"--parallel") {
                true => &[][..],
                false => &["--parallel", "2"][..],
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start runbox serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let kept = Arc::clone(&log);
        // Drained for the server's whole life: a full pipe would stall its logging.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("addr=") {
                    let _ = tx.send(line[at + 5..].trim().to_string());
                }
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        // The main listener's line first, then the monitor's, if asked for.
        let want = 1 + usize::from(flags.contains(&"--monitor-addr"));
        let addrs: Vec<String> = (0..want)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(60))
                    .unwrap_or_else(|_| panic!("no listening line: {}", log.lock().unwrap()))
            })
            .collect();
        Server {
            child,
            base: format!("http://{}", addrs[0]),
            monitor: addrs.get(1).map(|a| format!("http://{a}/metrics")),
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and returns the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// An answer: HTTP code, Content-Type, body.
struct Answer {
    code: u16,
    kind: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let mut body = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .unwrap();
    Answer {
        code: response.status().as_u16(),
        kind,
        body,
    }
}

fn post(server: &Server, path: &str, body: &str) -> Answer {
    answer(
        agent()
            .post(&server.url(path))
            .send(body.as_bytes())
            .expect("POST"),
    )
}

/// `POST path` with one header.
fn post_with(server: &Server, path: &str, header: (&str, &str), body: &str) -> Answer {
    let request = agent().post(&server.url(path)).header(header.0, header.1);
    answer(request.send(body.as_bytes()).expect("POST"))
}

fn get(server: &Server, path: &str) -> Answer {
    answer(agent().get(&server.url(path)).call().expect("GET"))
}

/// `POST /run` of these commands; the results.
fn run(server: &Server, cmds: Value) -> Vec<Value> {
    let a = post(server, "/run", &json!({ "cmd": cmds }).to_string());
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.kind, "application/json; charset=utf-8");
    a.json().as_array().expect("a bare array").clone()
}

/// One command with judge-like limits and `extra` fields.
fn cmd(args: &[&str], extra: Value) -> Value {
    let mut cmd = json!({
        "args": args, "env": ["PATH=/usr/bin:/bin"],
        "cpuLimit": 2_000_000_000u64, "memoryLimit": 256u64 << 20, "procLimit": 50,
        "files": [{"content": ""}, {"name": "stdout", "max": 10240}, {"name": "stderr", "max": 10240}],
    });
    for (k, v) in extra.as_object().unwrap() {
        cmd[k] = v.clone();
    }
    cmd
}

fn one(server: &Server, args: &[&str], extra: Value) -> Value {
    run(server, json!([cmd(args, extra)])).remove(0)
}

/// The probe copied into /w, so that go-judge's API (no binds) can run it.
fn with_probe(extra: Value) -> Value {
    let mut extra = extra;
    extra["copyIn"] = json!({"probe": {"src": probe_bin().to_str().unwrap()}});
    extra
}

#[test]
fn open_routes_auth_and_unknown_paths() {
    let server = Server::start(&["--auth-token", "s3cret"]);
    let version = get(&server, "/version");
    assert_eq!(version.code, 200);
    let v = version.json();
    assert!(v["buildVersion"].as_str().unwrap().starts_with("v1.12.2"));
    assert_eq!(v["fixSymlinkEscape"], true);
    assert_eq!(v["copyOutOptional"], true);
    assert_eq!(v["os"], "linux");
    assert_eq!(
        get(&server, "/config").json()["runnerConfig"]["workDir"],
        "/w"
    );
    // Without the token, or with another: 401 with an empty body.
    let body = json!({"cmd": [cmd(&["/bin/true"], json!({}))]}).to_string();
    for header in [
        None,
        Some("Bearer wrong"),
        Some("s3cret"),
        Some("bearer s3cret"),
    ] {
        let mut request = agent().post(&server.url("/run"));
        if let Some(h) = header {
            request = request.header("Authorization", h);
        }
        let a = answer(request.send(body.as_bytes()).unwrap());
        assert_eq!((a.code, a.body.as_str()), (401, ""), "{header:?}");
    }
    let a = post_with(&server, "/run", ("Authorization", "Bearer s3cret"), &body);
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.json()[0]["status"], "Accepted");
    let a = get(&server, "/nowhere");
    assert_eq!((a.code, a.body.as_str()), (404, "404 page not found"));
    // A wrong method is gin's 404 too, never a 405.
    assert_eq!(get(&server, "/run").code, 404);
}

#[test]
fn each_status_from_a_real_program() {
    let server = Server::start(&[]);
    let accepted = one(&server, &["/bin/echo", "hi"], json!({}));
    assert_eq!(accepted["status"], "Accepted");
    assert_eq!(accepted["exitStatus"], 0);
    assert_eq!(accepted["files"]["stdout"], "hi\n");
    assert_eq!(accepted["files"]["stderr"], "");
    assert!(accepted.get("error").is_none() && accepted.get("fileError").is_none());
    // Units: nanoseconds and bytes.
    assert!(accepted["time"].as_u64().unwrap() > 1000);
    assert!(accepted["memory"].as_u64().unwrap() > 4096);
    assert!(accepted["runTime"].as_u64().unwrap() >= accepted["time"].as_u64().unwrap() / 4);

    let nz = one(&server, &["/bin/sh", "-c", "exit 3"], json!({}));
    assert_eq!(
        (nz["status"].as_str(), nz["exitStatus"].as_i64()),
        (Some("Nonzero Exit Status"), Some(3))
    );

    let sig = one(&server, &["/bin/sh", "-c", "kill -SEGV $$"], json!({}));
    assert_eq!(
        (sig["status"].as_str(), sig["exitStatus"].as_i64()),
        (Some("Signalled"), Some(11))
    );

    let tle = one(
        &server,
        &["/bin/sh", "-c", "while :; do :; done"],
        json!({"cpuLimit": 200_000_000, "clockLimit": 5_000_000_000u64}),
    );
    assert_eq!(tle["status"], "Time Limit Exceeded");
    assert!(tle["time"].as_u64().unwrap() >= 190_000_000, "{tle}");

    let mle = one(
        &server,
        &["./probe", "mmap-touch", "128"],
        with_probe(json!({"memoryLimit": 32u64 << 20})),
    );
    assert_eq!(mle["status"], "Memory Limit Exceeded", "{mle}");

    let ole = one(
        &server,
        &["/bin/sh", "-c", "head -c 100 /dev/zero"],
        json!({"files": [{"content": ""}, {"name": "stdout", "max": 10}]}),
    );
    assert_eq!(ole["status"], "Output Limit Exceeded", "{ole}");
    assert_eq!(ole["files"]["stdout"].as_str().unwrap().len(), 11);
    assert_eq!(ole["fileError"][0]["type"], "CollectSizeExceeded");

    let fsize = one(
        &server,
        &["/bin/sh", "-c", "head -c 2000000 /dev/zero > big"],
        json!({}),
    );
    let server_small = Server::start(&["--output-limit", "1M"]);
    let fsize_small = one(
        &server_small,
        &["/bin/sh", "-c", "head -c 2000000 /dev/zero > big"],
        json!({}),
    );
    assert_eq!(fsize["status"], "Accepted", "{fsize}");
    assert_eq!(
        fsize_small["status"], "Output Limit Exceeded",
        "{fsize_small}"
    );

    // The default profile refuses kernel surfaces with an error the program sees.
    let refused = one(
        &server,
        &["./probe", "syscall", "ptrace"],
        with_probe(json!({})),
    );
    assert_eq!(refused["files"]["stdout"], "errno 1\n", "{refused}");
    // The strict profile (an allow-list) ends the run at the first call outside it:
    // Dangerous Syscall, the call named (the probe's runtime polls its fds first).
    let strict = Server::start(&["--profile", "strict"]);
    let dangerous = one(
        &strict,
        &["./probe", "syscall", "ptrace"],
        with_probe(json!({})),
    );
    assert_eq!(dangerous["status"], "Dangerous Syscall", "{dangerous}");
    assert_eq!(dangerous["error"], "poll");

    let file_error = one(&server, &["/bin/true"], json!({"copyOut": ["missing"]}));
    assert_eq!(file_error["status"], "File Error", "{file_error}");
    assert_eq!(file_error["fileError"][0]["type"], "CopyOutOpen");
    assert_eq!(file_error["fileError"][0]["name"], "missing");

    let internal = one(&server, &["/no/such/program"], json!({}));
    assert_eq!(internal["status"], "Internal Error");
    assert!(internal["error"]
        .as_str()
        .unwrap()
        .contains("/no/such/program"));
}

#[test]
fn address_space_and_data_segment_limits_bound_each_process_at_the_memory_limit() {
    let server = Server::start(&[]);
    let script = "try:\n    b = bytearray(100 << 20)\n    print('allowed')\nexcept MemoryError:\n    print('refused')";
    let python = ["/usr/bin/python3", "-c", script];
    // Without them the cgroup's limit ends the run; with one, the allocation fails in
    // the program, which goes on.
    let plain = one(&server, &python, json!({"memoryLimit": 64u64 << 20}));
    assert_eq!(plain["status"], "Memory Limit Exceeded", "{plain}");
    for flag in ["addressSpaceLimit", "dataSegmentLimit", "strictMemoryLimit"] {
        let bounded = one(
            &server,
            &python,
            json!({"memoryLimit": 64u64 << 20, flag: true}),
        );
        assert_eq!(bounded["status"], "Accepted", "{flag}: {bounded}");
        assert_eq!(bounded["files"]["stdout"], "refused\n", "{flag}: {bounded}");
    }
}

#[test]
fn zero_means_zero() {
    let server = Server::start(&[]);
    let tle = one(&server, &["/bin/true"], json!({"cpuLimit": 0}));
    assert_eq!(tle["status"], "Time Limit Exceeded", "{tle}");
    let mle = one(&server, &["/bin/true"], json!({"memoryLimit": 0}));
    assert_eq!(mle["status"], "Memory Limit Exceeded", "{mle}");
    let none = one(&server, &["/bin/true"], json!({"procLimit": 0}));
    assert_eq!(none["status"], "Internal Error", "{none}");
    // No clockLimit: the wall limit is cpuLimit, so a sleeper past it is TLE.
    let started = Instant::now();
    let sleeper = one(
        &server,
        &["/bin/sleep", "5"],
        json!({"cpuLimit": 300_000_000}),
    );
    assert_eq!(sleeper["status"], "Time Limit Exceeded", "{sleeper}");
    assert!(started.elapsed() < Duration::from_secs(4));
    // A clockLimit below cpuLimit is honoured.
    let short = one(
        &server,
        &["/bin/sleep", "5"],
        json!({"clockLimit": 200_000_000}),
    );
    assert_eq!(short["status"], "Time Limit Exceeded", "{short}");
    assert!(short["runTime"].as_u64().unwrap() < 1_000_000_000);
}

/// The multipart boundary of the uploads here.
const BOUNDARY: &str = "XyZ";

/// `POST /file` of `content` named `name`, as a form's `file` part; its id.
fn upload(server: &Server, name: &str, content: &str) -> String {
    let form = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n{content}\r\n--{BOUNDARY}--\r\n"
    );
    let kind = format!("multipart/form-data; boundary={BOUNDARY}");
    let up = post_with(server, "/file", ("Content-Type", &kind), &form);
    assert_eq!(up.code, 200, "{}", up.body);
    up.json().as_str().expect("a JSON string").to_string()
}

#[test]
fn files_in_and_out_and_the_store() {
    let dir = TempDir::new("serve-src");
    let input = dir.join("input.txt");
    std::fs::write(&input, "from the host\n").unwrap();
    let server = Server::start(&["--src-prefix", &dir.join("")]);
    // Upload, then copyIn by id, stdin by content, copyIn by content; copyOut optional and
    // absolute; copyOutCached of a file and of the stdout collector.
    let id = upload(&server, "up.txt", "uploaded");
    assert_eq!(id.len(), 8);
    assert_eq!(get(&server, "/file").json()[&id], "up.txt");
    let r = one(
        &server,
        &[
            "/bin/sh",
            "-c",
            "cat up.txt a.txt src.txt - ; echo made > /tmp/abs; echo x > out",
        ],
        json!({
            "files": [{"content": "stdin\n"}, {"name": "stdout", "max": 1000}, {"name": "stderr", "max": 1000}],
            "copyIn": {"up.txt": {"fileId": id}, "a.txt": {"content": "content\n"},
                       "src.txt": {"src": input}},
            "copyOut": ["stdout", "/tmp/abs", "maybe?"],
            "copyOutCached": ["stdout", "out"],
        }),
    );
    assert_eq!(r["status"], "Accepted", "{r}");
    assert_eq!(r["files"]["/tmp/abs"], "made\n");
    assert!(
        r["files"].get("stdout").is_none(),
        "cached, not returned: {r}"
    );
    assert!(r["files"].get("maybe").is_none());
    let cached = r["fileIds"]["stdout"].as_str().unwrap();
    let got = get(&server, &format!("/file/{cached}"));
    assert_eq!(got.body, "uploadedcontent\nfrom the host\nstdin\n");
    assert_eq!(
        get(
            &server,
            &format!("/file/{}", r["fileIds"]["out"].as_str().unwrap())
        )
        .body,
        "x\n"
    );
    // DELETE: 200 empty, then 404 empty.
    let delete = || {
        answer(
            agent()
                .delete(&server.url(&format!("/file/{cached}")))
                .call()
                .unwrap(),
        )
    };
    assert_eq!((delete().code, delete().code), (200, 404));
    assert_eq!(get(&server, &format!("/file/{cached}")).code, 404);
    // An upload without a `file` part: 400, empty.
    let bad = post_with(
        &server,
        "/file",
        (
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        ),
        &format!("--{BOUNDARY}--\r\n"),
    );
    assert_eq!((bad.code, bad.body.as_str()), (400, ""));
    // src outside the prefixes: 400 with a JSON string; stdin src likewise.
    for extra in [
        json!({"copyIn": {"x": {"src": "/etc/passwd"}}}),
        json!({"files": [{"src": "/etc/passwd"}]}),
    ] {
        let a = post(
            &server,
            "/run",
            &json!({"cmd": [cmd(&["/bin/true"], extra)]}).to_string(),
        );
        assert_eq!(a.code, 400, "{}", a.body);
        assert!(a.json().as_str().unwrap().contains("not allowed"));
    }
    // An unknown fileId: 500 for the whole request, a JSON string.
    let a = post(
        &server,
        "/run",
        &json!({"cmd": [cmd(&["/bin/true"], json!({"copyIn": {"x": {"fileId": "AAAAAAAA"}}}))]})
            .to_string(),
    );
    assert_eq!(a.code, 500, "{}", a.body);
    assert!(a.json().as_str().unwrap().contains("AAAAAAAA"));
}

#[test]
fn bodies_are_read_leniently_and_refused_with_json_strings() {
    let server = Server::start(&["--max-body", "64K"]);
    // No Content-Type check, keys in another case, unknown fields, nulls.
    let body = r#"{"cmd":[{"Args":["/bin/true"],"CPULimit":1000000000,"memoryLimit":67108864,
        "procLimit":5,"copyOutDir":"x","strictMemoryLimit":true,"stackLimit":null}]}"#;
    let a = post_with(&server, "/run", ("Content-Type", "text/plain"), body);
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.json()[0]["status"], "Accepted");
    for (body, says) in [
        ("not json", "expected"),
        ("{}", "no cmd provided"),
        (r#"{"cmd":[{"args":["x"],"cpuLimit":"1"}]}"#, "invalid type"),
        (r#"{"cmd":[{"args":["x"],"cpuLimit":-1}]}"#, "invalid value"),
        (
            r#"{"cmd":[{"args":["x"],"files":[{}]}]}"#,
            "file type is not valid",
        ),
    ] {
        let a = post(&server, "/run", body);
        assert_eq!(a.code, 400, "{body}: {}", a.body);
        assert!(
            a.json().as_str().unwrap().contains(says),
            "{body}: {}",
            a.body
        );
    }
    // Past the body bound: refused from its length, before the body is sent (a client
    // that sends it anyway meets a closed connection); the server goes on.
    use std::io::Write;
    let mut stream =
        std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        1u64 << 30
    )
    .unwrap();
    let mut head = String::new();
    BufReader::new(&stream).read_line(&mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let mut chunked =
        std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    // Without a length (chunked), counted as it comes: 1 MiB in 16 KiB chunks.
    write!(
        chunked,
        "POST /run HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
    for _ in 0..64 {
        if chunked.write_all(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let mut head = String::new();
    BufReader::new(&chunked).read_line(&mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(get(&server, "/version").code, 200);
}

#[test]
fn the_native_endpoint_takes_a_batch_line() {
    let server = Server::start(&[]);
    let a = post(
        &server,
        "/runbox/run",
        r#"{"id":"n1","argv":["/bin/sh","-c","echo native"],"stdout":{"collect":"1K"}}"#,
    );
    assert_eq!(a.code, 200, "{}", a.body);
    let r = a.json();
    assert_eq!(
        (r["id"].as_str(), r["status"].as_str()),
        (Some("n1"), Some("ok"))
    );
    assert_eq!(r["stdout"], "native\n");
    let bad = post(
        &server,
        "/runbox/run",
        r#"{"id":"n2","argv":["x"],"memroy":"1M"}"#,
    );
    assert_eq!(bad.json()["status"], "internal_error");
    assert!(bad.json()["detail"].as_str().unwrap().contains("memroy"));
}

#[test]
fn a_compile_then_run_flow_as_go_judge_py_sends_it() {
    if !std::path::Path::new("/usr/bin/g++").exists() {
        eprintln!("skipped: no /usr/bin/g++ on this host");
        return;
    }
    let server = Server::start(&[]);
    let source =
        "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n";
    let compile = run(
        &server,
        json!([{
            "args": ["/usr/bin/g++", "a.cc", "-o", "a"], "env": ["PATH=/usr/bin:/bin"],
            "files": [{"content": ""}, {"name": "stdout", "max": 10240}, {"name": "stderr", "max": 10240}],
            "cpuLimit": 30_000_000_000u64, "clockLimit": 60_000_000_000u64,
            "memoryLimit": 536_870_912u64, "procLimit": 50,
            "copyIn": {"a.cc": {"content": source}},
            "copyOut": ["stdout", "stderr"], "copyOutCached": ["a"]
        }]),
    )
    .remove(0);
    assert_eq!(compile["status"], "Accepted", "{compile}");
    assert_eq!(compile["files"], json!({"stdout": "", "stderr": ""}));
    let binary = compile["fileIds"]["a"].as_str().unwrap().to_string();
    // HydroJudge's test runs: stdin content, collectors, copyOutCached stdout.
    for (a, b) in [(1, 2), (40, 2)] {
        let r = one(
            &server,
            &["./a"],
            json!({
                "files": [{"content": format!("{a} {b}\n")}, {"name": "stdout", "max": 33554432}, {"name": "stderr", "max": 33554432}],
                "copyIn": {"a": {"fileId": binary}}, "copyOutCached": ["stdout", "stderr"],
                "copyOutMax": 100663296u64, "strictMemoryLimit": false, "stackLimit": 0,
            }),
        );
        assert_eq!(r["status"], "Accepted", "{r}");
        let out = get(
            &server,
            &format!("/file/{}", r["fileIds"]["stdout"].as_str().unwrap()),
        );
        assert_eq!(out.body, format!("{}\n", a + b));
    }
    assert_eq!(
        answer(
            agent()
                .delete(&server.url(&format!("/file/{binary}")))
                .call()
                .unwrap()
        )
        .code,
        200
    );
}

#[test]
fn many_clients_at_once_are_all_answered() {
    let server = Arc::new(Server::start(&[]));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let server = Arc::clone(&server);
            std::thread::spawn(move || {
                for i in 0..63 {
                    let n = t * 100 + i;
                    let r = one(&server, &["/bin/echo", &n.to_string()], json!({}));
                    assert_eq!(r["status"], "Accepted", "{r}");
                    assert_eq!(r["files"]["stdout"], format!("{n}\n"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A run of `sleep 1` through the server at `base`.
fn sleep_a_second(base: &str) -> Answer {
    let body = json!({"cmd": [cmd(&["/bin/sleep", "1"], json!({"clockLimit": 5_000_000_000u64}))]});
    answer(
        agent()
            .post(&format!("{base}/run"))
            .send(body.to_string().as_bytes())
            .unwrap(),
    )
}

#[test]
fn a_full_queue_answers_503_and_sigterm_drains() {
    let mut server = Server::start(&["--parallel", "1", "--max-queue", "1"]);
    let base = server.base.clone();
    let slow = move || sleep_a_second(&base);
    let first: Vec<_> = (0..4).map(|_| std::thread::spawn(slow.clone())).collect();
    let answers: Vec<Answer> = first.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = answers.iter().filter(|a| a.code == 503).count();
    let done = answers.iter().filter(|a| a.code == 200).count();
    assert!(
        busy >= 1 && done >= 1,
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    for a in answers.iter().filter(|a| a.code == 503) {
        assert!(a.json().as_str().unwrap().contains("queue"));
    }
    // SIGTERM with a run in flight: it is answered, then the server exits 0.
    let in_flight = std::thread::spawn(slow);
    std::thread::sleep(Duration::from_millis(300));
    let status = server.stop();
    let late = in_flight.join().unwrap();
    assert_eq!(late.code, 200, "{}", late.body);
    assert_eq!(late.json()[0]["status"], "Accepted");
    assert!(status.success(), "{status}: {}", server.log.lock().unwrap());
    assert!(server.log.lock().unwrap().contains("draining"));
}

#[test]
fn metrics_are_served_at_the_monitor_address() {
    let server = Server::start(&["--monitor-addr", "127.0.0.1:0"]);
    let monitor = server.monitor.clone().unwrap();
    one(&server, &["/bin/true"], json!({}));
    let text = answer(agent().get(&monitor).call().unwrap()).body;
    for line in [
        "runbox_runs_total{status=\"Accepted\"} 1",
        "runbox_containers_idle 2",
        "runbox_queue_length 0",
        "runbox_http_requests_total{route=\"/run\",code=\"200\"} 1",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
}

#[test]
fn a_client_that_goes_away_cancels_its_queued_run() {
    let server = Server::start(&["--parallel", "1", "--monitor-addr", "127.0.0.1:0"]);
    let monitor = server.monitor.clone().unwrap();
    let base = server.base.clone();
    let busy = std::thread::spawn(move || sleep_a_second(&base));
    std::thread::sleep(Duration::from_millis(200));
    // Queued behind the sleeper, then the client gives up and closes its connection.
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(200)))
        .build()
        .into();
    let body = json!({"cmd": [cmd(&["/bin/echo", "never"], json!({}))]}).to_string();
    assert!(impatient
        .post(&server.url("/run"))
        .send(body.as_bytes())
        .is_err());
    drop(impatient);
    assert_eq!(busy.join().unwrap().code, 200);
    let metrics = || answer(agent().get(&monitor).call().unwrap()).body;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !metrics().contains("runbox_runs_cancelled_total 1") {
        assert!(Instant::now() < deadline, "not cancelled:\n{}", metrics());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!metrics().contains("runbox_runs_total{status=\"Accepted\"} 2"));
}

#[test]
fn requests_over_a_websocket_with_cancel() {
    use tungstenite::Message;
    let server = Server::start(&["--parallel", "1"]);
    let url = server.url("/ws").replace("http://", "ws://");
    let (mut socket, _) = tungstenite::connect(url.as_str()).expect("ws upgrade");
    let send = |socket: &mut tungstenite::WebSocket<_>, value: Value| {
        socket.send(Message::text(value.to_string())).unwrap();
    };
    let read = |socket: &mut tungstenite::WebSocket<_>| -> Value {
        loop {
            match socket.read().expect("a frame") {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                _ => continue,
            }
        }
    };
    // A sleeper takes the one container; a second request waits, and is cancelled.
    let sleeper = ["/bin/sleep", "1.125"];
    let slow = cmd(&sleeper, json!({"clockLimit": 5_000_000_000u64}));
    send(&mut socket, json!({"requestId": "slow", "cmd": [slow]}));
    // Requests start in any order: the second is sent once the first runs.
    await_processes(&sleeper, 1);
    send(
        &mut socket,
        json!({"requestId": "queued", "cmd": [cmd(&["/bin/echo", "q"], json!({}))]}),
    );
    send(
        &mut socket,
        json!({"requestId": "", "cmd": [cmd(&["/bin/true"], json!({}))]}),
    );
    let empty = read(&mut socket);
    assert_eq!(
        (empty["error"].as_str(), &empty["results"]),
        (Some("empty request id"), &Value::Null)
    );
    send(&mut socket, json!({"cancelRequestId": "queued"}));
    let cancelled = read(&mut socket);
    assert_eq!(cancelled["requestId"], "queued");
    assert_eq!(cancelled["error"], "request cancelled before execute");
    assert_eq!(cancelled["results"], Value::Null);
    let slow = read(&mut socket);
    assert_eq!(slow["requestId"], "slow");
    assert_eq!(slow["results"][0]["status"], "Accepted", "{slow}");
    // Then a request runs and is answered with its id.
    send(
        &mut socket,
        json!({"requestId": "echo", "cmd": [cmd(&["/bin/echo", "ws"], json!({}))]}),
    );
    let echo = read(&mut socket);
    assert_eq!(
        (
            echo["requestId"].as_str(),
            echo["results"][0]["files"]["stdout"].as_str()
        ),
        (Some("echo"), Some("ws\n"))
    );
    assert!(echo.get("error").is_none());
    // A frame that is not JSON closes the connection.
    socket.send(Message::text("not json")).unwrap();
    let closed = loop {
        match socket.read() {
            Ok(Message::Close(_)) | Err(_) => break true,
            Ok(_) => continue,
        }
    };
    assert!(closed);
}

#[test]
fn several_cmds_without_pipes_run_at_once_and_answer_in_order() {
    let server = Server::start(&[]);
    let started = Instant::now();
    let sleeper = |word: &str| {
        cmd(
            &["/bin/sh", "-c", &format!("sleep 0.5; echo {word}")],
            json!({"clockLimit": 5_000_000_000u64}),
        )
    };
    let results = run(&server, json!([sleeper("first"), sleeper("second")]));
    let outs: Vec<_> = results
        .iter()
        .map(|r| r["files"]["stdout"].clone())
        .collect();
    assert_eq!(outs, [json!("first\n"), json!("second\n")]);
    // Each in its own container, at once: about one sleep, not two.
    assert!(
        started.elapsed() < Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    // Without cmds for it, a pipe is go-judge's 500 for the whole request.
    let body = json!({"cmd": [sleeper("a"), sleeper("b")],
        "pipeMapping": [{"in": {"index": 0, "fd": 1}, "out": {"index": 5, "fd": 0}}]});
    let a = post(&server, "/run", &body.to_string());
    assert_eq!(a.code, 500, "{}", a.body);
    assert!(a.json().as_str().unwrap().contains("out of range"));
    // A pipe into a slot `files` already gives: 500 too.
    let body = json!({"cmd": [sleeper("a"), sleeper("b")],
        "pipeMapping": [{"in": {"index": 0, "fd": 1}, "out": {"index": 1, "fd": 0}}]});
    let a = post(&server, "/run", &body.to_string());
    assert_eq!(a.code, 500, "{}", a.body);
    assert!(a.json().as_str().unwrap().contains("a pipe gives it too"));
}

/// A group member: `script` under sh, its fds 0 and 1 left to pipes, its stderr collected.
fn member(script: &str, files: Value) -> Value {
    cmd(
        &["/bin/sh", "-c", script],
        json!({"files": files, "clockLimit": 5_000_000_000u64}),
    )
}

#[test]
fn an_interactive_pair_through_pipe_mapping_with_proxy_capture() {
    let server = Server::start(&[]);
    let piped = json!([null, null, {"name": "stderr", "max": 1024}]);
    // HydroJudge's shape: the solution (0) and the interactor (1), two proxied pipes, each
    // capture named, in the writer's files.
    let solution = member("read n; echo $((n + 1))", piped.clone());
    let interactor = member("echo 41; read answer; [ \"$answer\" = 42 ]", piped);
    let body = json!({"cmd": [solution, interactor], "pipeMapping": [
        {"in": {"index": 0, "fd": 1}, "out": {"index": 1, "fd": 0}, "proxy": true,
         "name": "userToInteractor", "max": 1024},
        {"in": {"index": 1, "fd": 1}, "out": {"index": 0, "fd": 0}, "proxy": true,
         "name": "interactorToUser", "max": 2},
    ]});
    let a = post(&server, "/run", &body.to_string());
    assert_eq!(a.code, 200, "{}", a.body);
    let r = a.json();
    assert_eq!(r[0]["status"], "Accepted", "{r}");
    assert_eq!(r[1]["status"], "Accepted", "{r}");
    assert_eq!(r[0]["files"]["userToInteractor"], "42\n");
    // Capped at max, silently.
    assert_eq!(r[1]["files"]["interactorToUser"], "41");
    assert!(r[1].get("fileError").is_none());
}

#[test]
fn a_manager_reads_two_programs_on_its_fds_3_and_4() {
    let server = Server::start(&[]);
    let manager = cmd(&["/bin/sh", "-c", "cat <&3; cat <&4"], json!({}));
    let writer = |word: &str| member(&format!("echo {word}"), json!([{"content": ""}, null]));
    let body = json!({"cmd": [manager, writer("a"), writer("b")], "pipeMapping": [
        {"in": {"index": 1, "fd": 1}, "out": {"index": 0, "fd": 3}},
        {"in": {"index": 2, "fd": 1}, "out": {"index": 0, "fd": 4}},
    ]});
    let a = post(&server, "/run", &body.to_string());
    assert_eq!(a.code, 200, "{}", a.body);
    let r = a.json();
    assert_eq!(r[0]["status"], "Accepted", "{r}");
    assert_eq!(r[0]["files"]["stdout"], "a\nb\n");
    assert_eq!(
        (r[1]["status"].as_str(), r[2]["status"].as_str()),
        (Some("Accepted"), Some("Accepted"))
    );
}

/// The value of the metric line that starts with `name ` in the text of `/metrics`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (at most 10 s) until `/metrics` at `monitor` says `name` is `value`.
fn await_metric(monitor: &str, name: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = answer(agent().get(monitor).call().unwrap()).body;
        if metric(&text, name) == Some(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} is not {value}:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The host processes whose command line is exactly `argv` (a sleeper with an unusual
/// length, which only the test at hand runs).
fn processes_running(argv: &[&str]) -> Vec<String> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The next text frame of a WebSocket, as JSON.
fn text_frame<S: std::io::Read + std::io::Write>(socket: &mut tungstenite::WebSocket<S>) -> Value {
    loop {
        match socket.read().expect("a frame") {
            tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            _ => continue,
        }
    }
}

/// Waits (at most 5 s) until `n` host processes run exactly `argv`.
fn await_processes(argv: &[&str], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_running(argv).len() < n {
        assert!(Instant::now() < deadline, "{argv:?} never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Cancels the running request `id` on `socket`, whose runs are the processes `argv`;
/// its answer, which must come within a second with every run Signalled (exit status 9),
/// and leave none of them behind.
fn cancel_on_ws<S: std::io::Read + std::io::Write>(
    socket: &mut tungstenite::WebSocket<S>,
    id: &str,
    argv: &[&str],
) -> Value {
    let cancelled = Instant::now();
    let cancel = json!({"cancelRequestId": id});
    socket
        .send(tungstenite::Message::text(cancel.to_string()))
        .unwrap();
    let answer = text_frame(socket);
    assert!(
        cancelled.elapsed() < Duration::from_secs(1),
        "answered after {:?}",
        cancelled.elapsed()
    );
    // Answered with its results, as go-judge does: a killed run reads Signalled.
    assert_eq!(answer["requestId"], id, "{answer}");
    assert!(answer.get("error").is_none(), "{answer}");
    for result in answer["results"].as_array().expect("results") {
        assert_eq!(
            (result["status"].as_str(), result["exitStatus"].as_u64()),
            (Some("Signalled"), Some(9)),
            "{answer}"
        );
    }
    assert_eq!(processes_running(argv), Vec::<String>::new());
    answer
}

/// A judge-like run of `sleep SECONDS` with limits far past it.
fn long_sleeper(seconds: &str) -> Value {
    cmd(
        &["/bin/sleep", seconds],
        json!({"cpuLimit": 60_000_000_000u64, "clockLimit": 60_000_000_000u64}),
    )
}

/// A client that posts `body` to `url` and gives up after a second, closing its
/// connection; true if it did give up.
fn give_up_after_a_second(url: String, body: String) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let impatient: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1)))
            .build()
            .into();
        impatient.post(&url).send(body.as_bytes()).is_err()
    })
}

#[test]
fn a_client_that_goes_away_kills_its_started_run() {
    let server = Server::start(&["--parallel", "1", "--monitor-addr", "127.0.0.1:0"]);
    let monitor = server.monitor.clone().unwrap();
    let sleeper = ["/bin/sleep", "29.25"];
    let body = json!({"cmd": [long_sleeper(sleeper[1])]}).to_string();
    let url = server.url("/run");
    // The client gives up after its run started, and closes its connection.
    let impatient = give_up_after_a_second(url, body);
    await_metric(&monitor, "runbox_containers_busy", 1.0);
    await_processes(&sleeper, 1);
    assert!(impatient.join().unwrap(), "the client did not give up");
    let gone = Instant::now();
    // The container is free within a second: the next run is served by the same warm
    // container (none was made since), and nothing of the killed run is left.
    let r = one(&server, &["/bin/echo", "next"], json!({}));
    assert_eq!(r["files"]["stdout"], "next\n", "{r}");
    assert!(
        gone.elapsed() < Duration::from_secs(2),
        "the next run waited {:?}",
        gone.elapsed()
    );
    assert_eq!(processes_running(&sleeper), Vec::<String>::new());
    let text = answer(agent().get(&monitor).call().unwrap()).body;
    for (name, value) in [
        // The killed run's answer went nowhere: it is counted as killed, not by status.
        ("runbox_runs_killed_total", 1.0),
        ("runbox_runs_total{status=\"Accepted\"}", 1.0),
        ("runbox_containers_created", 1.0),
        ("runbox_containers_busy", 0.0),
        ("runbox_containers_idle", 1.0),
        ("runbox_runs_cancelled_total", 0.0),
    ] {
        assert_eq!(metric(&text, name), Some(value), "{name} in\n{text}");
    }
}

#[test]
fn a_client_that_goes_away_kills_its_started_ptrace_run_too() {
    let server = Server::start(&["--parallel", "1", "--monitor-addr", "127.0.0.1:0"]);
    let monitor = server.monitor.clone().unwrap();
    let sleeper = ["/bin/sleep", "28.75"];
    // runbox's own endpoint takes a batch line: ptrace mode, traced on the host.
    let body = json!({"id": "p", "mode": "ptrace", "profile": "none", "argv": sleeper,
                      "time": "60s", "wall": "60s", "allow_read": ["/usr/", "/etc/", "/proc/"]})
    .to_string();
    let url = server.url("/runbox/run");
    let impatient = give_up_after_a_second(url, body);
    await_processes(&sleeper, 1);
    assert!(impatient.join().unwrap(), "the client did not give up");
    let gone = Instant::now();
    while !processes_running(&sleeper).is_empty() {
        assert!(
            gone.elapsed() < Duration::from_secs(2),
            "the traced sleeper outlived its client by {:?}",
            gone.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    await_metric(&monitor, "runbox_runs_killed_total", 1.0);
}

#[test]
fn a_websocket_cancel_kills_a_started_run_and_answers_its_results() {
    use tungstenite::Message;
    let server = Server::start(&["--parallel", "1", "--monitor-addr", "127.0.0.1:0"]);
    let monitor = server.monitor.clone().unwrap();
    let url = server.url("/ws").replace("http://", "ws://");
    let (mut socket, _) = tungstenite::connect(url.as_str()).expect("ws upgrade");
    let sleeper = ["/bin/sleep", "28.75"];
    let request = json!({"requestId": "slow", "cmd": [long_sleeper(sleeper[1])]});
    socket.send(Message::text(request.to_string())).unwrap();
    await_processes(&sleeper, 1);
    let answer_frame = cancel_on_ws(&mut socket, "slow", &sleeper);
    let result = &answer_frame["results"][0];
    assert!(
        result["runTime"].as_u64().unwrap() < 10_000_000_000,
        "{result}"
    );
    // The same warm container serves the next request.
    let next = json!({"requestId": "next", "cmd": [cmd(&["/bin/echo", "again"], json!({}))]});
    socket.send(Message::text(next.to_string())).unwrap();
    let again = text_frame(&mut socket);
    assert_eq!(again["results"][0]["files"]["stdout"], "again\n", "{again}");
    await_metric(&monitor, "runbox_containers_created", 1.0);
    await_metric(&monitor, "runbox_containers_busy", 0.0);
}

#[test]
fn stored_files_expire_after_the_file_timeout_unless_used() {
    let dir = TempDir::new("serve-expiry");
    let store = dir.join("store");
    // The timeout from its environment variable, as every flag can be.
    let server =
        Server::start_with_env(&["--file-store", &store], &[("RUNBOX_FILE_TIMEOUT", "1s")]);
    let untouched = upload(&server, "untouched", "untouched");
    let touched = upload(&server, "touched", "touched");
    let stored = Instant::now();
    let on_disk = |id: &str| std::path::Path::new(&store).join(id).exists();
    assert!(on_disk(&untouched) && on_disk(&touched));
    // The touched one is read every 200 ms; the untouched one goes, from the list, from
    // GET, and from the directory, a second or so after it was stored.
    let deadline = stored + Duration::from_secs(6);
    while on_disk(&untouched) || get(&server, &format!("/file/{untouched}")).code != 404 {
        assert!(Instant::now() < deadline, "{untouched} never expired");
        let got = get(&server, &format!("/file/{touched}"));
        assert_eq!((got.code, got.body.as_str()), (200, "touched"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let expired_after = stored.elapsed();
    assert!(
        expired_after >= Duration::from_millis(900),
        "{expired_after:?}"
    );
    // Keep using the other one for longer than the timeout: it stays.
    while stored.elapsed() < expired_after + Duration::from_millis(1500) {
        assert_eq!(get(&server, &format!("/file/{touched}")).code, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    let list = get(&server, "/file").json();
    assert!(list.get(&untouched).is_none(), "{list}");
    assert_eq!(list[&touched], "touched");
    assert!(on_disk(&touched));
    // An expired id is an unknown one: go-judge's 500 for the whole request.
    let a = post(
        &server,
        "/run",
        &json!({"cmd": [cmd(&["/bin/true"], json!({"copyIn": {"x": {"fileId": untouched}}}))]})
            .to_string(),
    );
    assert_eq!(a.code, 500, "{}", a.body);
    assert!(a.json().as_str().unwrap().contains(&untouched));
    // A run's use of the other one refreshes it too; then, left alone, it goes.
    let r = one(
        &server,
        &["/bin/cat", "t"],
        json!({"copyIn": {"t": {"fileId": touched}}}),
    );
    assert_eq!(r["files"]["stdout"], "touched", "{r}");
    let used = Instant::now();
    while on_disk(&touched) {
        assert!(
            used.elapsed() < Duration::from_secs(6),
            "{touched} never expired"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(used.elapsed() >= Duration::from_millis(900));
}

#[test]
fn copy_in_makes_symlinks_owned_by_the_program_and_copy_out_never_follows_one() {
    let server = Server::start(&[]);
    let r = one(
        &server,
        &[
            "/bin/sh",
            "-c",
            "readlink abs; readlink d/rel; cat d/rel; cat abs >/dev/null && echo read; \
             [ \"$(stat -c %u abs)\" = \"$(id -u)\" ] && [ \"$(stat -c %u d)\" = \"$(id -u)\" ] \
             && echo owned; [ -h abs ] && [ -h /tmp/t ] && echo links; readlink /tmp/t",
        ],
        json!({
            "copyIn": {
                "abs": {"symlink": "/w/a.txt"},
                "d/rel": {"symlink": "../a.txt"},
                "a.txt": {"content": "through the link\n"},
                "/tmp/t": {"symlink": "/nonexistent/target"},
            },
            "copyOut": ["d/rel", "a.txt"],
        }),
    );
    assert_eq!(
        r["files"]["stdout"],
        "/w/a.txt\n../a.txt\nthrough the link\nread\nowned\nlinks\n/nonexistent/target\n",
        "{r}"
    );
    // The copy out of a link answers that it is no regular file, and reads nothing.
    assert_eq!(r["status"], "File Error", "{r}");
    let errors = r["fileError"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{r}");
    assert_eq!(
        (errors[0]["name"].as_str(), errors[0]["type"].as_str()),
        (Some("d/rel"), Some("CopyOutNotRegularFile"))
    );
    assert!(r["files"].get("d/rel").is_none());
    assert_eq!(r["files"]["a.txt"], "through the link\n");
    assert_eq!(get(&server, "/version").json()["symlink"], true);
    // A file through a link is never written there: the request fails, and nothing ran.
    let through = one(
        &server,
        &["/bin/true"],
        json!({"copyIn": {"l": {"symlink": "/tmp"}, "l/x": {"content": "x"}}}),
    );
    assert_eq!(through["status"], "Internal Error", "{through}");
    assert!(
        through["error"].as_str().unwrap().contains("copy_in"),
        "{through}"
    );
    // A target that cannot be one: 400 with a JSON string.
    let a = post(
        &server,
        "/run",
        &json!({"cmd": [cmd(&["/bin/true"], json!({"copyIn": {"l": {"symlink": ""}}}))]})
            .to_string(),
    );
    assert_eq!(a.code, 400, "{}", a.body);
    assert!(
        a.json().as_str().unwrap().contains("no link target"),
        "{}",
        a.body
    );
}

#[test]
fn a_websocket_cancel_kills_every_member_of_a_running_group() {
    use tungstenite::Message;
    let server = Server::start(&[]);
    let url = server.url("/ws").replace("http://", "ws://");
    let (mut socket, _) = tungstenite::connect(url.as_str()).expect("ws upgrade");
    let sleeper = ["/bin/sleep", "27.25"];
    let piped = json!([null, null, {"name": "stderr", "max": 1024}]);
    let member = || {
        cmd(
            &["/bin/sh", "-c", "exec /bin/sleep 27.25"],
            json!({"files": piped, "cpuLimit": 60_000_000_000u64, "clockLimit": 60_000_000_000u64}),
        )
    };
    let request = json!({"requestId": "pair", "cmd": [member(), member()], "pipeMapping": [
        {"in": {"index": 0, "fd": 1}, "out": {"index": 1, "fd": 0}, "proxy": true,
         "name": "there", "max": 16},
        {"in": {"index": 1, "fd": 1}, "out": {"index": 0, "fd": 0}},
    ]});
    socket.send(Message::text(request.to_string())).unwrap();
    await_processes(&sleeper, 2);
    let answer_frame = cancel_on_ws(&mut socket, "pair", &sleeper);
    assert_eq!(answer_frame["results"].as_array().unwrap().len(), 2);
}
