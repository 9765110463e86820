//! The compiled filters decide what their policies say, on every architecture, for every
//! syscall number; and they agree with seccompiler where seccompiler has a backend.

use super::arch::Arch;
use super::bpf::{compile, Action, Insn, Policy, Rule};
use super::interp::{run, Call};
use super::profile::builtin;

const ARCHES: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Arm];
/// Argument values that exercise the conditional rules.
const ARG0: [u64; 4] = [0, 1, 2, 0xffff_ffff];

/// What the policy says, evaluated directly.
fn expected(policy: &Policy, call: &Call) -> u32 {
    match policy.rules.get(&call.nr) {
        None => policy.default.ret(),
        Some(Rule::Always(action)) => action.ret(),
        Some(Rule::Arg {
            arg,
            values,
            when_equal,
            otherwise,
        }) => {
            let value = call.args[*arg as usize] as u32;
            if values.contains(&value) {
                when_equal.ret()
            } else {
                otherwise.ret()
            }
        }
        Some(Rule::AnyBit {
            arg,
            mask,
            when_any,
            otherwise,
        }) => {
            if call.args[*arg as usize] as u32 & mask != 0 {
                when_any.ret()
            } else {
                otherwise.ret()
            }
        }
    }
}

fn every_call(arch: Arch) -> impl Iterator<Item = Call> {
    (0..1100u32)
        .chain([u32::MAX - 1, u32::MAX])
        .flat_map(move |nr| {
            ARG0.into_iter().map(move |a| Call {
                nr,
                arch: arch.audit(),
                args: [a, 0, 0, 0, 0, 0],
            })
        })
}

#[test]
fn built_in_profiles_decide_as_their_policies_on_every_architecture() {
    for arch in ARCHES {
        for name in ["default", "strict"] {
            let policy = builtin(name, arch).unwrap();
            let prog = compile(&policy);
            for call in every_call(arch) {
                let in_foreign_range = arch.foreign_from().is_some_and(|f| call.nr >= f);
                let want = if in_foreign_range {
                    Action::KillProcess.ret()
                } else {
                    expected(&policy, &call)
                };
                assert_eq!(
                    run(&prog, &call),
                    want,
                    "{arch:?} {name} nr {} arg0 {:#x}",
                    call.nr,
                    call.args[0]
                );
            }
            // Another architecture's calls are killed whatever their number.
            let mut foreign = Call {
                nr: 0,
                arch: 0x4000_0003,
                args: [0; 6],
            }; // i386
            for nr in [0, 1, 59, 101] {
                foreign.nr = nr;
                assert_eq!(
                    run(&prog, &foreign),
                    Action::KillProcess.ret(),
                    "{arch:?} {name}"
                );
            }
        }
    }
}

#[test]
fn the_default_profile_refuses_what_the_issue_lists_and_allows_the_rest() {
    let arch = Arch::native();
    let prog = compile(&builtin("default", arch).unwrap());
    let decide = |name: &str, arg0: u64| {
        let nr = arch.number(name).unwrap_or_else(|| panic!("{name}"));
        run(
            &prog,
            &Call {
                nr,
                arch: arch.audit(),
                args: [arg0, 0, 0, 0, 0, 0],
            },
        )
    };
    let eperm = Action::Errno(1).ret();
    for name in [
        "mount",
        "unshare",
        "ptrace",
        "bpf",
        "io_uring_setup",
        "keyctl",
        "reboot",
        "open_by_handle_at",
    ] {
        assert_eq!(decide(name, 0), eperm, "{name}");
    }
    assert_eq!(decide("socket", 2), eperm, "AF_INET");
    assert_eq!(decide("socket", 1), Action::Allow.ret(), "AF_UNIX");
    assert_eq!(
        decide("personality", 0xffff_ffff),
        Action::Allow.ret(),
        "the query"
    );
    assert_eq!(
        decide("personality", 0x0040_0000),
        eperm,
        "READ_IMPLIES_EXEC"
    );
    for name in ["read", "write", "clone", "execve", "futex", "openat"] {
        assert_eq!(decide(name, 0), Action::Allow.ret(), "{name}");
    }
}

#[test]
fn filters_stay_short() {
    for arch in ARCHES {
        for name in ["default", "strict"] {
            let len = compile(&builtin(name, arch).unwrap()).len();
            assert!(len < 200, "{arch:?} {name}: {len} instructions");
        }
    }
}

