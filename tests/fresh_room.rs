//! A warm container gives every run a fresh room: hostile programs try to leave something for
//! the next run of the same container (`runbox batch --parallel 1`: one container serves
//! every request in turn), and the next run checks that nothing reached it.
//!
//! Each test runs alone (`one_at_a_time`): several check the whole host for what is left.

use runbox_tests::{assert_nothing_left, batch, budget, one_at_a_time, probe_bind, TempDir, PROBE};
use serde_json::{json, Value};

/// Runs `requests` in order through one warm container; each request's stdout goes to a
/// file of `dir`. Returns each result with what the program printed.
fn in_one_container(dir: &TempDir, requests: &[Value]) -> Vec<(Value, String)> {
    let mut input = String::new();
    for (i, request) in requests.iter().enumerate() {
        let mut request = request.clone();
        request["id"] = json!(i.to_string());
        request["stdout"] = json!(dir.0.join(format!("out-{i}")));
        input.push_str(&format!("{request}\n"));
    }
    let mut results = batch(&input, 1);
    results.sort_by_key(|r| r["id"].as_str().unwrap().parse::<usize>().unwrap());
    assert_eq!(results.len(), requests.len());
    results
        .into_iter()
        .enumerate()
        .map(|(i, result)| {
            let out = std::fs::read_to_string(dir.0.join(format!("out-{i}"))).unwrap_or_default();
            (result, out)
        })
        .collect()
}

fn python(script: &str) -> Value {
    json!({"argv": ["/usr/bin/python3", "-c", script], "memory": "512M", "time": "5s"})
}

/// The values a program starts with that a hostile run may try to change for later ones.
const STARTING_VALUES: &str = r#"
import os, resource, ctypes
libc = ctypes.CDLL(None, use_errno=True)
IOPRIO_GET = {"x86_64": 252, "aarch64": 31, "armv7l": 315}[os.uname().machine]
print("nice", os.getpriority(os.PRIO_PROCESS, 0))
print("policy", os.sched_getscheduler(0))
print("cpus", sorted(os.sched_getaffinity(0)))
print("ioprio", libc.syscall(IOPRIO_GET, 1, 0))
print("oom_score_adj", open("/proc/self/oom_score_adj").read().strip())
print("autogroup", open("/proc/self/autogroup").read().split()[-1])
for r in ("NPROC", "AS", "NOFILE", "STACK", "CPU", "FSIZE"):
    print(r, resource.getrlimit(getattr(resource, "RLIMIT_" + r)))
pid = os.fork()
if pid == 0:
    os._exit(0)
print("fork", os.waitpid(pid, 0)[1])
"#;

/// Tries everything a program could aim at PID 1, then spoils its own values.
const AT_PID_1: &str = r#"
import os, resource, ctypes, signal
libc = ctypes.CDLL(None, use_errno=True)
IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "armv7l": 314}[os.uname().machine]
def attempt(name, f):
    try:
        f()
        print(name, "DONE")
    except OSError as e:
        print(name, "refused", e.errno)
def ioprio(who):
    if libc.syscall(IOPRIO_SET, 1, who, 3 << 13) != 0:
        raise OSError(ctypes.get_errno(), "ioprio_set")
def write(path, text):
    with open(path, "w") as f:
        f.write(text)
