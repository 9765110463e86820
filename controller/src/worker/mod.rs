//! # `runbox worker`: requests from a Redis stream, for a fleet of judge boxes
//!
//! Theory of operation. A judge adds entries to a stream (`runbox:requests`), each with a
//! field `request` holding one `runbox batch` line and optionally `reply_to`, the stream its
//! result goes to (`runbox:results` by default). Every worker of the fleet reads that
//! stream in one consumer group (`runbox`), so that each entry goes to one worker, and
//! answers each entry with one entry in the result stream: `result`, the batch result line
//! (the request's `id` included), and `entry`, the request entry's id.
//!
//! A worker is four kinds of threads around [`Slots`], which count what it holds:
//!
//! - the **reader** (the main thread) reads new entries with XREADGROUP, never more than it
//!   has free slots for (no local queue); every [`entry::tick`] it also tells Redis that the
//!   entries it is running are still in hand (so that no other worker takes them over,
//!   however long they run), and XAUTOCLAIMs entries idle for longer than `--claim-after`:
//!   those of a worker that died. An entry delivered more than `--max-deliveries` times, or
//!   without a `request`, is answered `internal_error` without a run;
//! - `--parallel` **runners** ([`crate::answer::on_runners`], as in `runbox batch`), each
//!   of which answers one request line through the one lifecycle and hands on the result;
//! - the **writer** writes results and acknowledges their entries, both in one server-side
//!   step (result first), so that every entry acknowledged has its result: a worker that
//!   dies loses no result, and at worst its unacknowledged runs are run again elsewhere
//!   (at-least-once delivery);
//! - the **signal** thread: SIGTERM or SIGINT stops the reading, and the worker exits 0 once
//!   what it holds is run, written and acknowledged; a second signal ends it at once (its
//!   runs die with it, their entries stay pending for the others).
//!
//! The reader and the writer each have their own connection ([`stream::Link`]); a lost one
//! is made again with backoff, while the runs go on and their results wait for it.

pub mod entry;
pub mod slots;
pub mod stream;

use crate::config::Config;
use crate::error::Error;
use entry::{Entry, Task};
use redis::streams::StreamId;
use redis::Value;
use slots::Slots;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use stream::{Link, Reply};

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
    let (reader_link, writer_link) = (link("reader")?, link("writer")?);
    // Blocked in this thread before any other exists, so in all of them: only the signal
    // thread takes them. (Programs run with an empty mask: init and ptrace mode reset it.)
    let signals = [libc::SIGTERM, libc::SIGINT];
    crate::sys::process::sigprocmask(libc::SIG_BLOCK, &signals).map_err(WorkerError::Signals)?;
    let slots = Arc::new(Slots::new(settings.parallel));
    // Not a scoped thread: it waits for signals as long as the process lives.
    let signal_slots = Arc::clone(&slots);
    std::thread::Builder::new()
        .name("runbox-signals".into())
        .spawn(move || take_signals(&signals, &signal_slots))
        .map_err(WorkerError::Signals)?;
    let slots = &*slots;
    let (replies, outbox) = mpsc::channel::<Reply>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| write(writer_link, outbox, settings, slots));
        let work = |runs: crate::answer::Runs<'_>, (id, reply_to, line): Job| {
            let line = crate::batch::answer(runs, &line);
            slots.finish(&id);
            let _ = replies.send(Reply {
                entry: id,
                reply_to,
                line,
            });
        };
        eprintln!(
            "runbox worker: {} in group {} of {}, {} at once",
            settings.consumer, settings.group, settings.stream, settings.parallel
        );
        let read = crate::answer::on_runners(
            config,
            settings.parallel,
            work,
            |jobs: mpsc::Sender<Job>| {
                let mut reader = Reader {
                    link: reader_link,
                    settings,
                    slots,
                    tick,
                    jobs,
                    replies: &replies,
                    cursor: "0-0".into(),
                    next_claim: Instant::now(),
                    next_refresh: Instant::now() + tick,
                };
                let read = reader.serve();
                // Whatever ended the reading, what was read is finished.
                slots.stop();
                read
            },
        );
        drop(replies);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let read = read.map_err(WorkerError::Pool)?;
        read.and(written)?;
        eprintln!("runbox worker: {} stopped", settings.consumer);
        Ok(())
    })
}

/// The signal thread: the first SIGTERM or SIGINT stops the reading, a second one ends the
/// process at once, with the shell's code for a death by that signal.
fn take_signals(signals: &[libc::c_int], slots: &Slots) {
    let mut seen = 0;
    loop {
        let Ok(signal) = crate::sys::process::sigwait(signals) else {
            continue;
        };
        seen += 1;
        if seen == 1 {
            eprintln!("runbox worker: signal {signal}: finishing what is running, then stopping");
            slots.stop();
        } else {
            eprintln!("runbox worker: signal {signal} again: stopping now");
            std::process::exit(128 + signal);
        }
    }
}

/// A request for a runner: its entry's id, where its result goes, the request line.
type Job = (String, Vec<u8>, Vec<u8>);

/// The reader's state.
struct Reader<'a> {
    link: Link,
    settings: &'a Settings,
    slots: &'a Slots,
    tick: Duration,
    jobs: mpsc::Sender<Job>,
    replies: &'a mpsc::Sender<Reply>,
    /// Where the next XAUTOCLAIM goes on from ("0-0": a new pass over the pending list).
    cursor: String,
    next_claim: Instant,
    next_refresh: Instant,
}

