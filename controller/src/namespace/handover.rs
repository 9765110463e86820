//! Handing the program's seccomp listener to the waiter: the protocol of
//! `runbox_shared::handover` (init follows it too), on the shared page, with the controller's
//! futex calls.

use crate::sys::process::{self, SharedPage};
use runbox_shared::handover::{Futex, Handover, FD_OFFSET, STATE_OFFSET};
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// The controller's futex calls.
struct SysFutex;

impl Futex for SysFutex {
    fn wait(&self, word: &AtomicU32, expected: u32, timeout_ms: Option<u32>) {
        let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
        process::futex_wait(word, expected, timeout);
    }

    fn wake(&self, word: &AtomicU32) {
        process::futex_wake(word);
    }
}

fn handover(page: &SharedPage) -> Handover<'_> {
    Handover::new(page.word::<STATE_OFFSET>(), page.word::<FD_OFFSET>())
}

/// The waiter, before the fork.
pub fn reset(page: &SharedPage) {
    handover(page).reset();
}

/// The program's child: posts its listener and waits until the waiter has taken it. Only
/// futex is called after the install, which every listener filter allows.
pub fn give(page: &SharedPage, listener: RawFd) {
    handover(page).give(&SysFutex, listener as u32);
}

/// The program's child, failing: nothing will be posted.
pub fn abandon(page: &SharedPage) {
    handover(page).abandon(&SysFutex);
}

/// The waiter: the child's listener, or `None` if it failed first or did not post within
/// two seconds.
pub fn take(page: &SharedPage, child: libc::pid_t) -> std::io::Result<Option<OwnedFd>> {
    handover(page)
        .take(&SysFutex, |fd| process::take_fd(child, fd as RawFd))
        .transpose()
}
