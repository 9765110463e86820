//! The next run's process, forked ahead of its request.
//!
//! A run's child spends most of its set-up on what no request changes: the fork, a session,
//! the program's ids and, above all, installing the seccomp filter (the kernel checks and
//! compiles it: tens of microseconds). So once a run is over and the controller has read
//! its accounting ([`runbox_shared::Request::Ahead`]), init forks the next program's
//! process and lets it go that far with the last run's filter; it then waits on a socket
//! pair ([`child::exec_when_asked`]). A request with the same filter and ids is handed to
//! it (the datagram, its fds): it only puts them in place, changes directory, sets the
//! limits and executes. Any other request (another filter, a listener, other ids) gets a
//! process forked for it as before, and the waiting one is killed and reaped first.
//!
//! Only a filter that allows every call the waiting process makes after it
//! ([`runbox_shared::CALLS_AFTER_AHEAD_FILTER`], which the controller checks and says in
//! [`Run::seccomp_ahead`]) is installed ahead: a filter never has to be weaker for it.

use crate::{child, sys};
use runbox_shared::{Run, MAX_MESSAGE};

/// The filter a next program would install, and the one waiting, if any.
pub struct Ahead {
    /// The last run's filter, when it may be installed ahead (`usable`).
    filter: [u8; MAX_MESSAGE],
    len: usize,
    program_ids: bool,
    usable: bool,
    waiting: Option<Waiting>,
}

/// A process forked ahead, waiting for its request on `socket` (init's end).
struct Waiting {
    pid: u32,
    socket: i32,
}

impl Ahead {
    /// Nothing known yet: the first run's process is forked for it.
    pub const fn new() -> Ahead {
        Ahead {
            filter: [0; MAX_MESSAGE],
            len: 0,
            program_ids: false,
            usable: false,
            waiting: None,
        }
    }

    /// Remembers what the run that just ended installed, for the next process.
    pub fn remember(&mut self, run: &Run<'_>) {
        let installable = run.seccomp.is_empty() || run.seccomp_ahead;
        // A datagram's filter always fits: the datagram is at most MAX_MESSAGE bytes.
        self.usable = installable && !run.seccomp_listener;
        if self.usable {
            self.filter[..run.seccomp.len()].copy_from_slice(run.seccomp);
            self.len = run.seccomp.len();
            self.program_ids = run.program_ids;
        }
    }

    /// Forks the next run's process, with the failure record of `record_page` emptied for
    /// it, unless one waits already or the last run's filter may not go ahead; it receives
    /// its request into its copy of `datagram` (init's receive buffer). A failure here only
    /// means the next request gets a process forked for it.
    pub fn fork(&mut self, record_page: sys::SharedPage, datagram: &mut [u8; MAX_MESSAGE]) {
        if !self.usable || self.waiting.is_some() {
            return;
        }
        let Ok([mine, theirs]) = sys::socketpair() else {
            return;
        };
        record_page.put_failure(None);
        match sys::fork() {
            Ok(0) => {
                sys::close(mine);
                let filter = &self.filter[..self.len];
                child::exec_when_asked(theirs, filter, self.program_ids, datagram, record_page)
            }
            Ok(pid) => {
                sys::close(theirs);
                self.waiting = Some(Waiting { pid, socket: mine });
            }
            Err(_) => {
                sys::close(mine);
                sys::close(theirs);
            }
        }
    }

    /// Hands `run` (its `datagram` and `fds`) to the waiting process if it was made for
    /// the same filter and ids, and returns its pid. Otherwise (or if it is gone: its own
    /// set-up failed) kills and reaps it, and returns `None`: the caller forks.
    pub fn hand_over(&mut self, run: &Run<'_>, datagram: &[u8], fds: &[i32]) -> Option<u32> {
        let waiting = self.waiting.take()?;
        let fits = !run.seccomp_listener
            && run.program_ids == self.program_ids
            && run.seccomp == &self.filter[..self.len];
        let handed = fits && sys::send_with_fds(waiting.socket, datagram, fds).is_ok();
        // What was sent stays queued for it: it reads the request before the close.
        sys::close(waiting.socket);
        if handed {
            return Some(waiting.pid);
        }
        let _ = sys::kill(waiting.pid as i32, sys::SIGKILL);
        // Reaped before the caller empties the failure record it may have written.
        let _ = sys::wait4(waiting.pid as i32, 0);
        None
    }
}
