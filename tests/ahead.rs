//! The next run's process, forked ahead of its request (init's `next_program`): a request
//! with the last run's filter is handed to it, and it becomes that request's own program
//! (its limits, working directory, fds and filter, a session of its own, the program's ids),
//! never the last run's; a request with another filter gets a process of its own; and a
//! failure of the process forked ahead is its run's failure, named.
//!
//! Whether a run was handed to the process forked ahead shows in its age: that process was
//! born when the last run ended, and each test waits between runs.

use runbox::mount::plan::Op;
use runbox::seccomp::arch::Arch;
use runbox::seccomp::bpf::{Action, Rule};
use runbox::seccomp::{profile, Filter};
use runbox::{Container, ContainerConfig, Outcome, RunSpec};
use runbox_shared::{Exit, Step};
use runbox_tests::{probe_bind, slowdown, TempDir, PROBE};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

/// How long each test waits between runs: the age a process forked ahead has at least
/// (longer on a slow machine, [`slowdown`], where a fresh program's own start takes longer).
fn idle() -> Duration {
    Duration::from_millis(400) * slowdown()
}

/// True when a program `age_ms` old was born before the wait between runs: the process
/// forked ahead.
fn born_before_the_wait(age_ms: u64) -> bool {
    age_ms >= idle().as_millis() as u64 - 50
}

/// A warm container, and the room of each of its runs: the probe at [`PROBE`].
fn container() -> (Container, Vec<Op>) {
    let config = ContainerConfig {
        root: runbox::mount::RootSpec {
            binds: vec![probe_bind().parse().unwrap()],
            ..Default::default()
        },
        ..ContainerConfig::default()
    };
    let room = config.room().expect("the room");
    let container = Container::create(&config).expect("a container (run as root)");
    (container, room)
}

/// A run of `argv` with the default profile and limits, its CPU and wall time
/// [`slowdown`] times the default (a shell script of several programs takes a while under
/// emulation).
fn run_spec(argv: Vec<String>) -> RunSpec {
    let mut spec = RunSpec::new(argv);
    spec.limits.time *= slowdown();
    spec.limits.wall *= slowdown();
    spec
}

/// Runs `spec` with `stdin` as its input; returns how it ended and what it printed.
fn run(container: &mut (Container, Vec<Op>), spec: &RunSpec, stdin: &str) -> (Outcome, String) {
    let dir = TempDir::new("ahead");
    std::fs::write(dir.join("in"), stdin).unwrap();
    let input = std::fs::File::open(dir.join("in")).unwrap();
    let output = std::fs::File::create(dir.join("out")).unwrap();
    let null = std::fs::File::create("/dev/null").unwrap();
    let wire = spec.to_wire().unwrap();
    let fds = [input.as_fd(), output.as_fd(), null.as_fd()];
    let (container, room) = container;
    let outcome = container
        .run(room, &wire.run(), &fds, &spec.limits)
        .expect("the run");
    (outcome, std::fs::read_to_string(dir.join("out")).unwrap())
}

/// The shell script that prints, one `name value` a line, what a program starts with.
const STARTS_WITH: &str = r#"
read -r up _ < /proc/uptime
start=$(cut -d' ' -f22 /proc/$$/stat)
echo "age_ms $(awk -v up="$up" -v start="$start" 'BEGIN { printf "%d", up * 1000 - start * 10 }')"
echo "session $(cut -d' ' -f6 /proc/$$/stat) pid $$"
echo "uid $(id -u)"
echo "cwd $(pwd)"
echo "stdin $(cat)"
echo "stack $(awk '/^Max stack size/ { print $4 }' /proc/$$/limits)"
echo "fsize $(awk '/^Max file size/ { print $4 }' /proc/$$/limits)"
echo "env $RUNBOX_TEST_VALUE"
echo "fds $(/probe fds | tr '\n' ' ')"
grep -E '^(Seccomp|NoNewPrivs|CapBnd|CapEff|SigBlk):' /proc/$$/status | tr -d '\t' | tr ':' ' '
"#;

/// The value of `name` in `name value` lines.
fn value<'a>(lines: &'a str, name: &str) -> &'a str {
    lines
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

/// The program's age in ms (at the clock tick's precision: a young one may read below 0).
fn age_ms(lines: &str) -> u64 {
    let age: i64 = value(lines, "age_ms").parse().unwrap();
    age.max(0) as u64
}

