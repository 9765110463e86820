//! # Cancelling a run: an order, from whoever waits for it, to end it now
//!
//! A server's client that goes away (or a `/ws` `cancelRequestId`) no longer wants its
//! runs. A [`Cancel`] is the order, shared by every run of one request: before a run
//! starts it is dropped unrun; once it runs, the controller's wait loop
//! (`supervise::wait_for_reply`), which watches the cancel beside the container's
//! socket, gives init its kill order at once (the same kill order a CPU-time or output
//! limit gives), waits for the end as for any run, and the result says `signaled`,
//! `cancelled`. The container is then free for the next run, as after any other.
//!
//! The order is an atomic flag and an eventfd written once: the flag for a check, the fd
//! for the wait loop's `poll`, which wakes on it at once. The eventfd is never read, so it
//! stays ready for every run that waits on it (a group's members share one).

use crate::sys::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The order to end a run (or every run of a request) early; clones share one order.
#[derive(Debug, Clone)]
pub struct Cancel(Arc<Order>);

#[derive(Debug)]
struct Order {
    fired: AtomicBool,
    ready: OwnedFd,
}

impl Cancel {
    /// An order not given yet.
    pub fn new() -> std::io::Result<Cancel> {
        Ok(Cancel(Arc::new(Order {
            fired: AtomicBool::new(false),
            ready: fs::eventfd()?,
        })))
    }

    /// Gives the order: a run not started is not started, a running one is killed. Giving
    /// it again, or after the runs ended, does nothing.
    pub fn fire(&self) {
        if !self.0.fired.swap(true, Ordering::SeqCst) {
            // An eventfd's write fails only on a full counter, which is ready anyway.
            let _ = fs::eventfd_signal(self.0.ready.as_fd());
        }
    }

    /// True once the order is given.
    pub fn fired(&self) -> bool {
        self.0.fired.load(Ordering::SeqCst)
    }

    /// A descriptor that polls readable (`POLLIN`) once the order is given.
    pub fn ready_fd(&self) -> BorrowedFd<'_> {
        self.0.ready.as_fd()
    }

    /// A guard that gives the order when dropped (a request's future dropped by a client
    /// that went away), unless [`OnDrop::disarm`]ed first.
    pub fn on_drop(&self) -> OnDrop {
        OnDrop(Some(self.clone()))
    }
}

/// Gives its [`Cancel`] when dropped; see [`Cancel::on_drop`].
#[derive(Debug)]
pub struct OnDrop(Option<Cancel>);

impl OnDrop {
    /// Drops the guard without giving the order (the runs it guards are over).
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take() {
            cancel.fire();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    fn ready(cancel: &Cancel) -> bool {
        let mut fds = [libc::pollfd {
            fd: cancel.ready_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        fs::poll(&mut fds, Some(Duration::ZERO)).unwrap() == 1
    }

    #[test]
    fn an_order_is_seen_by_every_clone_and_wakes_a_poll_for_good() {
        let cancel = Cancel::new().unwrap();
        let other = cancel.clone();
        assert!(!other.fired() && !ready(&other));
        cancel.fire();
        cancel.fire();
        assert!(other.fired());
        // Never read: ready for every waiter, however many times it is polled.
        assert!(ready(&other) && ready(&cancel));
    }

    #[test]
    fn a_guard_gives_the_order_when_dropped_unless_disarmed() {
        let cancel = Cancel::new().unwrap();
        cancel.on_drop().disarm();
        assert!(!cancel.fired());
        drop(cancel.on_drop());
        assert!(cancel.fired() && ready(&cancel));
    }
}
