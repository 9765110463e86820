//! `GET /ws`: go-judge's requests over a WebSocket (GOJUDGE-API.md §10). Each text frame
//! is a request with a `requestId`, or `{"cancelRequestId": ID}`; requests run at once,
//! each answered by a text frame `{requestId, results, error?}` in completion order. A
//! frame that is not JSON closes the connection.
//!
//! Cancelling gives the request's [`Cancellation`], as a client that goes away does: its
//! runs that have not started are withdrawn, and the running ones are killed at once (the
//! order reaches the lifecycle's wait loop, which gives init its kill order). The request
//! is then answered as go-judge does: with its results (a killed run is `Signalled`), or,
//! when none of its runs had started, `error: "request cancelled before execute"`. A
//! connection that closes cancels everything it asked.

use super::executor::Cancellation;
use super::gojudge::{parse_any, CmdResult};
use super::http::{cancel_failed, execute, App, Failed, CANCELLED};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// One answer frame.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Answer {
    request_id: String,
    results: Option<Vec<CmdResult>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The upgrade; frames are bounded by `--max-body`.
pub async fn ws(State(app): State<Arc<App>>, upgrade: WebSocketUpgrade) -> Response {
    let max = app.max_body;
    upgrade
        .max_message_size(max)
        .on_upgrade(move |socket| session(app, socket))
}

/// One connection: reads requests, runs them, writes their answers, until the client
/// closes or sends what is not a request.
async fn session(app: Arc<App>, mut socket: WebSocket) {
    let (done, mut finished) = mpsc::unbounded_channel::<Answer>();
    let mut running: HashMap<String, (Cancellation, AbortHandle)> = HashMap::new();
    loop {
        let answer = tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    match order(&app, text.as_bytes(), &mut running, &done) {
                        Some(Ok(immediate)) => immediate,
                        Some(Err(())) => break,
                        None => continue,
                    }
                }
                Some(Ok(Message::Binary(_))) => break,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break,
            },
            Some(answer) = finished.recv() => {
                running.remove(&answer.request_id);
                answer
            }
        };
        let text = serde_json::to_string(&answer).unwrap_or_default();
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    // The connection is gone: what it asked is cancelled (not run, or killed).
    for (_, (cancel, task)) in running {
        cancel.fire();
        task.abort();
    }
}

/// Acts on one frame: starts a request (no immediate answer), cancels one, or answers an
/// error at once; `Err` for a frame that is no request (the connection closes).
fn order(
    app: &Arc<App>,
    frame: &[u8],
    running: &mut HashMap<String, (Cancellation, AbortHandle)>,
    done: &mpsc::UnboundedSender<Answer>,
) -> Option<Result<Answer, ()>> {
    let Ok(request) = parse_any(frame) else {
        return Some(Err(()));
    };
    let refuse = |id: String, error: &str| {
        Some(Ok(Answer {
            request_id: id,
            results: None,
            error: Some(error.to_string()),
        }))
    };
    if let Some(id) = request.cancel_request_id {
        // The request's own task answers it, once its runs have ended or been dropped.
        if let Some((cancel, _)) = running.get(&id) {
            cancel.fire();
        }
        return None;
    }
    let id = request.request_id.clone().unwrap_or_default();
    if id.is_empty() {
        return refuse(id, "empty request id");
    }
    if running.contains_key(&id) {
        return refuse(id.clone(), &format!("duplicated request id: {id}"));
    }
    if request.cmd.as_ref().is_none_or(Vec::is_empty) {
        return refuse(id, "no cmd provided");
    }
    let cancel = match Cancellation::new() {
        Ok(cancel) => cancel,
        Err(e) => return refuse(id, &cancel_failed(e)),
    };
    let (app, done, request_id) = (Arc::clone(app), done.clone(), id.clone());
    let order = cancel.clone();
    let task = tokio::spawn(async move {
        let answer = match execute(&app, &request, &order).await {
            Ok(results) => Answer {
                request_id,
                results: Some(results),
                error: None,
            },
            Err(Failed::Refused(why)) => Answer {
                request_id,
                results: None,
                error: Some(why.to_string()),
            },
            Err(Failed::Busy(why)) => Answer {
                request_id,
                results: None,
                error: Some(why.to_string()),
            },
            Err(Failed::Cancelled) => Answer {
                request_id,
                results: None,
                error: Some(CANCELLED.into()),
            },
        };
        let _ = done.send(answer);
    });
    running.insert(id, (cancel, task.abort_handle()));
    None
}
