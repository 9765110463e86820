//! # One run, from a request to its result: the lifecycle every entry calls
//!
//! `runbox run`, `runbox batch` (and the library) hand a run's options to [`run`], which
//! goes through the steps in order:
//!
//! 1. **resolve** the options against their profile in the configuration (a value the
//!    entry passes in): the container's root, the program, its limits and filter
//!    ([`RunOptions::resolve`]);
//! 2. **open** the run's files in ([`crate::files::open_inputs`]: stored files by id,
//!    host files) and the program's stdio ([`crate::stdio`]: files, text, collectors);
//! 3. **get a sandbox**: a warm container of the pools (container mode: the pool of its
//!    root), a container made for this run alone (namespace mode, or no pools: `runbox
//!    run`), or the traced program on the host (ptrace mode); in a container, the run gets
//!    a fresh room (its `/w`, `/tmp` and binds: [`crate::container::room`]), into whose
//!    tmpfs the files are copied before it is attached;
//! 4. **run** it there, which supervises (draining collected outputs) and accounts into an
//!    [`Outcome`], the same in every mode, which [`RunResult::from_outcome`] alone decides
//!    ([`crate::status`]) into a result; the files copied out (and stored) join it;
//! 5. **deliver** the output spooled for runbox's own stdout and stderr.

use crate::config::Config;
use crate::container::{Container, ContainerConfig};
use crate::error::Error;
use crate::files::{FileStore, FilesError, FilesOut, RunFiles};
use crate::mount::host::HostFs;
use crate::mount::plan;
use crate::options::{OutputDefault, ResolveError, RunOptions};
use crate::pool::Pools;
use crate::result::RunResult;
use crate::spec::{Mode, RunSpec};
use crate::status::Outcome;
use crate::stdio::{Stdio, StdioError};

/// Why a run never started: the request itself is wrong (a usage error: the CLI exits 2,
/// a batch answers `internal_error`), or its output could not be delivered.
#[derive(Debug)]
pub enum Refused {
    /// A profile or option the mode cannot honour; the message starts with the option's
    /// name (`profile: ...`), to which the CLI adds its `--`.
    Resolve(ResolveError),
    /// A stdio path refused or failed; the message starts with the option's name.
    Stdio(StdioError),
    /// A request the sandbox refused as it made it (a bind source missing, a NUL byte); the
    /// text says all.
    Request(Error),
    /// The program ran, but what it wrote to runbox's own stdout or stderr could not be
    /// copied there.
    Deliver(std::io::Error),
    /// A file to copy in that cannot be had (an unknown stored id, a host source through
    /// a link); the message names the field and the path or id.
    Files(FilesError),
}

/// Runs the program `options` describe, with the profiles of `config`, and returns how it
/// ended. `pools` serve container mode's runs, each from the warm pool of its root; without
/// them (and in namespace mode) the run gets a container of its own.
pub fn run(
    options: &RunOptions,
    config: &Config,
    pools: Option<&Pools>,
    unnamed: OutputDefault,
) -> Result<RunResult, Refused> {
    run_with_store(options, config, pools, unnamed, None)
}

/// [`run`], with a file store for the request's stored files (`{"file": "ID"}` in
/// `copy_in` and `stdin`) and its `copy_out_cached`; without one, those are refused.
pub fn run_with_store(
    options: &RunOptions,
    config: &Config,
    pools: Option<&Pools>,
    unnamed: OutputDefault,
    store: Option<&FileStore>,
) -> Result<RunResult, Refused> {
    let resolved = options.resolve(config).map_err(Refused::Resolve)?;
    let (config, spec) = (&resolved.config, &resolved.spec);
    let inputs = crate::files::open_inputs(&spec.files, store).map_err(Refused::Files)?;
    let mut stdio = options.open_stdio(unnamed, store).map_err(Refused::Stdio)?;
    let mut collectors = std::mem::take(&mut stdio.collectors);
    let mut files = RunFiles {
        inputs: &inputs,
        spec: &spec.files,
        collectors: &mut collectors,
        store,
        out: FilesOut::default(),
    };
    let pooled = pools.filter(|_| options.mode == Mode::Container);
    let outcome = match options.mode {
        Mode::Ptrace => crate::ptrace::run(spec, options.dir.as_deref(), stdio.borrow()),
        Mode::Container | Mode::Namespace => contained(config, spec, &stdio, pooled, &mut files),
    };
    let result = match outcome {
        Ok(outcome) => RunResult {
            files: files.out,
            ..RunResult::from_outcome(&outcome, &spec.limits, &spec.argv[0])
        },
        Err(e) if e.is_usage() => return Err(Refused::Request(e)),
        Err(e) => RunResult::internal_error(e.to_string()),
    };
    stdio.deliver().map_err(Refused::Deliver)?;
    Ok(result)
}

/// Runs `spec` in a warm container of `pool`, or in one made for it alone, with a fresh
/// room of the plan's.
fn contained(
    config: &ContainerConfig,
    spec: &RunSpec,
    stdio: &Stdio,
    pools: Option<&Pools>,
    files: &mut RunFiles<'_>,
) -> Result<Outcome, Error> {
    let plan = plan::plan(&config.root, &HostFs)?;
    let wire = spec.to_wire()?;
    let (run, fds) = (wire.run(), stdio.borrow());
    // Without root a container's room is built in at its creation: one container a run.
    match pools.filter(|_| !crate::container::rootless()) {
        Some(pools) => pools.run_files(
            config.root.rootfs.as_deref(),
            plan.room(),
            &run,
            fds,
            &spec.limits,
            Some(files),
        ),
        None => {
            Container::create(config)?.run_files(plan.room(), &run, fds, &spec.limits, Some(files))
        }
    }
}
