//! The HTTP side (axum on tokio): go-judge's routes, bearer auth, go-judge's error shapes
//! and codes, request logs and metrics. It only carries requests: every run goes to the
//! [`Executor`]'s threads.

use super::executor::{Busy, Cancellation, Executor, Unanswered};
use super::gojudge::{parse_request, Cmd, CmdResult, PipeIndex, PipeMap, Request};
use super::metrics::Metrics;
use super::translate::{self, Plan, Refusal, Settings};
use crate::files::FileStore;
use crate::group::{Capture, End, GroupRequest, Pipe};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// What every handler shares.
#[derive(Debug)]
pub struct App {
    /// The worker threads.
    pub executor: Executor,
    /// The file store the runs share (`/file`, copyOutCached, fileId).
    pub store: Arc<FileStore>,
    /// What a translation needs.
    pub settings: Settings,
    /// `--auth-token`.
    pub token: Option<String>,
    /// The largest body read, bytes.
    pub max_body: usize,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// `/version`'s body.
    pub version: serde_json::Value,
    /// `/config`'s body.
    pub config: serde_json::Value,
}

/// The main server's routes: `/version` and `/config` open, the rest behind the token.
pub fn router(app: Arc<App>) -> Router {
    let guarded = Router::new()
        .route("/run", post(run))
        .route("/runbox/run", post(runbox_run))
        .route("/file", get(file_list).post(file_add))
        .route("/file/{id}", get(file_get).delete(file_delete))
        .route("/ws", get(super::ws::ws))
        .layer(DefaultBodyLimit::max(app.max_body))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), auth));
    Router::new()
        .route("/version", get(version))
        .route("/config", get(config))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), log))
        .with_state(app)
}

/// A JSON body as gin writes it.
pub fn json(code: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"\"unserialisable\"".to_vec());
    let mut response = (code, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// An error as go-judge answers one: the message as a JSON string.
fn error(code: StatusCode, message: impl std::fmt::Display) -> Response {
    json(code, &message.to_string())
}

/// gin's answer to a path or method it has no route for.
async fn not_found() -> Response {
    let mut response = (StatusCode::NOT_FOUND, "404 page not found").into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Bearer auth: `Authorization: Bearer TOKEN` exactly, else 401 with an empty body.
async fn auth(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if let Some(token) = &app.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    next.run(request).await
}

/// One structured log line per request on stderr, and the request counted.
async fn log(State(app): State<Arc<App>>, request: axum::extract::Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = route_of(&path);
    let response = next.run(request).await;
    let code = response.status().as_u16();
    app.metrics.request(route, code);
    tracing::info!(
        %method, path, code, micros = started.elapsed().as_micros() as u64, "request"
    );
    response
}

/// The route a path takes, as a metric's label: a bounded set, whatever the paths asked.
fn route_of(path: &str) -> &'static str {
    const ROUTES: &[&str] = &["/run", "/runbox/run", "/version", "/config", "/file", "/ws"];
    match ROUTES.iter().find(|r| **r == path) {
        Some(route) => route,
        None if path.starts_with("/file/") => "/file/:id",
        None => "other",
    }
}

async fn version(State(app): State<Arc<App>>) -> Response {
    json(StatusCode::OK, &app.version)
}

async fn config(State(app): State<Arc<App>>) -> Response {
    json(StatusCode::OK, &app.config)
}

/// The body, up to `max` bytes; past it (by its Content-Length, before any of it is read,
/// or as it comes), 413 with a JSON string, read no further.
async fn read_body(request: axum::extract::Request, max: usize) -> Result<Bytes, Response> {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if length.is_some_and(|n| n > max as u64) {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {max} bytes"),
        ));
    }
    axum::body::to_bytes(request.into_body(), max)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body larger than {max} bytes"),
                )
            } else {
                error(StatusCode::BAD_REQUEST, format!("read the body: {e}"))
            }
        })
}

