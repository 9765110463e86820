//! i386: `struct user_regs_struct` of a 32-bit kernel (17 registers of 4 bytes). The
//! number is in `orig_eax`; arguments in ebx, ecx, edx, esi, edi, ebp; the result in eax.
//! A call is skipped by setting `orig_eax` to -1.
//!
//! Used by a tracer built for i386. A tracer built for x86_64 never stops an i386 call:
//! its filter checks the architecture first and kills a program that makes one (an
//! `int $0x80` from a 64-bit program, or a 32-bit program), so no 32-bit call goes
//! through unchecked.

use super::{Layout, Skip};

const EBX: usize = 0;
const ECX: usize = 1;
const EDX: usize = 2;
const ESI: usize = 3;
const EDI: usize = 4;
const EBP: usize = 5;
const EAX: usize = 6;
const ORIG_EAX: usize = 11;

/// The i386 layout.
pub const I386: Layout = Layout {
    name: "i386",
    word: 4,
    words: 17,
    number: ORIG_EAX,
    args: [EBX, ECX, EDX, ESI, EDI, EBP],
    ret: EAX,
    skip: Skip::NumberRegister,
};
