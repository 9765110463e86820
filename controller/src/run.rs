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

use crate::cancel::Cancel;
use crate::config::Config;
use crate::container::Container;
use crate::error::Error;
use crate::files::collect::Collector;
use crate::files::{FileStore, FilesError, FilesOut, Inputs, RunFiles};
use crate::mount::host::HostFs;
use crate::mount::plan::{self, Op};
use crate::options::{OutputDefault, ResolveError, Resolved, RunOptions};
use crate::pool::{Lease, Pools};
use crate::result::RunResult;
use crate::spec::{Mode, WireRun};
use crate::status::Outcome;
use crate::stdio::{Stdio, StdioError};
use std::os::fd::BorrowedFd;
use std::sync::Mutex;

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
    run_with_store(options, config, pools, unnamed, None, None)
}

/// [`run`], with a file store for the request's stored files (`{"file": "ID"}` in
/// `copy_in` and `stdin`) and its `copy_out_cached` (without one, those are refused), and
/// the order that ends it early, if one may come ([`crate::cancel`]: a running run is
/// killed, a container's at once, a ptrace run's within 20 ms, and is `signaled`,
/// `cancelled`).
pub fn run_with_store(
    options: &RunOptions,
    config: &Config,
    pools: Option<&Pools>,
    unnamed: OutputDefault,
    store: Option<&FileStore>,
    cancel: Option<&Cancel>,
) -> Result<RunResult, Refused> {
    let prepared = prepare(options, config, unnamed, store)?.cancelled_by(cancel);
    let pooled = pools.filter(|_| options.mode == Mode::Container);
    let outcome = match options.mode {
        Mode::Ptrace => {
            let spec = &prepared.resolved.spec;
            crate::ptrace::run(
                spec,
                options.dir.as_deref(),
                prepared.stdio.borrow(),
                prepared.cancel.as_ref(),
            )
        }
        Mode::Container | Mode::Namespace => {
            let place = pooled.map_or(Place::Own, Place::Pools);
            prepared.contained(&prepared.stdio.borrow(), place)
        }
    };
    prepared.finish(outcome)
}

/// A run past steps 1 and 2: resolved, its room planned and its request made (container
/// and namespace modes), its files in and its stdio open; nothing started. A group
/// prepares every member before it starts any.
#[derive(Debug)]
pub struct Prepared<'s> {
    /// The container's configuration and the program's spec.
    pub resolved: Resolved,
    /// Container and namespace modes: the run's room and its request.
    contained: Option<(Vec<Op>, WireRun)>,
    /// The program's fds 0, 1 and 2.
    pub stdio: Stdio,
    /// The files in (opened), the collectors and what comes out: used by the one thread
    /// that runs the member, then read by [`Prepared::finish`].
    files: Mutex<FilesState>,
    /// Where stored files come from and `copy_out_cached` files go.
    store: Option<&'s FileStore>,
    /// The order that ends the run early, if one may come.
    cancel: Option<Cancel>,
}

/// A run's files, from their opening to what came out.
#[derive(Debug)]
struct FilesState {
    inputs: Inputs,
    collectors: Vec<Collector>,
    out: FilesOut,
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

/// Steps 1 and 2: resolves `options` with `config`, plans the room, and opens the files
/// in and the stdio, in that order (a bad bind or profile leaves no stdout file made).
pub fn prepare<'s>(
    options: &RunOptions,
    config: &Config,
    unnamed: OutputDefault,
    store: Option<&'s FileStore>,
) -> Result<Prepared<'s>, Refused> {
    plan(options, config)?.open(options, unnamed, store)
}

/// A run resolved and planned, its files and stdio not open yet: a group plans every
/// member before it opens any member's files.
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
    /// Step 2: opens the files in (stored files from `store`) and the stdio `options`
    /// name.
    pub fn open<'s>(
        self,
        options: &RunOptions,
        unnamed: OutputDefault,
        store: Option<&'s FileStore>,
    ) -> Result<Prepared<'s>, Refused> {
        let inputs =
            crate::files::open_inputs(&self.resolved.spec.files, store).map_err(Refused::Files)?;
        let mut stdio = options.open_stdio(unnamed, store).map_err(Refused::Stdio)?;
        let collectors = std::mem::take(&mut stdio.collectors);
        Ok(Prepared {
            resolved: self.resolved,
            contained: self.contained,
            stdio,
            files: Mutex::new(FilesState {
                inputs,
                collectors,
                out: FilesOut::default(),
            }),
            store,
            cancel: None,
        })
    }
}

/// The room of a contained run and its request.
fn plan_room(resolved: &Resolved) -> Result<(Vec<Op>, WireRun), Error> {
    let plan = plan::plan(&resolved.config.root, &HostFs)?;
    Ok((plan.room().to_vec(), resolved.spec.to_wire()?))
}

impl Prepared<'_> {
    /// The run, ended early when `cancel` (if any) is given: watched while it runs in a
    /// container (ptrace mode's runs end by their own limits).
    pub fn cancelled_by(mut self, cancel: Option<&Cancel>) -> Self {
        self.cancel = cancel.cloned();
        self
    }

    /// Steps 3 and 4 of a container or namespace run: runs the program in a container of
    /// `place`, in a fresh room with its files in, with `fds` as its fds 0, 1, 2 and on;
    /// what came out is kept for [`Prepared::finish`].
    pub fn contained(&self, fds: &[BorrowedFd<'_>], place: Place<'_>) -> Result<Outcome, Error> {
        let Some(contained) = &self.contained else {
            return Err(Error::BadRequest("ptrace mode runs in no container".into()));
        };
        let (room, wire) = contained;
        let (config, spec) = (&self.resolved.config, &self.resolved.spec);
        let limits = &spec.limits;
        let run = wire.run();
        let mut state = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let FilesState {
            inputs,
            collectors,
            out,
        } = &mut *state;
        let mut files = RunFiles {
            inputs,
            spec: &spec.files,
            collectors,
            store: self.store,
            cancel: self.cancel.as_ref(),
            out: FilesOut::default(),
        };
        let files_in = Some(&mut files);
        // Without root a container's room is built in at its creation: one container a run.
        let outcome = match place {
            Place::Pools(pools) if !crate::container::rootless() => pools.run_files(
                config.root.rootfs.as_deref(),
                room,
                &run,
                fds,
                limits,
                files_in,
            ),
            Place::Lease(lease) if !crate::container::rootless() => {
                lease.run_files(room, &run, fds, limits, files_in)
            }
            _ => Container::create(config)?.run_files(room, &run, fds, limits, files_in),
        };
        *out = files.out;
        outcome
    }

    /// Steps 4 and 5: the result `outcome` calls for, with the files that came out, once
    /// the output spooled for runbox's own stdout and stderr is delivered.
    pub fn finish(&self, outcome: Result<Outcome, Error>) -> Result<RunResult, Refused> {
        let spec = &self.resolved.spec;
        let result = match outcome {
            Ok(outcome) => {
                let mut state = self.files.lock().unwrap_or_else(|e| e.into_inner());
                RunResult {
                    files: std::mem::take(&mut state.out),
                    ..RunResult::from_outcome(&outcome, &spec.limits, &spec.argv[0])
                }
            }
            Err(e) if e.is_usage() => return Err(Refused::Request(e)),
            Err(e) => RunResult::internal_error(e.to_string()),
        };
        self.stdio.deliver().map_err(Refused::Deliver)?;
        Ok(result)
    }
}
