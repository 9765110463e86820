//! cgroup v2: one directory in the unified hierarchy.
//!
//! The development machines' cgroup2 has no controllers: `tests` below runs this code
//! against a fake cgroupfs tree in a temporary folder, and `scripts/emulated-x86.sh` runs
//! it for real, under systemd, in a booted Debian 12 guest.

use super::file::{self, CgFile, Result};
use super::Usage;
use std::path::{Path, PathBuf};

/// The controllers a run cgroup needs: memory and pids. CPU time comes from `cpu.stat`,
/// which every cgroup has, so `cpu` is enabled where the parent has it and not required
/// (Debian 12's user manager delegates only memory and pids).
pub const REQUIRED: [&str; 2] = ["memory", "pids"];
/// Enabled too where available.
pub const OPTIONAL: [&str; 1] = ["cpu"];

/// The `cgroup.subtree_control` write that enables what `parent` lacks of [`REQUIRED`] and
/// [`OPTIONAL`], given its `cgroup.controllers` (`available`) and `cgroup.subtree_control`
/// (`enabled`): `Ok(None)` when nothing is missing, `Err` naming a required controller
/// that is not available. Pure.
pub fn enable_write(available: &str, enabled: &str) -> std::result::Result<Option<String>, String> {
    let has = |text: &str, c: &str| text.split_whitespace().any(|e| e == c);
    if let Some(missing) = REQUIRED.iter().find(|c| !has(available, c)) {
        return Err(format!("the {missing} controller is not delegated to it"));
    }
    let wanted: Vec<String> = REQUIRED
        .iter()
        .chain(OPTIONAL.iter().filter(|c| has(available, c)))
        .filter(|c| !has(enabled, c))
        .map(|c| format!("+{c}"))
        .collect();
    Ok((!wanted.is_empty()).then(|| wanted.join(" ")))
}

/// Makes `parent` able to hold run cgroups: the controllers enabled in its subtree. The
/// kernel refuses (EBUSY) when `parent` holds processes itself and is not the root: then
/// runbox must run in a leaf of its own, below a delegated parent ([`super::delegation`]).
pub fn prepare_parent(parent: &Path) -> Result<()> {
    file::mkdir(parent)?;
    let control = parent.join("cgroup.subtree_control");
    let available = file::read(&parent.join("cgroup.controllers"))?;
    match enable_write(&available, &file::read(&control)?) {
        Ok(None) => Ok(()),
        Ok(Some(write)) => file::write(&control, &write),
        Err(why) => Err(file::CgroupError {
            what: "enable memory and pids in".into(),
            path: control,
            source: std::io::Error::other(why),
        }),
    }
}

/// One runbox cgroup in the unified hierarchy.
#[derive(Debug)]
pub struct V2Group {
    dir: PathBuf,
    cpu_stat: CgFile,
    /// memory.peak (Linux 5.19+), reset by a write through this fd (6.12+); `None` before 5.19.
    peak: Option<CgFile>,
    current: CgFile,
    events: CgFile,
    max: CgFile,
    pids_max: CgFile,
    /// cpu.stat has no reset: the usage at the last reset.
    cpu_base: std::cell::Cell<u64>,
    /// Where memory.peak could not be reset: what it and memory.current read at the last
    /// reset ([`peak_since`]).
    unreset: std::cell::Cell<Option<Unreset>>,
}

impl V2Group {
    /// Prepares `parent` ([`prepare_parent`]) and creates `parent/name` in it. The parent is
    /// shared: the drop of another process's (or thread's) last cgroup removes it, and that
    /// can fall between the two steps; then both are made again ([`file::again_while_vanished`]).
    pub fn create_in(parent: &Path, name: &str) -> Result<V2Group> {
        file::again_while_vanished(file::CREATE_ATTEMPTS, || {
            prepare_parent(parent)?;
            V2Group::create(parent, name)
        })
    }

    /// Creates `parent/name` (the parent prepared with [`prepare_parent`]; a missing parent
    /// is an error, not made again). A failure after the directory was made removes it.
    pub fn create(parent: &Path, name: &str) -> Result<V2Group> {
        let dir = parent.join(name);
        file::mkdir_in(&dir)?;
        V2Group::open(dir.clone()).inspect_err(|_| {
            // A new cgroup without processes: rmdir removes it with the files the kernel
            // made in it.
            let _ = file::rmdir(&dir);
        })
    }

