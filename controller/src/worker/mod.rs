//! # `runbox worker`: requests from a Redis stream, for a fleet of judge boxes
//!
//! Theory of operation. A judge adds entries to a stream (`runbox:requests`), each with a
//! field `request` holding one `runbox batch` line and optionally `reply_to`, the stream its
//! result goes to (`runbox:results` by default). Every worker of the fleet reads that
//! stream in one consumer group (`runbox`), so that each entry goes to one worker, and
//! answers each entry with one entry in the result stream: `result`, the batch result line
//! (the request's `id` included), and `entry`, the request entry's id.
//!
//! A worker is `--parallel` runner threads, a keeper and a signal thread, around
//! [`Held`], the entries it has read and not yet answered:
//!
//! - each **runner** ([`crate::answer::on_runners`], the pool and threads of `runbox
//!   batch`) loops: in one round trip to Redis ([`stream::exchange`]) it writes the result
//!   of its last entry, acknowledges that entry, and takes one new entry (XREADGROUP `COUNT
//!   1`) or, every [`entry::tick`], one idle for longer than `--claim-after` in another
//!   consumer's hands (XAUTOCLAIM: a worker that died); then it answers that entry through
//!   the one lifecycle. A runner takes an entry only when it is free, so a worker never
//!   holds more than it can run now (no local queue). An entry delivered more than
//!   `--max-deliveries` times, or without a `request`, is answered `internal_error`
//!   without a run. The result and the acknowledgement are one server-side step, result
//!   first, so every entry acknowledged has its result: a worker that dies loses no
//!   result, and at worst what it held is run again elsewhere (at-least-once delivery);
//! - the **keeper** tells Redis every tick that the entries held are still in hand, so that
//!   no other worker takes them over however long they run;
//! - the **signal** thread: SIGTERM or SIGINT stops the taking, and the worker exits 0 once
//!   what it holds is answered; a second signal ends it at once (its runs die with it,
//!   their entries stay pending for the others).
//!
//! Each of these threads has its own connection ([`stream::Link`]); a lost one is made
//! again with backoff, while the runs go on and their results wait for it.

pub mod entry;
pub mod slots;
pub mod stream;

use crate::answer::Runs;
use crate::config::Config;
use crate::error::Error;
use entry::{Entry, Task};
use redis::streams::StreamId;
use redis::Value;
use slots::Held;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stream::{Link, Names, Reply, Take};

/// What `runbox worker` is told on its command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server: `redis://[:password@]host[:port][/db]`.
    pub redis: String,
    /// The request stream.
    pub stream: String,
    /// The consumer group.
    pub group: String,
    /// This worker's name in the group.
    pub consumer: String,
    /// Runs at once.
    pub parallel: usize,
    /// How long an entry stays idle in another consumer's hands before it is taken over.
    pub claim_after: Duration,
    /// Deliveries after which an entry is answered `internal_error` instead of run.
    pub max_deliveries: u64,
}

/// Why a worker stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The URL does not parse.
    #[error("--redis {url}: {source}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// The signals could not be set up.
    #[error("cannot take SIGTERM and SIGINT: {0}")]
    Signals(#[source] std::io::Error),
    /// The pool could not be started.
    #[error("{0}")]
    Pool(#[source] Error),
    /// Redis refused what retrying cannot cure (a key of another type, a wrong password).
    #[error("Redis: {0}")]
    Redis(#[source] redis::RedisError),
}

impl WorkerError {
    /// True for errors in what was asked, which the CLI reports as usage errors (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, WorkerError::Url { .. })
    }
}

/// The default consumer name: the host's name and this process's pid.
pub fn default_consumer() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let host = if host.is_empty() { "runbox" } else { host };
    format!("{host}-{}", std::process::id())
}

