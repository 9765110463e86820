//! runbox-probe: run inside a sandbox by the integration tests, it does one thing on demand.
//!
//! - `segv`: writes through a null pointer (a real fault, not a sent signal);
//! - `abort`: calls abort(3);
//! - `args`: prints its argv, then `--`, then its environment, each followed by a NUL;
//! - `fds`: prints the numbers of its open fds, one per line.

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("segv") => {
            let null = std::hint::black_box(std::ptr::null_mut::<u8>());
            // SAFETY: not safe at all: the point is the fault.
            #[allow(unsafe_code)]
            unsafe {
                null.write_volatile(1)
            };
        }
        Some("abort") => std::process::abort(),
        Some("args") => {
            let mut out = Vec::new();
            for arg in std::env::args_os() {
                out.extend_from_slice(arg.as_encoded_bytes());
                out.push(0);
            }
            out.extend_from_slice(b"--\0");
            for (key, value) in std::env::vars_os() {
                out.extend_from_slice(key.as_encoded_bytes());
                out.push(b'=');
                out.extend_from_slice(value.as_encoded_bytes());
                out.push(0);
            }
            use std::io::Write;
            std::io::stdout().write_all(&out).unwrap();
        }
        Some("fds") => {
            // Collect first: the directory's own fd is open only while it is read.
            let entries: Vec<String> = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            for fd in entries {
                if std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok() {
                    println!("{fd}");
                }
            }
        }
        other => {
            eprintln!("runbox-probe: unknown command {other:?}");
            std::process::exit(64);
        }
    }
}
