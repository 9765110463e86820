//! Collectors: a program's stdout or stderr captured into the result (`{"collect": "64K"}`).
//!
//! The program writes into a pipe whose other end the controller drains while the run goes
//! on (from the same loop that waits for the run's end: `supervise`), keeping at
//! most the bound. A byte past the bound is the program's verdict: the controller orders
//! the run killed at once and the status is `output_limit_exceeded`; the program never
//! gets further than the bound, the pipe's buffer and what it writes while it is killed.

use crate::sys::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The largest bound a collector takes: 1 GiB.
pub const MAX_COLLECT: u64 = 1 << 30;

/// The pipe buffer asked for (`F_SETPIPE_SZ`): fewer wake-ups of the drain for a program
/// that writes much. Where the kernel refuses, its default (64 KiB) serves.
const PIPE_SIZE: libc::c_int = 1 << 20;

/// One output captured: the controller's read end and what came through it.
#[derive(Debug)]
pub struct Collector {
    /// 1 (stdout) or 2 (stderr).
    pub fd: usize,
    read: OwnedFd,
    bound: u64,
    bytes: Vec<u8>,
    over: bool,
    ended: bool,
}

impl Collector {
    /// A pipe for fd `fd` of the program: the collector (the read end, non-blocking) and the
    /// write end the program gets.
    pub fn new(fd: usize, bound: u64) -> io::Result<(Collector, OwnedFd)> {
        let (read, write) = fs::pipe()?;
        fs::set_nonblocking(read.as_raw_fd())?;
        crate::sys::fs::set_pipe_size(read.as_raw_fd(), PIPE_SIZE);
        let collector = Collector {
            fd,
            read,
            bound,
            bytes: Vec::new(),
            over: false,
            ended: false,
        };
        Ok((collector, write))
    }

    /// The read end, to poll (`None` once it needs no more draining).
    pub fn poll_fd(&self) -> Option<RawFd> {
        (!self.over && !self.ended).then(|| self.read.as_raw_fd())
    }

    /// Reads what is in the pipe now, keeping up to the bound. True once the program wrote
    /// past it.
    pub fn drain(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 64 << 10];
        while !self.over && !self.ended {
            match fs::read(self.read.as_raw_fd(), &mut buf) {
                Ok(0) => self.ended = true,
                Ok(n) => {
                    let room = (self.bound - self.bytes.len() as u64) as usize;
                    self.bytes.extend_from_slice(&buf[..n.min(room)]);
                    self.over = n > room;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(self.over)
    }

    /// True when the program wrote past the bound.
    pub fn over(&self) -> bool {
        self.over
    }

    /// What was captured, as text (invalid UTF-8 as U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_keeps_its_bound_and_says_when_it_is_passed() {
        let (mut collector, write) = Collector::new(1, 10).unwrap();
        fs::write_all(write.as_raw_fd(), b"hello").unwrap();
        assert!(!collector.drain().unwrap());
        fs::write_all(write.as_raw_fd(), b" world!\xff").unwrap();
        assert!(collector.drain().unwrap());
        assert_eq!(collector.text(), "hello worl");
        assert!(collector.poll_fd().is_none());
        let (mut exact, write) = Collector::new(2, 3).unwrap();
        fs::write_all(write.as_raw_fd(), b"a\xffb").unwrap();
        drop(write);
        assert!(!exact.drain().unwrap());
        assert_eq!(exact.text(), "a\u{FFFD}b");
    }
}
