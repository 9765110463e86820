//! A ptrace run's working directory: the one given (`--dir`), or a fresh one of its own,
//! owned by the run's uid and removed afterwards; those of controllers killed mid-run
//! are swept.

use crate::error::Error;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The name of a run's own working directory: this prefix, the controller's pid, a number
/// ([`crate::leftovers`]).
const NAME_PREFIX: &str = "runbox-ptrace-";

/// The run's working directory: the one given, or a fresh one of its own, removed when
/// dropped.
#[derive(Debug)]
pub struct WorkDir {
    /// Where it is (canonical).
    pub path: PathBuf,
    own: bool,
}

impl WorkDir {
    /// `given`, checked to be a directory, or a fresh one of its own, owned by `owner` if
    /// the program runs as another uid.
    pub fn new(given: Option<&Path>, owner: Option<u32>) -> Result<WorkDir, Error> {
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
        // Once per process, those of controllers killed mid-run, as with their cgroups.
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| {
            crate::leftovers::sweep(&std::env::temp_dir(), NAME_PREFIX, |dir| {
                let _ = crate::output::remove_tree(dir);
            })
        });
        let path = std::env::temp_dir().join(crate::leftovers::name(NAME_PREFIX));
        std::fs::create_dir(&path)
            .map_err(|e| Error::io(format!("mkdir {}", path.display()), e))?;
        let dir = WorkDir { path, own: true };
        if let Some(id) = owner {
            std::os::unix::fs::chown(&dir.path, Some(id), Some(id))
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
            // However deep the run nested it (a recursive removal could overflow the stack).
            let _ = crate::output::remove_tree(&self.path);
        }
    }
}
