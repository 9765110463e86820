//! Where the server's runs happen: `parallel` worker threads of runbox's own (never the
//! async runtime's), each taking a run from a bounded queue and carrying it through the one
//! lifecycle ([`Runs::execute`], that is [`crate::run::run`] with the warm pools),
//! then sending the result back to the request that waits for it. Every run carries its
//! request's [`Cancel`]: a run whose request went away or was cancelled before a worker
//! took it is dropped unrun, and one already running is killed at once (the order reaches
//! the lifecycle's wait loop: [`crate::cancel`]).

use super::metrics::Metrics;
use crate::answer::Runs;
use crate::cancel::Cancel;
use crate::config::Config;
use crate::files::FileStore;
use crate::group::{GroupError, GroupRequest, GroupResult};
use crate::options::RunOptions;
use crate::pool::Pools;
use crate::result::RunResult;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// One run or group to do, where its result goes, and the order that ends it early.
enum Job {
    Run(Box<RunOptions>, oneshot::Sender<RunResult>, Cancel),
    Group(
        Box<GroupRequest>,
        oneshot::Sender<Result<GroupResult, GroupError>>,
        Cancel,
    ),
}

impl Job {
    /// The request that waits for it went away, or cancelled it.
    fn abandoned(&self) -> bool {
        match self {
            Job::Run(_, reply, cancel) => reply.is_closed() || cancel.fired(),
            Job::Group(_, reply, cancel) => reply.is_closed() || cancel.fired(),
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
        cancel: &Cancel,
    ) -> Result<oneshot::Receiver<RunResult>, Busy> {
        let (reply, answer) = oneshot::channel();
        self.queue(Job::Run(Box::new(options), reply, cancel.clone()))?;
        Ok(answer)
    }

    /// Queues a group (all its members start together, each in its own container); as
    /// [`Executor::submit`] (`cancel` ends every member).
    pub fn submit_group(
        &self,
        group: GroupRequest,
        cancel: &Cancel,
    ) -> Result<oneshot::Receiver<Result<GroupResult, GroupError>>, Busy> {
        let (reply, answer) = oneshot::channel();
        self.queue(Job::Group(Box::new(group), reply, cancel.clone()))?;
        Ok(answer)
    }

    fn queue(&self, job: Job) -> Result<(), Busy> {
        let jobs = self.jobs.as_ref().ok_or(Busy::Stopping)?;
        self.metrics.queued.inc();
        match jobs.try_send(job) {
            Ok(()) => Ok(()),
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
        let cancel = match job {
            Job::Run(options, reply, cancel) => {
                let _ = reply.send(runs.execute(&options, Some(&cancel)));
                cancel
            }
            Job::Group(group, reply, cancel) => {
                let _ = reply.send(runs.execute_group(&group, Some(&cancel)));
                cancel
            }
        };
        if cancel.fired() {
            metrics.killed.inc();
        }
        metrics.busy.dec();
    }
}
