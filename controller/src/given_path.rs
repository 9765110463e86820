//! Host paths the judge gives runbox (stdio files, a ptrace-mode `--dir`): opened with no
//! symbolic link followed anywhere on them (`openat2` with `RESOLVE_NO_SYMLINKS`), since a
//! sandboxed program may have planted one where such a path leads, and the controller is
//! root. The mount plan applies the same rule to `--dir`, `--rootfs` and bind sources.

use crate::sys::fs;
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `openat2(path, flags, mode)` with no symbolic link followed.
pub fn open(path: &Path, flags: libc::c_int, mode: u32) -> Result<OwnedFd, Refused> {
    let refused = |error| Refused {
        path: path.to_path_buf(),
        error,
    };
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| refused(io::Error::from_raw_os_error(libc::EINVAL)))?;
    fs::open_no_symlinks(&cpath, flags, mode).map_err(refused)
}

/// A given path that could not be opened: the path, and the error of the open (ELOOP for a
/// symbolic link on it, said so).
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", path.display(), explain(error))]
pub struct Refused {
    /// The path as given.
    pub path: PathBuf,
    /// What the open said.
    #[source]
    pub error: io::Error,
}

fn explain(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::ELOOP) => "a symbolic link on the path (runbox follows none in a path it is \
                              given: name the file itself)"
            .into(),
        _ => error.to_string(),
    }
}
