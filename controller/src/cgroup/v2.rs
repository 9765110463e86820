//! cgroup v2: one directory in the unified hierarchy.
//!
//! Not exercised for real on the development machines (their cgroup2 has no controllers):
//! `tests` below runs this code against a fake cgroupfs tree in a temporary folder.

use super::file::{self, CgFile, Result};
use super::Usage;
use std::path::{Path, PathBuf};

/// The controllers a run cgroup needs, as written to `cgroup.subtree_control`.
pub const ENABLE: &str = "+cpu +memory +pids";

/// One runbox cgroup in the unified hierarchy.
#[derive(Debug)]
pub struct V2Group {
    dir: PathBuf,
    cpu_stat: CgFile,
    /// memory.peak, reset by a write (Linux 6.12+); `None` where it cannot be reset.
    peak: Option<CgFile>,
    current: CgFile,
    events: CgFile,
    max: CgFile,
    pids_max: CgFile,
    /// cpu.stat has no reset: the usage at the last reset.
    cpu_base: std::cell::Cell<u64>,
    /// Where memory.peak could not be reset: memory.current at the last reset.
    peak_floor: std::cell::Cell<Option<u64>>,
}

/// Makes `parent` able to hold run cgroups: the controllers enabled in its subtree. The
/// kernel refuses (EBUSY) when `parent` holds processes itself and is not the root: then
/// runbox must run in a leaf of its own, below a delegated parent.
pub fn prepare_parent(parent: &Path) -> Result<()> {
    file::mkdir(parent)?;
    let enabled = file::read(&parent.join("cgroup.subtree_control"))?;
    if ["cpu", "memory", "pids"]
        .iter()
        .all(|c| enabled.split_whitespace().any(|e| e == *c))
    {
        return Ok(());
    }
    file::write(&parent.join("cgroup.subtree_control"), ENABLE)
}

impl V2Group {
    /// Creates `parent/name` (the parent prepared with [`prepare_parent`]).
    pub fn create(parent: &Path, name: &str) -> Result<V2Group> {
        let dir = parent.join(name);
        file::mkdir(&dir)?;
        file::write(&dir.join("memory.swap.max"), "0")?;
        let peak = CgFile::open(&dir, "memory.peak", true).ok();
        Ok(V2Group {
            cpu_stat: CgFile::open(&dir, "cpu.stat", false)?,
            peak,
            current: CgFile::open(&dir, "memory.current", false)?,
            events: CgFile::open(&dir, "memory.events", false)?,
            max: CgFile::open(&dir, "memory.max", true)?,
            pids_max: CgFile::open(&dir, "pids.max", true)?,
            cpu_base: 0.into(),
            peak_floor: None.into(),
            dir,
        })
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

    /// Starts a run's accounting: peak reset where the kernel can, CPU base recorded.
    pub fn reset(&self) -> Result<()> {
        let peak_reset = self
            .peak
            .as_ref()
            .is_some_and(|peak| peak.write("0").is_ok());
        let floor = if peak_reset {
            None
        } else {
            Some(self.current.read_u64()?)
        };
        self.peak_floor.set(floor);
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

    /// The accounting since the last reset. Without a resettable memory.peak, the peak is
    /// the larger of the usage at the reset and now (a lower bound).
    pub fn usage(&self) -> Result<Usage> {
        let memory_peak = match (&self.peak, self.peak_floor.get()) {
            (Some(peak), None) => peak.read_u64()?,
            (_, floor) => floor.unwrap_or(0).max(self.current.read_u64()?),
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
            ENABLE
        );
        populate(&parent.join("c-1"));
        let group = V2Group::create(&parent, "c-1").unwrap();
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
    fn errors_name_the_file() {
        let parent = fake_parent("missing");
        let err = V2Group::create(&parent, "c-2").unwrap_err().to_string();
        assert!(err.contains("c-2/cpu.stat"), "{err}");
        fs::remove_dir_all(parent).unwrap();
    }
}