attempt("prlimit NPROC", lambda: resource.prlimit(1, resource.RLIMIT_NPROC, (0, 0)))
attempt("prlimit AS", lambda: resource.prlimit(1, resource.RLIMIT_AS, (4 << 20, 4 << 20)))
attempt("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 1, 19))
attempt("setpriority pgrp", lambda: os.setpriority(os.PRIO_PGRP, 1, 19))
attempt("sched_setscheduler", lambda: os.sched_setscheduler(1, os.SCHED_IDLE, os.sched_param(0)))
attempt("sched_setaffinity", lambda: os.sched_setaffinity(1, {0}))
attempt("ioprio_set", lambda: ioprio(1))
attempt("oom_score_adj", lambda: write("/proc/1/oom_score_adj", "1000"))
attempt("autogroup", lambda: write("/proc/1/autogroup", "19"))
attempt("kill TERM", lambda: os.kill(1, signal.SIGTERM))
attempt("kill KILL", lambda: os.kill(1, signal.SIGKILL))
attempt("sigqueue RT", lambda: os.kill(1, signal.SIGRTMIN))
# Its own values, which its children (and nothing after the run) inherit.
os.setpriority(os.PRIO_PROCESS, 0, 19)
os.sched_setaffinity(0, {0})
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
ioprio(0)
write("/proc/self/oom_score_adj", "1000")
write("/proc/self/autogroup", "19")
resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
"#;

#[test]
fn nothing_a_program_aims_at_pid_1_reaches_it_or_the_next_run() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-pid1");
    let ran = in_one_container(
        &dir,
        &[
            python(STARTING_VALUES),
            python(AT_PID_1),
            python(STARTING_VALUES),
        ],
    );
    for (result, _) in &ran {
        assert_eq!(result["status"], "ok", "{ran:?}");
    }
    let attempts: Vec<&str> = ran[1].1.lines().collect();
    assert_eq!(attempts.len(), 12, "{attempts:?}");
    for line in attempts {
        assert!(line.contains(" refused "), "{line}");
    }
    assert_eq!(ran[0].1, ran[2].1, "the next run starts from other values");
    assert!(ran[0].1.contains("nice 0\n"), "{}", ran[0].1);
    assert_nothing_left("after the hostile runs");
}

/// Leaves SysV shared memory (40 MiB, touched), a semaphore set, a message queue and a POSIX
/// message queue, and spoils `/w` and `/tmp`.
const LEAVE_IPC_AND_FILES: &str = r#"
import os, ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
shm = libc.shmget(0x5eed, 40 << 20, 0o1666)
at = libc.shmat(shm, None, 0)
ctypes.memset(at, 1, 40 << 20)
print("shm", shm >= 0, libc.semget(0x5eed, 1, 0o1666) >= 0, libc.msgget(0x5eed, 0o1666) >= 0)
print("mq", libc.mq_open(b"/leak", os.O_CREAT | os.O_RDWR, 0o600, None) >= 0)
os.mkdir("/w/d")
open("/w/d/f", "w").write("left")
open("/tmp/f", "w").write("left")
try:
    os.setxattr("/w", "user.left", b"1")
    print("xattr DONE")
except OSError as e:
    print("xattr refused", e.errno)
os.chmod("/w", 0)
for path in ("/tmp",):
    try:
        os.chmod(path, 0)
        print("chmod", path, "DONE")
    except OSError as e:
        print("chmod", path, "refused", e.errno)
"#;

/// What a run finds of IPC objects and of its `/w` and `/tmp`.
const LOOK_AROUND: &str = r#"
import os, ctypes
libc = ctypes.CDLL(None, use_errno=True)
for kind in ("shm", "sem", "msg"):
    print(kind, len(open("/proc/sysvipc/" + kind).read().splitlines()) - 1)
print("shmget", libc.shmget(0x5eed, 0, 0), "msgget", libc.msgget(0x5eed, 0), "semget", libc.semget(0x5eed, 0, 0))
print("mq", libc.mq_open(b"/leak", os.O_RDWR, 0, None), ctypes.get_errno())
for path in ("/w", "/tmp"):
    st = os.stat(path)
    print(path, oct(st.st_mode), st.st_uid, sorted(os.listdir(path)), os.listxattr(path))
"#;

/// Whether a tmpfs takes `user.` extended attributes: Linux 6.6 and later.
fn tmpfs_has_user_xattrs() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap()) >= (6, 6)
}

