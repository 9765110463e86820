//! # The file store: files kept between runs, by id
//!
//! A judge compiles once and runs many times: the compiled binary comes out of the first
//! run as a stored file (`copy_out_cached`) and goes into the next ones by its id
//! (`{"file": "ID"}` in `copy_in` or `stdin`) without passing through the judge. Ids are
//! random: 8 characters of base32 (`A-Z2-7`, 40 bits from `getrandom`), as go-judge's.
//!
//! Two backings:
//! - **memory** (the default): each file a sealed memfd (no one, the controller included,
//!   can change it once stored); the store is bounded by the total size of its files
//!   ([`DEFAULT_BOUND`]), and past it the least recently used are evicted; an id evicted
//!   is remembered (the last [`EVICTED_KEPT`]), so that the request that cannot find it is
//!   told why;
//! - **a directory** (`--file-store DIR`): each file `DIR/ID`, mode 0600, opened beneath
//!   the directory with no symbolic link followed; files found there at start are listed,
//!   with no name. Not bounded by runbox: the directory's file system bounds it.
//!
//! Either may have a **timeout** ([`FileStore::expiring`], the server's `--file-timeout`):
//! a file expires that long after its last use (stored, or got: each [`FileStore::get`]
//! refreshes it), as go-judge's. An expired file is an unknown id at once (`get`,
//! `delete` and `list` look at its age); [`FileStore::expire`], which whoever holds the
//! store calls now and then, removes them all (a directory store's files are unlinked).
//! What was got before stays readable: a [`StoredFile`] holds its own descriptor.
//!
//! A stored file reaches a run's tmpfs in the kernel ([`crate::files::copy`]:
//! `copy_file_range` where the kernel copies between the two file systems, else `sendfile`,
//! which is what Linux 6.x does from a memfd into the run's own tmpfs),
//! and a program's stdin as a new read-only description of it.
//!
//! The API (what `runbox batch` and the server use): [`FileStore::add`],
//! [`FileStore::add_from`], [`FileStore::get`], [`FileStore::delete`],
//! [`FileStore::list`], [`FileStore::expire`].

use crate::sys::fs;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The default bound of a memory store: 256 MiB.
pub const DEFAULT_BOUND: u64 = 256 << 20;
/// How many evicted ids a memory store remembers.
pub const EVICTED_KEPT: usize = 65_536;
/// An id's length.
pub const ID_LEN: usize = 8;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No file of that id.
    #[error("file {id:?}: not in the file store")]
    Unknown {
        /// The id asked for.
        id: String,
    },
    /// No file of that id any more: evicted to keep the store within its bound.
    #[error("file {id:?}: evicted from the file store (its bound is {bound} bytes; delete files no longer needed, or raise --file-store-max)")]
    Evicted {
        /// The id asked for.
        id: String,
        /// The store's bound.
        bound: u64,
    },
    /// A file larger than the whole store.
    #[error("a file of {size} bytes is larger than the file store's bound ({bound} bytes)")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The store's bound.
        bound: u64,
    },
    /// A call failed: `what` names it.
    #[error("file store: {what}: {source}")]
    Io {
        /// The call and its argument.
        what: String,
        /// Its error.
        #[source]
        source: io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// A stored file, as [`FileStore::get`] gives it: readable as long as the value lives,
/// whatever happens to the store meanwhile.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// Its id.
    pub id: String,
    /// The name it was stored under (a `copy_out_cached` path, an upload's name).
    pub name: String,
    /// Its size, bytes.
    pub size: u64,
    fd: Arc<OwnedFd>,
}

impl StoredFile {
    /// The file's descriptor: read it at explicit offsets (`pread`, `copy_file_range` with
    /// an offset), never by moving its offset, which every reader shares.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A new description of the file, read-only, at offset 0: a program's stdin.
    pub fn reopen(&self) -> io::Result<OwnedFd> {
        let path = CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
            .expect("no NUL in a number");
        fs::open(&path, libc::O_RDONLY | libc::O_NOCTTY)
    }

    /// The whole content (for the server's `GET /file/ID`).
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; self.size as usize];
        let mut done = 0;
        while done < bytes.len() {
            match fs::pread(self.fd.as_raw_fd(), &mut bytes[done..], done as i64)? {
                0 => break,
                n => done += n,
            }
        }
        bytes.truncate(done);
        Ok(bytes)
    }
}

#[derive(Debug)]
struct Entry {
    name: String,
    size: u64,
    /// Memory: the sealed memfd. Directory: opened on each `get`.
    fd: Option<Arc<OwnedFd>>,
    /// When it was last used (a tick of the store).
    used: u64,
    /// When it was last used (for the timeout).
    last: Instant,
}

