//! # Groups: several programs in one request, connected by pipes (interactive problems)
//!
//! A group is `{"id": "...", "group": [REQUEST, ...], "pipes": [PIPE, ...]}`: each REQUEST
//! is an ordinary run request ([`RunOptions`]) without `id`, each PIPE connects a writer's
//! fd (1, 2 or 3 and above) of one member to a reader's fd (0 or 3 and above) of another,
//! `{"from": {"run": 0, "fd": 1}, "to": {"run": 1, "fd": 0}}`, optionally through a relay
//! in the controller that keeps the first bytes of the traffic (`"capture": "1M"`,
//! [`relay`]).
//!
//! This module is the request and its checks, pure: [`GroupRequest::wire`] turns a request
//! into each member's fd layout ([`Wiring`]), or says what is wrong, before anything is
//! opened. [`engine`] runs a wired group: every member prepared through the one lifecycle
//! ([`crate::run::prepare`]), its containers taken at once ([`crate::pool::Pools::lease`]),
//! every member started on a thread of its own, the reply made when the last one ends.

pub mod engine;
pub mod relay;

use crate::options::RunOptions;
use crate::result::RunResult;
use crate::spec::Mode;
use crate::units::Size;
use runbox_shared::MAX_FDS;
use serde::{Deserialize, Serialize};

/// The largest capture a pipe may ask for: 64 MiB.
pub const MAX_CAPTURE: u64 = 64 << 20;

/// How many bytes of a pipe's traffic its relay keeps.
pub type Capture = Size<0, MAX_CAPTURE>;

/// A group request, as a batch line or `runbox run --group FILE` gives it.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// The request's id, echoed in its result line.
    #[serde(default)]
    pub id: Option<String>,
    /// The programs, each an ordinary run request without `id`; its index is its `run`.
    pub group: Vec<RunOptions>,
    /// The pipes between them.
    #[serde(default)]
    pub pipes: Vec<Pipe>,
}

/// One pipe: what `from` writes, `to` reads.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pipe {
    /// The writer's end.
    pub from: End,
    /// The reader's end.
    pub to: End,
    /// Keep the first this many bytes of the traffic, through a relay in the controller.
    #[serde(default)]
    pub capture: Option<Capture>,
}

/// One end of a pipe: a member's fd.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct End {
    /// The member's index in `group`.
    pub run: usize,
    /// The fd it has in that member.
    pub fd: u32,
}

/// What becomes one fd of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Its own stdin, stdout or stderr (0, 1, 2), as its request names them.
    Stdio(usize),
    /// The reading end of this pipe (index in `pipes`).
    Reads(usize),
    /// The writing end of this pipe.
    Writes(usize),
}

/// Each member's fds, in order from 0: at least 0, 1 and 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// `fds[run][fd]`: what becomes fd `fd` of member `run`.
    pub fds: Vec<Vec<Source>>,
}

/// The reply to a group: one result per member, in the order of `group`, and the captured
/// traffic of each pipe (`null` for one without capture), when any pipe captures.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct GroupResult {
    /// The members' results.
    pub results: Vec<RunResult>,
    /// The captures, in the order of `pipes` (invalid UTF-8 as U+FFFD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captures: Option<Vec<Option<String>>>,
}

/// What is wrong with a group; each message names the field, as the request spells it.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// No member.
    #[error("group: no program given")]
    Empty,
    /// A member with an `id`: only the group has one.
    #[error("group[{0}].id: a member carries no id (the group's id is its results')")]
    MemberId(usize),
    /// A member with an empty `argv`.
    #[error("group[{0}].argv: no program given")]
    NoProgram(usize),
    /// A member in ptrace or namespace mode.
    #[error("group[{0}].mode: a group's programs run in warm containers (mode container)")]
    NotContained(usize),
    /// A pipe end naming a member that does not exist.
    #[error("pipes[{pipe}].{end}.run: no run {run} in a group of {size}")]
    NoSuchRun {
        /// The pipe's index.
        pipe: usize,
        /// `from` or `to`.
        end: &'static str,
        /// The run it names.
        run: usize,
        /// The group's size.
        size: usize,
    },
    /// A fd that end cannot have.
    #[error("pipes[{pipe}].{end}.fd: {fd} is not {expected}")]
    BadFd {
        /// The pipe's index.
        pipe: usize,
        /// `from` or `to`.
        end: &'static str,
        /// The fd given.
        fd: u32,
        /// What it may be.
        expected: String,
    },
    /// A fd given by two pipe ends, or by a pipe and the member's stdin, stdout or stderr.
    #[error("pipes[{pipe}].{end}: fd {fd} of run {run} is given twice (also by {other})")]
    Twice {
        /// The pipe's index.
        pipe: usize,
        /// `from` or `to`.
        end: &'static str,
        /// The member.
        run: usize,
        /// The fd.
        fd: u32,
        /// What else gives it (`pipes[0].to`, `its stdin`).
        other: String,
    },
    /// A gap in a member's fds from 3 on.
    #[error(
        "group[{run}]: fd {fd} is given but fd {missing} is not (fds 3 and above come in order)"
    )]
    Gap {
        /// The member.
        run: usize,
        /// A fd given.
        fd: usize,
        /// The one below it that is not.
        missing: usize,
    },
    /// A member whose request could not be made ready (its profile, a path, a bind); the
    /// text starts with the member's field.
    #[error("group[{run}].{why}")]
    Member {
        /// The member.
        run: usize,
        /// What its own lifecycle said (`stdout /x: ...`).
        why: String,
    },
    /// The sandbox could not take the group's containers or start its threads.
    #[error("{0}")]
    Internal(#[source] crate::error::Error),
}

