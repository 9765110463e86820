//! The host uids (and gids, the same numbers) that sandboxed programs run as: a range
//! from [`FIRST`], handed out one per live run, so that no two runs that are alive at once
//! share an id, in this process or in any other runbox on the host. A run that shares none
//! with another cannot signal it, prlimit it, or read its memory through `/proc/PID/mem`:
//! the kernel's own permission checks are the wall.
//!
//! [`take`] gives an [`Id`]; dropping it gives the number back. Within the process a plain
//! allocator ([`Ids`], pure and tested as such) picks the lowest free number; across
//! processes each id held is an exclusive `flock` on its file in [`CLAIMS`], which the
//! kernel drops when the holder closes it or dies, so that a killed controller leaves no
//! id taken.
//!
//! Each container takes two (its init's and its programs'), each ptrace run one. The range
//! is [`FIRST`] and the [`COUNT`] after it, or what `RUNBOX_SANDBOX_IDS=FIRST:COUNT` names
//! (see [`range`]): ids no user or service of the host has, such as the ones `useradd`
//! and `/etc/subuid` never hand out.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;

/// The first id of the default range.
pub const FIRST: u32 = 2_000_000_000;
/// How many ids the range holds: live runs at once on the host, at most.
pub const COUNT: u32 = 65_536;
/// Where the host-wide claims are: one file per id, root's alone (in the temp dir on a
/// host without `/run`, such as a bare initramfs).
pub const CLAIMS: &str = "/run/runbox-ids";

/// [`CLAIMS`], or `runbox-ids` in the temp dir where there is no `/run`.
fn claims_dir() -> std::path::PathBuf {
    match Path::new("/run").is_dir() {
        true => CLAIMS.into(),
        false => std::env::temp_dir().join("runbox-ids"),
    }
}

/// The environment variable that names another range: `FIRST:COUNT`.
pub const RANGE_VARIABLE: &str = "RUNBOX_SANDBOX_IDS";

/// Why a range given in [`RANGE_VARIABLE`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{RANGE_VARIABLE}={0:?}: must be FIRST:COUNT, FIRST at least 1 (never root), COUNT at least 2, and the last id below 4294967295")]
pub struct BadRange(pub String);

/// Parses `FIRST:COUNT`. Pure.
pub fn parse_range(text: &str) -> Result<(u32, u32), BadRange> {
    let bad = || BadRange(text.to_string());
    let (first, count) = text.split_once(':').ok_or_else(bad)?;
    let first: u32 = first.trim().parse().map_err(|_| bad())?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    let fits = first.checked_add(count).is_some_and(|end| end < u32::MAX);
    if first == 0 || count < 2 || !fits {
        return Err(bad());
    }
    Ok((first, count))
}

/// The range of sandbox ids: [`RANGE_VARIABLE`]'s, or [`FIRST`] and [`COUNT`].
pub fn range() -> Result<(u32, u32), BadRange> {
    static RANGE: std::sync::OnceLock<Result<(u32, u32), BadRange>> = std::sync::OnceLock::new();
    RANGE
        .get_or_init(|| match std::env::var(RANGE_VARIABLE) {
            Ok(text) => parse_range(&text),
            Err(_) => Ok((FIRST, COUNT)),
        })
        .clone()
}

/// Whether `uid` is one of the range's ids (a process running as a sandbox).
pub fn is_sandbox_id(uid: u32) -> bool {
    range().is_ok_and(|(first, count)| (first..first + count).contains(&uid))
}

/// A set of ids `[first, first + count)`, some of them in use. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    first: u32,
    count: u32,
    in_use: BTreeSet<u32>,
}

impl Ids {
    /// All of `[first, first + count)` free.
    pub const fn new(first: u32, count: u32) -> Ids {
        Ids {
            first,
            count,
            in_use: BTreeSet::new(),
        }
    }

    /// Marks `id` as in use (an id someone else runs as).
    pub fn hold(&mut self, id: u32) {
        self.in_use.insert(id);
    }

