//! runbox-bigstatic: a program with a 700 MB static (bss) array that it touches in full.
//! Under a smaller memory limit the OOM killer ends it, possibly before anything could be
//! measured: runbox must still say memory_limit_exceeded.

static mut BIG: [u8; 700 << 20] = [0; 700 << 20];

fn main() {
    // SAFETY: single-threaded; nothing else refers to BIG.
    #[allow(unsafe_code)]
    let big = unsafe { &mut *std::ptr::addr_of_mut!(BIG) };
    for page in big.chunks_mut(4096) {
        page[0] = 1;
    }
    println!("{}", std::hint::black_box(big[4096]));
}
