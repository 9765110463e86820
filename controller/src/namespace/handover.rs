//! Handing the program's seccomp listener to the waiter: the same meeting in a shared page
//! as init's (init/src/handover.rs), written again over the controller's syscall layer,
//! since init links neither libc nor the controller's code.

use crate::sys::process::{self, SharedPage};
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Above the failure record at the start of the page.
const STATE: usize = 2048;
const FD: usize = 2052;

const EMPTY: u32 = 0;
const POSTED: u32 = 1;
const TAKEN: u32 = 2;
const ABANDONED: u32 = 3;

/// The waiter, before the fork.
pub fn reset(page: &SharedPage) {
    page.word::<STATE>().store(EMPTY, Ordering::SeqCst);
}

/// The program's child: posts its listener and waits until the waiter has taken it. Only
/// futex is called after the install, which every listener filter allows.
pub fn give(page: &SharedPage, listener: RawFd) {
    let state = page.word::<STATE>();
    page.word::<FD>().store(listener as u32, Ordering::SeqCst);
    state.store(POSTED, Ordering::SeqCst);
    process::futex_wake(state);
    while state.load(Ordering::SeqCst) == POSTED {
        process::futex_wait(state, POSTED, None);
    }
}

/// The program's child, failing: nothing will be posted.
pub fn abandon(page: &SharedPage) {
    let state = page.word::<STATE>();
    if state.swap(ABANDONED, Ordering::SeqCst) != ABANDONED {
        process::futex_wake(state);
    }
}

/// The waiter: the child's listener, or `None` if it failed first or did not post within
/// two seconds.
pub fn take(page: &SharedPage, child: libc::pid_t) -> std::io::Result<Option<OwnedFd>> {
    let state = page.word::<STATE>();
    for _ in 0..20 {
        match state.load(Ordering::SeqCst) {
            EMPTY => process::futex_wait(state, EMPTY, Some(Duration::from_millis(100))),
            POSTED => {
                let taken =
                    process::take_fd(child, page.word::<FD>().load(Ordering::SeqCst) as RawFd);
                state.store(TAKEN, Ordering::SeqCst);
                process::futex_wake(state);
                return taken.map(Some);
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}
