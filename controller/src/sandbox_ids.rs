//! The host uids (and gids, the same numbers) that sandboxed programs run as: a range
//! from [`FIRST`], handed out one per live run, so that no two runs that are alive at once
//! share an id. A run that shares none with another cannot signal it, prlimit it, or read
//! its memory through `/proc/PID/mem`: the kernel's own permission checks are the wall.
//!
//! [`take`] gives an [`Id`] from the process-wide allocator; dropping it gives the number
//! back. The allocator itself ([`Ids`]) is a plain value, tested as such.
//!
//! [`FIRST`] itself is held for container mode, whose containers all run as it until they
//! take their ids from here too; ptrace runs get the numbers after it.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The first id of the range (container mode's shared sandbox id, `SANDBOX_ID`).
pub const FIRST: u32 = 2_000_000_000;
/// How many ids the range holds: live runs at once, at most.
pub const COUNT: u32 = 65_536;

/// Whether `uid` is one of the range's ids (a process running as a sandbox).
pub fn is_sandbox_id(uid: u32) -> bool {
    (FIRST..FIRST + COUNT).contains(&uid)
}

/// A set of ids `[first, first + count)`, some of them in use. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    first: u32,
    count: u32,
    in_use: BTreeSet<u32>,
    /// Where the next search starts: ids are reused as late as possible, so that a run
    /// never gets the id of one that just ended (whose stray processes, if any, are still
    /// being killed).
    next: u32,
}

impl Ids {
    /// All of `[first, first + count)` free.
    pub const fn new(first: u32, count: u32) -> Ids {
        Ids {
            first,
            count,
            in_use: BTreeSet::new(),
            next: 0,
        }
    }

    /// Marks `id` as in use for good (an id someone else already runs as).
    pub fn hold(&mut self, id: u32) {
        self.in_use.insert(id);
    }

    /// A free id, now in use; `None` when every one is.
    pub fn take(&mut self) -> Option<u32> {
        for step in 0..self.count {
            let offset = (self.next + step) % self.count;
            let id = self.first + offset;
            if self.in_use.insert(id) {
                self.next = (offset + 1) % self.count;
                return Some(id);
            }
        }
        None
    }

    /// Gives `id` back.
    pub fn release(&mut self, id: u32) {
        self.in_use.remove(&id);
    }

    /// How many are in use.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }
}

/// The process-wide allocator.
static IDS: Mutex<Option<Ids>> = Mutex::new(None);

/// An id held by one run, given back when dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct Id(u32);

impl Id {
    /// The number: the run's uid and gid.
    pub fn get(&self) -> u32 {
        self.0
    }
}

impl Drop for Id {
    fn drop(&mut self) {
        let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ids) = ids.as_mut() {
            ids.release(self.0);
        }
    }
}

/// A free id of the range for one run; `None` when [`COUNT`] runs are alive at once.
pub fn take() -> Option<Id> {
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    let ids = ids.get_or_insert_with(|| {
        let mut ids = Ids::new(FIRST, COUNT);
        ids.hold(FIRST);
        ids
    });
    ids.take().map(Id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_id_is_handed_out_twice_while_in_use() {
        let mut ids = Ids::new(100, 3);
        let a = ids.take().unwrap();
        let b = ids.take().unwrap();
        let c = ids.take().unwrap();
        let mut all = vec![a, b, c];
        all.sort();
        assert_eq!(all, vec![100, 101, 102]);
        assert_eq!(ids.take(), None, "all three in use");
        ids.release(b);
        assert_eq!(ids.take(), Some(b), "the only free one");
        assert_eq!(ids.in_use(), 3);
    }

    #[test]
    fn a_released_id_is_reused_as_late_as_possible_and_held_ids_never() {
        let mut ids = Ids::new(10, 4);
        ids.hold(10);
        assert_eq!(ids.take(), Some(11));
        ids.release(11);
        assert_eq!(ids.take(), Some(12), "not 11 again at once");
        assert_eq!(ids.take(), Some(13));
        assert_eq!(ids.take(), Some(11), "wrapped, past the held 10");
        assert_eq!(ids.take(), None);
    }

    #[test]
    fn the_process_wide_allocator_gives_distinct_ids_from_the_range_and_takes_them_back() {
        let held: Vec<Id> = (0..100).map(|_| take().unwrap()).collect();
        let numbers: BTreeSet<u32> = held.iter().map(Id::get).collect();
        assert_eq!(numbers.len(), 100);
        assert!(numbers.iter().all(|&id| is_sandbox_id(id) && id != FIRST));
        let in_use = || IDS.lock().unwrap().as_ref().unwrap().in_use();
        let before = in_use();
        drop(held);
        assert_eq!(in_use(), before - 100);
        // Threads at once never share one.
        let ids: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..50).map(|_| take().unwrap()).collect::<Vec<_>>()))
                .collect();
            let held: Vec<Vec<Id>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            held.iter().flatten().map(Id::get).collect()
        });
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 400);
        assert!(!is_sandbox_id(FIRST - 1) && !is_sandbox_id(FIRST + COUNT));
    }
}
