//! Where the server's runs happen: `parallel` worker threads of runbox's own (never the
//! async runtime's), each taking a run from a bounded queue and carrying it through the one
//! lifecycle ([`Runs::execute`], that is [`crate::run::run`] with the warm pools),
//! then sending the result back to the request that waits for it. A run whose request went
//! away (the client disconnected) before a worker took it is dropped unrun.

use super::metrics::Metrics;
use crate::answer::Runs;
use crate::config::Config;
use crate::files::FileStore;
use crate::options::RunOptions;
use crate::pool::Pools;
use crate::result::RunResult;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// One run to do, and where its result goes.
struct Job {
    options: RunOptions,
    reply: oneshot::Sender<RunResult>,
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
    /// worker takes the run cancels it.
    pub fn submit(&self, options: RunOptions) -> Result<oneshot::Receiver<RunResult>, Busy> {
        let jobs = self.jobs.as_ref().ok_or(Busy::Stopping)?;
        let (reply, answer) = oneshot::channel();
        self.metrics.queued.inc();
        match jobs.try_send(Job { options, reply }) {
            Ok(()) => Ok(answer),
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
        if job.reply.is_closed() {
            metrics.cancelled.inc();
            continue;
        }
        metrics.busy.inc();
        let result = Runs::new(config, pools, store).execute(&job.options);
        metrics.busy.dec();
        let _ = job.reply.send(result);
    }
}