#[test]
fn ipc_objects_files_modes_and_xattrs_do_not_reach_the_next_run() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-ipc");
    let leave = json!({"argv": ["/usr/bin/python3", "-c", LEAVE_IPC_AND_FILES], "memory": "128M"});
    let ran = in_one_container(
        &dir,
        &[
            python(LOOK_AROUND),
            leave.clone(),
            python(LOOK_AROUND),
            leave.clone(),
            leave,
            // Three runs left 40 MiB each of shared memory, had it stayed: 100 MiB more fit.
            json!({"argv": ["/usr/bin/python3", "-c", "b = bytearray(100 << 20)"], "memory": "128M"}),
        ],
    );
    for (result, _) in &ran {
        assert_eq!(result["status"], "ok", "{ran:?}");
    }
    // A tmpfs takes user xattrs from Linux 6.6 on: before, EOPNOTSUPP, and none is left.
    let xattr = match tmpfs_has_user_xattrs() {
        true => "DONE",
        false => "refused 95",
    };
    assert_eq!(
        ran[1].1,
        format!("shm True True True\nmq True\nxattr {xattr}\nchmod /tmp refused 1\n"),
        "the hostile run did not get to leave its objects"
    );
    assert_eq!(ran[0].1, ran[2].1, "the next run sees what the last left");
    assert!(
        ran[0].1.contains("shm 0\nsem 0\nmsg 0\n") && ran[0].1.contains("mq -1 2\n"),
        "{}",
        ran[0].1
    );
    assert!(
        ran[0]
            .1
            .contains("/w 0o40755 1 [] []\n/tmp 0o41777 0 [] []\n"),
        "{}",
        ran[0].1
    );
    assert_nothing_left("after the runs that left IPC objects");
}

#[test]
fn shared_memory_a_run_left_is_not_charged_to_the_next() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-shm-left");
    // 150 MiB of SysV shared memory, touched and left (not removed): it goes with the run's
    // IPC namespace, which the kernel frees a few milliseconds after the run has ended,
    // from a work queue: while the next run starts, it may still be charged.
    let leave = "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.shmat.restype = ctypes.c_void_p\n\
                 at = libc.shmat(libc.shmget(0, 150 << 20, 0o1600), None, 0)\n\
                 ctypes.memset(at, 1, 150 << 20)";
    let leave =
        json!({"argv": ["/usr/bin/python3", "-c", leave], "memory": "256M", "time": budget(2000)});
    // After it, a run of a small program under a limit below what was left (64M: were the
    // 150 MiB still charged, the limit could not even be set), and one under a limit above.
    let small = |memory: &str| json!({"argv": [PROBE, "touch", "1"], "bind": [probe_bind()], "memory": memory});
    let ran = in_one_container(&dir, &[leave.clone(), small("64M"), leave, small("256M")]);
    for (i, (result, out)) in ran.iter().enumerate() {
        assert_eq!(result["status"], "ok", "{ran:?}");
        if i % 2 == 1 {
            assert_eq!(out, "touched\n");
            // Charged its own only: a MiB and the probe, not the last run's 150 MiB.
            let kib = result["memory_kib"].as_u64().unwrap();
            assert!(kib < 16 << 10, "run {i} charged {kib} KiB: {ran:?}");
        }
    }
}

