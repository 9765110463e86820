//! The controller's only `unsafe` code: thin wrappers over the syscalls it makes, one syscall
//! per unsafe block, each turned into an `io::Result` at once.
//!
//! Each wrapper is documented by its call shape; the man page of the same name in
//! <https://man7.org/linux/man-pages/man2/> is the reference. The wrappers a forked child
//! calls before `execve` (the set-up child's and ptrace mode's program child's) neither
//! allocate (an `io::Error` made from an errno does not), lock nor panic; the few that
//! allocate say so by what they return or take (`CStrArray::new`, `allowed_cpus`'s `Vec`),
//! and run in the controller only.
#![allow(unsafe_code)]

pub mod fs;
pub mod mount;
pub mod process;
pub mod ptrace;
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
}

/// A NULL-terminated `char *const[]` whose strings outlive it: what `execve` wants.
///
/// # Safety
/// `as_ptr` must return a pointer to an array of pointers to NUL-terminated strings, ended
/// by a NULL, all live as long as `self`: [`execve`](process::execve) trusts it.
pub unsafe trait ExecArray {
    /// The array's first element.
    fn as_ptr(&self) -> *const *const libc::c_char;
}

// SAFETY: `pointers` points into `_owned`'s strings, which live as long as the array, and
// `new` ends it with a NULL.
unsafe impl ExecArray for CStrArray {
    fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
}

/// A path for a syscall.
pub type Path<'a> = &'a CStr;
