//! A run as the library's users describe it, and its translation into the wire request.

use crate::error::Error;
use crate::file_policy::PtraceSettings;
use crate::seccomp::Filter;
use crate::units::{format_duration, format_size, NotOneOf};
use runbox_shared::{Resource, Rlimit, Run, MAX_ARGS, MAX_ENV, MAX_RLIMITS};
use std::sync::Arc;
use std::time::Duration;

/// The syscall profile of a run that names none.
pub const DEFAULT_PROFILE: &str = "default";

/// Where `argv[0]` is looked up when the environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How to isolate a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A container with an init as PID 1 (the default).
    #[default]
    Container,
    /// A container made for this one run and gone after it (the same init as PID 1).
    Namespace,
    /// On the host, traced: rlimits, a filter and a file-path policy (no namespaces).
    Ptrace,
}

impl Mode {
    /// The mode's name on the command line and in batch requests.
    pub fn parse(name: &str) -> Result<Mode, NotOneOf> {
        match name {
            "container" => Ok(Mode::Container),
            "namespace" => Ok(Mode::Namespace),
            "ptrace" => Ok(Mode::Ptrace),
            other => Err(NotOneOf::new(other, "container, namespace, ptrace")),
        }
    }
}

/// The most open files a program may have (RLIMIT_NOFILE).
pub const OPEN_FILES: u64 = 1024;

/// The limits of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU time (user + system) of all the run's processes and threads: the cgroup's
    /// accounting, enforced by the controller; RLIMIT_CPU a second later is the backstop.
    pub time: Duration,
    /// Wall-clock time, enforced by PID 1 of the sandbox.
    pub wall: Duration,
    /// Memory of all the run's processes, bytes, swap excluded (the cgroup's limit).
    pub memory: u64,
    /// Stack, bytes (RLIMIT_STACK).
    pub stack: u64,
    /// Bytes written to any one file (RLIMIT_FSIZE, and the stdout/stderr files).
    pub output: u64,
    /// Processes and threads at once (the cgroup's pids.max), PID 1 not counted.
    pub processes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(1),
            wall: Duration::from_secs(3),
            memory: 256 << 20,
            stack: 256 << 20,
            output: 64 << 20,
            processes: 64,
        }
    }
}

/// Limits as given by a run or a profile: each may be left to someone else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitChoices {
    /// CPU time (default 1s).
    pub time: Option<Duration>,
    /// Wall-clock time (default 3 x time).
    pub wall: Option<Duration>,
    /// Memory, bytes (default 256M).
    pub memory: Option<u64>,
    /// Stack, bytes (default: = memory).
    pub stack: Option<u64>,
    /// Output, bytes (default 64M).
    pub output: Option<u64>,
    /// Processes and threads (default 64).
    pub processes: Option<u64>,
}

/// The least memory a run may be given: no program starts in less.
pub const MIN_MEMORY: u64 = 1 << 20;
/// The least stack a run may be given.
pub const MIN_STACK: u64 = 64 << 10;

// The upper bounds of the limits, stated here once (and in the README's Limits section).
// Every entry, the command line, batch lines and profiles, goes through
// [`LimitChoices::check`] or, field by field, the `impossible_*` functions it calls; a
// [`RunSpec`] is checked against them again before it runs. Within them no arithmetic on a
// limit (init's deadline, `3 x time`, `pids.max` + 1, the rlimits) can overflow.

