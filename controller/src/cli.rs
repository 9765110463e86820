//! The `runbox` command line: parsing (clap), opening the stdio files, printing the result,
//! and the exit codes of the contract (0: the sandbox did its job, 2: usage, 3: internal).

use crate::config::Config;
use crate::options::{OutputDefault, RunOptions};
use crate::result::RunResult;
use crate::run::Refused;
use crate::spec::LimitChoices;
use crate::status::Status;
use crate::units::{parse_duration, Bounded, Unit};
use clap::builder::{TypedValueParser, ValueParserFactory};
use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Exit code when the sandbox did its job, whatever the program did.
pub const EXIT_OK: i32 = 0;
/// Exit code for a usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for an internal error.
pub const EXIT_INTERNAL: i32 = 3;

/// A Linux sandbox for online judges.
#[derive(Parser, Debug)]
#[command(name = "runbox", version)]
pub struct Cli {
    /// Run configurations (TOML) added to the built-in ones, or replacing them by name.
    #[arg(long, global = true, value_name = "FILE", env = "RUNBOX_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one program in a sandbox and report how it ended.
    Run(Box<RunArgs>),
    /// Run requests given as JSON lines on stdin; print one result line each.
    Batch(BatchArgs),
    /// List the run configurations: syscall base, filter length, default limits.
    Profiles,
    /// Serve go-judge's REST API (POST /run, /version, /config...) and runbox's own
    /// POST /runbox/run over HTTP.
    Serve(Box<crate::serve::ServeArgs>),
    /// Run requests (`runbox batch` lines) taken from a Redis stream; write their results.
    Worker(WorkerArgs),
}

#[derive(clap::Args, Debug)]
struct WorkerArgs {
    /// The server: redis://[:PASSWORD@]HOST[:PORT][/DB].
    #[arg(long, value_name = "URL")]
    redis: String,
    /// The stream of requests: entries with a field `request` (and `reply_to`, optional).
    #[arg(long, default_value = "runbox:requests")]
    stream: String,
    /// The consumer group the fleet's workers share.
    #[arg(long, default_value = "runbox")]
    group: String,
    /// This worker's name in the group [default: HOSTNAME-PID].
    #[arg(long)]
    consumer: Option<String>,
    /// Runs at once, each in its own warm container [default: the number of CPUs].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    parallel: Option<u64>,
    /// Take over another worker's entry once it has been idle this long (that worker is
    /// taken for dead; a live worker keeps its own entries fresh, however long they run).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    claim_after: Duration,
    /// Answer an entry `internal_error` instead of running it once it has been delivered
    /// more than this many times.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value = "3")]
    max_deliveries: u64,
}

#[derive(clap::Args, Debug)]
struct BatchArgs {
    /// Runs at once, each in its own warm container [default: the number of CPUs].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    parallel: Option<u64>,
    /// Keep the file store (copy_out_cached, {"file": "ID"}) in DIR, created if missing,
    /// instead of in memory.
    #[arg(long, value_name = "DIR")]
    file_store: Option<std::path::PathBuf>,
    /// The in-memory file store's bound: past it the least recently used files are
    /// evicted [default: 256M].
    #[arg(long, value_name = "SIZE", conflicts_with = "file_store")]
    file_store_max: Option<crate::units::Size<0, { 1 << 40 }>>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Run a group of programs connected by pipes (an interactive problem): FILE holds
    /// the group request as a batch line gives it (`{"group": [...], "pipes": [...]}`),
    /// each member with its own options; prints one result per program.
    #[arg(long, value_name = "FILE", conflicts_with = "argv")]
    group: Option<PathBuf>,
    #[command(flatten)]
    options: RunOptions,
    /// Print one JSON object on stdout instead of a summary on stderr.
    #[arg(long)]
    json: bool,
}

/// How the command line reads a size, duration or count: the type's own [`FromStr`], which
/// checks its bounds, with the error after the flag's name (`--memory: must be at most 1T
/// (1099511627776 bytes)`), as the other options' errors read.
#[derive(Clone, Debug)]
pub struct Checked<T>(PhantomData<T>);

