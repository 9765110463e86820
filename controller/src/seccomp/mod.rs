//! Syscall policies: built on the host as classic BPF ([`bpf`]), one per profile and
//! architecture ([`profile`], [`arch`]), cached, and shipped to init as bytes, which installs
//! them last before execve.

pub mod arch;
pub mod bpf;
pub mod interp;
pub mod profile;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The filter bytes of a built-in profile for the native architecture (empty for `none`),
/// compiled once per process. `None` for an unknown profile.
pub fn filter(profile: &str) -> Option<std::sync::Arc<Vec<u8>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, std::sync::Arc<Vec<u8>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bytes) = cache.get(profile) {
        return Some(bytes.clone());
    }
    if !profile::BUILTIN.contains(&profile) {
        return None;
    }
    let bytes = profile::builtin(profile, arch::Arch::native())
        .map_or_else(Vec::new, |p| bpf::encode(&bpf::compile(&p)));
    let bytes = std::sync::Arc::new(bytes);
    cache.insert(profile.to_string(), bytes.clone());
    Some(bytes)
}

#[cfg(test)]
mod tests;
