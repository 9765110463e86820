//! What a worker holds: the entries its runners have read and not yet answered (each runner
//! holds at most one, so the worker never holds more than it can run now), whether it was
//! told to stop, and whether its runners are done. Shared by the runners, the keeper and
//! the signal thread.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The entries a worker holds, and its state.
#[derive(Debug, Default)]
pub struct Held {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The stream ids of the entries read and not yet answered.
    ids: BTreeSet<String>,
    stopping: bool,
    finished: bool,
}

impl Held {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entry `id` was read: it is this worker's until [`Held::done`].
    pub fn start(&self, id: &str) {
        self.lock().ids.insert(id.to_string());
    }

    /// Entry `id` is answered (its result written, the entry acknowledged).
    pub fn done(&self, id: &str) {
        self.lock().ids.remove(id);
    }

    /// The ids of the entries this worker holds.
    pub fn ids(&self) -> Vec<String> {
        self.lock().ids.iter().cloned().collect()
    }

    /// Whether this worker holds entry `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.lock().ids.contains(id)
    }

    /// Stop reading.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.changed.notify_all();
    }

    /// Whether the worker was told to stop.
    pub fn stopping(&self) -> bool {
        self.lock().stopping
    }

    /// The runners are done.
    pub fn finish(&self) {
        self.lock().finished = true;
        self.changed.notify_all();
    }

    /// Waits up to `wait` for the runners to be done; whether they are.
    pub fn wait_finished(&self, wait: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, wait, |s| !s.finished)
            .unwrap_or_else(|e| e.into_inner());
        state.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn entries_are_held_from_their_read_to_their_answer() {
        let held = Held::default();
        held.start("2-0");
        held.start("1-0");
        assert_eq!(held.ids(), ["1-0", "2-0"]);
        assert!(held.holds("1-0"));
        held.done("1-0");
        assert!(!held.holds("1-0"));
        assert_eq!(held.ids(), ["2-0"]);
        assert!(!held.stopping());
        held.stop();
        assert!(held.stopping());
    }

    #[test]
    fn the_end_of_the_runners_wakes_the_keeper() {
        let held = Arc::new(Held::default());
        assert!(!held.wait_finished(Duration::from_millis(5)));
        let runners = Arc::clone(&held);
        let thread = std::thread::spawn(move || runners.finish());
        assert!(held.wait_finished(Duration::from_secs(60)));
        thread.join().unwrap();
    }
}
