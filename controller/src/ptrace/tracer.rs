//! The tracer: one thread per run waits for its tracees' stops (`__WNOTHREAD`, so several
//! runs can be traced at once from different threads of one process), reads a stopped
//! call's registers and path arguments, asks [`check`](super::check), and resumes: the call
//! goes on, fails with an errno, or the run ends. It also follows forks and threads within
//! the process limit, and measures what each process used as it exits.

use super::calls::file_call;
use super::check::{check, Decision, View};
use super::fileset::{Access, FilePolicy};
use super::filter::{DISALLOWED, FILE, SPAWN};
use super::path::Caller;
use super::regs::{Layout, Skip};
use super::settings::OnDenied;
use super::watchdog::{Killed, Watch};
use crate::seccomp::arch::Arch;
use crate::sys::{process, ptrace};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options set on the first tracee (and inherited by every later one).
const OPTIONS: libc::c_int = libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEEXIT
    | libc::PTRACE_O_EXITKILL;

/// `NT_ARM_SYSTEM_CALL`: aarch64's register set holding the call number.
const NT_ARM_SYSTEM_CALL: u32 = 0x404;

/// What a run's tracing needs to know.
#[derive(Debug)]
pub struct Rules<'a> {
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
    /// The program's execve went through.
    pub started: bool,
}

#[derive(Debug, Clone, Copy)]
struct Tracee {
    /// Its thread group (process) id.
    tgid: libc::pid_t,
    /// Still to show its first stop (a SIGSTOP), which is swallowed.
    fresh: bool,
    /// It was let through a call that makes a process or thread, not yet seen.
    spawning: bool,
}

struct Tracer<'a> {
    rules: &'a Rules<'a>,
    watch: &'a Watch,
    layout: &'static Layout,
    arch: Arch,
    main: libc::pid_t,
    tracees: HashMap<libc::pid_t, Tracee>,
    /// CPU per process, as last measured.
    cpu: HashMap<libc::pid_t, Duration>,
    out: Traced,
}

/// Traces `main` (a child of this thread, stopped by its own SIGSTOP) to the end of the
/// run: until every tracee is gone.
pub fn trace(main: libc::pid_t, rules: &Rules<'_>, watch: &Watch) -> io::Result<Traced> {
    let mut tracer = Tracer {
        rules,
        watch,
        layout: Layout::native(),
        arch: Arch::native(),
        main,
        tracees: HashMap::from([(
            main,
            Tracee {
                tgid: main,
                fresh: false,
                spawning: false,
            },
        )]),
        cpu: HashMap::new(),
        out: Traced::default(),
    };
    // The child's own SIGSTOP, or its exit if it failed before it.
    match process::wait4(main, libc::__WALL)? {
        Some((_, status, _)) if libc::WIFSTOPPED(status) => {
            ptrace::set_options(main, OPTIONS)?;
            ptrace::cont(main, 0)?;
        }
        Some((_, status, usage)) => {
            tracer.exited(main, status, &usage);
            return Ok(tracer.out);
        }
        None => return Err(io::Error::other("wait4 returned nothing")),
    }
    loop {
        match process::wait4(-1, libc::__WALL | libc::__WNOTHREAD) {
            Ok(Some((tid, status, usage))) => tracer.event(tid, status, &usage)?,
            Ok(None) => {}
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => break,
            Err(e) => return Err(e),
        }
    }
    tracer.out.cpu = tracer.cpu.values().sum();
    Ok(tracer.out)
}

