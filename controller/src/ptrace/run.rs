//! One run in ptrace mode, from a [`RunSpec`] to its result: find the program on the host,
//! give it a working directory, start it traced, keep its limits, and judge how it ended.

use super::fileset::Access;
use super::launch::{self, Prepared};
use super::settings::memory_rlimit;
use super::tracer::{self, Rules, Traced};
use super::watchdog::{Killed, Watch};
use crate::cgroup::Cgroup;
use crate::container::{not_started_detail, Outcome, SANDBOX_ID};
use crate::error::Error;
use crate::result::RunResult;
use crate::spec::{RunSpec, DEFAULT_PATH};
use crate::status::{Accounting, Status};
use crate::supervise::cgroup_error;
use crate::sys::{process, CStrArray};
use runbox_shared::{Exit, Failure, Finished, KillReason, Rlimit, Step};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Runs `spec` traced on the host, in `work_dir` (writable by the program) or, without one,
/// in a fresh empty directory that is removed afterwards. `spec.seccomp` must be a
/// ptrace-mode filter ([`crate::seccomp::ptrace_filter`]); `spec.cwd` is not used.
pub fn run(
    spec: &RunSpec,
    work_dir: Option<&Path>,
    stdio: [BorrowedFd<'_>; 3],
) -> Result<RunResult, Error> {
    if !spec.seccomp.traced {
        return Err(Error::BadRequest(
            "ptrace mode needs its own filter (seccomp::ptrace_filter): any other lets file \
             calls through unchecked"
                .into(),
        ));
    }
    spec.to_wire()?; // the same checks of argv and env as the other modes
    let program = &spec.argv[0];
    let found = find_program(program, search_path(&spec.env));
    let Ok(path) = found else {
        let failure = Failure {
            step: Step::Exec,
            errno: found.err().unwrap_or(libc::ENOENT),
            index: 0,
        };
        return Ok(RunResult::internal_error(not_started_detail(
            &failure, program,
        )));
    };
    let dir = WorkDir::new(work_dir)?;
    let mut files = spec.ptrace.files.clone();
    // The program as found and as its links resolve (the exec is checked on the latter).
    let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let entries = [
        (Access::Read, path.to_string_lossy().into_owned()),
        (Access::Read, real.to_string_lossy().into_owned()),
        (Access::Write, format!("{}/", dir.path.display())),
    ];
    for (access, entry) in entries {
        files
            .allow(access, &entry)
            .map_err(|e| Error::BadRequest(format!("ptrace mode: {e}")))?;
    }
    // Where cgroups can be made, the run gets one as in the other modes: exact memory and
    // process limits, the OOM killer's word. Elsewhere (no cgroups, or not runbox's to make
    // when it is not root) the rlimits, the tracer's count and the clocks do it all.
    let cgroup = Cgroup::create().ok();
    let joins = match &cgroup {
        Some(c) => {
            c.set_limits(spec.limits.memory, spec.limits.processes)
                .and_then(|()| c.reset())
                .map_err(cgroup_error)?;
            c.self_join_files().map_err(cgroup_error)?
        }
        None => Vec::new(),
    };
    let mut prepared = prepare(spec, &path, &dir.path)?;
    prepared.cgroup_joins = joins.iter().map(|fd| fd.as_raw_fd()).collect();
    let rules = Rules {
        files: &files,
        on_denied: spec.ptrace.on_denied,
        processes: spec.limits.processes,
    };
    let watch = Watch::default();
    let started = Instant::now();
    let child = launch::spawn(&prepared, stdio).map_err(|e| Error::io("fork", e))?;
    drop(joins);
    let traced = std::thread::scope(|scope| {
        let keeper = scope.spawn(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
            watch.keep(spec.limits.time, spec.limits.wall, started, cpus);
        });
        let traced = watch.add(child.pid).and_then(|()| {
            // Unified hierarchy: moved in by us, before its exec (it waits for us stopped).
            match &cgroup {
                Some(c) if c.self_join_files().is_ok_and(|f| f.is_empty()) => c
                    .add(child.pid)
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
                _ => {}
            }
            tracer::trace(child.pid, &rules, &watch)
        });
        if traced.is_err() {
            // Whatever is left must not outlive the run: kill and reap it.
            watch.kill_all(Killed::Tracer);
            while let Ok(Some(_)) = process::wait4(-1, libc::__WALL | libc::__WNOTHREAD) {}
        }
        watch.finish();
        let _ = keeper.join();
        traced
    })
    .map_err(|e| Error::io("ptrace", e))?;
    let wall = started.elapsed();
    let Some(status) = traced.status else {
        return Ok(RunResult::internal_error(
            "the program was not reaped".into(),
        ));
    };
    // An execve that fails past its point of no return (the image's segments could not be
    // mapped within the rlimit) kills the program before its exec event.
    let died_in_exec = !traced.started && libc::WIFSIGNALED(status);
    if !traced.started && !died_in_exec {
        let detail = match launch::failure(&child.report) {
            Some(failure) => not_started_detail(&failure, program),
            None => format!("{program:?} ended before it started"),
        };
        return Ok(RunResult::internal_error(detail));
    }
    let output_full =
        crate::output::sweep(spec.limits.output, &stdio, &[(&dir.path, false)]).unwrap_or(false);
    drop(dir);
    let exit = if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    };
    let killed = match (traced.disallowed, watch.killed()) {
        (Some(nr), _) => Some(KillReason::DisallowedSyscall {
            nr,
            arch: crate::seccomp::arch::Arch::native().audit(),
        }),
        (None, Some(Killed::Wall)) => Some(KillReason::WallLimit),
        _ => None,
    };
    let finished = Finished {
        exit,
        user_us: traced.main_cpu.0.as_micros() as u64,
        sys_us: traced.main_cpu.1.as_micros() as u64,
        max_rss_kib: traced.max_rss_kib,
        wall_us: wall.as_micros() as u64,
        killed,
    };
    let mut accounting = account(&traced, &finished, watch.killed(), output_full, spec);
    accounting.memory_refused |= died_in_exec;
    if let Some(c) = &cgroup {
        let usage = c.usage().map_err(cgroup_error)?;
        accounting.cpu_us = accounting.cpu_us.max(usage.cpu_us);
        accounting.memory_bytes = accounting.memory_bytes.max(usage.memory_peak);
        accounting.oom_killed = usage.oom_kills > 0;
        // The cgroup held memory at the limit; a resident peak above it is shared pages
        // charged elsewhere (the libraries), as in the other modes.
        accounting.memory_over = false;
    }
    let mut result = RunResult::from_outcome(
        &Outcome::Finished {
            finished,
            accounting,
        },
        &spec.limits,
        program,
    );
    if let Some(denied) = traced.denied {
        result.status = Status::FileAccessDenied;
        result.detail = Some(denied);
    }
    Ok(result)
}

