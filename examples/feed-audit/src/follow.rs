//! Following the feed over HTTP: `GET /events/stream` for the events as they come, resumed with
//! `Last-Event-ID` whenever the connection ends, and `GET /events?product_id=` for a product's
//! links before the first event of it the stream delivered.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;

use crate::chain::{Broken, Chain, Need};
use crate::event::{Aggregate, FeedEvent};

/// The first wait before reconnecting; doubled after each attempt that brings no event.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between reconnections: a query-api restart is noticed within this.
const LAST_RETRY: Duration = Duration::from_secs(10);
/// A page of `GET /events`, at the API's maximum: fewest round trips reaching back.
const PAGE_LIMIT: u32 = 1000;
/// Times an earlier link is looked for before the event needing it is reported unlinked.
/// A page can come back short while a transaction started earlier is still running (the feed
/// holds back what such a transaction could still precede), so a few tries span that.
const LINK_TRIES: u32 = 8;
/// How long one `GET /events` may take; the stream itself has no such limit.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest silence on an open stream before it is taken for dead and opened again: the
/// server sends a comment at least every 15 s, so three missed in a row. A peer that vanished
/// without closing the connection (a pulled cable, a NAT that forgot it) is noticed no other way.
const SILENCE: Duration = Duration::from_secs(45);

/// Which part of the feed to follow, and when to stop.
#[derive(Debug, Clone, Default)]
pub struct Follow {
    /// Start after this position (0: from the first event).
    pub after: i64,
    /// Only these event types; empty for all.
    pub types: Vec<String>,
    /// Only this product's events.
    pub product_id: Option<String>,
    /// Stop (successfully) after this long without an event; `None` follows forever.
    pub until_idle: Option<Duration>,
    /// Stop (successfully) after verifying this many events of the feed.
    pub max_events: Option<u64>,
}

/// What happened, as it happens, for the caller to show.
#[derive(Debug)]
pub enum Seen<'a> {
    /// The feed's next event is the next link of its aggregate's chain.
    Verified(&'a FeedEvent),
    /// The feed's next event was taken as its aggregate's link on trust: its earlier events
    /// cannot be read by id (see [`Chain::anchor`]).
    Anchored(&'a FeedEvent),
    /// The stream ended or could not be opened; it is opened again after `wait`.
    Reconnecting {
        /// The position it resumes after.
        after: i64,
        /// How long until the next attempt.
        wait: Duration,
        /// Why the last connection ended or failed.
        why: String,
    },
}

/// The totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Events of the feed verified against their aggregate's previous link.
    pub verified: u64,
    /// Earlier events read and verified to reach the first link of an aggregate.
    pub links_read: u64,
    /// Aggregates taken on trust from their first event seen.
    pub anchored: usize,
    /// Stream connections opened.
    pub connections: u32,
    /// The position of the last event handed over.
    pub last_position: i64,
}

/// Why a run stopped short.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An event does not follow what came before it.
    #[error("broken link at {0}")]
    Broken(#[from] Broken),
    /// The server answered no, in a way asking again will not change (a bad token, a bad
    /// parameter).
    #[error("{url} answered {status}: {body}")]
    Refused {
        /// The URL asked, without its query.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the answer's body (a problem+json document).
        body: String,
    },
    /// The server sent something that is not a feed event.
    #[error("the feed sent an unreadable event (id {id:?}): {why}")]
    Unreadable {
        /// The SSE `id:` of the event, or the position it was read at.
        id: String,
        /// What is wrong with it.
        why: String,
    },
    /// The feed could not be reached for longer than the idle limit.
    #[error("the feed could not be reached: {0}")]
    Unreachable(String),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
}

/// A client of one query-api's change feed.
#[derive(Clone)]
pub struct Auditor {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// Without the token: a debug print must not leak it.
impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A connection attempt's failure: worth another try, or not.
enum Failed {
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Stop(AuditError),
}

type SseStream =
    Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, EventStreamError<Cut>>> + Send>>;

/// Why a stream's bytes stopped coming.
#[derive(Debug)]
enum Cut {
    /// The connection failed.
    Failed(reqwest::Error),
    /// Nothing came, not even a heartbeat, for [`SILENCE`].
    Silent,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(err) => write!(f, "the connection failed: {}", causes(err)),
            Self::Silent => write!(f, "nothing came for {SILENCE:?}, not even a heartbeat"),
        }
    }
}

#[derive(Deserialize)]
struct Page {
    items: Vec<FeedEvent>,
    next_after: i64,
}