impl GroupError {
    /// True for errors in what was asked (the CLI exits 2 for them), not in the sandbox.
    pub fn is_usage(&self) -> bool {
        !matches!(self, GroupError::Internal(_))
    }
}

/// The fds a reader's end may have: 0, or 3 and above.
fn reader_fd(fd: u32) -> bool {
    fd == 0 || (3..MAX_FDS as u32).contains(&fd)
}

/// The fds a writer's end may have: 1, 2, or 3 and above.
fn writer_fd(fd: u32) -> bool {
    (1..MAX_FDS as u32).contains(&fd)
}

impl GroupRequest {
    /// Checks the members and the pipes, and lays out each member's fds. Pure.
    pub fn wire(&self) -> Result<Wiring, GroupError> {
        let size = self.group.len();
        if size == 0 {
            return Err(GroupError::Empty);
        }
        for (run, member) in self.group.iter().enumerate() {
            if member.id.is_some() {
                return Err(GroupError::MemberId(run));
            }
            if member.argv.is_empty() {
                return Err(GroupError::NoProgram(run));
            }
            if member.mode != Mode::Container {
                return Err(GroupError::NotContained(run));
            }
        }
        // Who gives each (run, fd): a name for messages.
        let mut given: Vec<Vec<Option<String>>> = self
            .group
            .iter()
            .map(|member| {
                let mut fds = vec![None; MAX_FDS];
                let named = [
                    member.stdin.is_some(),
                    member.stdout.is_some(),
                    member.stderr.is_some(),
                ];
                for (fd, which) in ["its stdin", "its stdout", "its stderr"].iter().enumerate() {
                    if named[fd] {
                        fds[fd] = Some(which.to_string());
                    }
                }
                fds
            })
            .collect();
        let mut fds: Vec<Vec<Option<Source>>> = vec![vec![None; MAX_FDS]; size];
        for (pipe, p) in self.pipes.iter().enumerate() {
            let ends = [
                (
                    "from",
                    p.from,
                    writer_fd as fn(u32) -> bool,
                    "a writer's fd: 1, 2, or 3",
                ),
                ("to", p.to, reader_fd, "a reader's fd: 0, or 3"),
            ];
            for (end, at, allowed, expected) in ends {
                if at.run >= size {
                    return Err(GroupError::NoSuchRun {
                        pipe,
                        end,
                        run: at.run,
                        size,
                    });
                }
                if !allowed(at.fd) {
                    return Err(GroupError::BadFd {
                        pipe,
                        end,
                        fd: at.fd,
                        expected: format!("{expected} to {}", MAX_FDS - 1),
                    });
                }
                let slot = &mut given[at.run][at.fd as usize];
                if let Some(other) = slot {
                    return Err(GroupError::Twice {
                        pipe,
                        end,
                        run: at.run,
                        fd: at.fd,
                        other: other.clone(),
                    });
                }
                *slot = Some(format!("pipes[{pipe}].{end}"));
                fds[at.run][at.fd as usize] = Some(match end {
                    "from" => Source::Writes(pipe),
                    _ => Source::Reads(pipe),
                });
            }
        }
        let fds = fds
            .into_iter()
            .enumerate()
            .map(|(run, slots)| layout(run, slots))
            .collect::<Result<_, _>>()?;
        Ok(Wiring { fds })
    }
}