/// The same policy in seccompiler's terms: one match action for the listed calls, one
/// mismatch action for the rest; a conditional allow becomes a match on "not equal".
fn seccompiler_program(policy: &Policy, arch: seccompiler::TargetArch) -> Vec<Insn> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    // seccompiler has no user notification: Trap stands in for Notify (see `same`).
    let to = |a: Action| match a {
        Action::Allow => SeccompAction::Allow,
        Action::Errno(e) => SeccompAction::Errno(u32::from(e)),
        Action::KillProcess => SeccompAction::KillProcess,
        Action::Notify => SeccompAction::Trap,
        Action::Trace(data) => SeccompAction::Trace(u32::from(data)),
    };
    let mut rules = std::collections::BTreeMap::new();
    let mut match_action = None;
    for (&nr, rule) in &policy.rules {
        let (action, conditions) = match rule {
            Rule::Always(action) => (*action, vec![]),
            Rule::Arg {
                arg,
                values,
                when_equal,
                otherwise,
            } => {
                assert_eq!(*when_equal, policy.default, "expressible in seccompiler");
                let conditions = values
                    .iter()
                    .map(|&v| {
                        SeccompCondition::new(
                            *arg as u8,
                            SeccompCmpArgLen::Dword,
                            SeccompCmpOp::Ne,
                            u64::from(v),
                        )
                        .unwrap()
                    })
                    .collect();
                (*otherwise, vec![SeccompRule::new(conditions).unwrap()])
            }
            Rule::AnyBit {
                arg,
                mask,
                when_any,
                otherwise,
            } => {
                assert_eq!(*when_any, policy.default, "expressible in seccompiler");
                let none_set = SeccompCondition::new(
                    *arg as u8,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::MaskedEq(u64::from(*mask)),
                    0,
                )
                .unwrap();
                (*otherwise, vec![SeccompRule::new(vec![none_set]).unwrap()])
            }
        };
        assert!(match_action.is_none_or(|m| m == action), "one match action");
        match_action = Some(action);
        rules.insert(i64::from(nr), conditions);
    }
    let filter =
        SeccompFilter::new(rules, to(policy.default), to(match_action.unwrap()), arch).unwrap();
    let program: seccompiler::BpfProgram = filter.try_into().unwrap();
    program
        .iter()
        .map(|i| Insn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

#[test]
fn runbox_and_seccompiler_agree_on_x86_64_and_aarch64() {
    for (arch, target) in [
        (Arch::X86_64, seccompiler::TargetArch::x86_64),
        (Arch::Aarch64, seccompiler::TargetArch::aarch64),
    ] {
        for name in ["default", "strict"] {
            let policy = builtin(name, arch).unwrap();
            let ours = compile(&policy);
            let theirs = seccompiler_program(&policy, target);
            for call in every_call(arch).filter(|c| arch.foreign_from().is_none_or(|f| c.nr < f)) {
                let their_action = match run(&theirs, &call) {
                    0x0003_0000 => Action::Notify.ret(), // SECCOMP_RET_TRAP, standing in
                    other => other,
                };
                let what = format!("{arch:?} {name} nr {} arg0 {:#x}", call.nr, call.args[0]);
                assert_eq!(run(&ours, &call), their_action, "{what}");
            }
            println!(
                "{arch:?} {name}: runbox {} instructions, seccompiler {}",
                ours.len(),
                theirs.len()
            );
        }
    }
}

#[test]
fn notifying_policies_allow_the_listener_hand_over() {
    for arch in ARCHES {
        let policy = builtin("strict", arch).unwrap();
        assert!(policy.notifies());
        let prog = compile(&policy);
        for name in ["futex", "execve"] {
            let nr = arch.number(name).unwrap();
            assert_eq!(
                run(
                    &prog,
                    &Call {
                        nr,
                        arch: arch.audit(),
                        args: [0; 6]
                    }
                ),
                Action::Allow.ret(),
                "{arch:?} {name}"
            );
        }
    }
}

/// A filter goes ahead of its request (init installs it in the next run's process before
/// the request comes) only if it allows, whatever their arguments, every call made after
/// it there; on every architecture.
#[test]
fn a_filter_goes_ahead_only_if_it_allows_every_call_made_after_it() {
    use super::{profile::add_walls, Filter};
    for arch in ARCHES {
        let walled = |name: &str| {
            let mut policy = builtin(name, arch).unwrap();
            add_walls(&mut policy, arch);
            policy
        };
        let default = walled("default");
        assert!(Filter::compile(&default, false).ahead, "{arch:?}: default");
        // strict notifies (a listener), and refuses chdir, dup3, recvmsg.
        assert!(!Filter::compile(&walled("strict"), false).ahead, "{arch:?}");
        // ptrace mode's filters are installed by their own path.
        assert!(!Filter::compile(&default, true).ahead, "{arch:?}: traced");
        for name in runbox_shared::CALLS_AFTER_AHEAD_FILTER {
            let Some(nr) = arch.number(name) else {
                continue;
            };
            for rule in [
                Rule::Always(Action::Errno(1)),
                Rule::Always(Action::KillProcess),
                Rule::Arg {
                    arg: 0,
                    values: vec![3],
                    when_equal: Action::Errno(1),
                    otherwise: Action::Allow,
                },
            ] {
                let mut refusing = default.clone();
                refusing.rules.insert(nr, rule.clone());
                let filter = Filter::compile(&refusing, false);
                assert!(!filter.ahead, "{arch:?}: {name} under {rule:?}");
            }
        }
        // A policy that refuses everything else still goes ahead.
        let mut only_those = Policy {
            default: Action::Errno(1),
            ..default.clone()
        };
        only_those.rules.clear();
        for name in runbox_shared::CALLS_AFTER_AHEAD_FILTER {
            if let Some(nr) = arch.number(name) {
                only_those.rules.insert(nr, Rule::Always(Action::Allow));
            }
        }
        assert!(Filter::compile(&only_those, false).ahead, "{arch:?}");
    }
}
