//! The worker's side of Redis (redis-rs, sync): a connection that comes back by itself
//! ([`Link`]), and the stream commands a worker sends through it.

use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamClaimOptions, StreamId,
    StreamPendingCountReply, StreamPendingId, StreamReadOptions, StreamReadReply,
};
use redis::{Commands, Connection, RedisError, RedisResult, Value};
use std::time::{Duration, Instant};

/// The first wait after a failure; each next one doubles, up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// The longest wait between two attempts to reach Redis.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long a connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How much longer than a read's own block a reply may take before the connection is
/// taken for lost.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What can be done about a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cure {
    /// The connection is lost or the server not ready (loading after a restart): wait, make
    /// a new connection, try again.
    Reconnect,
    /// The stream or the group is gone (a server restarted without its data): create the
    /// group again, try again.
    MakeGroup,
    /// Trying again would fail again (a key of another type, a refused password).
    None,
}

/// What can be done about `e`.
pub fn cure(e: &RedisError) -> Cure {
    match e.code() {
        Some("NOGROUP") => return Cure::MakeGroup,
        Some("LOADING" | "TRYAGAIN" | "MASTERDOWN" | "BUSY" | "READONLY") => {
            return Cure::Reconnect
        }
        _ => {}
    }
    if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
    {
        Cure::Reconnect
    } else {
        Cure::None
    }
}

/// One connection to Redis for one thread of the worker, made again whenever it is lost,
/// with backoff.
pub struct Link {
    client: redis::Client,
    con: Option<Connection>,
    /// The request stream and its group, created again when they are gone.
    stream: String,
    group: String,
    /// Who uses it, for the messages on stderr.
    user: &'static str,
    /// The longest a command blocks on the server.
    block: Duration,
    /// Since when Redis could not be reached, and the next wait.
    down: Option<(Instant, Duration)>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("user", &self.user)
            .field("connected", &self.con.is_some())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link to the server of `url` (`redis://[:password@]host[:port][/db]`), for the
    /// request `stream` and its `group`; no connection is made yet.
    pub fn new(
        url: &str,
        stream: &str,
        group: &str,
        user: &'static str,
        block: Duration,
    ) -> RedisResult<Link> {
        // Without Nagle: each round trip is one small write that must not wait for the
        // server's delayed ACK of the one before (a few ms a run, otherwise).
        let info = redis::IntoConnectionInfo::into_connection_info(url)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        Ok(Link {
            client: redis::Client::open(info)?,
            con: None,
            stream: stream.into(),
            group: group.into(),
            user,
            block,
            down: None,
        })
    }

    fn connect(&mut self) -> RedisResult<&mut Connection> {
        if self.con.is_none() {
            let con = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
            con.set_read_timeout(Some(self.block + REPLY_TIMEOUT))?;
            con.set_write_timeout(Some(REPLY_TIMEOUT))?;
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("just made"))
    }