/// Serves the stream until a signal stops it. What is running when it comes is finished,
/// written and acknowledged first.
pub fn serve(settings: &Settings, config: &Config) -> Result<(), WorkerError> {
    let tick = entry::tick(settings.claim_after);
    let link = |user| {
        Link::new(
            &settings.redis,
            &settings.stream,
            &settings.group,
            user,
            tick,
        )
        .map_err(|source| WorkerError::Url {
            url: settings.redis.clone(),
            source,
        })
    };
    let keeper_link = link("keeper")?;
    let mut runner_links = (0..settings.parallel.max(1))
        .map(|_| link("runner"))
        .collect::<Result<Vec<_>, _>>()?;
    // Blocked in this thread before any other exists, so in all of them: only the signal
    // thread takes them. (Programs run with an empty mask: init and ptrace mode reset it.)
    let signals = [libc::SIGTERM, libc::SIGINT];
    crate::sys::process::sigprocmask(libc::SIG_BLOCK, &signals).map_err(WorkerError::Signals)?;
    let held = Arc::new(Held::default());
    // Not a scoped thread: it waits for signals as long as the process lives.
    let signal_held = Arc::clone(&held);
    std::thread::Builder::new()
        .name("runbox-signals".into())
        .spawn(move || take_signals(&signals, &signal_held))
        .map_err(WorkerError::Signals)?;
    let held = &*held;
    let shared = Shared {
        settings,
        held,
        tick,
        claims: Mutex::new(Claims {
            cursor: "0-0".into(),
            next: Instant::now(),
        }),
        failure: Mutex::new(None),
    };
    eprintln!(
        "runbox worker: {} in group {} of {}, {} at once",
        settings.consumer, settings.group, settings.stream, settings.parallel
    );
    std::thread::scope(|scope| {
        let keeper = scope.spawn(|| keep(keeper_link, &shared));
        let work = |runs: Runs<'_>, link: Link| {
            if let Err(e) = (Runner {
                link,
                shared: &shared,
            })
            .serve(runs)
            {
                // The others finish what they hold and stop too; this runner's entry
                // stays pending, for another worker.
                held.stop();
                let mut failure = shared.failure.lock().unwrap_or_else(|e| e.into_inner());
                failure.get_or_insert(e);
            }
        };
        // A worker's own store: its runs' copy_out_cached files (a fleet shares none).
        let store = crate::files::FileStore::default();
        let ran = crate::answer::on_runners(config, settings.parallel, &store, work, |jobs| {
            for link in runner_links.drain(..) {
                let _ = jobs.send(link);
            }
        });
        held.finish();
        let kept = keeper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        ran.map_err(WorkerError::Pool)?;
        if let Some(e) = shared
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(e);
        }
        kept?;
        eprintln!("runbox worker: {} stopped", settings.consumer);
        Ok(())
    })
}

/// The signal thread: the first SIGTERM or SIGINT stops the taking of entries, a second one
/// ends the process at once, with the shell's code for a death by that signal.
fn take_signals(signals: &[libc::c_int], held: &Held) {
    let mut seen = 0;
    loop {
        let Ok(signal) = crate::sys::process::sigwait(signals) else {
            continue;
        };
        seen += 1;
        if seen == 1 {
            eprintln!("runbox worker: signal {signal}: finishing what is running, then stopping");
            held.stop();
        } else {
            eprintln!("runbox worker: signal {signal} again: stopping now");
            std::process::exit(128 + signal);
        }
    }
}

/// What the worker's threads share.
struct Shared<'a> {
    settings: &'a Settings,
    held: &'a Held,
    tick: Duration,
    claims: Mutex<Claims>,
    /// The first error that stopped a runner.
    failure: Mutex<Option<WorkerError>>,
}

/// The search for idle entries, which the runners take turns at.
struct Claims {
    /// Where the next XAUTOCLAIM goes on from ("0-0": a new pass over the pending list).
    cursor: String,
    /// When the next pass is due.
    next: Instant,
}

impl Shared<'_> {
    fn names(&self) -> Names<'_> {
        Names {
            stream: &self.settings.stream,
            group: &self.settings.group,
            consumer: &self.settings.consumer,
        }
    }

    /// What a free runner takes next: an idle entry when a search is due, else a new one.
    fn take(&self) -> Take {
        let claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if Instant::now() >= claims.next {
            Take::Idle(claims.cursor.clone())
        } else {
            Take::New
        }
    }

    /// A search for idle entries came to `cursor`; a pass that went round waits a tick.
    fn searched(&self, cursor: String) {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if cursor == "0-0" {
            claims.next = Instant::now() + self.tick;
        }
        claims.cursor = cursor;
    }
}

/// The keeper thread: every tick, until the runners are done, keeps the entries held in this
/// worker's hands.
fn keep(mut link: Link, shared: &Shared<'_>) -> Result<(), WorkerError> {
    let s = shared.settings;
    while !shared.held.wait_finished(shared.tick) {
        let ids = shared.held.ids();
        if ids.is_empty() {
            continue;
        }
        let done = || shared.held.wait_finished(Duration::ZERO);
        link.call(&done, |con| {
            stream::refresh(con, &s.stream, &s.group, &s.consumer, &ids)
        })
        .map_err(WorkerError::Redis)?;
    }
    Ok(())
}