#[test]
fn cache_left_by_a_run_is_not_the_next_runs_and_does_not_raise_its_limit() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-cache");
    // 300 MiB whose page cache, once read, is the container's: a file of the temp dir, or
    // where that is a tmpfs (the emulated guest, whose pages are never the reader's and are
    // not reclaimed) $RUNBOX_TEST_CACHE_FILE, a file of a filesystem with a page cache.
    let big = match std::env::var_os("RUNBOX_TEST_CACHE_FILE") {
        Some(file) => std::path::PathBuf::from(file),
        None => {
            let big = dir.0.join("big");
            std::fs::write(&big, vec![7u8; 300 << 20]).unwrap();
            big
        }
    };
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 300 << 20);
    // Out of the host's page cache, so that reading it charges the container.
    let evicted = std::process::Command::new("dd")
        .args([&format!("if={}", big.display()), "iflag=nocache", "count=0"])
        .status()
        .unwrap();
    assert!(evicted.success());
    let bind = format!("{}:/big", big.display());
    let who = "print(open('/proc/1/stat').read().split()[21], open('/proc/self/uid_map').read().split()[1], flush=True)\n";
    let hold_400m =
        format!("{who}b = bytearray(400 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1");
    let leave_cache = format!("{who}open('/big', 'rb').read()");
    let ran = in_one_container(
        &dir,
        &[
            json!({"argv": ["/usr/bin/python3", "-c", leave_cache], "bind": [bind], "memory": "1G", "time": budget(10000)}),
            json!({"argv": ["/usr/bin/python3", "-c", who], "memory": "256M", "time": "10s"}),
            json!({"argv": ["/usr/bin/python3", "-c", hold_400m], "memory": "256M", "time": "10s"}),
        ],
    );
    assert_eq!(ran[0].0["status"], "ok", "{ran:?}");
    // What the first run left is taken back before the next starts (reclaim): it is not
    // in the next run's peak, which is a python3 that only starts.
    assert_eq!(ran[1].0["status"], "ok", "{ran:?}");
    let kib = ran[1].0["memory_kib"].as_u64().unwrap();
    assert!(kib < 64 << 10, "the last run's cache counted: {kib} KiB");
    assert_eq!(ran[2].0["status"], "memory_limit_exceeded", "{ran:?}");
    assert_eq!(ran[0].1, ran[1].1, "not the same container");
    assert_eq!(ran[0].1, ran[2].1, "not the same container");
    assert_nothing_left("after the cache runs");
}

#[test]
fn a_program_over_its_limit_by_any_route_is_memory_limit_exceeded() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-routes");
    let file = dir.0.join("file");
    std::fs::write(&file, vec![1u8; 120 << 20]).unwrap();
    let bind = format!("{}:/file", file.display());
    let routes = [
        ("anonymous", "b = bytearray(100 << 20)"),
        (
            "tmpfs",
            "f = open('/w/x', 'wb')\nfor i in range(100): f.write(b'x' * (1 << 20))",
        ),
        (
            "shm",
            "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.shmat.restype = ctypes.c_void_p\n\
             at = libc.shmat(libc.shmget(0, 100 << 20, 0o1600), None, 0)\n\
             ctypes.memset(at, 1, 100 << 20)",
        ),
        (
            "mapped page cache",
            "import mmap\nf = open('/file', 'rb')\nm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n\
             s = sum(m[i] for i in range(0, len(m), 4096))",
        ),
    ];
    let requests: Vec<Value> = routes
        .iter()
        .map(|(_, script)| {
            json!({"argv": ["/usr/bin/python3", "-c", script], "memory": "64M", "time": "10s", "wall": "20s", "bind": [bind]})
        })
        .collect();
    let ran = in_one_container(&dir, &requests);
    for ((route, _), (result, _)) in routes.iter().zip(&ran) {
        assert_eq!(
            result["status"], "memory_limit_exceeded",
            "{route}: {result}"
        );
    }
    assert_nothing_left("after the memory routes");
}

