//! A classic-BPF interpreter for seccomp programs, to test what a compiled filter decides
//! without the kernel: every syscall number, every architecture.

use super::bpf::{Insn, JA, JEQ, JGE, JSET, LD_ABS, RET};

/// `BPF_JMP | BPF_JGT | BPF_K`, `BPF_ALU | BPF_AND | BPF_K`: not emitted by runbox, but by
/// seccompiler, which the tests compare with.
const JGT: u16 = 0x25;
const AND: u16 = 0x54;

/// `struct seccomp_data`, as far as the filters look.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call {
    /// Syscall number.
    pub nr: u32,
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// Arguments (low 32 bits are what filters here compare).
    pub args: [u64; 6],
}

impl Call {
    fn word(&self, offset: u32) -> u32 {
        match offset {
            0 => self.nr,
            4 => self.arch,
            o if (16..64).contains(&o) && o % 4 == 0 => {
                let arg = self.args[((o - 16) / 8) as usize];
                if (o - 16) % 8 == 0 {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("load at offset {offset}"),
        }
    }
}

/// Runs `prog` on `call` and returns the `SECCOMP_RET_*` value. Panics on what the kernel
/// would refuse to load (a jump out of the program, an unknown instruction).
pub fn run(prog: &[Insn], call: &Call) -> u32 {
    let mut acc = 0u32;
    let mut pc = 0usize;
    loop {
        let insn = prog
            .get(pc)
            .unwrap_or_else(|| panic!("fell off the program at {pc}"));
        pc += 1;
        match insn.code {
            LD_ABS => acc = call.word(insn.k),
            JEQ => pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf }),
            JGE => pc += usize::from(if acc >= insn.k { insn.jt } else { insn.jf }),
            JGT => pc += usize::from(if acc > insn.k { insn.jt } else { insn.jf }),
            JSET => pc += usize::from(if acc & insn.k != 0 { insn.jt } else { insn.jf }),
            AND => acc &= insn.k,
            JA => pc += insn.k as usize,
            RET => return insn.k,
            code => panic!("unknown instruction {code:#x}"),
        }
    }
}
