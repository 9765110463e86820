//! # `runbox serve`: go-judge's REST API over runbox
//!
//! Theory of operation. Judges written for go-judge talk HTTP to it (GOJUDGE-API.md in the
//! project's shared notes is the contract); `runbox serve` answers the same requests, so
//! they switch without changing a line. It is a translation, not a second engine:
//!
//! - the **HTTP side** ([`http`]: axum on a tokio runtime) reads a body however it is
//!   labelled, decodes it as go-judge does ([`gojudge`]), translates each command into the
//!   [`crate::RunOptions`] of one run, the same schema a `runbox batch` line has
//!   ([`translate`]), and queues it;
//! - **runbox's own threads** ([`executor`]: `--parallel` workers over the warm
//!   [`crate::pool::Pools`], one container each) take the runs from a bounded queue (past
//!   it: 503) and carry each through the one lifecycle, [`crate::run::run`];
//! - the result goes back to the waiting request, which writes it in go-judge's words
//!   (statuses, nanoseconds, bytes, left-out empty fields) by go-judge's precedence.
//!
//! `GET /ws` carries the same requests over a WebSocket ([`ws`]). With `--file-timeout`,
//! a thread of the server sweeps the file store's expired files ([`expiry`]).
//! `POST /runbox/run` takes a `runbox batch` line and answers its result line. Metrics
//! are served at `--monitor-addr`. SIGTERM or SIGINT stops the listeners (no new
//! connections), lets the requests in flight finish, then the workers, and exits 0.

pub mod executor;
pub mod expiry;
pub mod gojudge;
pub mod http;
pub mod metrics;
pub mod translate;
pub mod ws;

