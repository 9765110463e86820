//! One run in ptrace mode, from a [`RunSpec`] to its result: find the program on the host,
//! give it a working directory, start it traced, keep its limits, and judge how it ended.

use super::cpu;
use super::launch::{self, Prepared};
use super::program::{find_program, lexically_normal, search_path};
use super::tracer::{self, Rules, Traced};
use super::watchdog::{Killed, Watch};
use super::workdir::WorkDir;
use crate::cancel::Cancel;
use crate::cgroup::{Cgroup, Usage};
use crate::error::Error;
use crate::file_policy::fileset::Access;
use crate::file_policy::settings::memory_rlimit;
use crate::spec::RunSpec;
use crate::status::Accounting;
use crate::status::Outcome;
use crate::sys::{process, CStrArray};
use runbox_shared::{Exit, Failure, Finished, KillReason, Rlimit, Step};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

/// Runs `spec` traced on the host, in `work_dir` (writable by the program) or, without one,
/// in a fresh empty directory that is removed afterwards. `spec.seccomp` must be a
/// ptrace-mode filter (`Profile::filter(true)`); `spec.cwd` is not used. A `cancel` given
/// while it runs kills it (`signaled`, `cancelled`).
pub fn run(
    spec: &RunSpec,
    work_dir: Option<&Path>,
    stdio: [BorrowedFd<'_>; 3],
    cancel: Option<&Cancel>,
) -> Result<Outcome, Error> {
    if !spec.seccomp.traced {
        return Err(Error::BadRequest(
            "ptrace mode needs its own filter (a profile's filter(true)): any other lets file \
             calls through unchecked"
                .into(),
        ));
    }
    spec.check()?;
    let program = &spec.argv[0];
    let found = find_program(program, search_path(&spec.env));
    let Ok(path) = found else {
        let failure = Failure {
            step: Step::Exec,
            errno: found.err().unwrap_or(libc::ENOENT),
            index: 0,
        };
        return Ok(Outcome::NotStarted(failure));
    };
    // As root, the program runs as a uid of its own among the runs alive: none can signal,
    // prlimit or read another (as itself otherwise, and the README says what that leaves).
    let id = match process::effective_uid() {
        0 => Some(crate::sandbox_ids::take().map_err(|e| Error::io("take a sandbox uid", e))?),
        _ => None,
    };
    let uid = id.as_ref().map(crate::sandbox_ids::Id::get);
    let dir = WorkDir::new(work_dir, uid)?;
    let mut files = spec.ptrace.files.clone();
    // The program as named (dots resolved: interpreters read their own link) and as its
    // links resolve (the exec is checked on that), and the working directory (canonical).
    let real = std::fs::canonicalize(&path).map_err(|e| Error::io(format!("{path:?}"), e))?;
    let named = lexically_normal(&path);
    let entries = [
        (Access::Read, named.to_string_lossy().into_owned()),
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
    let join_files = match &cgroup {
        Some(c) => {
            c.set_limits(spec.limits.memory, spec.limits.processes)
                .and_then(|()| c.reset())
                .map_err(Error::Cgroup)?;
            c.self_join_files().map_err(Error::Cgroup)?
        }
        None => Vec::new(),
    };
    let joins: Vec<RawFd> = join_files.iter().map(|fd| fd.as_raw_fd()).collect();
    let filter = super::filter::decode(&spec.seccomp.bytes);
    let rules = Rules {
        filter: &filter,
        files: &files,
        on_denied: spec.ptrace.on_denied,
        processes: spec.limits.processes,
    };
    let watch = Watch::default();
    let started = Instant::now();
    // The program is forked and traced from a thread of its own: a tracer waits for any of
    // its thread's children, so no other child of the caller's (a container's init in the
    // same thread, say) may be among them.
    let (cgroup, traced) = std::thread::scope(|scope| {
        let tracing = scope.spawn(|| {
            let cgroup = cgroup; // the thread's now (a cgroup is Send, not Sync)
            let _finish = Finish(&watch); // the watchdog stops however this ends
            let traced = start_and_trace(
                spec, &path, &dir.path, uid, &joins, stdio, &rules, &watch, &cgroup,
            );
            (cgroup, traced)
        });
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        watch.keep(spec.limits.time, spec.limits.wall, started, cpus, cancel);
        tracing.join()
    })
    .map_err(|_| Error::Protocol("the tracer panicked".into()))?;
    let (report, traced) = traced?;
    drop(join_files);
    let wall = started.elapsed();
    if let Some(detail) = &traced.internal {
        return Err(Error::Traced(detail.clone()));
    }
    let Some(status) = traced.status else {
        return Err(Error::Traced("the program was not reaped".into()));
    };
    // An execve that fails past its point of no return (the image's segments could not be
    // mapped within the rlimit) kills the program before its exec event.
    let died_in_exec = !traced.started && libc::WIFSIGNALED(status);
    if !traced.started && !died_in_exec {
        return match launch::failure(&report) {
            Some(failure) => Ok(Outcome::NotStarted(failure)),
            None => Err(Error::Traced(format!(
                "{program:?} ended before it started"
            ))),
        };
    }
    let output_full = crate::output::outputs_full(spec.limits.output, &stdio[1..])
        || crate::output::dirs_hold_full_file(&[&dir.path], spec.limits.output);
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
        (None, Some(Killed::Cancelled)) => Some(KillReason::KillOrder),
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
    let usage = cgroup.as_ref().map(Cgroup::usage).transpose();
    let measured = Measured {
        traced: &traced,
        usage: usage.map_err(Error::Cgroup)?,
        died_in_exec,
    };
    let accounting = account(&measured, &finished, watch.killed(), output_full, spec);
    Ok(Outcome::Finished {
        finished,
        accounting,
    })
}

/// Tells the watchdog to stop when dropped.
struct Finish<'a>(&'a Watch);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// In the tracer's own thread: forks the program (into the cgroup, if any) and traces it to
/// the end. On an error, whatever was started is killed and reaped.
#[allow(clippy::too_many_arguments)]
fn start_and_trace(
    spec: &RunSpec,
    path: &Path,
    dir: &Path,
    uid: Option<u32>,
    joins: &[RawFd],
    stdio: [BorrowedFd<'_>; 3],
    rules: &Rules<'_>,
    watch: &Watch,
    cgroup: &Option<Cgroup>,
) -> Result<(OwnedFd, Traced), Error> {
    let mut prepared = prepare(spec, path, dir, uid, cgroup.is_some())?;
    prepared.cgroup_joins = joins.to_vec();
    // A single-process run shares one CPU with this thread, its tracer: the child inherits
    // the binding. A run with threads or children keeps every CPU.
    let _slot = match spec.limits.processes {
        1 => process::allowed_cpus()
            .ok()
            .and_then(|cpus| cpu::Slot::take(&cpus))
            .filter(|slot| process::bind_thread_to_cpu(slot.0).is_ok()),
        _ => None,
    };
    let child =
        launch::spawn(&prepared, stdio, tracer::OPTIONS).map_err(|e| Error::io("fork", e))?;
    let traced = watch.add(child.pid).and_then(|()| {
        // Unified hierarchy: moved in by us, before its exec (it waits for us, stopped).
        if let Some(c) = cgroup.as_ref().filter(|_| joins.is_empty()) {
            c.add(child.pid)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        tracer::trace(child.pid, rules, watch)
    });
    match traced {
        Ok(traced) => Ok((child.report, traced)),
        Err(e) => {
            // Whatever is left must not outlive the run: kill and reap it.
            watch.kill_all(Killed::Tracer);
            while let Ok(Some(_)) = process::wait4(-1, libc::__WALL | libc::__WNOTHREAD) {}
            Err(Error::io("ptrace", e))
        }
    }
}

/// What a run's end left to account from: the tracer's measures and, where the run had a
/// cgroup, the cgroup's.
struct Measured<'a> {
    traced: &'a Traced,
    usage: Option<Usage>,
    /// The program died in its execve, past the point of no return.
    died_in_exec: bool,
}

/// What the run used. With a cgroup, memory is held at the limit and judged as in the other
/// modes (the OOM killer's word; a resident peak above the limit is shared pages charged
/// elsewhere). Without one, the address-space rlimit is what refuses memory: a run that
/// failed after its address-space peak reached the limit, or that died loading its image,
/// ran out of memory, and a resident peak over the limit is over it.
fn account(
    m: &Measured<'_>,
    finished: &Finished,
    killed: Option<Killed>,
    output_full: bool,
    spec: &RunSpec,
) -> Accounting {
    let traced = m.traced;
    let main = traced.main_cpu.0 + traced.main_cpu.1;
    // A single process's own rusage is exact even when it was killed before its exit stop;
    // with more, each process's clock at its exit is summed (rusage would count a waited-for
    // child twice).
    let cpu = if traced.forked {
        traced.cpu
    } else {
        traced.cpu.max(main)
    };
    let cpu_us = cpu.as_micros() as u64;
    let resident = traced.max_rss_kib * 1024;
    let failed = finished.exit != Exit::Code(0);
    let accounting = Accounting {
        cpu_killed: killed == Some(Killed::Cpu),
        cancelled: killed == Some(Killed::Cancelled),
        output_full,
        file_denied: traced.denied.clone(),
        ..Accounting::default()
    };
    match m.usage {
        Some(usage) => Accounting {
            cpu_us: cpu_us.max(usage.cpu_us),
            memory_bytes: resident.max(usage.memory_peak),
            oom_killed: usage.oom_kills > 0,
            ..accounting
        },
        None => Accounting {
            cpu_us,
            memory_bytes: resident,
            memory_refused: failed
                && (m.died_in_exec || traced.max_vm_kib * 1024 >= spec.limits.memory),
            memory_over: resident > spec.limits.memory,
            ..accounting
        },
    }
}

/// The rlimits of a ptrace run: the other modes' ones and, where no cgroup carries the
/// memory limit, the address-space (or data) one.
fn rlimits(spec: &RunSpec, cgroup: bool) -> Vec<Rlimit> {
    let mut limits: Vec<Rlimit> = spec.limits.rlimits().into_iter().collect();
    if !cgroup {
        let memory = memory_rlimit(spec.limits.memory);
        limits.push(Rlimit {
            resource: spec.ptrace.memory_rlimit.resource(),
            soft: memory,
            hard: memory,
        });
    }
    limits
}

fn prepare(
    spec: &RunSpec,
    path: &Path,
    dir: &Path,
    uid: Option<u32>,
    cgroup: bool,
) -> Result<Prepared, Error> {
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
        rlimits: rlimits(spec, cgroup),
        ids: uid,
        filter: spec.seccomp.bytes.clone(),
        cgroup_joins: Vec::new(),
    })
}