/// `POST /run`: the body (whatever its Content-Type) as go-judge's request; a bare JSON
/// array of results, one per command in order.
async fn run(State(app): State<Arc<App>>, body: axum::extract::Request) -> Response {
    let body = match read_body(body, app.max_body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let cancel = match Cancellation::new() {
        Ok(cancel) => cancel,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, cancel_failed(e)),
    };
    // A client that goes away drops this future, and the guard cancels its runs: the
    // queued ones are not run, the running ones are killed.
    let guard = cancel.on_drop();
    let executed = execute(&app, &request, &cancel).await;
    guard.disarm();
    match executed {
        Ok(results) => json(StatusCode::OK, &results),
        Err(Failed::Cancelled) => error(StatusCode::INTERNAL_SERVER_ERROR, CANCELLED),
        Err(Failed::Refused(Refusal::BadRequest(m))) => error(StatusCode::BAD_REQUEST, m),
        Err(Failed::Refused(refusal)) => error(StatusCode::INTERNAL_SERVER_ERROR, refusal),
        Err(Failed::Busy(busy @ Busy::Full(_))) => error(StatusCode::SERVICE_UNAVAILABLE, busy),
        Err(Failed::Busy(busy)) => error(StatusCode::SERVICE_UNAVAILABLE, busy),
    }
}

/// Why a request got no results.
#[derive(Debug)]
pub enum Failed {
    /// The request cannot be run as it is.
    Refused(Refusal),
    /// No room in the queue.
    Busy(Busy),
    /// Cancelled before any of its runs started.
    Cancelled,
}

/// go-judge's answer to a request cancelled before it ran.
pub const CANCELLED: &str = "request cancelled before execute";

/// The message for a cancel order that could not be made.
pub fn cancel_failed(e: std::io::Error) -> String {
    format!("make the request's cancel order (eventfd): {e}")
}

/// Runs a request's commands (each in its own warm container, all queued at once) and
/// gives their results in order. `cancel` ends them early: the runs not started are not
/// run (all of them: [`Failed::Cancelled`]), the running ones are killed (Signalled).
pub async fn execute(
    app: &App,
    request: &Request,
    cancel: &Cancellation,
) -> Result<Vec<CmdResult>, Failed> {
    let cmds = request.cmd.as_deref().unwrap_or(&[]);
    if let (true, Some(pipes)) = (cmds.len() > 1, &request.pipe_mapping) {
        if !pipes.is_empty() {
            return execute_group(app, cmds, pipes, cancel).await;
        }
    }
    let stored = |id: &str| app.store.get(id).is_ok();
    let plans = cmds
        .iter()
        .map(|cmd| translate::plan(cmd, &app.settings, &stored))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failed::Refused)?;
    // Every run queued before any is awaited: a group's commands run at once.
    let mut pending = Vec::with_capacity(plans.len());
    for plan in plans {
        pending.push(match plan {
            Plan::Run(options, sent, outputs) => {
                let answer = app
                    .executor
                    .submit(*options, cancel)
                    .map_err(Failed::Busy)?;
                Ok((answer, sent, outputs))
            }
            Plan::Answer(result) => Err(result),
        });
    }
    let mut results = Vec::with_capacity(pending.len());
    let mut unrun = 0;
    for waiting in pending {
        results.push(match waiting {
            Ok((answer, sent, outputs)) => match answer.answer(cancel).await {
                Ok(run) => {
                    let mut result = translate::result(&run, &sent, &outputs);
                    translate::cache_collected(&mut result, &outputs, &app.store);
                    app.metrics.run(
                        result.status.as_str(),
                        run.measured.cpu_us,
                        run.measured.memory_bytes,
                    );
                    result
                }
                Err(Unanswered::Cancelled) => {
                    unrun += 1;
                    CmdResult::internal_error(CANCELLED)
                }
                Err(Unanswered::Lost) => {
                    CmdResult::internal_error("the run's worker ended without a result")
                }
            },
            Err(answered) => answered,
        });
    }
    match unrun == results.len() {
        true => Err(Failed::Cancelled),
        false => Ok(results),
    }
}