    /// Runs `f` on a live connection until it succeeds, reconnecting (with backoff) while
    /// Redis cannot be reached and making the group again if it is gone. `None` if
    /// `give_up()` says so first; an error no retry can cure is returned.
    pub fn call<T>(
        &mut self,
        give_up: &dyn Fn() -> bool,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<Option<T>> {
        loop {
            if self.down.is_some() && give_up() {
                return Ok(None);
            }
            let done = self.connect().and_then(&mut f);
            let e = match done {
                Ok(value) => {
                    if let Some((since, _)) = self.down.take() {
                        eprintln!(
                            "runbox worker: {}: Redis is back after {:.1} s",
                            self.user,
                            since.elapsed().as_secs_f64()
                        );
                    }
                    return Ok(Some(value));
                }
                Err(e) => e,
            };
            match cure(&e) {
                Cure::None => return Err(e),
                Cure::MakeGroup => {
                    let (stream, group) = (self.stream.clone(), self.group.clone());
                    let made = self
                        .connect()
                        .and_then(|con| make_group(con, &stream, &group));
                    if made.is_ok() {
                        continue;
                    }
                    self.lost(&e);
                }
                Cure::Reconnect => self.lost(&e),
            }
        }
    }

    /// The connection is lost: drop it and wait before the next attempt.
    fn lost(&mut self, e: &RedisError) {
        self.con = None;
        let (since, wait) = *self.down.get_or_insert_with(|| {
            eprintln!(
                "runbox worker: {}: Redis cannot be reached ({e}); trying again",
                self.user
            );
            (Instant::now(), BACKOFF_MIN)
        });
        std::thread::sleep(wait);
        self.down = Some((since, (wait * 2).min(BACKOFF_MAX)));
    }
}

/// `XGROUP CREATE stream group 0 MKSTREAM`: the group reads the stream from its start, so
/// that requests added before any worker came are served. One that exists is left as is.
pub fn make_group(con: &mut Connection, stream: &str, group: &str) -> RedisResult<()> {
    match con.xgroup_create_mkstream::<_, _, _, ()>(stream, group, "0") {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// The pending entry of each of `ids` (`XPENDING stream group id id 1`, in one pipeline):
/// who holds it and how many times it was delivered; `None` for one no longer pending.
fn pending(
    con: &mut Connection,
    stream: &str,
    group: &str,
    ids: &[&str],
) -> RedisResult<Vec<Option<StreamPendingId>>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg(id)
            .arg(id)
            .arg(1);
    }
    let replies: Vec<StreamPendingCountReply> = pipe.query(con)?;
    Ok(replies
        .into_iter()
        .map(|r| r.ids.into_iter().next())
        .collect())
}

/// How many times each of `ids` has been delivered; 1 for one no longer pending.
pub fn deliveries(
    con: &mut Connection,
    stream: &str,
    group: &str,
    ids: &[&str],
) -> RedisResult<Vec<u64>> {
    let pending = pending(con, stream, group, ids)?;
    Ok(pending
        .iter()
        .map(|p| p.as_ref().map_or(1, |p| p.times_delivered as u64))
        .collect())
}

/// Tells Redis that this consumer is still at work on `ids` (resets their idle time, so that
/// no other worker takes them over, however long the runs take): those of them still
/// pending for this consumer are claimed again by it with `JUSTID`, which leaves their
/// delivery counts as they are. (One another worker took over in the instant between the
/// two commands is taken back: run twice, answered twice, as at-least-once allows.)
pub fn refresh(
    con: &mut Connection,
    stream: &str,
    group: &str,
    consumer: &str,
    ids: &[String],
) -> RedisResult<()> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let pending = pending(con, stream, group, &ids)?;
    let owned: Vec<&str> = pending
        .iter()
        .flatten()
        .filter(|p| p.consumer == consumer)
        .map(|p| p.id.as_str())
        .collect();
    if owned.is_empty() {
        return Ok(());
    }
    let options = StreamClaimOptions::default().with_justid();
    let _: Vec<String> = con.xclaim_options(stream, group, consumer, 0, &owned, options)?;
    Ok(())
}

/// Writes each result to its stream and then acknowledges its entry, on the server in one
/// step (a Lua script runs without interruption): an entry is acknowledged only once its
/// result is written, and a worker that dies between the two cannot exist. A result that
/// cannot be written (`reply_to` names a key of another type) leaves its entry unacked.
/// KEYS: the request stream, then each result's stream; ARGV: the group, then each result's
/// entry id and line. Returns the entry id and error of each result not written.
const REPLY_SCRIPT: &str = r"
local failed = {}
for i = 2, #KEYS do
    local entry, line = ARGV[2 * i - 2], ARGV[2 * i - 1]
    local added = redis.pcall('XADD', KEYS[i], '*', 'result', line, 'entry', entry)
    if type(added) == 'table' and added.err then
        failed[#failed + 1] = entry
        failed[#failed + 1] = added.err
    else
        redis.pcall('XACK', KEYS[1], ARGV[1], entry)
    end
end
return failed
";

/// A result to write: the request entry's id, the stream it goes to, the result line.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The request entry's id.
    pub entry: String,
    /// The stream the result goes to.
    pub reply_to: Vec<u8>,
    /// The result line.
    pub line: String,
}

/// Which entry to take next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// A new one: `XREADGROUP GROUP group consumer COUNT 1 BLOCK block STREAMS stream >`.
    New,
    /// One idle for longer than `--claim-after` in another consumer's hands, looked for from
    /// `cursor` on: `XAUTOCLAIM stream group consumer min-idle cursor COUNT 1`.
    Idle(String),
}

