//! The forked child, from fork to execve: forked for its request ([`exec`]), or ahead of it
//! ([`exec_when_asked`]), when it waits for the request after its filter.
//!
//! Contract: raw syscalls only, no allocation, no locks, no panics (every index is checked).
//! On any failure the child writes a [`Failure`] record to the page it shares with init and
//! exits with 127; init then replies `Failed` instead of `Finished`.

use crate::sys;
use core::convert::Infallible;
use runbox_shared::{
    decode_request, Failure, Request, Run, Step, INIT_CAPABILITIES, MAX_ARGS, MAX_ENV, MAX_FDS,
    MAX_MESSAGE, PROGRAM_ID,
};

/// The longest `dir/program` path tried in the search path.
const PATH_MAX: usize = 4096;

/// Becomes the program, or exits 127 with a failure record.
pub fn exec(run: &Run<'_>, fds: &[i32], record_page: sys::SharedPage) -> ! {
    let Err(failure) = prepare_and_exec(run, fds, record_page);
    exit_failed(failure, record_page)
}

/// Becomes the next run's program ahead of its request ([`crate::next_program`]): goes as
/// far as it can without the request (a session, the program's ids, `filter`), then waits
/// on `socket` for the request and its fds, and becomes that program; or exits 127 with a
/// failure record. Exits 0 when init closes `socket` without a request.
pub fn exec_when_asked(
    socket: i32,
    filter: &[u8],
    program_ids: bool,
    datagram: &mut [u8; MAX_MESSAGE],
    record_page: sys::SharedPage,
) -> ! {
    let Err(failure) = wait_and_exec(socket, filter, program_ids, datagram);
    exit_failed(failure, record_page)
}

fn exit_failed(failure: Failure, record_page: sys::SharedPage) -> ! {
    record_page.put_failure(Some(failure));
    // Whoever waits for a listener hand-over learns there will be none.
    let handover = crate::handover::Handover::at(record_page);
    handover.abandon();
    sys::exit(127)
}

fn fail(step: Step, errno: sys::Errno, index: usize) -> Failure {
    Failure {
        step,
        errno,
        index: index as u32,
    }
}

fn prepare_and_exec(
    run: &Run<'_>,
    fds: &[i32],
    record_page: sys::SharedPage,
) -> Result<Infallible, Failure> {
    become_program(run.program_ids)?;
    take_fds(run, fds)?;
    enter(run)?;
    sys::prctl(sys::PR_SET_NO_NEW_PRIVS, 1).map_err(|e| fail(Step::NoNewPrivs, e, 0))?;
    if run.seccomp_listener {
        // Dumpable, so that init (our parent, with CAP_SYS_PTRACE in the container's user
        // namespace) may take the listener with pidfd_getfd; exec makes the program's own
        // choice anyway.
        sys::prctl(sys::PR_SET_DUMPABLE, 1).map_err(|e| fail(Step::SetDumpable, e, 0))?;
        let flags = sys::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        let listener =
            sys::seccomp_filter(run.seccomp, flags).map_err(|e| fail(Step::Seccomp, e, 0))?;
        // From here on only futex and execve are made, which every listener filter allows.
        crate::handover::Handover::at(record_page).give(listener as i32);
    } else if !run.seccomp.is_empty() {
        sys::seccomp_filter(run.seccomp, 0).map_err(|e| fail(Step::Seccomp, e, 0))?;
    }
    exec_program(run)
}

/// [`exec_when_asked`]'s steps. After the filter it makes only the calls of
/// `runbox_shared::CALLS_AFTER_AHEAD_FILTER`, which the controller has checked `filter`
/// allows. The request lands in `datagram`, init's own receive buffer in this process's
/// copy of its memory: only the pages it takes are copied, where a fresh buffer on the
/// stack would be 16 new pages, zeroed, every run.
fn wait_and_exec(
    socket: i32,
    filter: &[u8],
    program_ids: bool,
    datagram: &mut [u8; MAX_MESSAGE],
) -> Result<Infallible, Failure> {
    // Nothing of init's but the request's socket, at fd 3 (where init's own was).
    sys::dup_to(socket, crate::SOCKET).map_err(|e| fail(Step::CloseFds, e, 0))?;
    sys::set_cloexec(crate::SOCKET).map_err(|e| fail(Step::CloseFds, e, 0))?;
    sys::close_from(crate::SOCKET as u32 + 1).map_err(|e| fail(Step::CloseFds, e, 0))?;
    become_program(program_ids)?;
    sys::prctl(sys::PR_SET_NO_NEW_PRIVS, 1).map_err(|e| fail(Step::NoNewPrivs, e, 0))?;
    if !filter.is_empty() {
        sys::seccomp_filter(filter, 0).map_err(|e| fail(Step::Seccomp, e, 0))?;
    }
    let received = loop {
        match sys::recv_with_fds(crate::SOCKET, datagram) {
            Err(sys::EINTR) => continue,
            // Init let this process go without a request.
            Ok(r) if r.len == 0 => sys::exit(0),
            other => break other.map_err(|e| fail(Step::Receive, e, 0))?,
        }
    };
    let fds = &received.fds[..received.nfds];
    // Init decoded and checked these very bytes before handing them over.
    let run = match decode_request(&datagram[..received.len], fds.len()) {
        Ok(Request::Run(run)) if !received.truncated => run,
        _ => return Err(fail(Step::Receive, sys::EINVAL, 0)),
    };
    take_fds(&run, fds)?;
    enter(&run)?;
    exec_program(&run)
}

