//! Every access to a cgroup file goes through here, so every error names the file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A failed cgroup operation: what was done, to which path, and the OS error.
#[derive(Debug)]
pub struct CgroupError {
    /// The verb: "read", "write 0 to", "mkdir", "rmdir"...
    pub what: String,
    /// The file or directory.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

impl fmt::Display for CgroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cgroup: {} {}: {}",
            self.what,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for CgroupError {}

/// A result of a cgroup operation.
pub type Result<T> = std::result::Result<T, CgroupError>;

fn error(what: impl Into<String>, path: &Path, source: io::Error) -> CgroupError {
    CgroupError {
        what: what.into(),
        path: path.to_path_buf(),
        source,
    }
}

/// A cgroup file kept open, read and written at offset 0 (cgroupfs regenerates the content
/// on each read from the start), so a run costs no open or close.
#[derive(Debug)]
pub struct CgFile {
    path: PathBuf,
    file: File,
}

impl CgFile {
    /// Opens `dir/name` for reading, and for writing too if `write`.
    pub fn open(dir: &Path, name: &str, write: bool) -> Result<CgFile> {
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(write)
            .open(&path)
            .map_err(|e| error("open", &path, e))?;
        Ok(CgFile { path, file })
    }

    /// The open file, for a child to write to.
    pub fn into_fd(self) -> std::os::fd::OwnedFd {
        self.file.into()
    }

    /// The whole content.
    pub fn read(&self) -> Result<String> {
        let mut buf = [0u8; 4096];
        let n = self
            .file
            .read_at(&mut buf, 0)
            .map_err(|e| error("read", &self.path, e))?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The content as one number.
    pub fn read_u64(&self) -> Result<u64> {
        let text = self.read()?;
        text.trim().parse().map_err(|_| {
            let bad = io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a number: {text:?}"),
            );
            error("parse", &self.path, bad)
        })
    }

    /// The number after `key ` on one of the lines (`oom_kill 3`, `usage_usec 12`).
    pub fn read_field(&self, key: &str) -> Result<Option<u64>> {
        Ok(field(&self.read()?, key))
    }

    /// Writes `value` in one write.
    pub fn write(&self, value: &str) -> Result<()> {
        self.file
            .write_at(value.as_bytes(), 0)
            .map(drop)
            .map_err(|e| error(format!("write {value:?} to"), &self.path, e))
    }
}

/// The number after `key ` in a flat-keyed cgroup file.
pub fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Reads a whole cgroup file once.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| error("read", path, e))
}

/// Writes a cgroup file once. The file must exist: cgroupfs makes every file itself, and a
/// missing one (a controller not enabled in the parent) is an error, never a file made here.
pub fn write(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut file| file.write_all(value.as_bytes()))
        .map_err(|e| error(format!("write {value:?} to"), path, e))
}

/// Opens a cgroup directory (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`: std opens close-on-exec).
pub fn open_dir(path: &Path) -> Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
        .map(Into::into)
        .map_err(|e| error("open", path, e))
}

/// Creates a cgroup directory (and its missing parents: they are runbox's). A directory
/// found made and then gone (`create_dir_all`'s EEXIST: another runbox removed it between
/// its mkdir and its look) counts as made and removed since: the caller's next step finds
/// it missing ([`is_vanished`]).
pub fn mkdir(path: &Path) -> Result<()> {
    match std::fs::create_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        made => made.map_err(|e| error("mkdir", path, e)),
    }
}

/// Creates one cgroup directory in a parent that must exist (a missing parent is an error,
/// `NotFound`, never made again here: it would lack what was enabled in the one removed).
pub fn mkdir_in(path: &Path) -> Result<()> {
    std::fs::create_dir(path).map_err(|e| error("mkdir", path, e))
}

/// True when `e` says a file or directory is not there: `ENOENT`, or `ENODEV` (cgroupfs's
/// answer for a file of a cgroup removed as it was looked up).
pub fn is_vanished(e: &CgroupError) -> bool {
    e.source.kind() == io::ErrorKind::NotFound || e.source.raw_os_error() == Some(libc::ENODEV)
}

/// Removes a cgroup directory, retrying while its last processes are still being torn down.
pub fn rmdir(path: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            // Up to about 200 ms: the kernel frees a dead pid namespace's last tasks
            // asynchronously. (A rootless pool in the emulated guest once left a cgroup
            // even with 3 s here: not a wait, but a creation racing the parent's removal;
            // see v2::V2Group::create_in.)
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => return Err(error("rmdir", path, e)),
        }
    }
}

/// How many times a creation of a cgroup tries ([`again_while_vanished`]).
pub const CREATE_ATTEMPTS: u32 = 20;

/// Runs `make` again while it fails because a directory or file is not there
/// ([`is_vanished`]: another runbox removed the parent, or removed it and made it
/// again without the controllers),
/// at most `attempts` times in all; any other error, or the last, is returned. Pure (of
/// itself).
pub fn again_while_vanished<T>(attempts: u32, mut make: impl FnMut() -> Result<T>) -> Result<T> {
    let mut tried = 1;
    loop {
        match make() {
            Err(e) if is_vanished(&e) && tried < attempts => tried += 1,
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flat_keyed_fields() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(super::field(text, "oom_kill"), Some(3));
        assert_eq!(super::field(text, "oom"), None);
        assert_eq!(
            super::field("usage_usec 1234\nuser_usec 1000", "usage_usec"),
            Some(1234)
        );
    }
}
