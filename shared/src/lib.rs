//! # The runbox wire protocol
//!
//! This crate is the one description of what the controller (on the host) and the container's
//! init (PID 1 inside the namespaces) say to each other. Both sides link it; nothing else
//! describes the protocol.
//!
//! ## Channel
//!
//! One `AF_UNIX` `SOCK_SEQPACKET` socket pair per container. Init holds its end as fd
//! [`INIT_SOCKET_FD`]. Every datagram is one message: a [`VERSION`] byte, then the message
//! encoded with postcard. No datagram is larger than [`MAX_MESSAGE`] bytes.
//!
//! ## Conversation
//!
//! ```text
//! controller                                   init (PID 1)
//!            <-- Reply::Ready                  once, when init starts serving
//! Request::Run + fds (SCM_RIGHTS) -->
//!            <-- Reply::Started { pid }        the program was forked
//! [Request::Kill -->]                          optional kill order while it runs
//!            <-- Reply::Finished | Reply::Failed
//! [Request::Ahead -->]                         the run's accounting is read: init may
//!                                              fork and filter the next program now
//! (next Request::Run ...)
//! ```
//!
//! A datagram init cannot decode is answered with [`Reply::Malformed`] and init goes on
//! serving. When the controller's end closes, init exits, and with it every process of the
//! container. The same [`Reply`] values travel from the controller's own forked set-up child
//! to the controller ([`Reply::Failed`] with a set-up [`Step`]).
//!
//! ## Zero-copy strings
//!
//! `argv`, `env`, `cwd` and `search_path` are `&str` slices of the receive buffer, each
//! **including a trailing NUL**, so that init can hand them to `execve` without copying.
//! [`Run::check`] verifies the terminators; [`decode_request`] calls it.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use heapless::Vec;
use serde::{Deserialize, Serialize};

pub mod handover;
mod step;
pub use step::Step;

/// The protocol version, the first byte of every datagram.
pub const VERSION: u8 = 3;
/// The largest datagram either side sends or accepts, version byte included.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most arguments a program may be given, `argv[0]` included.
pub const MAX_ARGS: usize = 256;
/// The most environment entries a program may be given.
pub const MAX_ENV: usize = 256;
/// The most resource limits one run may set.
pub const MAX_RLIMITS: usize = 12;
/// The most file descriptors one request may carry, and the most a program is given: its
/// fds 0 to `MAX_FDS - 1` (stdin, stdout, stderr, then the pipes of a group: fd 3, 4, ...).
pub const MAX_FDS: usize = 16;
/// The fd number at which init finds its end of the socket.
pub const INIT_SOCKET_FD: i32 = 3;
/// The uid and gid a program runs as inside its container; init is 0. The controller maps
/// each to a host id of the container's own, so that nothing the program does reaches init.
pub const PROGRAM_ID: u32 = 1;
/// The capabilities init keeps, in its container's user namespace only (bit numbers):
/// `CAP_KILL` (5), to kill every process of a run, which are another uid's;
/// `CAP_SETGID` (6), `CAP_SETUID` (7), to start each program as [`PROGRAM_ID`];
/// `CAP_SYS_PTRACE` (19), to take a program's seccomp listener with `pidfd_getfd`;
/// `CAP_SYS_ADMIN` (21), to give each program an IPC namespace of its own; `CAP_SETPCAP`
/// (8), to empty each program's bounding set. The program drops them from its bounding set,
/// and its switch to [`PROGRAM_ID`] clears the rest, before it executes.
pub const INIT_CAPABILITIES: u64 = 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 19 | 1 << 21;

/// A message from the controller to init.
// Decoded in place on init's stack (init has no allocator to box the large variant in).
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// Run one program. Its stdio fds travel with the datagram as SCM_RIGHTS.
    Run(#[serde(borrow)] Run<'a>),
    /// Kill the program that is running now (and everything else in the container).
    Kill,
    /// The last run is over and its accounting read: init may fork the next run's process
    /// now and take it as far as it can go before a request (a session of its own, the
    /// program's uid, no capabilities, the last run's filter), so that the next
    /// [`Request::Run`] with the same filter only hands it its fds and arguments. Sent
    /// after the controller has read the cgroup's counters, which that process's birth
    /// would otherwise charge to the run just ended. No reply.
    Ahead,
}

/// The calls init's forked child makes after it has installed a filter ahead of its
/// request ([`Request::Ahead`]): receive the request and its fds, put them in place, close
/// the rest, change directory, set the limits, execute, and on failure report and exit. A
/// filter may be installed ahead ([`Run::seccomp_ahead`]) only if it allows every one of
/// them unconditionally; the controller checks this by name for its architecture.
pub const CALLS_AFTER_AHEAD_FILTER: &[&str] = &[
    "recvmsg",
    "fcntl",
    "dup3",
    "close_range",
    "close",
    "chdir",
    "prlimit64",
    "futex",
    "execve",
    "exit",
    "exit_group",
];

