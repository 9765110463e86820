//! Namespace mode's program child, from fork to execve: the same steps as init's child
//! (init/src/child.rs), made with libc in the controller's forked copy. Syscalls only, no
//! allocation, no panics; a failure goes to the shared page and the child exits 127.

use crate::sys::process::{self, SharedPage};
use crate::sys::{fs, StackArray};
use runbox_shared::{Failure, Run, Step, MAX_ARGS, MAX_ENV};
use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

/// Becomes the program, or records why not and exits 127.
pub fn exec(run: &Run<'_>, stdio: [RawFd; 3], page: &SharedPage) -> ! {
    let (step, error, index) = match prepare_and_exec(run, stdio, page) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    page.put(Some(Failure {
        step,
        errno: error.raw_os_error().unwrap_or(0),
        index: index as u32,
    }));
    // Whoever waits for a listener hand-over learns there will be none.
    super::handover::abandon(page);
    process::exit_now(127)
}

type StepError = (Step, io::Error, usize);

fn cstr(s: &str) -> &CStr {
    // The protocol's strings end with their only NUL (Run::check); an empty one is refused.
    CStr::from_bytes_with_nul(s.as_bytes()).unwrap_or(c"")
}

fn prepare_and_exec(
    run: &Run<'_>,
    stdio: [RawFd; 3],
    page: &SharedPage,
) -> Result<std::convert::Infallible, StepError> {
    let at = |step: Step, index: usize| move |e: io::Error| (step, e, index);
    process::sigprocmask(libc::SIG_SETMASK, &[]).map_err(at(Step::Fork, 0))?;
    // A session and process group of its own, as init's child (init/src/child.rs).
    process::setsid().map_err(at(Step::NewSession, 0))?;
    for (target, &source) in stdio.iter().enumerate() {
        // Sources are above 2 (the waiter's stdio is /dev/null on 0-2 and these are dups).
        fs::dup_to(source, target as RawFd).map_err(at(Step::Stdio, target))?;
    }
    fs::close_from(3).map_err(at(Step::CloseFds, 0))?;
    crate::sys::mount::chdir(cstr(run.cwd)).map_err(at(Step::Chdir, 0))?;
    for (i, limit) in run.rlimits.iter().enumerate() {
        process::setrlimit(limit.resource.number(), limit.soft, limit.hard)
            .map_err(at(Step::Setrlimit, i))?;
    }
    process::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(at(Step::NoNewPrivs, 0))?;
    if run.seccomp_listener {
        // Dumpable, so that the waiter (our parent, same uid, no capabilities) may take the
        // listener; exec makes the program's own choice anyway.
        process::prctl(libc::PR_SET_DUMPABLE, 1).map_err(at(Step::Seccomp, 1))?;
        let listener =
            process::seccomp_filter_with_listener(run.seccomp).map_err(at(Step::Seccomp, 0))?;
        super::handover::give(page, listener);
    } else if !run.seccomp.is_empty() {
        process::seccomp_filter(run.seccomp).map_err(at(Step::Seccomp, 0))?;
    }
    let argv = StackArray::<{ MAX_ARGS + 1 }>::new(run.argv.iter().map(|a| cstr(a)));
    let envp = StackArray::<{ MAX_ENV + 1 }>::new(run.env.iter().map(|v| cstr(v)));
    let program = run.argv[0];
    if program.contains('/') {
        return Err((Step::Exec, process::execve(cstr(program), &argv, &envp), 0));
    }
    // execvp's search, with a stack buffer.
    let mut buf = [0u8; 4096];
    let mut eacces = None;
    for (i, dir) in run
        .search_path
        .trim_end_matches('\0')
        .split(':')
        .enumerate()
    {
        let dir = if dir.is_empty() { "." } else { dir };
        let len = dir.len() + 1 + program.len();
        if len > buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir.as_bytes());
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..len].copy_from_slice(program.as_bytes());
        let path = CStr::from_bytes_with_nul(&buf[..len]).unwrap_or(c"");
        let err = process::execve(path, &argv, &envp);
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            Some(libc::EACCES) => eacces = Some(i),
            _ => return Err((Step::Exec, err, i)),
        }
    }
    Err(match eacces {
        Some(i) => (Step::Exec, io::Error::from_raw_os_error(libc::EACCES), i),
        None => (Step::Exec, io::Error::from_raw_os_error(libc::ENOENT), 0),
    })
}
