//! Answering requests: what `runbox batch` and `runbox worker` share. A pool of warm
//! containers with as many runner threads, each of which takes a job, runs its request
//! through the one lifecycle ([`crate::run::run`]) and hands on the result; and the result
//! line both entries write (the `run --json` object with the request's id first).
//!
//! The entries give what differs as closures: `runbox batch` sends each request it parsed
//! from stdin as a job and prints its result line; `runbox worker` sends each runner its
//! Redis connection as its one job, with which the runner takes entries from the stream
//! and writes their results itself.

use crate::cancel::Cancel;
use crate::config::Config;
use crate::error::Error;
use crate::files::FileStore;
use crate::options::{OutputDefault, RunOptions};
use crate::pool::Pools;
use crate::result::RunResult;
use crate::run::Refused;
use serde::Serialize;
use std::sync::{mpsc, Arc, Mutex};

/// A result line: the `run --json` object with the request's id first.
#[derive(Serialize, Debug)]
struct ResultLine<'a> {
    id: Option<&'a str>,
    #[serde(flatten)]
    result: &'a RunResult,
}

/// The result line of a request, without a newline.
pub fn result_line(id: Option<&str>, result: &RunResult) -> String {
    serde_json::to_string(&ResultLine { id, result })
        .unwrap_or_else(|_| r#"{"status":"internal_error"}"#.into())
}

/// What a runner thread runs requests with: the configuration, the pools and the file
/// store.
#[derive(Debug, Clone, Copy)]
pub struct Runs<'a> {
    config: &'a Config,
    pools: &'a Pools,
    store: &'a FileStore,
}

impl<'a> Runs<'a> {
    /// What a runner of another entry (`runbox serve`'s workers) runs requests with.
    pub fn new(config: &'a Config, pools: &'a Pools, store: &'a FileStore) -> Runs<'a> {
        Runs {
            config,
            pools,
            store,
        }
    }

    /// Runs one group, each member in a warm container; a wrong group starts nothing.
    /// `cancel`, when given, ends every member at once.
    pub fn execute_group(
        &self,
        group: &crate::group::GroupRequest,
        cancel: Option<&Cancel>,
    ) -> Result<crate::group::GroupResult, crate::group::GroupError> {
        crate::group::engine::run(
            group,
            self.config,
            Some(self.pools),
            OutputDefault::Discard,
            Some(self.store),
            cancel,
        )
    }

    /// Runs one parsed request through the one lifecycle; whatever stops it is its result.
    /// `cancel`, when given, ends it early ([`crate::cancel`]).
    pub fn execute(&self, options: &RunOptions, cancel: Option<&Cancel>) -> RunResult {
        match crate::run::run_with_store(
            options,
            self.config,
            Some(self.pools),
            OutputDefault::Discard,
            Some(self.store),
            cancel,
        ) {
            Ok(result) => result,
            Err(Refused::Files(e)) => RunResult::internal_error(e.to_string()),
            Err(Refused::Resolve(e)) => RunResult::internal_error(e.to_string()),
            Err(Refused::Stdio(e)) => RunResult::internal_error(e.to_string()),
            Err(Refused::Request(e)) => RunResult::internal_error(e.to_string()),
            // Discarded output has no spool to deliver.
            Err(Refused::Deliver(e)) => RunResult::internal_error(e.to_string()),
        }
    }
}

/// Starts a pool of `parallel` warm containers and `parallel` runner threads, calls `feed`
/// with the sender of their jobs, and returns what it returned once every job it sent is
/// done. Each job goes to the first free runner, which calls `work` with it.
pub fn on_runners<J: Send, T>(
    config: &Config,
    parallel: usize,
    store: &FileStore,
    work: impl Fn(Runs<'_>, J) + Sync,
    feed: impl FnOnce(mpsc::Sender<J>) -> T,
) -> Result<T, Error> {
    let parallel = parallel.max(1);
    let pools = Pools::new(parallel)?;
    let runs = Runs {
        config,
        pools: &pools,
        store,
    };
    let (jobs, inbox) = mpsc::channel::<J>();
    let inbox = Arc::new(Mutex::new(inbox));
    Ok(std::thread::scope(|scope| {
        for _ in 0..parallel {
            let inbox = Arc::clone(&inbox);
            let work = &work;
            scope.spawn(move || loop {
                let job = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(job) = job else { break };
                work(runs, job);
            });
        }
        // `feed` owns the sender: the runners stop when it drops it.
        feed(jobs)
    }))
}
