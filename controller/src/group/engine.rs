//! Running a group: the steps in order.
//!
//! 1. **wire** the request (pure: [`GroupRequest::wire`]);
//! 2. **prepare** every member through the one lifecycle: plan them all ([`run::plan`]: its
//!    profile, room and request), then open their stdio ([`Planned::open`]), so that a
//!    bad member starts nothing and opens no other member's files;
//! 3. **connect**: one kernel pipe per pipe (`O_CLOEXEC`), or two and a [`Relay`] for one
//!    that captures;
//! 4. **take** every member's container at once ([`Pools::lease`]: never some while waiting
//!    for the rest);
//! 5. **start** each member on a thread of its own ([`Prepared::contained`]), holding only
//!    its own pipe ends, which it closes as soon as its run is over: its peers then see EOF
//!    or EPIPE as with any pipe. Each member ends by its own limits (its `wall` bounds a
//!    member whose peer is gone);
//! 6. **reply** when the last one ends: each member's result ([`Prepared::finish`], in
//!    order, which also delivers runbox's own spooled output), and the captures.

use super::relay::{self, Relay, Relayed};
use super::{GroupError, GroupRequest, GroupResult, Source};
use crate::cancel::Cancel;
use crate::config::Config;
use crate::error::Error;
use crate::files::FileStore;
use crate::options::OutputDefault;
use crate::pool::{Lease, Pools};
use crate::result::RunResult;
use crate::run::{self, Place, Planned, Prepared, Refused};
use crate::status::Outcome;
use crate::sys::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::thread::ScopedJoinHandle;

/// Runs a group of programs connected by pipes, with the profiles of `config`, each in a
/// warm container of `pools` (without pools, or without root, each in a container made
/// for it). A group that is wrong, or a member that cannot be made ready, starts nothing.
/// `cancel`, when given, ends every member at once ([`crate::cancel`]).
pub fn run(
    group: &GroupRequest,
    config: &Config,
    pools: Option<&Pools>,
    unnamed: OutputDefault,
    store: Option<&FileStore>,
    cancel: Option<&Cancel>,
) -> Result<GroupResult, GroupError> {
    let wiring = group.wire()?;
    let refused = |run| {
        move |why| GroupError::Member {
            run,
            why: refused_text(why),
        }
    };
    // Every member planned before any member's files are opened.
    let planned = group
        .group
        .iter()
        .enumerate()
        .map(|(run, member)| run::plan(member, config).map_err(refused(run)))
        .collect::<Result<Vec<Planned>, GroupError>>()?;
    let prepared = planned
        .into_iter()
        .zip(&group.group)
        .enumerate()
        .map(|(run, (planned, member))| {
            planned
                .open(member, unnamed, store)
                .map(|member| member.cancelled_by(cancel))
                .map_err(refused(run))
        })
        .collect::<Result<Vec<Prepared>, GroupError>>()?;
    let (mut ends, relays) = connect(group)?;
    let members: Vec<Vec<(usize, OwnedFd)>> = wiring
        .fds
        .iter()
        .map(|fds| own_ends(fds, &mut ends))
        .collect();
    let places = take(&prepared, pools)?;
    let bounds: Vec<Option<usize>> = relays
        .iter()
        .map(|r| r.as_ref().map(Relay::bound))
        .collect();
    let (outcomes, kept) = std::thread::scope(|scope| {
        let relaying: Vec<Option<ScopedJoinHandle<'_, Vec<u8>>>> = relays
            .into_iter()
            .map(|relay| {
                relay.and_then(|relay| spawn(scope, "runbox-relay", move || relay.run()).ok())
            })
            .collect();
        let running: Vec<_> = prepared
            .iter()
            .zip(&wiring.fds)
            .zip(members)
            .zip(places)
            .map(|(((member, layout), own), place)| {
                spawn(scope, "runbox-member", move || {
                    start(member, layout, own, place)
                })
            })
            .collect();
        let outcomes: Vec<Result<Outcome, Error>> = running
            .into_iter()
            .map(|handle| match handle.map(ScopedJoinHandle::join) {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Err(Error::Protocol("a member's thread panicked".into())),
                Err(e) => Err(Error::io("spawn a member's thread", e)),
            })
            .collect();
        let kept: Vec<Option<Vec<u8>>> = relaying
            .into_iter()
            .map(|handle| handle.and_then(|h| h.join().ok()))
            .collect();
        (outcomes, kept)
    });
    let results = prepared
        .iter()
        .zip(outcomes)
        .map(|(member, outcome)| {
            member
                .finish(outcome)
                .unwrap_or_else(|why| RunResult::internal_error(refused_text(why)))
        })
        .collect();
    let captures = bounds.iter().any(Option::is_some).then(|| {
        bounds
            .iter()
            .zip(kept)
            .map(|(bound, kept)| bound.map(|_| relay::as_text(&kept.unwrap_or_default())))
            .collect()
    });
    Ok(GroupResult { results, captures })
}

