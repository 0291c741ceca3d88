//! The change feed's live side: `GET /events/stream`'s Server-Sent Events.
//!
//! Each stream reads the feed itself, page after page, through the same gap-safe reader as
//! `GET /events` ([`catalog_store::feed`]), so a consumer that reconnects with `Last-Event-ID`
//! anywhere sees every event once, in order. One `LISTEN catalog_events` per process wakes
//! every idle stream when events are appended (writers notify after their commit); a poll is
//! the fallback for a lost notification, and a stream whose page stopped at an event not yet
//! final looks again within milliseconds, backing off.
//!
//! Memory per stream is bounded: a reader task fills a channel of at most `SSE_BUFFER_EVENTS`
//! events, and when the client has not taken one for `SSE_SLOW_CONSUMER_SECS`, the stream
//! ends with a comment telling it to resume, rather than buffering without end. At shutdown
//! every stream ends the same way, so the server's graceful stop is not held by them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::Event;
use catalog_store::feed::{self, FeedEvent, FeedQuery};
use catalog_support::shutdown::Shutdown;
use futures::Stream;
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};

/// How streams behave; from query-api's configuration.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Open streams allowed per token.
    pub per_token: usize,
    /// Longest silence on a stream: a comment line is sent at least this often.
    pub heartbeat: Duration,
    /// Events read ahead of the client, at most.
    pub buffer: usize,
    /// How long the client may leave a full buffer untouched before it is disconnected.
    pub slow_after: Duration,
    /// How often an idle stream looks for events when no notification came.
    pub poll: Duration,
}

/// Every open stream of the process, and what wakes them.
pub struct Streams {
    settings: StreamSettings,
    /// Bumped on every `catalog_events` notification.
    appended: watch::Sender<u64>,
    /// Set at shutdown: every stream ends.
    closing: watch::Sender<bool>,
    /// Open streams per token.
    open: Mutex<HashMap<String, usize>>,
}

/// Refused: the token already has as many streams open as it may.
#[derive(Debug)]
pub struct TooManyStreams(pub usize);

/// One open stream's place in the per-token count, given back when the stream is dropped.
pub struct Slot {
    streams: Arc<Streams>,
    token: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().expect("stream counts poisoned");
        if let Some(count) = open.get_mut(&self.token) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.token);
            }
        }
        metrics::gauge!("catalog_feed_streams_open").decrement(1.0);
    }
}

