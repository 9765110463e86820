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
use crate::container::Container;
use crate::error::Error;
use crate::mount::host::HostFs;
use crate::mount::plan::{self, Op};
use crate::options::{OutputDefault, ResolveError, Resolved, RunOptions};
use crate::pool::{Lease, Pools};
use crate::result::RunResult;
use crate::spec::{Mode, WireRun};
use crate::status::Outcome;
use crate::stdio::{Stdio, StdioError};
use std::os::fd::BorrowedFd;

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
    let prepared = prepare(options, config, unnamed)?;
    let pooled = pools.filter(|_| options.mode == Mode::Container);
    let outcome = match options.mode {
        Mode::Ptrace => {
            let spec = &prepared.resolved.spec;
            crate::ptrace::run(spec, options.dir.as_deref(), prepared.stdio.borrow())
        }
        Mode::Container | Mode::Namespace => {
            let place = pooled.map_or(Place::Own, Place::Pools);
            prepared.contained(&prepared.stdio.borrow(), place)
        }
    };
    prepared.finish(outcome)
}

/// A run past steps 1 and 2: resolved, its room planned and its request made (container
/// and namespace modes), its stdio open; nothing started. A group prepares every member
/// before it starts any.
#[derive(Debug)]
pub struct Prepared {
    /// The container's configuration and the program's spec.
    pub resolved: Resolved,
    /// Container and namespace modes: the run's room and its request.
    contained: Option<(Vec<Op>, WireRun)>,
    /// The program's fds 0, 1 and 2.
    pub stdio: Stdio,
}

/// Where a contained run goes (step 3).
#[derive(Debug)]
pub enum Place<'p> {
    /// A warm container of the pool of its root.
    Pools(&'p Pools),
    /// The container a group took for this member.
    Lease(Box<Lease>),
    /// A container made for this run alone.
    Own,
}

/// Steps 1 and 2: resolves `options` with `config`, plans the room, and opens the stdio,
/// in that order (a bad bind or profile leaves no stdout file made).
pub fn prepare(
    options: &RunOptions,
    config: &Config,
    unnamed: OutputDefault,
) -> Result<Prepared, Refused> {
    plan(options, config)?.open(options, unnamed)
}

/// A run resolved and planned, its stdio not open yet: a group plans every member before
/// it opens any member's files.
#[derive(Debug)]
pub struct Planned {
    resolved: Resolved,
    contained: Option<(Vec<Op>, WireRun)>,
}

/// Step 1, and the room's plan: resolves `options` with `config`; opens nothing.
pub fn plan(options: &RunOptions, config: &Config) -> Result<Planned, Refused> {
    let resolved = options.resolve(config).map_err(Refused::Resolve)?;
    let contained = match options.mode {
        Mode::Ptrace => None,
        // Every error of the plan and of the request is in what was asked.
        Mode::Container | Mode::Namespace => Some(plan_room(&resolved).map_err(Refused::Request)?),
    };
    Ok(Planned {
        resolved,
        contained,
    })
}

impl Planned {
    /// Step 2: opens the stdio `options` name.
    pub fn open(self, options: &RunOptions, unnamed: OutputDefault) -> Result<Prepared, Refused> {
        let stdio = options.open_stdio(unnamed).map_err(Refused::Stdio)?;
        Ok(Prepared {
            resolved: self.resolved,
            contained: self.contained,
            stdio,
        })
    }
}

/// The room of a contained run and its request.
fn plan_room(resolved: &Resolved) -> Result<(Vec<Op>, WireRun), Error> {
    let plan = plan::plan(&resolved.config.root, &HostFs)?;
    Ok((plan.room().to_vec(), resolved.spec.to_wire()?))
}

impl Prepared {
    /// Steps 3 and 4 of a container or namespace run: runs the program in a container of
    /// `place`, in a fresh room, with `fds` as its fds 0, 1, 2 and on.
    pub fn contained(&self, fds: &[BorrowedFd<'_>], place: Place<'_>) -> Result<Outcome, Error> {
        let Some(contained) = &self.contained else {
            return Err(Error::BadRequest("ptrace mode runs in no container".into()));
        };
        let (room, wire) = contained;
        let (config, limits) = (&self.resolved.config, &self.resolved.spec.limits);
        let run = wire.run();
        // Without root a container's room is built in at its creation: one container a run.
        match place {
            Place::Pools(pools) if !crate::container::rootless() => {
                pools.run(config.root.rootfs.as_deref(), room, &run, fds, limits)
            }
            Place::Lease(lease) if !crate::container::rootless() => {
                lease.run(room, &run, fds, limits)
            }
            _ => Container::create(config)?.run(room, &run, fds, limits),
        }
    }

    /// Steps 4 and 5: the result `outcome` calls for, once the output spooled for runbox's
    /// own stdout and stderr is delivered.
    pub fn finish(&self, outcome: Result<Outcome, Error>) -> Result<RunResult, Refused> {
        let spec = &self.resolved.spec;
        let result = match outcome {
            Ok(outcome) => RunResult::from_outcome(&outcome, &spec.limits, &spec.argv[0]),
            Err(e) if e.is_usage() => return Err(Refused::Request(e)),
            Err(e) => RunResult::internal_error(e.to_string()),
        };
        self.stdio.deliver().map_err(Refused::Deliver)?;
        Ok(result)
    }
}
