//! What the benchmarks share: medians and p90 as table rows, and the floor they are
//! compared to (a plain fork + execve + wait4 on the host).
#![allow(dead_code)] // each bench uses its own part

use runbox::sys::process;
use std::ffi::CString;
use std::time::Instant;

/// The value at fraction `p` of `sorted`.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Prints a row (median, p90, n) and returns the median.
pub fn row(name: &str, mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    let median = percentile(&samples, 0.5);
    println!(
        "| {name:<46} | {median:>8} | {:>8} | {:>5} |",
        percentile(&samples, 0.9),
        samples.len()
    );
    median
}

/// Prints a table's title and head.
pub fn header(title: &str) {
    println!(
        "\n{title}\n| {:<46} | {:>8} | {:>8} | {:>5} |\n|---|---|---|---|",
        "", "median us", "p90 us", "n"
    );
}

/// Microseconds since `since`.
pub fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

/// fork + execve + wait4 of `argv` on the host, with an empty environment: the floor.
#[allow(unsafe_code)]
pub fn fork_exec_wait(argv: &[CString]) {
    let args = runbox::sys::CStrArray::new(argv.to_vec());
    let envp = runbox::sys::CStrArray::new(vec![]);
    // SAFETY: the child only execs and _exits.
    match unsafe { process::fork() }.expect("fork") {
        None => {
            process::execve(&argv[0], &args, &envp);
            process::exit_now(127)
        }
        Some(pid) => {
            process::wait4(pid, 0).expect("wait4");
        }
    }
}
