//! The steps that a forked child takes before `execve`, named for error reports.

use serde::{Deserialize, Serialize};

/// A step of the container set-up (in the controller's forked child) or of starting a program
/// (in init's forked child). A [`crate::Failure`] names the one that failed.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    // --- container set-up, in the controller's child, in order ---
    /// Moving itself into the container's cgroup (index: the hierarchy).
    JoinCgroup,
    /// `prctl(PR_SET_PDEATHSIG)`, or the controller was already gone.
    ParentDeathSignal,
    /// Waiting for the controller to write the uid and gid maps.
    AwaitIdMaps,
    /// `setresgid`, `setgroups` and `setresuid` to the container's root (or, in ptrace
    /// mode, to the sandbox's unprivileged ids).
    SetIds,
    /// `mount(MS_PRIVATE|MS_REC)` of `/`.
    MakeRootPrivate,
    /// `mount` of the new root's tmpfs.
    MountNewRoot,
    /// `mkdir` of a mount point (index: the plan entry).
    MakeMountPoint,
    /// Creating an empty file as a mount point (index: the plan entry).
    MakeFileMountPoint,
    /// `mount(MS_BIND)` (index: the plan entry).
    BindMount,
    /// Re-mounting a bind read-only (index: the plan entry).
    RemountReadOnly,
    /// `symlink` (index: the plan entry).
    MakeSymlink,
    /// `mount` of a tmpfs (index: the plan entry).
    MountTmpfs,
    /// `mount` of proc (index: the plan entry).
    MountProc,
    /// `chdir` into the new root.
    EnterNewRoot,
    /// `pivot_root`.
    PivotRoot,
    /// `umount2(MNT_DETACH)` of the old root.
    DetachOldRoot,
    /// Re-mounting the new root read-only.
    RemountRootReadOnly,
    /// `sethostname`.
    SetHostname,
    /// `setdomainname`.
    SetDomainname,
    /// Opening `/dev/null` for the set-up child's own stdio.
    NullStdio,
    /// Moving the socket and the init's memfd to their fd numbers.
    ArrangeFds,
    /// `execveat` of the embedded init.
    ExecInit,

    // --- starting a program, in init's (or namespace mode's) child ---
    /// `recvmsg` of a request, or its SCM_RIGHTS.
    Receive,
    /// `fork` of the program.
    Fork,
    /// `dup2` of a stdio fd (index: 0, 1 or 2).
    Stdio,
    /// Closing the fds the program must not inherit.
    CloseFds,
    /// `chdir` to the working directory.
    Chdir,
    /// `setrlimit` (index: the request's rlimit entry).
    Setrlimit,
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp,
    /// `execve` of the program (index: the search-path entry tried last).
    Exec,
    /// Waiting for the program.
    Wait,
    /// Waiting for the tracer's `PTRACE_SEIZE` (index 0), `setsid` (index 1) (ptrace mode).
    Trace,
    /// `setsid()`: a session and process group of its own, no controlling terminal (the
    /// set-up child, and the program's child).
    NewSession,
    /// `sigprocmask`: the program starts with no signal blocked (init blocks them all).
    RestoreSignals,
    /// `prctl(PR_SET_DUMPABLE)`, so that init may take the seccomp listener.
    SetDumpable,
    /// `pidfd_getfd` of the program's seccomp listener, by init.
    TakeListener,
    /// `close_range(CLOSE_RANGE_CLOEXEC)`: the fds the program must not inherit close at exec.
    MarkCloseOnExec,
    /// The stop that lets the tracer attach its options (ptrace mode).
    StopForTracer,
    /// `unshare(CLONE_NEWIPC)`: the program's own IPC namespace, empty, gone with the run.
    NewIpcNamespace,
    /// `setgroups`, `setresgid` and `setresuid` to the program's ids ([`crate::PROGRAM_ID`]),
    /// which clears every capability init kept.
    BecomeProgram,
    /// `capset`: the set-up child keeps only the capabilities init needs
    /// ([`crate::INIT_CAPABILITIES`]).
    KeepInitCapabilities,
}

impl Step {
    /// What the step does, in a few lower-case words, for error messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Step::JoinCgroup => "join the container's cgroup",
            Step::ParentDeathSignal => "set the parent-death signal",
            Step::AwaitIdMaps => "wait for the uid/gid maps",
            Step::SetIds => "switch to the container's root ids",
            Step::MakeRootPrivate => "make / private",
            Step::MountNewRoot => "mount the new root tmpfs",
            Step::MakeMountPoint => "create a mount point",
            Step::MakeFileMountPoint => "create a file mount point",
            Step::BindMount => "bind mount",
            Step::RemountReadOnly => "remount a bind read-only",
            Step::MakeSymlink => "create a symlink",
            Step::MountTmpfs => "mount a tmpfs",
            Step::MountProc => "mount proc",
            Step::EnterNewRoot => "enter the new root",
            Step::PivotRoot => "pivot_root",
            Step::DetachOldRoot => "detach the old root",
            Step::RemountRootReadOnly => "remount the root read-only",
            Step::SetHostname => "set the hostname",
            Step::SetDomainname => "set the domainname",
            Step::NullStdio => "open /dev/null",
            Step::ArrangeFds => "arrange the init's fds",
            Step::ExecInit => "execute the embedded init",
            Step::Receive => "receive the request",
            Step::Fork => "fork the program",
            Step::Stdio => "set up stdio",
            Step::CloseFds => "close inherited fds",
            Step::Chdir => "change to the working directory",
            Step::Setrlimit => "set a resource limit",
            Step::NoNewPrivs => "set no_new_privs",
            Step::Seccomp => "install the seccomp filter",
            Step::Exec => "execute the program",
            Step::Wait => "wait for the program",
            Step::Trace => "be traced",
            Step::NewSession => "start a session of its own",
            Step::RestoreSignals => "unblock signals",
            Step::SetDumpable => "make the program dumpable for the hand-over",
            Step::TakeListener => "take the seccomp listener",
            Step::MarkCloseOnExec => "mark inherited fds close-on-exec",
            Step::StopForTracer => "stop for the tracer",
            Step::NewIpcNamespace => "make the program's own IPC namespace",
            Step::BecomeProgram => "switch to the program's ids",
            Step::KeepInitCapabilities => "keep only init's capabilities",
        }
    }
}
