//! The program's stdin, stdout and stderr, from the paths a judge names or from runbox's
//! own.
//!
//! The controller is root, and a sandboxed program may have written where the judge's
//! paths lead (a `--dir` it had, a `:rw` bind): a symbolic link planted there would make
//! root read or write what it points at on the program's behalf. So a named path is
//! resolved with no symbolic link followed anywhere on it ([`given_path`]; a link is a
//! usage error naming the path), as an `O_PATH`
//! descriptor that opens nothing yet, and only a regular file or `/dev/null` is then
//! opened for real, through that descriptor: a FIFO, a device or a directory is a usage
//! error too, never opened (opening a FIFO blocks, a device may act).
//!
//! runbox's own stdout and stderr are never handed to the program: a shared file
//! description lets the program set `O_NONBLOCK` on it (runbox's result write would then
//! fail), move its offset, or `TIOCSTI` into a terminal. The program writes into a spool
//! instead, an unnamed regular file (`O_TMPFILE`, or a memfd) limited by `--output` like
//! any file it writes, which runbox copies to its own stdout or stderr (`sendfile`) when
//! the run has ended, before its result.

use crate::files::collect::Collector;
use crate::files::{FileStore, Input, OutputTo};
use crate::given_path;
use crate::sys::fs;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `/dev/null`'s device number (character device 1, 3).
const DEV_NULL: libc::dev_t = libc::makedev(1, 3);

/// Where a program's stdout or stderr goes when no file is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputDefault {
    /// runbox's own stdout or stderr, through a spool (`runbox run`); `result` is the one of
    /// the two that runbox's result follows on.
    Inherit {
        /// 1 (stdout: `--json`) or 2 (stderr: the summary).
        result: RawFd,
    },
    /// Nowhere (`runbox batch`: a program's output never mixes into the results).
    Discard,
}

