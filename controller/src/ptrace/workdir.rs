//! A ptrace run's working directory: the one given (`--dir`), or a fresh one of its own,
//! owned by the sandbox's uid and removed afterwards; those of controllers killed mid-run
//! are swept.

use crate::container::SANDBOX_ID;
use crate::error::Error;
use crate::sys::process;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The name of a run's own working directory: this prefix, the controller's pid, a number.
const WORK_DIR_PREFIX: &str = "runbox-ptrace-";

/// The pid of the controller that made a work directory named `name`.
fn work_dir_owner(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix(WORK_DIR_PREFIX)?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes the work directories of controllers that died without removing them (killed
/// mid-run), as the first run of a process does with their cgroups.
fn sweep_dead_controllers_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(work_dir_owner) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The run's working directory: the one given, or a fresh one of its own, removed when
/// dropped.
#[derive(Debug)]
pub struct WorkDir {
    /// Where it is (canonical).
    pub path: PathBuf,
    own: bool,
}

impl WorkDir {
    /// `given`, checked to be a directory, or a fresh one of its own.
    pub fn new(given: Option<&Path>) -> Result<WorkDir, Error> {
        if let Some(dir) = given {
            let path = std::fs::canonicalize(dir)
                .map_err(|e| Error::BadRequest(format!("--dir {}: {e}", dir.display())))?;
            if !path.is_dir() {
                return Err(Error::BadRequest(format!(
                    "--dir {}: not a directory",
                    dir.display()
                )));
            }
            return Ok(WorkDir { path, own: false });
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(sweep_dead_controllers_dirs);
        let path = std::env::temp_dir().join(format!(
            "{WORK_DIR_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path)
            .map_err(|e| Error::io(format!("mkdir {}", path.display()), e))?;
        let dir = WorkDir { path, own: true };
        if process::effective_uid() == 0 {
            std::os::unix::fs::chown(&dir.path, Some(SANDBOX_ID), Some(SANDBOX_ID))
                .map_err(|e| Error::io(format!("chown {}", dir.path.display()), e))?;
        }
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("chmod {}", dir.path.display()), e))?;
        Ok(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.own {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_dirs_name_their_controller() {
        assert_eq!(work_dir_owner("runbox-ptrace-1234-7"), Some(1234));
        assert_eq!(work_dir_owner("runbox-ptrace-1234"), None);
        assert_eq!(work_dir_owner("runbox-test-1234-7"), None);
    }
}