/// What every program starts with, whatever its request: no signal blocked, a session of
/// its own, an empty bounding set, and the program's uid (or init's without capabilities).
fn become_program(program_ids: bool) -> Result<(), Failure> {
    // Init blocks every signal; the program starts with none blocked.
    sys::sigprocmask(sys::SIG_SETMASK, 0).map_err(|e| fail(Step::RestoreSignals, e, 0))?;
    // A session and process group of its own: kill(0) and job-control signals reach only
    // the run, and no terminal is its controlling one.
    sys::setsid().map_err(|e| fail(Step::NewSession, e, 0))?;
    // SysV shared memory, semaphores, message queues and POSIX queues of its own: init
    // made the namespace it forked us in after the last run ended (`Ready::fresh_ipc`).
    // Nothing left to gain back at any exec: the bounding set emptied of what init kept.
    for cap in 0..64 {
        if INIT_CAPABILITIES & (1 << cap) != 0 {
            sys::prctl(sys::PR_CAPBSET_DROP, cap).map_err(|e| fail(Step::BecomeProgram, e, 0))?;
        }
    }
    // Not init's peer: another uid (another host uid), so that no signal, prlimit,
    // setpriority, sched_setaffinity or ioprio_set reaches init, and without capabilities.
    // Without a second id (a container made without root): init's uid, no capability.
    match program_ids {
        true => sys::become_user(PROGRAM_ID),
        false => sys::drop_capabilities(),
    }
    .map_err(|e| fail(Step::BecomeProgram, e, 0))
}

/// The request's fds in place (fd `i` is `run.fds[i]`'s), every other fd closed.
fn take_fds(run: &Run<'_>, fds: &[i32]) -> Result<(), Failure> {
    // A received fd may sit at a number a target takes (fd 3, 4, ...): each is moved above
    // every target first, so that no dup overwrites a source still to come.
    let mut high = [-1i32; MAX_FDS];
    for (slot, &fd) in high.iter_mut().zip(fds) {
        *slot = sys::dup_at_least(fd, MAX_FDS as i32).map_err(|e| fail(Step::Stdio, e, 0))?;
    }
    for (target, &index) in run.fds.iter().enumerate() {
        // The protocol checked index < fds.len().
        let source = high.get(usize::from(index)).copied().unwrap_or(-1);
        sys::dup_to(source, target as i32).map_err(|e| fail(Step::Stdio, e, target))?;
    }
    sys::close_from(run.fds.len() as u32).map_err(|e| fail(Step::CloseFds, e, 0))
}

/// The request's working directory and resource limits.
fn enter(run: &Run<'_>) -> Result<(), Failure> {
    let cwd = core::ffi::CStr::from_bytes_with_nul(run.cwd.as_bytes())
        .map_err(|_| fail(Step::Chdir, sys::EINVAL, 0))?;
    sys::chdir(cwd).map_err(|e| fail(Step::Chdir, e, 0))?;
    for (i, limit) in run.rlimits.iter().enumerate() {
        sys::setrlimit(limit.resource.number(), limit.soft, limit.hard)
            .map_err(|e| fail(Step::Setrlimit, e, i))?;
    }
    Ok(())
}

// The execve calls: sys::execve is an unsafe fn (raw pointer arrays); each call says why
// its arrays hold.
#[allow(unsafe_code)]
fn exec_program(run: &Run<'_>) -> Result<Infallible, Failure> {
    let mut argv = [core::ptr::null::<u8>(); MAX_ARGS + 1];
    for (slot, arg) in argv.iter_mut().zip(run.argv.iter()) {
        *slot = arg.as_ptr();
    }
    let mut envp = [core::ptr::null::<u8>(); MAX_ENV + 1];
    for (slot, var) in envp.iter_mut().zip(run.env.iter()) {
        *slot = var.as_ptr();
    }
    let program = run.argv[0];
    if program.as_bytes().contains(&b'/') {
        // SAFETY: the protocol's strings end with their only NUL (Run::check), and argv and
        // envp are arrays of their pointers with at least one NULL after the last (the
        // protocol bounds them below the arrays' length).
        let errno = unsafe { sys::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        return Err(fail(Step::Exec, errno, 0));
    }
    search_and_exec(run.search_path, program, &argv, &envp)
}

/// `execvp`'s search: try `dir/program` for each directory of `search_path`; remember
/// EACCES; stop at the first error that is not "not here".
#[allow(unsafe_code)]
fn search_and_exec(
    search_path: &str,
    program: &str,
    argv: &[*const u8],
    envp: &[*const u8],
) -> Result<Infallible, Failure> {
    let dirs = search_path.trim_end_matches('\0');
    let name = program.as_bytes();
    let mut saw_eacces = None;
    let mut buf = [0u8; PATH_MAX];
    for (i, dir) in dirs.split(':').enumerate() {
        let dir = if dir.is_empty() { "." } else { dir };
        let len = dir.len() + 1 + name.len();
        if len > buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir.as_bytes());
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(name); // name ends with its NUL
                                                       // SAFETY: buf holds `dir/program` ending with the program's NUL; argv and envp as
                                                       // in prepare_and_exec.
        match unsafe { sys::execve(buf.as_ptr(), argv.as_ptr(), envp.as_ptr()) } {
            sys::ENOENT | sys::ENOTDIR => {}
            sys::EACCES => saw_eacces = Some(i),
            errno => return Err(fail(Step::Exec, errno, i)),
        }
    }
    Err(match saw_eacces {
        Some(i) => fail(Step::Exec, sys::EACCES, i),
        None => fail(Step::Exec, sys::ENOENT, 0),
    })
}
