//! What a controller creates on the host for a while (its cgroups, ptrace mode's work
//! directories) is named `<prefix><controller pid>-<n>`, so that what a controller killed
//! mid-run leaves behind can be told apart and swept by the next one, once that pid is gone.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh name `<prefix><this process's pid>-<n>`, `n` new in this process.
pub fn name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}", std::process::id())
}

/// The controller pid in a name `<prefix><pid>-<n>`.
pub fn owner(name: &str, prefix: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix(prefix)?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes, with `remove`, the entries of `dir` named `<prefix><pid>-<n>` whose controller
/// process is gone. What cannot be removed is left.
pub fn sweep(dir: &Path, prefix: &str, remove: impl Fn(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| owner(n, prefix)) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_controller() {
        let made = name("c-");
        assert_eq!(owner(&made, "c-"), Some(std::process::id()));
        assert_ne!(name("c-"), made, "a new n each time");
        assert_eq!(owner("c-1234-0", "c-"), Some(1234));
        assert_eq!(owner("runbox-ptrace-1234-7", "runbox-ptrace-"), Some(1234));
        assert_eq!(owner("c-1234", "c-"), None);
        assert_eq!(owner("other", "c-"), None);
        assert_eq!(owner("c-x-1", "c-"), None);
        assert_eq!(owner("runbox-test-1234-7", "runbox-ptrace-"), None);
    }

    #[test]
    fn only_dead_controllers_entries_are_swept() {
        let dir = std::env::temp_dir().join(format!("runbox-leftovers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // No process has pid 0x7fff_fff0 (above pid_max's ceiling of 4194304).
        let dead = dir.join("x-2147483632-0");
        let live = dir.join(name("x-"));
        let other = dir.join("y-2147483632-0");
        for d in [&dead, &live, &other] {
            std::fs::create_dir(d).unwrap();
        }
        sweep(&dir, "x-", |p| std::fs::remove_dir(p).unwrap());
        assert!(!dead.exists() && live.exists() && other.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
