//! Did the run write a file up to the output limit? RLIMIT_FSIZE stops the write, but a
//! program that ignores SIGXFSZ only sees EFBIG and may exit 0: the sizes tell.

use std::os::fd::BorrowedFd;
use std::path::Path;

/// The most directory entries looked at under /w and /tmp per run.
const MAX_ENTRIES: usize = 10_000;

/// True when a regular file among the stdio fds, or under `root`/w or `root`/tmp, is at least
/// `limit` bytes long.
pub fn reached(limit: u64, stdio: &[BorrowedFd<'_>], root: &Path) -> bool {
    let full_fd = stdio
        .iter()
        .any(|&fd| crate::sys::fs::regular_file_size(fd).is_some_and(|size| size >= limit));
    let mut budget = MAX_ENTRIES;
    full_fd
        || ["w", "tmp"]
            .iter()
            .any(|dir| full_file_under(&root.join(dir), limit, &mut budget))
}

fn full_file_under(dir: &Path, limit: u64, budget: &mut usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if full_file_under(&entry.path(), limit, budget) {
                return true;
            }
        } else if kind.is_file() && entry.metadata().is_ok_and(|m| m.len() >= limit) {
            return true;
        }
    }
    false
}
