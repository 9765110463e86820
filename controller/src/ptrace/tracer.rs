//! The tracer: one thread per run waits for its tracees' stops (`__WNOTHREAD`, so several
//! runs can be traced at once from different threads of one process), reads a stopped
//! call's registers and path arguments, asks [`check`](super::check), and resumes: the call
//! goes on, fails with an errno, or the run ends. It also follows forks and threads within
//! the process limit, keeps job control (a stopped program stays stopped until a
//! `SIGCONT`), and measures what each process used as it exits.
//!
//! Every tracee is seized (`PTRACE_SEIZE`). A stop is decided by the call number in the
//! registers, as ptrace mode's own filter would decide it ([`traced_as`]), never by the
//! stop's data: a stop the filter would not make ends the run.
//!
//! **Check, then use.** A path is read from the program's memory when the call stops and
//! again by the kernel when it runs. With one tracee nothing else can change it between.
//! With more, from the moment a checked call stops until it has returned, no other tracee
//! of the run runs: each running one is interrupted (`PTRACE_INTERRUPT`) and waited for,
//! its stops kept in a queue; the call is checked, resumed to its syscall-exit stop, and
//! only then are the others' stops handled (and they resumed). A process blocked in
//! `vfork` for a child runs no code of its own until the child execs or exits, which
//! reports a stop (`PTRACE_EVENT_VFORK_DONE`) first: it is left as it is.

use super::calls::file_call;
use super::check::{check, Decision, View};
use super::filter::{traced_as, CLONE_UNTRACED, FILE, SPAWN};
use super::path::Caller;
use super::regs::{Call, Layout, Skip};
use super::watchdog::{Killed, Watch};
use crate::file_policy::fileset::{Access, FilePolicy};
use crate::file_policy::settings::OnDenied;
use crate::seccomp::arch::Arch;
use crate::seccomp::bpf::Insn;
use crate::sys::{process, ptrace};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options the first tracee is seized with (and every later one inherits).
pub const OPTIONS: libc::c_int = libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACEVFORKDONE
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEEXIT
    | libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_EXITKILL;

/// `NT_ARM_SYSTEM_CALL`: aarch64's register set holding the call number.
const NT_ARM_SYSTEM_CALL: u32 = 0x404;

/// `PTRACE_EVENT_STOP`: a seized tracee's group-stop, interrupt, or first stop.
const EVENT_STOP: libc::c_int = 128;

/// What a run's tracing needs to know.
#[derive(Debug)]
pub struct Rules<'a> {
    /// ptrace mode's filter, as installed ([`super::filter::decode`]).
    pub filter: &'a [Insn],
    /// The file sets, with the program and its working directory added.
    pub files: &'a FilePolicy,
    /// What a denied access does.
    pub on_denied: OnDenied,
    /// Processes and threads at once.
    pub processes: u64,
}

/// How the traced run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Traced {
    /// The main program's wait status, if it was reaped.
    pub status: Option<libc::c_int>,
    /// The main program's rusage CPU time (user, system), its waited-for children included.
    pub main_cpu: (Duration, Duration),
    /// The run had more than one process.
    pub forked: bool,
    /// CPU time of every process, measured as each exited.
    pub cpu: Duration,
    /// The largest resident peak of any process, KiB.
    pub max_rss_kib: u64,
    /// The largest address-space peak of any process, KiB.
    pub max_vm_kib: u64,
    /// The denied access that ended the run: `call path (access)`.
    pub denied: Option<String>,
    /// The forbidden call that ended the run.
    pub disallowed: Option<u32>,
    /// What went wrong in the tracing itself, which ended the run.
    pub internal: Option<String>,
    /// The program's execve went through.
    pub started: bool,
}

#[derive(Debug, Clone, Copy)]
struct Tracee {
    /// Its thread group (process) id.
    tgid: libc::pid_t,
    /// It was let through a call that makes a process or thread, not yet seen.
    spawning: bool,
    /// Resumed, and no stop seen since: it may be running the program's code.
    running: bool,
    /// Resumed from its vfork: blocked until the child execs or exits.
    in_vfork: bool,
    /// Resumed from its exit stop: it runs no more code of the program's.
    exiting: bool,
}

