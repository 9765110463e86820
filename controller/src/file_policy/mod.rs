//! ptrace mode's file policy as plain data: the file sets (UOJ's FileSet: an exact file, or
//! `dir/` for a tree; write implies read implies stat) and the run's choices (what a denied
//! access does, which rlimit carries memory). Pure. A profile and a run spec carry it; the
//! tracer asks it.

pub mod fileset;
pub mod settings;

pub use settings::PtraceSettings;