use crate::config::Config;
use crate::error::Error;
use crate::pool::Pools;
use crate::spec::DEFAULT_PROFILE;
use crate::units::Size;
use executor::Executor;
use metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// `runbox serve`'s flags; each also from its environment variable.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (`localhost`: every loopback address it names).
    #[arg(long, env = "RUNBOX_HTTP_ADDR", default_value = "localhost:5050")]
    pub http_addr: String,
    /// Runs at once, each in its own warm container [default: the number of CPUs].
    #[arg(long, env = "RUNBOX_PARALLEL", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub parallel: Option<u64>,
    /// Bearer token every route but /version and /config requires.
    #[arg(long, env = "RUNBOX_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Keep the file store in this directory, created if missing [default: in memory].
    #[arg(long, env = "RUNBOX_FILE_STORE", value_name = "DIR")]
    pub file_store: Option<PathBuf>,
    /// The in-memory file store's bound: past it the least recently used files are
    /// evicted [default: 256M].
    #[arg(
        long,
        env = "RUNBOX_FILE_STORE_MAX",
        value_name = "SIZE",
        conflicts_with = "file_store"
    )]
    pub file_store_max: Option<Size<0, { 1 << 40 }>>,
    /// A stored file expires this long after its last use (`30m`) [default: never].
    #[arg(long, env = "RUNBOX_FILE_TIMEOUT", value_name = "DUR")]
    pub file_timeout: Option<crate::units::Span<1, { 365 * 86_400_000_000 }>>,
    /// Host directories `src` paths must lie under (comma-separated) [default: anywhere].
    #[arg(
        long,
        env = "RUNBOX_SRC_PREFIX",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    pub src_prefix: Vec<PathBuf>,
    /// Address of the Prometheus /metrics server [default: none].
    #[arg(long, env = "RUNBOX_MONITOR_ADDR", value_name = "ADDR")]
    pub monitor_addr: Option<String>,
    /// Runs that may wait for a container; past them a request gets 503.
    #[arg(long, env = "RUNBOX_MAX_QUEUE", default_value_t = 512)]
    pub max_queue: usize,
    /// The largest request body read; past it, 413.
    #[arg(long, env = "RUNBOX_MAX_BODY", default_value = "64M")]
    pub max_body: Size<1024, { 1 << 30 }>,
    /// Bytes a program may write to any one file (go-judge's -output-limit).
    #[arg(long, env = "RUNBOX_OUTPUT_LIMIT", default_value = "256M")]
    pub output_limit: crate::spec::Output,
    /// The default copyOutMax: the most bytes of each file copied out (go-judge's
    /// -copy-out-limit).
    #[arg(long, env = "RUNBOX_COPY_OUT_LIMIT", default_value = "256M")]
    pub copy_out_limit: crate::spec::Output,
    /// The run configuration's profile every run uses (seccomp and file rules).
    #[arg(long, env = "RUNBOX_PROFILE", default_value = DEFAULT_PROFILE)]
    pub profile: String,
    /// Log level of the request log on stderr (error, warn, info, debug, trace, off).
    #[arg(long, env = "RUNBOX_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An address that does not resolve or cannot be bound.
    #[error("{what} {addr}: {source}")]
    Listen {
        /// `--http-addr` or `--monitor-addr`.
        what: &'static str,
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The warm containers could not be made.
    #[error("warm containers: {0}")]
    Pools(#[source] Error),
    /// Threads or the runtime could not be started, or a listener failed.
    #[error("{0}: {1}")]
    Io(&'static str, #[source] std::io::Error),
    /// A flag runbox cannot honour.
    #[error("{0}")]
    Flag(String),
}

/// Runs the server until SIGTERM or SIGINT.
pub fn serve(args: ServeArgs, config: Config) -> Result<(), ServeError> {
    init_log(&args.log_level)?;
    if config.get(&args.profile).is_none() {
        return Err(ServeError::Flag(format!(
            "--profile: unknown profile {:?}",
            args.profile
        )));
    }
    let store = crate::files::FileStore::open(
        args.file_store.as_deref(),
        args.file_store_max.map(|m| m.get()),
    )
    .map_err(|e| ServeError::Flag(format!("--file-store: {e}")))?
    .expiring(args.file_timeout.map(|t| t.get()));
    let store = Arc::new(store);
    let cpus = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let parallel = args.parallel.map_or_else(cpus, |n| n as usize);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // The HTTP side only carries requests: one thread, so that the sandbox work and
        // the clients keep the CPUs.
        .worker_threads(1)
        .thread_name("runbox-http")
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io("start the HTTP runtime", e))?;
    // Bound first: a port in use is said before containers are made.
    let listeners = runtime.block_on(bind_all("--http-addr", &args.http_addr))?;
    let monitor = match &args.monitor_addr {
        Some(addr) => Some(runtime.block_on(bind_all("--monitor-addr", addr))?),
        None => None,
    };
    let pools = Arc::new(Pools::new(parallel).map_err(ServeError::Pools)?);
    let metrics = Arc::new(Metrics::new());
    let expiry = expiry::Sweeper::start(Arc::clone(&store), Arc::clone(&metrics))
        .map_err(|e| ServeError::Io("start the file store's expiry", e))?;
    let executor = Executor::start(
        parallel,
        args.max_queue,
        Arc::new(config),
        Arc::clone(&pools),
        Arc::clone(&store),
        Arc::clone(&metrics),
    )
    .map_err(|e| ServeError::Io("start the workers", e))?;
    let store_path = args.file_store.as_ref().map(|d| d.display().to_string());
    let app = Arc::new(http::App {
        executor,
        store,
        settings: translate::Settings {
            output_limit: args.output_limit.get(),
            copy_out_limit: args.copy_out_limit.get(),
            src_prefix: canonical_prefixes(&args.src_prefix)?,
            profile: Some(args.profile.clone()),
        },
        token: args.auth_token.clone(),
        max_body: usize::try_from(args.max_body.get()).unwrap_or(usize::MAX),
        metrics,
        version: version_body(),
        config: config_body(store_path.as_deref().unwrap_or("")),
    });
    runtime.block_on(run_servers(
        Arc::clone(&app),
        Arc::clone(&pools),
        listeners,
        monitor,
    ))?;
    // The listeners are closed and every request answered: the workers end with the queue.
    drop(runtime);
    match Arc::try_unwrap(app) {
        Ok(app) => app.executor.finish(),
        Err(_) => tracing::warn!("requests still hold the server at its end"),
    }
    expiry.stop();
    tracing::info!("stopped");
    Ok(())
}

fn init_log(level: &str) -> Result<(), ServeError> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| ServeError::Flag(format!("--log-level {level:?}: {e}")))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    Ok(())
}

