//! The options of one run, as the command line and the batch interface both give them, and
//! what they become: a mode, a container configuration, a [`RunSpec`] and three open fds.

use crate::config::{Config, Profile};
use crate::container::ContainerConfig;
use crate::file_policy::fileset::{Access, BadEntry};
use crate::mount::{Bind, RootSpec};
use crate::spec::{LimitChoices, Mode, RunSpec, DEFAULT_PATH, DEFAULT_PROFILE};
pub use crate::stdio::OutputDefault;
use crate::stdio::{Stdio, StdioError};
use std::path::PathBuf;
use std::sync::Arc;

/// One run's options, parsed and typed; `None` means the contract's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// container, namespace or ptrace.
    pub mode: Mode,
    /// The limits given; the rest come from the profile, then the contract's defaults.
    pub limits: LimitChoices,
    /// stdin file [/dev/null].
    pub stdin: Option<PathBuf>,
    /// stdout file.
    pub stdout: Option<PathBuf>,
    /// stderr file.
    pub stderr: Option<PathBuf>,
    /// Host directory at /w [a tmpfs].
    pub dir: Option<PathBuf>,
    /// Extra binds.
    pub bind: Vec<Bind>,
    /// Root entries from this directory [the host's].
    pub rootfs: Option<PathBuf>,
    /// The environment, exactly [PATH only].
    pub env: Option<Vec<String>>,
    /// The syscall profile (default: `default`).
    pub profile: Option<String>,
    /// ptrace mode: files readable beyond the profile's (`dir/` for a tree).
    pub allow_read: Vec<String>,
    /// ptrace mode: files writable beyond the profile's.
    pub allow_write: Vec<String>,
    /// The program and its arguments.
    pub argv: Vec<String>,
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
        let mut limits = self.limits.resolve(&profile.limits);
        if ptrace && self.limits.processes.is_none() && profile.limits.processes.is_none() {
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
            },
        })
    }

    /// Opens the program's stdin, stdout and stderr ([`crate::stdio`]); an error names the
    /// option and the path.
    pub fn open_stdio(&self, unnamed_output: OutputDefault) -> Result<Stdio, StdioError> {
        crate::stdio::open(
            self.stdin.as_deref(),
            self.stdout.as_deref(),
            self.stderr.as_deref(),
            unnamed_output,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_come_from_the_run_then_the_profile_then_the_contract() {
        let none = LimitChoices::default();
        assert_eq!(none.resolve(&none), crate::spec::Limits::default());
        let run = LimitChoices {
            time: Some(Duration::from_millis(500)),
            memory: Some(64 << 20),
            ..LimitChoices::default()
        };
        let limits = run.resolve(&none);
        assert_eq!(limits.wall, Duration::from_millis(1500));
        assert_eq!(limits.stack, 64 << 20);
        let profile = LimitChoices {
            time: Some(Duration::from_secs(2)),
            processes: Some(8),
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