    /// The lowest free id, now in use; `None` when every one is.
    pub fn take(&mut self) -> Option<u32> {
        let id = (self.first..self.first + self.count).find(|id| !self.in_use.contains(id))?;
        self.in_use.insert(id);
        Some(id)
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
#[derive(Debug)]
pub struct Id {
    id: u32,
    /// The host-wide claim: locked while this lives.
    _claim: File,
}

impl Id {
    /// The number: the run's uid and gid.
    pub fn get(&self) -> u32 {
        self.id
    }
}

impl Drop for Id {
    fn drop(&mut self) {
        // The claim's lock goes with its file, closed after this.
        let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ids) = ids.as_mut() {
            ids.release(self.id);
        }
    }
}

/// A free id of the range for one run, claimed host-wide in [`CLAIMS`]. Fails when every
/// id is taken, or when the claims directory cannot be made or is not root's alone.
pub fn take() -> io::Result<Id> {
    take_in(&claims_dir())
}

fn take_in(claims: &Path) -> io::Result<Id> {
    let named = |what: &str, path: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
    };
    match std::fs::DirBuilder::new().mode(0o700).create(claims) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            return Err(named("mkdir", claims, e));
        }
        _ => {}
    }
    // Anyone else able to write there could hold every id, or swap the files.
    let meta = std::fs::symlink_metadata(claims).map_err(|e| named("stat", claims, e))?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: not a directory that only root may write",
                claims.display()
            ),
        ));
    }
    let (first, count) =
        range().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    let ids = ids.get_or_insert_with(|| Ids::new(first, count));
    // Ids another process holds stay taken here until an id is found.
    let mut elsewhere = Vec::new();
    let found = loop {
        let Some(id) = ids.take() else {
            break Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("every one of the {count} sandbox ids is in use"),
            ));
        };
        let path = claims.join(id.to_string());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| named("open", &path, e));
        let file = match file {
            Ok(file) => file,
            Err(e) => {
                ids.release(id);
                break Err(e);
            }
        };
        match file.try_lock() {
            Ok(()) => break Ok(Id { id, _claim: file }),
            Err(TryLockError::WouldBlock) => elsewhere.push(id),
            Err(TryLockError::Error(e)) => {
                ids.release(id);
                break Err(named("flock", &path, e));
            }
        }
    };
    for id in elsewhere {
        ids.release(id);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_first_colon_count_never_root_and_within_32_bits() {
        assert_eq!(parse_range("3000000000:1000"), Ok((3_000_000_000, 1000)));
        for bad in ["", "5", "0:10", "10:1", "a:b", "4294967000:1000", "-1:5"] {
            assert_eq!(parse_range(bad), Err(BadRange(bad.into())), "{bad}");
        }
    }

    #[test]
    fn no_id_is_handed_out_twice_while_in_use() {
        let mut ids = Ids::new(100, 3);
        assert_eq!(ids.take(), Some(100));
        assert_eq!(ids.take(), Some(101));
        assert_eq!(ids.take(), Some(102));
        assert_eq!(ids.take(), None, "all three in use");
        ids.release(101);
        assert_eq!(ids.take(), Some(101), "the only free one");
        assert_eq!(ids.in_use(), 3);
    }

    #[test]
    fn held_ids_are_never_handed_out() {
        let mut ids = Ids::new(10, 3);
        ids.hold(10);
        assert_eq!(ids.take(), Some(11));
        assert_eq!(ids.take(), Some(12));
        assert_eq!(ids.take(), None);
    }

    /// A claims directory of the test's own (root's when the tests run as root).
    fn claims_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("runbox-ids-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn ids_are_distinct_across_threads_and_processes_and_given_back() {
        if crate::sys::process::effective_uid() != 0 {
            return; // the claims directory must be root's
        }
        let dir = claims_dir("distinct");
        let held: Vec<Id> = (0..50).map(|_| take_in(&dir).unwrap()).collect();
        let numbers: BTreeSet<u32> = held.iter().map(Id::get).collect();
        assert_eq!(numbers.len(), 50);
        assert!(numbers.iter().all(|&id| is_sandbox_id(id)));
        // Another process's claim (a lock on the file of the next free id, through an open
        // file description of its own, as another process would hold it) is skipped.
        let next = (FIRST + 1..).find(|id| !numbers.contains(id)).unwrap();
        let other = File::create(dir.join(next.to_string())).unwrap();
        other.try_lock().unwrap();
        let skipped = take_in(&dir).unwrap();
        assert_ne!(skipped.get(), next, "held by another process");
        drop(other);
        let free_again = take_in(&dir).unwrap();
        assert_eq!(free_again.get(), next, "its lock went with its file");
        drop((skipped, free_again));
        let in_use = || IDS.lock().unwrap().as_ref().unwrap().in_use();
        let before = in_use();
        drop(held);
        assert_eq!(in_use(), before - 50, "given back");
        // Threads at once never share one.
        let ids: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..25).map(|_| take_in(&dir).unwrap()).collect::<Vec<_>>()))
                .collect();
            let held: Vec<Vec<Id>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            held.iter().flatten().map(Id::get).collect()
        });
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 100);
        assert!(!is_sandbox_id(FIRST - 1) && !is_sandbox_id(FIRST + COUNT));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_claims_directory_others_may_write_is_refused() {
        if crate::sys::process::effective_uid() != 0 {
            return;
        }
        let dir = claims_dir("open");
        std::fs::create_dir(&dir).unwrap();
        let open = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o777);
        std::fs::set_permissions(&dir, open).unwrap();
        let refused = take_in(&dir).unwrap_err();
        assert!(
            refused.to_string().contains("only root may write"),
            "{refused}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
