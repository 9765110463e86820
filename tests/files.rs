//! Files in and out of a warm container, and the file store (`runbox batch`): real programs
//! that plant symbolic links, FIFOs, directories and huge files where the controller reads,
//! write past their collect bound, and ask for paths outside the run's own.
//!
//! Each test runs alone (`one_at_a_time`): some check the whole host for what is left.

use runbox_tests::{assert_nothing_left, one_at_a_time, runbox_bin, TempDir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// One `runbox batch`, asked one line at a time (a later request needs an earlier id).
struct Session {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Session {
    fn new(args: &[&str]) -> Session {
        let mut child = Command::new("timeout")
            .arg("300")
            .arg(runbox_bin())
            .args(["batch", "--parallel", "1"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn runbox batch");
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().expect("its stdout"));
        Session {
            child,
            input,
            output,
        }
    }

    /// Sends one request and reads its answer.
    fn ask(&mut self, request: &Value) -> Value {
        let input = self.input.as_mut().expect("open");
        writeln!(input, "{request}").expect("write a request");
        input.flush().expect("flush");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("read an answer");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("a JSON answer: {line:?}"))
    }

    fn end(mut self) {
        drop(self.input.take());
        let status = self.child.wait().expect("wait for runbox batch");
        assert_eq!(status.code(), Some(0), "runbox batch exits 0");
    }
}

fn sh(script: &str) -> Value {
    json!({"argv": ["/bin/sh", "-c", script], "stdout": {"collect": "64K"}, "stderr": {"collect": "4K"}})
}

fn with(mut request: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        request[k] = v.clone();
    }
    request
}

#[test]
fn copy_in_from_text_a_host_file_and_a_stored_file_with_their_modes() {
    let _one = one_at_a_time();
    let host = TempDir::new("copy-in");
    std::fs::write(host.0.join("data"), "from the host\n").unwrap();
    std::fs::set_permissions(
        host.0.join("data"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    let mut s = Session::new(&[]);
    let made = s.ask(&with(
        sh("printf 'stored text' > out.bin"),
        json!({"id": "make", "copy_out_cached": ["out.bin"]}),
    ));
    assert_eq!(made["status"], "ok", "{made}");
    let id = made["file_ids"]["out.bin"].as_str().unwrap().to_string();
    let show =
        "for f in a.txt sub/dir/b /tmp/c stored; do stat -c '%n %a %u' $f; cat $f; echo; done";
    let ran = s.ask(&with(
        sh(show),
        json!({"id": "in", "copy_in": {
            "a.txt": {"content": "text"},
            "sub/dir/b": {"src": host.join("data")},
            "/tmp/c": {"content": "x", "mode": "0600"},
            "/w/stored": {"file": id, "mode": "0755"},
        }}),
    ));
    assert_eq!(ran["status"], "ok", "{ran}");
    assert_eq!(
        ran["stdout"],
        "a.txt 644 1\ntext\nsub/dir/b 640 1\nfrom the host\n\n/tmp/c 600 1\nx\nstored 755 1\nstored text\n",
        "{ran}"
    );
    // A stored file given as stdin.
    let read = s.ask(&with(
        sh("cat"),
        json!({"id": "stdin", "stdin": {"file": id}}),
    ));
    assert_eq!(read["stdout"], "stored text", "{read}");
    let text = s.ask(&with(sh("wc -c"), json!({"stdin": {"content": "12345"}})));
    assert_eq!(text["stdout"].as_str().unwrap().trim(), "5", "{text}");
    s.end();
    assert_nothing_left("after copy_in");
}

#[test]
fn copy_in_refuses_paths_out_of_the_room_and_links_and_leaves_nothing() {
    let _one = one_at_a_time();
    let host = TempDir::new("copy-in-bad");
    std::fs::write(host.0.join("real"), "secret").unwrap();
    std::os::unix::fs::symlink(host.0.join("real"), host.0.join("link")).unwrap();
    let mut s = Session::new(&[]);
    let cases = [
        (
            json!({"../x": {"content": ""}}),
            "copy_in: \"../x\": \"..\" is refused",
        ),
        (json!({"/etc/x": {"content": ""}}), "not under /w or /tmp"),
        (json!({"a\u{0}b": {"content": ""}}), "holds a NUL byte"),
        (json!({"a": {"src": host.join("link")}}), "symbolic link"),
        (
            json!({"a": {"src": host.0.to_string_lossy()}}),
            "not a regular file",
        ),
        (
            json!({"a": {"file": "NOSUCHID"}}),
            "\"NOSUCHID\": not in the file store",
        ),
        (
            json!({"a": {"content": "x"}, "/w/a": {"content": "y"}}),
            "already there",
        ),
    ];
    for (copy_in, says) in cases {
        let got = s.ask(&with(sh("true"), json!({"id": "bad", "copy_in": copy_in})));
        assert_eq!(got["status"], "internal_error", "{copy_in}: {got}");
        assert_eq!(got["id"], "bad");
        let detail = got["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{copy_in}: {detail}");
    }
    // With the judge's own dir at /w, /w is refused and /tmp still taken.
    let dir = TempDir::new("copy-in-dir");
    let refused = s.ask(&with(
        sh("true"),
        json!({"dir": dir.0, "copy_in": {"a": {"content": "x"}}}),
    ));
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("/w is the run's dir"),
        "{refused}"
    );
    let tmp = s.ask(&with(
        sh("cat /tmp/a"),
        json!({"dir": dir.0, "copy_in": {"/tmp/a": {"content": "x"}}}),
    ));
    assert_eq!(tmp["stdout"], "x", "{tmp}");
    let ptrace = s.ask(&with(
        json!({"argv": ["/bin/true"]}),
        json!({"mode": "ptrace", "copy_in": {"a": {"content": "x"}}}),
    ));
    assert!(
        ptrace["detail"]
            .as_str()
            .unwrap()
            .contains("not ptrace mode"),
        "{ptrace}"
    );
    // The batch goes on, and the container still serves.
    let ok = s.ask(&sh("echo fine"));
    assert_eq!(ok["stdout"], "fine\n", "{ok}");
    s.end();
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        0,
        "dir left written"
    );
    assert_nothing_left("after refused copy_in");
}

#[test]
fn copy_out_gives_files_and_says_what_is_wrong_with_the_rest() {
    let _one = one_at_a_time();
    let mut s = Session::new(&[]);
    let plant = "printf 'ok\\377' > present; head -c 2048 /dev/zero > big; \
                 ln -s /etc/passwd link; ln -s /proc/1/environ proc; mkfifo fifo; mkdir dir; \
                 printf t > /tmp/t; mkdir -p sub && ln -s /etc sub2";
    let got = s.ask(&with(
        sh(plant),
        json!({"copy_out": ["present", "missing", "optional?", "big", "link", "proc", "fifo",
                            "dir", "/tmp/t", "sub2/passwd"],
               "copy_out_max": "1K"}),
    ));
    assert_eq!(got["status"], "ok", "{got}");
    assert_eq!(
        got["files"],
        json!({"present": "ok\u{FFFD}", "/tmp/t": "t"}),
        "{got}"
    );
    let errors: Vec<(String, String)> = got["file_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["type"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = [
        ("missing", "not_found"),
        ("big", "too_large"),
        ("link", "not_regular"),
        ("proc", "not_regular"),
        ("fifo", "not_regular"),
        ("dir", "not_regular"),
        ("sub2/passwd", "not_regular"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(errors, expect, "{got}");
    s.end();
    assert_nothing_left("after copy_out");
}

#[test]
fn a_hundred_thousand_files_or_a_fifo_at_the_target_cannot_stall_the_controller() {
    let _one = one_at_a_time();
    let mut s = Session::new(&[]);
    let fill =
        "import os\nfor i in range(100000): open('f%d' % i, 'w').close()\nos.mkfifo('out.txt')";
    let started = Instant::now();
    let got = s.ask(
        &json!({"argv": ["/usr/bin/python3", "-c", fill], "time": "20s",
                            "memory": "512M", "copy_out": ["out.txt", "f5"]}),
    );
    let took = started.elapsed();
    assert_eq!(got["status"], "ok", "{got}");
    assert_eq!(got["files"]["f5"], "", "{got}");
    assert_eq!(got["file_errors"][0]["type"], "not_regular", "{got}");
    // The program's own time plus a bound for the controller's part.
    let program = Duration::from_millis(got["wall_ms"].as_u64().unwrap());
    assert!(
        took < program + Duration::from_secs(5),
        "took {took:?} for {program:?}"
    );
    s.end();
    assert_nothing_left("after 100,000 files");
}

#[test]
fn collected_output_past_its_bound_stops_the_program_while_it_writes() {
    let _one = one_at_a_time();
    let dir = TempDir::new("collect");
    // The program (uid 1 inside, a host id of its own) writes its count there.
    let open = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    std::fs::set_permissions(&dir.0, open).unwrap();
    let mut s = Session::new(&[]);
    // Writes 1 GiB in 64 KiB pieces, saying on the host how far it got.
    // The count is renamed into place: a kill between a truncating open and its write
    // would leave an empty file.
    let writer = "import os\nchunk = b'x' * 65536\nfor i in range(16384):\n    os.write(1, chunk)\n    \
                  if i % 16 == 0:\n        open('/w/c', 'w').write(str(i))\n        os.replace('/w/c', '/w/count')\n\
                  print('wrote it all', file=open('/w/count', 'w'))";
    let got = s.ask(
        &json!({"argv": ["/usr/bin/python3", "-c", writer], "time": "20s", "wall": "60s",
                            "memory": "512M", "dir": dir.0, "stdout": {"collect": "1M"}}),
    );
    let brief = (
        &got["status"],
        &got["exit_code"],
        &got["signal"],
        &got["detail"],
    );
    assert_eq!(got["status"], "output_limit_exceeded", "{brief:?}");
    assert_eq!(got["stdout"].as_str().unwrap().len(), 1 << 20);
    let count: u64 = std::fs::read_to_string(dir.0.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // 1 MiB is 16 pieces: stopped within the bound, the pipe's buffer and a little more.
    assert!(count < 64, "it wrote {count} pieces of 64 KiB");
    // Within the bound, the output is the program's and the status its own.
    let fits = s.ask(&with(
        sh("head -c 1000 /dev/zero; exit 3"),
        json!({"stdout": {"collect": "1000"}}),
    ));
    assert_eq!(fits["status"], "nonzero_exit", "{fits}");
    assert_eq!(fits["stdout"].as_str().unwrap().len(), 1000);
    s.end();
    assert_nothing_left("after a writer past its bound");
}

fn compile_once_run_many(compile: Value, run: impl Fn(&str, u32) -> Value) {
    let mut s = Session::new(&[]);
    let built = s.ask(&compile);
    assert_eq!(built["status"], "ok", "{built}");
    let id = built["file_ids"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    for test in 0..20 {
        let got = s.ask(&run(&id, test));
        assert_eq!(got["status"], "ok", "{got}");
        assert_eq!(got["stdout"], format!("{}\n", test * 2 + 1), "{got}");
    }
    let deleted = s.ask(&json!({"id": "del", "delete_files": [id]}));
    assert_eq!(deleted, json!({"id": "del", "deleted": [id]}));
    s.end();
}

#[test]
fn compile_once_run_many_for_cpp_and_python() {
    let _one = one_at_a_time();
    let source =
        "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}";
    compile_once_run_many(
        json!({"argv": ["/usr/bin/g++", "-O2", "-o", "a.out", "main.cpp"], "profile": "gpp",
               "copy_in": {"main.cpp": {"content": source}}, "copy_out_cached": ["a.out"],
               "stderr": {"collect": "64K"}}),
        |id, test| {
            json!({"argv": ["./a.out"], "profile": "cpp",
                          "copy_in": {"a.out": {"file": id}},
                          "stdin": {"content": format!("{test} {}\n", test + 1)},
                          "stdout": {"collect": "1K"}})
        },
    );
    let script = "a, b = map(int, input().split())\nprint(a + b)";
    compile_once_run_many(
        json!({"argv": ["/usr/bin/python3", "-c", "import ast; ast.parse(open('main.py').read())"],
               "profile": "python3", "copy_in": {"main.py": {"content": script}},
               "copy_out_cached": ["main.py"]}),
        |id, test| {
            json!({"argv": ["/usr/bin/python3", "main.py"], "profile": "python3",
                          "copy_in": {"main.py": {"file": id}},
                          "stdin": {"content": format!("{test} {}\n", test + 1)},
                          "stdout": {"collect": "1K"}})
        },
    );
    assert_nothing_left("after compile once, run many");
}

#[test]
fn the_store_evicts_past_its_bound_and_says_so_and_lists_and_deletes() {
    let _one = one_at_a_time();
    let mut s = Session::new(&["--file-store-max", "1M"]);
    let mut ids = Vec::new();
    for i in 0..3 {
        let got = s.ask(&with(
            sh("head -c 400000 /dev/urandom > f"),
            json!({"id": i.to_string(), "copy_out_cached": ["f"]}),
        ));
        ids.push(got["file_ids"]["f"].as_str().unwrap().to_string());
    }
    let listed = s.ask(&json!({"id": "l", "list_files": true}));
    let files = listed["files"].as_object().unwrap();
    assert_eq!(files.len(), 2, "{listed}");
    assert!(
        !files.contains_key(&ids[0]) && files.contains_key(&ids[2]),
        "{listed}"
    );
    let evicted = s.ask(&with(
        sh("true"),
        json!({"id": "e", "copy_in": {"f": {"file": ids[0]}}}),
    ));
    assert_eq!(evicted["status"], "internal_error");
    let detail = evicted["detail"].as_str().unwrap();
    assert!(
        detail.contains(&ids[0]) && detail.contains("evicted"),
        "{detail}"
    );
    let bad = s.ask(&json!({"id": "d", "delete_files": [ids[1], "NOSUCHID"]}));
    assert_eq!(bad["status"], "internal_error");
    assert!(
        bad["detail"].as_str().unwrap().contains("\"NOSUCHID\""),
        "{bad}"
    );
    let deleted = s.ask(&json!({"id": "d2", "delete_files": [ids[1]]}));
    assert_eq!(deleted["deleted"], json!([ids[1]]));
    let listed = s.ask(&json!({"id": "l2", "list_files": true}));
    assert_eq!(listed["files"].as_object().unwrap().len(), 1, "{listed}");
    s.end();
    // A store in a directory keeps files as DIR/ID.
    let dir = TempDir::new("store");
    let mut s = Session::new(&["--file-store", &dir.join("files")]);
    let got = s.ask(&with(
        sh("echo kept > k"),
        json!({"copy_out_cached": ["k"]}),
    ));
    let id = got["file_ids"]["k"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.0.join("files").join(id)).unwrap(),
        "kept\n"
    );
    s.end();
    assert_nothing_left("after the store");
}

#[test]
fn bad_values_of_every_file_field_are_named_and_the_batch_goes_on() {
    let _one = one_at_a_time();
    let mut s = Session::new(&[]);
    let cases = [
        (json!({"copy_in": []}), "copy_in:"),
        (
            json!({"copy_in": {"a": {"content": 1}}}),
            "copy_in.a.content:",
        ),
        (
            json!({"copy_in": {"a": {"content": "", "mode": "rwx"}}}),
            "copy_in.a:",
        ),
        (json!({"copy_out": ["/etc/passwd"]}), "copy_out[0]:"),
        (json!({"copy_out_cached": [".."]}), "copy_out_cached[0]:"),
        (json!({"copy_out_max": "-1"}), "copy_out_max:"),
        (json!({"stdin": {"content": "", "file": "X"}}), "stdin:"),
        (json!({"stdout": {"collect": "2G"}}), "stdout:"),
        (json!({"stderr": {"collekt": "1K"}}), "stderr:"),
        (json!({"list_files": 1}), "list_files:"),
        (json!({"delete_files": [1]}), "delete_files[0]:"),
    ];
    for (fields, says) in cases {
        let mut request = with(json!({"id": "x", "argv": ["true"]}), fields.clone());
        if fields.get("list_files").is_some() || fields.get("delete_files").is_some() {
            request.as_object_mut().unwrap().remove("argv");
        }
        let got = s.ask(&request);
        assert_eq!(got["status"], "internal_error", "{fields}: {got}");
        assert_eq!(got["id"], "x");
        assert!(
            got["detail"].as_str().unwrap().starts_with(says),
            "{fields}: {got}"
        );
    }
    let ok = s.ask(&sh("echo on"));
    assert_eq!(ok["stdout"], "on\n");
    s.end();
    assert_nothing_left("after bad file fields");
}
