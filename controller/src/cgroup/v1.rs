//! cgroup v1 (pure v1, or the v1 controllers of the hybrid layout): one directory in each of
//! the cpuacct, memory and pids hierarchies.

use super::file::{self, CgFile, Result};
use super::Usage;
use std::path::{Path, PathBuf};

/// One runbox cgroup in the three v1 hierarchies.
#[derive(Debug)]
pub struct V1Group {
    dirs: [PathBuf; 3],
    cpu_usage: CgFile,
    max_usage: CgFile,
    usage: CgFile,
    oom_control: CgFile,
    limit: CgFile,
    memsw_limit: Option<CgFile>,
    pids_max: CgFile,
}

impl V1Group {
    /// Creates `<parent>/<name>` in each hierarchy, `parents` being (cpuacct, memory, pids).
    /// A failure removes what was made. (A parent removed meanwhile by another runbox's
    /// drop is made again: a v1 cgroup needs nothing enabled in its parent.)
    pub fn create(parents: [&Path; 3], name: &str) -> Result<V1Group> {
        let dirs = parents.map(|p| p.join(name));
        let made = dirs.iter().try_for_each(|dir| file::mkdir(dir));
        made.and_then(|()| V1Group::open(dirs.clone()))
            .inspect_err(|_| {
                for dir in &dirs {
                    let _ = file::rmdir(dir);
                }
            })
    }

    /// Sets up and opens the files of the new cgroup `dirs`.
    fn open(dirs: [PathBuf; 3]) -> Result<V1Group> {
        let [cpuacct, memory, pids] = [&dirs[0], &dirs[1], &dirs[2]];
        let memsw_limit = CgFile::open(memory, "memory.memsw.limit_in_bytes", true).ok();
        if memsw_limit.is_none() {
            // No swap accounting: keep the run off swap another way.
            file::write(&memory.join("memory.swappiness"), "0")?;
        }
        Ok(V1Group {
            cpu_usage: CgFile::open(cpuacct, "cpuacct.usage", true)?,
            max_usage: CgFile::open(memory, "memory.max_usage_in_bytes", true)?,
            usage: CgFile::open(memory, "memory.usage_in_bytes", false)?,
            oom_control: CgFile::open(memory, "memory.oom_control", false)?,
            limit: CgFile::open(memory, "memory.limit_in_bytes", true)?,
            memsw_limit,
            pids_max: CgFile::open(pids, "pids.max", true)?,
            dirs,
        })
    }

    /// The `tasks` files of the three hierarchies, open for writing: a process that writes
    /// "0" to each moves itself in. Moving `current` by `tasks` skips the kernel's global
    /// threadgroup lock, whose RCU wait makes a `cgroup.procs` write cost 5-18 ms after an
    /// idle spell (about 60 us this way; measured, see README).
    pub fn self_join_files(&self) -> Result<Vec<std::os::fd::OwnedFd>> {
        self.dirs
            .iter()
            .map(|dir| CgFile::open(dir, "tasks", true).map(CgFile::into_fd))
            .collect()
    }

    /// Moves a process into every hierarchy's cgroup.
    pub fn add(&self, pid: libc::pid_t) -> Result<()> {
        for dir in &self.dirs {
            file::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Sets the memory limit (memory and memory+swap alike: no swap) and the pids limit.
    pub fn set_limits(&self, memory: u64, pids: u64) -> Result<()> {
        let value = memory.to_string();
        match &self.memsw_limit {
            None => self.limit.write(&value)?,
            // memsw must stay >= memory: raise memsw first when raising, last when lowering.
            Some(memsw) => {
                if self.limit.write(&value).is_err() {
                    memsw.write(&value)?;
                    self.limit.write(&value)?;
                } else {
                    memsw.write(&value)?;
                }
            }
        }
        self.pids_max.write(&pids.to_string())
    }

    /// Resets the peak (to the current usage) and the CPU time (to 0) before a run.
    pub fn reset(&self) -> Result<()> {
        self.max_usage.write("0")?;
        self.cpu_usage.write("0")
    }

    /// Reclaims what the kernel can take back (page cache, dentries, inodes):
    /// `memory.force_empty`, which frees until nothing reclaimable is left.
    pub fn reclaim(&self) -> Result<()> {
        file::write(&self.dirs[1].join("memory.force_empty"), "0")
    }

    /// CPU time since the last reset, microseconds.
    pub fn cpu_us(&self) -> Result<u64> {
        Ok(self.cpu_usage.read_u64()? / 1000)
    }

    /// The bytes charged now.
    pub fn memory_current(&self) -> Result<u64> {
        self.usage.read_u64()
    }

    /// The charged memory that reclaim cannot take back: anonymous pages and tmpfs files
    /// (memory.stat `rss` + `shmem`), bytes.
    pub fn resident(&self) -> Result<u64> {
        let stat = file::read(&self.dirs[1].join("memory.stat"))?;
        Ok(file::field(&stat, "rss").unwrap_or(0) + file::field(&stat, "shmem").unwrap_or(0))
    }

    /// The accounting since the last reset; `oom_kills` is the cgroup's running total.
    pub fn usage(&self) -> Result<Usage> {
        Ok(Usage {
            cpu_us: self.cpu_us()?,
            memory_peak: self.max_usage.read_u64()?,
            // "oom_kill" appeared in 4.13; before it, under_oom at least says it happened.
            oom_kills: self.oom_control.read_field("oom_kill")?.unwrap_or(0),
        })
    }

    /// Removes the directories; the cgroup must be empty of processes.
    pub fn remove(&self) -> Result<()> {
        for dir in &self.dirs {
            file::rmdir(dir)?;
        }
        Ok(())
    }
}

impl V1Group {
    /// The cgroup's directories (cpuacct, memory, pids).
    pub fn dirs(&self) -> &[PathBuf; 3] {
        &self.dirs
    }
}
