//! 32-bit ARM (EABI): `struct pt_regs` (r0-r15, cpsr, orig_r0: 18 registers of 4 bytes).
//! The number is in r7, arguments in r0-r5, the result in r0. A call is skipped with the
//! `PTRACE_SET_SYSCALL` request.

use super::{Layout, Skip};

/// The 32-bit ARM layout.
pub const ARM: Layout = Layout {
    name: "arm",
    word: 4,
    words: 18,
    number: 7,
    args: [0, 1, 2, 3, 4, 5],
    ret: 0,
    skip: Skip::SetSyscallRequest,
};
