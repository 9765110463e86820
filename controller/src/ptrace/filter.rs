//! ptrace mode's syscall filter: a profile's policy with file syscalls sent to the tracer
//! (`SECCOMP_RET_TRACE`), process creation counted there, and what would end the run
//! elsewhere (a notified call) stopped there too, so the tracer can name it; and what is
//! only harmless inside namespaces refused, with whatever would let a program change the
//! tracer's view (a filter of its own, an untraced clone, `clone3`'s flags in memory).
//! Nothing else stops: an ordinary program runs at native speed. Pure.
//!
//! The tracer never trusts a stop's `SECCOMP_RET_TRACE` data: it runs this filter itself on
//! the registers it read ([`traced_as`]) and decides by that.

use super::calls::FILE_CALLS;
use crate::seccomp::arch::Arch;
use crate::seccomp::bpf::{Action, Insn, Policy, Rule};
use crate::seccomp::interp;
use std::collections::BTreeMap;

/// The tracer's data for a file call to check.
pub const FILE: u16 = 1;
/// The tracer's data for a call the profile forbids: the run ends, naming it.
pub const DISALLOWED: u16 = 2;
/// The tracer's data for a call that makes a process or thread: counted against the limit.
pub const SPAWN: u16 = 3;

/// Calls that make processes or threads (`clone3` fails with ENOSYS, see [`NOT_THERE`]).
pub const SPAWN_CALLS: &[&str] = &["clone", "fork", "vfork"];

/// `CLONE_UNTRACED`: a child the tracer would not follow. The tracer refuses a clone with
/// it (EPERM), reading the flags from the stopped call's registers.
pub const CLONE_UNTRACED: u64 = 0x0080_0000;

/// `PR_SET_SECCOMP`: prctl's way to install a filter.
const PR_SET_SECCOMP: u32 = 22;

/// Calls that fail with ENOSYS in ptrace mode, as if the kernel had none: `clone3`, whose
/// flags are in memory the filter cannot see, so that the C library falls back to `clone`.
/// And the path calls newer than the file-call table, which take a path the tracer does
/// not read: `open_tree_attr` (an `O_PATH` fd to any path), the `*xattrat` family and
/// `file_getattr`/`file_setattr` (found by a hostile review); and every call numbered past
/// [`REVIEWED_UP_TO`], which no one has judged yet.
pub const NOT_THERE: &[&str] = &[
    "clone3",
    "open_tree_attr",
    "setxattrat",
    "getxattrat",
    "listxattrat",
    "removexattrat",
    "file_getattr",
    "file_setattr",
];

/// The highest syscall number ptrace mode's tables were reviewed against (`file_setattr`,
/// 469: since Linux 5.1 a new call has the same number on every architecture). A call past
/// it fails with ENOSYS, up to [`NUMBERS_END`].
pub const REVIEWED_UP_TO: u32 = 469;
/// Where the ENOSYS range ends (the kernels' tables are far below it).
pub const NUMBERS_END: u32 = 1024;

/// Calls that ptrace mode refuses (EPERM) even where the profile allows them: what the
/// other modes' namespaces make harmless is not harmless on the host. No sockets (a Unix
/// socket's path is not checked, and there is no empty network namespace), nothing on
/// other processes, no mount or root changes. A profile that already refuses or forbids
/// one keeps its rule. And what would change the tracer's view: a seccomp filter of the
/// program's own (its `SECCOMP_RET_TRACE` data, or an earlier verdict, would stand between
/// a call and the tracer), and asynchronous I/O, which writes the program's memory while
/// its threads are held still for a checked call.
pub const REFUSED: &[&str] = &[
    "seccomp",
    "io_setup",
    "io_uring_setup",
    "socket",
    // A datagram end of a pair, untied by connect(AF_UNSPEC), sends to any Unix address of
    // the host's: another run's (to share memory and race its checks) or a service's.
    "socketpair",
    "socketcall",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "chroot",
    "pivot_root",
    "unshare",
    "setns",
    "mount",
];

