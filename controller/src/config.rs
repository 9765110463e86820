//! Run configurations: named profiles, each a syscall base with extra allowed or refused
//! calls, default limits, an environment and extra binds. The built-in ones are
//! `controller/profiles.toml`, embedded; `--config FILE` adds profiles or replaces them by
//! name. Every error names the file, the line and the key.

use crate::file_policy::fileset::Access;
use crate::file_policy::settings::{MemoryRlimit, OnDenied, PtraceSettings};
use crate::mount::Bind;
use crate::seccomp::arch::Arch;
use crate::seccomp::bpf::{Action, Policy, Rule};
use crate::seccomp::{profile, Filter};
use crate::spec::{with_limits, LimitChoices};
use crate::units::NotOneOf;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use toml::Spanned;

/// The built-in configurations.
pub const BUILTIN: &str = include_str!("../profiles.toml");

/// The syscall bases a profile builds on.
pub const BASES: &[&str] = &["default", "strict", "none"];
/// [`BASES`], as an error names them.
const BASES_NAMED: &str = "default, strict, none";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    profile: BTreeMap<String, ProfileSpec>,
}

with_limits! {
    /// A profile's table. The limits are read and checked as they are parsed (an error
    /// then has its line from the parser, and its key from [`key_at`]); the other values
    /// keep their place ([`Spanned`]) for the errors found after.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ProfileSpec {
        description: Option<String>,
        syscalls: Option<Spanned<String>>,
        #[serde(default)]
        allow: Vec<Spanned<String>>,
        #[serde(default)]
        refuse: Vec<Spanned<String>>,
        ..limits!(),
        env: Option<Vec<String>>,
        #[serde(default)]
        bind: Vec<Spanned<String>>,
        #[serde(default)]
        read: Vec<Spanned<String>>,
        #[serde(default)]
        write: Vec<Spanned<String>>,
        #[serde(default)]
        stat: Vec<Spanned<String>>,
        file_denied: Option<Spanned<String>>,
        memory_rlimit: Option<Spanned<String>>,
    }
}

/// One named run configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The syscall base: `default`, `strict` or `none`.
    pub syscalls: String,
    /// Calls allowed on top of the base.
    pub allow: Vec<String>,
    /// Calls refused with EPERM on top of the base.
    pub refuse: Vec<String>,
    /// Default limits.
    pub limits: LimitChoices,
    /// The environment, if the profile sets one.
    pub env: Option<Vec<String>>,
    /// Extra read-only binds.
    pub binds: Vec<Bind>,
    /// ptrace mode's file sets (the base ones and the profile's) and choices.
    pub ptrace: Arc<PtraceSettings>,
    /// Its compiled filters for the native architecture, made on first use: the plain one
    /// and ptrace mode's.
    filters: [OnceLock<Arc<Filter>>; 2],
}

/// A set of profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    profiles: BTreeMap<String, Profile>,
}

/// What is wrong in a configuration file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based), where known.
    pub line: Option<usize>,
    /// The key at fault, where known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Parses one configuration text from `file`.
