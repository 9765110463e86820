//! Classic BPF for seccomp: the instruction, its encoding, and the compiler from a policy
//! (an action per syscall number, some conditional on an argument) to a program that finds
//! the number by binary search over ranges, so that a filter stays short however many
//! syscalls it names. Pure: tested by running the programs in [`super::interp`].

use std::collections::BTreeMap;

/// One `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Operation.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// `BPF_LD | BPF_W | BPF_ABS`.
pub const LD_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub const JEQ: u16 = 0x15;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub const JGE: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`: jump if `acc & k != 0`.
pub const JSET: u16 = 0x45;
/// `BPF_JMP | BPF_JA`.
pub const JA: u16 = 0x05;
/// `BPF_RET | BPF_K`.
pub const RET: u16 = 0x06;

/// Offsets in `struct seccomp_data`.
pub const NR: u32 = 0;
/// Offset of `arch`.
pub const ARCH: u32 = 4;
/// Offset of the low 32 bits of argument `i` (little-endian targets).
pub const fn arg_low(i: u32) -> u32 {
    16 + 8 * i
}

/// What the filter does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Let it through.
    Allow,
    /// Fail it with this errno.
    Errno(u16),
    /// Kill the whole process (it ends with SIGSYS).
    KillProcess,
    /// Suspend the call and tell the listener (init), which ends the run and names it.
    Notify,
    /// Stop in the ptrace tracer, which learns this value (ptrace mode).
    Trace(u16),
}

impl Action {
    /// The `SECCOMP_RET_*` value.
    pub const fn ret(self) -> u32 {
        match self {
            Action::Allow => 0x7fff_0000,
            Action::Errno(errno) => 0x0005_0000 | errno as u32,
            Action::KillProcess => 0x8000_0000,
            Action::Notify => 0x7fc0_0000,
            Action::Trace(data) => 0x7ff0_0000 | data as u32,
        }
    }
}

/// What a syscall gets: an action, or one that depends on the low 32 bits of an argument
/// (its value, or some of its bits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Always this action.
    Always(Action),
    /// `when_equal` if argument `arg` equals one of `values`, else `otherwise`.
    Arg {
        arg: u32,
        values: Vec<u32>,
        when_equal: Action,
        otherwise: Action,
    },
    /// `when_any` if argument `arg` has any bit of `mask` set, else `otherwise` (flag words:
    /// clone's namespace flags).
    AnyBit {
        arg: u32,
        mask: u32,
        when_any: Action,
        otherwise: Action,
    },
}

impl Rule {
    /// Every action the rule can give.
    pub fn actions(&self) -> impl Iterator<Item = Action> {
        let (a, b) = match *self {
            Rule::Always(a) => (a, a),
            Rule::Arg {
                when_equal,
                otherwise,
                ..
            } => (when_equal, otherwise),
            Rule::AnyBit {
                when_any,
                otherwise,
                ..
            } => (when_any, otherwise),
        };
        [a, b].into_iter()
    }

    /// The same rule with each of its actions replaced by `f`'s.
    pub fn map(&self, f: impl Fn(Action) -> Action) -> Rule {
        match self.clone() {
            Rule::Always(a) => Rule::Always(f(a)),
            Rule::Arg {
                arg,
                values,
                when_equal,
                otherwise,
            } => Rule::Arg {
                arg,
                values,
                when_equal: f(when_equal),
                otherwise: f(otherwise),
            },
            Rule::AnyBit {
                arg,
                mask,
                when_any,
                otherwise,
            } => Rule::AnyBit {
                arg,
                mask,
                when_any: f(when_any),
                otherwise: f(otherwise),
            },
        }
    }
}

/// A whole policy for one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `AUDIT_ARCH_*` of the only architecture allowed.
    pub arch: u32,
    /// Syscall numbers at and above this are refused as another ABI (x32 on x86_64).
    pub foreign_from: Option<u32>,
    /// The rule for each named syscall number.
    pub rules: BTreeMap<u32, Rule>,
    /// What every other syscall gets.
    pub default: Action,
}

impl Policy {
    /// True if call `nr` is allowed whatever its arguments (and no foreign ABI's).
    pub fn allows_always(&self, nr: u32) -> bool {
        let foreign = self.foreign_from.is_some_and(|from| nr >= from);
        !foreign
            && match self.rules.get(&nr) {
                None => self.default == Action::Allow,
                Some(rule) => *rule == Rule::Always(Action::Allow),
            }
    }

    /// True if some call goes to the listener.
    pub fn notifies(&self) -> bool {
        let notify = |r: &Rule| r.actions().any(|a| a == Action::Notify);
        self.default == Action::Notify || self.rules.values().any(notify)
    }
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A stretch of syscall numbers `[start, next start)` with one rule.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    start: u32,
    rule: Rule,
}

/// Makes `rule` hold from `start` on: replaces a segment that starts there, and merges
/// with the segment before when their rules are equal.
fn set_from(out: &mut Vec<Segment>, start: u32, rule: &Rule) {
    if out.last().is_some_and(|s| s.start == start) {
        out.pop();
    }
    if out.last().map(|s| &s.rule) != Some(rule) {
        out.push(Segment {
            start,
            rule: rule.clone(),
        });
    }
}

/// The number line cut into segments of equal rule, in ascending order.
fn segments(policy: &Policy) -> Vec<Segment> {
    let default = Rule::Always(policy.default);
    let mut out = vec![Segment {
        start: 0,
        rule: default.clone(),
    }];
    for (&nr, rule) in &policy.rules {
        set_from(&mut out, nr, rule);
        if nr < u32::MAX && !policy.rules.contains_key(&(nr + 1)) {
            set_from(&mut out, nr + 1, &default);
        }
    }
    out
}

/// Compiles a policy: check the architecture (anything else is killed), refuse foreign
/// ABIs, then a binary search over the segments.
pub fn compile(policy: &Policy) -> Vec<Insn> {
    let kill = Action::KillProcess.ret();
    let mut prog = vec![
        stmt(LD_ABS, ARCH),
        Insn {
            code: JEQ,
            jt: 1,
            jf: 0,
            k: policy.arch,
        },
        stmt(RET, kill),
        stmt(LD_ABS, NR),
    ];
    if let Some(from) = policy.foreign_from {
        prog.push(Insn {
            code: JGE,
            jt: 0,
            jf: 1,
            k: from,
        });
        prog.push(stmt(RET, kill));
    }
    prog.extend(search(&segments(policy)));
    prog
}

/// The program for a leaf: the accumulator holds the syscall number.
fn leaf(rule: &Rule) -> Vec<Insn> {
    match rule {
        Rule::Always(action) => vec![stmt(RET, action.ret())],
        Rule::Arg {
            arg,
            values,
            when_equal,
            otherwise,
        } => {
            let mut out = vec![stmt(LD_ABS, arg_low(*arg))];
            let n = values.len();
            for (i, &value) in values.iter().enumerate() {
                // Equal: jump to the `when_equal` return after the remaining comparisons.
                out.push(Insn {
                    code: JEQ,
                    jt: (n - i) as u8,
                    jf: 0,
                    k: value,
                });
            }
            out.push(stmt(RET, otherwise.ret()));
            out.push(stmt(RET, when_equal.ret()));
            out
        }
        Rule::AnyBit {
            arg,
            mask,
            when_any,
            otherwise,
        } => vec![
            stmt(LD_ABS, arg_low(*arg)),
            Insn {
                code: JSET,
                jt: 1,
                jf: 0,
                k: *mask,
            },
            stmt(RET, otherwise.ret()),
            stmt(RET, when_any.ret()),
        ],
    }
}

/// Binary search over sorted segments: `nr >= pivot` goes right.
fn search(segs: &[Segment]) -> Vec<Insn> {
    if segs.len() == 1 {
        return leaf(&segs[0].rule);
    }
    let mid = segs.len() / 2;
    let left = search(&segs[..mid]);
    let right = search(&segs[mid..]);
    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    if left.len() <= 255 {
        out.push(Insn {
            code: JGE,
            jt: left.len() as u8,
            jf: 0,
            k: segs[mid].start,
        });
        out.extend(left);
    } else {
        // Too far for an 8-bit offset: jump over an unconditional long jump.
        out.push(Insn {
            code: JGE,
            jt: 0,
            jf: 1,
            k: segs[mid].start,
        });
        out.push(stmt(JA, left.len() as u32));
        out.extend(left);
    }
    out.extend(right);
    out
}

/// The program as the kernel wants it: `struct sock_filter` array, native endian.
pub fn encode(prog: &[Insn]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(prog.len() * 8);
    for insn in prog {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    bytes
}