fn finished(outcome: &Outcome) -> &runbox_shared::Finished {
    match outcome {
        Outcome::Finished { finished, .. } => finished,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_handed_to_the_process_forked_ahead_becomes_its_own_program() {
    let mut container = container();
    // The first run: the default profile, other limits than the second's.
    let first = run_spec(vec!["/bin/true".into()]);
    assert!(first.seccomp.ahead, "the default profile goes ahead");
    let (outcome, _) = run(&mut container, &first, "");
    assert_eq!(finished(&outcome).exit, Exit::Code(0));
    std::thread::sleep(idle());

    let mut second = run_spec(vec!["/bin/sh".into(), "-c".into(), STARTS_WITH.into()]);
    second.limits.stack = 3 << 20;
    second.limits.output = 5 << 20;
    second.cwd = "/tmp".into();
    second.env.push("RUNBOX_TEST_VALUE=second".into());
    let (outcome, lines) = run(&mut container, &second, "from the second request");
    let ended = finished(&outcome);
    assert_eq!(ended.exit, Exit::Code(0), "{lines}");
    // Born when the first run ended, it waited: it was the process forked ahead.
    assert!(
        born_before_the_wait(age_ms(&lines)),
        "not the process forked ahead: {lines}"
    );
    // Its wall time runs from the request, not from its birth.
    let wall_ms = ended.wall_us / 1000;
    assert!(wall_ms < idle().as_millis() as u64, "{wall_ms} ms: {lines}");
    // The second request's own everything.
    assert_eq!(value(&lines, "stack"), (3u64 << 20).to_string(), "{lines}");
    assert_eq!(value(&lines, "fsize"), (5u64 << 20).to_string(), "{lines}");
    assert_eq!(value(&lines, "cwd"), "/tmp");
    assert_eq!(value(&lines, "stdin"), "from the second request");
    assert_eq!(value(&lines, "env"), "second");
    // Nothing of init's or of the hand-over's socket: fds 0, 1 and 2 only.
    assert_eq!(value(&lines, "fds"), "0 1 2 ", "{lines}");
    // The program's id, a session it leads, no capability, no signal blocked, the filter.
    assert_eq!(value(&lines, "uid"), runbox_shared::PROGRAM_ID.to_string());
    let session = value(&lines, "session");
    let (sid, pid) = session.split_once(" pid ").unwrap();
    assert_eq!(sid, pid, "not its session's leader: {lines}");
    assert_eq!(value(&lines, "CapBnd"), "0000000000000000");
    assert_eq!(value(&lines, "CapEff"), "0000000000000000");
    assert_eq!(value(&lines, "SigBlk"), "0000000000000000");
    assert_eq!(value(&lines, "NoNewPrivs"), "1");
    assert_eq!(value(&lines, "Seccomp"), "2");
}

/// The default profile with `getppid` refused (EPERM).
fn refusing_getppid() -> Arc<Filter> {
    let arch = Arch::native();
    let mut policy = profile::builtin("default", arch).unwrap();
    policy.rules.insert(
        arch.number("getppid").unwrap(),
        Rule::Always(Action::Errno(1)),
    );
    profile::add_walls(&mut policy, arch);
    Arc::new(Filter::compile(&policy, false))
}

/// A `getppid` from the probe, with `filter`, and how old the probe's process was.
fn getppid_with(container: &mut (Container, Vec<Op>), filter: &Arc<Filter>) -> (String, u64) {
    let script = format!(
        "{PROBE} syscall {} && {STARTS_WITH}",
        Arch::native().number("getppid").unwrap()
    );
    let mut spec = run_spec(vec!["/bin/sh".into(), "-c".into(), script]);
    spec.seccomp = Arc::clone(filter);
    let (outcome, lines) = run(container, &spec, "");
    assert_eq!(finished(&outcome).exit, Exit::Code(0), "{lines}");
    (lines.lines().next().unwrap().to_string(), age_ms(&lines))
}

#[test]
fn a_request_with_another_filter_gets_a_process_of_its_own() {
    let mut container = container();
    let default = runbox::seccomp::default_filter();
    let stricter = refusing_getppid();
    assert!(
        stricter.ahead,
        "it refuses none of the calls after an ahead filter"
    );
    let (answer, _) = getppid_with(&mut container, &default);
    assert_eq!(answer, "ok");
    // In turn: the stricter filter after the default one (the process waiting has the
    // default filter: not this request's), the default after the stricter, and the same
    // filter twice, where the second run is handed over.
    for (filter, answer, handed) in [
        (&stricter, "errno 1", false),
        (&default, "ok", false),
        (&default, "ok", true),
    ] {
        std::thread::sleep(idle());
        let (got, age) = getppid_with(&mut container, filter);
        assert_eq!(got, answer, "not the request's own filter");
        let old = born_before_the_wait(age);
        assert_eq!(old, handed, "{age} ms old; handed over: {handed} expected");
    }
}

#[test]
fn a_failure_of_the_process_forked_ahead_is_its_runs_failure() {
    let mut container = container();
    // A filter that refuses chdir but says it goes ahead (the controller never says so of
    // one: `ahead` is computed). Installed last, after the chdir, it harms no run; ahead of
    // the request, the chdir after it fails, and the run must say so.
    let arch = Arch::native();
    let mut policy = profile::builtin("default", arch).unwrap();
    policy.rules.insert(
        arch.number("chdir").unwrap(),
        Rule::Always(Action::Errno(1)),
    );
    let honest = Filter::compile(&policy, false);
    assert!(!honest.ahead, "a filter refusing chdir must not go ahead");
    let lying = Arc::new(Filter {
        ahead: true,
        ..honest
    });
    let mut spec = run_spec(vec!["/bin/true".into()]);
    spec.seccomp = Arc::clone(&lying);
    let (outcome, _) = run(&mut container, &spec, "");
    assert_eq!(finished(&outcome).exit, Exit::Code(0));
    std::thread::sleep(idle());
    match run(&mut container, &spec, "").0 {
        Outcome::NotStarted(failure) => {
            assert_eq!(failure.step, Step::Chdir, "{failure:?}");
            assert_eq!(failure.errno, 1, "{failure:?}");
        }
        other => panic!("the forked-ahead process's failure was not reported: {other:?}"),
    }
    // The container goes on serving.
    let (outcome, _) = run(&mut container, &run_spec(vec!["/bin/true".into()]), "");
    assert_eq!(finished(&outcome).exit, Exit::Code(0));
}
