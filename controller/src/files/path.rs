//! Paths in the sandbox that a request names for its files (`copy_in`'s keys, `copy_out`'s
//! entries): checked here, in pure code, before any file is touched.
//!
//! A path is relative to `/w`, or absolute under `/w` or `/tmp`; it names a file below one
//! of the two (never the directory itself), through plain names only: no `..`, no NUL, no
//! empty path. What is left is a relative path from the root of that tmpfs, which the
//! copies then open beneath its mount with no symbolic link followed.

use std::fmt;

/// The longest path taken, bytes (the kernel's `PATH_MAX`).
pub const MAX_PATH: usize = 4096;

/// Which of the run's two fresh directories a path is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// `/w`, the working directory.
    Work,
    /// `/tmp`.
    Tmp,
}

impl Area {
    /// The directory in the sandbox.
    pub fn dir(self) -> &'static str {
        match self {
            Area::Work => "/w",
            Area::Tmp => "/tmp",
        }
    }
}

/// A checked path in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SandboxPath {
    /// The directory it is in.
    pub area: Area,
    /// Its names below that directory, joined by `/` (no `.`, `..` or empty name).
    pub relative: String,
}

impl SandboxPath {
    /// The names of the path below its area, the last one the file's.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.relative.split('/')
    }
}

impl fmt::Display for SandboxPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.area.dir(), self.relative)
    }
}

/// Why a path cannot name a file of the run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// An empty path, or one that names `/w` or `/tmp` itself.
    #[error("{0:?}: names no file")]
    NoFile(String),
    /// A NUL byte in it.
    #[error("{0:?}: holds a NUL byte")]
    Nul(String),
    /// Past [`MAX_PATH`].
    #[error("path of {0} bytes: longer than {MAX_PATH}")]
    TooLong(usize),
    /// A `..` among its names.
    #[error("{0:?}: \"..\" is refused (a path stays below /w or /tmp)")]
    DotDot(String),
    /// Absolute, but not under `/w` or `/tmp`.
    #[error("{0:?}: not under /w or /tmp (a relative path is under /w)")]
    Outside(String),
}

/// Checks `given` and returns where it is.
pub fn parse(given: &str) -> Result<SandboxPath, PathError> {
    if given.len() > MAX_PATH {
        return Err(PathError::TooLong(given.len()));
    }
    if given.contains('\0') {
        return Err(PathError::Nul(given.into()));
    }
    let (area, rest) = match given.strip_prefix('/') {
        None => (Area::Work, given),
        Some(absolute) => {
            let (first, rest) = absolute.split_once('/').unwrap_or((absolute, ""));
            match first {
                "w" => (Area::Work, rest),
                "tmp" => (Area::Tmp, rest),
                _ => return Err(PathError::Outside(given.into())),
            }
        }
    };
    let mut names = Vec::new();
    for name in rest.split('/') {
        match name {
            "" | "." => {}
            ".." => return Err(PathError::DotDot(given.into())),
            name => names.push(name),
        }
    }
    // A trailing slash names a directory, never a file.
    if names.is_empty() || given.ends_with('/') {
        return Err(PathError::NoFile(given.into()));
    }
    Ok(SandboxPath {
        area,
        relative: names.join("/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_under_w_or_tmp_by_plain_names() {
        let ok = |given: &str| parse(given).unwrap().to_string();
        assert_eq!(ok("a.out"), "/w/a.out");
        assert_eq!(ok("./src//main.cpp"), "/w/src/main.cpp");
        assert_eq!(ok("/w/in/1.txt"), "/w/in/1.txt");
        assert_eq!(ok("/tmp/x"), "/tmp/x");
        assert_eq!(parse("/tmp/x").unwrap().area, Area::Tmp);
        let bad = |given: &str| parse(given).unwrap_err();
        assert_eq!(
            bad("../etc/passwd"),
            PathError::DotDot("../etc/passwd".into())
        );
        assert_eq!(bad("a/../../b"), PathError::DotDot("a/../../b".into()));
        assert_eq!(bad("/etc/passwd"), PathError::Outside("/etc/passwd".into()));
        assert_eq!(bad("/work/x"), PathError::Outside("/work/x".into()));
        assert_eq!(bad("/wx"), PathError::Outside("/wx".into()));
        assert_eq!(bad("/"), PathError::Outside("/".into()));
        assert_eq!(bad(""), PathError::NoFile("".into()));
        assert_eq!(bad("/w"), PathError::NoFile("/w".into()));
        assert_eq!(bad("/tmp/"), PathError::NoFile("/tmp/".into()));
        assert_eq!(bad("dir/"), PathError::NoFile("dir/".into()));
        assert_eq!(bad("a\0b"), PathError::Nul("a\0b".into()));
        assert_eq!(bad(&"a".repeat(5000)), PathError::TooLong(5000));
    }
}
