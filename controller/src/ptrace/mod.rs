//! ptrace mode (issue 6), being built: so far its two pure parts, the file policy
//! ([`fileset`]) and the resolution of paths as the traced program sees them ([`path`]).
//! The tracer, the per-architecture register layouts and the CLI mode are to come; nothing
//! here is reachable from `runbox run` yet.

pub mod fileset;
pub mod path;