#[derive(Debug)]
enum Backing {
    Memory { bound: u64 },
    Dir { dir: OwnedFd, path: PathBuf },
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    total: u64,
    tick: u64,
    evicted: VecDeque<String>,
    evicted_set: HashSet<String>,
}

/// Files kept between runs, by id; shared by any number of threads.
#[derive(Debug)]
pub struct FileStore {
    backing: Backing,
    inner: Mutex<Inner>,
    /// A file expires this long after its last use (`None`: never).
    timeout: Option<Duration>,
}

impl FileStore {
    /// The store of `--file-store DIR`, or one in memory of `--file-store-max` bytes
    /// (`runbox batch` and `runbox serve`).
    pub fn open(dir: Option<&Path>, max: Option<u64>) -> Result<FileStore, StoreError> {
        match dir {
            Some(dir) => FileStore::in_dir(dir),
            None => Ok(FileStore::in_memory(max.unwrap_or(DEFAULT_BOUND))),
        }
    }
}

impl Default for FileStore {
    fn default() -> Self {
        FileStore::in_memory(DEFAULT_BOUND)
    }
}

/// A new random id.
fn new_id() -> io::Result<String> {
    let mut bytes = [0u8; 5];
    fs::random_bytes(&mut bytes)?;
    let bits = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok((0..ID_LEN)
        .map(|i| BASE32[((bits >> (35 - 5 * i)) & 31) as usize] as char)
        .collect())
}

/// True for a string that can be an id (so a directory store never opens anything else).
pub fn is_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| BASE32.contains(&b))
}

impl FileStore {
    /// A store in memory, of at most `bound` bytes in all.
    pub fn in_memory(bound: u64) -> FileStore {
        FileStore {
            backing: Backing::Memory { bound },
            inner: Mutex::default(),
            timeout: None,
        }
    }

    /// The store, its files expiring `timeout` after their last use (`None`: never; see
    /// the module docs). Files already there (a directory's) were last used now.
    pub fn expiring(self, timeout: Option<Duration>) -> FileStore {
        FileStore { timeout, ..self }
    }

