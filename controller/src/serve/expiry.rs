//! `--file-timeout`: a thread of the server that sweeps the file store's expired files
//! now and then ([`FileStore::expire`]; a directory store's files are unlinked). Between
//! two sweeps an expired file is already an unknown id (the store looks at each file's
//! age), so the sweep's period only bounds how long an expired file holds its space:
//! a quarter of the timeout, from 50 ms to go-judge's 15 s.

use super::metrics::Metrics;
use crate::files::FileStore;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The shortest period between two sweeps.
pub const MIN_PERIOD: Duration = Duration::from_millis(50);
/// The longest period between two sweeps (go-judge's check interval).
pub const MAX_PERIOD: Duration = Duration::from_secs(15);

/// How often a store of this timeout is swept.
pub fn period(timeout: Duration) -> Duration {
    (timeout / 4).clamp(MIN_PERIOD, MAX_PERIOD)
}

/// The sweeping thread (none for a store without a timeout); [`Sweeper::stop`] ends it.
#[derive(Debug)]
pub struct Sweeper {
    running: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Sweeper {
    /// Starts sweeping `store`, if it has a timeout, counting what goes in `metrics`.
    pub fn start(store: Arc<FileStore>, metrics: Arc<Metrics>) -> std::io::Result<Sweeper> {
        let Some(timeout) = store.timeout() else {
            return Ok(Sweeper { running: None });
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("runbox-expiry".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period(timeout)) {
                    match store.expire() {
                        Ok(gone) if gone.is_empty() => {}
                        Ok(gone) => {
                            metrics.expired.inc_by(gone.len() as u64);
                            tracing::debug!(files = gone.len(), "expired");
                        }
                        Err(e) => tracing::warn!(error = %e, "file store expiry"),
                    }
                }
            })?;
        Ok(Sweeper {
            running: Some((stop, thread)),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(self) {
        if let Some((stop, thread)) = self.running {
            drop(stop);
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_period_is_a_quarter_of_the_timeout_within_bounds() {
        assert_eq!(period(Duration::from_secs(1)), Duration::from_millis(250));
        assert_eq!(period(Duration::from_millis(1)), MIN_PERIOD);
        assert_eq!(period(Duration::from_secs(3600)), MAX_PERIOD);
    }
}
