//! A run as the library's users describe it, and its translation into the wire request.

use crate::error::Error;
use crate::file_policy::PtraceSettings;
use crate::seccomp::Filter;
use crate::units::{Count, NotOneOf, OutOfBounds, Size, Span};
use runbox_shared::{Resource, Rlimit, Run, MAX_ARGS, MAX_ENV, MAX_RLIMITS};
use std::sync::Arc;
use std::time::Duration;

/// The syscall profile of a run that names none.
pub const DEFAULT_PROFILE: &str = "default";

/// Where `argv[0]` is looked up when the environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How to isolate a run: `--mode` on the command line, `"mode"` in a batch line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// A container with an init as PID 1 (the default).
    #[default]
    Container,
    /// A container made for this one run and gone after it (the same init as PID 1).
    Namespace,
    /// On the host, traced: rlimits, a filter and a file-path policy (no namespaces).
    Ptrace,
}

impl std::str::FromStr for Mode {
    type Err = NotOneOf;

    /// The mode of that name (the names are [`clap::ValueEnum`]'s, the command line's).
    fn from_str(name: &str) -> Result<Mode, NotOneOf> {
        use clap::ValueEnum;
        let names = || {
            Mode::value_variants()
                .iter()
                .filter_map(|m| m.to_possible_value())
        };
        let found = Mode::value_variants()
            .iter()
            .find(|m| m.to_possible_value().is_some_and(|v| v.get_name() == name));
        found.copied().ok_or_else(|| {
            let known: Vec<String> = names().map(|v| v.get_name().to_string()).collect();
            NotOneOf::new(name, known.join(", "))
        })
    }
}

impl<'de> serde::Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
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
    /// Address space of each process, bytes (RLIMIT_AS), if bounded: go-judge's
    /// `addressSpaceLimit`.
    pub address_space: Option<u64>,
    /// Data segment of each process, bytes (RLIMIT_DATA: the heap and private writable
    /// mappings), if bounded: go-judge's `dataSegmentLimit`.
    pub data_segment: Option<u64>,
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
            address_space: None,
            data_segment: None,
        }
    }
}

// The bounds of the limits, stated here once (and in the README's Limits section), as the
// types of the limits: a value of each is made only within them ([`crate::units`]), so every
// entry, the command line, batch lines and profiles, refuses the others as it reads them; a
// [`RunSpec`], whose [`Limits`] a library user may build freely, is checked against them
// again before it runs ([`Limits::check`]). Within them no arithmetic on a limit (init's
// deadline, `3 x time`, `pids.max` + 1, the rlimits) can overflow.

/// 24 hours, in microseconds.
const DAY_US: u64 = 24 * 60 * 60 * 1_000_000;
/// The most CPU time a run may be given: 24 hours.
pub const MAX_TIME: Duration = Duration::from_micros(DAY_US);
/// The most wall-clock time a run may be given: 24 hours (also the most the default,
/// 3 x time, becomes).
pub const MAX_WALL: Duration = Duration::from_micros(DAY_US);
/// The least memory a run may be given: no program starts in less.
pub const MIN_MEMORY: u64 = 1 << 20;
/// The most memory a run may be given: 1 TiB.
pub const MAX_MEMORY: u64 = 1 << 40;
/// The least stack a run may be given.
pub const MIN_STACK: u64 = 64 << 10;
/// The most stack a run may be given: the memory bound, 1 TiB.
pub const MAX_STACK: u64 = MAX_MEMORY;
/// The most bytes a run may write to one file: 1 TiB.
pub const MAX_OUTPUT: u64 = 1 << 40;
/// The most processes and threads a run may have at once.
pub const MAX_PROCESSES: u64 = 1_000_000;

