//! # One run, from a request to its result: the lifecycle every entry calls
//!
//! `runbox run`, `runbox batch` (and the library) hand a run's options to [`run`], which
//! goes through the steps in order:
//!
//! 1. **resolve** the options against their profile in the configuration (a value the
//!    entry passes in): the container's root, the program, its limits and filter
//!    ([`RunOptions::resolve`]);
//! 2. **open** the program's stdio ([`crate::stdio`]);
//! 3. **get a sandbox**: a warm container of the pools (container mode: the pool of its
//!    root), a container made for this run alone (namespace mode, or no pools: `runbox
//!    run`), or the traced program on the host (ptrace mode); in a container, the run gets
//!    a fresh room (its `/w`, `/tmp` and binds: [`crate::container::room`]);
//! 4. **run** it there, which supervises and accounts into an [`Outcome`], the same in every
//!    mode, which [`RunResult::from_outcome`] alone decides ([`crate::status`]) into a result;
//! 5. **deliver** the output spooled for runbox's own stdout and stderr.

use crate::config::Config;
use crate::container::{Container, ContainerConfig};
use crate::error::Error;
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
    let resolved = options.resolve(config).map_err(Refused::Resolve)?;
    let stdio = options.open_stdio(unnamed).map_err(Refused::Stdio)?;
    let (config, spec) = (&resolved.config, &resolved.spec);
    let pooled = pools.filter(|_| options.mode == Mode::Container);
    let outcome = match options.mode {
        Mode::Ptrace => crate::ptrace::run(spec, options.dir.as_deref(), stdio.borrow()),
        Mode::Container | Mode::Namespace => contained(config, spec, &stdio, pooled),
    };
    let result = match outcome {
        Ok(outcome) => RunResult::from_outcome(&outcome, &spec.limits, &spec.argv[0]),
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
) -> Result<Outcome, Error> {
    let plan = plan::plan(&config.root, &HostFs)?;
    let wire = spec.to_wire()?;
    let (run, fds) = (wire.run(), stdio.borrow());
    // Without root a container's room is built in at its creation: one container a run.
    match pools.filter(|_| !crate::container::rootless()) {
        Some(pools) => pools.run(
            config.root.rootfs.as_deref(),
            plan.room(),
            &run,
            fds,
            &spec.limits,
        ),
        None => Container::create(config)?.run(plan.room(), &run, fds, &spec.limits),
    }
}
