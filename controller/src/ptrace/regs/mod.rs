//! Where a stopped syscall's number, arguments and return value sit in the general
//! registers (`PTRACE_GETREGSET`, `NT_PRSTATUS`), and how a call is skipped, for each
//! architecture the tracer runs on: one file each. Pure: the tracer reads the registers as
//! bytes and these say what they mean.

mod aarch64;
mod arm;
mod i386;
mod x86_64;

pub use aarch64::AARCH64;
pub use arm::ARM;
pub use i386::I386;
pub use x86_64::X86_64;

/// How an architecture lets a tracer cancel the stopped call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Write -1 to the syscall-number register of the register set (x86: `orig_rax`).
    NumberRegister,
    /// Write -1 to the separate `NT_ARM_SYSTEM_CALL` register set (aarch64).
    SystemCallSet,
    /// `PTRACE_SET_SYSCALL` with -1 (32-bit ARM).
    SetSyscallRequest,
}

/// One architecture's general registers as the kernel lays them out for a tracer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Its name.
    pub name: &'static str,
    /// Bytes per register: 8 or 4.
    pub word: usize,
    /// Registers in the set.
    pub words: usize,
    /// The register holding the syscall number at a syscall stop.
    pub number: usize,
    /// The registers holding arguments 0 to 5.
    pub args: [usize; 6],
    /// The register the return value goes to.
    pub ret: usize,
    /// How a call is skipped.
    pub skip: Skip,
}

/// A stopped call as the registers give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The syscall number.
    pub number: u32,
    /// The six arguments, zero-extended.
    pub args: [u64; 6],
}

impl Layout {
    /// The layout of the architecture runbox is built for.
    pub const fn native() -> &'static Layout {
        #[cfg(target_arch = "x86_64")]
        return &X86_64;
        #[cfg(target_arch = "aarch64")]
        return &AARCH64;
        #[cfg(target_arch = "arm")]
        return &ARM;
        #[cfg(target_arch = "x86")]
        return &I386;
    }

    /// Bytes of the whole register set.
    pub const fn size(&self) -> usize {
        self.word * self.words
    }

    fn get(&self, raw: &[u8], index: usize) -> u64 {
        let at = index * self.word;
        let mut bytes = [0u8; 8];
        bytes[..self.word].copy_from_slice(&raw[at..at + self.word]);
        u64::from_ne_bytes(bytes)
    }

    fn put(&self, raw: &mut [u8], index: usize, value: u64) {
        let at = index * self.word;
        raw[at..at + self.word].copy_from_slice(&value.to_ne_bytes()[..self.word]);
    }

    /// The call in `raw` (a register set of this layout), or `None` if it is too short.
    pub fn call(&self, raw: &[u8]) -> Option<Call> {
        if raw.len() < self.size() {
            return None;
        }
        Some(Call {
            number: self.get(raw, self.number) as u32,
            args: self.args.map(|i| self.get(raw, i)),
        })
    }

    /// Sets the return value in `raw` to `-errno` and, where the number register is how a
    /// call is skipped, the number to -1. The other [`Skip`] kinds need their own request
    /// besides writing `raw` back.
    pub fn fail_with(&self, raw: &mut [u8], errno: i32) {
        let minus = |v: i64| v as u64;
        self.put(raw, self.ret, minus(-i64::from(errno)));
        if self.skip == Skip::NumberRegister {
            self.put(raw, self.number, minus(-1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register set whose register i holds 0x100 + i.
    fn numbered(layout: &Layout) -> Vec<u8> {
        let mut raw = vec![0; layout.size()];
        for i in 0..layout.words {
            layout.put(&mut raw, i, 0x100 + i as u64);
        }
        raw
    }

    #[test]
    fn each_layout_reads_its_own_registers() {
        for layout in [&X86_64, &AARCH64, &ARM, &I386] {
            let raw = numbered(layout);
            let call = layout.call(&raw).unwrap();
            assert_eq!(call.number, 0x100 + layout.number as u32, "{}", layout.name);
            assert_eq!(call.args, layout.args.map(|i| 0x100 + i as u64));
            assert_eq!(layout.call(&raw[..raw.len() - 1]), None, "too short");
            let mut all = layout.args.to_vec();
            all.push(layout.number);
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 7, "{}: registers overlap", layout.name);
            assert!(all.iter().all(|&i| i < layout.words));
        }
    }

    #[test]
    fn failing_a_call_sets_minus_errno_and_skips_by_the_arch_s_means() {
        for layout in [&X86_64, &AARCH64, &ARM, &I386] {
            let mut raw = numbered(layout);
            layout.fail_with(&mut raw, libc::EACCES);
            let ret = layout.get(&raw, layout.ret);
            let mask = if layout.word == 8 {
                u64::MAX
            } else {
                u32::MAX as u64
            };
            assert_eq!(
                ret,
                (-(libc::EACCES as i64)) as u64 & mask,
                "{}",
                layout.name
            );
            let number = layout.get(&raw, layout.number);
            match layout.skip {
                Skip::NumberRegister => assert_eq!(number, mask),
                _ => assert_eq!(number, 0x100 + layout.number as u64),
            }
        }
    }

    #[test]
    fn the_known_register_positions() {
        // x86_64: orig_rax is register 15, rdi 14; aarch64: x8 and x0; arm: r7 and r0;
        // i386: orig_eax 11, ebx 0 (<sys/user.h> of each).
        assert_eq!(
            (X86_64.number, X86_64.args[0], X86_64.size()),
            (15, 14, 216)
        );
        assert_eq!(
            (AARCH64.number, AARCH64.args[0], AARCH64.size()),
            (8, 0, 272)
        );
        assert_eq!((ARM.number, ARM.args[0], ARM.size()), (7, 0, 72));
        assert_eq!((I386.number, I386.args[0], I386.size()), (11, 0, 68));
    }
}
