//! Where the server's runs happen: `parallel` worker threads of runbox's own (never the
//! async runtime's), each taking a run from a bounded queue and carrying it through the one
//! lifecycle ([`Runs::execute`], that is [`crate::run::run`] with the warm pools),
//! then sending the result back to the request that waits for it. Every run carries its
//! request's [`Cancel`]: a run whose request went away or was cancelled before a worker
//! took it is dropped unrun, and one already running is killed at once (the order reaches
//! the lifecycle's wait loop: [`crate::cancel`]). A request cancelled while its run waits
//! in the queue withdraws it there and then ([`Ticket::answer`]): it is answered at once,
//! and the worker that later takes the job drops it.

use super::metrics::Metrics;
use crate::answer::Runs;
use crate::cancel::Cancel;
use crate::config::Config;
use crate::files::FileStore;
use crate::group::{GroupError, GroupRequest, GroupResult};
use crate::options::RunOptions;
use crate::pool::Pools;
use crate::result::RunResult;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{oneshot, Notify};

/// What a job is.
enum Work {
    Run(Box<RunOptions>, oneshot::Sender<RunResult>),
    Group(
        Box<GroupRequest>,
        oneshot::Sender<Result<GroupResult, GroupError>>,
    ),
}

/// One run or group to do, where its result goes, the order that ends it early, and
/// whether a worker took it or its request withdrew it (whoever comes first).
struct Job {
    work: Work,
    cancel: Cancel,
    claimed: Arc<AtomicBool>,
}

impl Job {
    /// The request that waits for it went away, cancelled it or withdrew it; else it is
    /// the worker's now.
    fn abandoned(&self) -> bool {
        let gone = match &self.work {
            Work::Run(_, reply) => reply.is_closed(),
            Work::Group(_, reply) => reply.is_closed(),
        };
        self.claimed.swap(true, Ordering::SeqCst) || gone || self.cancel.fired()
    }
}

/// A request's cancel order as the server gives it: its runs' [`Cancel`], and a wake-up
/// for the request's own task waiting for their answers.
#[derive(Debug, Clone)]
pub struct Cancellation {
    order: Cancel,
    woken: Arc<Notify>,
}

impl Cancellation {
    /// An order not given yet.
    pub fn new() -> std::io::Result<Cancellation> {
        Ok(Cancellation {
            order: Cancel::new()?,
            woken: Arc::new(Notify::new()),
        })
    }

    /// Gives the order: the request's queued runs are withdrawn, its running ones killed.
    pub fn fire(&self) {
        self.order.fire();
        self.woken.notify_one();
    }

    /// True once the order is given.
    pub fn fired(&self) -> bool {
        self.order.fired()
    }

    /// A guard that gives the order when dropped (a request's future dropped by a client
    /// that went away), unless disarmed first.
    pub fn on_drop(&self) -> crate::cancel::OnDrop {
        self.order.on_drop()
    }
}

/// A run or group queued: its answer to come.
#[derive(Debug)]
pub struct Ticket<T> {
    answer: oneshot::Receiver<T>,
    claimed: Arc<AtomicBool>,
}

/// Why a ticket brought no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// Cancelled before it started: it never ran.
    Cancelled,
    /// The worker ended without one.
    Lost,
}

impl<T> Ticket<T> {
    /// The answer; or, once `cancellation` is given while the job still waits for a
    /// worker, [`Unanswered::Cancelled`] at once (the job is withdrawn). A job already
    /// running is killed by the order and answers as it ends.
    pub async fn answer(mut self, cancellation: &Cancellation) -> Result<T, Unanswered> {
        loop {
            if cancellation.fired() && !self.claimed.swap(true, Ordering::SeqCst) {
                return Err(Unanswered::Cancelled);
            }
            tokio::select! {
                biased;
                answer = &mut self.answer => {
                    return answer.map_err(|_| match cancellation.fired() {
                        true => Unanswered::Cancelled,
                        false => Unanswered::Lost,
                    });
                }
                () = cancellation.woken.notified(), if !cancellation.fired() => {}
            }
        }
    }
}

