//! One run in any mode: the library's entry for a single program.

use crate::container::{ContainerConfig, Outcome};
use crate::error::Error;
use crate::namespace;
use crate::pool::Pool;
use crate::result::RunResult;
use crate::spec::{Mode, RunSpec};
use std::os::fd::BorrowedFd;

/// Runs `spec` once in a fresh sandbox of `config`, with `stdio` as its fds 0, 1 and 2.
pub fn run_once(
    mode: Mode,
    config: &ContainerConfig,
    spec: &RunSpec,
    stdio: [BorrowedFd<'_>; 3],
) -> Result<RunResult, Error> {
    let outcome: Outcome = match mode {
        // No wire request: the program is traced from this process.
        Mode::Ptrace => return crate::ptrace::run(spec, config.root.work_dir.as_deref(), stdio),
        // The same machinery as a judge's: a pool, of one.
        Mode::Container => {
            Pool::new(config.clone(), 1)?.run(&spec.to_wire()?.run(), stdio, &spec.limits)?
        }
        Mode::Namespace => namespace::run(config, &spec.to_wire()?.run(), stdio, &spec.limits)?,
    };
    Ok(RunResult::from_outcome(
        &outcome,
        &spec.limits,
        &spec.argv[0],
    ))
}
