//! The options of one run, as the command line and the batch interface both give them (one
//! schema, [`RunOptions`]), and what they become: a mode, a container configuration, a
//! [`RunSpec`] and three open fds.

use crate::config::{Config, Profile};
use crate::container::ContainerConfig;
use crate::file_policy::fileset::{Access, BadEntry};
use crate::files::{Area, CopyInList, FileSpec, FileStore, Input, OutName, OutputTo};
use crate::mount::{Bind, RootSpec};
use crate::spec::{with_limits, Mode, RunSpec, DEFAULT_PATH, DEFAULT_PROFILE};
pub use crate::stdio::OutputDefault;
use crate::stdio::{Stdio, StdioError};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

with_limits! {
    /// One run's options, the one schema of every entry: the command line's `runbox run`
    /// flags (clap) and a batch line's fields (serde), each parsed and checked as it is
    /// read; `None` means the profile's, then the contract's default. A batch line's
    /// unknown field is an error naming it, not ignored.
    #[derive(clap::Args, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
    #[serde(deny_unknown_fields)]
    pub struct RunOptions {
        /// A batch request's id, echoed in its result line (read from the line itself
        /// first, so that a bad line keeps it); no part of the run.
        #[arg(skip)]
        pub id: Option<String>,
        /// How to isolate the program.
        #[arg(long, value_enum, default_value = "container")]
        #[serde(default)]
        pub mode: Mode,
        ..limits!(#[arg(long)]),
        /// Bound each process's address space (RLIMIT_AS) at this size, as go-judge's
        /// addressSpaceLimit [default: unbounded; --memory bounds the run].
        #[arg(long, value_name = "SIZE")]
        pub address_space: Option<crate::spec::Memory>,
        /// Bound each process's data segment (RLIMIT_DATA: its heap and private writable
        /// mappings) at this size, as go-judge's dataSegmentLimit [default: unbounded].
        #[arg(long, value_name = "SIZE")]
        pub data_segment: Option<crate::spec::Memory>,
        /// File read as stdin (a regular file or /dev/null), or `-`: runbox's own stdin,
        /// read to its end before the run [default: /dev/null]. In a batch also
        /// `{"content": "TEXT"}` or `{"file": "ID"}` (a stored file).
        #[arg(long, value_name = "FILE")]
        pub stdin: Option<Input>,
        /// File written as stdout (created or truncated) [default: runbox's stdout]. In a
        /// batch also `{"collect": "64K"}`: returned in the result.
        #[arg(long, value_name = "FILE")]
        pub stdout: Option<OutputTo>,
        /// File written as stderr (created or truncated) [default: runbox's stderr]. In a
        /// batch also `{"collect": "64K"}`.
        #[arg(long, value_name = "FILE")]
        pub stderr: Option<OutputTo>,
        /// Host directory bind-mounted read-write at /w, the working directory (ptrace
        /// mode: the working directory itself, writable) [default: a tmpfs; ptrace mode: a
        /// fresh empty directory].
        #[arg(long)]
        pub dir: Option<PathBuf>,
        /// Extra bind mount `SRC[:DST[:rw]]`, read-only unless `:rw` (repeatable).
        #[arg(long, value_name = "SRC[:DST[:rw]]")]
        #[serde(default)]
        pub bind: Vec<Bind>,
        /// Take the root's entries from DIR instead of the host's /bin, /lib, /usr...
        #[arg(long, value_name = "DIR")]
        pub rootfs: Option<PathBuf>,
        /// Environment entry K=V (repeatable); given any, the environment is exactly these
        /// [default: PATH=/usr/local/bin:/usr/bin:/bin].
        #[arg(long, value_name = "K=V")]
        pub env: Option<Vec<String>>,
        /// Syscall profile: default (refuses the kernel surfaces no judged program needs),
        /// strict (an allow-list for single-process C/C++; anything else ends the run),
        /// none.
        #[arg(long, value_name = "NAME")]
        pub profile: Option<String>,
        /// ptrace mode: a file the program may read, or `DIR/` for a whole tree, beyond the
        /// profile's (repeatable).
        #[arg(long, value_name = "PATH")]
        #[serde(default)]
        pub allow_read: Vec<String>,
        /// ptrace mode: a file the program may write (and read), or `DIR/`, beyond the
        /// profile's (repeatable).
        #[arg(long, value_name = "PATH")]
        #[serde(default)]
        pub allow_write: Vec<String>,
        /// The program (a path, or a name looked up in PATH inside the sandbox) and its
        /// arguments.
        #[arg(last = true, value_name = "PROGRAM [ARGS]")]
        pub argv: Vec<String>,
        /// A batch's files written into the run's /w or /tmp before it starts:
        /// `{"PATH": {"content" | "src" | "file": ..., "mode"?: "0755"}}`.
        #[arg(skip)]
        #[serde(default)]
        pub copy_in: CopyInList,
        /// A batch's files returned as text after the run (`"PATH?"`: may be missing).
        #[arg(skip)]
        #[serde(default)]
        pub copy_out: Vec<OutName>,
        /// A batch's files put in the file store after the run, returned by id.
        #[arg(skip)]
        #[serde(default)]
        pub copy_out_cached: Vec<OutName>,
        /// The most bytes of each file copied out [default: 64M].
        #[arg(skip)]
        pub copy_out_max: Option<crate::spec::Output>,
    }
}

/// A run, resolved: its container's configuration and what to run in it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The root and names of the container.
    pub config: ContainerConfig,
    /// The program, environment, limits and filter.
    pub spec: RunSpec,
}