#[test]
fn a_dir_is_the_runs_alone_and_survives_a_hundred_runs() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-dir");
    let work = dir.0.join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    std::fs::write(work.join("keep"), "judge's").unwrap();
    // Its init's start time and the container's own host ids (its uid_map): the same in
    // every run, or a container was made for a run.
    let script =
        "cut -d' ' -f22 /proc/1/stat; cat /proc/self/uid_map; cat /w/keep; echo run >> /w/log";
    let mut requests: Vec<Value> = (0..100)
        .map(|_| json!({"argv": ["sh", "-c", script], "dir": work}))
        .collect();
    requests.push(json!({"argv": ["sh", "-c", "cut -d' ' -f22 /proc/1/stat; cat /proc/self/uid_map; ls -A /w"]}));
    let ran = in_one_container(&dir, &requests);
    let map = |out: &str| out.lines().take(2).collect::<Vec<_>>().join("\n");
    let first = map(&ran[0].1);
    for (i, (result, out)) in ran.iter().enumerate() {
        assert_eq!(result["status"], "ok", "{i}: {result}");
        assert_eq!(map(out), first, "{i}: another container");
    }
    assert!(ran[99].1.ends_with("judge's"), "{}", ran[99].1);
    // The next run has a /w of its own, empty.
    assert_eq!(ran[100].1.lines().count(), 3, "{}", ran[100].1);
    assert_eq!(
        std::fs::read_to_string(work.join("keep")).unwrap(),
        "judge's"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("log"))
            .unwrap()
            .lines()
            .count(),
        100
    );
    assert_nothing_left("after a hundred dir runs");
}

#[test]
fn a_read_only_bind_is_read_only_nosuid_and_nodev_all_the_way_down() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-ro");
    let tree = dir.0.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::set_permissions(&tree, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    // The tree is a shared mount, as every mount is under systemd (which makes `/` shared):
    // a bind of its own, made shared. A mount of our own under it: the bind takes it along,
    // read-only too, and the run's take-down must leave ours mounted (a room's clone of a
    // shared mount would be its peer, and the take-down's unmount would propagate here).
    let sh = |command: &str| {
        let done = std::process::Command::new("sh")
            .args(["-c", command, "sh", &tree.display().to_string()])
            .status()
            .unwrap();
        assert!(done.success(), "{command}");
    };
    sh("mount --bind \"$1\" \"$1\" && mount --make-shared \"$1\"");
    sh("mount -t tmpfs -o size=1m runbox-test \"$1/sub\"");
    let script = "for d in /data /data/sub /rw; do grep \" $d \" /proc/self/mountinfo | cut -d' ' -f6; done; \
                  touch /data/x /data/sub/x 2>&1; touch /rw/x && echo rw-writable";
    let ro = format!("{}:/data", tree.display());
    let rw = format!("{}:/rw:rw", dir.0.join("tree").display());
    let ran = in_one_container(
        &dir,
        &[json!({"argv": ["sh", "-c", script], "bind": [ro, rw]})],
    );
    let sub = format!(" {} ", tree.join("sub").display());
    let still = runbox_tests::host_mounts().contains(&sub);
    sh("umount \"$1/sub\"; umount \"$1\"");
    assert!(
        still,
        "the run's take-down unmounted the host's mount under its bind"
    );
    assert_eq!(ran[0].0["status"], "ok", "{ran:?}");
    let out = &ran[0].1;
    let options: Vec<&str> = out.lines().take(3).collect();
    for (i, opts) in options.iter().enumerate() {
        let opts: Vec<&str> = opts.split(',').collect();
        assert!(
            opts.contains(&"nosuid") && opts.contains(&"nodev"),
            "{i}: {out}"
        );
        assert_eq!(opts.contains(&"ro"), i < 2, "{i}: {out}");
    }
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
    assert!(out.ends_with("rw-writable\n"), "{out}");
    assert_nothing_left("after the read-only binds");
}

/// A run tries to signal and prlimit every process it can see (a ptrace run sees the host's
/// pid namespace, so a concurrent container run's processes, under their sandbox id), then
/// signals every process it may (`kill(-1)`).
const AT_OTHER_SANDBOXES: &str = r#"
import os, resource, signal, time
time.sleep(0.3)
hit = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():
        continue
    for name, f in (("prlimit", lambda: resource.prlimit(int(pid), resource.RLIMIT_CPU, (0, 0))),
                    ("kill", lambda: os.kill(int(pid), signal.SIGKILL))):
        try:
            f()
            hit.append((name, pid))
        except OSError:
            pass
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
print("hit", hit)
"#;

