//! Host paths the judge gives runbox (stdio files, a ptrace-mode `--dir`): opened with no
//! symbolic link followed anywhere on them (`openat2` with `RESOLVE_NO_SYMLINKS`), since a
//! sandboxed program may have planted one where such a path leads, and the controller is
//! root. The mount plan applies the same rule to `--dir`, `--rootfs` and bind sources.

use crate::sys::fs;
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `openat2(path, flags, mode)` with no symbolic link followed; the error starts with the
/// path and says when a link was the reason.
pub fn open(path: &Path, flags: libc::c_int, mode: u32) -> Result<OwnedFd, Refused> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Refused {
        shown: path.display().to_string(),
        error: io::Error::from_raw_os_error(libc::EINVAL),
    })?;
    fs::open_no_symlinks(&cpath, flags, mode).map_err(|error| Refused {
        shown: path.display().to_string(),
        error,
    })
}

/// A given path that could not be opened.
#[derive(Debug)]
pub struct Refused {
    shown: String,
    /// The error of the open: ELOOP for a symbolic link on the path.
    pub error: io::Error,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.error.raw_os_error() {
            Some(libc::ELOOP) => write!(
                f,
                "{}: a symbolic link on the path (runbox follows none in a path it is given: \
                 name the file itself)",
                self.shown
            ),
            _ => write!(f, "{}: {}", self.shown, self.error),
        }
    }
}