/// Why a run's options cannot be resolved; each message starts with the option's name (as
/// in a batch line: the command line adds `--`).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No profile of that name in the configuration.
    #[error("profile: unknown profile {name:?} (known: {known})")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The configuration's profiles, comma-separated.
        known: String,
    },
    /// Binds or a root of its own asked of ptrace mode, which has no mount namespace.
    #[error("bind and rootfs need a mount namespace: not in ptrace mode")]
    MountsInPtrace,
    /// ptrace mode's file sets asked of another mode.
    #[error("allow-read and allow-write are ptrace mode's file sets")]
    FileSetsOutsidePtrace,
    /// A file-set entry that cannot be one.
    #[error("{key}: {entry}")]
    FileSet {
        /// `allow-read` or `allow-write`.
        key: &'static str,
        /// The entry and what is wrong.
        #[source]
        entry: BadEntry,
    },
    /// ptrace mode's working directory, not reached without a link or not a directory.
    #[error("dir {0}")]
    Dir(#[source] crate::given_path::Refused),
    /// Files in or out, or a collected output, asked of ptrace mode, which has no fresh
    /// room.
    #[error("{0}: needs a container's fresh room (container or namespace mode), not ptrace mode")]
    FilesInPtrace(&'static str),
    /// copy_in under /w where the judge's own directory is /w.
    #[error("copy_in {0}: /w is the run's dir (the judge's own directory); copy into /tmp, or into the dir itself")]
    CopyInToDir(String),
}

impl RunOptions {
    /// The named profile of `config`, or an error listing the known ones.
    pub fn profile<'c>(&self, config: &'c Config) -> Result<&'c Profile, ResolveError> {
        let name = self.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
        config.get(name).ok_or_else(|| {
            let known: Vec<&str> = config.profiles().map(|p| p.name.as_str()).collect();
            ResolveError::UnknownProfile {
                name: name.to_string(),
                known: known.join(", "),
            }
        })
    }

    /// The container and the run, with the profile's defaults filled in.
    pub fn resolve(&self, config: &Config) -> Result<Resolved, ResolveError> {
        let profile = self.profile(config)?;
        let ptrace = self.mode == Mode::Ptrace;
        let seccomp = profile.filter(ptrace);
        // Shared with the profile unless this run adds to its file sets: container and
        // namespace runs never copy them.
        let mut settings = Arc::clone(&profile.ptrace);
        if ptrace {
            if !self.bind.is_empty() || self.rootfs.is_some() || !profile.binds.is_empty() {
                return Err(ResolveError::MountsInPtrace);
            }
            if let Some(dir) = &self.dir {
                // The working directory itself: a directory, reached through no link.
                crate::given_path::open(dir, libc::O_PATH | libc::O_DIRECTORY, 0)
                    .map_err(ResolveError::Dir)?;
            }
            let sets = [
                (Access::Read, "allow-read", &self.allow_read),
                (Access::Write, "allow-write", &self.allow_write),
            ];
            for (access, key, list) in sets {
                for entry in list {
                    Arc::make_mut(&mut settings)
                        .files
                        .allow(access, entry)
                        .map_err(|entry| ResolveError::FileSet { key, entry })?;
                }
            }
        } else if !self.allow_read.is_empty() || !self.allow_write.is_empty() {
            return Err(ResolveError::FileSetsOutsidePtrace);
        }
        let files = self.files(ptrace)?;
        let mut limits = self.limits().resolve(&profile.limits);
        limits.address_space = self.address_space.map(|size| size.get());
        limits.data_segment = self.data_segment.map(|size| size.get());
        if ptrace && self.processes.is_none() && profile.limits.processes.is_none() {
            // ptrace mode's default: the program alone, as UOJ's.
            limits.processes = 1;
        }
        let env = self.env.clone().or_else(|| profile.env.clone());
        let mut binds = profile.binds.clone();
        binds.extend(self.bind.iter().cloned());
        Ok(Resolved {
            config: ContainerConfig {
                root: RootSpec {
                    rootfs: self.rootfs.clone(),
                    work_dir: self.dir.clone(),
                    binds,
                },
                ..ContainerConfig::default()
            },
            spec: RunSpec {
                argv: self.argv.clone(),
                env: env.unwrap_or_else(|| vec![format!("PATH={DEFAULT_PATH}")]),
                cwd: "/w".into(),
                limits,
                seccomp,
                ptrace: settings,
                files,
            },
        })
    }

    /// The run's files, checked against its mode and `dir`.
    fn files(&self, ptrace: bool) -> Result<FileSpec, ResolveError> {
        let spec = FileSpec {
            copy_in: self.copy_in.0.clone(),
            copy_out: self.copy_out.clone(),
            copy_out_cached: self.copy_out_cached.clone(),
            copy_out_max: self
                .copy_out_max
                .map_or(crate::files::DEFAULT_COPY_OUT_MAX, |max| max.get()),
        };
        if ptrace {
            let collects = |o: &Option<OutputTo>| matches!(o, Some(OutputTo::Collect(_)));
            let asked = [
                (!spec.copy_in.is_empty(), "copy_in"),
                (!spec.copy_out.is_empty(), "copy_out"),
                (!spec.copy_out_cached.is_empty(), "copy_out_cached"),
                (collects(&self.stdout), "stdout collect"),
                (collects(&self.stderr), "stderr collect"),
            ];
            if let Some((_, field)) = asked.iter().find(|(asked, _)| *asked) {
                return Err(ResolveError::FilesInPtrace(field));
            }
        }
        if self.dir.is_some() {
            if let Some(entry) = spec.copy_in.iter().find(|e| e.path.area == Area::Work) {
                return Err(ResolveError::CopyInToDir(entry.path.to_string()));
            }
        }
        Ok(spec)
    }

    /// Opens the program's stdin, stdout and stderr ([`crate::stdio`]), with `store` for
    /// a stored stdin; an error names the option and the path.
    pub fn open_stdio(
        &self,
        unnamed_output: OutputDefault,
        store: Option<&FileStore>,
    ) -> Result<Stdio, StdioError> {
        crate::stdio::open(
            self.stdin.as_ref(),
            self.stdout.as_ref(),
            self.stderr.as_ref(),
            unnamed_output,
            store,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CpuTime, LimitChoices, Memory, Processes};
    use std::time::Duration;

    #[test]
    fn limits_come_from_the_run_then_the_profile_then_the_contract() {
        let none = LimitChoices::default();
        assert_eq!(none.resolve(&none), crate::spec::Limits::default());
        let run = LimitChoices {
            time: CpuTime::new(Duration::from_millis(500)).ok(),
            memory: Memory::new(64 << 20).ok(),
            ..LimitChoices::default()
        };
        let limits = run.resolve(&none);
        assert_eq!(limits.wall, Duration::from_millis(1500));
        assert_eq!(limits.stack, 64 << 20);
        let profile = LimitChoices {
            time: CpuTime::new(Duration::from_secs(2)).ok(),
            processes: Processes::new(8).ok(),
            ..LimitChoices::default()
        };
        let limits = run.resolve(&profile);
        assert_eq!(
            (limits.time, limits.processes),
            (Duration::from_millis(500), 8)
        );
    }

    #[test]
    fn a_profile_gives_its_environment_unless_the_run_names_one() {
        let python = RunOptions {
            profile: Some("python3".into()),
            ..RunOptions::default()
        };
        let resolved = python.resolve(&Config::builtin()).unwrap();
        assert!(resolved
            .spec
            .env
            .contains(&"PYTHONDONTWRITEBYTECODE=1".to_string()));
        assert_eq!(resolved.spec.limits.memory, 512 << 20);
        let own = RunOptions {
            env: Some(vec!["A=1".into()]),
            ..python
        };
        assert_eq!(
            own.resolve(&Config::builtin()).unwrap().spec.env,
            vec!["A=1".to_string()]
        );
        assert_eq!(
            RunOptions::default()
                .resolve(&Config::builtin())
                .unwrap()
                .spec
                .env,
            vec![format!("PATH={DEFAULT_PATH}")]
        );
        let unknown = RunOptions {
            profile: Some("nope".into()),
            ..RunOptions::default()
        };
        assert!(unknown
            .resolve(&Config::builtin())
            .unwrap_err()
            .to_string()
            .starts_with("profile: unknown profile \"nope\" (known: c, cpp"));
    }
}