/// What the run used, from the tracer's measures.
fn account(
    traced: &Traced,
    finished: &Finished,
    killed: Option<Killed>,
    output_full: bool,
    spec: &RunSpec,
) -> Accounting {
    let main = traced.main_cpu.0 + traced.main_cpu.1;
    // A single process's own rusage is exact even when it was killed before its exit stop;
    // with more, each process's clock at its exit is summed (rusage would count a waited-for
    // child twice).
    let cpu = if traced.forked {
        traced.cpu
    } else {
        traced.cpu.max(main)
    };
    let failed = finished.exit != Exit::Code(0);
    Accounting {
        cpu_us: cpu.as_micros() as u64,
        memory_bytes: traced.max_rss_kib * 1024,
        oom_killed: false,
        cpu_killed: killed == Some(Killed::Cpu),
        output_full,
        memory_refused: failed && traced.max_vm_kib * 1024 >= spec.limits.memory,
        memory_over: traced.max_rss_kib * 1024 > spec.limits.memory,
    }
}

/// The rlimits of a ptrace run: the other modes' ones, and the memory limit's (there is no
/// cgroup to carry it).
fn rlimits(spec: &RunSpec) -> Vec<Rlimit> {
    let mut limits: Vec<Rlimit> = spec.limits.rlimits().into_iter().collect();
    let memory = memory_rlimit(spec.limits.memory);
    limits.push(Rlimit {
        resource: spec.ptrace.memory_rlimit.resource(),
        soft: memory,
        hard: memory,
    });
    limits
}

