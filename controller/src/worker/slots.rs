//! What a worker holds: the entries it is running (at most `parallel`) and the results not
//! yet written (with them, at most `2 x parallel`), so that it never reads more than it can
//! run now; and whether it was told to stop. Shared by the reader, the runners, the writer and the signal thread.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The worker's slots.
#[derive(Debug)]
pub struct Slots {
    parallel: usize,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The stream ids of the entries being run.
    running: BTreeSet<String>,
    /// The stream ids of the entries whose results are handed to the writer and not yet
    /// written.
    unwritten: BTreeSet<String>,
    stopping: bool,
}

impl Slots {
    /// Slots for `parallel` runs at once.
    pub fn new(parallel: usize) -> Slots {
        Slots {
            parallel: parallel.max(1),
            state: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn free_in(&self, state: &State) -> usize {
        // At most `parallel` running, and at most `2 x parallel` held in all: a writer
        // that falls behind (Redis gone) holds the reader back too.
        let running = state.running.len();
        let runs = self.parallel.saturating_sub(running);
        let held = (2 * self.parallel).saturating_sub(running + state.unwritten.len());
        runs.min(held)
    }

    /// How many entries may be read now: waits up to `wait` for one to be free. `None` once
    /// the worker is stopping.
    pub fn wait_free(&self, wait: Duration) -> Option<usize> {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, wait, |s| !s.stopping && self.free_in(s) == 0)
            .unwrap_or_else(|e| e.into_inner());
        (!state.stopping).then(|| self.free_in(&state))
    }

    /// How many entries may be read now.
    pub fn free(&self) -> usize {
        self.free_in(&self.lock())
    }

    /// Entry `id` is being run.
    pub fn start(&self, id: &str) {
        self.lock().running.insert(id.to_string());
    }

    /// Entry `id`'s run is over and its result goes to the writer.
    pub fn finish(&self, id: &str) {
        let mut state = self.lock();
        state.running.remove(id);
        state.unwritten.insert(id.to_string());
        drop(state);
        self.changed.notify_all();
    }

    /// Entry `id` is answered without a run; its result goes to the writer.
    pub fn answered(&self, id: &str) {
        self.lock().unwritten.insert(id.to_string());
    }

    /// The results of these entries were written (and their entries acknowledged).
    pub fn written<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut state = self.lock();
        for id in ids {
            state.unwritten.remove(id);
        }
        drop(state);
        self.changed.notify_all();
    }

    /// The ids of the entries this worker holds: being run, or their results not written.
    pub fn held(&self) -> Vec<String> {
        let state = self.lock();
        state.running.union(&state.unwritten).cloned().collect()
    }

    /// Whether this worker holds entry `id`.
    pub fn holds(&self, id: &str) -> bool {
        let state = self.lock();
        state.running.contains(id) || state.unwritten.contains(id)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn runs_and_unwritten_results_bound_what_is_read() {
        let slots = Slots::new(2);
        assert_eq!(slots.wait_free(NOW), Some(2));
        slots.start("1-0");
        assert_eq!(slots.free(), 1);
        slots.start("2-0");
        assert_eq!(slots.wait_free(Duration::from_millis(5)), Some(0));
        assert_eq!(slots.held(), ["1-0", "2-0"]);
        slots.finish("1-0");
        assert_eq!(slots.free(), 1);
        slots.answered("3-0");
        slots.answered("4-0");
        // One running and three results unwritten: nothing more is read until the writer
        // catches up.
        assert_eq!(slots.free(), 0);
        assert_eq!(slots.held(), ["1-0", "2-0", "3-0", "4-0"]);
        slots.written(["1-0", "3-0"]);
        assert_eq!(slots.free(), 1);
        assert!(slots.holds("2-0") && slots.holds("4-0") && !slots.holds("1-0"));
        slots.finish("2-0");
        assert_eq!(slots.free(), 2);
        slots.written(["2-0", "4-0"]);
        assert_eq!(slots.free(), 2);
        assert!(slots.held().is_empty());
    }

    #[test]
    fn a_stop_wakes_the_reader() {
        let slots = std::sync::Arc::new(Slots::new(1));
        slots.start("1-0");
        let stopper = std::sync::Arc::clone(&slots);
        let thread = std::thread::spawn(move || stopper.stop());
        assert_eq!(slots.wait_free(Duration::from_secs(60)), None);
        thread.join().unwrap();
        assert!(slots.stopping());
    }

    #[test]
    fn a_finished_run_wakes_the_reader() {
        let slots = std::sync::Arc::new(Slots::new(1));
        slots.start("1-0");
        let runner = std::sync::Arc::clone(&slots);
        let thread = std::thread::spawn(move || runner.finish("1-0"));
        assert_eq!(slots.wait_free(Duration::from_secs(60)), Some(1));
        thread.join().unwrap();
    }
}
