//! Handing a program's seccomp listener to its PID 1 (init, or namespace mode's waiter).
//!
//! The listener exists only once the program's child has installed its filter, and it is
//! close-on-exec, so PID 1 must take a copy (`pidfd_getfd`) before the child execs. They
//! meet in the page they share: the child posts the fd number and waits; PID 1 takes it and
//! lets the child go. A child that fails before posting abandons the hand-over instead.
//! Futex words, not pipes: the child's filter is already in force, and every listener filter
//! allows futex.
//!
//! The protocol is written once, here; each side brings its own futex calls ([`Futex`]):
//! init makes raw syscalls, the controller's waiter goes through its `sys` layer. Also here:
//! the fields PID 1 reads from a notification.

use core::sync::atomic::{AtomicU32, Ordering};

/// Where the hand-over's state word sits in the shared page (above the failure record).
pub const STATE_OFFSET: usize = 2048;
/// Where the posted fd number sits in the shared page.
pub const FD_OFFSET: usize = 2052;

const EMPTY: u32 = 0;
const POSTED: u32 = 1;
const TAKEN: u32 = 2;
const ABANDONED: u32 = 3;

/// How long PID 1 waits for the child's post: this many waits of [`WAIT_MS`].
const WAITS: u32 = 20;
/// One wait, milliseconds.
pub const WAIT_MS: u32 = 100;

/// A side's futex calls on a word of the shared page.
pub trait Futex {
    /// Sleeps while `word` holds `expected`, at most `timeout_ms` when given; may return
    /// early (the callers loop).
    fn wait(&self, word: &AtomicU32, expected: u32, timeout_ms: Option<u32>);
    /// Wakes every waiter on `word`.
    fn wake(&self, word: &AtomicU32);
}

/// The hand-over's two words in the shared page.
#[derive(Debug, Clone, Copy)]
pub struct Handover<'a> {
    state: &'a AtomicU32,
    fd: &'a AtomicU32,
}

impl<'a> Handover<'a> {
    /// The hand-over on these words (at [`STATE_OFFSET`] and [`FD_OFFSET`]).
    pub fn new(state: &'a AtomicU32, fd: &'a AtomicU32) -> Handover<'a> {
        Handover { state, fd }
    }

    /// PID 1, before each fork.
    pub fn reset(&self) {
        self.state.store(EMPTY, Ordering::SeqCst);
    }

    /// The child: posts its listener and waits until PID 1 has taken it.
    pub fn give(&self, futex: &impl Futex, listener: u32) {
        self.fd.store(listener, Ordering::SeqCst);
        self.state.store(POSTED, Ordering::SeqCst);
        futex.wake(self.state);
        while self.state.load(Ordering::SeqCst) == POSTED {
            futex.wait(self.state, POSTED, None);
        }
    }

    /// The child, failing: nothing will be posted.
    pub fn abandon(&self, futex: &impl Futex) {
        if self.state.swap(ABANDONED, Ordering::SeqCst) != ABANDONED {
            futex.wake(self.state);
        }
    }

    /// PID 1: waits for the child's post and copies the listener with `take` (given the fd
    /// number in the child), then lets the child go. `None` if the child abandoned the
    /// hand-over (its failure record says why) or did not post within two seconds.
    pub fn take<T>(&self, futex: &impl Futex, take: impl FnOnce(u32) -> T) -> Option<T> {
        let mut waits = 0;
        loop {
            match self.state.load(Ordering::SeqCst) {
                EMPTY if waits < WAITS => {
                    waits += 1;
                    futex.wait(self.state, EMPTY, Some(WAIT_MS));
                }
                POSTED => break,
                _ => return None,
            }
        }
        let taken = take(self.fd.load(Ordering::SeqCst));
        self.state.store(TAKEN, Ordering::SeqCst);
        futex.wake(self.state);
        Some(taken)
    }
}

/// The size of `struct seccomp_notif` (id, pid, flags, then `struct seccomp_data`).
pub const NOTIF_SIZE: usize = 80;
/// `SECCOMP_IOCTL_NOTIF_RECV`: `_IOWR('!', 0, struct seccomp_notif)`.
pub const SECCOMP_IOCTL_NOTIF_RECV: u32 = (3 << 30) | ((NOTIF_SIZE as u32) << 16) | (0x21 << 8);

/// The syscall number and `AUDIT_ARCH_*` of a received notification
/// (`seccomp_data.nr` and `.arch`, at offsets 16 and 20).
pub fn notif_call(notif: &[u8; NOTIF_SIZE]) -> (u32, u32) {
    let word =
        |at: usize| u32::from_ne_bytes([notif[at], notif[at + 1], notif[at + 2], notif[at + 3]]);
    (word(16), word(20))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::sync::Arc;

    /// Futex calls that only yield: the protocol loops until its word changes.
    struct Spin;

    impl Futex for Spin {
        fn wait(&self, _: &AtomicU32, _: u32, timeout_ms: Option<u32>) {
            match timeout_ms {
                Some(ms) => std::thread::sleep(std::time::Duration::from_millis(ms.into())),
                None => std::thread::yield_now(),
            }
        }
        fn wake(&self, _: &AtomicU32) {}
    }

    fn words() -> Arc<(AtomicU32, AtomicU32)> {
        Arc::new((AtomicU32::new(7), AtomicU32::new(0)))
    }

    #[test]
    fn a_posted_listener_is_taken_and_the_child_goes_on() {
        let w = words();
        Handover::new(&w.0, &w.1).reset();
        let child = {
            let w = Arc::clone(&w);
            std::thread::spawn(move || Handover::new(&w.0, &w.1).give(&Spin, 42))
        };
        let taken = Handover::new(&w.0, &w.1).take(&Spin, |fd| fd + 1000);
        assert_eq!(taken, Some(1042));
        child.join().unwrap(); // returns only once the listener was taken
    }

    #[test]
    fn an_abandoned_or_missing_post_gives_nothing() {
        let w = words();
        let handover = Handover::new(&w.0, &w.1);
        handover.reset();
        handover.abandon(&Spin);
        assert_eq!(handover.take(&Spin, |fd| fd), None);
        handover.reset();
        // Nobody posts: two seconds of waits, then nothing.
        assert_eq!(handover.take(&Spin, |_| unreachable!()), None::<u32>);
    }

    #[test]
    fn a_notification_s_call_and_arch() {
        let mut notif = [0u8; NOTIF_SIZE];
        notif[16..20].copy_from_slice(&101u32.to_ne_bytes());
        notif[20..24].copy_from_slice(&0xc000_003eu32.to_ne_bytes());
        assert_eq!(notif_call(&notif), (101, 0xc000_003e));
        assert_eq!(SECCOMP_IOCTL_NOTIF_RECV, 0xc050_2100);
    }
}