impl Tracee {
    fn new(tgid: libc::pid_t) -> Tracee {
        Tracee {
            tgid,
            spawning: false,
            running: false,
            in_vfork: false,
            exiting: false,
        }
    }
}

/// How a stopped tracee goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// `PTRACE_CONT` with this signal (0: none).
    Cont(libc::c_int),
    /// `PTRACE_SYSCALL`: to the stopped call's exit.
    ToExit,
    /// `PTRACE_LISTEN`: stays in its group-stop.
    Listen,
}

/// One wait status, as wait4 gave it.
type Event = (libc::pid_t, libc::c_int, libc::rusage);

struct Tracer<'a> {
    rules: &'a Rules<'a>,
    watch: &'a Watch,
    layout: &'static Layout,
    arch: Arch,
    main: libc::pid_t,
    tracees: HashMap<libc::pid_t, Tracee>,
    /// Stops of tracees held while another's checked call ran, to handle in order.
    held: VecDeque<Event>,
    /// CPU per process, as last measured.
    cpu: HashMap<libc::pid_t, Duration>,
    out: Traced,
}

/// Traces `main` (a child of this thread, seized with [`OPTIONS`]) to the end of the run:
/// until every tracee is gone.
pub fn trace(main: libc::pid_t, rules: &Rules<'_>, watch: &Watch) -> io::Result<Traced> {
    let mut first = Tracee::new(main);
    first.running = true;
    let mut tracer = Tracer {
        rules,
        watch,
        layout: Layout::native(),
        arch: Arch::native(),
        main,
        tracees: HashMap::from([(main, first)]),
        held: VecDeque::new(),
        cpu: HashMap::new(),
        out: Traced::default(),
    };
    // The watchdog wakes this thread (EINTR) while a killed run is not done.
    static WAKE: std::sync::OnceLock<io::Result<()>> = std::sync::OnceLock::new();
    if let Err(e) = WAKE.get_or_init(|| process::wake_on(super::watchdog::WAKE_SIGNAL)) {
        return Err(io::Error::new(
            e.kind(),
            format!("install the tracer's wake-up: {e}"),
        ));
    }
    watch.tracer_is(process::thread_id());
    let mut failed: Option<io::Error> = None;
    loop {
        let next = match tracer.held.pop_front() {
            Some(event) => Some(event),
            None => match tracer.wait(libc::__WALL | libc::__WNOTHREAD) {
                Ok(Waited::Event(event)) => event,
                Ok(Waited::Released) => None,
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => break,
                Err(e) => return Err(e),
            },
        };
        let Some((tid, status, usage)) = next else {
            continue;
        };
        if failed.is_some() {
            // Draining after a failure: every stop let go, every exit noted, to the end.
            match stop_event(status) {
                Some(_) => drop(tracer.resume(tid, Resume::Cont(0))),
                None => tracer.exited(tid, status, &usage),
            }
            continue;
        }
        if let Err(e) = tracer.event(tid, status, &usage) {
            // The run cannot be seen through: killed, and every stop released so that
            // its processes can die (a stopped tracee never would) and be reaped here.
            tracer.watch.kill_all(Killed::Tracer);
            tracer.release_all();
            failed = Some(e);
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    tracer.out.cpu = tracer.cpu.values().sum();
    Ok(tracer.out)
}

/// Whether a wait status is a stop, and of which event (0: a signal or syscall stop).
fn stop_event(status: libc::c_int) -> Option<libc::c_int> {
    libc::WIFSTOPPED(status).then_some(status >> 16)
}

/// The stop signals, which begin a group-stop.
fn is_stop_signal(signal: libc::c_int) -> bool {
    matches!(
        signal,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    )
}

/// A seized tracee gone (ESRCH) meanwhile, by the watchdog or its own process's exit: its
/// exit comes next, and is not an error.
fn gone_is_fine(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}

/// What a wait of the tracer's brought.
enum Waited {
    /// A stop or an exit (`None`: nothing yet, under WNOHANG).
    Event(Option<Event>),
    /// The run was killed while the wait blocked: every stop was released, the hold over.
    Released,
}

impl Tracer<'_> {
    /// `wait4(-1, flags)`. Woken by the watchdog once the run is killed, it lets every
    /// tracee go (held stops, a hold waiting for a call that a group exit keeps from
    /// returning): all of them are being killed, and only run on to their end.
    fn wait(&mut self, flags: libc::c_int) -> io::Result<Waited> {
        loop {
            match process::wait4_once(-1, flags) {
                Ok(event) => return Ok(Waited::Event(event)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self.watch.killed().is_some() {
                        self.release_all();
                        return Ok(Waited::Released);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Resumes every tracee that is stopped, and forgets the held stops.
    fn release_all(&mut self) {
        let stopped: Vec<libc::pid_t> = self.tracees.keys().copied().collect();
        for tid in stopped {
            let _ = self.resume(tid, Resume::Cont(0));
        }
        self.held.clear();
    }

    /// Resumes a stopped tracee.
    fn resume(&mut self, tid: libc::pid_t, how: Resume) -> io::Result<()> {
        let result = match how {
            Resume::Cont(signal) => ptrace::cont(tid, signal),
            Resume::ToExit => ptrace::resume_to_syscall(tid, 0),
            Resume::Listen => match ptrace::listen(tid) {
                // Not a group-stop after all (a SIGCONT came first): it runs.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => ptrace::cont(tid, 0),
                other => other,
            },
        };
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.running = how != Resume::Listen;
        }
        gone_is_fine(result)
    }

    fn event(
        &mut self,
        tid: libc::pid_t,
        status: libc::c_int,
        usage: &libc::rusage,
    ) -> io::Result<()> {
        let Some(event) = stop_event(status) else {
            self.exited(tid, status, usage);
            return Ok(());
        };
        let tracee = self.tracees.entry(tid).or_insert_with(|| Tracee::new(tid));
        tracee.running = false;
        let signal = libc::WSTOPSIG(status);
        let result = match event {
            // A signal about to be delivered: delivered, whatever it is (a stop signal
            // then begins a group-stop, reported next).
            0 if signal == libc::SIGTRAP | 0x80 => self.resume(tid, Resume::Cont(0)),
            0 => self.resume(tid, Resume::Cont(signal)),
            EVENT_STOP if is_stop_signal(signal) => self.resume(tid, Resume::Listen),
            EVENT_STOP => self.resume(tid, Resume::Cont(0)),
            libc::PTRACE_EVENT_SECCOMP => self.seccomp_stop(tid),
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                self.spawned(tid, event)
            }
            libc::PTRACE_EVENT_VFORK_DONE => {
                if let Some(t) = self.tracees.get_mut(&tid) {
                    t.in_vfork = false;
                }
                self.resume(tid, Resume::Cont(0))
            }
            libc::PTRACE_EVENT_EXEC => self.execed(tid),
            libc::PTRACE_EVENT_EXIT => self.exiting(tid),
            _ => self.resume(tid, Resume::Cont(0)),
        };
        gone_is_fine(result)
    }

    fn spawned(&mut self, tid: libc::pid_t, event: libc::c_int) -> io::Result<()> {
        let new = ptrace::event_message(tid)? as libc::pid_t;
        if let Some(parent) = self.tracees.get_mut(&tid) {
            parent.spawning = false;
            parent.in_vfork = event == libc::PTRACE_EVENT_VFORK;
        }
        let tgid = match event {
            libc::PTRACE_EVENT_CLONE => thread_group(new).unwrap_or(new),
            _ => new,
        };
        // The new tracee may have stopped (and been seen) already.
        self.tracees
            .entry(new)
            .or_insert_with(|| Tracee::new(tgid))
            .tgid = tgid;
        if tgid == new {
            self.out.forked = true;
            self.watch.add(new)?;
        }
        // Counted here, whatever stopped or did not stop before: a process or thread past
        // the limit means one was made that the filter did not send to the tracer.
        if self.tracees.len() as u64 > self.rules.processes {
            self.end_internal(format!(
                "{} processes and threads, over the limit of {}, without the tracer's leave",
                self.tracees.len(),
                self.rules.processes
            ));
            return Ok(());
        }
        self.resume(tid, Resume::Cont(0))
    }

    fn execed(&mut self, tid: libc::pid_t) -> io::Result<()> {
        // A thread other than the leader that execs takes over the leader's pid.
        let former = ptrace::event_message(tid)? as libc::pid_t;
        if former != tid {
            // Stops kept for either pid are the old threads' (the new program has not run
            // yet): handled now, one would resume the new program from a stop not seen.
            self.tracees.remove(&former);
            self.held.retain(|&(pid, _, _)| pid != former && pid != tid);
        }
        // A new program: whatever its pid's thread was doing is over.
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.exiting = false;
            t.in_vfork = false;
        }
        if tid == self.main {
            self.out.started = true;
        }
        self.resume(tid, Resume::Cont(0))
    }

    /// A thread is exiting, its process's memory still there: measure.
    fn exiting(&mut self, tid: libc::pid_t) -> io::Result<()> {
        let tgid = self.tracees.get(&tid).map_or(tid, |t| t.tgid);
        if let Ok(cpu) = ptrace::process_cpu_time(tgid) {
            let slot = self.cpu.entry(tgid).or_default();
            *slot = (*slot).max(cpu);
        }
        if let Some((rss, vm)) = memory_peaks(tid) {
            self.out.max_rss_kib = self.out.max_rss_kib.max(rss);
            self.out.max_vm_kib = self.out.max_vm_kib.max(vm);
        }
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.exiting = true;
        }
        self.resume(tid, Resume::Cont(0))
    }

    fn exited(&mut self, tid: libc::pid_t, status: libc::c_int, usage: &libc::rusage) {
        self.out.max_rss_kib = self.out.max_rss_kib.max(usage.ru_maxrss.max(0) as u64);
        let tgid = self.tracees.remove(&tid).map_or(tid, |t| t.tgid);
        // Its stops kept while another's call was checked are stale now: handled, they
        // would bring it back as a tracee that never reports again.
        self.held.retain(|&(pid, _, _)| pid != tid);
        if tgid == tid {
            let cpu = self.cpu.get(&tid).copied().unwrap_or_default();
            self.watch.gone(tid, cpu);
        }
        if tid == self.main {
            self.out.status = Some(status);
            self.out.main_cpu = (duration(usage.ru_utime), duration(usage.ru_stime));
            // The run ends with its main program, as a container's with its init's word.
            self.watch.kill_all(Killed::Tracer);
        }
    }

    /// Ends the run: something the tracer cannot vouch for happened.
    fn end_internal(&mut self, what: String) {
        if self.out.internal.is_none() {
            self.out.internal = Some(what);
        }
        self.watch.kill_all(Killed::Tracer);
    }

    /// Ends the run at a call it may not make, naming it.
    fn end_disallowed(&mut self, nr: u32) {
        if self.out.disallowed.is_none() && self.out.denied.is_none() {
            self.out.disallowed = Some(nr);
        }
        self.watch.kill_all(Killed::Tracer);
    }

    fn seccomp_stop(&mut self, tid: libc::pid_t) -> io::Result<()> {
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.spawning = false;
        }
        let mut regs = [0u8; 512];
        let len = ptrace::get_registers(tid, &mut regs)?;
        let Some(call) = self.layout.call(&regs[..len]) else {
            self.end_internal("a short register set at a seccomp stop".into());
            return Ok(());
        };
        // Decided by what ptrace mode's filter does with these registers: the stop's data
        // could come from elsewhere.
        match traced_as(self.rules.filter, self.arch, call.number, call.args) {
            Some(FILE) => match file_call(self.arch, call.number) {
                Some(_) if self.tracees.len() > 1 || !self.held.is_empty() => {
                    self.checked_alone(tid, call, &mut regs[..len])
                }
                Some(_) => self.file_call(tid, call, &mut regs[..len]).map(drop),
                None => {
                    self.end_disallowed(call.number);
                    Ok(())
                }
            },
            Some(SPAWN) => self.spawn_call(tid, call, &mut regs[..len]),
            // Forbidden (DISALLOWED), or a stop the filter would not make: the run ends,
            // naming the call.
            _ => {
                self.end_disallowed(call.number);
                Ok(())
            }
        }
    }

    /// A call that makes a process or thread: within the limit, and followed.
    fn spawn_call(&mut self, tid: libc::pid_t, call: Call, regs: &mut [u8]) -> io::Result<()> {
        let clone = self.arch.number("clone") == Some(call.number);
        if clone && call.args[0] & CLONE_UNTRACED != 0 {
            return self.fail(tid, regs, libc::EPERM);
        }
        let in_flight = self.tracees.values().filter(|t| t.spawning).count();
        if (self.tracees.len() + in_flight) as u64 >= self.rules.processes {
            // As a full pids cgroup answers.
            return self.fail(tid, regs, libc::EAGAIN);
        }
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.spawning = true;
        }
        self.resume(tid, Resume::Cont(0))
    }

    /// Decides a file call and acts on it; true if it was let through (and resumed as
    /// `allowed` says).
    fn decide_file(
        &mut self,
        tid: libc::pid_t,
        call: Call,
        regs: &mut [u8],
        allowed: Resume,
    ) -> io::Result<bool> {
        let Some(file) = file_call(self.arch, call.number) else {
            self.end_disallowed(call.number);
            return Ok(false);
        };
        let tgid = self.tracees.get(&tid).map_or(tid, |t| t.tgid);
        let view = Live { tid, tgid };
        let caller = Caller {
            pid: tgid as u32,
            tid: tid as u32,
        };
        match check(self.arch, file, &call.args, caller, self.rules.files, &view) {
            Decision::Allow => self.resume(tid, allowed).map(|()| true),
            Decision::Fail(errno) => self.fail(tid, regs, errno).map(|()| false),
            Decision::Deny { .. } if self.rules.on_denied == OnDenied::Errno => {
                self.fail(tid, regs, libc::EACCES).map(|()| false)
            }
            Decision::Deny { path, access } => {
                let access = match access {
                    Access::Stat => "stat",
                    Access::Read => "read",
                    Access::Write => "write",
                };
                if self.out.denied.is_none() {
                    self.out.denied = Some(format!("{} {} ({access})", file.name, path.display()));
                }
                self.watch.kill_all(Killed::Tracer);
                Ok(false)
            }
        }
    }

    /// A file call of the only tracee: nothing else can change its path meanwhile.
    fn file_call(&mut self, tid: libc::pid_t, call: Call, regs: &mut [u8]) -> io::Result<bool> {
        self.decide_file(tid, call, regs, Resume::Cont(0))
    }

    /// A file call with other tracees about: they are all held still from before the check
    /// until the call has returned.
    fn checked_alone(&mut self, tid: libc::pid_t, call: Call, regs: &mut [u8]) -> io::Result<()> {
        if !self.hold_others(tid)? {
            return Ok(()); // the checked thread itself is gone
        }
        if !self.decide_file(tid, call, regs, Resume::ToExit)? {
            return Ok(());
        }
        // An exec kills the caller's other threads and waits until they are gone; each
        // stops at its exit first (the SIGKILL is taken before the exit begins). By then
        // the exec has read its path (the image is open before the other threads are
        // killed), so they are let go on to their end.
        let execs = file_call(self.arch, call.number)
            .is_some_and(|f| matches!(f.name, "execve" | "execveat"));
        let tgid = self.tracees.get(&tid).map_or(tid, |t| t.tgid);
        // Until its exit stop, every other tracee's stop is kept for later.
        loop {
            let (pid, status, usage) = match self.wait(libc::__WALL | libc::__WNOTHREAD) {
                Ok(Waited::Event(Some(event))) => event,
                Ok(Waited::Event(None)) => continue,
                Ok(Waited::Released) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(()),
                Err(e) => return Err(e),
            };
            let exec_of_checked = stop_event(status) == Some(libc::PTRACE_EVENT_EXEC)
                && ptrace::event_message(pid).ok() == Some(tid as u64);
            if pid != tid && !exec_of_checked {
                let killed_by_exec = execs
                    && stop_event(status) == Some(libc::PTRACE_EVENT_EXIT)
                    && self.tracees.get(&pid).is_some_and(|t| t.tgid == tgid);
                if killed_by_exec {
                    self.event(pid, status, &usage)?;
                } else {
                    self.hold(pid, status, usage);
                }
                continue;
            }
            match stop_event(status) {
                // Its syscall-exit stop: the call has returned.
                Some(0) if libc::WSTOPSIG(status) == libc::SIGTRAP | 0x80 => {
                    if let Some(t) = self.tracees.get_mut(&tid) {
                        t.running = false;
                    }
                    return self.resume(tid, Resume::Cont(0));
                }
                // Gone, or any other stop: both come only once the call is over (an exec
                // has consumed its path when it reports). Handled as usual.
                _ => {
                    self.held.push_front((pid, status, usage));
                    return Ok(());
                }
            }
        }
    }

    /// Stops every other tracee that may be running, and waits until none is; false if
    /// `tid` itself is gone meanwhile. A tracee seen stopped stays so: only a SIGKILL wakes
    /// it, and a killed one runs none of the program's code and writes nothing to its
    /// memory before it stops again at its exit (where the clear-child-tid word and the
    /// robust futex list are still to be written), which is held like any stop.
    fn hold_others(&mut self, tid: libc::pid_t) -> io::Result<bool> {
        // A process's leader that has exited while its other threads go on is a zombie
        // that reports nothing until they end: it is waited for until it is one. (Killed
        // with its process, a leader may not even stop at its exit first: the kernel skips
        // the stop when a fatal signal is pending. A zombie runs nothing either way.)
        // (pid, whether it may end without a word: an exiting thread, or a leader)
        let others = |t: &HashMap<libc::pid_t, Tracee>| -> Vec<(libc::pid_t, bool)> {
            t.iter()
                .filter(|(&p, tr)| p != tid && tr.running && !tr.in_vfork)
                .filter(|(&p, tr)| !(p == tr.tgid && is_zombie(p)))
                .map(|(&p, tr)| (p, tr.exiting || p == tr.tgid))
                .collect()
        };
        for (pid, _) in others(&self.tracees) {
            gone_is_fine(ptrace::interrupt(pid))?;
        }
        let mut idle = 0u32;
        loop {
            let left = others(&self.tracees);
            if left.is_empty() {
                return Ok(true);
            }
            // Only ones left that may never report (an exiting thread; a leader, which may
            // turn zombie silently): look again shortly instead of blocking.
            let only_exiting = left.iter().all(|&(_, silent)| silent);
            let flags = libc::__WALL | libc::__WNOTHREAD;
            let flags = if only_exiting {
                flags | libc::WNOHANG
            } else {
                flags
            };
            let (pid, status, usage) = match self.wait(flags) {
                Ok(Waited::Event(Some(event))) => event,
                Ok(Waited::Event(None)) => {
                    if self.watch.killed().is_some() {
                        self.release_all();
                        return Ok(false);
                    }
                    // Its stop usually comes within microseconds: yield first, then sleep.
                    idle += 1;
                    match idle {
                        0..=32 => std::thread::yield_now(),
                        _ => std::thread::sleep(Duration::from_micros(50)),
                    }
                    continue;
                }
                Ok(Waited::Released) => return Ok(false),
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(false),
                Err(e) => return Err(e),
            };
            if pid == tid {
                // Killed (a stopped thread makes no other stop): handled as usual.
                self.held.push_front((pid, status, usage));
                return Ok(false);
            }
            self.hold(pid, status, usage);
        }
    }

    /// A stop (or exit) of a tracee held while another's call is checked: an exit is
    /// handled at once, a stop kept, the tracee left stopped.
    fn hold(&mut self, pid: libc::pid_t, status: libc::c_int, usage: libc::rusage) {
        if stop_event(status).is_none() {
            self.exited(pid, status, &usage);
            return;
        }
        if let Some(t) = self.tracees.get_mut(&pid) {
            t.running = false;
        }
        self.held.push_back((pid, status, usage));
    }

    /// Skips the stopped call, which returns `-errno`.
    fn fail(&mut self, tid: libc::pid_t, regs: &mut [u8], errno: i32) -> io::Result<()> {
        self.layout.fail_with(regs, errno);
        ptrace::set_register_set(tid, libc::NT_PRSTATUS as u32, regs)?;
        match self.layout.skip {
            Skip::NumberRegister => {}
            Skip::SystemCallSet => {
                ptrace::set_register_set(tid, NT_ARM_SYSTEM_CALL, &(-1i32).to_ne_bytes())?
            }
            Skip::SetSyscallRequest => ptrace::set_syscall_arm(tid, -1)?,
        }
        self.resume(tid, Resume::Cont(0))
    }
}