/// One member's fds: its stdio where no pipe gives 0, 1 or 2, then fds 3 and on, which
/// must come without a gap.
fn layout(run: usize, slots: Vec<Option<Source>>) -> Result<Vec<Source>, GroupError> {
    let last = slots.iter().rposition(Option::is_some).unwrap_or(0).max(2);
    let mut fds = Vec::with_capacity(last + 1);
    for (fd, slot) in slots.into_iter().take(last + 1).enumerate() {
        match (slot, fd) {
            (Some(source), _) => fds.push(source),
            (None, 0..=2) => fds.push(Source::Stdio(fd)),
            (None, _) => {
                return Err(GroupError::Gap {
                    run,
                    fd: last,
                    missing: fd,
                })
            }
        }
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(json: &str) -> GroupRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn an_interactive_pair_is_wired_both_ways() {
        let request = group(
            r#"{"id":"g","group":[{"argv":["interactor"]},{"argv":["solution"]}],
            "pipes":[{"from":{"run":0,"fd":1},"to":{"run":1,"fd":0}},
                     {"from":{"run":1,"fd":1},"to":{"run":0,"fd":0},"capture":"1K"}]}"#,
        );
        let wiring = request.wire().unwrap();
        use Source::*;
        assert_eq!(wiring.fds[0], vec![Reads(1), Writes(0), Stdio(2)]);
        assert_eq!(wiring.fds[1], vec![Reads(0), Writes(1), Stdio(2)]);
        assert_eq!(request.pipes[1].capture.map(Capture::get), Some(1024));
    }

    #[test]
    fn a_manager_gets_fds_3_and_4_in_order() {
        let request = group(
            r#"{"group":[{"argv":["manager"]},{"argv":["a"]},{"argv":["b"]}],
            "pipes":[{"from":{"run":0,"fd":3},"to":{"run":1,"fd":0}},
                     {"from":{"run":2,"fd":1},"to":{"run":0,"fd":4}}]}"#,
        );
        let wiring = request.wire().unwrap();
        use Source::*;
        assert_eq!(
            wiring.fds[0],
            vec![Stdio(0), Stdio(1), Stdio(2), Writes(0), Reads(1)]
        );
        assert_eq!(wiring.fds[2], vec![Stdio(0), Writes(1), Stdio(2)]);
    }

    /// A member's fd: (run, fd).
    type At = (usize, u32);

    /// Two members, connected by these pipes (from, to).
    fn two_with(pipes: &[(At, At)]) -> String {
        let pipes: Vec<String> = pipes
            .iter()
            .map(|((a, b), (c, d))| {
                format!(r#"{{"from":{{"run":{a},"fd":{b}}},"to":{{"run":{c},"fd":{d}}}}}"#)
            })
            .collect();
        format!(
            r#"{{"group":[{{"argv":["a"]}},{{"argv":["b"]}}],"pipes":[{}]}}"#,
            pipes.join(",")
        )
    }

    #[test]
    fn bad_groups_say_what_is_wrong() {
        let cases = [
            (r#"{"group":[]}"#.to_string(), "group: no program given"),
            (
                r#"{"group":[{"argv":["a"]},{"id":"x","argv":["b"]}]}"#.into(),
                "group[1].id: a member carries no id",
            ),
            (
                r#"{"group":[{"argv":[]}]}"#.into(),
                "group[0].argv: no program given",
            ),
            (
                r#"{"group":[{"argv":["a"],"mode":"ptrace"}]}"#.into(),
                "group[0].mode: a group's programs run in warm containers",
            ),
            (
                two_with(&[((0, 1), (2, 0))]),
                "pipes[0].to.run: no run 2 in a group of 2",
            ),
            (
                two_with(&[((0, 1), (1, 1))]),
                "pipes[0].to.fd: 1 is not a reader's fd: 0, or 3 to 15",
            ),
            (
                two_with(&[((0, 0), (1, 0))]),
                "pipes[0].from.fd: 0 is not a writer's fd: 1, 2, or 3 to 15",
            ),
            (two_with(&[((0, 1), (1, 16))]), "pipes[0].to.fd: 16 is not"),
            (
                two_with(&[((0, 1), (1, 0)), ((0, 1), (1, 3))]),
                "pipes[1].from: fd 1 of run 0 is given twice (also by pipes[0].from)",
            ),
            (
                r#"{"group":[{"argv":["a"]},{"argv":["b"],"stdin":"/in"}],
                "pipes":[{"from":{"run":0,"fd":1},"to":{"run":1,"fd":0}}]}"#
                    .into(),
                "pipes[0].to: fd 0 of run 1 is given twice (also by its stdin)",
            ),
            (
                two_with(&[((0, 4), (1, 0))]),
                "group[0]: fd 4 is given but fd 3 is not",
            ),
        ];
        for (json, says) in cases {
            let err = group(&json).wire().unwrap_err().to_string();
            assert!(err.starts_with(says), "{json}: {err}");
        }
    }

    #[test]
    fn a_group_without_pipes_is_its_members_side_by_side() {
        let request = group(r#"{"group":[{"argv":["a"]},{"argv":["b"]}]}"#);
        let wiring = request.wire().unwrap();
        assert!(wiring
            .fds
            .iter()
            .all(|fds| fds == &[Source::Stdio(0), Source::Stdio(1), Source::Stdio(2)]));
    }
}
