//! The capturing relay of a pipe that asks for `capture`: the writer writes into one kernel
//! pipe, the reader reads from another, and a thread of the controller moves the bytes
//! between them, zero-copy: `tee` duplicates what is waiting into the reader's pipe while
//! the first [`Relay::bound`] bytes are kept, `splice` moves the rest.
//!
//! Like go-judge's proxy, the relay keeps reading after the reader died (its pipe then says
//! EPIPE), so the writer sees no EPIPE: it writes into the relay until it ends. The relay
//! ends when the writer's pipe has no writer left (every member holding it has ended, and
//! init and the controller closed their copies), which each member's own wall limit bounds.
//! Nothing of it counts toward the programs' limits.

use crate::sys::{fs, process};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// The most bytes one `tee` or `splice` call moves.
const CHUNK: usize = 1 << 20;

/// A relay between two pipes.
#[derive(Debug)]
pub struct Relay {
    /// The read end of the writer's pipe.
    from: OwnedFd,
    /// The write end of the reader's pipe.
    to: OwnedFd,
    /// How many bytes of the traffic to keep.
    bound: usize,
}

/// The relay's pipes: the writer's end for the writing member, the reader's end for the
/// reading member, and the relay between them.
#[derive(Debug)]
pub struct Relayed {
    /// What the writing member gets.
    pub writer: OwnedFd,
    /// What the reading member gets.
    pub reader: OwnedFd,
    /// What runs on a thread of its own meanwhile.
    pub relay: Relay,
}

impl Relay {
    /// Two pipes and a relay that keeps up to `bound` bytes.
    pub fn pipes(bound: usize) -> io::Result<Relayed> {
        let (from, writer) = fs::pipe()?;
        let (reader, to) = fs::pipe()?;
        Ok(Relayed {
            writer,
            reader,
            relay: Relay { from, to, bound },
        })
    }

    /// How many bytes of the traffic it keeps.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Relays until the writer's pipe has no writer left; returns the first
    /// [`Relay::bound`] bytes of the traffic. The reader's pipe is closed on return (the
    /// reader then sees EOF). A call that fails for another reason than the reader's end
    /// ends the relay with what it kept.
    pub fn run(self) -> Vec<u8> {
        // The reader's end gone, a write says EPIPE instead of killing the controller
        // (whose SIGPIPE an embedding program may leave at its default).
        let _ = process::sigprocmask(libc::SIG_BLOCK, &[libc::SIGPIPE]);
        let mut kept = Vec::new();
        let _ = self.relay(&mut kept);
        kept
    }

    fn relay(&self, kept: &mut Vec<u8>) -> io::Result<()> {
        let (from, to) = (self.from.as_raw_fd(), self.to.as_raw_fd());
        let mut buf = vec![0u8; 64 << 10];
        let mut reader_gone = false;
        loop {
            let moved = if reader_gone {
                // Drain: the writer goes on without EPIPE.
                let n = retry(|| fs::read(from, &mut buf))?;
                keep(kept, self.bound, &buf[..n]);
                n
            } else if kept.len() < self.bound {
                match retry(|| fs::tee(from, to, buf.len())) {
                    Ok(n) => {
                        // Consumes exactly what was duplicated: it is waiting in `from`.
                        read_exactly(from, &mut buf[..n])?;
                        keep(kept, self.bound, &buf[..n]);
                        n
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                        reader_gone = true;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                match retry(|| fs::splice(from, to, CHUNK)) {
                    Ok(n) => n,
                    Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                        reader_gone = true;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            if moved == 0 {
                return Ok(());
            }
        }
    }
}

/// `call`, again while it is interrupted.
fn retry(mut call: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn read_exactly(fd: libc::c_int, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match retry(|| fs::read(fd, buf))? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf = &mut buf[n..],
        }
    }
    Ok(())
}

/// Appends what of `bytes` fits under `bound` to `kept`.
fn keep(kept: &mut Vec<u8>, bound: usize, bytes: &[u8]) {
    let room = bound.saturating_sub(kept.len());
    kept.extend_from_slice(&bytes[..room.min(bytes.len())]);
}

/// A capture as the result gives it: text, invalid UTF-8 as U+FFFD.
pub fn as_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn what_is_kept_stops_at_the_bound() {
        let mut kept = Vec::new();
        keep(&mut kept, 5, b"abc");
        keep(&mut kept, 5, b"defg");
        keep(&mut kept, 5, b"h");
        assert_eq!(kept, b"abcde");
        assert_eq!(as_text(b"ok\xff"), "ok\u{FFFD}");
    }

    #[test]
    fn the_relay_passes_everything_and_keeps_the_first_bytes() {
        let Relayed {
            writer,
            reader,
            relay,
        } = Relay::pipes(10).unwrap();
        let relaying = std::thread::spawn(move || relay.run());
        let writing = std::thread::spawn(move || {
            let mut writer = std::fs::File::from(writer);
            for i in 0..1000u32 {
                writer.write_all(format!("{i:04}\n").as_bytes()).unwrap();
            }
        });
        let mut all = String::new();
        std::fs::File::from(reader)
            .read_to_string(&mut all)
            .unwrap();
        writing.join().unwrap();
        assert_eq!(relaying.join().unwrap(), b"0000\n0001\n");
        assert_eq!(all.len(), 5000);
        assert!(all.ends_with("0999\n"));
    }

    #[test]
    fn a_dead_reader_gives_the_writer_no_epipe() {
        let Relayed {
            writer,
            reader,
            relay,
        } = Relay::pipes(4).unwrap();
        drop(reader);
        let relaying = std::thread::spawn(move || relay.run());
        let mut writer = std::fs::File::from(writer);
        // Far more than both pipes hold: the relay drains it.
        for _ in 0..64 {
            writer.write_all(&[b'x'; 8192]).unwrap();
        }
        drop(writer);
        assert_eq!(relaying.join().unwrap(), b"xxxx");
    }
}
