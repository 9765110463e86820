//! What a worker does with one stream entry, decided without Redis: run its `request`, or
//! answer it at once (no `request` field, or delivered too many times), and where its
//! result goes.

use crate::answer::result_line;
use crate::result::RunResult;

/// Where results go when an entry names no `reply_to`.
pub const DEFAULT_REPLY_TO: &str = "runbox:results";

/// One entry of the request stream, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id in the stream (`1700000000000-0`).
    pub id: String,
    /// The stream its result goes to.
    pub reply_to: Vec<u8>,
    /// What to do with it.
    pub task: Task,
}

/// What an entry calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Run this request line (a `runbox batch` line, as bytes).
    Run(Vec<u8>),
    /// Write this result line without running anything.
    Answer(String),
}

/// Decides what to do with entry `id`, given its `request` and `reply_to` fields (when it
/// has them) and how many times Redis has delivered it, this time included.
pub fn decide(
    id: String,
    request: Option<Vec<u8>>,
    reply_to: Option<Vec<u8>>,
    deliveries: u64,
    max_deliveries: u64,
) -> Entry {
    let reply_to = reply_to
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| DEFAULT_REPLY_TO.into());
    let internal = |detail: String| {
        // The id of a request that is not run is read where it can be (a poisonous
        // request's own); none for an entry without one.
        let id = request
            .as_deref()
            .and_then(|line| crate::batch::parse_bytes(line).0);
        Task::Answer(result_line(
            id.as_deref(),
            &RunResult::internal_error(detail),
        ))
    };
    let task = if deliveries > max_deliveries {
        internal(format!("delivered {deliveries} times"))
    } else {
        match &request {
            Some(line) => Task::Run(line.clone()),
            None => internal("entry has no `request` field".into()),
        }
    };
    Entry { id, reply_to, task }
}

/// The idle time after which a worker takes over another's entry, as a period for its own
/// housekeeping: how long it blocks on a read, how often it refreshes its own entries and
/// looks for idle ones. A quarter of `claim_after`, from 10 ms to 1 s.
pub fn tick(claim_after: std::time::Duration) -> std::time::Duration {
    use std::time::Duration;
    (claim_after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(request: Option<&str>, deliveries: u64) -> Task {
        decide("1-0".into(), request.map(Into::into), None, deliveries, 3).task
    }

    #[test]
    fn a_request_is_run_until_it_has_been_delivered_too_often() {
        let line = r#"{"id":"a","argv":["true"]}"#;
        for deliveries in 1..=3 {
            assert_eq!(task(Some(line), deliveries), Task::Run(line.into()));
        }
        let Task::Answer(answer) = task(Some(line), 4) else {
            panic!("answered")
        };
        let value: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(value["id"], "a");
        assert_eq!(value["status"], "internal_error");
        assert_eq!(value["detail"], "delivered 4 times");
    }

    #[test]
    fn an_entry_without_a_request_is_answered_without_an_id() {
        let Task::Answer(answer) = task(None, 1) else {
            panic!("answered")
        };
        let value: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(value["id"], serde_json::Value::Null);
        assert_eq!(value["status"], "internal_error");
        assert_eq!(value["detail"], "entry has no `request` field");
    }

    #[test]
    fn results_go_to_reply_to_or_the_default_stream() {
        let to = |reply_to: Option<&str>| {
            decide("1-0".into(), None, reply_to.map(Into::into), 1, 3).reply_to
        };
        assert_eq!(to(Some("judge:7")), b"judge:7");
        assert_eq!(to(None), DEFAULT_REPLY_TO.as_bytes());
        assert_eq!(to(Some("")), DEFAULT_REPLY_TO.as_bytes());
    }

    #[test]
    fn the_tick_is_a_quarter_of_claim_after_within_bounds() {
        use std::time::Duration;
        assert_eq!(tick(Duration::from_secs(60)), Duration::from_secs(1));
        assert_eq!(tick(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(tick(Duration::from_millis(1)), Duration::from_millis(10));
    }
}
