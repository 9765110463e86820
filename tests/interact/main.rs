//! runbox-interact: the programs of the group tests, each one role of an interactive
//! problem, well-behaved or not. Every misbehaviour is real: a real blocking read, a real
//! full pipe, a real fork that holds the pipe.
//!
//! - `interactor SECRET`: guess-the-number's judge: reads guesses (one a line) on stdin,
//!   answers `<`, `>` or `=` on stdout; exits 0 when guessed within 30 tries, 1 when the
//!   tries run out, 2 on EOF or a line that is no number (its verdict is its exit code);
//! - `solution`: guesses by halving 1..=1000000;
//! - `read-first`: reads a line before it writes anything, and at EOF waits for ever for
//!   input that never comes (two of them: a deadlock that lasts);
//! - `close-early`: reads one line and exits 0;
//! - `talk`: writes a line and reads the answer, 1000 times; exits 3 on EOF, and dies of
//!   SIGPIPE at a write to a pipe with no reader;
//! - `flood`: writes its stdout for ever;
//! - `sleep`: sleeps for ever, reading nothing;
//! - `touch MIB`: allocates and touches MIB MiB, then reads stdin to its end;
//! - `write N`: writes N bytes (`0123456789` repeated) on stdout, exits 0;
//! - `read-all`: reads stdin to its end, prints how many bytes it read on stderr, exits 0;
//! - `fork-hold`: forks a child that sleeps for ever holding stdout, and exits at once;
//! - `add1`: reads a number from stdin, writes it plus one on stdout;
//! - `manager N`: writes N on fd 3, reads a number from fd 4; exits 0 if it is N + 2;
//! - `ping N`: writes one byte and reads one back, N times; `pong`: echoes each byte it
//!   reads until EOF. Both then print on stderr when their container's init started
//!   (`/proc/1/stat`'s start time): one number per container, whichever run it serves.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::time::Duration;

fn line(input: &mut impl BufRead) -> Option<String> {
    let mut text = String::new();
    match input.read_line(&mut text) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(text.trim().to_string()),
    }
}

fn fd(n: i32) -> std::fs::File {
    // SAFETY: the group gives this process fd n, which nothing else here owns.
    unsafe { std::fs::File::from_raw_fd(n) }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut output = std::io::stdout().lock();
    match args.first().map(String::as_str) {
        Some("interactor") => {
            let secret = arg(1);
            for _ in 0..30 {
                let Some(guess) = line(&mut input) else {
                    std::process::exit(2)
                };
                let Ok(guess) = guess.parse::<u64>() else {
                    std::process::exit(2)
                };
                let answer = match guess.cmp(&secret) {
                    std::cmp::Ordering::Less => "<",
                    std::cmp::Ordering::Greater => ">",
                    std::cmp::Ordering::Equal => "=",
                };
                let _ = writeln!(output, "{answer}");
                let _ = output.flush();
                if answer == "=" {
                    std::process::exit(0);
                }
            }
            std::process::exit(1)
        }
        Some("solution") => {
            let (mut low, mut high) = (1u64, 1_000_000u64);
            while low <= high {
                let guess = (low + high) / 2;
                let _ = writeln!(output, "{guess}");
                let _ = output.flush();
                match line(&mut input).as_deref() {
                    Some("<") => low = guess + 1,
                    Some(">") => high = guess - 1,
                    Some("=") => return,
                    _ => std::process::exit(3),
                }
            }
            std::process::exit(4)
        }
        Some("read-first") => {
            if line(&mut input).is_none() {
                loop {
                    std::thread::sleep(Duration::from_secs(3600))
                }
            }
            let _ = writeln!(output, "late");
        }
        Some("close-early") => {
            let _ = line(&mut input);
        }
        Some("talk") => {
            for i in 0..1000 {
                if writeln!(output, "{i}")
                    .and_then(|()| output.flush())
                    .is_err()
                {
                    std::process::exit(5)
                }
                if line(&mut input).is_none() {
                    std::process::exit(3)
                }
            }
        }
        Some("flood") => {
            let block = [b'x'; 4096];
            while output.write_all(&block).is_ok() {}
        }
        Some("sleep") => loop {
            std::thread::sleep(Duration::from_secs(3600))
        },
        Some("touch") => {
            let mut memory = vec![0u8; (arg(1) as usize) << 20];
            for page in memory.chunks_mut(4096) {
                page[0] = 1;
            }
            std::hint::black_box(&memory);
            let _ = std::io::copy(&mut input, &mut std::io::sink());
        }
        Some("write") => {
            let bytes: Vec<u8> = (0..arg(1)).map(|i| b'0' + (i % 10) as u8).collect();
            let _ = output.write_all(&bytes);
        }
        Some("read-all") => {
            let n = std::io::copy(&mut input, &mut std::io::sink()).unwrap_or(0);
            eprintln!("{n}");
        }
        // SAFETY: the child only sleeps; nothing is locked across the fork.
        Some("fork-hold") if unsafe { libc::fork() } == 0 => loop {
            std::thread::sleep(Duration::from_secs(3600))
        },
        Some("add1") => {
            let n: u64 = line(&mut input).and_then(|l| l.parse().ok()).unwrap_or(0);
            let _ = writeln!(output, "{}", n + 1);
        }
        Some("manager") => {
            let n = arg(1);
            let mut to_first = fd(3);
            let _ = writeln!(to_first, "{n}");
            drop(to_first);
            let mut from_last = BufReader::new(fd(4));
            let got: Option<u64> = line(&mut from_last).and_then(|l| l.parse().ok());
            std::process::exit(if got == Some(n + 2) { 0 } else { 1 })
        }
        Some("ping") => {
            let mut byte = [0u8; 1];
            let (mut to, mut from) = (fd(1), fd(0));
            for _ in 0..arg(1) {
                if to.write_all(b"x").is_err() || from.read_exact(&mut byte).is_err() {
                    std::process::exit(1)
                }
            }
        }
        Some("pong") => {
            let mut byte = [0u8; 1];
            let (mut to, mut from) = (fd(1), fd(0));
            while from.read_exact(&mut byte).is_ok() {
                if to.write_all(&byte).is_err() {
                    std::process::exit(1)
                }
            }
        }
        _ => {}
    }
    if matches!(args.first().map(String::as_str), Some("ping" | "pong")) {
        let stat = std::fs::read_to_string("/proc/1/stat").unwrap_or_default();
        // After the command's closing parenthesis, the start time is the 20th field.
        let after = stat.rsplit(')').next().unwrap_or("");
        eprintln!("{}", after.split_whitespace().nth(19).unwrap_or("?"));
        return;
    }
    match args.first().map(String::as_str) {
        Some(
            "interactor" | "solution" | "read-first" | "close-early" | "talk" | "flood" | "sleep"
            | "touch" | "write" | "read-all" | "fork-hold" | "add1" | "manager",
        ) => {}
        _ => {
            eprintln!("runbox-interact: unknown role {args:?}");
            std::process::exit(100)
        }
    }
}
