//! The decision on one stopped file syscall: read its path arguments as the program gave
//! them, resolve them as the program would see them, and ask the file policy. Pure: the
//! program's memory, cwd, fds and the file system's links are seen through a [`View`],
//! which the tracer implements with `process_vm_readv` and `/proc`, and the tests with maps.

use super::calls::{open_access, stat_follows, FileCall, OnFd, PathArg, Rule};
use super::path::{resolve, Caller, PathError};
use crate::file_policy::fileset::{Access, FilePolicy};
use crate::seccomp::arch::Arch;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `AT_FDCWD`: a dirfd meaning the cwd.
const AT_FDCWD: i32 = -100;
/// `AT_EMPTY_PATH`: an empty path means the dirfd itself.
const AT_EMPTY_PATH: u64 = 0x1000;

/// The traced program's side of things, as the decision needs it.
pub trait View {
    /// The NUL-terminated string at `addr` in the program's memory, without the NUL;
    /// `None` if it cannot be read or is longer than `PATH_MAX`.
    fn string(&self, addr: u64) -> Option<Vec<u8>>;
    /// The 8-byte word at `addr` in the program's memory.
    fn word(&self, addr: u64) -> Option<u64>;
    /// The calling thread's working directory.
    fn cwd(&self) -> Option<PathBuf>;
    /// What the calling process's fd `fd` refers to (`/proc/<pid>/fd/<fd>`'s target).
    fn fd_path(&self, fd: i32) -> Option<PathBuf>;
    /// A symbolic link's target, or `None` for anything that is not one.
    fn readlink(&self, path: &Path) -> Option<PathBuf>;
    /// Whether anything (a link included) is at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// The interpreter that executing the file at `path` (resolved) would load: a `#!`
    /// line's, or an ELF's `PT_INTERP` ([`super::interpreter`]).
    fn interpreter(&self, path: &Path) -> Option<Vec<u8>>;
}

/// What the tracer does with the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it run.
    Allow,
    /// The policy forbids `access` to `path`.
    Deny {
        /// The path as resolved (`/proc/self/...` for the program's own entries).
        path: PathBuf,
        /// The access asked for.
        access: Access,
    },
    /// Fail it with this errno without asking the policy (a path that cannot be read or
    /// resolved fails the same way in the kernel).
    Fail(i32),
}

/// Decides `call` with arguments `args` (as the registers hold them) made by `caller`.
pub fn check(
    arch: Arch,
    call: &FileCall,
    args: &[u64; 6],
    caller: Caller,
    policy: &FilePolicy,
    view: &dyn View,
) -> Decision {
    for &(arg, rule) in call.paths {
        let (dirfd, path_at, at_flags) = match arg {
            PathArg::Cwd { path } => (AT_FDCWD, path, 0),
            PathArg::At { dirfd, path, flags } => {
                (args[dirfd] as i32, path, flags.map_or(0, |i| args[i]))
            }
        };
        let (access, follow) = match rule {
            Rule::Fixed { access, follow } => (access, follow),
            Rule::OpenFlags { flags } => open_access(arch, args[flags]),
            Rule::OpenHow { how } => match view.word(args[how]) {
                Some(flags) => open_access(arch, flags),
                None => return Decision::Fail(libc::EFAULT),
            },
            Rule::StatAt => (Access::Stat, stat_follows(at_flags)),
        };
        let decision = check_one(
            view,
            caller,
            policy,
            Target {
                dirfd,
                addr: args[path_at],
                empty_is_dirfd: at_flags & AT_EMPTY_PATH != 0,
                on_fd: call.on_fd,
                reads_link: matches!(call.name, "readlink" | "readlinkat"),
                executes: matches!(call.name, "execve" | "execveat"),
                access,
                follow,
            },
        );
        if decision != Decision::Allow {
            return decision;
        }
    }
    Decision::Allow
}

/// One path argument to judge.
struct Target {
    dirfd: i32,
    addr: u64,
    empty_is_dirfd: bool,
    on_fd: OnFd,
    /// readlink: reading a link's target.
    reads_link: bool,
    /// execve: what the file loads (its interpreter, its loader) is judged too.
    executes: bool,
    access: Access,
    follow: bool,
}