/// A CPU time limit: more than zero, at most [`MAX_TIME`].
pub type CpuTime = Span<1, DAY_US>;
/// A wall-clock limit: more than zero, at most [`MAX_WALL`].
pub type WallTime = Span<1, DAY_US>;
/// A memory limit: [`MIN_MEMORY`] to [`MAX_MEMORY`].
pub type Memory = Size<MIN_MEMORY, MAX_MEMORY>;
/// A stack limit: [`MIN_STACK`] to [`MAX_STACK`].
pub type Stack = Size<MIN_STACK, MAX_STACK>;
/// An output limit: up to [`MAX_OUTPUT`].
pub type Output = Size<0, MAX_OUTPUT>;
/// A process limit: 1 to [`MAX_PROCESSES`].
pub type Processes = Count<1, MAX_PROCESSES>;

/// Writes a struct with the limits among its fields, where `..limits!(),` stands among
/// them (`..limits!(#[arg(long)]),` for the command line's flags), each an `Option` of its
/// type, and `fn limits(&self)`, the [`LimitChoices`] they make. The limits are listed
/// here once, for every entry: the command line and batch lines (`options::RunOptions`)
/// and the profiles (`config`). A macro, since serde cannot flatten a struct into one that
/// refuses unknown fields (batch lines and profiles do: a typo is an error naming it).
macro_rules! with_limits {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $crate::spec::with_limits! { @find [$(#[$meta])* $vis struct $name] $name [] $($body)* }
    };
    // The fields before the marker are gathered one token at a time until it comes.
    (@find $head:tt $name:ident [$($before:tt)*] ..limits!(), $($after:tt)*) => {
        $crate::spec::with_limits! { @list $head $name [$($before)*] [$($after)*] }
    };
    (@find $head:tt $name:ident [$($before:tt)*] ..limits!(#[arg(long)]), $($after:tt)*) => {
        $crate::spec::with_limits! { @list $head $name [$($before)*] [$($after)*] flags }
    };
    (@find $head:tt $name:ident [$($before:tt)*] $next:tt $($rest:tt)*) => {
        $crate::spec::with_limits! { @find $head $name [$($before)* $next] $($rest)* }
    };
    // The list: each limit's field, type and help (the command line shows it).
    (@list $($state:tt)*) => {
        $crate::spec::with_limits! { @write $($state)* ;
            /// CPU time limit, user + system (500ms, 2s), at most 24 hours [default: the
            /// profile's, else 1s].
            time: $crate::spec::CpuTime,
            /// Wall-clock limit, at most 24 hours [default: the profile's, else 3 x
            /// --time, at most 24 hours].
            wall: $crate::spec::WallTime,
            /// Memory limit of the whole run, swap excluded (64M, 65536K, 1G), at most 1T
            /// [default: the profile's, else 256M].
            memory: $crate::spec::Memory,
            /// Stack limit, at most 1T [default: the profile's, else = --memory].
            stack: $crate::spec::Stack,
            /// Limit on the bytes written to any one file, at most 1T [default: the
            /// profile's, else 64M].
            output: $crate::spec::Output,
            /// Processes and threads the run may have at once, at most 1000000 [default:
            /// the profile's, else 64; 1 in ptrace mode].
            processes: $crate::spec::Processes,
        }
    };
    (@write choices ; $($(#[doc = $doc:literal])* $field:ident: $type:ty,)*) => {
        /// Limits as given by a run or a profile: each may be left to someone else.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct LimitChoices {
            $($(#[doc = $doc])* pub $field: Option<$type>,)*
        }
    };
    (@write [$($head:tt)*] $name:ident [$($before:tt)*] [$($after:tt)*] ;
        $($(#[doc = $doc:literal])* $field:ident: $type:ty,)*) => {
        $($head)* {
            $($before)*
            $($(#[doc = $doc])* pub $field: Option<$type>,)*
            $($after)*
        }
        $crate::spec::with_limits! { @impl $name $($field)* }
    };
    (@write [$($head:tt)*] $name:ident [$($before:tt)*] [$($after:tt)*] flags ;
        $($(#[doc = $doc:literal])* $field:ident: $type:ty,)*) => {
        $($head)* {
            $($before)*
            $($(#[doc = $doc])* #[arg(long)] pub $field: Option<$type>,)*
            $($after)*
        }
        $crate::spec::with_limits! { @impl $name $($field)* }
    };
    (@impl $name:ident $($field:ident)*) => {
        impl $name {
            /// The limits given.
            pub fn limits(&self) -> $crate::spec::LimitChoices {
                $crate::spec::LimitChoices { $($field: self.$field),* }
            }
        }
    };
}
pub(crate) use with_limits;

with_limits!(@list choices);

/// An impossible limit: its name (`time`, `memory`...) and why (`must be more than zero`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {why}")]
pub struct LimitError {
    /// The limit's name, as in a batch line or a profile (the CLI adds `--`).
    pub key: &'static str,
    /// Why it cannot be.
    pub why: OutOfBounds,
}

impl LimitChoices {
    /// These choices, else `fallback`'s, else the contract's defaults.
    pub fn resolve(&self, fallback: &LimitChoices) -> Limits {
        let defaults = Limits::default();
        let time = self.time.or(fallback.time).map_or(defaults.time, Span::get);
        let memory = self
            .memory
            .or(fallback.memory)
            .map_or(defaults.memory, Size::get);
        Limits {
            time,
            wall: self
                .wall
                .or(fallback.wall)
                .map_or_else(|| time.saturating_mul(3).min(MAX_WALL), Span::get),
            memory,
            stack: self.stack.or(fallback.stack).map_or(memory, Size::get),
            output: self
                .output
                .or(fallback.output)
                .map_or(defaults.output, Size::get),
            processes: self
                .processes
                .or(fallback.processes)
                .map_or(defaults.processes, Count::get),
            address_space: None,
            data_segment: None,
        }
    }
}

impl Limits {
    /// Refuses limits past the bounds (a library user may build any), naming the first:
    /// `time: must be more than zero`. The bounds are the limits' types'.
    pub fn check(&self) -> Result<(), LimitError> {
        let named = |key| move |why| LimitError { key, why };
        CpuTime::new(self.time).map_err(named("time"))?;
        WallTime::new(self.wall).map_err(named("wall"))?;
        Memory::new(self.memory).map_err(named("memory"))?;
        Stack::new(self.stack).map_err(named("stack"))?;
        Output::new(self.output).map_err(named("output"))?;
        Processes::new(self.processes).map_err(named("processes"))?;
        if let Some(bytes) = self.address_space {
            Memory::new(bytes).map_err(named("address_space"))?;
        }
        if let Some(bytes) = self.data_segment {
            Memory::new(bytes).map_err(named("data_segment"))?;
        }
        Ok(())
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
        let bounded = |resource, bytes: Option<u64>| bytes.map(|b| limit(resource, b, b));
        heapless::Vec::from_iter(
            [
                // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
                limit(Resource::Cpu, cpu_seconds, cpu_seconds.saturating_add(1)),
                limit(Resource::Fsize, self.output, self.output),
                limit(Resource::Stack, self.stack, self.stack),
                limit(Resource::Core, 0, 0),
                limit(Resource::Nofile, OPEN_FILES, OPEN_FILES),
            ]
            .into_iter()
            .chain(bounded(Resource::As, self.address_space))
            .chain(bounded(Resource::Data, self.data_segment)),
        )
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
    /// Files copied in before the run and out after it ([`crate::files`]).
    pub files: crate::files::FileSpec,
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
            files: crate::files::FileSpec::default(),
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
    /// The request, borrowing these strings. Its fds are 0, 1, 2 of the passed three; a
    /// container sets them to the fds it passes ([`crate::Container::run`]).
    pub fn run(&self) -> Run<'_> {
        Run {
            argv: self.argv.iter().map(String::as_str).collect(),
            env: self.env.iter().map(String::as_str).collect(),
            cwd: &self.cwd,
            search_path: &self.search_path,
            rlimits: self.rlimits.clone(),
            seccomp: &self.seccomp.bytes,
            seccomp_listener: self.seccomp.listener,
            seccomp_ahead: self.seccomp.ahead,
            fds: heapless::Vec::from_slice(&[0, 1, 2]).expect("three fit"),
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
                time: CpuTime::new(Duration::from_micros(time)).ok(),
                wall: WallTime::new(Duration::from_micros(wall)).ok(),
                memory: Memory::new(memory).ok(),
                stack: Stack::new(stack).ok(),
                output: Output::new(output).ok(),
                processes: Processes::new(processes).ok(),
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
    fn an_address_space_or_data_segment_bound_is_an_rlimit_only_when_asked() {
        let resources = |limits: &Limits| -> Vec<Resource> {
            limits.rlimits().iter().map(|l| l.resource).collect()
        };
        let plain = Limits::default();
        assert!(!resources(&plain).contains(&Resource::As));
        assert!(!resources(&plain).contains(&Resource::Data));
        let bounded = Limits {
            address_space: Some(64 << 20),
            data_segment: Some(32 << 20),
            ..Limits::default()
        };
        let rlimits = bounded.rlimits();
        let of = |r| {
            rlimits
                .iter()
                .find(|l| l.resource == r)
                .map(|l| (l.soft, l.hard))
        };
        assert_eq!(of(Resource::As), Some((64 << 20, 64 << 20)));
        assert_eq!(of(Resource::Data), Some((32 << 20, 32 << 20)));
        let tiny = Limits {
            address_space: Some(4096),
            ..Limits::default()
        };
        assert!(tiny
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("address_space:"));
    }

    #[test]
    fn impossible_limits_are_named() {
        let ok = Limits {
            time: Duration::from_millis(1),
            memory: MIN_MEMORY,
            ..Limits::default()
        };
        assert_eq!(ok.check(), Ok(()));
        for (choices, says) in [
            (
                Limits {
                    time: Duration::ZERO,
                    ..ok.clone()
                },
                "time: must be more than zero",
            ),
            (
                Limits {
                    wall: Duration::ZERO,
                    ..ok.clone()
                },
                "wall: must be more than zero",
            ),
            (
                Limits {
                    memory: MIN_MEMORY - 1,
                    ..ok.clone()
                },
                "memory: must be at least 1048576 bytes",
            ),
            (
                Limits {
                    stack: 4096,
                    ..ok.clone()
                },
                "stack: must be at least 65536 bytes",
            ),
            (
                Limits {
                    processes: 0,
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
        let most = Limits {
            time: MAX_TIME,
            wall: MAX_WALL,
            memory: MAX_MEMORY,
            stack: MAX_STACK,
            output: MAX_OUTPUT,
            processes: MAX_PROCESSES,
            address_space: Some(MAX_MEMORY),
            data_segment: Some(MAX_MEMORY),
        };
        assert_eq!(most.check(), Ok(()));
        let least = Limits {
            time: Duration::from_micros(1),
            wall: Duration::from_micros(1),
            memory: MIN_MEMORY,
            stack: MIN_STACK,
            output: 0,
            processes: 1,
            address_space: Some(MIN_MEMORY),
            data_segment: Some(MIN_MEMORY),
        };
        assert_eq!(least.check(), Ok(()));
        let us = Duration::from_micros(1);
        let past = [
            (
                Limits {
                    time: MAX_TIME + us,
                    ..most.clone()
                },
                "time: must be at most 1440m (24 hours)",
            ),
            (
                Limits {
                    wall: MAX_WALL + us,
                    ..most.clone()
                },
                "wall: must be at most 1440m (24 hours)",
            ),
            (
                Limits {
                    wall: Duration::MAX,
                    ..most.clone()
                },
                "wall: must be at most 1440m (24 hours)",
            ),
            (
                Limits {
                    memory: MAX_MEMORY + 1,
                    ..most.clone()
                },
                "memory: must be at most 1T (1099511627776 bytes)",
            ),
            (
                Limits {
                    stack: u64::MAX,
                    ..most.clone()
                },
                "stack: must be at most 1T (1099511627776 bytes)",
            ),
            (
                Limits {
                    output: MAX_OUTPUT + 1,
                    ..most.clone()
                },
                "output: must be at most 1T (1099511627776 bytes)",
            ),
            (
                Limits {
                    processes: MAX_PROCESSES + 1,
                    ..most.clone()
                },
                "processes: must be at most 1000000",
            ),
            (
                Limits {
                    processes: u64::MAX,
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
            time: CpuTime::new(MAX_TIME).ok(),
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
