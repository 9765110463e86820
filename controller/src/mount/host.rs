//! The real host, as the planner sees it.

use super::plan::{Entry, HostView};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::Path;

/// The host's filesystem, through `lstat`, `stat` and `readdir`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFs;

fn kind(meta: io::Result<fs::Metadata>, path: &Path) -> Entry {
    match meta {
        Err(_) => Entry::Missing,
        Ok(m) if m.file_type().is_symlink() => {
            fs::read_link(path).map_or(Entry::Missing, Entry::Symlink)
        }
        Ok(m) if m.is_dir() => Entry::Dir,
        Ok(_) => Entry::File,
    }
}

impl HostView for HostFs {
    fn entry(&self, path: &Path) -> Entry {
        kind(fs::symlink_metadata(path), path)
    }

    fn resolve(&self, path: &Path) -> Entry {
        kind(fs::metadata(path), path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }
}
