//! aarch64: `struct user_pt_regs` (x0-x30, sp, pc, pstate: 34 registers of 8 bytes). The
//! number is in x8, arguments in x0-x5, the result in x0. Writing x8 does not change the
//! call: it is skipped through the `NT_ARM_SYSTEM_CALL` register set.

use super::{Layout, Skip};

/// The aarch64 layout.
pub const AARCH64: Layout = Layout {
    name: "aarch64",
    word: 8,
    words: 34,
    number: 8,
    args: [0, 1, 2, 3, 4, 5],
    ret: 0,
    skip: Skip::SystemCallSet,
};
