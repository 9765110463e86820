//! Round trips of every message, and the decoder's answers to bad datagrams.

use super::*;

fn sample_run() -> Run<'static> {
    let mut argv = Vec::new();
    argv.push("/bin/echo\0").unwrap();
    argv.push("hello world\0").unwrap();
    let mut env = Vec::new();
    env.push("PATH=/usr/bin:/bin\0").unwrap();
    let mut rlimits = Vec::new();
    rlimits
        .push(Rlimit {
            resource: Resource::Stack,
            soft: 8 << 20,
            hard: u64::MAX,
        })
        .unwrap();
    Run {
        argv,
        env,
        cwd: "/w\0",
        search_path: "/usr/bin:/bin\0",
        rlimits,
        seccomp: &[0x06, 0, 0, 0, 0, 0, 0xff, 0x7f],
        seccomp_listener: true,
        seccomp_ahead: false,
        fds: Vec::from_slice(&[0, 1, 2]).unwrap(),
        wall_limit_us: 3_000_000,
        program_ids: true,
    }
}

fn every_reply() -> [Reply; 8] {
    let finished = Finished {
        exit: Exit::Code(3),
        user_us: 1234,
        sys_us: 56,
        max_rss_kib: 812,
        wall_us: 4000,
        killed: None,
    };
    [
        Reply::Ready,
        Reply::Started { pid: 2 },
        Reply::Finished(finished),
        Reply::Finished(Finished {
            exit: Exit::Signal(9),
            killed: Some(KillReason::WallLimit),
            ..finished
        }),
        Reply::Failed(Failure {
            step: Step::Exec,
            errno: 2,
            index: 1,
        }),
        Reply::Finished(Finished {
            exit: Exit::Signal(9),
            killed: Some(KillReason::DisallowedSyscall {
                nr: 101,
                arch: 0xc000_003e,
            }),
            ..finished
        }),
        Reply::Malformed(WireError::Version(7)),
        Reply::Malformed(WireError::Decode),
    ]
}

#[test]
fn every_request_round_trips() {
    let mut buf = [0u8; MAX_MESSAGE];
    for request in [Request::Run(sample_run()), Request::Kill, Request::Ahead] {
        let datagram = encode(&request, &mut buf).unwrap();
        assert_eq!(datagram[0], VERSION);
        assert_eq!(decode_request(datagram, 3), Ok(request));
    }
}

#[test]
fn every_reply_round_trips() {
    let mut buf = [0u8; 256];
    for reply in every_reply() {
        let datagram = encode(&reply, &mut buf).unwrap();
        assert_eq!(decode_reply(datagram), Ok(reply));
    }
}

#[test]
fn decoded_strings_borrow_the_datagram() {
    let mut buf = [0u8; 1024];
    let datagram = encode(&Request::Run(sample_run()), &mut buf).unwrap();
    let Ok(Request::Run(run)) = decode_request(datagram, 3) else {
        panic!("not a run");
    };
    let range = datagram.as_ptr_range();
    assert!(range.contains(&run.argv[1].as_ptr()));
}

#[test]
fn empty_oversized_and_foreign_datagrams_are_errors() {
    assert_eq!(decode_request(&[], 0), Err(WireError::Empty));
    let big = [VERSION; MAX_MESSAGE + 1];
    assert_eq!(decode_request(&big, 0), Err(WireError::TooLarge));
    assert_eq!(decode_request(&[9, 1], 0), Err(WireError::Version(9)));
    assert_eq!(decode_reply(&[0]), Err(WireError::Version(0)));
    assert_eq!(decode_request(&[VERSION, 200], 0), Err(WireError::Decode));
}

#[test]
fn strings_without_their_nul_are_refused() {
    let mut buf = [0u8; 1024];
    let mut run = sample_run();
    run.cwd = "/w";
    let datagram = encode(&Request::Run(run), &mut buf).unwrap();
    assert_eq!(decode_request(datagram, 3), Err(WireError::BadString));

    let mut run = sample_run();
    run.argv[0] = "/bin/e\0cho\0";
    let datagram = encode(&Request::Run(run), &mut buf).unwrap();
    assert_eq!(decode_request(datagram, 3), Err(WireError::BadString));

    let mut run = sample_run();
    run.argv.clear();
    let datagram = encode(&Request::Run(run), &mut buf).unwrap();
    assert_eq!(decode_request(datagram, 3), Err(WireError::BadString));
}

#[test]
fn stdio_must_name_a_passed_fd() {
    let mut buf = [0u8; 1024];
    let datagram = encode(&Request::Run(sample_run()), &mut buf).unwrap();
    assert_eq!(decode_request(datagram, 2), Err(WireError::BadStdio));
    // A group's member: fds 3 and 4 too, one passed fd serving two of them.
    let mut run = sample_run();
    run.fds = Vec::from_slice(&[0, 1, 2, 3, 3]).unwrap();
    let datagram = encode(&Request::Run(run.clone()), &mut buf).unwrap();
    assert_eq!(decode_request(datagram, 4), Ok(Request::Run(run.clone())));
    assert_eq!(decode_request(datagram, 3), Err(WireError::BadStdio));
    // Without stdio.
    run.fds = Vec::from_slice(&[0, 1]).unwrap();
    let datagram = encode(&Request::Run(run), &mut buf).unwrap();
    assert_eq!(decode_request(datagram, 3), Err(WireError::BadStdio));
}

#[test]
fn too_many_arguments_do_not_decode() {
    // Encode MAX_ARGS + 1 strings by hand: a Vec<&str> has no such bound.
    let mut body = [0u8; 4096];
    let mut at = 0;
    body[at] = 0; // Request::Run
    at += 1;
    body[at..at + 2].copy_from_slice(&[0x81, 0x02]); // varint 257
    at += 2;
    for _ in 0..=MAX_ARGS {
        body[at..at + 3].copy_from_slice(&[2, b'a', 0]);
        at += 3;
    }
    let mut datagram = [0u8; 4097];
    datagram[0] = VERSION;
    datagram[1..=at].copy_from_slice(&body[..at]);
    assert_eq!(decode_request(&datagram[..=at], 3), Err(WireError::Decode));
}

#[test]
fn truncations_of_a_valid_request_never_panic() {
    let mut buf = [0u8; 1024];
    let datagram = encode(&Request::Run(sample_run()), &mut buf).unwrap();
    for len in 0..datagram.len() {
        assert!(decode_request(&datagram[..len], 3).is_err(), "len {len}");
    }
}

#[test]
fn random_bytes_never_panic() {
    // xorshift: deterministic, no dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut datagram = [0u8; 300];
    for round in 0..20_000 {
        let len = (round % datagram.len()) + 1;
        for byte in datagram[..len].iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        datagram[0] = VERSION;
        let _ = decode_request(&datagram[..len], 3);
        let _ = decode_reply(&datagram[..len]);
    }
}

#[test]
fn steps_describe_themselves() {
    assert_eq!(Step::Exec.describe(), "execute the program");
}
