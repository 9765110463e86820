//! What a run wrote, after it ended.
//!
//! Did it write a file up to the output limit? RLIMIT_FSIZE stops the write, but a program
//! that ignores SIGXFSZ only sees EFBIG and may exit 0: the sizes tell. A container's `/w`
//! and `/tmp` are looked at through descriptors of the room's mounts that the controller
//! took before attaching them (a detached mount lives while one is held, so the take-down
//! need not wait); ptrace mode's own working directory is looked at, then removed
//! ([`remove_tree`]). The walk follows no symbolic link, even in a tree that something
//! else changes meanwhile (a directory bound into two runs): directories are opened by
//! name beneath the last with `O_NOFOLLOW`, entries looked at with `lstat`.
//!
//! The walks are iterative: a program that leaves a tree 20,000 directories deep must not
//! overflow the controller's stack. The size scan looks at most [`MAX_DEPTH`] levels down
//! and 10,000 entries; the removal goes all the way, one directory open at a time.

use crate::sys::fs;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

/// The most directory entries whose sizes are looked at under /w and /tmp per run.
pub const MAX_ENTRIES: usize = 10_000;
/// The deepest directory the size scan looks into.
pub const MAX_DEPTH: usize = 256;

/// True when the size of a file the run wrote calls for `output_limit_exceeded`: it reached
/// the limit, with something in it (under `--output 0`, an empty file is no output).
pub fn is_full(size: u64, limit: u64) -> bool {
    size > 0 && size >= limit
}

/// True when a regular file among `outputs` (the program's stdout and stderr: never its
/// stdin, which it only reads) is full ([`is_full`]).
pub fn outputs_full(limit: u64, outputs: &[BorrowedFd<'_>]) -> bool {
    outputs
        .iter()
        .any(|&fd| fs::regular_file_size(fd).is_some_and(|size| is_full(size, limit)))
}

/// True when one of `dirs` holds a full regular file ([`is_full`]), at most [`MAX_DEPTH`]
/// levels down and [`MAX_ENTRIES`] entries in all; a directory that is not there holds
/// none.
pub fn dirs_hold_full_file(dirs: &[&Path], limit: u64) -> bool {
    let roots: Vec<OwnedFd> = dirs
        .iter()
        .filter_map(|dir| {
            let name = CString::new(dir.as_os_str().as_bytes()).ok()?;
            fs::open_dir_at(None, &name).ok()
        })
        .collect();
    let roots: Vec<BorrowedFd<'_>> = roots.iter().map(AsFd::as_fd).collect();
    trees_hold_full_file(&roots, limit)
}

/// [`dirs_hold_full_file`] for directories given by descriptors (the roots of a room's
/// mounts, which the controller holds).
pub fn trees_hold_full_file(roots: &[BorrowedFd<'_>], limit: u64) -> bool {
    let mut budget = MAX_ENTRIES;
    roots.iter().any(|root| {
        root.try_clone_to_owned()
            .is_ok_and(|root| holds_full_file(root, limit, &mut budget))
    })
}

/// True when the directory `root` holds, at most [`MAX_DEPTH`] levels down, a regular file
/// that is full; each entry looked at costs one of `budget`. Walked by descriptors: each
/// directory opened by name beneath the one it is in with `O_NOFOLLOW` when its turn comes
/// (so that at most the directories on one path down are open at once), each entry looked
/// at with `lstat` through the directory's `/proc/self/fd` link, which resolves to exactly
/// that directory: no symbolic link is followed, whoever changes the tree meanwhile.
fn holds_full_file(root: OwnedFd, limit: u64, budget: &mut usize) -> bool {
    // Directories still to look into: the one each is in, its name there (none for the
    // root), its depth.
    let mut pending: Vec<(Rc<OwnedFd>, Option<CString>, usize)> = vec![(Rc::new(root), None, 0)];
    while let Some((parent, name, depth)) = pending.pop() {
        let dir = match name {
            None => parent,
            Some(name) => match fs::open_dir_at(Some(parent.as_fd()), &name) {
                Ok(dir) => Rc::new(dir),
                Err(_) => continue,
            },
        };
        let Ok(entries) = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())) else {
            continue;
        };
        for entry in entries.flatten() {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            match entry.file_type() {
                Ok(kind) if kind.is_dir() && depth + 1 < MAX_DEPTH => {
                    if let Ok(name) = CString::new(entry.file_name().as_bytes()) {
                        pending.push((Rc::clone(&dir), Some(name), depth + 1));
                    }
                }
                Ok(kind)
                    if kind.is_file()
                        && entry.metadata().is_ok_and(|m| is_full(m.len(), limit)) =>
                {
                    return true
                }
                _ => {}
            }
        }
    }
    false
}

