//! Which syscalls name files, where their paths are among the arguments, and what access
//! each implies: the table the tracer reads a stopped call by. Pure: numbers come from the
//! syscall tables of [`crate::seccomp::arch`], flags are decoded per architecture.

use crate::file_policy::fileset::Access;
use crate::seccomp::arch::Arch;

/// Where a path argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathArg {
    /// Relative to the cwd: argument `path`.
    Cwd { path: usize },
    /// Relative to the directory fd in argument `dirfd` (`AT_FDCWD` for the cwd), with the
    /// call's `AT_*` flags (`AT_EMPTY_PATH`, `AT_SYMLINK_NOFOLLOW`) in argument `flags` if it
    /// takes them.
    At {
        dirfd: usize,
        path: usize,
        flags: Option<usize>,
    },
}

/// What access a call's path gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Always this access; links in the last component followed or not.
    Fixed { access: Access, follow: bool },
    /// From `open` flags in argument `flags`.
    OpenFlags { flags: usize },
    /// From the flags of the `struct open_how` that argument `how` points to (openat2).
    OpenHow { how: usize },
    /// Stat, following the last link unless the path's `AT_*` flags have
    /// `AT_SYMLINK_NOFOLLOW`.
    StatAt,
}

/// What an `AT_EMPTY_PATH` form (an empty path on a real dirfd) does with the fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFd {
    /// Acts on the file the program holds (fstat, fchownat, linkat of an fd): the fd was
    /// judged when it was opened, or handed in by the judge, so there is no path to check.
    Held,
    /// Executes the fd's file (execveat): judged as a read of that file, since an `O_PATH`
    /// fd, which only needs stat, can be executed.
    Executed,
}

/// One file syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCall {
    /// Its name in the syscall tables.
    pub name: &'static str,
    /// Its path arguments and their rule.
    pub paths: &'static [(PathArg, Rule)],
    /// What its `AT_EMPTY_PATH` form does with the fd.
    pub on_fd: OnFd,
}

const fn cwd(path: usize) -> PathArg {
    PathArg::Cwd { path }
}
const fn at(dirfd: usize, path: usize) -> PathArg {
    PathArg::At {
        dirfd,
        path,
        flags: None,
    }
}
const fn at_flags(dirfd: usize, path: usize, flags: usize) -> PathArg {
    PathArg::At {
        dirfd,
        path,
        flags: Some(flags),
    }
}
const READ: Rule = Rule::Fixed {
    access: Access::Read,
    follow: true,
};
const READ_LINK: Rule = Rule::Fixed {
    access: Access::Read,
    follow: false,
};
const STAT: Rule = Rule::Fixed {
    access: Access::Stat,
    follow: true,
};
const STAT_LINK: Rule = Rule::Fixed {
    access: Access::Stat,
    follow: false,
};
const WRITE: Rule = Rule::Fixed {
    access: Access::Write,
    follow: true,
};
const WRITE_LINK: Rule = Rule::Fixed {
    access: Access::Write,
    follow: false,
};

