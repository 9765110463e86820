//! The built-in syscall policies, as reviewed data: what each refuses or allows, and why.

use super::arch::Arch;
use super::bpf::{Action, Policy, Rule};
use std::collections::BTreeMap;

const EPERM: u16 = 1;
const ENOSYS: u16 = 38;
const EOPNOTSUPP: u16 = 95;
/// fallocate's mode bit that reserves blocks without growing the file: past
/// `RLIMIT_FSIZE`'s sight (and so past `--output`), on the disk of a host file.
pub const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
const AF_UNIX: u32 = 1;
/// clone's flags that make namespaces: `CLONE_NEWNS`, `CLONE_NEWCGROUP`, `CLONE_NEWUTS`,
/// `CLONE_NEWIPC`, `CLONE_NEWUSER`, `CLONE_NEWPID`, `CLONE_NEWNET` (`CLONE_NEWTIME` is
/// clone3's and unshare's only: in clone's flags that bit is the exit signal's).
pub const CLONE_NAMESPACES: u32 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;
/// ioctls that act on a terminal's other side: `TIOCSTI` queues input as if typed,
/// `TIOCLINUX` (subcode 2 and 3) selects and pastes on a virtual console.
pub const TERMINAL_INJECTION: [u32; 2] = [0x5412, 0x541c];
/// `personality(0xffffffff)` only reads the current persona.
const PERSONALITY_QUERY: u32 = 0xffff_ffff;

/// Kernel surfaces no judged program needs, refused with EPERM under `default`.
pub const REFUSED: &[&str] = &[
    // mounts and namespaces: the sandbox's own walls
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "fsconfig",
    "fspick",
    "mount_setattr",
    // looking into or steering other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    // large kernel attack surfaces
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // keys
    "keyctl",
    "add_key",
    "request_key",
    // the machine itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "acct",
    "quotactl",
    "syslog",
    "vhangup",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    // file handles bypass path-based checks
    "open_by_handle_at",
    "name_to_handle_at",
];

/// What a single-process compiled C or C++ program needs, allowed under `strict` (the UOJ
/// tradition); anything else ends the run as disallowed_syscall, named. `futex` and
/// `execve` must stay: init's hand-over of the listener uses them after the install.
pub const STRICT_ALLOWED: &[&str] = &[
    // the exec itself, and the C runtime's start
    "execve",
    "brk",
    "arch_prctl",
    "set_tid_address",
    // 32-bit ARM: the thread pointer (glibc's static start-up), read and set
    "set_tls",
    "get_tls",
    "set_robust_list",
    "rseq",
    "prlimit64",
    // 32-bit ARM's getrlimit, which glibc's static start-up calls there
    "ugetrlimit",
    "mmap",
    "mmap2",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "getrandom",
    "uname",
    // files the program was given, and the ones the loader reads
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    "_llseek",
    "close",
    "fstat",
    "fstat64",
    "newfstatat",
    "fstatat64",
    "statx",
    "openat",
    "open",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "ioctl",
    "fcntl",
    "fcntl64",
    // time, signals and exit
    "clock_gettime",
    "clock_gettime64",
    "gettimeofday",
    "clock_nanosleep",
    "nanosleep",
    // A SIGSYS handler is harmless: notified calls are never delivered as signals.
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigreturn",
    "futex",
    "getpid",
    "gettid",
    "exit",
    "exit_group",
    "tgkill",
];

/// The walls every filter carries, whatever its profile allows (a profile's `allow` cannot
/// lift them); where a profile already refuses or forbids the call, its rule stays:
/// - no namespaces: clone with any `CLONE_NEW*` flag, unshare and setns fail with EPERM, and
///   clone3 (whose flags sit in memory, out of a filter's sight) with ENOSYS, so that libc
///   falls back to clone, whose flags the filter sees;
/// - no keystrokes into a terminal: ioctl `TIOCSTI` and `TIOCLINUX` fail with EPERM (a
///   second wall: every program already runs in a session of its own, with no terminal);
/// - no disk past `--output`: fallocate with `FALLOC_FL_KEEP_SIZE` (which punching holes
///   and keep-size zeroing also need) fails with EOPNOTSUPP, as on a file system without
///   it; a fallocate that grows the file meets `RLIMIT_FSIZE`.
pub fn add_walls(policy: &mut Policy, arch: Arch) {
    let mut wall = |name: &str, rule: Rule| {
        let Some(nr) = arch.number(name) else { return };
        let allowed = match policy.rules.get(&nr) {
            None => policy.default == Action::Allow,
            Some(rule) => *rule == Rule::Always(Action::Allow),
        };
        if allowed {
            policy.rules.insert(nr, rule);
        }
    };
    wall(
        "clone",
        Rule::AnyBit {
            arg: 0,
            mask: CLONE_NAMESPACES,
            when_any: Action::Errno(EPERM),
            otherwise: Action::Allow,
        },
    );
    wall("clone3", Rule::Always(Action::Errno(ENOSYS)));
    wall("unshare", Rule::Always(Action::Errno(EPERM)));
    wall("setns", Rule::Always(Action::Errno(EPERM)));
    wall(
        "fallocate",
        Rule::AnyBit {
            arg: 1,
            mask: FALLOC_FL_KEEP_SIZE,
            when_any: Action::Errno(EOPNOTSUPP),
            otherwise: Action::Allow,
        },
    );
    wall(
        "ioctl",
        Rule::Arg {
            arg: 1,
            values: TERMINAL_INJECTION.to_vec(),
            when_equal: Action::Errno(EPERM),
            otherwise: Action::Allow,
        },
    );
}