    /// Sets up and opens the files of the new cgroup `dir`.
    fn open(dir: PathBuf) -> Result<V2Group> {
        file::write(&dir.join("memory.swap.max"), "0")?;
        // Writable from 6.12; before, read-only (root may open it for writing, and then
        // the write fails, which reset() finds).
        let peak = CgFile::open(&dir, "memory.peak", true)
            .or_else(|_| CgFile::open(&dir, "memory.peak", false))
            .ok();
        Ok(V2Group {
            cpu_stat: CgFile::open(&dir, "cpu.stat", false)?,
            peak,
            current: CgFile::open(&dir, "memory.current", false)?,
            events: CgFile::open(&dir, "memory.events", false)?,
            max: CgFile::open(&dir, "memory.max", true)?,
            pids_max: CgFile::open(&dir, "pids.max", true)?,
            cpu_base: 0.into(),
            unreset: None.into(),
            dir,
        })
    }

    /// The directory, open (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`), for clone3's
    /// `CLONE_INTO_CGROUP`.
    pub fn open_dir(&self) -> Result<std::os::fd::OwnedFd> {
        file::open_dir(&self.dir)
    }

    /// Moves a process into the cgroup.
    pub fn add(&self, pid: libc::pid_t) -> Result<()> {
        file::write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    /// Sets memory.max and pids.max.
    pub fn set_limits(&self, memory: u64, pids: u64) -> Result<()> {
        self.max.write(&memory.to_string())?;
        self.pids_max.write(&pids.to_string())
    }

    /// Starts a run's accounting: peak reset where the kernel can (else what the peak and
    /// the usage are now, for [`peak_since`]), CPU base recorded.
    pub fn reset(&self) -> Result<()> {
        let peak_reset = self
            .peak
            .as_ref()
            .is_some_and(|peak| peak.write("0").is_ok());
        let unreset = match (peak_reset, &self.peak) {
            (true, _) => None,
            (false, peak) => Some(Unreset {
                peak: peak.as_ref().map(CgFile::read_u64).transpose()?,
                current: self.current.read_u64()?,
            }),
        };
        self.unreset.set(unreset);
        self.cpu_base
            .set(self.cpu_stat.read_field("usage_usec")?.unwrap_or(0));
        Ok(())
    }

    /// Reclaims what the kernel can take back of `bytes` (page cache, dentries, inodes):
    /// `memory.reclaim` (5.19 and later). The kernel answers EAGAIN when it freed less than
    /// asked, which is no error here: what is left is what cannot be reclaimed.
    pub fn reclaim(&self, bytes: u64) -> Result<()> {
        match file::write(&self.dir.join("memory.reclaim"), &bytes.to_string()) {
            Err(e) if e.source.raw_os_error() == Some(libc::EAGAIN) => Ok(()),
            other => other,
        }
    }

    /// CPU time since the last reset, microseconds.
    pub fn cpu_us(&self) -> Result<u64> {
        let total = self.cpu_stat.read_field("usage_usec")?.unwrap_or(0);
        Ok(total.saturating_sub(self.cpu_base.get()))
    }

    /// The bytes charged now.
    pub fn memory_current(&self) -> Result<u64> {
        self.current.read_u64()
    }

    /// The charged memory that reclaim cannot take back: anonymous pages and tmpfs files
    /// (memory.stat `anon` + `shmem`), bytes.
    pub fn resident(&self) -> Result<u64> {
        let stat = file::read(&self.dir.join("memory.stat"))?;
        Ok(file::field(&stat, "anon").unwrap_or(0) + file::field(&stat, "shmem").unwrap_or(0))
    }

    /// The accounting since the last reset; without a resettable memory.peak, the peak as
    /// [`peak_since`] says.
    pub fn usage(&self) -> Result<Usage> {
        let peak_now = self.peak.as_ref().map(CgFile::read_u64).transpose()?;
        let memory_peak = match self.unreset.get() {
            None => peak_now.unwrap_or(0),
            Some(at_reset) => peak_since(at_reset, peak_now, self.current.read_u64()?),
        };
        Ok(Usage {
            cpu_us: self.cpu_us()?,
            memory_peak,
            oom_kills: self.events.read_field("oom_kill")?.unwrap_or(0),
        })
    }

    /// Removes the directory; the cgroup must be empty of processes.
    pub fn remove(&self) -> Result<()> {
        file::rmdir(&self.dir)
    }
}

/// What an unresettable memory.peak and memory.current read at a run's reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreset {
    /// memory.peak (`None` before 5.19): the cgroup's peak over its whole life.
    pub peak: Option<u64>,
    /// memory.current.
    pub current: u64,
}

