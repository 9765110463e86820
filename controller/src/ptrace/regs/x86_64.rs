//! x86_64: `struct user_regs_struct` (27 registers of 8 bytes). The number is in
//! `orig_rax`; arguments in rdi, rsi, rdx, r10, r8, r9; the result in rax. A call is
//! skipped by setting `orig_rax` to -1.

use super::{Layout, Skip};

const R10: usize = 7;
const R9: usize = 8;
const R8: usize = 9;
const RAX: usize = 10;
const RDX: usize = 12;
const RSI: usize = 13;
const RDI: usize = 14;
const ORIG_RAX: usize = 15;

/// The x86_64 layout.
pub const X86_64: Layout = Layout {
    name: "x86_64",
    word: 8,
    words: 27,
    number: ORIG_RAX,
    args: [RDI, RSI, RDX, R10, R8, R9],
    ret: RAX,
    skip: Skip::NumberRegister,
};
