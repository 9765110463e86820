//! The architectures runbox builds filters for: their audit tokens and syscall tables, from
//! one place each (the `syscalls` crate's tables; no number written by hand).

use std::str::FromStr;

/// 32-bit ARM's private syscalls (`__ARM_NR_BASE` 0x0f0000 + n, the kernel's
/// arch/arm/include/uapi/asm/unistd.h), which the `syscalls` crate's table lacks. glibc's
/// static start-up calls `set_tls`; found by the emulated arm run.
pub const ARM_PRIVATE: &[(&str, u32)] = &[
    ("breakpoint", 0x0f_0001),
    ("cacheflush", 0x0f_0002),
    ("usr26", 0x0f_0003),
    ("usr32", 0x0f_0004),
    ("set_tls", 0x0f_0005),
    ("get_tls", 0x0f_0006),
];

/// An architecture a filter is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64 (its x32 ABI is refused).
    X86_64,
    /// aarch64.
    Aarch64,
    /// 32-bit ARM EABI.
    Arm,
}

impl Arch {
    /// The architecture runbox runs on.
    pub const fn native() -> Arch {
        #[cfg(target_arch = "x86_64")]
        return Arch::X86_64;
        #[cfg(target_arch = "aarch64")]
        return Arch::Aarch64;
        #[cfg(target_arch = "arm")]
        return Arch::Arm;
    }

    /// The architecture whose `AUDIT_ARCH_*` is `audit`.
    pub fn of_audit(audit: u32) -> Option<Arch> {
        [Arch::X86_64, Arch::Aarch64, Arch::Arm]
            .into_iter()
            .find(|arch| arch.audit() == audit)
    }

    /// `AUDIT_ARCH_*`, what `seccomp_data.arch` holds for it.
    pub const fn audit(self) -> u32 {
        const AUDIT_ARCH_64BIT: u32 = 0x8000_0000;
        const AUDIT_ARCH_LE: u32 = 0x4000_0000;
        const EM_X86_64: u32 = 62;
        const EM_AARCH64: u32 = 183;
        const EM_ARM: u32 = 40;
        match self {
            Arch::X86_64 => EM_X86_64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
            Arch::Aarch64 => EM_AARCH64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
            Arch::Arm => EM_ARM | AUDIT_ARCH_LE,
        }
    }

    /// Syscall numbers from which on a call belongs to another ABI sharing the arch token:
    /// x32 on x86_64 (`__X32_SYSCALL_BIT`).
    pub const fn foreign_from(self) -> Option<u32> {
        match self {
            Arch::X86_64 => Some(0x4000_0000),
            Arch::Aarch64 | Arch::Arm => None,
        }
    }

    /// The number of a syscall by name, if this architecture has it.
    pub fn number(self, name: &str) -> Option<u32> {
        if self == Arch::Arm {
            if let Some(&(_, nr)) = ARM_PRIVATE.iter().find(|(n, _)| *n == name) {
                return Some(nr);
            }
        }
        let id = match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name).ok()?.id(),
            Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name).ok()?.id(),
            Arch::Arm => syscalls::arm::Sysno::from_str(name).ok()?.id(),
        };
        u32::try_from(id).ok()
    }

    /// The name of a syscall number, if this architecture has one.
    pub fn name(self, nr: u32) -> Option<&'static str> {
        if self == Arch::Arm {
            if let Some(&(name, _)) = ARM_PRIVATE.iter().find(|(_, n)| *n == nr) {
                return Some(name);
            }
        }
        let nr = nr as usize;
        Some(match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::new(nr)?.name(),
            Arch::Aarch64 => syscalls::aarch64::Sysno::new(nr)?.name(),
            Arch::Arm => syscalls::arm::Sysno::new(nr)?.name(),
        })
    }

    /// True if any of the three architectures knows the name.
    pub fn any_knows(name: &str) -> bool {
        [Arch::X86_64, Arch::Aarch64, Arch::Arm]
            .iter()
            .any(|a| a.number(name).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_tables() {
        assert_eq!(Arch::X86_64.audit(), 0xc000_003e);
        assert_eq!(Arch::Aarch64.audit(), 0xc000_00b7);
        assert_eq!(Arch::Arm.audit(), 0x4000_0028);
        assert_eq!(Arch::X86_64.number("ptrace"), Some(101));
        assert_eq!(Arch::Aarch64.number("ptrace"), Some(117));
        assert_eq!(Arch::Arm.number("ptrace"), Some(26));
        assert_eq!(Arch::Aarch64.number("iopl"), None);
        assert_eq!(Arch::X86_64.name(165), Some("mount"));
        assert!(!Arch::any_knows("frobnicate"));
    }

    #[test]
    fn arm_s_private_calls_are_known_on_arm_only() {
        assert_eq!(Arch::Arm.number("set_tls"), Some(0x0f_0005));
        assert_eq!(Arch::Arm.name(983_045), Some("set_tls"));
        assert_eq!(Arch::Aarch64.number("set_tls"), None);
        assert_eq!(Arch::X86_64.name(983_045), None);
        for (name, _) in ARM_PRIVATE {
            assert_eq!(
                syscalls::arm::Sysno::from_str(name).ok(),
                None,
                "{name} is in the crate now"
            );
        }
    }
}
