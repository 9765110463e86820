//! The built-in syscall policies, as reviewed data: what each refuses or allows, and why.

use super::arch::Arch;
use super::bpf::{Action, Policy, Rule};
use std::collections::BTreeMap;

const EPERM: u16 = 1;
const AF_UNIX: u32 = 1;
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
