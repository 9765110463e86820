//! # runbox: a Linux sandbox for online judges
//!
//! Runs untrusted programs under exact limits and reports what happened. Every entry (the
//! CLI, `runbox batch`, the library) goes through one lifecycle, [`run::run`].
//!
//! - [`container`]: a container with the embedded init (crate `runbox-init`) as PID 1, in
//!   fresh user, pid, mount, ipc, uts, net and cgroup namespaces, on a read-only root of bind
//!   mounts on a tmpfs ([`mount`]), without capabilities, serving runs over a socket
//!   ([`runbox_shared`] is the protocol): pre-forked in a [`pool`] (container mode), or
//!   made for one run (namespace mode);
//! - [`ptrace`]: for hosts without namespaces, the program on the host under rlimits and a
//!   filter whose file calls stop in a tracer that checks each path.
//!
//! Pure parts, tested without privileges: [`mount::plan`], [`units`], [`spec`], [`status`],
//! [`result`], and ptrace mode's policy, paths, call table, registers and filter. Every
//! syscall goes through [`sys`], the only module allowed `unsafe`, with four listed
//! exceptions: the places that fork a child that must stay async-signal-safe until it execs
//! (`container::spawn_sandbox` and `ptrace::launch::spawn`), since `sys::process::clone`
//! cannot make that promise for its caller; and the two children's closing of inherited fds
//! before exec (`container::setup::exec_init`, `ptrace::launch`'s `prepare_and_exec`), whose
//! `unsafe fn`s need the caller's word that the fds are its own.
#![deny(unsafe_code)]

pub mod batch;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod container;
pub mod error;
pub mod file_policy;
pub mod given_path;
pub mod leftovers;
pub mod mount;
pub mod options;
pub mod output;
pub mod pool;
pub mod ptrace;
pub mod result;
pub mod run;
pub mod sandbox_ids;
pub mod seccomp;
pub mod spec;
pub mod status;
pub mod stdio;
pub mod supervise;
pub mod sys;
pub mod units;

pub use container::{Container, ContainerConfig};
pub use error::Error;
pub use result::RunResult;
pub use spec::{Limits, Mode, RunSpec};
pub use status::Outcome;
pub use status::Status;
