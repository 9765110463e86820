//! Handing a seccomp listener from the program's child to init.
//!
//! The listener exists only once the child has installed its filter, and it is
//! close-on-exec, so init must take it (pidfd_getfd) before the child execs. They meet in the
//! page they share: the child posts the fd number and waits; init takes it and lets the child
//! go. A child that fails before posting abandons the hand-over instead. Futex words, not
//! pipes: the child's filter is already in force, and every listener filter allows futex.

use crate::sys;
use core::sync::atomic::{AtomicU32, Ordering};

/// Where in the shared page (above the failure record).
const STATE: usize = 2048;
const FD: usize = 2052;

const EMPTY: u32 = 0;
const POSTED: u32 = 1;
const TAKEN: u32 = 2;
const ABANDONED: u32 = 3;

/// The hand-over's two words.
pub struct Handover {
    state: &'static AtomicU32,
    fd: &'static AtomicU32,
}

impl Handover {
    /// The hand-over in `page`, the page init shares with its children.
    pub fn at(page: *mut u8) -> Handover {
        Handover {
            state: sys::shared_u32::<STATE>(page),
            fd: sys::shared_u32::<FD>(page),
        }
    }

    /// Init, before each fork.
    pub fn reset(&self) {
        self.state.store(EMPTY, Ordering::SeqCst);
    }

    /// The child: posts its listener and waits until init has taken it.
    pub fn give(&self, listener: i32) {
        self.fd.store(listener as u32, Ordering::SeqCst);
        self.state.store(POSTED, Ordering::SeqCst);
        sys::futex_wake(self.state);
        while self.state.load(Ordering::SeqCst) == POSTED {
            sys::futex_wait(self.state, POSTED, None);
        }
    }

    /// The child, failing: nothing will be posted.
    pub fn abandon(&self) {
        if self.state.swap(ABANDONED, Ordering::SeqCst) != ABANDONED {
            sys::futex_wake(self.state);
        }
    }

    /// Init: waits for the child's listener and takes a copy; `None` if the child failed
    /// first (its failure record says why) or did not post within two seconds.
    pub fn take(&self, child: u32) -> sys::Result<Option<i32>> {
        let mut waits = 0;
        loop {
            match self.state.load(Ordering::SeqCst) {
                EMPTY if waits < 20 => {
                    waits += 1;
                    let tenth = sys::Timespec {
                        sec: 0,
                        nsec: 100_000_000,
                    };
                    sys::futex_wait(self.state, EMPTY, Some(tenth));
                }
                POSTED => break,
                _ => return Ok(None),
            }
        }
        let pidfd = sys::pidfd_open(child)?;
        let taken = sys::pidfd_getfd(pidfd, self.fd.load(Ordering::SeqCst) as i32);
        sys::close(pidfd);
        self.state.store(TAKEN, Ordering::SeqCst);
        sys::futex_wake(self.state);
        taken.map(Some)
    }
}
