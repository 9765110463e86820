//! The embedded init: a static binary within its size budget, and a decoder that answers
//! thousands of random, truncated and oversized datagrams with an error and keeps serving.

use runbox::container::init_image::INIT;
use runbox::sys::socket;
use runbox::{Container, ContainerConfig, Outcome, RunSpec};
use runbox_shared::{self as wire, Reply, Request, MAX_MESSAGE, VERSION};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// The x86_64 budget from the issue; other architectures are smaller.
const INIT_BUDGET: usize = 64 * 1024;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[test]
fn init_is_a_static_executable_within_budget() {
    assert!(
        INIT.len() <= INIT_BUDGET,
        "init is {} bytes, budget {INIT_BUDGET}",
        INIT.len()
    );
    assert_eq!(&INIT[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(
        INIT[5], 1,
        "little-endian expected on the supported targets"
    );
    let is_64 = INIT[4] == 2;
    const ET_EXEC: u16 = 2;
    assert_eq!(
        u16_at(INIT, 16),
        ET_EXEC,
        "not a fixed-address executable (PIE or shared object)"
    );
    let (phoff, phentsize, phnum) = if is_64 {
        let off = u64::from_le_bytes(INIT[32..40].try_into().unwrap()) as usize;
        (off, u16_at(INIT, 54) as usize, u16_at(INIT, 56) as usize)
    } else {
        let off = u32::from_le_bytes(INIT[28..32].try_into().unwrap()) as usize;
        (off, u16_at(INIT, 42) as usize, u16_at(INIT, 44) as usize)
    };
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let kind = u32::from_le_bytes(INIT[at..at + 4].try_into().unwrap());
        assert!(
            kind != PT_INTERP && kind != PT_DYNAMIC,
            "program header {i} is {kind}: not static"
        );
    }
}

/// Sends one datagram (with the container's own socket fds riding along as SCM_RIGHTS, to
/// check that init closes what comes with a bad message) and returns the reply, if any.
fn exchange(container: &Container, datagram: &[u8], with_fds: bool) -> Option<Reply> {
    let fd = container.socket().as_raw_fd();
    let stdio = std::io::stderr();
    let fds = if with_fds {
        vec![stdio.as_fd(); 3]
    } else {
        vec![]
    };
    socket::send_with_fds(fd, datagram, &fds).expect("send to init");
    let mut buf = [0u8; 256];
    let len = socket::recv_timeout(fd, &mut buf, Some(Duration::from_secs(5))).expect("recv")?;
    Some(wire::decode_reply(&buf[..len]).expect("a decodable reply"))
}

fn init_fd_count(container: &Container) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", container.pid()))
        .unwrap()
        .count()
}

#[test]
fn init_answers_malformed_datagrams_and_keeps_serving() {
    let mut container = Container::create(&ContainerConfig::default()).expect("a container");
    let fds_at_start = init_fd_count(&container);

    let spec = RunSpec::new(vec!["/bin/true".into()]);
    let wire_run = spec.to_wire().unwrap();
    let mut buf = vec![0u8; MAX_MESSAGE];
    let valid = wire::encode(&Request::Run(wire_run.run()), &mut buf)
        .unwrap()
        .to_vec();

    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    // Every truncation of a valid request, the empty datagram included.
    datagrams.extend((0..valid.len()).map(|len| valid[..len].to_vec()));
    // Other versions.
    datagrams.extend(
        (0..=255u8)
            .filter(|&v| v != VERSION)
            .map(|v| [&[v][..], &valid[1..]].concat()),
    );
    // Random bodies. A body that starts with 1 is a well-formed kill order, and one that
    // starts with 2 an ahead order, which init answers with silence (when nothing runs), so
    // those are left out.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    while datagrams.len() < 3000 {
        let len = 1 + (next() % 200) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        d[0] = VERSION;
        if !matches!(d.get(1), Some(1 | 2)) {
            datagrams.push(d);
        }
    }
    // Larger than any message may be.
    datagrams.push(vec![VERSION; MAX_MESSAGE + 100]);

    for (i, datagram) in datagrams.iter().enumerate() {
        match exchange(&container, datagram, i % 7 == 0) {
            Some(Reply::Malformed(_)) => {}
            // A random body may decode to a run of a nonsense program; it must fail cleanly.
            Some(Reply::Started { .. }) => match exchange(&container, &[VERSION, 1], false) {
                Some(Reply::Finished(_) | Reply::Failed(_)) => {}
                other => panic!("datagram {i}: after started, {other:?}"),
            },
            other => panic!("datagram {i} ({} bytes): {other:?}", datagram.len()),
        }
    }
    assert_eq!(
        init_fd_count(&container),
        fds_at_start,
        "init kept fds that came with bad datagrams"
    );

    let null = std::fs::File::open("/dev/null").unwrap();
    let outcome = container
        .run(
            &runbox::mount::plan::default_room(),
            &wire_run.run(),
            &[null.as_fd(), null.as_fd(), null.as_fd()],
            &spec.limits,
        )
        .unwrap();
    match outcome {
        Outcome::Finished { finished, .. } => assert_eq!(finished.exit, wire::Exit::Code(0)),
        other => panic!("{other:?}"),
    }
}