/// Every file syscall the tracer checks (names absent from an architecture's table are
/// simply not there).
pub const FILE_CALLS: &[FileCall] = &[
    // open
    FileCall {
        name: "open",
        paths: &[(cwd(0), Rule::OpenFlags { flags: 1 })],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "openat",
        paths: &[(at(0, 1), Rule::OpenFlags { flags: 2 })],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "openat2",
        paths: &[(at(0, 1), Rule::OpenHow { how: 2 })],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "creat",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    // read or execute
    FileCall {
        name: "readlink",
        paths: &[(cwd(0), READ_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "readlinkat",
        paths: &[(at(0, 1), READ_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "execve",
        paths: &[(cwd(0), READ)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "execveat",
        paths: &[(at_flags(0, 1, 4), READ)],
        on_fd: OnFd::Executed,
    },
    // write
    FileCall {
        name: "unlink",
        paths: &[(cwd(0), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "unlinkat",
        paths: &[(at(0, 1), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "rename",
        paths: &[(cwd(0), WRITE_LINK), (cwd(1), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "renameat",
        paths: &[(at(0, 1), WRITE_LINK), (at(2, 3), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "renameat2",
        paths: &[(at(0, 1), WRITE_LINK), (at(2, 3), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "link",
        paths: &[(cwd(0), WRITE), (cwd(1), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "linkat",
        paths: &[(at_flags(0, 1, 4), WRITE), (at(2, 3), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "symlink",
        paths: &[(cwd(1), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "symlinkat",
        paths: &[(at(1, 2), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "mkdir",
        paths: &[(cwd(0), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "mkdirat",
        paths: &[(at(0, 1), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "mknod",
        paths: &[(cwd(0), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "mknodat",
        paths: &[(at(0, 1), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "chmod",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "fchmodat",
        paths: &[(at(0, 1), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "fchmodat2",
        paths: &[(at_flags(0, 1, 3), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "truncate",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "truncate64",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "chown",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "chown32",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "lchown",
        paths: &[(cwd(0), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "lchown32",
        paths: &[(cwd(0), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "fchownat",
        paths: &[(at_flags(0, 1, 4), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "utime",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "utimes",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "futimesat",
        paths: &[(at(0, 1), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "utimensat",
        paths: &[(at_flags(0, 1, 3), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "utimensat_time64",
        paths: &[(at_flags(0, 1, 3), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "setxattr",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "lsetxattr",
        paths: &[(cwd(0), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "removexattr",
        paths: &[(cwd(0), WRITE)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "lremovexattr",
        paths: &[(cwd(0), WRITE_LINK)],
        on_fd: OnFd::Held,
    },
    // read
    FileCall {
        name: "getxattr",
        paths: &[(cwd(0), READ)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "lgetxattr",
        paths: &[(cwd(0), READ_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "listxattr",
        paths: &[(cwd(0), READ)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "llistxattr",
        paths: &[(cwd(0), READ_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "inotify_add_watch",
        paths: &[(cwd(1), READ)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "uselib",
        paths: &[(cwd(0), READ)],
        on_fd: OnFd::Held,
    },
    // stat
    FileCall {
        name: "chdir",
        paths: &[(cwd(0), STAT)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "statfs",
        paths: &[(cwd(0), STAT)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "statfs64",
        paths: &[(cwd(0), STAT)],
        on_fd: OnFd::Held,
    },
    // stat
    FileCall {
        name: "stat",
        paths: &[(cwd(0), STAT)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "stat64",
        paths: &[(cwd(0), STAT)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "lstat",
        paths: &[(cwd(0), STAT_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "lstat64",
        paths: &[(cwd(0), STAT_LINK)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "newfstatat",
        paths: &[(at_flags(0, 1, 3), Rule::StatAt)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "fstatat64",
        paths: &[(at_flags(0, 1, 3), Rule::StatAt)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "statx",
        paths: &[(at_flags(0, 1, 2), Rule::StatAt)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "access",
        paths: &[(cwd(0), STAT)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "faccessat",
        paths: &[(at(0, 1), STAT)],
        on_fd: OnFd::Held,
    },
    FileCall {
        name: "faccessat2",
        paths: &[(at_flags(0, 1, 3), Rule::StatAt)],
        on_fd: OnFd::Held,
    },
];

/// The file call with this number on `arch`, if it is one.
pub fn file_call(arch: Arch, nr: u32) -> Option<&'static FileCall> {
    let name = arch.name(nr)?;
    FILE_CALLS.iter().find(|c| c.name == name)
}

/// `O_NOFOLLOW`, which differs between architectures (the rest used here do not).
const fn o_nofollow(arch: Arch) -> u64 {
    match arch {
        Arch::X86_64 => 0o400000,
        Arch::Aarch64 | Arch::Arm => 0o100000,
    }
}

/// The access and link-following of an open with these flags.
pub fn open_access(arch: Arch, flags: u64) -> (Access, bool) {
    const O_ACCMODE: u64 = 0o3;
    const O_CREAT: u64 = 0o100;
    const O_TRUNC: u64 = 0o1000;
    // O_PATH: an fd for stat, fchdir and as a dirfd only; the other flags are ignored.
    const O_PATH: u64 = 0o10000000;
    let writes = flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC) != 0;
    let access = if flags & O_PATH != 0 {
        Access::Stat
    } else if writes {
        Access::Write
    } else {
        Access::Read
    };
    (access, flags & o_nofollow(arch) == 0)
}

/// Whether a stat-like call with these `*at` flags follows the last link.
pub fn stat_follows(flags: u64) -> bool {
    const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
    flags & AT_SYMLINK_NOFOLLOW == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_syscall_somewhere_and_the_common_ones_are_found() {
        for call in FILE_CALLS {
            assert!(Arch::any_knows(call.name), "{}", call.name);
        }
        for arch in [Arch::X86_64, Arch::Aarch64, Arch::Arm] {
            for name in [
                "openat",
                "execve",
                "unlinkat",
                "mkdirat",
                "readlinkat",
                "faccessat",
            ] {
                let nr = arch
                    .number(name)
                    .unwrap_or_else(|| panic!("{arch:?} {name}"));
                assert_eq!(file_call(arch, nr).map(|c| c.name), Some(name), "{arch:?}");
            }
            let read = arch.number("read").unwrap();
            assert_eq!(file_call(arch, read), None, "{arch:?}: read names no file");
        }
        // aarch64 has no plain open: only the *at forms.
        assert_eq!(Arch::Aarch64.number("open"), None);
    }

    #[test]
    fn open_flags_decide_read_or_write_and_following() {
        assert_eq!(open_access(Arch::X86_64, 0), (Access::Read, true)); // O_RDONLY
        assert_eq!(open_access(Arch::X86_64, 1), (Access::Write, true)); // O_WRONLY
        assert_eq!(open_access(Arch::X86_64, 2), (Access::Write, true)); // O_RDWR
        assert_eq!(open_access(Arch::X86_64, 0o100), (Access::Write, true)); // O_CREAT
        assert_eq!(open_access(Arch::X86_64, 0o1000), (Access::Write, true)); // O_TRUNC
        assert_eq!(open_access(Arch::X86_64, 0o400000), (Access::Read, false)); // O_NOFOLLOW
        assert_eq!(open_access(Arch::Aarch64, 0o100000), (Access::Read, false));
        assert_eq!(open_access(Arch::Arm, 0o400000), (Access::Read, true)); // O_DIRECT there
        assert_eq!(open_access(Arch::X86_64, 0o10200000), (Access::Stat, true)); // O_PATH|O_DIRECTORY
        assert!(stat_follows(0));
        assert!(!stat_follows(0x100));
    }
}
