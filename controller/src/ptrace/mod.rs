//! ptrace mode: the UOJ way, for hosts without namespaces. The program runs on the host
//! with rlimits and a seccomp filter whose file syscalls stop in a tracer; the tracer
//! checks each path against the run's file sets and lets the call go, fails it with EACCES,
//! or ends the run.
//!
//! Pure parts: path resolution as the program sees it ([`path`]), the table of file
//! syscalls ([`calls`]), the decision on one call ([`check`]), the register layouts
//! ([`regs`]) and the filter ([`filter`]); the file sets and settings they judge by are
//! [`crate::file_policy`], plain data below this module. The rest makes syscalls: the program's start ([`launch`]), the tracer
//! ([`tracer`]), the limits kept from outside ([`watchdog`]), the CPU a run and its tracer
//! share ([`cpu`]), the program's path ([`program`]), the working directory ([`workdir`]),
//! and the run ([`run()`]).

pub mod calls;
pub mod check;
pub mod cpu;
pub mod filter;
pub mod interpreter;
pub mod launch;
pub mod path;
pub mod program;
pub mod regs;
pub mod run;
pub mod tracer;
pub mod watchdog;
pub mod workdir;

pub use run::run;
