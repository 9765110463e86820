//! Groups: several programs in one request, connected by pipes, each in its own warm
//! container, through `runbox batch` and `runbox run --group` (the roles are
//! tests/interact/main.rs).

use runbox_tests::{assert_nothing_left, batch, built_bin, one_at_a_time, runbox_bin, TempDir};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A member running the interact program (bound at /i) as `role`, with more fields.
fn member(role: &[&str], more: &str) -> String {
    let argv: Vec<String> = ["/i"]
        .iter()
        .chain(role)
        .map(|a| format!("{a:?}"))
        .collect();
    let bind = format!("{}:/i", built_bin("runbox-interact"));
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(",{more}")
    };
    format!(r#"{{"argv":[{}],"bind":[{bind:?}]{more}}}"#, argv.join(","))
}

/// A pipe from (run, fd) to (run, fd), with more fields.
fn pipe(from: (usize, u32), to: (usize, u32), more: &str) -> String {
    let more = if more.is_empty() {
        String::new()
    } else {
        format!(",{more}")
    };
    format!(
        r#"{{"from":{{"run":{},"fd":{}}},"to":{{"run":{},"fd":{}}}{more}}}"#,
        from.0, from.1, to.0, to.1
    )
}

/// A group line.
fn group(id: &str, members: &[String], pipes: &[String]) -> String {
    format!(
        r#"{{"id":"{id}","group":[{}],"pipes":[{}]}}"#,
        members.join(","),
        pipes.join(",")
    )
}

/// The two pipes of an interactive pair: 0's stdout to 1's stdin, and back.
fn both_ways() -> Vec<String> {
    vec![pipe((0, 1), (1, 0), ""), pipe((1, 1), (0, 0), "")]
}

fn by_id<'a>(results: &'a [Value], id: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result for {id}: {results:?}"))
}

