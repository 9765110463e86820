//! The server's Prometheus metrics (`/metrics` at `--monitor-addr`): requests by route and
//! code, runs by status, the queue, busy and idle containers, containers made, and run
//! time and memory histograms.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A label set: name, value pairs.
type Labels = Vec<(&'static str, String)>;

/// Every metric the server keeps, and the registry that writes them out.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests answered, by route and code.
    pub requests: Family<Labels, Counter>,
    /// Runs ended, by go-judge status.
    pub runs: Family<Labels, Counter>,
    /// Runs whose client went away or cancelled them before they started (not run; a
    /// run cancelled while it ran is killed and counted by its status, Signalled).
    pub cancelled: Counter,
    /// Runs killed while they ran because their request was cancelled (whose answer, for
    /// a client that went away, goes nowhere).
    pub killed: Counter,
    /// Runs waiting for a worker.
    pub queued: Gauge,
    /// Runs running now (each in its container).
    pub busy: Gauge,
    /// Warm containers idle now.
    pub idle: Gauge,
    /// Containers made since the start.
    pub containers_created: Gauge,
    /// Requests refused because the queue was full.
    pub rejected: Counter,
    /// Bytes in the file store.
    pub store_bytes: Gauge,
    /// Stored files removed by `--file-timeout`.
    pub expired: Counter,
    /// CPU time of each run, seconds.
    pub run_time: Histogram,
    /// Peak memory of each run, bytes.
    pub run_memory: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The metrics, registered under `runbox_`.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("runbox");
        let metrics = Metrics {
            requests: Family::default(),
            runs: Family::default(),
            cancelled: Counter::default(),
            killed: Counter::default(),
            queued: Gauge::default(),
            busy: Gauge::default(),
            idle: Gauge::default(),
            containers_created: Gauge::default(),
            rejected: Counter::default(),
            store_bytes: Gauge::default(),
            expired: Counter::default(),
            // 10 us to about 42 s.
            run_time: Histogram::new(exponential_buckets(1e-5, 4.0, 12)),
            // 64 KiB to 16 GiB.
            run_memory: Histogram::new(exponential_buckets(65536.0, 4.0, 10)),
            registry: Registry::default(),
        };
        let m = &metrics;
        // Each metric: its name, its help, the metric.
        macro_rules! register {
            ($($name:literal, $help:literal, $metric:expr;)*) => {
                $(registry.register($name, $help, $metric.clone());)*
            };
        }
        register! {
            "http_requests", "HTTP requests answered", m.requests;
            "runs", "Runs ended, by status", m.runs;
            "runs_cancelled", "Runs cancelled before they started (not run)", m.cancelled;
            "runs_killed", "Runs killed while they ran because their request was cancelled", m.killed;
            "queue_length", "Runs waiting for a worker", m.queued;
            "containers_busy", "Containers running a program", m.busy;
            "containers_idle", "Warm containers idle", m.idle;
            "containers_created", "Containers made since the start", m.containers_created;
            "requests_rejected", "Requests refused with 503: the queue was full", m.rejected;
            "file_store_bytes", "Bytes in the file store", m.store_bytes;
            "files_expired", "Stored files removed by --file-timeout", m.expired;
            "run_cpu_seconds", "CPU time of each run", m.run_time;
            "run_memory_bytes", "Peak memory of each run", m.run_memory;
        }
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, code: u16) {
        self.requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("code", code.to_string()),
            ])
            .inc();
    }

    /// Counts one ended run.
    pub fn run(&self, status: &str, cpu_us: u64, memory: u64) {
        self.runs
            .get_or_create(&vec![("status", status.to_string())])
            .inc();
        self.run_time.observe(cpu_us as f64 / 1e6);
        self.run_memory.observe(memory as f64);
    }

    /// The text exposition format.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_written_in_the_text_format() {
        let m = Metrics::new();
        m.request("/run", 200);
        m.run("Accepted", 1500, 1 << 20);
        m.queued.set(3);
        let text = m.text();
        for line in [
            "runbox_http_requests_total{route=\"/run\",code=\"200\"} 1",
            "runbox_runs_total{status=\"Accepted\"} 1",
            "runbox_queue_length 3",
            "runbox_run_cpu_seconds_count 1",
            "runbox_run_memory_bytes_count 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
