//! Which CPU a single-process traced run and its tracer share. Every checked call is two
//! wake-ups (the tracee stops, the tracer resumes it); across CPUs each costs tens of
//! microseconds on a VM, on one CPU almost nothing (10,000 checked opens: 1.0 s unpinned,
//! see benches/ptrace.rs). Runs are spread over runbox's CPUs, the least busy first.

use std::sync::Mutex;

/// Runs in flight per CPU, indexed like `allowed`.
static BUSY: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

/// The least busy of `allowed` (CPU numbers) given the runs in flight per CPU: pure.
pub fn least_busy(busy: &[(usize, usize)]) -> Option<usize> {
    busy.iter()
        .min_by_key(|(_, runs)| *runs)
        .map(|(cpu, _)| *cpu)
}

/// A CPU held for one run; released when dropped.
#[derive(Debug)]
pub struct Slot(pub usize);

impl Slot {
    /// Takes the least busy CPU of `allowed`.
    pub fn take(allowed: &[usize]) -> Option<Slot> {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        if busy.is_empty() || busy.iter().any(|(cpu, _)| !allowed.contains(cpu)) {
            *busy = allowed.iter().map(|&cpu| (cpu, 0)).collect();
        }
        let cpu = least_busy(&busy)?;
        if let Some(entry) = busy.iter_mut().find(|(c, _)| *c == cpu) {
            entry.1 += 1;
        }
        Some(Slot(cpu))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = busy.iter_mut().find(|(c, _)| *c == self.0) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_busy_cpu_comes_first_and_ties_go_to_the_lowest() {
        assert_eq!(least_busy(&[(0, 1), (1, 0), (2, 0)]), Some(1));
        assert_eq!(least_busy(&[(4, 2), (5, 3)]), Some(4));
        assert_eq!(least_busy(&[]), None);
    }
}