fn prepare(spec: &RunSpec, path: &Path, dir: &Path) -> Result<Prepared, Error> {
    let c = |s: &[u8]| {
        CString::new(s).map_err(|_| Error::BadRequest(format!("{s:?} holds a NUL byte")))
    };
    let strings = |list: &[String]| -> Result<CStrArray, Error> {
        let owned = list
            .iter()
            .map(|s| c(s.as_bytes()))
            .collect::<Result<_, _>>()?;
        Ok(CStrArray::new(owned))
    };
    Ok(Prepared {
        path: c(path.as_os_str().as_bytes())?,
        argv: strings(&spec.argv)?,
        envp: strings(&spec.env)?,
        cwd: c(dir.as_os_str().as_bytes())?,
        rlimits: rlimits(spec),
        ids: (process::effective_uid() == 0).then_some(SANDBOX_ID),
        filter: spec.seccomp.bytes.clone(),
        cgroup_joins: Vec::new(),
    })
}

/// `PATH` of the program's environment, else the default.
fn search_path(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|v| v.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// The program as execvp would find it: a name with a `/` as it is (made absolute), else
/// the first executable regular file of that name along `path`. The error is execvp's
/// errno: ENOENT for nothing there, EACCES for something that is no executable file.
pub fn find_program(program: &str, path: &str) -> Result<PathBuf, i32> {
    let is_executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = std::path::absolute(program).map_err(|_| libc::ENOENT)?;
        return match (is_executable(&p), p.exists()) {
            (true, _) => Ok(p),
            (false, true) => Err(libc::EACCES),
            (false, false) => Err(libc::ENOENT),
        };
    }
    if program.is_empty() {
        return Err(libc::ENOENT);
    }
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| is_executable(p))
        .and_then(|p| std::path::absolute(p).ok())
        .ok_or(libc::ENOENT)
}

/// The run's working directory: the one given, or a fresh one of its own, removed when
/// dropped.
struct WorkDir {
    path: PathBuf,
    own: bool,
}

impl WorkDir {
    fn new(given: Option<&Path>) -> Result<WorkDir, Error> {
        if let Some(dir) = given {
            let path = std::fs::canonicalize(dir)
                .map_err(|e| Error::BadRequest(format!("--dir {}: {e}", dir.display())))?;
            if !path.is_dir() {
                return Err(Error::BadRequest(format!(
                    "--dir {}: not a directory",
                    dir.display()
                )));
            }
            return Ok(WorkDir { path, own: false });
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "runbox-ptrace-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path)
            .map_err(|e| Error::io(format!("mkdir {}", path.display()), e))?;
        let dir = WorkDir { path, own: true };
        if process::effective_uid() == 0 {
            std::os::unix::fs::chown(&dir.path, Some(SANDBOX_ID), Some(SANDBOX_ID))
                .map_err(|e| Error::io(format!("chown {}", dir.path.display()), e))?;
        }
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("chmod {}", dir.path.display()), e))?;
        Ok(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.own {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_as_execvp_finds_them() {
        assert_eq!(
            find_program("sh", "/nonexistent:/bin:/usr/bin"),
            Ok(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_program("/bin/sh", ""), Ok(PathBuf::from("/bin/sh")));
        assert_eq!(
            find_program("no-such-program-here", "/bin"),
            Err(libc::ENOENT)
        );
        assert_eq!(find_program("/etc/passwd", ""), Err(libc::EACCES));
        assert_eq!(find_program("/tmp", ""), Err(libc::EACCES));
        assert_eq!(find_program("", "/bin"), Err(libc::ENOENT));
    }

    #[test]
    fn the_search_path_is_the_environment_s_last_path() {
        let env = ["PATH=/a".to_string(), "X=1".into(), "PATH=/b".into()];
        assert_eq!(search_path(&env), "/b");
        assert_eq!(search_path(&[]), DEFAULT_PATH);
    }
}
