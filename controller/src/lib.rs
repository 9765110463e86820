//! # runbox: a Linux sandbox for online judges
//!
//! Runs untrusted programs under exact limits and reports what happened. Two isolation modes
//! share one set-up (`container::spawn_sandbox`): fresh user, pid, mount, ipc, uts, net and
//! cgroup namespaces, a read-only root of bind mounts on a tmpfs ([`mount`]), no
//! capabilities.
//!
//! - [`container`]: a pre-forked container with the embedded init (crate `runbox-init`) as
//!   PID 1, serving runs over a socket ([`runbox_shared`] is the protocol);
//! - [`namespace`]: the same isolation for one run;
//! - [`ptrace`]: for hosts without namespaces, the program on the host under rlimits and a
//!   filter whose file calls stop in a tracer that checks each path.
//!
//! Pure parts, tested without privileges: [`mount::plan`], [`units`], [`spec`], [`status`],
//! [`result`], and ptrace mode's policy, paths, call table, registers and filter. Every
//! syscall goes through [`sys`], the only module allowed `unsafe`, with three listed
//! exceptions: the places that fork a child that must stay async-signal-safe until it execs
//! (`container::spawn_sandbox`, `namespace::waiter::run` and `ptrace::launch::spawn`),
//! since `sys::process::clone` cannot make that promise for its caller.
#![deny(unsafe_code)]

pub mod batch;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod container;
pub mod error;
pub mod leftovers;
pub mod mount;
pub mod namespace;
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
pub mod supervise;
pub mod sys;
pub mod units;

pub use container::{Container, ContainerConfig, Outcome};
pub use error::Error;
pub use result::RunResult;
pub use spec::{Limits, Mode, RunSpec};
pub use status::Status;
