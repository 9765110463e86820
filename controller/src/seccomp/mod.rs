//! Syscall policies: built on the host as classic BPF ([`bpf`]) from a policy per profile
//! and architecture ([`profile`], [`arch`]), and shipped to init as bytes, which installs
//! them last before execve. Pure: no configuration is read here (a profile compiles and
//! caches its own filter).

pub mod arch;
pub mod bpf;
pub mod interp;
pub mod profile;

use std::sync::{Arc, OnceLock};

/// A compiled filter, ready for a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Classic BPF, `struct sock_filter` array, native endian; empty for none.
    pub bytes: Vec<u8>,
    /// Install it with a listener that init holds (the policy notifies).
    pub listener: bool,
    /// Made for ptrace mode: file calls stop in the tracer (ptrace mode's filter module).
    /// Such a filter is useless without a tracer, and any other filter lets file calls
    /// through unchecked: each mode refuses the other's.
    pub traced: bool,
    /// It allows, unconditionally, every call init's child makes after a filter installed
    /// ahead of its request (`runbox_shared::CALLS_AFTER_AHEAD_FILTER`), and has no
    /// listener: a container may install it in the next run's process before the request
    /// comes. A filter that refuses any of them is installed for its run, last, as ever.
    pub ahead: bool,
}

impl Filter {
    /// Compiles `policy`; `traced` marks ptrace mode's.
    pub fn compile(policy: &bpf::Policy, traced: bool) -> Filter {
        let listener = policy.notifies();
        Filter {
            listener,
            bytes: bpf::encode(&bpf::compile(policy)),
            traced,
            ahead: !listener && !traced && allows_calls_after_ahead(policy),
        }
    }
}

/// True when `policy` allows every call of `CALLS_AFTER_AHEAD_FILTER` whatever its
/// arguments (a call its architecture lacks is never made there).
fn allows_calls_after_ahead(policy: &bpf::Policy) -> bool {
    let Some(arch) = arch::Arch::of_audit(policy.arch) else {
        return false;
    };
    runbox_shared::CALLS_AFTER_AHEAD_FILTER
        .iter()
        .filter_map(|name| arch.number(name))
        .all(|nr| policy.allows_always(nr))
}

/// The built-in `default` profile's filter, with the walls (the default of `RunSpec::new`,
/// which no configuration changes), compiled once.
pub fn default_filter() -> Arc<Filter> {
    static DEFAULT: OnceLock<Arc<Filter>> = OnceLock::new();
    let made = || {
        let arch = arch::Arch::native();
        let mut policy = profile::builtin("default", arch).unwrap_or(bpf::Policy {
            arch: arch.audit(),
            foreign_from: arch.foreign_from(),
            rules: Default::default(),
            default: bpf::Action::Allow,
        });
        profile::add_walls(&mut policy, arch);
        Arc::new(Filter::compile(&policy, false))
    };
    Arc::clone(DEFAULT.get_or_init(made))
}

#[cfg(test)]
mod tests;