/// Removes everything in `dir` (not `dir` itself), however deep, without following
/// symbolic links: iterative, with one directory open at a time (down by `openat` of a
/// name, up by `..`), so that neither the stack nor `PATH_MAX` bounds the depth (a program
/// can nest directories past both, by renames).
pub fn empty_dir(dir: &Path) -> io::Result<()> {
    let c = |name: &OsStr| {
        CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let mut here = fs::open_dir_at(None, &c(dir.as_os_str())?)?;
    // The names from `dir` down to `here`.
    let mut below: Vec<OsString> = Vec::new();
    loop {
        let mut subdir = None;
        for entry in std::fs::read_dir(format!("/proc/self/fd/{}", here.as_raw_fd()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                subdir.get_or_insert(entry.file_name());
            } else {
                fs::unlink_at(here.as_fd(), &c(&entry.file_name())?, false)?;
            }
        }
        if let Some(name) = subdir {
            here = fs::open_dir_at(Some(here.as_fd()), &c(&name)?)?;
            below.push(name);
            continue;
        }
        // `here` is empty now: up, and remove it.
        let Some(name) = below.pop() else {
            return Ok(());
        };
        let parent = fs::open_dir_at(Some(here.as_fd()), c"..")?;
        fs::unlink_at(parent.as_fd(), &c(&name)?, true)?;
        here = parent;
    }
}

/// Removes `dir` and everything in it, as [`empty_dir`] does.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    empty_dir(dir)?;
    std::fs::remove_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("runbox-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_empty_file_is_no_output_even_at_a_zero_limit() {
        assert!(!is_full(0, 0));
        assert!(is_full(1, 0));
        assert!(is_full(1 << 20, 1 << 20));
        assert!(!is_full((1 << 20) - 1, 1 << 20));
    }

    #[test]
    fn a_tree_deeper_than_path_max_is_removed_whole_without_recursion() {
        let dir = temp("deep");
        // 3,000 levels by renames (each path short): deeper than PATH_MAX allows to name.
        std::fs::create_dir(dir.join("d")).unwrap();
        for _ in 0..3000 {
            std::fs::create_dir(dir.join("up")).unwrap();
            std::fs::rename(dir.join("d"), dir.join("up/d")).unwrap();
            std::fs::rename(dir.join("up"), dir.join("d")).unwrap();
        }
        std::fs::write(dir.join("d/big"), vec![0u8; 100]).unwrap();
        assert!(dirs_hold_full_file(&[&dir], 100));
        empty_dir(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // Links are removed, never followed.
        let kept = temp("kept");
        std::fs::write(kept.join("file"), b"x").unwrap();
        let shallow = temp("shallow");
        std::fs::create_dir_all(shallow.join("a/b/c")).unwrap();
        std::os::unix::fs::symlink(&kept, shallow.join("a/b/c/link")).unwrap();
        std::os::unix::fs::symlink(&kept, shallow.join("dirlink")).unwrap();
        remove_tree(&shallow).unwrap();
        assert!(!shallow.exists());
        assert!(kept.join("file").exists(), "a link was followed");
        remove_tree(&dir).unwrap();
        remove_tree(&kept).unwrap();
    }

    #[test]
    fn the_size_scan_follows_no_link_and_finds_a_file_past_many_directories() {
        let outside = temp("scan-outside");
        std::fs::write(outside.join("big"), vec![0u8; 100]).unwrap();
        let dir = temp("scan");
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.join("big"), dir.join("filelink")).unwrap();
        assert!(!dirs_hold_full_file(&[&dir], 100), "a link was followed");
        // Thousands of directories (each opened in its turn, never all at once), and a
        // full file two levels into one of them.
        for i in 0..3000 {
            std::fs::create_dir(dir.join(format!("d{i}"))).unwrap();
        }
        std::fs::create_dir_all(dir.join("d7/a/b")).unwrap();
        std::fs::write(dir.join("d7/a/b/big"), vec![0u8; 100]).unwrap();
        assert!(dirs_hold_full_file(&[&dir], 100));
        assert!(!dirs_hold_full_file(&[&dir], 101));
        remove_tree(&dir).unwrap();
        remove_tree(&outside).unwrap();
    }
}