fn check_one(view: &dyn View, caller: Caller, policy: &FilePolicy, t: Target) -> Decision {
    if t.addr == 0 {
        // The kernel fails a NULL path with EFAULT, or (utimensat) works on the fd alone.
        return Decision::Allow;
    }
    let Some(raw) = view.string(t.addr) else {
        return Decision::Fail(libc::EFAULT);
    };
    let raw = PathBuf::from(OsStr::from_bytes(&raw));
    if raw.as_os_str().is_empty()
        && t.empty_is_dirfd
        && t.dirfd != AT_FDCWD
        && t.on_fd == OnFd::Held
    {
        // fstat(fd) and the like: the file is one the program holds, judged when it was
        // opened (or handed in by the judge). The kernel answers EBADF for a closed fd.
        return Decision::Allow;
    }
    let base = if raw.is_absolute() {
        Some(PathBuf::from("/"))
    } else if t.dirfd == AT_FDCWD {
        view.cwd()
    } else {
        view.fd_path(t.dirfd)
    };
    let Some(base) = base else {
        // A dirfd that is not open: the kernel fails the call with EBADF.
        return Decision::Fail(libc::EBADF);
    };
    if !base.is_absolute() {
        // A pipe, socket or anonymous inode: no path to judge, and nothing below it.
        return if raw.as_os_str().is_empty() && t.empty_is_dirfd {
            // Nothing with such a target can be executed; the kernel says EACCES.
            match t.on_fd {
                OnFd::Held => Decision::Allow,
                OnFd::Executed => Decision::Fail(libc::EACCES),
            }
        } else {
            Decision::Fail(libc::ENOTDIR)
        };
    }
    let raw = if raw.as_os_str().is_empty() {
        if !t.empty_is_dirfd {
            return Decision::Fail(libc::ENOENT);
        }
        PathBuf::from(".")
    } else {
        raw
    };
    match resolve(&raw, &base, caller, t.follow, &|p| view.readlink(p)) {
        Ok(path) => {
            let shown = as_self(&path, caller);
            if policy.allows(&shown, t.access) {
                match t.executes {
                    true => check_interpreters(view, caller, policy, path),
                    false => Decision::Allow,
                }
            } else if t.reads_link
                && view.readlink(&path).is_none()
                && view.exists(&path)
                && policy.allows(&shown, Access::Stat)
            {
                // Not a link, which the kernel says with EINVAL: no more than a stat tells
                // (Python's realpath reads every directory of a script's path as a link).
                Decision::Fail(libc::EINVAL)
            } else if t.access != Access::Write && !view.exists(&path) {
                // What the kernel would answer, without letting the call run: a program
                // probing for optional files (Python's pyvenv.cfg) is not ended for it.
                Decision::Fail(libc::ENOENT)
            } else {
                Decision::Deny {
                    path: shown,
                    access: t.access,
                }
            }
        }
        Err(PathError::OtherProcess(path)) => Decision::Deny {
            path,
            access: t.access,
        },
        Err(PathError::TooManyLinks) => Decision::Fail(libc::ELOOP),
        Err(PathError::Empty) => Decision::Fail(libc::ENOENT),
    }
}

/// An exec of `file` (allowed): each interpreter it loads in turn (a `#!` line's, which
/// may be a script again, then an ELF's loader), which the kernel opens with no call of its
/// own, must be readable too. The kernel's own depth limit (4 scripts) is kept, plus the
/// loader.
fn check_interpreters(
    view: &dyn View,
    caller: Caller,
    policy: &FilePolicy,
    mut file: PathBuf,
) -> Decision {
    for _ in 0..6 {
        let Some(raw) = view.interpreter(&file) else {
            return Decision::Allow;
        };
        let raw = PathBuf::from(OsStr::from_bytes(&raw));
        let base = match raw.is_absolute() {
            true => Some(PathBuf::from("/")),
            false => view.cwd(),
        };
        let Some(base) = base else {
            return Decision::Fail(libc::ENOENT);
        };
        let Ok(path) = resolve(&raw, &base, caller, true, &|p| view.readlink(p)) else {
            return Decision::Fail(libc::ENOENT);
        };
        let shown = as_self(&path, caller);
        if !policy.allows(&shown, Access::Read) {
            return Decision::Deny {
                path: shown,
                access: Access::Read,
            };
        }
        file = path;
    }
    // Deeper than the kernel goes: it would fail the exec with ELOOP.
    Decision::Fail(libc::ELOOP)
}