/// Why the program's stdio could not be opened: each names the option (`stdin`, `stdout`,
/// `stderr`) and, for a named file, its path.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// A path the judge named could not be opened, or no link-free way led to it.
    #[error("{option} {0}", option = .1)]
    Open(#[source] given_path::Refused, &'static str),
    /// A path the judge named is no regular file or `/dev/null`.
    #[error("{option} {}: {kind}; runbox takes a regular file or /dev/null", path.display())]
    Kind {
        /// `stdin`, `stdout` or `stderr`.
        option: &'static str,
        /// The path as given.
        path: PathBuf,
        /// What it is instead ("a FIFO").
        kind: &'static str,
    },
    /// A lease another process (a sandbox that made the file) holds on it.
    #[error("{option} {}: held by a lease (F_SETLEASE)", path.display())]
    Leased {
        /// `stdin`, `stdout` or `stderr`.
        option: &'static str,
        /// The path as given.
        path: PathBuf,
    },
    /// The file was created and removed by someone else while runbox opened it.
    #[error("{option} {}: created and removed while runbox opened it", path.display())]
    Vanished {
        /// `stdin`, `stdout` or `stderr`.
        option: &'static str,
        /// The path as given.
        path: PathBuf,
    },
    /// A call on a file the judge named failed after it was located.
    #[error("{option} {}: {what}: {source}", path.display())]
    Named {
        /// `stdin`, `stdout` or `stderr`.
        option: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The call (`fstat`, `open`).
        what: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// A spool (for runbox's own stdin, stdout or stderr) or `/dev/null` failed: `what` is
    /// the step.
    #[error("{option}: {what}: {source}")]
    Io {
        /// `stdin`, `stdout` or `stderr`.
        option: &'static str,
        /// The step that failed.
        what: &'static str,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// `--stdin -` in a batch, whose own stdin is its requests.
    #[error("stdin -: runbox's own stdin holds the requests here")]
    OwnStdinInBatch,
    /// A stored stdin that is not in the store.
    #[error("stdin: {0}")]
    Store(#[source] crate::files::StoreError),
    /// A stored stdin where there is no store (`runbox run`).
    #[error("stdin: {{\"file\": ...}} needs a file store (runbox batch, or the library's)")]
    NoStore,
}

fn io_error(option: &'static str, what: &'static str) -> impl Fn(io::Error) -> StdioError {
    move |source| StdioError::Io {
        option,
        what,
        source,
    }
}

/// The program's three stdio fds, and where its spooled output goes afterwards.
#[derive(Debug)]
pub struct Stdio {
    /// fds 0, 1 and 2 of the program.
    pub fds: [OwnedFd; 3],
    /// (index in `fds`, runbox's own fd, whether runbox's result follows on it): stdout and
    /// stderr that were runbox's, spooled.
    spools: Vec<(usize, RawFd, bool)>,
    /// stdout and stderr collected into the result: the read ends of their pipes.
    pub collectors: Vec<Collector>,
}

impl Stdio {
    /// The three fds, borrowed for a run.
    pub fn borrow(&self) -> [BorrowedFd<'_>; 3] {
        [
            self.fds[0].as_fd(),
            self.fds[1].as_fd(),
            self.fds[2].as_fd(),
        ]
    }

    /// Copies what the program wrote to runbox's own stdout and stderr, once it has ended.
    pub fn deliver(&self) -> io::Result<()> {
        for &(index, own, result_follows) in &self.spools {
            copy_out(self.fds[index].as_fd(), own, result_follows)?;
        }
        Ok(())
    }
}

/// Opens the program's stdio: `stdin` (default `/dev/null`; text is spooled, a stored
/// file of `store` reopened read-only), and `stdout` and `stderr` (created or truncated;
/// collected through a pipe; unnamed, runbox's own through a spool or `/dev/null`).
pub fn open(
    stdin: Option<&Input>,
    stdout: Option<&OutputTo>,
    stderr: Option<&OutputTo>,
    unnamed: OutputDefault,
    store: Option<&FileStore>,
) -> Result<Stdio, StdioError> {
    let input = match stdin {
        // A batch's own stdin is its requests, never a program's input.
        Some(Input::Path(path))
            if path == Path::new(OWN_STDIN) && unnamed == OutputDefault::Discard =>
        {
            return Err(StdioError::OwnStdinInBatch)
        }
        Some(Input::Path(path)) if path == Path::new(OWN_STDIN) => spool_own_stdin()?,
        Some(Input::Path(path)) => open_named(path, "stdin")?,
        Some(Input::Content(text)) => spool_text(text)?,
        Some(Input::File(id)) => {
            let file = store
                .ok_or(StdioError::NoStore)?
                .get(id)
                .map_err(StdioError::Store)?;
            file.reopen()
                .map_err(io_error("stdin", "reopen the stored file"))?
        }
        None => open_null("stdin")?,
    };
    let mut spools = Vec::new();
    let mut collectors = Vec::new();
    let mut output = |to: Option<&OutputTo>, index: usize, option| match (to, unnamed) {
        (Some(OutputTo::Path(path)), _) => open_named(path, option),
        (Some(&OutputTo::Collect(bound)), _) => {
            let (collector, write) =
                Collector::new(index, bound).map_err(io_error(option, "make a pipe to collect"))?;
            collectors.push(collector);
            Ok(write)
        }
        (None, OutputDefault::Discard) => open_null(option),
        (None, OutputDefault::Inherit { result }) => {
            let spool = fs::unnamed_file(&temp_dir(option)?)
                .map_err(io_error(option, "make a spool for runbox's own"))?;
            // runbox's own fd 1 or 2.
            spools.push((index, index as RawFd, index as RawFd == result));
            Ok(spool)
        }
    };
    let out = output(stdout, 1, "stdout")?;
    let err = output(stderr, 2, "stderr")?;
    Ok(Stdio {
        fds: [input, out, err],
        spools,
        collectors,
    })
}

/// A program's stdin given as text: a spool holding it, at its start.
fn spool_text(text: &str) -> Result<OwnedFd, StdioError> {
    let spool = fs::unnamed_file(&temp_dir("stdin")?).map_err(io_error("stdin", "make a spool"))?;
    write_fully(spool.as_raw_fd(), text.as_bytes()).map_err(io_error("stdin", "fill the spool"))?;
    fs::rewind(spool.as_raw_fd()).map_err(io_error("stdin", "rewind the spool"))?;
    Ok(spool)
}

/// The `--stdin` that names runbox's own stdin.
pub const OWN_STDIN: &str = "-";

/// runbox's own stdin, read to its end into a spool before the run: the program gets a
/// regular file of its own, never a description it shares with runbox's caller (a shell's
/// terminal, a pipe it could make non-blocking).
fn spool_own_stdin() -> Result<OwnedFd, StdioError> {
    let spool = fs::unnamed_file(&temp_dir("stdin")?).map_err(io_error("stdin", "make a spool"))?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match fs::read(libc::STDIN_FILENO, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("stdin", "read runbox's own")(e)),
        };
        write_fully(spool.as_raw_fd(), &buf[..n]).map_err(io_error("stdin", "fill the spool"))?;
    }
    // The program reads from the start.
    fs::rewind(spool.as_raw_fd()).map_err(io_error("stdin", "rewind the spool"))?;
    Ok(spool)
}

fn temp_dir(option: &'static str) -> Result<CString, StdioError> {
    CString::new(std::env::temp_dir().as_os_str().as_bytes()).map_err(|_| StdioError::Io {
        option,
        what: "name the temp dir",
        source: io::Error::from_raw_os_error(libc::EINVAL),
    })
}

fn open_null(option: &'static str) -> Result<OwnedFd, StdioError> {
    fs::open(c"/dev/null", libc::O_RDWR | libc::O_NOCTTY)
        .map_err(io_error(option, "open /dev/null"))
}

/// Why a file of this type cannot be a program's stdio, if it cannot.
pub fn refused_type(mode: libc::mode_t, rdev: libc::dev_t) -> Option<&'static str> {
    match mode {
        libc::S_IFREG => None,
        libc::S_IFCHR if rdev == DEV_NULL => None,
        libc::S_IFCHR => Some("a character device"),
        libc::S_IFBLK => Some("a block device"),
        libc::S_IFIFO => Some("a FIFO"),
        libc::S_IFSOCK => Some("a socket"),
        libc::S_IFDIR => Some("a directory"),
        _ => Some("not a regular file"),
    }
}

