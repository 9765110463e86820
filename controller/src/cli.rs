//! The `runbox` command line: parsing (clap), opening the stdio files, printing the result,
//! and the exit codes of the contract (0: the sandbox did its job, 2: usage, 3: internal).

use crate::container::ContainerConfig;
use crate::mount::{Bind, RootSpec};
use crate::result::RunResult;
use crate::run::run_once;
use crate::spec::{Limits, Mode, RunSpec, DEFAULT_PATH};
use crate::status::Status;
use crate::units::{parse_duration, parse_size};
use clap::{Parser, Subcommand, ValueEnum};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one program in a sandbox and report how it ended.
    Run(RunArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    Container,
    Namespace,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// How to isolate the program.
    #[arg(long, value_enum, default_value = "container")]
    mode: ModeArg,
    /// CPU time limit, user + system (500ms, 2s).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    time: Duration,
    /// Wall-clock limit [default: 3 x --time].
    #[arg(long, value_parser = parse_duration)]
    wall: Option<Duration>,
    /// Memory limit of the whole run, swap excluded (64M, 65536K, 1G).
    #[arg(long, value_parser = parse_size, default_value = "256M")]
    memory: u64,
    /// Stack limit [default: = --memory].
    #[arg(long, value_parser = parse_size)]
    stack: Option<u64>,
    /// Limit on the bytes written to any one file.
    #[arg(long, value_parser = parse_size, default_value = "64M")]
    output: u64,
    /// Processes and threads the run may have at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    processes: u64,
    /// File read as stdin [default: /dev/null].
    #[arg(long)]
    stdin: Option<PathBuf>,
    /// File written as stdout (created or truncated) [default: runbox's stdout].
    #[arg(long)]
    stdout: Option<PathBuf>,
    /// File written as stderr (created or truncated) [default: runbox's stderr].
    #[arg(long)]
    stderr: Option<PathBuf>,
    /// Host directory bind-mounted read-write at /w, the working directory [default: a tmpfs].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Extra bind mount SRC[:DST[:rw]], read-only unless :rw (repeatable).
    #[arg(long, value_name = "SRC[:DST[:rw]]")]
    bind: Vec<Bind>,
    /// Take the root's entries from DIR instead of the host's /bin, /lib, /usr...
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Environment entry K=V (repeatable); given any, the environment is exactly these
    /// [default: PATH=/usr/local/bin:/usr/bin:/bin].
    #[arg(long, value_name = "K=V")]
    env: Vec<String>,
    /// Print one JSON object on stdout instead of a summary on stderr.
    #[arg(long)]
    json: bool,
    /// The program (a path, or a name looked up in PATH inside the sandbox) and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM [ARGS]")]
    argv: Vec<String>,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
    }
}

fn usage_error(message: impl std::fmt::Display) -> i32 {
    eprintln!("runbox: {message}");
    EXIT_USAGE
}

fn run(args: RunArgs) -> i32 {
    let stdio = match open_stdio(&args) {
        Ok(stdio) => stdio,
        Err(message) => return usage_error(message),
    };
    let mode = match args.mode {
        ModeArg::Container => Mode::Container,
        ModeArg::Namespace => Mode::Namespace,
    };
    let config = ContainerConfig {
        root: RootSpec {
            rootfs: args.rootfs.clone(),
            work_dir: args.dir.clone(),
            binds: args.bind.clone(),
        },
        ..ContainerConfig::default()
    };
    let spec = RunSpec {
        argv: args.argv.clone(),
        env: if args.env.is_empty() {
            vec![format!("PATH={DEFAULT_PATH}")]
        } else {
            args.env.clone()
        },
        cwd: "/w".into(),
        limits: Limits {
            time: args.time,
            wall: args.wall.unwrap_or(args.time * 3),
            memory: args.memory,
            stack: args.stack.unwrap_or(args.memory),
            output: args.output,
            processes: args.processes,
        },
    };
    let fds = [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd()];
    let result = match run_once(mode, &config, &spec, fds) {
        Ok(result) => result,
        Err(e) if e.is_usage() => return usage_error(e),
        Err(e) => RunResult::internal_error(e.to_string()),
    };
    report(&result, args.json)
}

/// Prints the result and returns the exit code it calls for.
fn report(result: &RunResult, json: bool) -> i32 {
    if json {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", result.to_json());
        let _ = out.flush();
    } else {
        eprint!("{}", result.to_human());
    }
    if result.status == Status::InternalError {
        EXIT_INTERNAL
    } else {
        EXIT_OK
    }
}

/// Opens the program's stdin, stdout and stderr on the host.
fn open_stdio(args: &RunArgs) -> Result<[OwnedFd; 3], String> {
    let stdin = File::open(args.stdin.as_deref().unwrap_or("/dev/null".as_ref()))
        .map_err(|e| format!("--stdin {}: {e}", show(&args.stdin)))?;
    let output =
        |path: &Option<PathBuf>, fallback: BorrowedFd<'_>, flag: &str| -> Result<OwnedFd, String> {
            match path {
                None => fallback
                    .try_clone_to_owned()
                    .map_err(|e| format!("{flag}: {e}")),
                Some(path) => OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(path)
                    .map(OwnedFd::from)
                    .map_err(|e| format!("{flag} {}: {e}", path.display())),
            }
        };
    let stdout = output(&args.stdout, std::io::stdout().as_fd(), "--stdout")?;
    let stderr = output(&args.stderr, std::io::stderr().as_fd(), "--stderr")?;
    Ok([stdin.into(), stdout, stderr])
}

fn show(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or("/dev/null".into(), |p| p.display().to_string())
}