/// What one [`exchange`] brought.
#[derive(Debug, Default)]
pub struct Exchanged {
    /// The entry id and error of the results that could not be written.
    pub failed: Vec<(String, String)>,
    /// The entry taken, if one was, and how many times it has been delivered (this time
    /// included).
    pub entry: Option<(StreamId, u64)>,
    /// Where a search for idle entries goes on from ("0-0": it went round).
    pub cursor: Option<String>,
}

/// The worker's names, for the commands.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    /// The request stream.
    pub stream: &'a str,
    /// The group.
    pub group: &'a str,
    /// This consumer.
    pub consumer: &'a str,
}

/// One round trip: writes `replies` and acknowledges their entries (a Lua script), then
/// takes the next entry as `take` says (waiting up to `block` for a new one), in one
/// pipeline. A taken idle entry costs a second round trip, for its delivery count.
pub fn exchange(
    con: &mut Connection,
    names: Names<'_>,
    replies: &[Reply],
    take: Option<&Take>,
    block: Duration,
    min_idle: Duration,
) -> RedisResult<Exchanged> {
    let Names {
        stream,
        group,
        consumer,
    } = names;
    let mut pipe = redis::pipe();
    if !replies.is_empty() {
        let eval = pipe
            .cmd("EVAL")
            .arg(REPLY_SCRIPT)
            .arg(1 + replies.len())
            .arg(stream);
        for r in replies {
            eval.arg(&r.reply_to[..]);
        }
        eval.arg(group);
        for r in replies {
            eval.arg(&r.entry).arg(&r.line);
        }
    }
    match take {
        Some(Take::New) => {
            let options = StreamReadOptions::default()
                .group(group, consumer)
                .count(1)
                // BLOCK 0 would wait for ever.
                .block(block.as_millis().max(1) as usize);
            pipe.xread_options(&[stream], &[">"], &options);
        }
        Some(Take::Idle(cursor)) => {
            let options = StreamAutoClaimOptions::default().count(1);
            let min_idle = min_idle.as_millis() as u64;
            pipe.xautoclaim_options(stream, group, consumer, min_idle, cursor, options);
        }
        None => {}
    }
    if replies.is_empty() && take.is_none() {
        return Ok(Exchanged::default());
    }
    let mut values: Vec<Value> = pipe.query(con)?;
    let mut done = Exchanged::default();
    let taken = match take {
        Some(_) => values.pop(),
        None => None,
    };
    if let Some(failed) = values.pop() {
        let failed: Vec<String> = redis::from_redis_value(failed)?;
        done.failed = failed
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default()))
            .collect();
    }
    match (take, taken) {
        (Some(Take::New), Some(value)) => {
            let read: Option<StreamReadReply> = redis::from_redis_value(value)?;
            let entry = read.and_then(|r| r.keys.into_iter().flat_map(|k| k.ids).next());
            done.entry = entry.map(|e| (e, 1));
        }
        (Some(Take::Idle(_)), Some(value)) => {
            let claimed: StreamAutoClaimReply = redis::from_redis_value(value)?;
            done.cursor = Some(claimed.next_stream_id);
            if let Some(entry) = claimed.claimed.into_iter().next() {
                let times = deliveries(con, stream, group, &[entry.id.as_str()])?;
                done.entry = Some((entry, times.first().copied().unwrap_or(1)));
            }
        }
        _ => {}
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::ErrorKind;

    #[test]
    fn lost_connections_are_made_again_and_type_errors_are_not_retried() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(cure(&io), Cure::Reconnect);
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(cure(&refused), Cure::Reconnect);
        let typed = RedisError::from((ErrorKind::UnexpectedReturnType, "not a stream"));
        assert_eq!(cure(&typed), Cure::None);
    }
}