/// A run's peak where memory.peak cannot be reset (before 6.12; Debian 12's 6.1): the
/// cgroup's life-long peak when the run raised it (then it is the run's own, exact);
/// otherwise the larger of the usage at the reset and at the end, a lower bound (the run
/// stayed below an earlier run's peak; the program's own peak resident set, from wait4,
/// is the other bound the accounting takes). Pure.
pub fn peak_since(at_reset: Unreset, peak_now: Option<u64>, current_now: u64) -> u64 {
    match (at_reset.peak, peak_now) {
        (Some(before), Some(now)) if now > before => now,
        _ => at_reset.current.max(current_now),
    }
}

impl V2Group {
    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    //! Against a fake cgroupfs: plain files in a temporary folder stand for the kernel's.
    //! The machines this was written on have no controllers in their cgroup2, so the v2 path
    //! runs for real only where a v2-only machine is at hand.
    use super::*;
    use std::fs;

    fn fake_parent(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("runbox-fake-cgroup2-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
        fs::write(
            dir.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        dir
    }

    /// What the kernel would create in a new cgroup directory.
    fn populate(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for (file, content) in [
            ("memory.swap.max", "max\n"),
            ("memory.peak", "0\n"),
            ("memory.current", "1000\n"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
            // Empty where runbox writes in place: a plain file is not truncated by a write at 0.
            ("memory.max", ""),
            ("pids.max", ""),
            (
                "cpu.stat",
                "usage_usec 500\nuser_usec 400\nsystem_usec 100\n",
            ),
            ("cgroup.procs", ""),
        ] {
            fs::write(dir.join(file), content).unwrap();
        }
    }

    #[test]
    fn limits_reset_and_usage_on_a_fake_cgroupfs() {
        let parent = fake_parent("usage");
        prepare_parent(&parent).unwrap();
        assert_eq!(
            fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap(),
            "+memory +pids +cpu"
        );
        // The kernel makes the files with the directory: here the test makes both, and
        // opens them as create() does after its mkdir.
        populate(&parent.join("c-1"));
        let group = V2Group::open(parent.join("c-1")).unwrap();
        assert_eq!(
            fs::read_to_string(parent.join("c-1/memory.swap.max")).unwrap(),
            "0"
        );

        group.set_limits(64 << 20, 65).unwrap();
        assert_eq!(
            fs::read_to_string(parent.join("c-1/memory.max")).unwrap(),
            "67108864"
        );
        assert_eq!(
            fs::read_to_string(parent.join("c-1/pids.max")).unwrap(),
            "65"
        );

        group.reset().unwrap();
        // The run: 300 ms of CPU, a 5 MB peak, one OOM kill.
        fs::write(parent.join("c-1/cpu.stat"), "usage_usec 300500\n").unwrap();
        fs::write(parent.join("c-1/memory.peak"), "5000000\n").unwrap();
        fs::write(parent.join("c-1/memory.events"), "oom 1\noom_kill 1\n").unwrap();
        let usage = group.usage().unwrap();
        assert_eq!(usage.cpu_us, 300_000);
        assert_eq!(usage.memory_peak, 5_000_000);
        assert_eq!(usage.oom_kills, 1);

        group.add(1234).unwrap();
        assert_eq!(
            fs::read_to_string(parent.join("c-1/cgroup.procs")).unwrap(),
            "1234"
        );
        for entry in fs::read_dir(parent.join("c-1")).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        group.remove().unwrap();
        assert!(!parent.join("c-1").exists());
        fs::remove_dir_all(parent).unwrap();
    }

    #[test]
    fn an_unresettable_peak_is_exact_when_the_run_raised_it() {
        let before = Unreset {
            peak: Some(100 << 20),
            current: 2 << 20,
        };
        // The run went past every earlier peak: the life-long peak is its own.
        assert_eq!(peak_since(before, Some(150 << 20), 3 << 20), 150 << 20);
        // It stayed below an earlier run's 100 MiB: the lower bound, never that 100 MiB.
        assert_eq!(peak_since(before, Some(100 << 20), 3 << 20), 3 << 20);
        // No memory.peak at all (before 5.19).
        let old = Unreset {
            peak: None,
            current: 5,
        };
        assert_eq!(peak_since(old, None, 4), 5);
    }

    #[test]
    fn controllers_are_enabled_as_far_as_delegated() {
        let all = "cpuset cpu io memory pids";
        assert_eq!(enable_write(all, ""), Ok(Some("+memory +pids +cpu".into())));
        assert_eq!(enable_write(all, "cpu memory pids"), Ok(None));
        assert_eq!(enable_write(all, "memory pids"), Ok(Some("+cpu".into())));
        // Debian 12's user manager delegates memory and pids only.
        assert_eq!(
            enable_write("memory pids", ""),
            Ok(Some("+memory +pids".into()))
        );
        let err = enable_write("cpu memory", "").unwrap_err();
        assert!(err.contains("pids"), "{err}");
    }

    #[test]
    fn a_parent_with_the_controllers_is_left_alone() {
        let parent = fake_parent("enabled");
        fs::write(
            parent.join("cgroup.subtree_control"),
            "cpu io memory pids\n",
        )
        .unwrap();
        prepare_parent(&parent).unwrap();
        assert_eq!(
            fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap(),
            "cpu io memory pids\n"
        );
        fs::remove_dir_all(parent).unwrap();
    }

    #[test]
    fn a_failed_creation_names_the_file_and_leaves_no_directory() {
        // A parent without the memory controller enabled: its children have no memory files.
        let parent = fake_parent("missing");
        let err = V2Group::create(&parent, "c-2").unwrap_err();
        assert!(file::is_vanished(&err), "{err}");
        assert!(err.to_string().contains("c-2/memory.swap.max"), "{err}");
        assert!(!parent.join("c-2").exists(), "the failed cgroup was left");
        fs::remove_dir_all(parent).unwrap();
    }

    #[test]
    fn a_run_cgroup_is_never_made_in_a_parent_that_vanished() {
        // Another runbox's last cgroup went, and its drop removed the shared parent after
        // this one prepared it: made again, it would lack the controllers just enabled.
        let parent = fake_parent("vanished");
        prepare_parent(&parent).unwrap();
        fs::remove_dir_all(&parent).unwrap();
        let err = V2Group::create(&parent, "c-3").unwrap_err();
        assert!(file::is_vanished(&err), "{err}");
        assert!(
            !parent.exists(),
            "the parent was made again, without its controllers"
        );
    }

    #[test]
    fn a_creation_is_tried_again_only_while_something_vanished() {
        let gone = || file::CgroupError {
            what: "mkdir".into(),
            path: "/sys/fs/cgroup/runbox/c-1-0".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        // cgroupfs's answer for a file of a cgroup removed while it was looked up.
        let removed = || file::CgroupError {
            source: std::io::Error::from_raw_os_error(libc::ENODEV),
            ..gone()
        };
        let mut calls = 0;
        let made = file::again_while_vanished(5, || {
            calls += 1;
            match calls {
                1 => Err(gone()),
                2 => Err(removed()),
                _ => Ok(calls),
            }
        });
        assert_eq!(made.unwrap(), 3);
        // Another error ends it at once.
        calls = 0;
        let refused = file::again_while_vanished(5, || -> Result<()> {
            calls += 1;
            Err(file::CgroupError {
                source: std::io::Error::from_raw_os_error(libc::EACCES),
                ..gone()
            })
        });
        assert!(refused.is_err());
        assert_eq!(calls, 1);
        // And a parent that never comes back, after the attempts.
        calls = 0;
        let never = file::again_while_vanished(5, || -> Result<()> {
            calls += 1;
            Err(gone())
        });
        assert!(file::is_vanished(&never.unwrap_err()));
        assert_eq!(calls, 5);
    }
}
