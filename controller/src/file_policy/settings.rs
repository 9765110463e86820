//! What ptrace mode needs of a run beyond the other modes': the file policy, what a denied
//! access does, and which rlimit carries the memory limit. Profiles set them (keys `read`,
//! `write`, `stat`, `file_denied`, `memory_rlimit`), `--allow-read`/`--allow-write` add to
//! the sets.

use super::fileset::{Access, FilePolicy};
use crate::units::NotOneOf;

/// What a denied file access does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDenied {
    /// The run ends as file_access_denied, naming the path (the default).
    #[default]
    End,
    /// The call fails with EACCES and the program goes on (UOJ's "soft ban"): for
    /// interpreters, which probe files they can do without.
    Errno,
}

impl OnDenied {
    /// From a profile's `file_denied` value.
    pub fn parse(value: &str) -> Result<OnDenied, NotOneOf> {
        match value {
            "end" => Ok(OnDenied::End),
            "errno" => Ok(OnDenied::Errno),
            other => Err(NotOneOf::new(other, "end, errno")),
        }
    }
}

/// The rlimit that carries the memory limit in ptrace mode (there is no cgroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryRlimit {
    /// RLIMIT_AS, all mappings (the default; UOJ's).
    #[default]
    AddressSpace,
    /// RLIMIT_DATA, private writable mappings and the heap: for runtimes that reserve much
    /// more address space than they use (the JVM, Go).
    Data,
}

impl MemoryRlimit {
    /// From a profile's `memory_rlimit` value.
    pub fn parse(value: &str) -> Result<MemoryRlimit, NotOneOf> {
        match value {
            "as" => Ok(MemoryRlimit::AddressSpace),
            "data" => Ok(MemoryRlimit::Data),
            other => Err(NotOneOf::new(other, "as, data")),
        }
    }

    /// The `RLIMIT_*` number.
    pub fn resource(self) -> runbox_shared::Resource {
        match self {
            MemoryRlimit::AddressSpace => runbox_shared::Resource::As,
            MemoryRlimit::Data => runbox_shared::Resource::Data,
        }
    }
}

/// What every program may read whatever its profile: the dynamic loader's files, the shared
/// libraries, its own `/proc` entries, the harmless devices (and [`BASE_WRITE`]), time
/// zones and locales, and
/// the world-readable user and group names the C library's name service reads (Python
/// reads them at start).
pub const BASE_READ: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/etc/localtime",
    "/etc/locale.alias",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/lib/",
    "/lib32/",
    "/lib64/",
    "/libx32/",
    "/usr/lib/",
    "/usr/lib32/",
    "/usr/lib64/",
    "/usr/local/lib/",
    "/usr/share/zoneinfo/",
    "/usr/share/locale/",
    "/usr/lib/locale/",
    "/proc/self/",
    "/proc/meminfo",
    "/proc/cpuinfo",
    "/proc/stat",
    "/sys/devices/system/cpu/",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// What every program may write (and read) whatever its profile: the two devices that
/// swallow writes. Not `/dev/tty`: the judge's terminal is never the program's.
pub const BASE_WRITE: &[&str] = &["/dev/null", "/dev/zero"];

/// What every program may stat: the directories a path search walks, and the user
/// databases systemd's name service module walks (with `O_PATH`) when the C library looks up
/// the sandbox's uid, which no passwd file knows.
pub const BASE_STAT: &[&str] = &[
    "/bin/",
    "/usr/",
    "/etc/",
    "/tmp/",
    "/dev/",
    "/run/systemd/userdb/",
    "/run/host/userdb/",
];

/// The ptrace-mode settings of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtraceSettings {
    /// The file sets.
    pub files: FilePolicy,
    /// What a denied access does.
    pub on_denied: OnDenied,
    /// The rlimit for memory.
    pub memory_rlimit: MemoryRlimit,
}

impl Default for PtraceSettings {
    /// The base sets ([`BASE_READ`], [`BASE_WRITE`], [`BASE_STAT`]), ending the run on a
    /// denial.
    fn default() -> Self {
        let mut files = FilePolicy::default();
        for entry in BASE_WRITE {
            files
                .allow(Access::Write, entry)
                .expect("the base entries are absolute (tested)");
        }
        for entry in BASE_READ {
            files
                .allow(Access::Read, entry)
                .expect("the base entries are absolute (tested)");
        }
        for entry in BASE_STAT {
            files
                .allow(Access::Stat, entry)
                .expect("the base entries are absolute (tested)");
        }
        PtraceSettings {
            files,
            on_denied: OnDenied::default(),
            memory_rlimit: MemoryRlimit::default(),
        }
    }
}

/// The address space (or data) a program gets for a memory limit: twice the limit and
/// 16 MiB. Memory is judged as in the other modes, by what the program touched: its
/// resident peak over the limit is memory_limit_exceeded, however it ended. The rlimit only
/// bounds what it can take from the host meanwhile; set at the limit itself, it would turn
/// most overruns into a failed allocation (a crash, or an exit code) instead.
pub fn memory_rlimit(limit: u64) -> u64 {
    limit.saturating_mul(2).saturating_add(16 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_base_lets_the_loader_work_and_keeps_secrets() {
        let base = PtraceSettings::default().files;
        for ok in [
            "/etc/ld.so.cache",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/proc/self/maps",
        ] {
            assert!(base.allows(Path::new(ok), Access::Read), "{ok}");
        }
        assert!(base.allows(Path::new("/usr/bin"), Access::Stat));
        for no in [
            "/etc/shadow",
            "/etc/hostname",
            "/root/.ssh/id_rsa",
            "/proc/1/environ",
        ] {
            assert!(!base.allows(Path::new(no), Access::Read), "{no}");
        }
        for device in ["/dev/null", "/dev/zero"] {
            assert!(base.allows(Path::new(device), Access::Write), "{device}");
        }
        for device in ["/dev/urandom", "/dev/random"] {
            assert!(base.allows(Path::new(device), Access::Read), "{device}");
            assert!(!base.allows(Path::new(device), Access::Write), "{device}");
        }
        // The judge's terminal: a program that could open it could type into it.
        assert!(!base.allows(Path::new("/dev/tty"), Access::Read));
        assert!(!base.allows(Path::new("/dev/full"), Access::Write));
    }

    #[test]
    fn values_parse_and_errors_name_the_choices() {
        assert_eq!(OnDenied::parse("errno"), Ok(OnDenied::Errno));
        assert_eq!(MemoryRlimit::parse("data"), Ok(MemoryRlimit::Data));
        assert_eq!(
            OnDenied::parse("kill").unwrap_err().to_string(),
            "\"kill\" is not one of end, errno"
        );
        assert_eq!(memory_rlimit(64 << 20), 144 << 20);
        assert_eq!(memory_rlimit(u64::MAX), u64::MAX);
    }
}