/// A victim container run and `attacker` (a request without argv and stdout) at once,
/// through `runbox batch --parallel 2`: the victim lives and nothing was hit.
fn attack_a_concurrent_container_run(name: &str, attacker: Value) {
    let _serial = one_at_a_time();
    let dir = TempDir::new(name);
    let mut attacker = attacker;
    attacker["id"] = json!("attacker");
    attacker["argv"] = json!(["/usr/bin/python3", "-c", AT_OTHER_SANDBOXES]);
    attacker["stdout"] = json!(dir.0.join("attacker"));
    let input = format!(
        "{}\n{attacker}\n",
        json!({"id": "victim", "argv": ["sh", "-c", "sleep 1.5; echo alive"], "stdout": dir.0.join("victim")}),
    );
    let results = batch(&input, 2);
    for result in &results {
        assert_eq!(result["status"], "ok", "{results:?}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.0.join("victim")).unwrap(),
        "alive\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.0.join("attacker")).unwrap(),
        "hit []\n"
    );
    assert_nothing_left(name);
}

#[test]
fn a_ptrace_run_cannot_signal_or_prlimit_a_concurrent_container_run() {
    attack_a_concurrent_container_run(
        "room-cross-ptrace",
        json!({"mode": "ptrace", "profile": "none", "processes": 4,
               "allow_read": ["/usr/", "/proc/", "/etc/", "/dev/"]}),
    );
}

#[test]
fn a_container_run_cannot_signal_or_prlimit_a_concurrent_container_run() {
    attack_a_concurrent_container_run("room-cross-container", json!({"profile": "none"}));
}

#[test]
fn a_container_whose_room_cannot_be_taken_down_is_retired() {
    let _serial = one_at_a_time();
    let pool = runbox::Pool::new(runbox::ContainerConfig::default(), 1).unwrap();
    let init = pool.idle_pids()[0];
    let spec = runbox::RunSpec::new(vec!["sleep".into(), "1".into()]);
    let wire = spec.to_wire().unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsFd;
    let stdio = [null.as_fd(), null.as_fd(), null.as_fd()];
    let outcome = std::thread::scope(|scope| {
        let running = scope.spawn(|| {
            let room = runbox::mount::plan::default_room();
            pool.run(&room, &wire.run(), &stdio, &spec.limits).unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(400));
        // From outside, while the program runs: the room's /w is no longer where it was.
        let detached = std::thread::spawn(move || {
            let ns = std::fs::File::open(format!("/proc/{init}/ns/mnt")).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: plain syscalls on this thread's own state, a live fd and a C string.
            unsafe {
                libc::unshare(libc::CLONE_FS) == 0
                    && libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) == 0
                    && libc::umount2(c"/w".as_ptr(), libc::MNT_DETACH) == 0
            }
        });
        assert!(
            detached.join().unwrap(),
            "{}",
            std::io::Error::last_os_error()
        );
        running.join().unwrap()
    });
    assert!(
        matches!(outcome, runbox::Outcome::Finished { .. }),
        "{outcome:?}"
    );
    // The next run finds the room still up: it goes to a replacement, and the container
    // that could not be cleaned is gone.
    let room = runbox::mount::plan::default_room();
    let next = pool.run(&room, &wire.run(), &stdio, &spec.limits).unwrap();
    assert!(matches!(next, runbox::Outcome::Finished { .. }), "{next:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pool.idle_pids() == [init] || pool.idle_pids().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container was not retired"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!std::path::Path::new(&format!("/proc/{init}")).exists());
    drop(pool);
    assert_nothing_left("after the retired container");
}

#[test]
fn requests_with_a_root_of_their_own_are_served_warm_by_that_roots_pool() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-rootfs");
    let rootfs = dir.0.join("root");
    std::fs::create_dir_all(rootfs.join("usr")).unwrap();
    for link in ["bin", "lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{link}"), rootfs.join(link)).unwrap();
    }
    std::fs::write(rootfs.join("marker"), "from rootfs\n").unwrap();
    let own = json!({"argv": ["sh", "-c", "cut -d' ' -f22 /proc/1/stat; head -1 /proc/self/uid_map; cat /marker"],
                     "rootfs": rootfs, "bind": ["/usr:/usr"]});
    let default = json!({"argv": ["sh", "-c", "cut -d' ' -f22 /proc/1/stat; head -1 /proc/self/uid_map; test ! -e /marker"]});
    let mut requests = vec![own.clone(); 10];
    requests.insert(5, default);
    let ran = in_one_container(&dir, &requests);
    let map = |out: &str| out.lines().take(2).collect::<Vec<_>>().join("\n");
    for (i, (result, out)) in ran.iter().enumerate() {
        assert_eq!(result["status"], "ok", "{i}: {result}");
        if i != 5 {
            assert!(out.ends_with("from rootfs\n"), "{i}: {out}");
            // One container of the root's pool served them all.
            assert_eq!(map(out), map(&ran[0].1), "{i}: a container made for a run");
        }
    }
    assert_ne!(
        map(&ran[5].1),
        map(&ran[0].1),
        "the default root's own pool"
    );
    assert_nothing_left("after the rootfs runs");
}

