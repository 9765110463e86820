//! ptrace mode (issue 6), being built: so far its pure parts, the file policy
//! ([`fileset`]), the resolution of paths as the traced program sees them ([`path`]) and
//! the table of file syscalls with their path arguments and access ([`calls`]).
//! The tracer, the per-architecture register layouts and the CLI mode are to come; nothing
//! here is reachable from `runbox run` yet.

pub mod calls;
pub mod fileset;
pub mod path;
