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
pub trait ExecArray {
    /// The array's first element.
    fn as_ptr(&self) -> *const *const libc::c_char;
}

impl ExecArray for CStrArray {
    fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
}

/// An [`ExecArray`] on the stack, for a forked child that must not allocate: at most
/// `N - 1` strings, borrowed.
#[derive(Debug)]
pub struct StackArray<'a, const N: usize> {
    pointers: [*const libc::c_char; N],
    _strings: std::marker::PhantomData<&'a CStr>,
}

impl<'a, const N: usize> StackArray<'a, N> {
    /// The pointers of up to `N - 1` of `strings`; the rest of the array stays NULL.
    pub fn new(strings: impl IntoIterator<Item = &'a CStr>) -> Self {
        let mut pointers = [std::ptr::null(); N];
        for (slot, s) in pointers.iter_mut().take(N - 1).zip(strings) {
            *slot = s.as_ptr();
        }
        StackArray {
            pointers,
            _strings: std::marker::PhantomData,
        }
    }
}

impl<const N: usize> ExecArray for StackArray<'_, N> {
    fn as_ptr(&self) -> *const *const libc::c_char {
        self.pointers.as_ptr()
    }
}

/// A path for a syscall.
pub type Path<'a> = &'a CStr;