impl<T> TypedValueParser for Checked<T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg.and_then(clap::Arg::get_long).unwrap_or("value");
        let refuse = |why: &dyn std::fmt::Display| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("--{flag}: {why}\n")).with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| refuse(&"not UTF-8"))?;
        text.parse().map_err(|e| refuse(&e))
    }
}

impl<U: Unit, const LEAST: u64, const MOST: u64> ValueParserFactory for Bounded<U, LEAST, MOST>
where
    Self: Clone + Send + Sync + 'static,
{
    type Parser = Checked<Self>;

    fn value_parser() -> Checked<Self> {
        Checked(PhantomData)
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // The one configuration of this process: built in, or with a file's profiles.
    let config = match &cli.config {
        Some(file) => match Config::load(file) {
            Ok(config) => config,
            Err(e) => return usage_error(e),
        },
        None => Config::builtin(),
    };
    match cli.command {
        Command::Run(args) => run(*args, &config),
        Command::Batch(args) => batch(args, &config),
        Command::Profiles => profiles(&config),
        Command::Serve(args) => match crate::serve::serve(*args, config) {
            Ok(()) => EXIT_OK,
            Err(e @ crate::serve::ServeError::Flag(_)) => usage_error(e),
            Err(e) => {
                eprintln!("runbox: {e}");
                EXIT_INTERNAL
            }
        },
        Command::Worker(args) => worker(args, &config),
    }
}

fn usage_error(message: impl std::fmt::Display) -> i32 {
    eprintln!("runbox: {message}");
    EXIT_USAGE
}

fn run(args: RunArgs, config: &Config) -> i32 {
    let options = args.options;
    let result_on = if args.json {
        libc::STDOUT_FILENO
    } else {
        libc::STDERR_FILENO
    };
    let unnamed = OutputDefault::Inherit { result: result_on };
    if let Some(file) = &args.group {
        if options != RunOptions::default() {
            return usage_error("--group: each program of the group has its own options, in FILE");
        }
        return run_group(file, config, unnamed, args.json);
    }
    if options.argv.is_empty() {
        return usage_error("a program to run is required: runbox run [OPTIONS] -- PROGRAM [ARGS]");
    }
    let result = match crate::run::run(&options, config, None, unnamed) {
        Ok(result) => result,
        Err(Refused::Resolve(e)) => return usage_error(format!("--{e}")),
        Err(Refused::Stdio(e)) => return usage_error(format!("--{e}")),
        // A plan error names the request's field: here, the option.
        Err(Refused::Request(e @ crate::Error::Plan(_))) => return usage_error(format!("--{e}")),
        Err(Refused::Request(e)) => return usage_error(e),
        Err(Refused::Files(e)) => return usage_error(e),
        // The program's output first, then the result: both checked.
        Err(Refused::Deliver(e)) => {
            eprintln!("runbox: cannot copy the program's output to runbox's own: {e}");
            return EXIT_INTERNAL;
        }
    };
    report(&result, args.json)
}

/// `runbox run --group FILE`: the group of FILE, each member in a container made for it;
/// one result per member, in order (with `--json`, one object `{"results": [...],
/// "captures": [...]}` on stdout).
fn run_group(file: &std::path::Path, config: &Config, unnamed: OutputDefault, json: bool) -> i32 {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => return usage_error(format!("--group {}: {e}", file.display())),
    };
    let group = match crate::batch::parse_request(&text) {
        (_, Ok(crate::batch::Request::Group(group))) => group,
        (_, Ok(_)) => {
            return usage_error(format!("--group {}: no \"group\" in it", file.display()))
        }
        (_, Err(why)) => return usage_error(format!("--group {}: {why}", file.display())),
    };
    let answer = match crate::group::engine::run(&group, config, None, unnamed, None, None) {
        Ok(answer) => answer,
        Err(why) if why.is_usage() => {
            return usage_error(format!("--group {}: {why}", file.display()))
        }
        Err(why) => {
            eprintln!("runbox: {why}");
            return EXIT_INTERNAL;
        }
    };
    let text = match json {
        true => format!("{}\n", serde_json::to_string(&answer).unwrap_or_default()),
        false => {
            let mut text = String::new();
            for (i, result) in answer.results.iter().enumerate() {
                text.push_str(&format!("run {i}: {}", result.to_human()));
            }
            for (i, capture) in answer.captures.iter().flatten().enumerate() {
                if let Some(capture) = capture {
                    text.push_str(&format!("pipe {i} carried: {capture:?}\n"));
                }
            }
            text
        }
    };
    let fd = if json {
        libc::STDOUT_FILENO
    } else {
        libc::STDERR_FILENO
    };
    if let Err(e) = crate::stdio::write_fully(fd, text.as_bytes()) {
        eprintln!("runbox: cannot write the result: {e}");
        return EXIT_INTERNAL;
    }
    let failed = answer
        .results
        .iter()
        .any(|r| r.status == Status::InternalError);
    if failed {
        EXIT_INTERNAL
    } else {
        EXIT_OK
    }
}