impl Auditor {
    /// A client of the query-api at `base` (`http://127.0.0.1:8081`), with a `catalog:audit`
    /// bearer `token`.
    pub fn new(base: &str, token: &str) -> Result<Self, AuditError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // No timeout on the whole response: a stream lasts as long as it is followed. A
            // dead one is noticed by its missing heartbeats (`SILENCE`).
            .build()
            .map_err(AuditError::Client)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// Follows the feed from `follow.after`, verifying every event, until `follow`'s limits
    /// stop it (`Ok`) or a link is broken (`Err`). Each event is shown to `seen` once it is
    /// verified; so is every reconnection.
    pub async fn audit(
        &self,
        follow: &Follow,
        mut seen: impl FnMut(Seen<'_>),
    ) -> Result<Report, AuditError> {
        let mut run = Run {
            chain: Chain::new(follow.after, !follow.types.is_empty()),
            report: Report::default(),
            idle_since: Instant::now(),
            until_idle: follow.until_idle,
        };
        let mut retry = FIRST_RETRY;
        // Why the last attempt to connect failed, if it did: idle then is an unreachable feed,
        // not a quiet one.
        let mut failing: Option<String> = None;
        loop {
            let resuming = run.report.connections > 0;
            let open = self.open(follow, run.chain.position(), resuming);
            let Some(opened) = within(run.deadline(), open).await else {
                return run.finish(failing);
            };
            let why = match opened {
                Err(Failed::Stop(err)) => return Err(err),
                Err(Failed::Retry { why, after }) => {
                    if let Some(after) = after {
                        retry = after.clamp(FIRST_RETRY, LAST_RETRY);
                    }
                    failing = Some(why.clone());
                    why
                }
                Ok(events) => {
                    failing = None;
                    run.report.connections += 1;
                    let verified = run.report.verified;
                    let Some(why) = self.read(events, follow, &mut run, &mut seen).await? else {
                        return run.finish(None);
                    };
                    // A stream that brought events is resumed at once; one that keeps ending
                    // without any is tried less and less often.
                    if run.report.verified > verified {
                        retry = FIRST_RETRY;
                    }
                    why
                }
            };
            seen(Seen::Reconnecting {
                after: run.chain.position(),
                wait: retry,
                why,
            });
            if within(run.deadline(), tokio::time::sleep(retry))
                .await
                .is_none()
            {
                return run.finish(failing);
            }
            retry = (retry * 2).min(LAST_RETRY);
        }
    }

    /// Verifies the events of one open stream until it ends (`Some(why)`) or `follow`'s limits
    /// are reached (`None`).
    async fn read(
        &self,
        mut events: SseStream,
        follow: &Follow,
        run: &mut Run,
        seen: &mut impl FnMut(Seen<'_>),
    ) -> Result<Option<String>, AuditError> {
        loop {
            let Some(next) = within(run.deadline(), events.next()).await else {
                return Ok(None);
            };
            let sse = match next {
                None => return Ok(Some("the server ended the stream".to_owned())),
                Some(Err(EventStreamError::Transport(cut))) => return Ok(Some(cut.to_string())),
                Some(Err(err)) => {
                    return Err(AuditError::Unreadable {
                        id: run.chain.position().to_string(),
                        why: format!("not a Server-Sent Events stream: {err}"),
                    })
                }
                Some(Ok(sse)) => sse,
            };
            let event = parse(&sse)?;
            self.check(run, &event, seen).await?;
            run.idle_since = Instant::now();
            if follow
                .max_events
                .is_some_and(|max| run.report.verified >= max)
            {
                return Ok(None);
            }
        }
    }

    /// Verifies the feed's next event, reading its aggregate's earlier links first if the
    /// chain needs them.
    async fn check(
        &self,
        run: &mut Run,
        event: &FeedEvent,
        seen: &mut impl FnMut(Seen<'_>),
    ) -> Result<(), AuditError> {
        if let Need::Links { after, through } = run.chain.needs(event) {
            match &event.product_id {
                Some(product) => {
                    let aggregate = event.aggregate();
                    run.report.links_read += self
                        .read_links(&mut run.chain, &aggregate, product, after, through)
                        .await?;
                }
                // Only products can be asked for by id: the rest is taken as it comes.
                None => {
                    run.chain.anchor(event)?;
                    seen(Seen::Anchored(event));
                    return Ok(());
                }
            }
        }
        run.chain.verify(event)?;
        run.report.verified += 1;
        seen(Seen::Verified(event));
        Ok(())
    }

    /// Reads and verifies `product`'s events past position `after` through sequence
    /// `through`; how many. Stops early when they are not there: the event that needed them
    /// is then reported unlinked, or a gap, by the chain.
    async fn read_links(
        &self,
        chain: &mut Chain,
        aggregate: &Aggregate,
        product: &str,
        mut after: i64,
        through: i64,
    ) -> Result<u64, AuditError> {
        let mut read = 0;
        let mut tries = 0;
        let mut wait = FIRST_RETRY;
        while chain.last_sequence(aggregate).unwrap_or(0) < through {
            let page = match self.page(product, after).await {
                Ok(page) if !page.items.is_empty() => page,
                Ok(_) | Err(Failed::Retry { .. }) if tries < LINK_TRIES => {
                    tries += 1;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LAST_RETRY);
                    continue;
                }
                Ok(_) => break,
                Err(Failed::Retry { why, .. }) => return Err(AuditError::Unreachable(why)),
                Err(Failed::Stop(err)) => return Err(err),
            };
            for item in &page.items {
                if item.sequence > through {
                    return Ok(read);
                }
                chain.verify_link(item)?;
                read += 1;
            }
            after = page.next_after;
        }
        Ok(read)
    }

    /// One page of `product`'s events past `after`.
    async fn page(&self, product: &str, after: i64) -> Result<Page, Failed> {
        let url = format!("{}/events", self.base);
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .query(&[
                ("product_id", product.to_owned()),
                ("after", after.to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ])
            .timeout(PAGE_TIMEOUT)
            .send()
            .await
            .map_err(|err| Failed::Retry {
                why: causes(&err),
                after: None,
            })?;
        let response = accepted(&url, response).await?;
        let body = response.text().await.map_err(|err| Failed::Retry {
            why: causes(&err),
            after: None,
        })?;
        serde_json::from_str(&body).map_err(|err| {
            Failed::Stop(AuditError::Unreadable {
                id: format!("page after {after}"),
                why: err.to_string(),
            })
        })
    }

    /// Opens the stream past `after`. `resuming` says so with `Last-Event-ID`, as any SSE
    /// client does on reconnecting: the server takes it over `after`.
    async fn open(&self, follow: &Follow, after: i64, resuming: bool) -> Result<SseStream, Failed> {
        let url = format!("{}/events/stream", self.base);
        let mut query = vec![("after", after.to_string())];
        if !follow.types.is_empty() {
            query.push(("types", follow.types.join(",")));
        }
        if let Some(product) = &follow.product_id {
            query.push(("product_id", product.clone()));
        }
        let mut request = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .query(&query);
        if resuming {
            request = request.header("Last-Event-ID", after.to_string());
        }
        let response = request.send().await.map_err(|err| Failed::Retry {
            why: causes(&err),
            after: None,
        })?;
        let response = accepted(&url, response).await?;
        // `chunk()` in a loop: the bytes `bytes_stream()` would give, without depending on
        // reqwest's `stream` feature being on in the workspace.
        let bytes = futures::stream::try_unfold(response, |mut response| async move {
            let chunk = tokio::time::timeout(SILENCE, response.chunk())
                .await
                .map_err(|_| Cut::Silent)?
                .map_err(Cut::Failed)?;
            Ok(chunk.map(|chunk| (chunk, response)))
        });
        Ok(Box::pin(bytes.eventsource()))
    }
}

/// The response when it is a success; otherwise whether to try again.
async fn accepted(url: &str, response: reqwest::Response) -> Result<reqwest::Response, Failed> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .map(Duration::from_secs);
    let body: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect();
    // Too many streams for the token (429), a restart or an overloaded server (5xx): passes.
    // Anything else (401, 403, 422) is the same the next time.
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(Failed::Retry {
            why: format!("{url} answered {status}: {body}"),
            after: retry_after,
        });
    }
    Err(Failed::Stop(AuditError::Refused {
        url: url.to_owned(),
        status,
        body,
    }))
}

/// The feed event an SSE event carries, checked against the SSE fields that repeat it.
fn parse(sse: &eventsource_stream::Event) -> Result<FeedEvent, AuditError> {
    let unreadable = |why: String| AuditError::Unreadable {
        id: sse.id.clone(),
        why,
    };
    let event: FeedEvent =
        serde_json::from_str(&sse.data).map_err(|err| unreadable(err.to_string()))?;
    if sse.id != event.position.to_string() || sse.event != event.event_type {
        return Err(unreadable(format!(
            "its SSE id and event ({:?}, {:?}) are not its position and type ({}, {:?})",
            sse.id, sse.event, event.position, event.event_type
        )));
    }
    Ok(event)
}

/// One run's state across its connections.
struct Run {
    chain: Chain,
    report: Report,
    /// When the last event arrived (or the run started).
    idle_since: Instant,
    until_idle: Option<Duration>,
}

impl Run {
    /// When the run ends for want of events, if it does.
    fn deadline(&self) -> Option<Instant> {
        self.until_idle.map(|limit| self.idle_since + limit)
    }

    /// The report of a run that stopped where it should, or the reason it could not go on.
    fn finish(mut self, failing: Option<String>) -> Result<Report, AuditError> {
        if let Some(why) = failing {
            return Err(AuditError::Unreachable(why));
        }
        self.report.anchored = self.chain.anchored();
        self.report.last_position = self.chain.position();
        Ok(self.report)
    }
}

/// `err` and its causes: reqwest's own message leaves out why (refused, reset, timed out).
fn causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `future`'s output, or `None` once `deadline` passes first.
async fn within<F: std::future::Future>(deadline: Option<Instant>, future: F) -> Option<F::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, future).await.ok(),
        None => Some(future.await),
    }
}