#[test]
fn the_sandbox_id_range_can_be_moved_and_a_bad_one_is_refused() {
    let _serial = one_at_a_time();
    let run = |range: &str| {
        std::process::Command::new(runbox_tests::runbox_bin())
            .env("RUNBOX_SANDBOX_IDS", range)
            .args(["run", "--json", "--", "cat", "/proc/self/uid_map"])
            .output()
            .unwrap()
    };
    let moved = run("3000000000:100");
    assert_eq!(moved.status.code(), Some(0), "{moved:?}");
    let out = String::from_utf8_lossy(&moved.stdout);
    let hosts: Vec<u64> = out
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(hosts.len(), 2, "{out}");
    assert!(
        hosts
            .iter()
            .all(|id| (3_000_000_000..3_000_000_100).contains(id)),
        "{out}"
    );
    let refused = run("0:100");
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("RUNBOX_SANDBOX_IDS=\\\"0:100\\\""),
        "{refused:?}"
    );
    assert_nothing_left("after the moved range");
}

#[test]
fn mount_points_made_for_one_run_are_gone_before_the_next_program_starts() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-mount-points");
    let ran = in_one_container(
        &dir,
        &[
            json!({"argv": ["sh", "-c", "test -d /opt/judge/data"], "bind": ["/usr/share:/opt/judge/data"]}),
            json!({"argv": ["sh", "-c", "test ! -e /opt && echo none"]}),
        ],
    );
    assert_eq!(ran[0].0["status"], "ok", "{ran:?}");
    assert_eq!(ran[1].0["status"], "ok", "{ran:?}");
    assert_eq!(
        ran[1].1, "none\n",
        "a mount point of the last run is still there"
    );
    assert_nothing_left("after the mount points");
}

#[test]
fn the_rooms_tmpfs_mounts_have_large_folios_where_the_kernel_has_them() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("room-large-folios");
    // Twice: the first run's mounts were made on its path, the second's ahead, as spares.
    // (That each is new, holding nothing of the last run, is the IPC and files test's.)
    let look =
        json!({"argv": ["sh", "-c", "grep -E ' /(w|tmp) ' /proc/self/mounts | cut -d' ' -f2,4"]});
    let ran = in_one_container(&dir, &[look.clone(), look]);
    let large = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
    for (result, out) in &ran {
        assert_eq!(result["status"], "ok", "{ran:?}");
        let mounts: Vec<&str> = out.lines().collect();
        assert_eq!(mounts.len(), 2, "{out}");
        for mount in mounts {
            assert!(
                mount.contains("nosuid") && mount.contains("nodev"),
                "{mount}"
            );
            assert_eq!(mount.contains("huge=within_size"), large, "{mount}");
        }
    }
    assert_nothing_left("after the large folios");
}