/// One program to run.
///
/// Example, for `/bin/echo hi` with `PATH` set: `argv = ["/bin/echo\0", "hi\0"]`,
/// `env = ["PATH=/usr/bin:/bin\0"]`, `cwd = "/w\0"`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Run<'a> {
    /// The arguments, `argv[0]` first, each NUL-terminated.
    #[serde(borrow)]
    pub argv: Vec<&'a str, MAX_ARGS>,
    /// The whole environment of the program (`K=V`), each NUL-terminated.
    #[serde(borrow)]
    pub env: Vec<&'a str, MAX_ENV>,
    /// The working directory, NUL-terminated.
    pub cwd: &'a str,
    /// Colon-separated directories in which a bare `argv[0]` (one without `/`) is looked up,
    /// NUL-terminated.
    pub search_path: &'a str,
    /// Resource limits set in the child before `execve`.
    pub rlimits: Vec<Rlimit, MAX_RLIMITS>,
    /// A classic BPF program (`struct sock_filter` array, native endian) installed with
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` right before `execve`; empty for none.
    pub seccomp: &'a [u8],
    /// Install `seccomp` with a user-notification listener, which init holds: a call the
    /// filter notifies ends the run, and init reports which it was. The filter must allow
    /// `futex` and `execve`, which the hand-over of the listener uses.
    pub seccomp_listener: bool,
    /// `seccomp` allows every call of [`CALLS_AFTER_AHEAD_FILTER`] unconditionally, and has
    /// no listener: init may install it in a process forked ahead of the next request with
    /// the same filter ([`Request::Ahead`]). An empty `seccomp` is always installable ahead.
    pub seccomp_ahead: bool,
    /// The program's fds, from 0 on: entry `i` is the index of the passed fd that becomes
    /// its fd `i`. At least three (stdin, stdout, stderr); fds past the last are closed.
    pub fds: Vec<u8, MAX_FDS>,
    /// Wall-clock limit in microseconds from init's start of the run (its fork, or its
    /// hand-over to a process forked ahead); 0 for none. Init kills the program and
    /// everything else in the container when it passes.
    pub wall_limit_us: u64,
    /// Start the program as [`PROGRAM_ID`], another uid than init's (a container with two
    /// ids); `false` keeps init's uid and drops every capability (a container without root
    /// has one id).
    pub program_ids: bool,
}

/// A resource limit (`setrlimit`).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// Which resource.
    pub resource: Resource,
    /// The soft limit; `u64::MAX` is unlimited.
    pub soft: u64,
    /// The hard limit; `u64::MAX` is unlimited.
    pub hard: u64,
}

/// The resources a run may limit with `setrlimit`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `RLIMIT_CPU`, seconds.
    Cpu,
    /// `RLIMIT_FSIZE`, bytes.
    Fsize,
    /// `RLIMIT_DATA`, bytes.
    Data,
    /// `RLIMIT_STACK`, bytes.
    Stack,
    /// `RLIMIT_CORE`, bytes.
    Core,
    /// `RLIMIT_NPROC`, processes.
    Nproc,
    /// `RLIMIT_NOFILE`, descriptors.
    Nofile,
    /// `RLIMIT_AS`, bytes.
    As,
}

impl Resource {
    /// The resource's number for `setrlimit`. The asm-generic numbering, which x86_64,
    /// aarch64, arm and i386 all use.
    pub const fn number(self) -> u32 {
        match self {
            Resource::Cpu => 0,
            Resource::Fsize => 1,
            Resource::Data => 2,
            Resource::Stack => 3,
            Resource::Core => 4,
            Resource::Nproc => 6,
            Resource::Nofile => 7,
            Resource::As => 9,
        }
    }
}

/// A message to the controller, from init or from the controller's own set-up child.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Init has started and serves requests.
    Ready,
    /// The program was forked with this pid (as seen in the container).
    Started {
        /// The program's pid inside the container's pid namespace.
        pid: u32,
    },
    /// The program ran and ended.
    Finished(Finished),
    /// The program (or the container) could not be started.
    Failed(Failure),
    /// The request could not be decoded; nothing was run.
    Malformed(WireError),
}

/// How a program ended, and what it used.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Its exit code or the signal that ended it.
    pub exit: Exit,
    /// User CPU time in microseconds (`wait4` rusage).
    pub user_us: u64,
    /// System CPU time in microseconds (`wait4` rusage).
    pub sys_us: u64,
    /// Peak resident set size in KiB (`wait4` rusage `ru_maxrss`).
    pub max_rss_kib: u64,
    /// Wall-clock time in microseconds from init's start of the run to the exit.
    pub wall_us: u64,
    /// Set when init killed the run, and why.
    pub killed: Option<KillReason>,
}

/// How a process ended.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called `exit` with this code.
    Code(i32),
    /// This signal ended it.
    Signal(i32),
}

/// Why init killed a run.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// Its wall-clock limit passed.
    WallLimit,
    /// The controller sent [`Request::Kill`].
    KillOrder,
    /// The program made a call its filter sends to init's listener
    /// ([`Run::seccomp_listener`]): this one.
    DisallowedSyscall {
        /// The syscall number.
        nr: u32,
        /// The `AUDIT_ARCH_*` it was made under.
        arch: u32,
    },
}

/// A failed step: which one, the errno, and an index where the step has several parts
/// (the mount in the plan, the rlimit, the `PATH` entry).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The step that failed.
    pub step: Step,
    /// The errno it failed with (positive), or 0 where no syscall failed.
    pub errno: i32,
    /// Which part of the step, or 0.
    pub index: u32,
}

/// What is wrong with a datagram.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The datagram was empty.
    Empty,
    /// The datagram was larger than [`MAX_MESSAGE`] (or was truncated on receipt).
    TooLarge,
    /// The version byte was not [`VERSION`].
    Version(u8),
    /// postcard could not decode the body, or a bound was exceeded.
    Decode,
    /// A string lacked its trailing NUL, or held one inside.
    BadString,
    /// An `fds` index named an fd that did not come with the datagram, or fewer than three
    /// fds were given.
    BadStdio,
    /// A value could not be encoded into [`MAX_MESSAGE`] bytes.
    Encode,
}

impl WireError {
    /// A short description, in lower case.
    pub const fn describe(self) -> &'static str {
        match self {
            WireError::Empty => "empty message",
            WireError::TooLarge => "message too large",
            WireError::Version(_) => "unknown protocol version",
            WireError::Decode => "undecodable message",
            WireError::BadString => "string without its trailing nul, or with one inside",
            WireError::BadStdio => "fds names an fd that was not passed, or lacks stdio",
            WireError::Encode => "message does not fit",
        }
    }
}

impl<'a> Run<'a> {
    /// Checks what the type cannot: every string ends with exactly one NUL, `argv` is not
    /// empty, stdio is given, and the `fds` indices are below `passed_fds`.
    pub fn check(&self, passed_fds: usize) -> Result<(), WireError> {
        let strings = self.argv.iter().chain(self.env.iter());
        let all_terminated = strings
            .chain([&self.cwd, &self.search_path])
            .all(|s| is_nul_terminated(s));
        if !all_terminated || self.argv.is_empty() {
            return Err(WireError::BadString);
        }
        let stdio_given = self.fds.len() >= 3;
        if !stdio_given || self.fds.iter().any(|&i| usize::from(i) >= passed_fds) {
            return Err(WireError::BadStdio);
        }
        Ok(())
    }
}

/// True when `s` ends with a NUL and has no other.
fn is_nul_terminated(s: &str) -> bool {
    let bytes = s.as_bytes();
    matches!(bytes.split_last(), Some((0, rest)) if !rest.contains(&0))
}

/// Encodes a message (a [`Request`] or a [`Reply`]) into `buf`, version byte first, and
/// returns the datagram.
pub fn encode<'b, T: Serialize>(message: &T, buf: &'b mut [u8]) -> Result<&'b [u8], WireError> {
    let (version, body) = buf.split_first_mut().ok_or(WireError::Encode)?;
    *version = VERSION;
    let used = postcard::to_slice(message, body)
        .map_err(|_| WireError::Encode)?
        .len();
    if used + 1 > MAX_MESSAGE {
        return Err(WireError::Encode);
    }
    Ok(&buf[..used + 1])
}

/// Checks a datagram's size and version, and returns its body.
fn body(datagram: &[u8]) -> Result<&[u8], WireError> {
    match datagram.split_first() {
        None => Err(WireError::Empty),
        Some(_) if datagram.len() > MAX_MESSAGE => Err(WireError::TooLarge),
        Some((&VERSION, body)) => Ok(body),
        Some((&other, _)) => Err(WireError::Version(other)),
    }
}

/// Decodes a request datagram that came with `passed_fds` descriptors, borrowing its strings
/// from `datagram`. A [`Request::Run`] is [checked](Run::check).
pub fn decode_request(datagram: &[u8], passed_fds: usize) -> Result<Request<'_>, WireError> {
    let request: Request<'_> =
        postcard::from_bytes(body(datagram)?).map_err(|_| WireError::Decode)?;
    if let Request::Run(run) = &request {
        run.check(passed_fds)?;
    }
    Ok(request)
}

/// Decodes a reply datagram.
pub fn decode_reply(datagram: &[u8]) -> Result<Reply, WireError> {
    postcard::from_bytes(body(datagram)?).map_err(|_| WireError::Decode)
}

#[cfg(test)]
mod tests;