/// An interactive group: the commands started together, each in its own warm container,
/// joined by the pipes of `pipeMapping` (§5); a proxy with a name puts the first `max`
/// bytes of its traffic in the writer's `files[name]`.
async fn execute_group(
    app: &App,
    cmds: &[Cmd],
    pipes: &[PipeMap],
    cancel: &Cancellation,
) -> Result<Vec<CmdResult>, Failed> {
    let refuse = |why: String| Failed::Refused(Refusal::Server(why));
    let mut piped: Vec<Vec<u64>> = vec![Vec::new(); cmds.len()];
    let mut wired = Vec::with_capacity(pipes.len());
    for (i, pipe) in pipes.iter().enumerate() {
        let end = |given: Option<PipeIndex>, what: &str| -> Result<End, Failed> {
            let (Some(run), Some(fd)) = given.map_or((None, None), |e| (e.index, e.fd)) else {
                return Err(refuse(format!(
                    "pipeMapping[{i}].{what}: index and fd are required"
                )));
            };
            let run = usize::try_from(run).ok().filter(|r| *r < cmds.len());
            let fd = u32::try_from(fd).ok();
            match (run, fd) {
                (Some(run), Some(fd)) => Ok(End { run, fd }),
                (None, _) => Err(refuse(format!(
                    "pipeMapping[{i}].{what}.index: out of range of {} cmds",
                    cmds.len()
                ))),
                (_, None) => Err(refuse(format!("pipeMapping[{i}].{what}.fd: too large"))),
            }
        };
        let (from, to) = (end(pipe.input, "in")?, end(pipe.output, "out")?);
        piped[from.run].push(u64::from(from.fd));
        piped[to.run].push(u64::from(to.fd));
        // A proxy is a relay that drains after the reader ends; it keeps `max` bytes only
        // for a name.
        let proxy = pipe.proxy.unwrap_or(false);
        let keep = match pipe.name {
            Some(_) => u64::try_from(pipe.max.unwrap_or(0)).unwrap_or(0),
            None => 0,
        };
        let capture = proxy.then(|| Capture::clamped(keep));
        wired.push(Pipe { from, to, capture });
    }
    let stored = |id: &str| app.store.get(id).is_ok();
    let mut members = Vec::with_capacity(cmds.len());
    let mut judged = Vec::with_capacity(cmds.len());
    for (i, cmd) in cmds.iter().enumerate() {
        match translate::plan_member(cmd, &app.settings, &stored, &piped[i]) {
            Ok(Plan::Run(options, sent, outputs)) => {
                members.push(*options);
                judged.push((sent, outputs));
            }
            Ok(Plan::Answer(result)) => return Err(refuse(format!("cmd[{i}]: {}", result.error))),
            Err(e) => return Err(Failed::Refused(e)),
        }
    }
    let group = GroupRequest {
        id: None,
        group: members,
        pipes: wired.clone(),
    };
    let answer = app
        .executor
        .submit_group(group, cancel)
        .map_err(Failed::Busy)?;
    let ended = match answer.answer(cancel).await {
        Ok(Ok(ended)) => ended,
        Ok(Err(wrong)) => return Err(refuse(wrong.to_string())),
        Err(Unanswered::Cancelled) => return Err(Failed::Cancelled),
        Err(Unanswered::Lost) => {
            let lost = || CmdResult::internal_error("the group's worker ended without a result");
            return Ok(cmds.iter().map(|_| lost()).collect());
        }
    };
    let mut results: Vec<CmdResult> = ended
        .results
        .iter()
        .zip(&judged)
        .map(|(run, (sent, outputs))| {
            let mut result = translate::result(run, sent, outputs);
            translate::cache_collected(&mut result, outputs, &app.store);
            app.metrics.run(
                result.status.as_str(),
                run.measured.cpu_us,
                run.measured.memory_bytes,
            );
            result
        })
        .collect();
    for ((pipe, wired), captured) in pipes
        .iter()
        .zip(&wired)
        .zip(ended.captures.into_iter().flatten())
    {
        if let (Some(name), Some(text), true) = (&pipe.name, captured, wired.capture.is_some()) {
            results[wired.from.run].files.insert(name.clone(), text);
        }
    }
    Ok(results)
}