fn parse(text: &str, file: &Path) -> Result<Vec<Profile>, ConfigError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let spec: FileSpec = toml::from_str(text).map_err(|e| ConfigError {
        file: file.into(),
        line: e.span().map(|s| line_of(s.start)),
        key: e.span().and_then(|s| key_at(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    let mut out = Vec::new();
    for (name, p) in spec.profile {
        let limits = p.limits();
        let error = |span: std::ops::Range<usize>, key: &str, message: String| ConfigError {
            file: file.into(),
            line: Some(line_of(span.start)),
            key: Some(format!("profile.{name}.{key}")),
            message,
        };
        let syscalls = match p.syscalls {
            None => "default".to_string(),
            Some(base) if BASES.contains(&base.get_ref().as_str()) => base.into_inner(),
            Some(base) => {
                let message = NotOneOf::new(base.get_ref(), BASES_NAMED);
                return Err(error(base.span(), "syscalls", message.to_string()));
            }
        };
        let names = |list: Vec<Spanned<String>>, key: &str| -> Result<Vec<String>, ConfigError> {
            list.into_iter()
                .map(|n| match Arch::any_knows(n.get_ref()) {
                    true => Ok(n.into_inner()),
                    false => Err(error(
                        n.span(),
                        key,
                        format!("unknown syscall {:?}", n.get_ref()),
                    )),
                })
                .collect()
        };
        let binds = p
            .bind
            .into_iter()
            .map(|b| {
                b.get_ref()
                    .parse::<Bind>()
                    .map_err(|e| error(b.span(), "bind", e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let mut ptrace = PtraceSettings::default();
        for (access, key, list) in [
            (Access::Read, "read", p.read),
            (Access::Write, "write", p.write),
            (Access::Stat, "stat", p.stat),
        ] {
            for entry in list {
                ptrace
                    .files
                    .allow(access, entry.get_ref())
                    .map_err(|e| error(entry.span(), key, e.to_string()))?;
            }
        }
        if let Some(v) = p.file_denied {
            ptrace.on_denied = OnDenied::parse(v.get_ref())
                .map_err(|e| error(v.span(), "file_denied", e.to_string()))?;
        }
        if let Some(v) = p.memory_rlimit {
            ptrace.memory_rlimit = MemoryRlimit::parse(v.get_ref())
                .map_err(|e| error(v.span(), "memory_rlimit", e.to_string()))?;
        }
        out.push(Profile {
            description: p.description.unwrap_or_default(),
            syscalls,
            allow: names(p.allow, "allow")?,
            refuse: names(p.refuse, "refuse")?,
            limits,
            env: p.env,
            binds,
            ptrace: Arc::new(ptrace),
            name,
            filters: Default::default(),
        });
    }
    Ok(out)
}

/// The key whose value is at `offset`, with its table (`profile.a.processes`), where the
/// line reads `KEY = VALUE` and `offset` is in the value: a value the TOML parser itself
/// refuses (a number past 64 bits, a negative count) is then named like the others.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let (key, _) = line
        .split_once('=')
        .filter(|(k, _)| start + k.len() < offset)?;
    // `"memory" = ...` is `memory = ...`.
    let key = key.trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(key);
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !bare(key) {
        return None;
    }
    let table = text[..start].lines().rev().find_map(|l| {
        let l = l.trim();
        let header = l.strip_prefix('[')?.split(']').next()?;
        Some(header.trim_matches(|c| c == '[' || c == ' ').to_string())
    });
    Some(match table {
        Some(table) if bare(&table) => format!("{table}.{key}"),
        _ => key.to_string(),
    })
}

impl Config {
    /// The built-in profiles.
    pub fn builtin() -> Config {
        let profiles = parse(BUILTIN, Path::new("controller/profiles.toml"))
            .expect("the built-in profiles parse (tested)");
        Config {
            profiles: profiles.into_iter().map(|p| (p.name.clone(), p)).collect(),
        }
    }

    /// The built-in profiles, with those of `file` added or replacing them by name.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.into(),
            line: None,
            key: None,
            message: e.to_string(),
        })?;
        let mut config = Config::builtin();
        for profile in parse(&text, file)? {
            config.profiles.insert(profile.name.clone(), profile);
        }
        Ok(config)
    }

    /// A profile by name.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }

    /// Every profile, by name.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }
}

impl Profile {
    /// The syscall policy for `arch`: the base's (`none`: everything allowed), with the
    /// extra calls allowed or refused, and the walls no profile lifts
    /// ([`profile::add_walls`]).
    pub fn policy(&self, arch: Arch) -> Policy {
        let mut policy = match profile::builtin(&self.syscalls, arch) {
            Some(policy) => policy,
            None => Policy {
                arch: arch.audit(),
                foreign_from: arch.foreign_from(),
                rules: BTreeMap::new(),
                default: Action::Allow,
            },
        };
        for (names, action) in [
            (&self.allow, Action::Allow),
            (&self.refuse, Action::Errno(1)),
        ] {
            for nr in names.iter().filter_map(|n| arch.number(n)) {
                policy.rules.insert(nr, Rule::Always(action));
            }
        }
        profile::add_walls(&mut policy, arch);
        policy
    }

    /// Its filter for the native architecture, compiled once: the plain one, or ptrace
    /// mode's ([`crate::ptrace::filter::policy`], file calls stopping in the tracer).
    pub fn filter(&self, ptrace: bool) -> Arc<Filter> {
        let made = || {
            let arch = Arch::native();
            let policy = self.policy(arch);
            Arc::new(match ptrace {
                true => Filter::compile(&crate::ptrace::filter::policy(Some(policy), arch), true),
                false => Filter::compile(&policy, false),
            })
        };
        Arc::clone(self.filters[usize::from(ptrace)].get_or_init(made))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text, Path::new("judge.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_built_in_profiles_parse_and_cover_the_languages() {
        let config = Config::builtin();
        for name in [
            "default", "strict", "none", "c", "cpp", "rust", "python3", "java", "go", "gcc", "gpp",
            "rustc", "javac", "go-build",
        ] {
            assert!(config.get(name).is_some(), "{name}");
        }
        assert_eq!(
            config
                .get("python3")
                .unwrap()
                .limits
                .memory
                .map(|m| m.get()),
            Some(512 << 20)
        );
        assert!(config
            .get("cpp")
            .unwrap()
            .allow
            .contains(&"clone".to_string()));
    }

    #[test]
    fn a_file_adds_and_replaces_profiles() {
        let text = "[profile.c]\nsyscalls = \"default\"\ntime = \"3s\"\n\n[profile.mine]\nrefuse = [\"getpid\"]\n";
        let profiles = parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(profiles.len(), 2);
        assert_eq!(
            profiles[0].limits.time.map(|t| t.get()),
            Some(std::time::Duration::from_secs(3))
        );
        let mine = &profiles[1];
        let policy = mine.policy(Arch::X86_64);
        assert_eq!(policy.rules.get(&39), Some(&Rule::Always(Action::Errno(1))));
        // getpid
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        assert_eq!(
            error("[profile.a]\nsyscalls = \"default\"\nmemroy = \"64M\"\n"),
            "judge.toml:3: unknown field `memroy`, expected one of `description`, `syscalls`, `allow`, `refuse`, `time`, `wall`, `memory`, `stack`, `output`, `processes`, `env`, `bind`, `read`, `write`, `stat`, `file_denied`, `memory_rlimit`"
        );
        assert_eq!(
            error("[profile.a]\nallow = [\"read\",\n  \"frobnicate\"]\n"),
            "judge.toml:3: profile.a.allow: unknown syscall \"frobnicate\""
        );
        assert_eq!(
            error("[profile.a]\ntime = \"0s\"\n"),
            "judge.toml:2: profile.a.time: must be more than zero"
        );
        assert_eq!(
            error("[profile.a]\nmemory = \"12K\"\n"),
            "judge.toml:2: profile.a.memory: must be at least 1048576 bytes"
        );
        assert!(error("[profile.a]\nwall = \"soon\"\n")
            .starts_with("judge.toml:2: profile.a.wall: \"soon\""));
        assert_eq!(
            error("[profile.a]\nprocesses = 0\n"),
            "judge.toml:2: profile.a.processes: must be at least 1"
        );
        assert!(error("[profile.a]\nsyscalls = \"lax\"\n")
            .starts_with("judge.toml:2: profile.a.syscalls: \"lax\" is not one of"));
        assert!(
            error("[profile.a\n").starts_with("judge.toml:1: "),
            "{}",
            error("[profile.a\n")
        );
        assert!(error("[other]\n").contains("unknown field `other`"));
        // A quoted key is the same key.
        assert_eq!(
            error("[profile.a]\n\"memory\" = \"12K\"\n"),
            "judge.toml:2: profile.a.memory: must be at least 1048576 bytes"
        );
    }

    #[test]
    fn limits_past_their_bounds_name_the_file_the_line_and_the_key() {
        let ok = "[profile.a]\ntime = \"86400s\"\nwall = \"1440m\"\nmemory = \"1T\"\nstack = \"1T\"\noutput = \"1T\"\nprocesses = 1000000\n";
        let limits = &parse(ok, Path::new("judge.toml")).unwrap()[0].limits;
        assert_eq!(limits.resolve(&LimitChoices::default()).check(), Ok(()));
        assert_eq!(limits.processes.map(|p| p.get()), Some(1_000_000));
        for (text, says) in [
            (
                "[profile.a]\ntime = \"86400.000001s\"\n",
                "judge.toml:2: profile.a.time: must be at most 1440m (24 hours)",
            ),
            (
                "[profile.a]\n\nwall = \"18446744073709s\"\n",
                "judge.toml:3: profile.a.wall: must be at most 1440m (24 hours)",
            ),
            (
                "[profile.a]\nwall = \"18446744073709552s\"\n",
                "judge.toml:2: profile.a.wall: \"18446744073709552s\": too long a duration",
            ),
            (
                "[profile.a]\nmemory = \"1025G\"\n",
                "judge.toml:2: profile.a.memory: must be at most 1T (1099511627776 bytes)",
            ),
            (
                "[profile.a]\nstack = \"18446744073709551615K\"\n",
                "judge.toml:2: profile.a.stack: \"18446744073709551615K\": too large a size",
            ),
            (
                "[profile.a]\noutput = \"1099511627777\"\n",
                "judge.toml:2: profile.a.output: must be at most 1T (1099511627776 bytes)",
            ),
            (
                "[profile.a]\nprocesses = 1000001\n",
                "judge.toml:2: profile.a.processes: must be at most 1000000",
            ),
        ] {
            assert_eq!(error(text), says);
        }
        for text in [
            "[profile.a]\nprocesses = 18446744073709551615\n",
            "[profile.a]\nprocesses = 9223372036854775807\n",
            "[profile.a]\nprocesses = -1\n",
            "[profile.a]\nprocesses = 1.5\n",
            "[profile.a]\nprocesses = \"4\"\n",
        ] {
            let err = error(text);
            assert!(err.starts_with("judge.toml:2: "), "{text}: {err}");
            assert!(err.contains("profile.a.processes: "), "{text}: {err}");
        }
    }

    use crate::units::{format_duration, format_size};
    use proptest::prelude::*;

    /// A TOML value for a limit: a size- or duration-like string, any string, any number.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{0,22}(\\.[0-9]{0,20})?(us|ms|s|m|K|M|G|T|KiB|B|x|)"
                .prop_map(|s| format!("{s:?}")),
            "\\PC{0,12}".prop_map(|s| format!("{s:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            "[0-9]{19,22}",
            any::<f64>().prop_map(|n| format!("{n:?}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn any_text_is_a_configuration_or_an_error_without_a_panic(text in "\\PC{0,120}") {
            let _ = parse(&text, Path::new("x.toml"));
            let with_header = format!("[profile.p]\n{text}");
            let _ = parse(&with_header, Path::new("x.toml"));
        }

        #[test]
        fn the_key_of_any_offset_is_found_or_not_without_a_panic(
            text in "\\PC{0,60}", offset in 0usize..80,
        ) {
            let _ = key_at(&text, offset);
        }

        #[test]
        fn every_accepted_profile_is_within_the_bounds(
            values in proptest::collection::vec(proptest::option::of(value()), 6),
        ) {
            let mut text = "[profile.p]\n".to_string();
            for (key, value) in ["time", "wall", "memory", "stack", "output", "processes"]
                .iter()
                .zip(&values)
            {
                if let Some(value) = value {
                    text.push_str(&format!("{key} = {value}\n"));
                }
            }
            match parse(&text, Path::new("x.toml")) {
                Ok(profiles) => prop_assert_eq!(
                    profiles[0].limits.resolve(&LimitChoices::default()).check(),
                    Ok(())
                ),
                Err(e) => {
                    // Every error says where.
                    prop_assert!(e.line.is_some(), "{}: {}", text, e);
                }
            }
        }

        #[test]
        fn limits_written_out_parse_back(limits in crate::spec::limits_within_bounds()) {
            let all = limits.resolve(&LimitChoices::default());
            let text = format!(
                "[profile.p]\ntime = {:?}\nwall = {:?}\nmemory = {:?}\nstack = {:?}\noutput = {:?}\nprocesses = {}\n",
                format_duration(all.time),
                format_duration(all.wall),
                format_size(all.memory),
                format_size(all.stack),
                format_size(all.output),
                all.processes,
            );
            let profiles = parse(&text, Path::new("x.toml")).unwrap();
            prop_assert_eq!(&profiles[0].limits, &limits);
        }
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = Config::load(Path::new("/no/such/judge.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/no/such/judge.toml: No such file"),
            "{err}"
        );
    }
}
