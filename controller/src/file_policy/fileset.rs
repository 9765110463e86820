//! The ptrace mode's file policy, the UOJ way: which paths a program may stat, read or
//! write. Pure: the tracer asks, this decides.
//!
//! - An entry is an exact path (`/etc/ld.so.cache`) or, written with a trailing `/`, a
//!   directory and everything below it (`/usr/`); `/` alone is everything.
//! - Write implies read, read implies stat.
//! - The parent directories of anything allowed are statable (a program can walk to a file
//!   it may open).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// What a call does to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// stat, access, readlink of the link itself.
    Stat,
    /// open for reading, execve.
    Read,
    /// open for writing, create, unlink, rename, mkdir, chmod, truncate.
    Write,
}

/// A set of paths: exact files and whole directories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSet {
    exact: BTreeSet<PathBuf>,
    trees: BTreeSet<PathBuf>,
}

/// Whether `path` is absolute and free of `.` and `..` (the resolver's output).
fn is_normal(path: &Path) -> bool {
    path.is_absolute()
        && path
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)))
}

/// A file-set entry that is no absolute path without `.` and `..`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: not an absolute path without . and ..")]
pub struct BadEntry(pub String);

impl FileSet {
    /// Adds an entry: `dir/` for a whole tree, else an exact path. Entries that are not
    /// absolute paths without `.` and `..` are refused.
    pub fn add(&mut self, entry: &str) -> Result<(), BadEntry> {
        let (path, tree) = match entry.strip_suffix('/') {
            Some("") => ("/", true),
            Some(dir) => (dir, true),
            None => (entry, false),
        };
        let path = PathBuf::from(path);
        if !is_normal(&path) {
            return Err(BadEntry(entry.to_string()));
        }
        if tree {
            self.trees.insert(path);
        } else {
            self.exact.insert(path);
        }
        Ok(())
    }

    /// True if `path` is in the set.
    pub fn contains(&self, path: &Path) -> bool {
        self.exact.contains(path) || path.ancestors().any(|a| self.trees.contains(a))
    }

    /// True if `path` is a directory above an entry (so a walk to it passes through).
    fn leads_to_entry(&self, path: &Path) -> bool {
        let below = |entry: &PathBuf| entry != path && entry.starts_with(path);
        self.exact.iter().any(below) || self.trees.iter().any(below)
    }
}

/// The three sets of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePolicy {
    /// Statable only.
    pub stat: FileSet,
    /// Readable (and statable).
    pub read: FileSet,
    /// Writable (and readable, statable).
    pub write: FileSet,
}

impl FilePolicy {
    /// Allows `access` to `entry` (see [`FileSet::add`]).
    pub fn allow(&mut self, access: Access, entry: &str) -> Result<(), BadEntry> {
        match access {
            Access::Stat => self.stat.add(entry),
            Access::Read => self.read.add(entry),
            Access::Write => self.write.add(entry),
        }
    }

    /// Decides one access to a resolved path (absolute, normal, links followed).
    pub fn allows(&self, path: &Path, access: Access) -> bool {
        if !is_normal(path) {
            return false;
        }
        let sets: &[&FileSet] = match access {
            Access::Write => &[&self.write],
            Access::Read => &[&self.write, &self.read],
            Access::Stat => &[&self.write, &self.read, &self.stat],
        };
        if sets.iter().any(|set| set.contains(path)) {
            return true;
        }
        access == Access::Stat
            && [&self.write, &self.read, &self.stat]
                .iter()
                .any(|set| set.leads_to_entry(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FilePolicy {
        let mut p = FilePolicy::default();
        p.allow(Access::Read, "/usr/").unwrap();
        p.allow(Access::Read, "/etc/ld.so.cache").unwrap();
        p.allow(Access::Write, "/judge/work/").unwrap();
        p.allow(Access::Stat, "/proc/").unwrap();
        p
    }

    #[test]
    fn exact_files_and_whole_trees() {
        let p = policy();
        assert!(p.allows(Path::new("/etc/ld.so.cache"), Access::Read));
        assert!(!p.allows(Path::new("/etc/ld.so.cache.old"), Access::Read));
        assert!(!p.allows(Path::new("/etc/shadow"), Access::Read));
        assert!(p.allows(
            Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6"),
            Access::Read
        ));
        assert!(p.allows(Path::new("/usr"), Access::Read));
        assert!(!p.allows(Path::new("/usrx/lib"), Access::Read));
    }

    #[test]
    fn write_implies_read_implies_stat() {
        let p = policy();
        let file = Path::new("/judge/work/out.txt");
        for access in [Access::Write, Access::Read, Access::Stat] {
            assert!(p.allows(file, access), "{access:?}");
        }
        assert!(!p.allows(Path::new("/usr/bin/gcc"), Access::Write));
        assert!(p.allows(Path::new("/proc/1/status"), Access::Stat));
        assert!(!p.allows(Path::new("/proc/1/status"), Access::Read));
    }

    #[test]
    fn parents_of_allowed_paths_are_statable_only() {
        let p = policy();
        for dir in ["/", "/etc", "/judge"] {
            assert!(p.allows(Path::new(dir), Access::Stat), "{dir}");
            assert!(!p.allows(Path::new(dir), Access::Read), "{dir}");
        }
        assert!(!p.allows(Path::new("/root"), Access::Stat));
        assert!(!p.allows(Path::new("/etc/passwd"), Access::Stat));
    }

    #[test]
    fn everything_and_bad_entries() {
        let mut p = FilePolicy::default();
        p.allow(Access::Read, "/").unwrap();
        assert!(p.allows(Path::new("/etc/shadow"), Access::Read));
        assert!(!p.allows(Path::new("/etc/shadow"), Access::Write));
        assert!(p.allow(Access::Read, "relative/x").is_err());
        assert!(p.allow(Access::Read, "/a/../etc/").is_err());
        // Only resolved paths are judged: anything else is refused.
        assert!(!p.allows(Path::new("/usr/../etc/shadow"), Access::Read));
        assert!(!p.allows(Path::new("etc/shadow"), Access::Read));
    }
}