/// The queue is full (HTTP 503), or the server is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// More runs wait than the queue holds.
    #[error("too many requests waiting: the queue holds {0}")]
    Full(usize),
    /// The workers are gone.
    #[error("the server is shutting down")]
    Stopping,
}

/// The worker threads and their queue.
#[derive(Debug)]
pub struct Executor {
    jobs: Option<SyncSender<Job>>,
    bound: usize,
    workers: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl Executor {
    /// Starts `parallel` workers serving runs from a queue of at most `bound` waiting.
    pub fn start(
        parallel: usize,
        bound: usize,
        config: Arc<Config>,
        pools: Arc<Pools>,
        store: Arc<FileStore>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Executor> {
        let (jobs, inbox) = mpsc::sync_channel::<Job>(bound);
        let inbox = Arc::new(Mutex::new(inbox));
        let workers = (0..parallel.max(1))
            .map(|i| {
                let (inbox, config, pools, store, metrics) = (
                    Arc::clone(&inbox),
                    Arc::clone(&config),
                    Arc::clone(&pools),
                    Arc::clone(&store),
                    Arc::clone(&metrics),
                );
                std::thread::Builder::new()
                    .name(format!("runbox-serve-{i}"))
                    .spawn(move || work(&inbox, &config, &pools, &store, &metrics))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Executor {
            jobs: Some(jobs),
            bound,
            workers,
            metrics,
        })
    }

    /// Queues a run; its result comes on the receiver. Dropping the receiver before a
    /// worker takes the run, or giving `cancel` before then, drops it unrun; giving
    /// `cancel` while it runs kills it.
    pub fn submit(
        &self,
        options: RunOptions,
        cancellation: &Cancellation,
    ) -> Result<Ticket<RunResult>, Busy> {
        let (reply, answer) = oneshot::channel();
        self.queue(Work::Run(Box::new(options), reply), cancellation, answer)
    }

    /// Queues a group (all its members start together, each in its own container); as
    /// [`Executor::submit`] (`cancel` ends every member).
    pub fn submit_group(
        &self,
        group: GroupRequest,
        cancellation: &Cancellation,
    ) -> Result<Ticket<Result<GroupResult, GroupError>>, Busy> {
        let (reply, answer) = oneshot::channel();
        self.queue(Work::Group(Box::new(group), reply), cancellation, answer)
    }

    fn queue<T>(
        &self,
        work: Work,
        cancellation: &Cancellation,
        answer: oneshot::Receiver<T>,
    ) -> Result<Ticket<T>, Busy> {
        let claimed = Arc::new(AtomicBool::new(false));
        let job = Job {
            work,
            cancel: cancellation.order.clone(),
            claimed: Arc::clone(&claimed),
        };
        let jobs = self.jobs.as_ref().ok_or(Busy::Stopping)?;
        self.metrics.queued.inc();
        match jobs.try_send(job) {
            Ok(()) => Ok(Ticket { answer, claimed }),
            Err(e) => {
                self.metrics.queued.dec();
                match e {
                    TrySendError::Full(_) => {
                        self.metrics.rejected.inc();
                        Err(Busy::Full(self.bound))
                    }
                    TrySendError::Disconnected(_) => Err(Busy::Stopping),
                }
            }
        }
    }

    /// Lets the workers finish what is queued and running, and waits for them.
    pub fn finish(mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker: runs jobs until the queue is closed and empty.
fn work(
    inbox: &Mutex<Receiver<Job>>,
    config: &Config,
    pools: &Pools,
    store: &FileStore,
    metrics: &Metrics,
) {
    loop {
        let job = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = job else { break };
        metrics.queued.dec();
        if job.abandoned() {
            metrics.cancelled.inc();
            continue;
        }
        metrics.busy.inc();
        let runs = Runs::new(config, pools, store);
        let Job { work, cancel, .. } = job;
        match work {
            Work::Run(options, reply) => {
                let _ = reply.send(runs.execute(&options, Some(&cancel)));
            }
            Work::Group(group, reply) => {
                let _ = reply.send(runs.execute_group(&group, Some(&cancel)));
            }
        }
        if cancel.fired() {
            metrics.killed.inc();
        }
        metrics.busy.dec();
    }
}
