//! ptrace mode's syscall filter: a profile's policy with file syscalls sent to the tracer
//! (`SECCOMP_RET_TRACE`), process creation counted there, and what would end the run
//! elsewhere (a notified call) stopped there too, so the tracer can name it; and what is
//! only harmless inside namespaces refused. Nothing else stops: an ordinary program runs at native speed. Pure.

use super::calls::FILE_CALLS;
use crate::seccomp::arch::Arch;
use crate::seccomp::bpf::{Action, Policy, Rule};
use std::collections::BTreeMap;

/// The tracer's data for a file call to check.
pub const FILE: u16 = 1;
/// The tracer's data for a call the profile forbids: the run ends, naming it.
pub const DISALLOWED: u16 = 2;
/// The tracer's data for a call that makes a process or thread: counted against the limit.
pub const SPAWN: u16 = 3;

/// Calls that make processes or threads.
pub const SPAWN_CALLS: &[&str] = &["clone", "clone3", "fork", "vfork"];

/// Calls that ptrace mode refuses (EPERM) even where the profile allows them: what the
/// other modes' namespaces make harmless is not harmless on the host. No sockets (a Unix
/// socket's path is not checked, and there is no empty network namespace), nothing on
/// other processes, no mount or root changes. A profile that already refuses or forbids
/// one keeps its rule.
pub const REFUSED: &[&str] = &[
    "socket",
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
    for nr in names(REFUSED) {
        let allowed = match policy.rules.get(&nr) {
            None => policy.default == Action::Allow,
            Some(Rule::Always(a)) => *a == Action::Allow,
            Some(Rule::Arg { .. } | Rule::AnyBit { .. }) => true,
        };
        if allowed {
            policy.rules.insert(nr, Rule::Always(Action::Errno(EPERM)));
        }
    }
    policy
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
            assert_eq!(
                verdict(&p, arch, "process_vm_readv"),
                Action::Errno(EPERM).ret()
            );
            // The default profile's refusals stay refusals.
            assert_eq!(verdict(&p, arch, "reboot"), Action::Errno(1).ret());
        }
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