fn ms(result: &Value, field: &str) -> u64 {
    result[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {result}"))
}

#[test]
fn guess_the_number_both_ok_and_the_interactor_gives_the_verdict() {
    let _serial = one_at_a_time();
    let lines = [
        group(
            "right",
            &[
                member(&["interactor", "654321"], ""),
                member(&["solution"], ""),
            ],
            &both_ways(),
        ),
        // A solution that gives up: the interactor sees EOF and says so by its exit code.
        group(
            "gives-up",
            &[
                member(&["interactor", "654321"], ""),
                member(&["write", "0"], ""),
            ],
            &both_ways(),
        ),
    ];
    let results = batch(&(lines.join("\n") + "\n"), 2);
    assert_eq!(results.len(), 2, "{results:?}");
    let right = &by_id(&results, "right")["results"];
    assert_eq!(right[0]["status"], "ok", "{right}");
    assert_eq!(right[0]["exit_code"], 0, "{right}");
    assert_eq!(right[1]["status"], "ok", "{right}");
    assert!(by_id(&results, "right").get("captures").is_none());
    let gave_up = &by_id(&results, "gives-up")["results"];
    assert_eq!(gave_up[0]["status"], "nonzero_exit", "{gave_up}");
    assert_eq!(gave_up[0]["exit_code"], 2, "{gave_up}");
    assert_eq!(gave_up[1]["status"], "ok", "{gave_up}");
    assert_nothing_left("after guess the number");
}

#[test]
fn both_reading_first_end_at_their_own_walls_with_no_cpu() {
    let _serial = one_at_a_time();
    let line = group(
        "deadlock",
        &[
            member(&["read-first"], r#""wall":"800ms""#),
            member(&["read-first"], r#""wall":"1500ms""#),
        ],
        &both_ways(),
    );
    let started = Instant::now();
    let results = batch(&(line + "\n"), 2);
    let took = started.elapsed();
    let each = &by_id(&results, "deadlock")["results"];
    for (i, wall) in [(0, 800), (1, 1500)] {
        let result = &each[i];
        assert_eq!(result["status"], "time_limit_exceeded", "{result}");
        assert_eq!(result["detail"], "wall time", "{result}");
        assert!(ms(result, "time_ms") < 100, "almost no CPU: {result}");
        let got = ms(result, "wall_ms");
        assert!(got >= wall && got < wall + 500, "near {wall} ms: {result}");
    }
    assert!(took < Duration::from_secs(10), "the batch took {took:?}");
    assert_nothing_left("after the deadlock");
}

#[test]
fn an_interactor_that_exits_early_ends_the_group_promptly() {
    let _serial = one_at_a_time();
    let line = group(
        "early",
        &[
            member(&["close-early"], ""),
            member(&["talk"], r#""wall":"20s","time":"10s""#),
        ],
        &both_ways(),
    );
    let started = Instant::now();
    let results = batch(&(line + "\n"), 2);
    let took = started.elapsed();
    let each = &by_id(&results, "early")["results"];
    assert_eq!(each[0]["status"], "ok", "{each}");
    let talker = &each[1];
    // EOF on its read (exit 3), EPIPE on its write (5), or SIGPIPE.
    let saw_the_end =
        talker["exit_code"] == 3 || talker["exit_code"] == 5 || talker["signal"] == libc::SIGPIPE;
    assert!(saw_the_end, "{talker}");
    assert!(ms(talker, "wall_ms") < 2000, "promptly: {talker}");
    assert!(took < Duration::from_secs(10), "the batch took {took:?}");
    assert_nothing_left("after the early exit");
}

#[test]
fn a_flood_into_a_reader_that_never_reads_blocks_only_the_flooder() {
    let _serial = one_at_a_time();
    let lines = [
        group(
            "flood",
            &[
                member(&["flood"], r#""wall":"1s""#),
                member(&["sleep"], r#""wall":"1200ms""#),
            ],
            &[pipe((0, 1), (1, 0), "")],
        ),
        // Beside it, on the other worker: an ordinary run, served meanwhile.
        r#"{"id":"beside","argv":["true"]}"#.to_string(),
    ];
    let started = Instant::now();
    let results = batch(&(lines.join("\n") + "\n"), 2);
    let took = started.elapsed();
    let each = &by_id(&results, "flood")["results"];
    for (i, wall) in [(0, 1000), (1, 1200)] {
        assert_eq!(each[i]["status"], "time_limit_exceeded", "{each}");
        assert_eq!(each[i]["detail"], "wall time", "{each}");
        let got = ms(&each[i], "wall_ms");
        assert!(got >= wall && got < wall + 500, "{each}");
    }
    // Blocked on the full pipe, not writing: far less CPU than wall.
    assert!(ms(&each[0], "time_ms") < 300, "{each}");
    assert_eq!(by_id(&results, "beside")["status"], "ok");
    assert!(took < Duration::from_secs(10), "the batch took {took:?}");
    assert_nothing_left("after the flood");
}

#[test]
fn one_side_over_its_memory_gets_its_own_verdict_and_the_other_its_own() {
    let _serial = one_at_a_time();
    let line = group(
        "memory",
        &[
            member(&["touch", "200"], r#""memory":"64M""#),
            member(&["read-all"], ""),
        ],
        &[pipe((0, 1), (1, 0), "")],
    );
    let results = batch(&(line + "\n"), 2);
    let each = &by_id(&results, "memory")["results"];
    assert_eq!(each[0]["status"], "memory_limit_exceeded", "{each}");
    assert_eq!(each[1]["status"], "ok", "{each}");
    assert_nothing_left("after the memory limit");
}

#[test]
fn a_capture_keeps_the_first_bytes_and_truncates_past_its_bound() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("capture");
    let counted = dir.join("counted");
    let stderr = format!(r#""stderr":"{counted}""#);
    let line = group(
        "capture",
        &[
            member(&["write", "100000"], ""),
            member(&["read-all"], &stderr),
            member(&["write", "10"], ""),
            member(&["read-all"], ""),
        ],
        &[
            pipe((0, 1), (1, 0), r#""capture":"1K""#),
            pipe((2, 1), (3, 0), ""),
        ],
    );
    let results = batch(&(line + "\n"), 2);
    let answer = by_id(&results, "capture");
    for result in answer["results"].as_array().unwrap() {
        assert_eq!(result["status"], "ok", "{answer}");
    }
    let captures = answer["captures"].as_array().expect("captures");
    assert_eq!(captures.len(), 2);
    let first = captures[0].as_str().unwrap();
    assert_eq!(first.len(), 1024);
    assert!(first.starts_with("0123456789012"), "{first}");
    assert_eq!(captures[1], Value::Null);
    // The reader got all of it through the relay.
    let read = std::fs::read_to_string(&counted).unwrap();
    assert_eq!(read.trim(), "100000");
    assert_nothing_left("after the capture");
}

#[test]
fn a_capturing_relay_keeps_reading_after_the_reader_died() {
    let _serial = one_at_a_time();
    let line = group(
        "drained",
        &[
            member(&["write", "1000000"], ""),
            member(&["close-early"], ""),
        ],
        &[pipe((0, 1), (1, 0), r#""capture":"16""#)],
    );
    let results = batch(&(line + "\n"), 2);
    let answer = by_id(&results, "drained");
    // The writer wrote its whole megabyte without EPIPE: the relay drained it.
    assert_eq!(answer["results"][0]["status"], "ok", "{answer}");
    assert_eq!(answer["results"][1]["status"], "ok", "{answer}");
    assert_eq!(answer["captures"][0], "0123456789012345");
    assert_nothing_left("after the drained relay");
}

#[test]
fn a_member_that_forks_and_holds_the_pipe_does_not_hold_its_peer() {
    let _serial = one_at_a_time();
    let line = group(
        "fork",
        &[
            member(&["fork-hold"], ""),
            member(&["read-all"], r#""wall":"5s""#),
        ],
        &[pipe((0, 1), (1, 0), "")],
    );
    let results = batch(&(line + "\n"), 2);
    let each = &by_id(&results, "fork")["results"];
    assert_eq!(each[0]["status"], "ok", "{each}");
    assert_eq!(each[1]["status"], "ok", "{each}");
    // The child went with its container's run: the reader saw EOF at once.
    assert!(ms(&each[1], "wall_ms") < 1500, "{each}");
    assert_nothing_left("after the fork");
}

#[test]
fn a_manager_talks_to_two_programs_through_its_fds_3_and_4() {
    let _serial = one_at_a_time();
    // The manager writes 40 on fd 3 to the first, which adds one and passes it to the
    // second, which adds one and answers on the manager's fd 4. Three members, one
    // worker: the pool of one grows for the group and shrinks back.
    let line = group(
        "manager",
        &[
            member(&["manager", "40"], ""),
            member(&["add1"], ""),
            member(&["add1"], ""),
        ],
        &[
            pipe((0, 3), (1, 0), ""),
            pipe((1, 1), (2, 0), ""),
            pipe((2, 1), (0, 4), ""),
        ],
    );
    let lines = [
        line.clone(),
        line.replace(r#""id":"manager""#, r#""id":"again""#),
    ];
    let results = batch(&(lines.join("\n") + "\n"), 1);
    for id in ["manager", "again"] {
        let each = &by_id(&results, id)["results"];
        assert_eq!(each.as_array().unwrap().len(), 3);
        for result in each.as_array().unwrap() {
            assert_eq!(result["status"], "ok", "{id}: {each}");
        }
    }
    assert_nothing_left("after the manager");
}

#[test]
fn a_hundred_groups_through_two_workers_reuse_the_same_containers() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("hundred");
    let lines: Vec<String> = (0..100)
        .map(|i| {
            let stderr = |m: usize| format!(r#""stderr":"{}""#, dir.join(&format!("{i}-{m}")));
            group(
                &format!("g{i}"),
                &[
                    member(&["ping", "10"], &stderr(0)),
                    member(&["pong"], &stderr(1)),
                ],
                &both_ways(),
            )
        })
        .collect();
    let results = batch(&(lines.join("\n") + "\n"), 2);
    assert_eq!(results.len(), 100);
    for result in &results {
        for each in result["results"].as_array().expect("results") {
            assert_eq!(each["status"], "ok", "{result}");
        }
    }
    // Every run says when its container's init started: two containers served them all.
    let mut inits: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(inits.len(), 200);
    assert!(inits.iter().all(|t| t.parse::<u64>().is_ok()), "{inits:?}");
    inits.sort();
    inits.dedup();
    assert!(inits.len() <= 2, "containers made per run: {inits:?}");
    assert_nothing_left("after a hundred groups");
}

#[test]
fn bad_groups_get_a_clear_internal_error_start_nothing_and_the_batch_goes_on() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("bad-groups");
    let never = dir.join("never-made");
    let two = [
        member(&["write", "1"], &format!(r#""stdout":"{never}""#)),
        member(&["read-all"], ""),
    ];
    let lines = [
        (
            group("no-run", &two, &[pipe((0, 3), (2, 0), "")]),
            "pipes[0].to.run: no run 2 in a group of 2",
        ),
        (
            group("reader-fd-1", &two, &[pipe((0, 3), (1, 1), "")]),
            "pipes[0].to.fd: 1 is not a reader's fd",
        ),
        (
            group(
                "twice",
                &two,
                &[pipe((0, 3), (1, 0), ""), pipe((0, 4), (1, 0), "")],
            ),
            "pipes[1].to: fd 0 of run 1 is given twice (also by pipes[0].to)",
        ),
        (
            group("stdout-and-pipe", &two, &[pipe((0, 1), (1, 0), "")]),
            "pipes[0].from: fd 1 of run 0 is given twice (also by its stdout)",
        ),
        (group("empty", &[], &[]), "group: no program given"),
        (
            group(
                "member-id",
                &[
                    two[1].clone(),
                    two[1].replace("{\"argv\"", "{\"id\":\"x\",\"argv\""),
                ],
                &[],
            ),
            "group[1].id: a member carries no id",
        ),
        (
            group("typo", &[two[1].replace("argv", "argc")], &[]),
            "group[0].argc: unknown field `argc`",
        ),
        (
            group(
                "bad-bind",
                &[
                    two[0].clone(),
                    member(&["read-all"], r#""bind":["/no/such:/x"]"#),
                ],
                &[],
            ),
            "group[1].",
        ),
    ];
    let mut input: String = lines.iter().map(|(line, _)| format!("{line}\n")).collect();
    input.push_str(r#"{"id":"after","argv":["true"]}"#);
    input.push('\n');
    let results = batch(&input, 2);
    assert_eq!(results.len(), lines.len() + 1, "{results:?}");
    for (line, says) in &lines {
        let id = line.split('"').nth(3).unwrap();
        let result = by_id(&results, id);
        assert_eq!(result["status"], "internal_error", "{id}: {result}");
        let detail = result["detail"].as_str().unwrap_or("");
        assert!(detail.starts_with(says), "{id}: {detail}");
        assert!(result.get("results").is_none(), "{id}: {result}");
    }
    assert_eq!(by_id(&results, "after")["status"], "ok");
    assert!(
        !std::path::Path::new(&never).exists(),
        "a bad group opened a member's stdout"
    );
    assert_nothing_left("after the bad groups");
}

#[test]
fn runbox_run_group_prints_one_result_per_program() {
    let _serial = one_at_a_time();
    let dir = TempDir::new("cli-group");
    let file = dir.join("group.json");
    let request = group(
        "cli",
        &[member(&["interactor", "77"], ""), member(&["solution"], "")],
        &[
            pipe((0, 1), (1, 0), r#""capture":"64K""#),
            pipe((1, 1), (0, 0), ""),
        ],
    );
    std::fs::write(&file, &request).unwrap();
    let output = std::process::Command::new(runbox_bin())
        .args(["run", "--json", "--group", &file])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(answer["results"][0]["status"], "ok", "{answer}");
    assert_eq!(answer["results"][1]["status"], "ok", "{answer}");
    let said = answer["captures"][0].as_str().unwrap();
    assert!(said.ends_with("=\n") && said.contains('<'), "{said}");
    // A bad group is a usage error; options beside --group too.
    std::fs::write(&file, group("bad", &[], &[])).unwrap();
    let bad = std::process::Command::new(runbox_bin())
        .args(["run", "--group", &file])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("group: no program given"));
    let mixed = std::process::Command::new(runbox_bin())
        .args(["run", "--time", "1s", "--group", &file])
        .output()
        .unwrap();
    assert_eq!(mixed.status.code(), Some(2));
    assert_nothing_left("after runbox run --group");
}

#[test]
fn members_bring_their_own_files_and_collect_their_outputs() {
    let _serial = one_at_a_time();
    // Member 0 reads its copied-in file and sends it down the pipe; member 1 writes what it
    // got into a file that is copied out, and its stderr is collected.
    let sender = r#"{"argv":["sh","-c","cat /w/in.txt"],"copy_in":{"in.txt":{"content":"from the judge\n"}}}"#;
    let receiver = r#"{"argv":["sh","-c","cat > /w/got.txt; echo done >&2"],"copy_out":["got.txt"],"stderr":{"collect":"1K"}}"#;
    let line = group(
        "files",
        &[sender.to_string(), receiver.to_string()],
        &[pipe((0, 1), (1, 0), "")],
    );
    let results = batch(&(line + "\n"), 2);
    let members = &by_id(&results, "files")["results"];
    assert_eq!(members[0]["status"], "ok", "{members}");
    assert_eq!(members[1]["status"], "ok", "{members}");
    assert_eq!(
        members[1]["files"]["got.txt"], "from the judge\n",
        "{members}"
    );
    assert_eq!(members[1]["stderr"], "done\n", "{members}");
    assert_nothing_left("after a group with files");
}
