//! The container's root filesystem: a pure [`plan`], the real host's view of it ([`host`]),
//! and the syscalls that carry it out in the set-up child ([`apply`]).

pub mod apply;
pub mod host;
pub mod plan;

pub use plan::{Bind, MountPlan, PlanError, RootSpec};