/// One runner: takes an entry, answers it, writes its result with the next take.
struct Runner<'a> {
    link: Link,
    shared: &'a Shared<'a>,
}

impl Runner<'_> {
    /// Takes and answers entries until the worker stops.
    fn serve(&mut self, runs: Runs<'_>) -> Result<(), WorkerError> {
        let shared = self.shared;
        let (s, held) = (shared.settings, shared.held);
        let made = self.link.call(&|| held.stopping(), |con| {
            stream::make_group(con, &s.stream, &s.group)
        });
        made.map_err(WorkerError::Redis)?;
        let mut replies: Vec<Reply> = vec![];
        loop {
            let take = (!held.stopping()).then(|| shared.take());
            if take.is_none() && replies.is_empty() {
                return Ok(());
            }
            // A result in hand is never given up; a take is, once the worker stops.
            let holding = !replies.is_empty();
            let give_up = || held.stopping() && !holding;
            let exchanged = self.link.call(&give_up, |con| {
                let names = shared.names();
                stream::exchange(
                    con,
                    names,
                    &replies,
                    take.as_ref(),
                    shared.tick,
                    s.claim_after,
                )
            });
            let Some(exchanged) = exchanged.map_err(WorkerError::Redis)? else {
                continue;
            };
            // A result its `reply_to` cannot take goes to the default stream, said.
            let fallbacks: Vec<Reply> = exchanged
                .failed
                .iter()
                .filter_map(|(entry, why)| {
                    let reply = replies.iter().find(|r| &r.entry == entry)?;
                    let to = String::from_utf8_lossy(&reply.reply_to);
                    eprintln!("runbox worker: entry {entry}: reply_to {to}: {why}");
                    // Where the default stream itself cannot take it, the entry stays
                    // pending (and is taken over, and answered, until it is delivered
                    // too often): said, not looped over.
                    (reply.reply_to != entry::DEFAULT_REPLY_TO.as_bytes())
                        .then(|| unwritable(reply, why))
                })
                .collect();
            for r in replies.drain(..) {
                if !fallbacks.iter().any(|f| f.entry == r.entry) {
                    held.done(&r.entry);
                }
            }
            replies = fallbacks;
            if let Some(cursor) = exchanged.cursor {
                shared.searched(cursor);
            }
            if let Some((entry, deliveries)) = exchanged.entry {
                if matches!(take, Some(Take::Idle(_))) {
                    self.took_over(&entry.id);
                }
                replies.extend(self.answer(runs, entry, deliveries));
            }
        }
    }

    /// Says that an entry of another consumer was taken over, and sweeps what dead
    /// controllers left on this host.
    fn took_over(&self, id: &str) {
        eprintln!(
            "runbox worker: took over entry {id}, idle for more than {:?}",
            self.shared.settings.claim_after
        );
        if let Ok(layout) = crate::cgroup::layout() {
            crate::cgroup::sweep_now(layout);
        }
    }

    /// Answers an entry: runs it, or answers it at once. One this worker holds already
    /// (taken over from itself after Redis was long gone) is left to the runner that has it.
    fn answer(&self, runs: Runs<'_>, entry: StreamId, deliveries: u64) -> Option<Reply> {
        let held = self.shared.held;
        if held.holds(&entry.id) {
            return None;
        }
        let field = |name: &str| match entry.map.get(name) {
            Some(Value::BulkString(bytes)) => Some(bytes.clone()),
            Some(Value::SimpleString(text)) => Some(text.clone().into_bytes()),
            _ => None,
        };
        let Entry { id, reply_to, task } = entry::decide(
            entry.id.clone(),
            field("request"),
            field("reply_to"),
            deliveries,
            self.shared.settings.max_deliveries,
        );
        held.start(&id);
        let line = match task {
            Task::Run(line) => crate::batch::answer(runs, &line),
            Task::Answer(line) => line,
        };
        Some(Reply {
            entry: id,
            reply_to,
            line,
        })
    }
}

/// The answer for a result its `reply_to` could not take, for the default stream.
fn unwritable(reply: &Reply, why: &str) -> Reply {
    let id = serde_json::from_str::<serde_json::Value>(&reply.line)
        .ok()
        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(String::from));
    let detail = format!(
        "reply_to {}: {why}",
        String::from_utf8_lossy(&reply.reply_to)
    );
    let line = crate::answer::result_line(
        id.as_deref(),
        &crate::result::RunResult::internal_error(detail),
    );
    Reply {
        entry: reply.entry.clone(),
        reply_to: entry::DEFAULT_REPLY_TO.into(),
        line,
    }
}