/// The prefixes with their links resolved, as `src` paths are compared.
fn canonical_prefixes(prefixes: &[PathBuf]) -> Result<Vec<PathBuf>, ServeError> {
    prefixes
        .iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .map_err(|e| ServeError::Flag(format!("--src-prefix {}: {e}", p.display())))
        })
        .collect()
}

/// A listener on every address `addr` resolves to.
async fn bind_all(what: &'static str, addr: &str) -> Result<Vec<TcpListener>, ServeError> {
    let failed = |source| ServeError::Listen {
        what,
        addr: addr.to_string(),
        source,
    };
    let mut listeners = Vec::new();
    let mut last = None;
    for resolved in tokio::net::lookup_host(addr).await.map_err(failed)? {
        match TcpListener::bind(resolved).await {
            Ok(listener) => listeners.push(listener),
            Err(e) => last = Some(e),
        }
    }
    match (listeners.is_empty(), last) {
        (true, Some(e)) => Err(failed(e)),
        (true, None) => Err(failed(std::io::Error::other("resolves to no address"))),
        (false, _) => Ok(listeners),
    }
}

/// Serves every listener until SIGTERM or SIGINT, then lets the requests in flight end.
async fn run_servers(
    app: Arc<http::App>,
    pools: Arc<Pools>,
    listeners: Vec<TcpListener>,
    monitor: Option<Vec<TcpListener>>,
) -> Result<(), ServeError> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    let routes = [(http::router(Arc::clone(&app)), listeners)];
    let monitors = monitor.map(|m| (http::monitor(Arc::clone(&app), pools), m));
    for (router, listeners) in routes.into_iter().chain(monitors) {
        for listener in listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "listening");
            }
            let mut stopped = stopped.clone();
            let router = router.clone();
            servers.spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await
            });
        }
    }
    drop(app);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| ServeError::Io("handle SIGTERM", e))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("draining: no new connections, finishing the requests in flight");
    let _ = stop.send(true);
    while let Some(ended) = servers.join_next().await {
        if let Ok(Err(e)) = ended {
            return Err(ServeError::Io("serve", e));
        }
    }
    Ok(())
}

/// go-judge's name of this machine's architecture (`GOARCH`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// What `/version` and `/config` say runbox has, by go-judge's feature names.
fn features() -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for (name, has) in [
        ("addressSpaceLimit", true),
        ("copyOutOptional", true),
        ("copyOutTruncate", false),
        // runbox never follows a link the program could have planted.
        ("fixSymlinkEscape", true),
        // The group's capturing relay: tee/splice, draining after the reader ends.
        ("pipeProxy", true),
        ("pipeProxyZeroCopy", true),
        ("procPeak", false),
        ("stream", false),
        ("symlink", true),
    ] {
        map.insert(name.into(), has.into());
    }
    map
}

/// `/version`'s body: the go-judge release whose API this is, with runbox's own version
/// as semver build metadata (HydroJudge reads the semver after the first `v`).
fn version_body() -> serde_json::Value {
    let mut body = features();
    body.insert(
        "buildVersion".into(),
        format!("v1.12.2+runbox.{}", env!("CARGO_PKG_VERSION")).into(),
    );
    body.insert("goVersion".into(), "none (runbox is Rust)".into());
    body.insert("platform".into(), go_arch().into());
    body.insert("os".into(), std::env::consts::OS.into());
    serde_json::Value::Object(body)
}

/// `/config`'s body: the features, and the runner's cgroup and work dir.
fn config_body(store_path: &str) -> serde_json::Value {
    let mut body = features();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    body.insert("fileStorePath".into(), store_path.into());
    body.insert(
        "runnerConfig".into(),
        serde_json::json!({
            "cgroupType": if v2 { 2 } else { 1 },
            "cgroupControllers": if v2 {
                vec!["cpu", "memory", "pids"]
            } else {
                vec!["cpu", "cpuacct", "memory", "pids"]
            },
            "workDir": "/w",
        }),
    );
    serde_json::Value::Object(body)
}