/// `/proc/<the caller's pid>/...` as `/proc/self/...`, which is how policies name it.
fn as_self(path: &Path, caller: Caller) -> PathBuf {
    let own = Path::new("/proc").join(caller.pid.to_string());
    match path.strip_prefix(&own) {
        Ok(rest) => Path::new("/proc/self").join(rest),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::calls::file_call;
    use super::*;
    use std::collections::BTreeMap;

    const ME: Caller = Caller { pid: 42, tid: 42 };

    /// A program's memory of strings at addresses, a cwd, fds and links.
    #[derive(Default)]
    struct Fake {
        memory: BTreeMap<u64, Vec<u8>>,
        cwd: String,
        fds: BTreeMap<i32, String>,
        links: BTreeMap<PathBuf, PathBuf>,
        /// What each file's exec loads (`#!` or `PT_INTERP`).
        interpreters: BTreeMap<PathBuf, String>,
    }

    impl View for Fake {
        fn string(&self, addr: u64) -> Option<Vec<u8>> {
            self.memory.get(&addr).cloned()
        }
        fn word(&self, addr: u64) -> Option<u64> {
            let bytes = self.memory.get(&addr)?;
            Some(u64::from_ne_bytes(bytes.get(..8)?.try_into().ok()?))
        }
        fn cwd(&self) -> Option<PathBuf> {
            Some(self.cwd.clone().into())
        }
        fn fd_path(&self, fd: i32) -> Option<PathBuf> {
            self.fds.get(&fd).map(PathBuf::from)
        }
        fn readlink(&self, path: &Path) -> Option<PathBuf> {
            self.links.get(path).cloned()
        }
        fn exists(&self, path: &Path) -> bool {
            path != Path::new("/etc/missing")
        }
        fn interpreter(&self, path: &Path) -> Option<Vec<u8>> {
            self.interpreters.get(path).map(|s| s.as_bytes().to_vec())
        }
    }

    const P1: u64 = 0x1000;
    const P2: u64 = 0x2000;

    fn fake(paths: &[(u64, &str)]) -> Fake {
        Fake {
            memory: paths
                .iter()
                .map(|(a, p)| (*a, p.as_bytes().to_vec()))
                .collect(),
            cwd: "/w".into(),
            fds: [(3, "/etc".to_string()), (4, "pipe:[77]".to_string())].into(),
            links: [
                ("/w/sneaky".into(), "/etc/shadow".into()),
                ("/proc/42/root".into(), "/".into()),
                ("/proc/42/fd/5".into(), "/etc/shadow".into()),
            ]
            .into(),
            interpreters: BTreeMap::new(),
        }
    }

    fn policy() -> FilePolicy {
        let mut p = FilePolicy::default();
        p.allow(Access::Read, "/usr/").unwrap();
        p.allow(Access::Read, "/etc/passwd").unwrap();
        p.allow(Access::Read, "/proc/self/").unwrap();
        p.allow(Access::Write, "/w/").unwrap();
        p
    }

    fn decide(name: &str, args: [u64; 6], view: &Fake) -> Decision {
        let arch = Arch::X86_64;
        let call = file_call(arch, arch.number(name).unwrap()).unwrap();
        check(arch, call, &args, ME, &policy(), view)
    }

    fn denied(path: &str, access: Access) -> Decision {
        Decision::Deny {
            path: path.into(),
            access,
        }
    }

    const AT: u64 = AT_FDCWD as u32 as u64; // as a 32-bit register would hold it, too

    #[test]
    fn an_exec_is_judged_for_what_the_kernel_loads_with_it() {
        let mut view = fake(&[(P1, "/w/script"), (P2, "/w/prog")]);
        let exec = |view: &Fake, at| decide("execve", [at, 0, 0, 0, 0, 0], view);
        // A script whose interpreter is outside the sets: denied, naming the interpreter.
        view.interpreters
            .insert("/w/script".into(), "/root/judge/solution".into());
        assert_eq!(
            exec(&view, P1),
            denied("/root/judge/solution", Access::Read)
        );
        // A script run by an allowed interpreter, itself an ELF with an allowed loader.
        view.interpreters
            .insert("/w/script".into(), "/usr/bin/python3".into());
        view.interpreters
            .insert("/usr/bin/python3".into(), "/usr/lib/ld.so".into());
        assert_eq!(exec(&view, P1), Decision::Allow);
        // An ELF whose PT_INTERP is a file outside the sets; a relative one from the cwd.
        view.interpreters
            .insert("/w/prog".into(), "/etc/shadow".into());
        assert_eq!(exec(&view, P2), denied("/etc/shadow", Access::Read));
        view.interpreters.insert("/w/prog".into(), "loader".into());
        assert_eq!(exec(&view, P2), Decision::Allow); // /w/loader: in the write set
                                                      // Scripts naming each other for ever: the kernel's ELOOP.
        view.interpreters.insert("/w/prog".into(), "/w/prog".into());
        assert_eq!(exec(&view, P2), Decision::Fail(libc::ELOOP));
    }

    #[test]
    fn opens_are_judged_by_their_flags() {
        let view = fake(&[(P1, "/etc/passwd"), (P2, "/etc/shadow")]);
        assert_eq!(
            decide("openat", [AT, P1, 0, 0, 0, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("openat", [AT, P1, libc::O_WRONLY as u64, 0, 0, 0], &view),
            denied("/etc/passwd", Access::Write)
        );
        assert_eq!(
            decide("open", [P2, 0, 0, 0, 0, 0], &view),
            denied("/etc/shadow", Access::Read)
        );
        let mut how = fake(&[(P1, "/etc/passwd")]);
        how.memory
            .insert(P2, (libc::O_RDWR as u64).to_ne_bytes().to_vec());
        assert_eq!(
            decide("openat2", [AT, P1, P2, 24, 0, 0], &how),
            denied("/etc/passwd", Access::Write)
        );
    }

    #[test]
    fn relative_paths_dirfds_links_and_proc_self_root_reach_the_real_file() {
        let view = fake(&[
            (P1, "../etc/shadow"),
            (P2, "shadow"),
            (0x3000, "sneaky"),
            (0x4000, "/proc/self/root/etc/shadow"),
            (0x5000, "/proc/self/fd/5"),
            (0x6000, "/proc/1/environ"),
        ]);
        let shadow = denied("/etc/shadow", Access::Read);
        assert_eq!(decide("openat", [AT, P1, 0, 0, 0, 0], &view), shadow);
        assert_eq!(decide("openat", [3, P2, 0, 0, 0, 0], &view), shadow);
        assert_eq!(decide("openat", [AT, 0x3000, 0, 0, 0, 0], &view), shadow);
        assert_eq!(decide("openat", [AT, 0x4000, 0, 0, 0, 0], &view), shadow);
        assert_eq!(decide("openat", [AT, 0x5000, 0, 0, 0, 0], &view), shadow);
        assert_eq!(
            decide("openat", [AT, 0x6000, 0, 0, 0, 0], &view),
            denied("/proc/1", Access::Read)
        );
        // lstat of the link itself: its directory is writable, so statable.
        assert_eq!(
            decide("newfstatat", [AT, 0x3000, 0, 0x100, 0, 0], &view),
            Decision::Allow
        );
    }

    #[test]
    fn the_program_s_own_proc_entries_are_judged_as_proc_self() {
        let view = fake(&[(P1, "/proc/self/status"), (P2, "/proc/42/maps")]);
        assert_eq!(
            decide("openat", [AT, P1, 0, 0, 0, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("openat", [AT, P2, 0, 0, 0, 0], &view),
            Decision::Allow
        );
    }

    #[test]
    fn readlink_of_what_is_no_link_fails_with_einval_where_a_stat_would_be_allowed() {
        let view = fake(&[(P1, "/etc"), (P2, "/root"), (0x3000, "/w/sneaky")]);
        // /etc is statable (a parent of allowed files), and no link.
        assert_eq!(
            decide("readlink", [P1, 0, 0, 0, 0, 0], &view),
            Decision::Fail(libc::EINVAL)
        );
        assert_eq!(
            decide("readlinkat", [AT, P1, 0, 0, 0, 0], &view),
            Decision::Fail(libc::EINVAL)
        );
        // /root is not even statable: denied as before.
        assert_eq!(
            decide("readlink", [P2, 0, 0, 0, 0, 0], &view),
            denied("/root", Access::Read)
        );
        // A link is read only where reading is allowed (/w is writable, so it is).
        assert_eq!(
            decide("readlink", [0x3000, 0, 0, 0, 0, 0], &view),
            Decision::Allow
        );
    }

    #[test]
    fn a_forbidden_path_that_does_not_exist_fails_as_the_kernel_would() {
        let view = fake(&[(P1, "/etc/missing")]);
        assert_eq!(
            decide("openat", [AT, P1, 0, 0, 0, 0], &view),
            Decision::Fail(libc::ENOENT)
        );
        // Creating it is writing, and denied.
        assert_eq!(
            decide("openat", [AT, P1, libc::O_CREAT as u64, 0, 0, 0], &view),
            denied("/etc/missing", Access::Write)
        );
    }

    #[test]
    fn both_paths_of_a_rename_are_judged() {
        let view = fake(&[(P1, "/w/a"), (P2, "/usr/bin/b")]);
        assert_eq!(
            decide("rename", [P1, P2, 0, 0, 0, 0], &view),
            denied("/usr/bin/b", Access::Write)
        );
        let view = fake(&[(P1, "/w/a"), (P2, "b")]);
        assert_eq!(
            decide("rename", [P1, P2, 0, 0, 0, 0], &view),
            Decision::Allow
        );
    }

    #[test]
    fn calls_on_an_fd_the_program_holds_are_not_path_checks() {
        // fstat(1) on a --stdout file outside every set (glibc's printf does it): a bug
        // once, judged as a stat of /var/tmp/out.txt.
        let mut view = fake(&[(P1, ""), (P2, "x")]);
        view.fds.insert(1, "/var/tmp/out.txt".into());
        let empty = AT_EMPTY_PATH;
        assert_eq!(
            decide("newfstatat", [1, P1, 0, empty, 0, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("statx", [1, P1, empty, 0, 0, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("fchownat", [1, P1, 0, 0, empty, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("fchmodat2", [1, P1, 0o600, empty, 0, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("faccessat2", [1, P1, 0, empty, 0, 0], &view),
            Decision::Allow
        );
        // A non-empty path with AT_EMPTY_PATH is an ordinary lookup.
        view.fds.insert(8, "/var/tmp".into());
        assert_eq!(
            decide("newfstatat", [8, P2, 0, empty, 0, 0], &view),
            denied("/var/tmp/x", Access::Stat)
        );
        // Without AT_EMPTY_PATH an empty path is ENOENT, as the kernel says; AT_FDCWD
        // with an empty path is the cwd, judged as such.
        assert_eq!(
            decide("newfstatat", [1, P1, 0, 0, 0, 0], &view),
            Decision::Fail(libc::ENOENT)
        );
        assert_eq!(
            decide("newfstatat", [AT, P1, 0, empty, 0, 0], &view),
            Decision::Allow
        );
    }

    #[test]
    fn unreadable_empty_and_fd_only_paths() {
        let view = fake(&[(P1, ""), (P2, "x")]);
        assert_eq!(
            decide("openat", [AT, 0x9000, 0, 0, 0, 0], &view),
            Decision::Fail(libc::EFAULT)
        );
        assert_eq!(
            decide("openat", [AT, P1, 0, 0, 0, 0], &view),
            Decision::Fail(libc::ENOENT)
        );
        // fstat through statx(fd, "", AT_EMPTY_PATH): judged as the fd's file.
        assert_eq!(
            decide("statx", [3, P1, AT_EMPTY_PATH, 0, 0, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("statx", [4, P1, AT_EMPTY_PATH, 0, 0, 0], &view),
            Decision::Allow,
            "a pipe has no path"
        );
        assert_eq!(
            decide("openat", [4, P2, 0, 0, 0, 0], &view),
            Decision::Fail(libc::ENOTDIR)
        );
        assert_eq!(
            decide("openat", [9, P2, 0, 0, 0, 0], &view),
            Decision::Fail(libc::EBADF)
        );
        // execveat of an fd opened on a forbidden file.
        let mut view = fake(&[(P1, "")]);
        view.fds.insert(6, "/etc/shadow".into());
        assert_eq!(
            decide("execveat", [6, P1, 0, 0, AT_EMPTY_PATH, 0], &view),
            denied("/etc/shadow", Access::Read)
        );
        // ... and of an fd to a file it may read (an O_PATH fd needs only stat).
        view.fds.insert(7, "/etc/passwd".into());
        assert_eq!(
            decide("execveat", [7, P1, 0, 0, AT_EMPTY_PATH, 0], &view),
            Decision::Allow
        );
        assert_eq!(
            decide("execveat", [4, P1, 0, 0, AT_EMPTY_PATH, 0], &view),
            Decision::Fail(libc::EACCES),
            "a pipe cannot be executed"
        );
        // linkat(fd, "", ..., AT_EMPTY_PATH) names a file the program holds: only the new
        // name is judged (and the kernel wants CAP_DAC_READ_SEARCH besides).
        let mut linking = fake(&[(P1, ""), (P2, "/w/copy"), (0x3000, "/etc/copy")]);
        linking.fds.insert(6, "/etc/shadow".into());
        assert_eq!(
            decide("linkat", [6, P1, AT, P2, AT_EMPTY_PATH, 0], &linking),
            Decision::Allow
        );
        assert_eq!(
            decide("linkat", [6, P1, AT, 0x3000, AT_EMPTY_PATH, 0], &linking),
            denied("/etc/copy", Access::Write)
        );
        // utimensat(fd, NULL, ...) works on the fd alone.
        assert_eq!(
            decide("utimensat", [3, 0, 0, 0, 0, 0], &view),
            Decision::Allow
        );
    }
}
