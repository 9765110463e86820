//! The controller's errors: each names the step, the path or value, and the OS error.

use crate::mount::PlanError;
use runbox_shared::{Failure, WireError};
use std::fmt;
use std::io;

/// Why the sandbox could not do its job. The program's own misbehaviour is never an
/// `Error`: it is a [`crate::Status`].
#[derive(Debug)]
pub enum Error {
    /// The request itself is wrong (a usage error): a bind source, `--rootfs`, `--dir`.
    Plan(PlanError),
    /// A request value is wrong: an argument with a NUL, too many arguments.
    BadRequest(String),
    /// A call made by the controller failed; `what` names the call and its path.
    Io { what: String, source: io::Error },
    /// The container's set-up child failed at a step; `entry` is the mount plan entry.
    Setup {
        failure: Failure,
        entry: Option<String>,
    },
    /// The container (its set-up child or its init) ended without a word.
    ContainerDied(String),
    /// The container was gone before the program started: nothing ran.
    ContainerGone(String),
    /// A message that should not have come, or could not be decoded.
    Protocol(String),
    /// The container did not answer in time; it was killed.
    Unresponsive(&'static str),
    /// A cgroup could not be made, set, read or removed.
    Cgroup(crate::cgroup::CgroupError),
    /// No cgroup could be made for a run.
    NoCgroup(crate::cgroup::CreateError),
    /// The pool has no container to give, and why the last creation failed.
    Pool(String),
    /// ptrace mode's tracer could not see the run through; the text says what happened.
    Traced(String),
}

impl Error {
    /// An `Io` error naming the call and its argument.
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// True for errors that leave the container that met them able to serve again: the
    /// request was wrong, or a room's mount could not be made from what it named (a room
    /// that could not be taken down marks its container itself).
    pub fn leaves_container_fit(&self) -> bool {
        matches!(
            self,
            Error::Plan(_) | Error::BadRequest(_) | Error::Io { .. }
        )
    }

    /// True for errors in what was asked, which the CLI reports as usage errors (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Plan(_) | Error::BadRequest(_))
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        Error::Plan(e)
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::Protocol(e.describe().into())
    }
}

/// `step: message (ENAME)` for a failure record.
pub fn describe_failure(failure: &Failure) -> String {
    let os = io::Error::from_raw_os_error(failure.errno);
    format!("{}: {}", failure.step.describe(), os)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Plan(e) => write!(f, "{e}"),
            Error::BadRequest(e) => write!(f, "{e}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Setup { failure, entry } => {
                write!(f, "container set-up failed: {}", describe_failure(failure))?;
                if let Some(entry) = entry {
                    write!(f, " (at {entry})")?;
                }
                Ok(())
            }
            Error::ContainerDied(how) => write!(f, "the container died: {how}"),
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
            Error::Traced(what) => write!(f, "{what}"),
            Error::Unresponsive(when) => {
                write!(f, "the container did not answer {when}; it was killed")
            }
            Error::Cgroup(e) => write!(f, "{e}"),
            Error::NoCgroup(e) => write!(f, "{e}"),
            Error::ContainerGone(why) => write!(f, "the container was gone before the run: {why}"),
            Error::Pool(why) => write!(f, "no container could be made: {why}"),
        }
    }
}

impl std::error::Error for Error {}
