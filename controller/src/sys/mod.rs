//! The controller's only `unsafe` code: thin wrappers over the syscalls it makes, one syscall
//! per unsafe block, each turned into an `io::Result` at once.
//!
//! Each wrapper is documented by its call shape; the man page of the same name in
//! <https://man7.org/linux/man-pages/man2/> is the reference. Every function here may be
//! called in a forked child before `execve`: none allocates (an `io::Error` made from an errno
//! does not), locks or panics.
#![allow(unsafe_code)]

pub mod fs;
pub mod mount;
pub mod process;
pub mod socket;

use std::ffi::CStr;
use std::io;

/// Turns a `-1` return into the thread's errno.
fn check<T: PartialOrd + Default>(ret: T) -> io::Result<T> {
    if ret < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A NULL-terminated array of C strings for `execve`, built before forking.
#[derive(Debug)]
pub struct CStrArray {
    _owned: Vec<std::ffi::CString>,
    pointers: Vec<*const libc::c_char>,
}

impl CStrArray {
    /// Collects the strings and the pointer array that points into them.
    pub fn new(strings: Vec<std::ffi::CString>) -> Self {
        let mut pointers: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        CStrArray {
            _owned: strings,
            pointers,
        }
    }

    /// The `char *const[]` for execve.
    pub fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
}

/// A path for a syscall.
pub type Path<'a> = &'a CStr;