/// The text of a member's refusal, starting with its field.
fn refused_text(why: Refused) -> String {
    match why {
        Refused::Resolve(e) => e.to_string(),
        Refused::Stdio(e) => e.to_string(),
        Refused::Request(e) => e.to_string(),
        Refused::Deliver(e) => format!("stdout: cannot copy the output to runbox's own: {e}"),
        Refused::Files(e) => e.to_string(),
    }
}

/// Spawns `body` on a scoped thread. If no thread could be made, what it owned is dropped:
/// a member's pipe ends close (its peers see EOF) and its container goes back.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    body: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, body)
}

/// A pipe's two ends, until each goes to its member.
type Ends = (Option<OwnedFd>, Option<OwnedFd>);

/// Makes every pipe: (the writer's and the reader's end of each, a relay for each that
/// captures).
fn connect(group: &GroupRequest) -> Result<(Vec<Ends>, Vec<Option<Relay>>), GroupError> {
    let made = |e| GroupError::Internal(Error::io("make a group's pipe", e));
    let mut ends = Vec::with_capacity(group.pipes.len());
    let mut relays = Vec::with_capacity(group.pipes.len());
    for pipe in &group.pipes {
        match pipe.capture {
            None => {
                let (reader, writer) = fs::pipe().map_err(made)?;
                ends.push((Some(writer), Some(reader)));
                relays.push(None);
            }
            Some(bound) => {
                let Relayed {
                    writer,
                    reader,
                    relay,
                } = Relay::pipes(bound.get() as usize).map_err(made)?;
                ends.push((Some(writer), Some(reader)));
                relays.push(Some(relay));
            }
        }
    }
    Ok((ends, relays))
}

/// The pipe ends one member owns, by its fd number.
fn own_ends(layout: &[Source], ends: &mut [Ends]) -> Vec<(usize, OwnedFd)> {
    let mut own = Vec::new();
    for (fd, source) in layout.iter().enumerate() {
        let end = match *source {
            Source::Writes(pipe) => ends[pipe].0.take(),
            Source::Reads(pipe) => ends[pipe].1.take(),
            Source::Stdio(_) => None,
        };
        own.extend(end.map(|end| (fd, end)));
    }
    own
}

/// Takes a container for every member at once, from the pools of their roots; without
/// pools (or root), each member's container is made for it.
fn take(prepared: &[Prepared], pools: Option<&Pools>) -> Result<Vec<Place<'static>>, GroupError> {
    let Some(pools) = pools.filter(|_| !crate::container::rootless()) else {
        return Ok(prepared.iter().map(|_| Place::Own).collect());
    };
    let roots: Vec<Option<&Path>> = prepared
        .iter()
        .map(|member| member.resolved.config.root.rootfs.as_deref())
        .collect();
    let leases: Vec<Lease> = pools.lease(&roots).map_err(GroupError::Internal)?;
    Ok(leases
        .into_iter()
        .map(|lease| Place::Lease(Box::new(lease)))
        .collect())
}

/// One member's run, on its thread: its fds laid out from its stdio and its own pipe ends,
/// which close as soon as the run is over.
fn start(
    member: &Prepared,
    layout: &[Source],
    own: Vec<(usize, OwnedFd)>,
    place: Place<'_>,
) -> Result<Outcome, Error> {
    let stdio = member.stdio.borrow();
    let fds: Vec<BorrowedFd<'_>> = layout
        .iter()
        .enumerate()
        .map(|(fd, source)| match source {
            Source::Stdio(i) => stdio[*i],
            _ => own
                .iter()
                .find(|(at, _)| *at == fd)
                .map_or(stdio[0], |(_, end)| end.as_fd()),
        })
        .collect();
    let outcome = member.contained(&fds, place);
    drop(fds);
    drop(own);
    outcome
}

#[cfg(test)]
mod tests {
    use super::super::Wiring;
    use super::*;

    #[test]
    fn each_member_owns_only_its_own_ends() {
        let group: GroupRequest = serde_json::from_str(
            r#"{"group":[{"argv":["a"]},{"argv":["b"]}],
            "pipes":[{"from":{"run":0,"fd":1},"to":{"run":1,"fd":0}},
                     {"from":{"run":1,"fd":1},"to":{"run":0,"fd":3},"capture":"1K"}]}"#,
        )
        .unwrap();
        let Wiring { fds } = group.wire().unwrap();
        let (mut ends, relays) = connect(&group).unwrap();
        assert!(relays[0].is_none() && relays[1].is_some());
        let a = own_ends(&fds[0], &mut ends);
        let b = own_ends(&fds[1], &mut ends);
        assert_eq!(a.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(b.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(), [0, 1]);
        // Every end went to a member: the controller keeps none.
        assert!(ends.iter().all(|(w, r)| w.is_none() && r.is_none()));
    }
}