/// EPERM.
const EPERM: u16 = 1;
/// ENOSYS.
const ENOSYS: u16 = 38;

/// The ptrace-mode policy made from a profile's (`None`: the profile has no filter).
pub fn policy(base: Option<Policy>, arch: Arch) -> Policy {
    let mut policy = base.unwrap_or(Policy {
        arch: arch.audit(),
        foreign_from: arch.foreign_from(),
        rules: BTreeMap::new(),
        default: Action::Allow,
    });
    fn traced(a: Action) -> Action {
        match a {
            Action::Notify => Action::Trace(DISALLOWED),
            other => other,
        }
    }
    policy.default = traced(policy.default);
    for rule in policy.rules.values_mut() {
        *rule = rule.map(traced);
    }
    let names = |list: &'static [&'static str]| list.iter().filter_map(move |n| arch.number(n));
    let file_calls = FILE_CALLS.iter().filter_map(|c| arch.number(c.name));
    for (numbers, data) in [
        (file_calls.collect::<Vec<_>>(), FILE),
        (names(SPAWN_CALLS).collect(), SPAWN),
    ] {
        for nr in numbers {
            let rule = policy.rules.get(&nr).cloned();
            let stop = |a| match a {
                Action::Allow => Action::Trace(data),
                other => other,
            };
            match rule {
                None if policy.default == Action::Allow => {
                    policy.rules.insert(nr, Rule::Always(Action::Trace(data)));
                }
                None => {}
                // A flag wall (clone's namespace flags): what it lets through stops.
                Some(rule @ (Rule::Always(_) | Rule::AnyBit { .. })) => {
                    policy.rules.insert(nr, rule.map(stop));
                }
                // An argument-dependent rule is kept as it is: none names files.
                Some(Rule::Arg { .. }) => {}
            }
        }
    }
    for (list, errno) in [(REFUSED, EPERM), (NOT_THERE, ENOSYS)] {
        for nr in names(list) {
            let allowed = match policy.rules.get(&nr) {
                None => policy.default == Action::Allow,
                Some(Rule::Always(a)) => *a == Action::Allow,
                Some(Rule::Arg { .. } | Rule::AnyBit { .. }) => true,
            };
            if allowed {
                policy.rules.insert(nr, Rule::Always(Action::Errno(errno)));
            }
        }
    }
    if let Some(nr) = arch.number("prctl") {
        refuse_prctl_seccomp(&mut policy, nr);
    }
    for nr in REVIEWED_UP_TO + 1..NUMBERS_END {
        // Adjacent equal rules compile to one range: a handful of instructions.
        policy.rules.insert(nr, Rule::Always(Action::Errno(ENOSYS)));
    }
    policy
}

/// `prctl(PR_SET_SECCOMP, ...)` fails with EPERM; the profile's rule for prctl's other
/// uses stands.
fn refuse_prctl_seccomp(policy: &mut Policy, nr: u32) {
    let refused = Action::Errno(EPERM);
    let current = policy
        .rules
        .get(&nr)
        .cloned()
        .unwrap_or(Rule::Always(policy.default));
    let rule = match current {
        Rule::Always(Action::Allow) => Rule::Arg {
            arg: 0,
            values: vec![PR_SET_SECCOMP],
            when_equal: refused,
            otherwise: Action::Allow,
        },
        // Refused or forbidden whatever the option: so is this one.
        Rule::Always(other) => Rule::Always(other),
        Rule::Arg {
            arg: 0,
            mut values,
            when_equal,
            otherwise,
        } if when_equal != Action::Allow => {
            if otherwise == Action::Allow && !values.contains(&PR_SET_SECCOMP) {
                values.push(PR_SET_SECCOMP);
            }
            Rule::Arg {
                arg: 0,
                values,
                when_equal,
                otherwise,
            }
        }
        // A rule on another argument, or on flag bits (none today): prctl is refused whole
        // rather than let PR_SET_SECCOMP through.
        Rule::Arg { .. } | Rule::AnyBit { .. } => Rule::Always(refused),
    };
    policy.rules.insert(nr, rule);
}

