//! The embedded init binary, and the sealed memfd it is executed from.

use crate::error::Error;
use crate::sys;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// The init binary, built by build.rs for this architecture and embedded at compile time.
pub static INIT: &[u8] = include_bytes!(env!("RUNBOX_INIT_PATH"));

/// The target the embedded init was built for.
pub const INIT_TARGET: &str = env!("RUNBOX_INIT_TARGET");

static MEMFD: OnceLock<OwnedFd> = OnceLock::new();

/// A sealed, close-on-exec memfd holding [`INIT`], made once per process and shared by every
/// container: each set-up child `execveat`s it.
pub fn memfd() -> Result<RawFd, Error> {
    if let Some(fd) = MEMFD.get() {
        return Ok(fd.as_raw_fd());
    }
    let fd = sys::fs::sealed_memfd(c"runbox-init", INIT)
        .map_err(|e| Error::io("memfd_create runbox-init", e))?;
    // A racing thread may have set it first; its fd is as good as ours.
    Ok(MEMFD.get_or_init(|| fd).as_raw_fd())
}
