//! Handing a seccomp listener from the program's child to init: the protocol of
//! `runbox_shared::handover`, on the page init shares with its children, with init's own
//! futex syscalls.

use crate::sys;
use core::sync::atomic::AtomicU32;
use runbox_shared::handover::{self as protocol, Futex, FD_OFFSET, STATE_OFFSET};

/// Init's futex calls.
struct RawFutex;

impl Futex for RawFutex {
    fn wait(&self, word: &AtomicU32, expected: u32, timeout_ms: Option<u32>) {
        let timeout = timeout_ms.map(|ms| sys::Timespec {
            sec: (ms / 1000) as _,
            nsec: ((ms % 1000) * 1_000_000) as _,
        });
        sys::futex_wait(word, expected, timeout);
    }

    fn wake(&self, word: &AtomicU32) {
        sys::futex_wake(word);
    }
}

/// The hand-over in `page`, the page init shares with its children.
pub struct Handover(protocol::Handover<'static>);

impl Handover {
    /// The hand-over's words in `page`.
    pub fn at(page: sys::SharedPage) -> Handover {
        Handover(protocol::Handover::new(
            page.word::<STATE_OFFSET>(),
            page.word::<FD_OFFSET>(),
        ))
    }

    /// Init, before each fork.
    pub fn reset(&self) {
        self.0.reset();
    }

    /// The child: posts its listener and waits until init has taken it.
    pub fn give(&self, listener: i32) {
        self.0.give(&RawFutex, listener as u32);
    }

    /// The child, failing: nothing will be posted.
    pub fn abandon(&self) {
        self.0.abandon(&RawFutex);
    }

    /// Init: the child's listener, copied with pidfd_getfd; `None` if the child failed first
    /// (its failure record says why) or did not post within two seconds.
    pub fn take(&self, child: u32) -> sys::Result<Option<i32>> {
        let taken = self.0.take(&RawFutex, |fd| {
            let pidfd = sys::pidfd_open(child)?;
            let taken = sys::pidfd_getfd(pidfd, fd as i32);
            sys::close(pidfd);
            taken
        });
        taken.transpose()
    }
}