/// A compiled filter (`struct sock_filter` array, native endian) as instructions.
pub fn decode(bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(8)
        .map(|b| Insn {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect()
}

/// What ptrace mode's own filter `prog` (as [`policy`] made it) does with call `nr` with
/// arguments `args`: the tracer's data if it stops in the tracer, `None` if it does not
/// (a stop of such a call came from somewhere else, and ends the run).
pub fn traced_as(prog: &[Insn], arch: Arch, nr: u32, args: [u64; 6]) -> Option<u16> {
    let call = interp::Call {
        nr,
        arch: arch.audit(),
        args,
    };
    let ret = interp::run(prog, &call);
    (ret & 0xffff_0000 == Action::Trace(0).ret()).then_some(ret as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::compile;
    use crate::seccomp::interp::{run, Call};
    use crate::seccomp::profile::builtin;

    fn verdict(policy: &Policy, arch: Arch, name: &str) -> u32 {
        let Some(nr) = arch.number(name) else {
            return Action::Allow.ret();
        };
        let call = Call {
            nr,
            arch: arch.audit(),
            args: [0; 6],
        };
        run(&compile(policy), &call)
    }

    #[test]
    fn file_calls_stop_in_the_tracer_and_nothing_else_does() {
        for arch in [Arch::X86_64, Arch::Aarch64, Arch::Arm] {
            let p = policy(builtin("default", arch), arch);
            let trace = |data: u16| Action::Trace(data).ret();
            assert_eq!(verdict(&p, arch, "openat"), trace(FILE));
            assert_eq!(verdict(&p, arch, "execve"), trace(FILE));
            assert_eq!(verdict(&p, arch, "clone"), trace(SPAWN));
            assert_eq!(verdict(&p, arch, "read"), Action::Allow.ret());
            assert_eq!(verdict(&p, arch, "munmap"), Action::Allow.ret());
            assert_eq!(verdict(&p, arch, "socket"), Action::Errno(EPERM).ret());
            assert_eq!(verdict(&p, arch, "socketpair"), Action::Errno(EPERM).ret());
            let enosys = Action::Errno(ENOSYS).ret();
            for newer in ["open_tree_attr", "setxattrat", "getxattrat", "file_getattr"] {
                assert_eq!(verdict(&p, arch, newer), enosys, "{newer}");
            }
            let prog = compile(&p);
            for nr in [REVIEWED_UP_TO + 1, 600, NUMBERS_END - 1] {
                let call = Call {
                    nr,
                    arch: arch.audit(),
                    args: [0; 6],
                };
                assert_eq!(run(&prog, &call), enosys, "{nr}");
            }
            assert_eq!(
                verdict(&p, arch, "process_vm_readv"),
                Action::Errno(EPERM).ret()
            );
            // The default profile's refusals stay refusals.
            assert_eq!(verdict(&p, arch, "reboot"), Action::Errno(1).ret());
            // No filter of the program's own; no clone3 (its flags are in memory).
            assert_eq!(verdict(&p, arch, "seccomp"), Action::Errno(EPERM).ret());
            assert_eq!(verdict(&p, arch, "clone3"), Action::Errno(ENOSYS).ret());
            let prctl = |option: u64| {
                let call = Call {
                    nr: arch.number("prctl").unwrap(),
                    arch: arch.audit(),
                    args: [option, 0, 0, 0, 0, 0],
                };
                run(&compile(&p), &call)
            };
            assert_eq!(prctl(22), Action::Errno(EPERM).ret(), "PR_SET_SECCOMP");
            assert_eq!(prctl(38), Action::Allow.ret(), "PR_SET_NO_NEW_PRIVS");
        }
    }

    #[test]
    fn the_tracer_reads_its_own_verdict_from_the_compiled_filter() {
        let arch = Arch::X86_64;
        for profile in ["default", "strict"] {
            let p = policy(builtin(profile, arch), arch);
            let prog = decode(&crate::seccomp::bpf::encode(&compile(&p)));
            assert_eq!(prog, compile(&p), "decode undoes encode");
            let traced = |name: &str| traced_as(&prog, arch, arch.number(name).unwrap(), [0; 6]);
            assert_eq!(traced("openat"), Some(FILE), "{profile}");
            assert_eq!(traced("newfstatat"), Some(FILE), "{profile}");
            assert_eq!(traced("read"), None, "{profile}: never stops");
        }
        let default = compile(&policy(builtin("default", arch), arch));
        let seccomp = arch.number("seccomp").unwrap();
        assert_eq!(traced_as(&default, arch, seccomp, [0; 6]), None, "refused");
        let p = policy(builtin("default", arch), arch);
        let prog = compile(&p);
        let traced = |name: &str| traced_as(&prog, arch, arch.number(name).unwrap(), [0; 6]);
        assert_eq!(traced("clone"), Some(SPAWN));
        assert_eq!(traced("vfork"), Some(SPAWN));
        let strict = compile(&policy(builtin("strict", arch), arch));
        let getppid = arch.number("getppid").unwrap();
        assert_eq!(traced_as(&strict, arch, getppid, [0; 6]), Some(DISALLOWED));
    }

    #[test]
    fn prctl_rules_of_a_profile_keep_their_other_options() {
        let arch = Arch::X86_64;
        let nr = arch.number("prctl").unwrap();
        let mut p = policy(None, arch);
        p.rules.insert(
            nr,
            Rule::Arg {
                arg: 0,
                values: vec![4],
                when_equal: Action::Errno(1),
                otherwise: Action::Allow,
            },
        );
        refuse_prctl_seccomp(&mut p, nr);
        let Some(Rule::Arg { values, .. }) = p.rules.get(&nr) else {
            panic!("{:?}", p.rules.get(&nr));
        };
        assert_eq!(values, &vec![4, PR_SET_SECCOMP]);
        p.rules.insert(nr, Rule::Always(Action::Trace(DISALLOWED)));
        refuse_prctl_seccomp(&mut p, nr);
        assert_eq!(p.rules[&nr], Rule::Always(Action::Trace(DISALLOWED)));
    }

    #[test]
    fn strict_profiles_stop_what_they_forbid_and_no_filter_still_checks_files() {
        let arch = Arch::X86_64;
        let p = policy(builtin("strict", arch), arch);
        assert_eq!(verdict(&p, arch, "openat"), Action::Trace(FILE).ret());
        assert_eq!(
            verdict(&p, arch, "getppid"),
            Action::Trace(DISALLOWED).ret()
        );
        // strict forbids clone: it is named, not counted.
        assert_eq!(verdict(&p, arch, "clone"), Action::Trace(DISALLOWED).ret());
        let none = policy(None, arch);
        assert_eq!(verdict(&none, arch, "unlink"), Action::Trace(FILE).ret());
        assert_eq!(verdict(&none, arch, "getppid"), Action::Allow.ret());
        assert_eq!(verdict(&none, arch, "ptrace"), Action::Errno(EPERM).ret());
        // strict's own verdict on a socket stands: it ends the run, named.
        assert_eq!(verdict(&p, arch, "socket"), Action::Trace(DISALLOWED).ret());
        // Another architecture's calls are killed, not traced.
        let i386 = Call {
            nr: 5,
            arch: 0x4000_0003,
            args: [0; 6],
        };
        assert_eq!(run(&compile(&none), &i386), Action::KillProcess.ret());
    }
}
