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
}

/// A profile's filter (from the process's configuration) for the native architecture,
/// compiled once per process. `None` for an unknown profile.
pub fn filter(profile: &str) -> Option<Arc<Filter>> {
    /// Compiled filters by profile.
    type Cache = Mutex<HashMap<String, Arc<Filter>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(filter) = cache.get(profile) {
        return Some(filter.clone());
    }
    let filter = match crate::config::current()
        .get(profile)?
        .policy(arch::Arch::native())
    {
        None => Filter::default(),
        Some(policy) => Filter {
            listener: policy.notifies(),
            bytes: bpf::encode(&bpf::compile(&policy)),
        },
    };
    let filter = Arc::new(filter);
    cache.insert(profile.to_string(), filter.clone());
    Some(filter)
}

#[cfg(test)]
mod tests;