/// Whether `pid` is a zombie (`Z` in `/proc/<pid>/stat`).
fn is_zombie(pid: libc::pid_t) -> bool {
    proc_state(pid) == Some('Z')
}

/// The state letter of `/proc/<pid>/stat`, after the command name's `)`.
fn proc_state(pid: libc::pid_t) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

fn duration(tv: libc::timeval) -> Duration {
    Duration::from_micros(tv.tv_sec.max(0) as u64 * 1_000_000 + tv.tv_usec.max(0) as u64)
}

/// `Tgid:` of `/proc/<tid>/status`.
fn thread_group(tid: libc::pid_t) -> Option<libc::pid_t> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status_field(&status, "Tgid:").and_then(|v| libc::pid_t::try_from(v).ok())
}

/// `VmHWM:` and `VmPeak:` of `/proc/<tid>/status`, KiB.
fn memory_peaks(tid: libc::pid_t) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    Some((
        status_field(&status, "VmHWM:")?,
        status_field(&status, "VmPeak:")?,
    ))
}

/// The number after `key` on its line of a `/proc/*/status` text.
fn status_field(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// A stopped tracee, seen from the controller.
struct Live {
    tid: libc::pid_t,
    tgid: libc::pid_t,
}

impl View for Live {
    fn string(&self, addr: u64) -> Option<Vec<u8>> {
        const PATH_MAX: usize = 4096;
        const PAGE: u64 = 4096;
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < PATH_MAX {
            // Never across a page boundary: the next page may be unmapped.
            let chunk = (PAGE - at % PAGE) as usize;
            let mut buf = [0u8; PAGE as usize];
            let n = ptrace::read_memory(self.tid, at, &mut buf[..chunk]).ok()?;
            if n == 0 {
                return None;
            }
            if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..end]);
                return Some(out);
            }
            out.extend_from_slice(&buf[..n]);
            at += n as u64;
        }
        None
    }

    fn word(&self, addr: u64) -> Option<u64> {
        let mut buf = [0u8; 8];
        (ptrace::read_memory(self.tid, addr, &mut buf).ok()? == 8).then(|| u64::from_ne_bytes(buf))
    }

    fn cwd(&self) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/cwd", self.tid)).ok()
    }

    fn fd_path(&self, fd: i32) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/fd/{fd}", self.tgid)).ok()
    }

    fn readlink(&self, path: &Path) -> Option<PathBuf> {
        std::fs::read_link(path).ok()
    }

    fn exists(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }

    fn interpreter(&self, path: &Path) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        // The file the policy lets the program read: its header only, to judge what the
        // kernel would load with it; nothing of it reaches the program.
        let file = std::fs::File::open(path).ok()?;
        let mut header = [0u8; 256];
        let n = file.read_at(&mut header, 0).ok()?;
        let read_at = |offset: u64, len: usize| {
            let mut buf = vec![0u8; len.min(64 << 10)];
            let n = file.read_at(&mut buf, offset).ok()?;
            (n == buf.len()).then_some(buf)
        };
        super::interpreter::interpreter(&header[..n], &read_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_by_key() {
        let status = "Name:\ttrue\nTgid:\t42\nVmPeak:\t    2480 kB\nVmHWM:\t     812 kB\n";
        assert_eq!(status_field(status, "Tgid:"), Some(42));
        assert_eq!(status_field(status, "VmPeak:"), Some(2480));
        assert_eq!(status_field(status, "VmHWM:"), Some(812));
        assert_eq!(status_field(status, "VmRSS:"), None);
    }
}
