//! The set-up child: from `clone` into fresh namespaces to a sandboxed, unprivileged process
//! in a new root, which then executes init (container mode; namespace mode is a container
//! made for one run).
//!
//! Contract: this runs between fork and exec in a copy of a possibly multi-threaded
//! controller, so it only makes syscalls on data prepared before the fork: no allocation, no
//! locks, no panics. Every failure is reported on the socket as a [`Failure`] record.

use crate::mount::apply::{Prepared, StepError};
use crate::sys::{self, fs, process};
use runbox_shared::{self as wire, Failure, Reply, Step};
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The names set in the container's uts namespace.
#[derive(Debug, Clone)]
pub struct Names {
    /// `sethostname`.
    pub hostname: String,
    /// `setdomainname`.
    pub domainname: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            hostname: "runbox".into(),
            domainname: "runbox".into(),
        }
    }
}

/// The set-up, in order. On success the process is in its new root, unprivileged, with
/// `/dev/null` as stdio, and ready to exec. `rootless`: the controller is not root, and its
/// own uid is the only one mapped ([`super::IdMaps`]).
pub fn enter(
    prepared: &Prepared,
    names: &Names,
    socket: RawFd,
    cgroup_joins: &[RawFd],
    rootless: bool,
) -> Result<(), StepError> {
    let at = |step: Step| move |e: io::Error| (step, e, 0);
    // Into the container's cgroup first, so that everything the set-up charges is its.
    for (i, &join) in cgroup_joins.iter().enumerate() {
        fs::write_all(join, b"0").map_err(|e| (Step::JoinCgroup, e, i))?;
    }
    // Out of the judge's session and process group (the controller's), before anything
    // else: PID 1 and all it starts never share the judge's terminal, its autogroup (whose
    // nice value a write to /proc/1/autogroup would change) or its kill(0).
    process::setsid().map_err(at(Step::NewSession))?;
    await_id_maps(socket)?;
    process::become_namespace_root(rootless).map_err(at(Step::SetIds))?;
    // Die with the controller's thread that cloned us. Set after the last change of effective
    // ids, which clears it; a controller gone before this point has closed its end.
    process::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
        .map_err(at(Step::ParentDeathSignal))?;
    if sys::socket::peer_closed(socket) {
        process::exit_now(1);
    }
    prepared.apply()?;
    process::sethostname(names.hostname.as_bytes()).map_err(at(Step::SetHostname))?;
    process::setdomainname(names.domainname.as_bytes()).map_err(at(Step::SetDomainname))?;
    null_stdio().map_err(at(Step::NullStdio))?;
    process::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(at(Step::NoNewPrivs))?;
    process::keep_only_capabilities(wire::INIT_CAPABILITIES).map_err(at(Step::KeepInitCapabilities))
}

/// Blocks until the controller has written the uid and gid maps and says go. If the
/// controller is gone, there is no one to report to: exit.
fn await_id_maps(socket: RawFd) -> Result<(), StepError> {
    let mut go = [0u8; 8];
    match sys::socket::recv(socket, &mut go) {
        Ok(0) => process::exit_now(1),
        Ok(_) => Ok(()),
        Err(e) => Err((Step::AwaitIdMaps, e, 0)),
    }
}

fn null_stdio() -> io::Result<()> {
    let null = fs::open(c"/dev/null", libc::O_RDWR)?;
    for target in 0..3 {
        fs::dup_to(null.as_raw_fd(), target)?;
    }
    // Dropped below 3 would close the stdio just made: keep that one open.
    if null.as_raw_fd() <= 2 {
        std::mem::forget(null);
    }
    Ok(())
}

/// Reports a failed step to the controller and ends the child.
pub fn fail(socket: RawFd, (step, error, index): StepError) -> ! {
    let failure = Failure {
        step,
        errno: error.raw_os_error().unwrap_or(0),
        index: index as u32,
    };
    let mut buf = [0u8; 64];
    if let Ok(datagram) = wire::encode(&Reply::Failed(failure), &mut buf) {
        let _ = sys::socket::send(socket, datagram);
    }
    process::exit_now(1)
}

/// Container mode's end of the set-up: the socket at fd 3, every other fd but stdio closed
/// at exec, and `execveat` of the init memfd.
#[allow(unsafe_code)] // cloexec_from; see the crate docs
pub fn exec_init(
    socket: RawFd,
    init_memfd: RawFd,
    argv: &sys::CStrArray,
    envp: &sys::CStrArray,
) -> Result<std::convert::Infallible, StepError> {
    let at = |step: Step| move |e: io::Error| (step, e, 0);
    // Both above 3 first, so that neither is overwritten by the other's dup to 3.
    let memfd = fs::dup_at_least(init_memfd, 4).map_err(at(Step::ArrangeFds))?;
    let high_socket = fs::dup_at_least(socket, 4).map_err(at(Step::ArrangeFds))?;
    fs::dup_to(high_socket, wire::INIT_SOCKET_FD).map_err(at(Step::ArrangeFds))?;
    // SAFETY: this child execs init next; every fd above the socket is its own to close.
    unsafe { fs::cloexec_from(wire::INIT_SOCKET_FD + 1) }.map_err(at(Step::MarkCloseOnExec))?;
    Err((Step::ExecInit, process::execveat_fd(memfd, argv, envp), 0))
}