    /// The timeout of [`FileStore::expiring`].
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// A store in the directory `dir` (created if missing, reached through no symbolic
    /// link); the files already there whose names are ids are listed, with no name.
    pub fn in_dir(dir: &Path) -> Result<FileStore, StoreError> {
        let shown = dir.display().to_string();
        match std::fs::create_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(io_error(format!("create {shown}"))(e))
            }
            _ => {}
        }
        let fd =
            crate::given_path::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|e| {
                StoreError::Io {
                    what: format!("open {shown}"),
                    source: e.error,
                }
            })?;
        let mut inner = Inner::default();
        let opened = Instant::now();
        let listing = std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(io_error(format!("list {shown}")))?;
        for entry in listing.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if is_id(&id) && entry.file_type().is_ok_and(|t| t.is_file()) {
                let entry = Entry {
                    name: String::new(),
                    size,
                    fd: None,
                    used: 0,
                    last: opened,
                };
                inner.total += size;
                inner.entries.insert(id, entry);
            }
        }
        Ok(FileStore {
            backing: Backing::Dir {
                dir: fd,
                path: dir.to_path_buf(),
            },
            inner: Mutex::new(inner),
            timeout: None,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The memory store's bound (`None` for a directory).
    pub fn bound(&self) -> Option<u64> {
        match self.backing {
            Backing::Memory { bound } => Some(bound),
            Backing::Dir { .. } => None,
        }
    }

    /// The bytes stored.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// Stores `content` under `name`; returns its id.
    pub fn add(&self, name: &str, content: &[u8]) -> Result<String, StoreError> {
        let (file, id) = self.new_file(content.len() as u64)?;
        fs::write_fully(file.as_raw_fd(), content).map_err(io_error(format!("write {name:?}")))?;
        self.keep(id, name, file, content.len() as u64)
    }

    /// Stores `size` bytes of the regular file `from` (from its offset 0) under `name`,
    /// copied in the kernel; returns its id.
    pub fn add_from(
        &self,
        name: &str,
        from: BorrowedFd<'_>,
        size: u64,
    ) -> Result<String, StoreError> {
        let (file, id) = self.new_file(size)?;
        let copied = crate::files::copy::copy_fd(from, file.as_fd(), size)
            .map_err(io_error(format!("copy {name:?} in")))?;
        self.keep(id, name, file, copied)
    }

    /// A file to fill, and its id: a memfd, or `DIR/ID` created new.
    fn new_file(&self, size: u64) -> Result<(OwnedFd, String), StoreError> {
        if let Backing::Memory { bound } = self.backing {
            if size > bound {
                return Err(StoreError::TooLarge { size, bound });
            }
        }
        let id = new_id().map_err(io_error("getrandom"))?;
        let file = match &self.backing {
            Backing::Memory { .. } => {
                let name = CString::new(format!("runbox-file-{id}")).expect("no NUL in an id");
                fs::memfd(&name).map_err(io_error("memfd_create"))?
            }
            Backing::Dir { dir, path } => {
                let name = CString::new(id.as_str()).expect("no NUL in an id");
                let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY;
                fs::open_beneath(dir.as_fd(), &name, flags, 0o600)
                    .map_err(io_error(format!("create {}/{id}", path.display())))?
            }
        };
        Ok((file, id))
    }

    /// Enters a filled file; evicts the least recently used past the bound.
    fn keep(&self, id: String, name: &str, file: OwnedFd, size: u64) -> Result<String, StoreError> {
        let fd = match self.backing {
            Backing::Memory { .. } => {
                fs::seal(file.as_fd()).map_err(io_error("seal"))?;
                Some(Arc::new(file))
            }
            Backing::Dir { .. } => None,
        };
        let mut inner = self.lock();
        inner.tick += 1;
        let entry = Entry {
            name: name.to_string(),
            size,
            fd,
            used: inner.tick,
            last: Instant::now(),
        };
        inner.total += size;
        inner.entries.insert(id.clone(), entry);
        if let Backing::Memory { bound } = self.backing {
            while inner.total > bound {
                let oldest = inner
                    .entries
                    .iter()
                    .filter(|(other, _)| **other != id)
                    .min_by_key(|(_, e)| e.used)
                    .map(|(other, _)| other.clone());
                let Some(oldest) = oldest else { break };
                inner.remove(&oldest);
                inner.remember_evicted(oldest);
            }
        }
        Ok(id)
    }

    /// The file of `id`, most recently used now.
    pub fn get(&self, id: &str) -> Result<StoredFile, StoreError> {
        self.get_at(id, Instant::now())
    }

    /// True when `entry`, last used at `entry.last`, has expired by `now`.
    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        self.timeout
            .is_some_and(|t| now.saturating_duration_since(entry.last) >= t)
    }

    /// [`FileStore::get`] at the time `now`.
    fn get_at(&self, id: &str, now: Instant) -> Result<StoredFile, StoreError> {
        let mut inner = self.lock();
        if inner.entries.get(id).is_some_and(|e| self.expired(e, now)) {
            // Gone by its timeout: as unknown as if the sweep had come already.
            self.remove_expired(&mut inner, id)?;
        }
        inner.tick += 1;
        let tick = inner.tick;
        let Some(entry) = inner.entries.get_mut(id) else {
            return Err(match (inner.evicted_set.contains(id), self.bound()) {
                (true, Some(bound)) => StoreError::Evicted {
                    id: id.into(),
                    bound,
                },
                _ => StoreError::Unknown { id: id.into() },
            });
        };
        entry.used = tick;
        entry.last = now;
        let (name, size) = (entry.name.clone(), entry.size);
        let fd = match (&entry.fd, &self.backing) {
            (Some(fd), _) => Arc::clone(fd),
            (None, Backing::Dir { dir, path }) => {
                let c = CString::new(id).expect("ids hold no NUL");
                let flags = libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK;
                let file = fs::open_beneath(dir.as_fd(), &c, flags, 0)
                    .map_err(io_error(format!("open {}/{id}", path.display())))?;
                Arc::new(file)
            }
            (None, Backing::Memory { .. }) => unreachable!("memory entries hold their memfd"),
        };
        Ok(StoredFile {
            id: id.into(),
            name,
            size,
            fd,
        })
    }

    /// Removes the files of `ids`, all or none: an unknown id is an error naming it, and
    /// nothing is removed.
    pub fn delete(&self, ids: &[String]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let now = Instant::now();
        for id in ids {
            if inner.entries.get(id).is_some_and(|e| self.expired(e, now)) {
                self.remove_expired(&mut inner, id)?;
            }
        }
        if let Some(unknown) = ids.iter().find(|id| !inner.entries.contains_key(*id)) {
            return Err(match (inner.evicted_set.contains(unknown), self.bound()) {
                (true, Some(bound)) => StoreError::Evicted {
                    id: unknown.clone(),
                    bound,
                },
                _ => StoreError::Unknown {
                    id: unknown.clone(),
                },
            });
        }
        for id in ids {
            if inner.remove(id).is_some() {
                self.unlink(id)?;
            }
        }
        Ok(())
    }

    /// A directory store's file of `id` unlinked (a memory store's goes with its last
    /// descriptor).
    fn unlink(&self, id: &str) -> Result<(), StoreError> {
        if let Backing::Dir { dir, path } = &self.backing {
            let c = CString::new(id.as_bytes()).expect("ids hold no NUL");
            fs::unlink_at(dir.as_fd(), &c, false)
                .map_err(io_error(format!("remove {}/{id}", path.display())))?;
        }
        Ok(())
    }

    /// Removes the expired entry `id` (from `inner`, which is locked) and its file.
    fn remove_expired(&self, inner: &mut Inner, id: &str) -> Result<(), StoreError> {
        match inner.remove(id) {
            Some(_) => self.unlink(id),
            None => Ok(()),
        }
    }

    /// Every stored file: id and name, sorted by id (expired ones left out).
    pub fn list(&self) -> Vec<(String, String)> {
        let inner = self.lock();
        let now = Instant::now();
        let mut all: Vec<(String, String)> = inner
            .entries
            .iter()
            .filter(|(_, e)| !self.expired(e, now))
            .map(|(id, e)| (id.clone(), e.name.clone()))
            .collect();
        all.sort();
        all
    }

    /// Removes every file past its timeout (none without one); the ids removed. A file
    /// that cannot be unlinked is still forgotten, and the first such failure is the
    /// error, after all were tried.
    pub fn expire(&self) -> Result<Vec<String>, StoreError> {
        self.expire_at(Instant::now())
    }

    /// [`FileStore::expire`] at the time `now`.
    fn expire_at(&self, now: Instant) -> Result<Vec<String>, StoreError> {
        if self.timeout.is_none() {
            return Ok(Vec::new());
        }
        let mut inner = self.lock();
        let mut gone: Vec<String> = inner
            .entries
            .iter()
            .filter(|(_, e)| self.expired(e, now))
            .map(|(id, _)| id.clone())
            .collect();
        gone.sort();
        let mut failed = None;
        for id in &gone {
            if let Err(e) = self.remove_expired(&mut inner, id) {
                failed.get_or_insert(e);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(gone),
        }
    }
}

impl Inner {
    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.total -= entry.size;
        Some(entry)
    }

    fn remember_evicted(&mut self, id: String) {
        if self.evicted.len() == EVICTED_KEPT {
            if let Some(old) = self.evicted.pop_front() {
                self.evicted_set.remove(&old);
            }
        }
        self.evicted_set.insert(id.clone());
        self.evicted.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_eight_base32_characters_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert!(is_id(&a) && is_id(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_id("../etc/x"));
        assert!(!is_id("abcdefgh"));
    }

    #[test]
    fn a_memory_store_keeps_reads_lists_and_deletes() {
        let store = FileStore::in_memory(1 << 20);
        let id = store.add("a.out", b"binary").unwrap();
        let file = store.get(&id).unwrap();
        assert_eq!((file.name.as_str(), file.size), ("a.out", 6));
        assert_eq!(file.read_all().unwrap(), b"binary");
        assert_eq!(store.list(), vec![(id.clone(), "a.out".to_string())]);
        // Deleting an unknown id with a known one removes nothing.
        let err = store.delete(&[id.clone(), "AAAAAAAA".into()]).unwrap_err();
        assert!(err.to_string().contains("\"AAAAAAAA\""), "{err}");
        assert_eq!(store.list().len(), 1);
        store.delete(std::slice::from_ref(&id)).unwrap();
        assert!(store.list().is_empty());
        assert_eq!(store.total(), 0);
        // What was handed out stays readable.
        assert_eq!(file.read_all().unwrap(), b"binary");
        assert!(matches!(store.get(&id), Err(StoreError::Unknown { .. })));
    }

    #[test]
    fn past_its_bound_the_least_recently_used_is_evicted_and_said_so() {
        let store = FileStore::in_memory(100);
        let a = store.add("a", &[1; 40]).unwrap();
        let b = store.add("b", &[2; 40]).unwrap();
        store.get(&a).unwrap();
        let c = store.add("c", &[3; 40]).unwrap();
        assert!(store.get(&a).is_ok() && store.get(&c).is_ok());
        let err = store.get(&b).unwrap_err();
        assert!(matches!(err, StoreError::Evicted { .. }), "{err}");
        assert!(err.to_string().contains("evicted"), "{err}");
        assert_eq!(store.total(), 80);
        assert!(matches!(
            store.add("big", &[0; 101]),
            Err(StoreError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_stored_memory_file_cannot_be_changed() {
        let store = FileStore::default();
        let id = store.add("x", b"fixed").unwrap();
        let file = store.get(&id).unwrap();
        assert!(fs::write(file.fd().as_raw_fd(), b"y").is_err());
        let again = file.reopen().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(fs::read(again.as_raw_fd(), &mut buf).unwrap(), 5);
    }

    /// A directory for a directory store of this test (none where openat2 is missing).
    fn fresh_dir(test: &str) -> Option<PathBuf> {
        let dir = std::env::temp_dir().join(format!("runbox-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::files::openat2_works().then_some(dir)
    }

    /// With a timeout `t`: a file untouched for `t` is unknown, and the sweep removes it;
    /// one got meanwhile lives `t` from that get. The times are given, not slept.
    fn files_expire_after_their_last_use(store: FileStore) -> FileStore {
        let t = Duration::from_secs(10);
        let store = store.expiring(Some(t));
        let start = Instant::now();
        let untouched = store.add("untouched", b"1").unwrap();
        let touched = store.add("touched", b"22").unwrap();
        let held = store.get_at(&untouched, start).unwrap();
        store.get_at(&touched, start + t * 8 / 10).unwrap();
        // Past the untouched one's timeout, before the sweep: unknown already.
        let later = start + t * 15 / 10;
        assert!(store.expire_at(start + t / 2).unwrap().is_empty());
        assert_eq!(store.expire_at(later).unwrap(), vec![untouched.clone()]);
        assert!(matches!(
            store.get_at(&untouched, later),
            Err(StoreError::Unknown { .. })
        ));
        assert_eq!(
            store.get_at(&touched, later).unwrap().read_all().unwrap(),
            b"22"
        );
        // The one got before it expired is still readable.
        assert_eq!(held.read_all().unwrap(), b"1");
        assert_eq!(store.total(), 2);
        // Got again at `later`: it goes `t` after that, not before.
        assert!(store.expire_at(later + t * 9 / 10).unwrap().is_empty());
        assert_eq!(store.expire_at(later + t).unwrap(), vec![touched.clone()]);
        assert!(store.list().is_empty() && store.total() == 0);
        store
    }

    #[test]
    fn a_memory_store_with_a_timeout_forgets_what_is_not_used() {
        files_expire_after_their_last_use(FileStore::in_memory(1 << 20));
        // Without a timeout nothing expires.
        let store = FileStore::in_memory(1 << 20);
        let id = store.add("kept", b"x").unwrap();
        let far = Instant::now() + Duration::from_secs(365 * 86_400);
        assert!(store.expire_at(far).unwrap().is_empty());
        assert!(store.get_at(&id, far).is_ok());
    }

    #[test]
    fn a_directory_store_with_a_timeout_removes_the_expired_files() {
        let Some(dir) = fresh_dir("expiry") else {
            return; // qemu-user has no openat2 (the emulated kernels and the host do)
        };
        files_expire_after_their_last_use(FileStore::in_dir(&dir).unwrap());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "files left");
        // An expired id is unknown to a delete too, and its file goes.
        let store = FileStore::in_dir(&dir)
            .unwrap()
            .expiring(Some(Duration::ZERO));
        let id = store.add("x", b"x").unwrap();
        assert!(matches!(
            store.delete(std::slice::from_ref(&id)),
            Err(StoreError::Unknown { .. })
        ));
        assert!(!dir.join(&id).exists());
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn a_directory_store_keeps_files_by_id_and_finds_them_again() {
        let Some(dir) = fresh_dir("store") else {
            return; // qemu-user has no openat2 (the emulated kernels and the host do)
        };
        let store = FileStore::in_dir(&dir).unwrap();
        let id = store.add("out", b"text").unwrap();
        assert_eq!(std::fs::read(dir.join(&id)).unwrap(), b"text");
        assert_eq!(store.get(&id).unwrap().read_all().unwrap(), b"text");
        drop(store);
        let again = FileStore::in_dir(&dir).unwrap();
        assert_eq!(again.list(), vec![(id.clone(), String::new())]);
        again.delete(std::slice::from_ref(&id)).unwrap();
        assert!(!dir.join(&id).exists());
        std::fs::remove_dir(&dir).unwrap();
    }
}