fn profiles(config: &Config) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<10} {:<8} {:>6} {:>6} {:>6} {:>6}  description",
        "profile", "syscalls", "insns", "time", "memory", "procs"
    );
    for profile in config.profiles() {
        let limits = LimitChoices::default().resolve(&profile.limits);
        let insns = profile.filter(false).bytes.len() / 8;
        let _ = writeln!(
            out,
            "{:<10} {:<8} {:>6} {:>6} {:>6} {:>6}  {}",
            profile.name,
            profile.syscalls,
            insns,
            format!("{}ms", limits.time.as_millis()),
            format!("{}M", limits.memory >> 20),
            limits.processes,
            profile.description
        );
    }
    EXIT_OK
}

/// `--parallel`, or the number of CPUs.
fn parallel(given: Option<u64>) -> usize {
    let cpus = || std::thread::available_parallelism().map_or(1, |n| n.get());
    given.map_or_else(cpus, |n| n as usize)
}

fn worker(args: WorkerArgs, config: &Config) -> i32 {
    if args.claim_after.is_zero() {
        return usage_error("--claim-after: must be more than zero");
    }
    let settings = crate::worker::Settings {
        redis: args.redis,
        stream: args.stream,
        group: args.group,
        consumer: args
            .consumer
            .unwrap_or_else(crate::worker::default_consumer),
        parallel: parallel(args.parallel),
        claim_after: args.claim_after,
        max_deliveries: args.max_deliveries,
    };
    match crate::worker::serve(&settings, config) {
        Ok(()) => EXIT_OK,
        Err(e) if e.is_usage() => usage_error(e),
        Err(e) => {
            eprintln!("runbox worker: {e}");
            EXIT_INTERNAL
        }
    }
}

fn batch(args: BatchArgs, config: &Config) -> i32 {
    let parallel = parallel(args.parallel);
    let store = match crate::files::FileStore::open(
        args.file_store.as_deref(),
        args.file_store_max.map(|m| m.get()),
    ) {
        Ok(store) => store,
        Err(e) => return usage_error(format!("--file-store: {e}")),
    };
    match crate::batch::run_batch_with_store(std::io::stdin().lock(), config, parallel, &store) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("runbox: {e}");
            EXIT_INTERNAL
        }
    }
}

/// Prints the result and returns the exit code it calls for: a result that could not be
/// written is an internal error, said on stderr.
fn report(result: &RunResult, json: bool) -> i32 {
    let (fd, text) = match json {
        true => (libc::STDOUT_FILENO, format!("{}\n", result.to_json())),
        // On a terminal, what the program printed before may have left attributes set
        // (ESC[8m hides text): the summary resets them first.
        false if std::io::stderr().is_terminal() => {
            (libc::STDERR_FILENO, format!("\x1b[0m{}", result.to_human()))
        }
        false => (libc::STDERR_FILENO, result.to_human()),
    };
    if let Err(e) = crate::stdio::write_fully(fd, text.as_bytes()) {
        eprintln!("runbox: cannot write the result: {e}");
        return EXIT_INTERNAL;
    }
    if result.status == Status::InternalError {
        EXIT_INTERNAL
    } else {
        EXIT_OK
    }
}