impl Reader<'_> {
    /// Reads until the worker stops.
    fn serve(&mut self) -> Result<(), WorkerError> {
        let s = self.settings;
        let slots = self.slots;
        let give_up = || slots.stopping();
        let made = self
            .link
            .call(&give_up, |con| stream::make_group(con, &s.stream, &s.group));
        made.map_err(WorkerError::Redis)?;
        while let Some(free) = slots.wait_free(self.tick) {
            let now = Instant::now();
            if now >= self.next_refresh {
                self.refresh()?;
                self.next_refresh = now + self.tick;
            }
            if free > 0 && now >= self.next_claim {
                self.claim(free)?;
            }
            let free = slots.free();
            if free == 0 || slots.stopping() {
                continue;
            }
            let block = self.tick;
            let read = self.link.call(&give_up, |con| {
                stream::read_new(con, &s.stream, &s.group, &s.consumer, free, block)
            });
            for entry in read.map_err(WorkerError::Redis)?.unwrap_or_default() {
                self.dispatch(entry, 1);
            }
        }
        Ok(())
    }

    /// Keeps the entries this worker holds in its hands.
    fn refresh(&mut self) -> Result<(), WorkerError> {
        let held = self.slots.held();
        if held.is_empty() {
            return Ok(());
        }
        let s = self.settings;
        let slots = self.slots;
        self.link
            .call(&|| slots.stopping(), |con| {
                stream::refresh(con, &s.stream, &s.group, &s.consumer, &held)
            })
            .map_err(WorkerError::Redis)?;
        Ok(())
    }

    /// Takes over up to `free` entries idle for longer than `--claim-after`, and sweeps
    /// what dead controllers left on this host when it got any.
    fn claim(&mut self, free: usize) -> Result<(), WorkerError> {
        let s = self.settings;
        let slots = self.slots;
        let cursor = self.cursor.clone();
        let claimed = self.link.call(&|| slots.stopping(), |con| {
            let reply = stream::claim(
                con,
                &s.stream,
                &s.group,
                &s.consumer,
                s.claim_after,
                &cursor,
                free,
            )?;
            let ids: Vec<&str> = reply.claimed.iter().map(|e| e.id.as_str()).collect();
            let deliveries = stream::deliveries(con, &s.stream, &s.group, &ids)?;
            Ok((reply.next_stream_id, reply.claimed, deliveries))
        });
        let Some((next, entries, deliveries)) = claimed.map_err(WorkerError::Redis)? else {
            return Ok(());
        };
        // A pass over the pending list is over when the cursor comes back to its start.
        if next == "0-0" {
            self.next_claim = Instant::now() + self.tick;
        }
        self.cursor = next;
        if !entries.is_empty() {
            eprintln!(
                "runbox worker: took over {} entries idle for more than {:?}",
                entries.len(),
                s.claim_after
            );
            if let Ok(layout) = crate::cgroup::layout() {
                crate::cgroup::sweep_now(layout);
            }
        }
        for (entry, deliveries) in entries.into_iter().zip(deliveries) {
            self.dispatch(entry, deliveries);
        }
        Ok(())
    }

    /// Runs an entry, or answers it at once; one this worker holds already (taken over
    /// from itself after Redis was long gone) is left to the run it has.
    fn dispatch(&mut self, entry: StreamId, deliveries: u64) {
        if self.slots.holds(&entry.id) {
            return;
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
            self.settings.max_deliveries,
        );
        match task {
            Task::Run(line) => {
                self.slots.start(&id);
                let _ = self.jobs.send((id, reply_to, line));
            }
            Task::Answer(line) => {
                self.slots.answered(&id);
                let _ = self.replies.send(Reply {
                    entry: id,
                    reply_to,
                    line,
                });
            }
        }
    }
}

/// Most results written in one step.
const WRITE_BATCH: usize = 64;

/// The writer thread: writes results and acknowledges their entries until every sender is
/// gone, retrying while Redis cannot be reached.
fn write(
    mut link: Link,
    outbox: mpsc::Receiver<Reply>,
    settings: &Settings,
    slots: &Slots,
) -> Result<(), WorkerError> {
    let script = stream::reply_script();
    let (stream, group) = (&settings.stream, &settings.group);
    while let Ok(first) = outbox.recv() {
        let mut batch = vec![first];
        batch.extend(outbox.try_iter().take(WRITE_BATCH - 1));
        let sent = link.call(&|| false, |con| {
            stream::reply(con, &script, stream, group, &batch)
        });
        let failed = match sent {
            Ok(failed) => failed.unwrap_or_default(),
            Err(e) => {
                // Their entries stay pending, for the other workers to take over.
                slots.stop();
                return Err(WorkerError::Redis(e));
            }
        };
        // A result its `reply_to` cannot take goes to the default stream, said.
        let fallbacks: Vec<Reply> = failed
            .iter()
            .filter_map(|(entry, why)| {
                let reply = batch.iter().find(|r| &r.entry == entry)?;
                eprintln!(
                    "runbox worker: entry {entry}: reply_to {}: {why}",
                    String::from_utf8_lossy(&reply.reply_to)
                );
                Some(unwritable(reply, why))
            })
            .collect();
        if !fallbacks.is_empty() {
            let sent = link.call(&|| false, |con| {
                stream::reply(con, &script, stream, group, &fallbacks)
            });
            let failed = sent.map_err(|e| {
                slots.stop();
                WorkerError::Redis(e)
            })?;
            for (entry, why) in failed.unwrap_or_default() {
                eprintln!("runbox worker: entry {entry}: its result cannot be written: {why}");
            }
        }
        slots.written(batch.iter().map(|r| r.entry.as_str()));
    }
    Ok(())
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