/// Opens a path the judge named: for reading (`stdin`), or for writing (created if
/// missing, else truncated).
fn open_named(path: &Path, option: &'static str) -> Result<OwnedFd, StdioError> {
    let write = option != "stdin";
    let refused = |e| StdioError::Open(e, option);
    let named = |what: &'static str| {
        move |source| StdioError::Named {
            option,
            path: path.to_path_buf(),
            what,
            source,
        }
    };
    // Twice at most: a file created by someone else between the two calls is looked at again.
    for _ in 0..2 {
        let located = match given_path::open(path, libc::O_PATH, 0) {
            Err(e) if write && e.error.raw_os_error() == Some(libc::ENOENT) => {
                let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY;
                match given_path::open(path, flags, 0o666) {
                    Err(e) if e.error.raw_os_error() == Some(libc::EEXIST) => continue,
                    created => return created.map_err(refused),
                }
            }
            located => located.map_err(refused)?,
        };
        let (mode, rdev) = fs::file_type(located.as_fd()).map_err(named("fstat"))?;
        if let Some(kind) = refused_type(mode, rdev) {
            return Err(StdioError::Kind {
                option,
                path: path.to_path_buf(),
                kind,
            });
        }
        // A new description of the very file located, not of whatever the path names now.
        // O_NONBLOCK: a lease a sandbox holds on the file (F_SETLEASE, as its owner) makes
        // the open fail with EWOULDBLOCK instead of waiting out the lease break time.
        let again = CString::new(format!("/proc/self/fd/{}", located.as_raw_fd()))
            .expect("no NUL in a number");
        let flags = match write {
            true => libc::O_WRONLY | libc::O_TRUNC | libc::O_NOCTTY | libc::O_NONBLOCK,
            false => libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
        };
        let opened = fs::open(&again, flags).map_err(|e| match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => StdioError::Leased {
                option,
                path: path.to_path_buf(),
            },
            _ => named("open")(e),
        })?;
        fs::set_blocking(opened.as_raw_fd()).map_err(named("clear O_NONBLOCK"))?;
        return Ok(opened);
    }
    Err(StdioError::Vanished {
        option,
        path: path.to_path_buf(),
    })
}

/// Copies the whole of `spool` to `own`, waiting where `own` is non-blocking and full; where
/// runbox's result follows on the same stream, ends it with a newline if the program did
/// not, so that the result starts a line of its own (nothing glued to its front).
fn copy_out(spool: BorrowedFd<'_>, own: RawFd, result_follows: bool) -> io::Result<()> {
    let size = fs::regular_file_size(spool).unwrap_or(0) as i64;
    let spool = spool.as_raw_fd();
    copy_range(spool, own, size)?;
    let mut last = [b'\n'];
    if result_follows && size > 0 && fs::pread(spool, &mut last, size - 1)? == 1 && last[0] != b'\n'
    {
        write_fully(own, b"\n")?;
    }
    Ok(())
}

fn copy_range(spool: RawFd, own: RawFd, size: i64) -> io::Result<()> {
    let mut offset = 0i64;
    while offset < size {
        let rest = (size - offset) as usize;
        match fs::sendfile(own, spool, &mut offset, rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => fs::wait_writable(own)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Not every file takes sendfile (a terminal): copy by hand.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                return copy_by_hand(spool, own, offset, size)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn copy_by_hand(spool: RawFd, own: RawFd, mut offset: i64, size: i64) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    while offset < size {
        let n = fs::pread(spool, &mut buf, offset)?;
        if n == 0 {
            break;
        }
        write_fully(own, &buf[..n])?;
        offset += n as i64;
    }
    Ok(())
}

pub use crate::sys::fs::write_fully;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_and_dev_null_are_stdio() {
        assert_eq!(refused_type(libc::S_IFREG, 0), None);
        assert_eq!(refused_type(libc::S_IFCHR, DEV_NULL), None);
        // /dev/zero (1, 5), a terminal (136, 0): devices.
        assert_eq!(
            refused_type(libc::S_IFCHR, (1 << 8) | 5),
            Some("a character device")
        );
        assert_eq!(
            refused_type(libc::S_IFCHR, 136 << 8),
            Some("a character device")
        );
        assert_eq!(refused_type(libc::S_IFIFO, 0), Some("a FIFO"));
        assert_eq!(refused_type(libc::S_IFDIR, 0), Some("a directory"));
        assert_eq!(refused_type(libc::S_IFSOCK, 0), Some("a socket"));
    }
}