impl Tracer<'_> {
    fn event(
        &mut self,
        tid: libc::pid_t,
        status: libc::c_int,
        usage: &libc::rusage,
    ) -> io::Result<()> {
        if !libc::WIFSTOPPED(status) {
            self.exited(tid, status, usage);
            return Ok(());
        }
        let signal = libc::WSTOPSIG(status);
        let event = status >> 16;
        let result = match event {
            0 => self.signal_stop(tid, signal),
            libc::PTRACE_EVENT_SECCOMP => self.seccomp_stop(tid),
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                self.spawned(tid, event)
            }
            libc::PTRACE_EVENT_EXEC => self.execed(tid),
            libc::PTRACE_EVENT_EXIT => self.exiting(tid),
            _ => ptrace::cont(tid, 0),
        };
        match result {
            // A tracee killed meanwhile (by the watchdog, or by its own process's exit)
            // cannot be resumed: its exit comes next.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            other => other,
        }
    }

    /// A signal is about to be delivered. The first stop of a new tracee is swallowed, and
    /// so are stop signals (a judged program is never left stopped); the rest are
    /// delivered.
    fn signal_stop(&mut self, tid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
        let tracee = self.tracees.entry(tid).or_insert(Tracee {
            tgid: tid,
            fresh: true,
            spawning: false,
        });
        let swallow = (tracee.fresh && signal == libc::SIGSTOP)
            || matches!(
                signal,
                libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
            );
        tracee.fresh = false;
        ptrace::cont(tid, if swallow { 0 } else { signal })
    }

    fn spawned(&mut self, tid: libc::pid_t, event: libc::c_int) -> io::Result<()> {
        let new = ptrace::event_message(tid)? as libc::pid_t;
        if let Some(parent) = self.tracees.get_mut(&tid) {
            parent.spawning = false;
        }
        let tgid = match event {
            libc::PTRACE_EVENT_CLONE => thread_group(new).unwrap_or(new),
            _ => new,
        };
        // The new tracee may have stopped (and been seen) already.
        let tracee = self.tracees.entry(new).or_insert(Tracee {
            tgid,
            fresh: true,
            spawning: false,
        });
        tracee.tgid = tgid;
        if tgid == new {
            self.out.forked = true;
            self.watch.add(new)?;
        }
        ptrace::cont(tid, 0)
    }

    fn execed(&mut self, tid: libc::pid_t) -> io::Result<()> {
        // A thread other than the leader that execs takes over the leader's pid.
        let former = ptrace::event_message(tid)? as libc::pid_t;
        if former != tid {
            self.tracees.remove(&former);
        }
        if tid == self.main {
            self.out.started = true;
        }
        ptrace::cont(tid, 0)
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
        ptrace::cont(tid, 0)
    }

    fn exited(&mut self, tid: libc::pid_t, status: libc::c_int, usage: &libc::rusage) {
        self.out.max_rss_kib = self.out.max_rss_kib.max(usage.ru_maxrss.max(0) as u64);
        let tgid = self.tracees.remove(&tid).map_or(tid, |t| t.tgid);
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

    fn seccomp_stop(&mut self, tid: libc::pid_t) -> io::Result<()> {
        let data = ptrace::event_message(tid)? as u16;
        let tgid = match self.tracees.get_mut(&tid) {
            Some(t) => {
                t.spawning = false;
                t.tgid
            }
            None => tid,
        };
        let mut regs = [0u8; 512];
        let len = ptrace::get_registers(tid, &mut regs)?;
        let Some(call) = self.layout.call(&regs[..len]) else {
            return Err(io::Error::other("short register set"));
        };
        match data {
            FILE => {
                let Some(file) = file_call(self.arch, call.number) else {
                    return ptrace::cont(tid, 0);
                };
                let view = Live { tid, tgid };
                let caller = Caller {
                    pid: tgid as u32,
                    tid: tid as u32,
                };
                match check(self.arch, file, &call.args, caller, self.rules.files, &view) {
                    Decision::Allow => ptrace::cont(tid, 0),
                    Decision::Fail(errno) => self.fail(tid, &mut regs[..len], errno),
                    Decision::Deny { .. } if self.rules.on_denied == OnDenied::Errno => {
                        self.fail(tid, &mut regs[..len], libc::EACCES)
                    }
                    Decision::Deny { path, access } => {
                        let access = match access {
                            Access::Stat => "stat",
                            Access::Read => "read",
                            Access::Write => "write",
                        };
                        if self.out.denied.is_none() {
                            self.out.denied =
                                Some(format!("{} {} ({access})", file.name, path.display()));
                        }
                        self.watch.kill_all(Killed::Tracer);
                        Ok(())
                    }
                }
            }
            SPAWN => {
                let in_flight = self.tracees.values().filter(|t| t.spawning).count();
                if (self.tracees.len() + in_flight) as u64 >= self.rules.processes {
                    // As a full pids cgroup answers.
                    return self.fail(tid, &mut regs[..len], libc::EAGAIN);
                }
                if let Some(t) = self.tracees.get_mut(&tid) {
                    t.spawning = true;
                }
                ptrace::cont(tid, 0)
            }
            DISALLOWED => {
                if self.out.disallowed.is_none() && self.out.denied.is_none() {
                    self.out.disallowed = Some(call.number);
                }
                self.watch.kill_all(Killed::Tracer);
                Ok(())
            }
            _ => ptrace::cont(tid, 0),
        }
    }

    /// Skips the stopped call, which returns `-errno`.
    fn fail(&self, tid: libc::pid_t, regs: &mut [u8], errno: i32) -> io::Result<()> {
        self.layout.fail_with(regs, errno);
        ptrace::set_register_set(tid, libc::NT_PRSTATUS as u32, regs)?;
        match self.layout.skip {
            Skip::NumberRegister => {}
            Skip::SystemCallSet => {
                ptrace::set_register_set(tid, NT_ARM_SYSTEM_CALL, &(-1i32).to_ne_bytes())?
            }
            Skip::SetSyscallRequest => ptrace::set_syscall_arm(tid, -1)?,
        }
        ptrace::cont(tid, 0)
    }
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