impl Streams {
    /// No streams open yet.
    pub fn new(settings: StreamSettings) -> Arc<Self> {
        Arc::new(Self {
            settings,
            appended: watch::channel(0).0,
            closing: watch::channel(false).0,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for `token`, or refuses when it has its share open.
    pub fn open(self: &Arc<Self>, token: &str) -> Result<Slot, TooManyStreams> {
        let mut open = self.open.lock().expect("stream counts poisoned");
        let count = open.entry(token.to_owned()).or_default();
        if *count >= self.settings.per_token {
            return Err(TooManyStreams(self.settings.per_token));
        }
        *count += 1;
        metrics::gauge!("catalog_feed_streams_open").increment(1.0);
        Ok(Slot {
            streams: Arc::clone(self),
            token: token.to_owned(),
        })
    }

    /// Listens for appended events until shutdown, waking the streams; then ends them all.
    /// A lost connection is retried; streams poll meanwhile.
    pub async fn listen(self: Arc<Self>, pool: PgPool, shutdown: Shutdown) {
        let mut delay = Duration::from_millis(200);
        while !shutdown.is_triggered() {
            tokio::select! {
                err = self.follow(&pool) => {
                    tracing::warn!(error = %err, retry_in = ?delay, "change feed notifications lost; streams poll meanwhile");
                }
                () = shutdown.wait() => break,
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.wait() => break,
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        self.closing.send_replace(true);
    }

    /// Wakes the streams on every notification until the connection fails.
    async fn follow(&self, pool: &PgPool) -> sqlx::Error {
        let mut listener = match catalog_store::event_store::listen_for_appends(pool).await {
            Ok(listener) => listener,
            Err(err) => return err,
        };
        loop {
            if let Err(err) = listener.recv().await {
                return err;
            }
            self.appended.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// The stream of `query`'s events from `query.after` on, for as long as the client keeps
    /// up; `slot` is held until the stream is dropped.
    pub fn stream(
        self: &Arc<Self>,
        pool: PgPool,
        query: FeedQuery,
        slot: Slot,
    ) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
        let (tx, rx) = mpsc::channel(self.settings.buffer.max(1));
        let (last_tx, last_rx) = tokio::sync::oneshot::channel();
        let sent = query.after;
        tokio::spawn(read_ahead(Arc::clone(self), pool, query, tx, last_tx));
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        heartbeat.reset();
        let state = Client {
            rx,
            last: Some(last_rx),
            heartbeat,
            sent,
            _slot: slot,
            ended: false,
        };
        futures::stream::unfold(state, |mut client| async move {
            let event = client.next().await?;
            Some((Ok(event), client))
        })
    }
}

/// The client's end of one stream.
struct Client {
    rx: mpsc::Receiver<Box<FeedEvent>>,
    /// The reader's last word, when it stops before the client does.
    last: Option<tokio::sync::oneshot::Receiver<String>>,
    heartbeat: tokio::time::Interval,
    /// The position of the last event handed to the client: where it resumes.
    sent: i64,
    _slot: Slot,
    ended: bool,
}

impl Client {
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            tokio::select! {
                biased;
                // Told to stop (too slow, shutting down): the events still buffered are
                // dropped, the client resumes after the last one it received.
                said = async { self.last.as_mut().expect("taken only here").await }, if self.last.is_some() => {
                    self.last = None;
                    // The reader ended without a word (the client left): nothing to say.
                    let Ok(reason) = said else { continue };
                    self.ended = true;
                    return Some(Event::default().comment(format!(
                        "{reason}; reconnect with Last-Event-ID: {} to resume",
                        self.sent
                    )));
                }
                item = self.rx.recv() => match item {
                    Some(event) => {
                        self.heartbeat.reset();
                        self.sent = event.position;
                        return Some(sse_event(&event));
                    }
                    None => return None,
                },
                _ = self.heartbeat.tick() => return Some(Event::default().comment("heartbeat")),
            }
        }
    }
}

fn sse_event(event: &FeedEvent) -> Event {
    let data = serde_json::to_string(event).expect("a feed event always serializes");
    Event::default()
        .id(event.position.to_string())
        .event(&event.event_type)
        .data(data)
}

/// The first look again at a page that stopped at an event not yet final.
const RECHECK_HELD_BACK: Duration = Duration::from_millis(2);
/// Events read per page by a stream.
const STREAM_PAGE: i64 = 500;

/// Reads the feed ahead of the client into `tx`, until the client is gone, too slow, or the
/// process stops.
async fn read_ahead(
    streams: Arc<Streams>,
    pool: PgPool,
    mut query: FeedQuery,
    tx: mpsc::Sender<Box<FeedEvent>>,
    last: tokio::sync::oneshot::Sender<String>,
) {
    let settings = &streams.settings;
    let mut appended = streams.appended.subscribe();
    let mut closing = streams.closing.subscribe();
    let mut recheck = RECHECK_HELD_BACK;
    let mut failing = Duration::from_millis(200);
    query.limit = STREAM_PAGE;
    loop {
        if *closing.borrow() {
            let _ = last.send("closing: the server is shutting down".to_string());
            return;
        }
        appended.borrow_and_update();
        let wait = match feed::page(&pool, &query).await {
            Ok(page) => {
                let full = page.events.len() as i64 == query.limit;
                let held_back = page.held_back;
                let progressed = !page.events.is_empty();
                for event in page.events {
                    let position = event.position;
                    match tx.send_timeout(Box::new(event), settings.slow_after).await {
                        Ok(()) => query.after = position,
                        Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                            metrics::counter!("catalog_feed_streams_too_slow_total").increment(1);
                            let _ = last.send(format!(
                                "too slow: {} events were left unread for {:?}",
                                settings.buffer, settings.slow_after
                            ));
                            return;
                        }
                        Err(mpsc::error::SendTimeoutError::Closed(_)) => return,
                    }
                }
                failing = Duration::from_millis(200);
                if full {
                    continue;
                }
                if held_back {
                    // Under steady writes nearly every page stops at an event not yet final:
                    // the back-off is for a transaction that stays open, so a page that moved
                    // on starts it again, and the tail follows within milliseconds.
                    if progressed {
                        recheck = RECHECK_HELD_BACK;
                    }
                    let wait = recheck;
                    recheck = (recheck * 2).min(settings.poll);
                    wait
                } else {
                    recheck = RECHECK_HELD_BACK;
                    settings.poll
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?failing, "change feed stream cannot read; retrying");
                let wait = failing;
                failing = (failing * 2).min(Duration::from_secs(10));
                wait
            }
        };
        tokio::select! {
            _ = appended.changed() => {}
            () = tokio::time::sleep(wait) => {}
            _ = closing.changed() => {}
            () = tx.closed() => return,
        }
    }
}
