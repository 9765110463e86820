//! # runbox: a Linux sandbox for online judges
//!
//! Runs untrusted programs under exact limits and reports what happened. Every entry (the
//! CLI, `runbox batch`, the library) goes through one lifecycle, [`run::run`].
//!
//! **The API** an embedding judge uses: [`run()`] with [`RunOptions`] and a [`Config`] (and
//! a [`Pool`] of warm containers, or the lower-level `Pool::run` with a [`RunSpec`]), which
//! give a [`RunResult`] with its [`Status`], or an [`Error`]. The other modules are runbox's
//! internals: public only for its own tests and benches, hidden from these docs, with no
//! promise of stability.
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

// The API an embedding judge uses (see the crate docs, and the re-exports below).
pub mod config;
pub mod error;
pub mod files;
pub mod group;
pub mod options;
pub mod pool;
pub mod result;
pub mod run;
pub mod spec;
pub mod status;

// The seam: runbox's internals, public only so that its tests and benches can reach in,
// hidden from the docs, with no promise of stability.
#[doc(hidden)]
pub mod answer;
#[doc(hidden)]
pub mod batch;
#[doc(hidden)]
pub mod cancel;
#[doc(hidden)]
pub mod cgroup;
#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod container;
#[doc(hidden)]
pub mod file_policy;
#[doc(hidden)]
pub mod given_path;
#[doc(hidden)]
pub mod leftovers;
#[doc(hidden)]
pub mod mount;
#[doc(hidden)]
pub mod output;
#[doc(hidden)]
pub mod ptrace;
#[doc(hidden)]
pub mod sandbox_ids;
#[doc(hidden)]
pub mod seccomp;
#[doc(hidden)]
pub mod serve;
#[doc(hidden)]
pub mod stdio;
#[doc(hidden)]
pub mod supervise;
#[doc(hidden)]
pub mod sys;
#[doc(hidden)]
pub mod units;
#[doc(hidden)]
pub mod worker;

pub use config::Config;
pub use container::{Container, ContainerConfig};
pub use error::Error;
pub use files::{FileSpec, FileStore, FilesOut};
pub use options::{OutputDefault, RunOptions};
pub use pool::Pool;
pub use result::RunResult;
pub use run::{run, Refused};
pub use spec::{Limits, Mode, RunSpec};
pub use status::Outcome;
pub use status::Status;
