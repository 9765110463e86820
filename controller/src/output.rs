//! One pass over what a run wrote, after it ended.
//!
//! Did it write a file up to the output limit? RLIMIT_FSIZE stops the write, but a program
//! that ignores SIGXFSZ only sees EFBIG and may exit 0: the sizes tell. And, in the same
//! pass, a container's `/tmp` (and its own `/w`) is emptied for the next run, and ptrace
//! mode's own working directory: every process of the run is dead by then, so nothing
//! races the removal, and `remove_dir_all` does not follow symbolic links.

use std::fs::DirEntry;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// The most directory entries whose sizes are looked at under /w and /tmp per run.
const MAX_ENTRIES: usize = 10_000;

/// True when a regular file among `outputs` (the program's stdout and stderr: never its
/// stdin, which it only reads), or under one of `dirs`, is at least `limit` bytes long; the directories marked `true` are emptied on the way. An error is a
/// directory to empty that could not be read or emptied.
pub fn sweep(limit: u64, outputs: &[BorrowedFd<'_>], dirs: &[(&Path, bool)]) -> io::Result<bool> {
    let mut full = outputs
        .iter()
        .any(|&fd| crate::sys::fs::regular_file_size(fd).is_some_and(|size| size >= limit));
    let mut budget = MAX_ENTRIES;
    for &(dir, remove) in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if remove => return Err(e),
            Err(_) => continue,
        };
        for entry in entries {
            let entry = entry?;
            full = full || is_full(&entry, limit, &mut budget);
            if remove {
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(entry.path())?;
                } else {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
    }
    Ok(full)
}

/// True when `entry` is a file of at least `limit` bytes, or a directory holding one.
fn is_full(entry: &DirEntry, limit: u64, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match entry.file_type() {
        Ok(kind) if kind.is_dir() => {
            let Ok(entries) = std::fs::read_dir(entry.path()) else {
                return false;
            };
            entries.flatten().any(|e| is_full(&e, limit, budget))
        }
        Ok(kind) if kind.is_file() => entry.metadata().is_ok_and(|m| m.len() >= limit),
        _ => false,
    }
}