/// A built-in profile's policy for `arch`.
pub fn builtin(name: &str, arch: Arch) -> Option<Policy> {
    let rules = |names: &[&str], action: Action| -> BTreeMap<u32, Rule> {
        names
            .iter()
            .filter_map(|n| arch.number(n))
            .map(|nr| (nr, Rule::Always(action)))
            .collect()
    };
    let policy = |rules, default| Policy {
        arch: arch.audit(),
        foreign_from: arch.foreign_from(),
        rules,
        default,
    };
    match name {
        "default" => {
            let mut refused = rules(REFUSED, Action::Errno(EPERM));
            // Allowed only with this first argument: Unix sockets, and the persona query.
            let only_with = |value| Rule::Arg {
                arg: 0,
                values: vec![value],
                when_equal: Action::Allow,
                otherwise: Action::Errno(EPERM),
            };
            for (call, value) in [
                ("socket", AF_UNIX),
                ("socketpair", AF_UNIX),
                ("personality", PERSONALITY_QUERY),
            ] {
                if let Some(nr) = arch.number(call) {
                    refused.insert(nr, only_with(value));
                }
            }
            Some(policy(refused, Action::Allow))
        }
        "strict" => Some(policy(rules(STRICT_ALLOWED, Action::Allow), Action::Notify)),
        "none" => None,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::seccomp::bpf::compile;
    use crate::seccomp::interp::{run, Call};

    /// What `policy`'s compiled filter answers to `name` with these arguments.
    fn answer(policy: &Policy, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
        let nr = arch.number(name).unwrap();
        run(
            &compile(policy),
            &Call {
                nr,
                arch: arch.audit(),
                args,
            },
        )
    }

    #[test]
    fn the_walls_hold_under_every_base_and_cannot_be_lifted() {
        let eperm = Action::Errno(EPERM).ret();
        for arch in [Arch::X86_64, Arch::Aarch64, Arch::Arm] {
            let open = Policy {
                arch: arch.audit(),
                foreign_from: arch.foreign_from(),
                rules: BTreeMap::new(),
                default: Action::Allow,
            };
            // A profile that allows every one of them by name, on each base.
            let bases = [
                builtin("default", arch).unwrap(),
                builtin("strict", arch).unwrap(),
                open,
            ];
            for mut policy in bases {
                for name in ["clone", "clone3", "unshare", "setns", "ioctl", "fallocate"] {
                    policy
                        .rules
                        .insert(arch.number(name).unwrap(), Rule::Always(Action::Allow));
                }
                add_walls(&mut policy, arch);
                for flag in [0x2_0000u64, 0x1000_0000, 0x4000_0000, 0x2000_0000 | 0x11] {
                    let args = [flag, 0, 0, 0, 0, 0];
                    assert_eq!(answer(&policy, arch, "clone", args), eperm, "{flag:#x}");
                    // The high half of the flags does not hide the low one.
                    let high = [flag | 0xffff_ffff_0000_0000, 0, 0, 0, 0, 0];
                    assert_eq!(answer(&policy, arch, "clone", high), eperm);
                }
                // A thread and a fork stay allowed.
                let thread = [0x003d_0f00, 0, 0, 0, 0, 0];
                assert_eq!(answer(&policy, arch, "clone", thread), Action::Allow.ret());
                assert_eq!(
                    answer(&policy, arch, "clone", [0x11, 0, 0, 0, 0, 0]),
                    Action::Allow.ret()
                );
                assert_eq!(
                    answer(&policy, arch, "clone3", [0; 6]),
                    Action::Errno(ENOSYS).ret()
                );
                assert_eq!(answer(&policy, arch, "unshare", [0; 6]), eperm);
                assert_eq!(answer(&policy, arch, "setns", [0; 6]), eperm);
                for ioctl in TERMINAL_INJECTION {
                    let args = [1, u64::from(ioctl), 0, 0, 0, 0];
                    assert_eq!(answer(&policy, arch, "ioctl", args), eperm);
                }
                let keep_size = [3, 0x01, 0, 1 << 30, 0, 0];
                let eopnotsupp = Action::Errno(EOPNOTSUPP).ret();
                assert_eq!(answer(&policy, arch, "fallocate", keep_size), eopnotsupp);
                let punch = [3, 0x03, 0, 1 << 30, 0, 0];
                assert_eq!(answer(&policy, arch, "fallocate", punch), eopnotsupp);
                let grow = [3, 0, 0, 1 << 30, 0, 0];
                assert_eq!(
                    answer(&policy, arch, "fallocate", grow),
                    Action::Allow.ret()
                );
                let tcgets = [1, 0x5401, 0, 0, 0, 0];
                assert_eq!(answer(&policy, arch, "ioctl", tcgets), Action::Allow.ret());
            }
        }
    }

    #[test]
    fn a_wall_leaves_a_stricter_rule_as_it_is() {
        let arch = Arch::X86_64;
        let mut strict = builtin("strict", arch).unwrap();
        add_walls(&mut strict, arch);
        // strict forbids clone outright (the run ends, named): that stays.
        let clone = answer(&strict, arch, "clone", [0x11, 0, 0, 0, 0, 0]);
        assert_eq!(clone, Action::Notify.ret());
    }

    #[test]
    fn every_listed_name_is_a_syscall_somewhere() {
        for name in REFUSED.iter().chain(STRICT_ALLOWED) {
            assert!(
                Arch::any_knows(name),
                "{name} is no syscall on any architecture"
            );
        }
    }
}