/// The most CPU time a run may be given: 24 hours.
pub const MAX_TIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The most wall-clock time a run may be given: 24 hours (also the most the default,
/// 3 x time, becomes).
pub const MAX_WALL: Duration = Duration::from_secs(24 * 60 * 60);
/// The most memory a run may be given: 1 TiB.
pub const MAX_MEMORY: u64 = 1 << 40;
/// The most stack a run may be given: the memory bound, 1 TiB.
pub const MAX_STACK: u64 = MAX_MEMORY;
/// The most bytes a run may write to one file: 1 TiB.
pub const MAX_OUTPUT: u64 = 1 << 40;
/// The most processes and threads a run may have at once.
pub const MAX_PROCESSES: u64 = 1_000_000;

/// Why `d` is not a possible `key` limit (`time` or `wall`), if it is not.
pub fn impossible_duration(key: &str, d: Duration) -> Option<String> {
    let most = match key {
        "wall" => MAX_WALL,
        _ => MAX_TIME,
    };
    if d.is_zero() {
        Some("must be more than zero".to_string())
    } else if d > most {
        let hours = most.as_secs() / 3600;
        Some(format!(
            "must be at most {} ({hours} hours)",
            format_duration(most)
        ))
    } else {
        None
    }
}

/// Why `bytes` is not a possible `key` limit (`memory`, `stack` or `output`), if it is not.
pub fn impossible_size(key: &str, bytes: u64) -> Option<String> {
    let (least, most) = match key {
        "memory" => (MIN_MEMORY, MAX_MEMORY),
        "stack" => (MIN_STACK, MAX_STACK),
        _ => (0, MAX_OUTPUT),
    };
    if bytes < least {
        Some(format!("must be at least {least} bytes"))
    } else if bytes > most {
        Some(format!(
            "must be at most {} ({most} bytes)",
            format_size(most)
        ))
    } else {
        None
    }
}

/// Why `n` is not a possible number of processes, if it is not.
pub fn impossible_count(n: u64) -> Option<String> {
    match n {
        0 => Some("must be at least 1".to_string()),
        n if n > MAX_PROCESSES => Some(format!("must be at most {MAX_PROCESSES}")),
        _ => None,
    }
}

/// An impossible limit: its name (`time`, `memory`...) and why (`must be more than zero`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {why}")]
pub struct LimitError {
    /// The limit's name, as in a batch line or a profile (the CLI adds `--`).
    pub key: &'static str,
    /// Why it cannot be.
    pub why: String,
}

impl LimitChoices {
    /// Refuses impossible limits, naming the first: `time: must be more than zero`.
    pub fn check(&self) -> Result<(), LimitError> {
        let durations = [("time", self.time), ("wall", self.wall)];
        for (key, value) in durations {
            if let Some(why) = value.and_then(|v| impossible_duration(key, v)) {
                return Err(LimitError { key, why });
            }
        }
        let sizes = [
            ("memory", self.memory),
            ("stack", self.stack),
            ("output", self.output),
        ];
        for (key, value) in sizes {
            if let Some(why) = value.and_then(|v| impossible_size(key, v)) {
                return Err(LimitError { key, why });
            }
        }
        if let Some(why) = self.processes.and_then(impossible_count) {
            let key = "processes";
            return Err(LimitError { key, why });
        }
        Ok(())
    }

    /// These choices, else `fallback`'s, else the contract's defaults.
    pub fn resolve(&self, fallback: &LimitChoices) -> Limits {
        let defaults = Limits::default();
        let time = self.time.or(fallback.time).unwrap_or(defaults.time);
        let memory = self.memory.or(fallback.memory).unwrap_or(defaults.memory);
        Limits {
            time,
            wall: self
                .wall
                .or(fallback.wall)
                .unwrap_or_else(|| time.saturating_mul(3).min(MAX_WALL)),
            memory,
            stack: self.stack.or(fallback.stack).unwrap_or(memory),
            output: self.output.or(fallback.output).unwrap_or(defaults.output),
            processes: self
                .processes
                .or(fallback.processes)
                .unwrap_or(defaults.processes),
        }
    }
}

impl Limits {
    /// Refuses limits past the bounds (a library user may build any): the same check as
    /// [`LimitChoices::check`].
    pub fn check(&self) -> Result<(), LimitError> {
        LimitChoices {
            time: Some(self.time),
            wall: Some(self.wall),
            memory: Some(self.memory),
            stack: Some(self.stack),
            output: Some(self.output),
            processes: Some(self.processes),
        }
        .check()
    }

    /// The rlimits that carry these limits into the program.
    pub fn rlimits(&self) -> heapless::Vec<Rlimit, MAX_RLIMITS> {
        // A backstop only: a second past the limit, rounded up, so that the cgroup enforcer,
        // which is exact, acts first.
        // Saturating: within the bounds nothing is near u64::MAX, past them still no wrap.
        let cpu_seconds = u64::try_from(self.time.as_micros().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let limit = |resource, soft, hard| Rlimit {
            resource,
            soft,
            hard,
        };
        heapless::Vec::from_iter([
            // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
            limit(Resource::Cpu, cpu_seconds, cpu_seconds.saturating_add(1)),
            limit(Resource::Fsize, self.output, self.output),
            limit(Resource::Stack, self.stack, self.stack),
            limit(Resource::Core, 0, 0),
            limit(Resource::Nofile, OPEN_FILES, OPEN_FILES),
        ])
    }
}

/// One program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// `argv[0]` (a path, or a name looked up in `PATH`) and its arguments.
    pub argv: Vec<String>,
    /// The program's whole environment, `K=V`.
    pub env: Vec<String>,
    /// The working directory inside the sandbox.
    pub cwd: String,
    /// The limits.
    pub limits: Limits,
    /// The seccomp filter, from a profile (ptrace mode needs its own kind).
    pub seccomp: Arc<Filter>,
    /// ptrace mode's file sets and choices.
    pub ptrace: Arc<PtraceSettings>,
}

impl RunSpec {
    /// A run of `argv` with the default environment (only `PATH`), in `/w`.
    pub fn new(argv: Vec<String>) -> RunSpec {
        RunSpec {
            argv,
            env: vec![format!("PATH={DEFAULT_PATH}")],
            cwd: "/w".into(),
            limits: Limits::default(),
            seccomp: crate::seccomp::default_filter(),
            ptrace: Arc::default(),
        }
    }

    /// Refuses what no mode can run: no program, too many strings, a NUL byte, an
    /// environment entry that is not `K=V`, a limit past its bound.
    pub fn check(&self) -> Result<(), Error> {
        self.limits
            .check()
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        if self.argv.is_empty() {
            return Err(Error::BadRequest("no program given".into()));
        }
        if self.argv.len() > MAX_ARGS || self.env.len() > MAX_ENV {
            return Err(Error::BadRequest(format!(
                "at most {MAX_ARGS} arguments and {MAX_ENV} environment entries"
            )));
        }
        let all = self.argv.iter().chain(&self.env).chain([&self.cwd]);
        if let Some(bad) = all.into_iter().find(|s| s.contains('\0')) {
            return Err(Error::BadRequest(format!("{bad:?} holds a NUL byte")));
        }
        if let Some(bad) = self.env.iter().find(|v| !v.contains('=')) {
            return Err(Error::BadRequest(format!(
                "environment entry {bad:?} is not K=V"
            )));
        }
        Ok(())
    }

    /// The NUL-terminated strings of the wire request, checked.
    pub fn to_wire(&self) -> Result<WireRun, Error> {
        self.check()?;
        let nul = |s: &str| format!("{s}\0");
        let search_path = self
            .env
            .iter()
            .rev()
            .find_map(|v| v.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        Ok(WireRun {
            argv: self.argv.iter().map(|s| nul(s)).collect(),
            env: self.env.iter().map(|s| nul(s)).collect(),
            cwd: nul(&self.cwd),
            search_path: nul(search_path),
            rlimits: self.limits.rlimits(),
            seccomp: Arc::clone(&self.seccomp),
            wall_limit_us: self.limits.wall.as_micros().try_into().unwrap_or(u64::MAX),
        })
    }
}

/// The owned strings behind a [`Run`] request.
#[derive(Debug, Clone)]
pub struct WireRun {
    argv: Vec<String>,
    env: Vec<String>,
    cwd: String,
    search_path: String,
    rlimits: heapless::Vec<Rlimit, MAX_RLIMITS>,
    seccomp: Arc<Filter>,
    wall_limit_us: u64,
}

impl WireRun {
    /// The request, borrowing these strings. stdio is fds 0, 1, 2 of the passed three.
    pub fn run(&self) -> Run<'_> {
        Run {
            argv: self.argv.iter().map(String::as_str).collect(),
            env: self.env.iter().map(String::as_str).collect(),
            cwd: &self.cwd,
            search_path: &self.search_path,
            rlimits: self.rlimits.clone(),
            seccomp: &self.seccomp.bytes,
            seccomp_listener: self.seccomp.listener,
            stdio: [0, 1, 2],
            wall_limit_us: self.wall_limit_us,
            // The container that sends it says (it knows whether it has two ids).
            program_ids: false,
        }
    }
}

/// Every limit given, each anywhere within its bounds: for the property tests of the
/// entries that parse limits (batch lines, profiles).
#[cfg(test)]
pub fn limits_within_bounds() -> impl proptest::strategy::Strategy<Value = LimitChoices> {
    use proptest::strategy::Strategy;
    let micros = |max: Duration| 1..=max.as_micros() as u64;
    (
        micros(MAX_TIME),
        micros(MAX_WALL),
        MIN_MEMORY..=MAX_MEMORY,
        MIN_STACK..=MAX_STACK,
        0..=MAX_OUTPUT,
        1..=MAX_PROCESSES,
    )
        .prop_map(
            |(time, wall, memory, stack, output, processes)| LimitChoices {
                time: Some(Duration::from_micros(time)),
                wall: Some(Duration::from_micros(wall)),
                memory: Some(memory),
                stack: Some(stack),
                output: Some(output),
                processes: Some(processes),
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_are_nul_terminated_and_checked() {
        let spec = RunSpec::new(vec!["echo".into(), "a b".into()]);
        let wire = spec.to_wire().unwrap();
        let run = wire.run();
        assert_eq!(run.argv.as_slice(), ["echo\0", "a b\0"]);
        assert_eq!(run.search_path, "/usr/local/bin:/usr/bin:/bin\0");
        assert_eq!(run.check(3), Ok(()));
    }

    #[test]
    fn bad_requests() {
        assert!(RunSpec::new(vec![]).to_wire().is_err());
        assert!(RunSpec::new(vec!["a\0b".into()]).to_wire().is_err());
        let mut spec = RunSpec::new(vec!["x".into()]);
        spec.env = vec!["NOEQUALS".into()];
        assert!(spec.to_wire().is_err());
        assert!(RunSpec::new(vec!["x".into(); MAX_ARGS + 1])
            .to_wire()
            .is_err());
    }

    #[test]
    fn impossible_limits_are_named() {
        let ok = LimitChoices {
            time: Some(Duration::from_millis(1)),
            memory: Some(MIN_MEMORY),
            ..LimitChoices::default()
        };
        assert_eq!(ok.check(), Ok(()));
        for (choices, says) in [
            (
                LimitChoices {
                    time: Some(Duration::ZERO),
                    ..ok.clone()
                },
                "time: must be more than zero",
            ),
            (
                LimitChoices {
                    wall: Some(Duration::ZERO),
                    ..ok.clone()
                },
                "wall: must be more than zero",
            ),
            (
                LimitChoices {
                    memory: Some(MIN_MEMORY - 1),
                    ..ok.clone()
                },
                "memory: must be at least 1048576 bytes",
            ),
            (
                LimitChoices {
                    stack: Some(4096),
                    ..ok.clone()
                },
                "stack: must be at least 65536 bytes",
            ),
            (
                LimitChoices {
                    processes: Some(0),
                    ..ok.clone()
                },
                "processes: must be at least 1",
            ),
        ] {
            assert_eq!(
                choices.check().map_err(|e| e.to_string()),
                Err(says.to_string())
            );
        }
    }

    #[test]
    fn every_limit_at_its_bound_passes_and_one_past_is_named() {
        let most = LimitChoices {
            time: Some(MAX_TIME),
            wall: Some(MAX_WALL),
            memory: Some(MAX_MEMORY),
            stack: Some(MAX_STACK),
            output: Some(MAX_OUTPUT),
            processes: Some(MAX_PROCESSES),
        };
        assert_eq!(most.check(), Ok(()));
        let least = LimitChoices {
            time: Some(Duration::from_micros(1)),
            wall: Some(Duration::from_micros(1)),
            memory: Some(MIN_MEMORY),
            stack: Some(MIN_STACK),
            output: Some(0),
            processes: Some(1),
        };
        assert_eq!(least.check(), Ok(()));
        let us = Duration::from_micros(1);
        let past = [
            (
                LimitChoices {
                    time: Some(MAX_TIME + us),
                    ..most.clone()
                },
                "time: must be at most 1440m (24 hours)",
            ),
            (
                LimitChoices {
                    wall: Some(MAX_WALL + us),
                    ..most.clone()
                },
                "wall: must be at most 1440m (24 hours)",
            ),
            (
                LimitChoices {
                    wall: Some(Duration::MAX),
                    ..most.clone()
                },
                "wall: must be at most 1440m (24 hours)",
            ),
            (
                LimitChoices {
                    memory: Some(MAX_MEMORY + 1),
                    ..most.clone()
                },
                "memory: must be at most 1T (1099511627776 bytes)",
            ),
            (
                LimitChoices {
                    stack: Some(u64::MAX),
                    ..most.clone()
                },
                "stack: must be at most 1T (1099511627776 bytes)",
            ),
            (
                LimitChoices {
                    output: Some(MAX_OUTPUT + 1),
                    ..most.clone()
                },
                "output: must be at most 1T (1099511627776 bytes)",
            ),
            (
                LimitChoices {
                    processes: Some(MAX_PROCESSES + 1),
                    ..most.clone()
                },
                "processes: must be at most 1000000",
            ),
            (
                LimitChoices {
                    processes: Some(u64::MAX),
                    ..most.clone()
                },
                "processes: must be at most 1000000",
            ),
        ];
        for (choices, says) in past {
            assert_eq!(
                choices.check().map_err(|e| e.to_string()),
                Err(says.to_string())
            );
        }
    }

    #[test]
    fn resolved_limits_at_the_bounds_stay_within_them() {
        let most = LimitChoices {
            time: Some(MAX_TIME),
            ..LimitChoices::default()
        };
        let limits = most.resolve(&LimitChoices::default());
        // 3 x 24 h would be past the wall's bound: the default stops at it.
        assert_eq!(limits.wall, MAX_WALL);
        assert_eq!(limits.check(), Ok(()));
        let cpu = limits.rlimits()[0];
        assert_eq!((cpu.soft, cpu.hard), (86_401, 86_402));
        let mut spec = RunSpec::new(vec!["true".into()]);
        spec.limits = limits;
        assert_eq!(spec.to_wire().unwrap().run().wall_limit_us, 86_400_000_000);
        // A library user's limits past the bounds are refused before anything runs.
        spec.limits.processes = u64::MAX;
        assert!(spec
            .to_wire()
            .unwrap_err()
            .to_string()
            .contains("processes"));
        spec.limits.processes = 1;
        spec.limits.wall = Duration::MAX;
        assert!(spec.check().unwrap_err().to_string().contains("wall"));
    }

    #[test]
    fn rlimits_saturate_rather_than_wrap() {
        let limits = Limits {
            time: Duration::MAX,
            ..Limits::default()
        };
        let cpu = limits.rlimits()[0];
        assert_eq!((cpu.soft, cpu.hard), (u64::MAX, u64::MAX));
    }

    #[test]
    fn the_search_path_follows_the_environment() {
        let mut spec = RunSpec::new(vec!["x".into()]);
        spec.env = vec!["PATH=/opt/bin".into()];
        assert_eq!(spec.to_wire().unwrap().run().search_path, "/opt/bin\0");
    }

    #[test]
    fn the_cpu_rlimit_is_a_backstop_a_second_past_the_limit_rounded_up() {
        let limits = Limits {
            time: Duration::from_millis(1500),
            ..Limits::default()
        };
        let cpu = limits.rlimits()[0];
        assert_eq!((cpu.resource, cpu.soft, cpu.hard), (Resource::Cpu, 3, 4));
    }
}
