//! A load client for the serve benchmark (scripts/bench-serve.py): `runbox-load serve URL N
//! BODY` posts BODY to URL N times from 2 keep-alive clients; `runbox-load batch RUNBOX N
//! LINE` feeds N copies of LINE to one `runbox batch --parallel 2`, 2 in flight. Each
//! prints `runs_per_s median_latency_us`. Native, so that the client's own cost is small
//! beside what is measured.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn serve(url: &str, n: usize, body: &str) -> (f64, f64) {
    let left = Arc::new(AtomicUsize::new(n));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let started = Instant::now();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (left, latencies) = (Arc::clone(&left), Arc::clone(&latencies));
            let (url, body) = (url.to_string(), body.to_string());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                let mut mine = Vec::new();
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                    .is_ok()
                {
                    let t = Instant::now();
                    let mut response = agent.post(&url).send(body.as_bytes()).expect("POST");
                    let mut text = String::new();
                    response
                        .body_mut()
                        .as_reader()
                        .read_to_string(&mut text)
                        .unwrap();
                    mine.push(t.elapsed().as_secs_f64() * 1e6);
                    assert!(text.contains("\"Accepted\""), "{text}");
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    (rate, median(latencies))
}

fn batch(runbox: &str, n: usize, line: &str) -> (f64, f64) {
    let mut child = Command::new(runbox)
        .args(["batch", "--parallel", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runbox batch");
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut answer = String::new();
    let send = |input: &mut std::process::ChildStdin| {
        input.write_all(line.as_bytes()).unwrap();
        input.write_all(b"\n").unwrap();
        input.flush().unwrap();
        Instant::now()
    };
    // Warm: the pool is ready after the first answer.
    send(&mut input);
    output.read_line(&mut answer).unwrap();
    let started = Instant::now();
    let mut in_flight = std::collections::VecDeque::new();
    let mut latencies = Vec::with_capacity(n);
    let mut sent = 0;
    while sent < n.min(2) {
        in_flight.push_back(send(&mut input));
        sent += 1;
    }
    for _ in 0..n {
        answer.clear();
        output.read_line(&mut answer).unwrap();
        assert!(answer.contains("\"ok\""), "{answer}");
        // Both runs are alike: the oldest in flight is the one answered, within a run's time.
        let t: Instant = in_flight.pop_front().unwrap();
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
        if sent < n {
            in_flight.push_back(send(&mut input));
            sent += 1;
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    drop(input);
    child.wait().unwrap();
    (rate, median(latencies))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[3].parse().expect("N");
    let (rate, latency) = match args[1].as_str() {
        "serve" => serve(&args[2], n, &args[4]),
        "batch" => batch(&args[2], n, &args[4]),
        other => panic!("serve or batch, not {other}"),
    };
    println!("{rate:.1} {latency:.1}");
}
