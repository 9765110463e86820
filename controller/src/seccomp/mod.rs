//! Syscall policies: built on the host as classic BPF ([`bpf`]), one per profile and
//! architecture ([`profile`], [`arch`]), cached, and shipped to init as bytes, which installs
//! them last before execve.

pub mod arch;
pub mod bpf;
pub mod interp;
pub mod profile;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A compiled filter, ready for a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Classic BPF, `struct sock_filter` array, native endian; empty for none.
    pub bytes: Vec<u8>,
    /// Install it with a listener that init holds (the policy notifies).
    pub listener: bool,
    /// Made for ptrace mode: file calls stop in the tracer ([`crate::ptrace::filter`]).
    /// Such a filter is useless without a tracer, and any other filter lets file calls
    /// through unchecked: each mode refuses the other's.
    pub traced: bool,
}

/// A profile's filter (from the process's configuration) for the native architecture,
/// compiled once per process. `None` for an unknown profile.
pub fn filter(profile: &str) -> Option<Arc<Filter>> {
    cached(profile, false)
}

/// The ptrace-mode filter of a profile ([`crate::ptrace::filter::policy`]), compiled once
/// per process. `None` for an unknown profile.
pub fn ptrace_filter(profile: &str) -> Option<Arc<Filter>> {
    cached(profile, true)
}

fn cached(profile: &str, traced: bool) -> Option<Arc<Filter>> {
    /// Compiled filters by profile and kind.
    type Cache = Mutex<HashMap<(String, bool), Arc<Filter>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let key = (profile.to_string(), traced);
    if let Some(filter) = cache.get(&key) {
        return Some(filter.clone());
    }
    let arch = arch::Arch::native();
    let policy = crate::config::current().get(profile)?.policy(arch);
    let policy = match traced {
        true => crate::ptrace::filter::policy(Some(policy), arch),
        false => policy,
    };
    let filter = Filter {
        listener: policy.notifies(),
        bytes: bpf::encode(&bpf::compile(&policy)),
        traced,
    };
    let filter = Arc::new(filter);
    cache.insert(key, filter.clone());
    Some(filter)
}

#[cfg(test)]
mod tests;
