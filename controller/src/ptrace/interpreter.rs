//! What the kernel runs besides the file an exec names: a script's `#!` interpreter, and an
//! ELF's `PT_INTERP` (its dynamic loader). The kernel opens them itself, with no call the
//! tracer could stop at, so an exec is judged for them too ([`super::check`]). Pure: the
//! file's bytes come from a reader.

/// The interpreter a file's exec loads, as the file names it: the `#!` line's first word,
/// or the ELF's `PT_INTERP` (without its NUL). `header` is the file's start (at least its
/// first 128 bytes where the file has them); `read_at(offset, len)` reads further.
pub fn interpreter(
    header: &[u8],
    read_at: &dyn Fn(u64, usize) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    if let Some(line) = header.strip_prefix(b"#!") {
        // The kernel takes the line's first word after blanks (BINPRM_BUF_SIZE bounds it).
        let line = line.split(|&b| b == b'\n').next().unwrap_or(line);
        let word = line
            .split(|&b| b == b' ' || b == b'\t')
            .find(|w| !w.is_empty())?;
        return Some(word.to_vec());
    }
    elf_interp(header, read_at)
}

/// The ELF's `PT_INTERP` string, if it has one.
fn elf_interp(header: &[u8], read_at: &dyn Fn(u64, usize) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    const PT_INTERP: u32 = 3;
    if header.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match header.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = *header.get(5)? == 1;
    let num = |at: usize, len: usize| -> Option<u64> {
        let bytes = header.get(at..at + len)?;
        let mut v = 0u64;
        for (i, &b) in bytes.iter().enumerate() {
            let shift = if little { i } else { len - 1 - i };
            v |= u64::from(b) << (8 * shift);
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = match wide {
        true => (num(32, 8)?, num(54, 2)?, num(56, 2)?),
        false => (num(28, 4)?, num(42, 2)?, num(44, 2)?),
    };
    let table = read_at(phoff, usize::try_from(phentsize * phnum).ok()?)?;
    let field = |entry: &[u8], at: usize, len: usize| -> Option<u64> {
        let bytes = entry.get(at..at + len)?;
        let mut v = 0u64;
        for (i, &b) in bytes.iter().enumerate() {
            let shift = if little { i } else { len - 1 - i };
            v |= u64::from(b) << (8 * shift);
        }
        Some(v)
    };
    for entry in table.chunks(usize::try_from(phentsize).ok()?.max(1)) {
        if field(entry, 0, 4)? != u64::from(PT_INTERP) {
            continue;
        }
        let (offset, size) = match wide {
            true => (field(entry, 8, 8)?, field(entry, 32, 8)?),
            false => (field(entry, 4, 4)?, field(entry, 16, 4)?),
        };
        // The kernel refuses a PT_INTERP longer than PATH_MAX.
        let size = usize::try_from(size).ok().filter(|&s| s <= 4096)?;
        let mut path = read_at(offset, size)?;
        if let Some(nul) = path.iter().position(|&b| b == 0) {
            path.truncate(nul);
        }
        return Some(path);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(bytes: &[u8]) -> impl Fn(u64, usize) -> Option<Vec<u8>> + '_ {
        move |at, len| {
            bytes
                .get(at as usize..at as usize + len)
                .map(<[u8]>::to_vec)
        }
    }

    #[test]
    fn a_script_names_its_interpreter_on_the_first_line() {
        let none = |_: u64, _: usize| None;
        assert_eq!(
            interpreter(b"#!/bin/sh\necho", &none),
            Some(b"/bin/sh".to_vec())
        );
        assert_eq!(
            interpreter(b"#!  /usr/bin/env python3 -u\n", &none),
            Some(b"/usr/bin/env".to_vec())
        );
        assert_eq!(
            interpreter(b"#!relative\n", &none),
            Some(b"relative".to_vec())
        );
        assert_eq!(interpreter(b"#!\n", &none), None);
        assert_eq!(interpreter(b"echo hi\n", &none), None);
    }

    #[test]
    fn an_elf_names_its_loader_in_pt_interp() {
        // This test binary itself is a 64-bit little-endian ELF; a dynamic one has PT_INTERP.
        let me = std::fs::read("/proc/self/exe").unwrap();
        let interp = interpreter(&me[..128], &from(&me));
        if let Some(path) = interp {
            assert!(
                path.starts_with(b"/"),
                "{:?}",
                String::from_utf8_lossy(&path)
            );
        }
        // A hand-made 64-bit ELF with one PT_INTERP naming /secret/prog.
        let mut elf = vec![0u8; 64 + 56 + 16];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // 64-bit
        elf[5] = 1; // little-endian
        elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = 64;
        elf[ph..ph + 4].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        elf[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        elf[ph + 32..ph + 40].copy_from_slice(&13u64.to_le_bytes()); // p_filesz
        elf[120..133].copy_from_slice(b"/secret/prog\0");
        assert_eq!(
            interpreter(&elf[..128], &from(&elf)),
            Some(b"/secret/prog".to_vec())
        );
        // Truncated or foreign: nothing, never a panic.
        assert_eq!(interpreter(&elf[..10], &from(&elf[..10])), None);
        assert_eq!(interpreter(b"\x7fELF\x09", &from(b"")), None);
    }
}