/// `POST /runbox/run`: one `runbox batch` request line as the body, its result line back
/// (HTTP 200 whatever the run's status; a request the batch would refuse is its
/// `internal_error` result, as in a batch).
async fn runbox_run(State(app): State<Arc<App>>, body: axum::extract::Request) -> Response {
    let body = match read_body(body, app.max_body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let text = String::from_utf8_lossy(&body);
    let (id, parsed) = crate::batch::parse_line(text.trim());
    let cancel = match Cancellation::new() {
        Ok(cancel) => cancel,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, cancel_failed(e)),
    };
    // As for /run: a client that goes away cancels the run.
    let guard = cancel.on_drop();
    let result = match parsed {
        Ok(options) => match app.executor.submit(options, &cancel) {
            Ok(answer) => match answer.answer(&cancel).await {
                Ok(result) => result,
                Err(_) => crate::result::RunResult::internal_error(
                    "the run's worker ended without a result".into(),
                ),
            },
            Err(busy) => return error(StatusCode::SERVICE_UNAVAILABLE, busy),
        },
        Err(why) => crate::result::RunResult::internal_error(why.to_string()),
    };
    guard.disarm();
    app.metrics.run(
        result.status.as_str(),
        result.measured.cpu_us,
        result.measured.memory_bytes,
    );
    let mut line = serde_json::json!({ "id": id });
    if let (Some(line), Ok(serde_json::Value::Object(fields))) =
        (line.as_object_mut(), serde_json::to_value(&result))
    {
        line.extend(fields);
    }
    json(StatusCode::OK, &line)
}

/// `GET /file`: every stored file, `{id: name}`.
async fn file_list(State(app): State<Arc<App>>) -> Response {
    let all: std::collections::BTreeMap<String, String> = app.store.list().into_iter().collect();
    json(StatusCode::OK, &all)
}

/// `POST /file`: the multipart form's `file` part stored under its file name; its id as a
/// JSON string. No `file` part: 400, a store that refuses it: 500, both with empty bodies.
async fn file_add(State(app): State<Arc<App>>, mut form: Multipart) -> Response {
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) | Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_string();
        let Ok(bytes) = field.bytes().await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        return match app.store.add(&name, &bytes) {
            Ok(id) => json(StatusCode::OK, &id),
            Err(e) => {
                tracing::warn!(error = %e, "POST /file");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        };
    }
}

/// `GET /file/{id}`: the bytes, as an attachment of the stored name; 404 empty if unknown.
async fn file_get(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let Ok(file) = app.store.get(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match file.read_all() {
        Ok(bytes) => {
            let disposition = format!("attachment; filename=\"{}\"", file.name.replace('"', ""));
            let mut response = (StatusCode::OK, bytes).into_response();
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `DELETE /file/{id}`: 200 empty, or 404 empty if unknown.
async fn file_delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.store.delete(&[id]) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The monitor server's routes: `/metrics`.
pub fn monitor(app: Arc<App>, pools: Arc<crate::pool::Pools>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let (app, pools) = (Arc::clone(&app), Arc::clone(&pools));
            async move {
                app.metrics.idle.set(pools.idle_pids().len() as i64);
                app.metrics
                    .store_bytes
                    .set(i64::try_from(app.store.total()).unwrap_or(i64::MAX));
                app.metrics
                    .containers_created
                    .set(i64::try_from(pools.created()).unwrap_or(i64::MAX));
                let mut response = app.metrics.text().into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                response
            }
        }),
    )
}
