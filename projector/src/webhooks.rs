//! The webhook dispatcher (`projector webhooks`): delivers the change feed to every
//! subscription by `POST`, each subscription in position order, at least once.
//!
//! A subscription's row is its whole state: the checkpoint (`delivered_position`) moves only
//! over a batch its receiver acknowledged with a 2xx. Before a batch is sent it is recorded
//! (`pending_delivery`, `pending_through`), so a batch that a crash, a kill or a failed attempt
//! interrupts is sent again as it was — the same events, the same `Catalog-Delivery` id — and a
//! receiver dedupes by that id. Nothing is kept in memory that a restart would need.
//!
//! Every write of the dispatcher names the `revision` it read (the API bumps it on every
//! change) and the batch it is about, so a subscription changed or replayed through the API
//! meanwhile is read again, never overwritten with an outcome that belongs to its old state.
//!
//! One dispatcher is active per database, the holder of a PostgreSQL advisory lock on a
//! connection of its own; standbys wait for it. The active one wakes on `catalog_events`
//! (writers notify after their commit), on `catalog_subscriptions` (a subscription saved
//! through the API) or its poll interval, and delivers to up to
//! `WEBHOOK_CONCURRENCY` subscriptions at once, one batch at a time each.
//!
//! Receivers are outside Catalog, so they are held at arm's length: a request has a deadline,
//! redirects are not followed (a 3xx is a failure), no proxy is used, and connections are
//! only made to addresses a webhook may reach ([`catalog_store::webhooks::forbidden`]),
//! checked when the name is resolved for the connection itself, so a name that resolves
//! inward after the subscription was accepted is refused too.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use catalog_store::feed::{self, FeedEvent, FeedQuery, PAGE_MAX};
use catalog_store::webhooks::{forbidden, signature, UrlRefused};
use catalog_support::shutdown::Shutdown;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::CONTENT_TYPE;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinSet;
use uuid::Uuid;

/// How the dispatcher delivers; from the `WEBHOOK_*` settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `WEBHOOK_BATCH_SIZE`: events per `POST`, at most (1 to 1000).
    pub batch_size: i64,
    /// `WEBHOOK_TIMEOUT_SECS`: how long a receiver has to answer, connection included, before
    /// the attempt counts as failed. Also bounds how long shutdown waits for requests in flight.
    pub timeout: Duration,
    /// `WEBHOOK_RETRY_BASE_MS`: the ceiling of the first retry's delay; it doubles with every
    /// failed attempt up to `retry_max`, and each delay is drawn at random below its ceiling.
    pub retry_base: Duration,
    /// `WEBHOOK_RETRY_MAX_MS`: the highest ceiling of a retry's delay.
    pub retry_max: Duration,
    /// `WEBHOOK_PAUSE_AFTER_SECS`: a subscription failing for longer than this is paused until
    /// it is changed through the API.
    pub pause_after: Duration,
    /// `WEBHOOK_ALLOW_PRIVATE`: whether receivers may be on loopback, private and other
    /// internal addresses (development and tests only: it opens the internal network to
    /// whoever may create subscriptions).
    pub allow_private: bool,
    /// `WEBHOOK_CONCURRENCY`: subscriptions delivered to at once.
    pub concurrency: usize,
    /// `WEBHOOK_POLL_INTERVAL_MS`: how often an idle dispatcher looks for due subscriptions
    /// without a notification: the fallback when one is lost.
    pub poll_interval: Duration,
}

impl Default for Settings {
    /// The documented defaults: batches of 100, 10 s per request, retries from 1 s doubling
    /// up to 10 min, paused after 24 h of failures, internal addresses refused, 16 at once,
    /// polled every second.
    fn default() -> Self {
        Self {
            batch_size: 100,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(600),
            pause_after: Duration::from_secs(86_400),
            allow_private: false,
            concurrency: 16,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The `User-Agent` of every delivery, so a receiver's logs name the sender.
pub const USER_AGENT: &str = concat!("Catalog-Webhooks/", env!("CARGO_PKG_VERSION"));

/// Names the dispatcher's advisory lock. Advisory locks are per database, as subscriptions
/// are, so one name serves every deployment.
const LOCK_NAME: &str = "catalog-webhooks";

/// The first look again at a feed page held back by a running transaction: such a transaction
/// usually ends within milliseconds, and nothing notifies when it does.
const RECHECK_HELD_BACK: Duration = Duration::from_millis(2);

/// How often the active dispatcher checks it still holds the lock and measures every
/// subscription's lag: under load, once a second is plenty.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// At most this much of a response body is read (and thrown away), so the connection can be
/// reused; a receiver is not owed more memory than that.
const BODY_KEPT_READING: usize = 64 * 1024;

/// The longest `last_error` stored: it is shown by the API, not a place for a receiver's essay.
const ERROR_MAX_CHARS: usize = 300;

/// The HTTP client every delivery goes through: rustls, `settings.timeout` per request, no
/// redirects, no proxy (a proxy would make the connection, out of the address policy's
/// reach), and the address policy applied to every name resolved for a connection.
pub fn client(settings: &Settings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: settings.allow_private,
        }))
        .build()
}

/// Resolves names with the system resolver and keeps only the addresses a webhook may reach;
/// a name left with none is refused with [`UrlRefused::Internal`]. Checking here, at
/// connection time, rather than only when the subscription is written, is what stops a name
/// that is re-pointed inward later (DNS rebinding).
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let Some(first) = resolved.first().copied() else {
                return Err(format!("{} has no address", name.as_str()).into());
            };
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| allow_private || !forbidden(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(UrlRefused::Internal(first.ip()).into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The address of a URL whose host is an IP literal: reqwest connects to those without asking
/// the resolver, so the policy is applied to them before sending.
fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// The delay before retry number `attempt` (1 for the first retry): drawn uniformly below a
/// ceiling that starts at `base` and doubles with each attempt up to `max` ("full jitter").
/// The randomness spreads the retries of many subscriptions that fail together (one receiver
/// down behind all of them) instead of sending them back in step. `unit` is the draw, in
/// `[0, 1)`.
pub fn backoff(attempt: u32, base: Duration, max: Duration, unit: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    let ceiling = base.checked_mul(1 << doublings).unwrap_or(max).min(max);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// Runs the dispatcher until `shutdown`: waits to become the active one, then delivers.
/// Restarts after any failure (the database away, the lock's connection lost), backing off.
pub async fn run(pool: PgPool, client: reqwest::Client, settings: Settings, shutdown: Shutdown) {
    let dispatcher = Arc::new(Dispatcher {
        pool,
        client,
        settings,
        shutdown,
    });
    let mut delay = Duration::from_millis(200);
    while !dispatcher.shutdown.is_triggered() {
        let started = Instant::now();
        let result = Arc::clone(&dispatcher).run_once().await;
        metrics::gauge!("catalog_webhook_dispatcher_active").set(0.0);
        let Err(err) = result else { return };
        // A dispatcher that ran a while before failing starts its backoff afresh.
        if started.elapsed() > Duration::from_secs(30) {
            delay = Duration::from_millis(200);
        }
        tracing::warn!(error = format!("{err:#}"), retry_in = ?delay, "webhook dispatcher stopped; restarting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = dispatcher.shutdown.wait() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// What the dispatcher's tasks share.
struct Dispatcher {
    pool: PgPool,
    client: reqwest::Client,
    settings: Settings,
    shutdown: Shutdown,
}

/// A subscription as the dispatcher works on it: a due one, read afresh before every batch.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    name: String,
    url: String,
    secret: String,
    types: Vec<String>,
    delivered_position: i64,
    failures: i32,
    pending_delivery: Option<Uuid>,
    pending_through: Option<i64>,
    revision: i64,
}

/// How one subscription's turn ended.
enum Turn {
    /// Nothing (more) to send now.
    Idle,
    /// Events are stored but not yet final: look again within milliseconds.
    HeldBack,
    /// The last attempt failed; the row says when to try again.
    Failed,
}

/// One step of a subscription's turn.
enum Step {
    /// A batch was acknowledged: carry on with the next at once.
    Delivered,
    /// The row changed under the step (through the API): read it again.
    Changed,
    /// The turn is over.
    Done(Turn),
}

/// Why a delivery attempt failed, as `last_error` shows it.
#[derive(Debug)]
struct Failure(String);

impl Dispatcher {
    /// Waits for the lock, then delivers until shutdown (Ok) or a failure (Err).
    async fn run_once(self: Arc<Self>) -> anyhow::Result<()> {
        let Some(mut lock) = catalog_store::leadership::acquire(
            &self.pool,
            LOCK_NAME,
            "webhook dispatcher",
            &self.shutdown,
        )
        .await?
        else {
            return Ok(());
        };
        metrics::gauge!("catalog_webhook_dispatcher_active").set(1.0);
        let mut running = JoinSet::new();
        let led = Arc::clone(&self).lead(&mut lock, &mut running).await;
        // Whether it stops for shutdown or a failure, the requests in flight end on their own
        // (each within the request timeout) and their outcomes are recorded: cutting one off
        // would only make the next dispatcher send its batch again.
        while let Some(joined) = running.join_next().await {
            if let Err(err) = Self::finished(joined) {
                tracing::warn!(error = format!("{err:#}"), "a webhook delivery failed");
            }
        }
        led
    }

    /// The active dispatcher's loop: hands due subscriptions to tasks, at most
    /// `concurrency` at a time and one per subscription, until shutdown.
    async fn lead(
        self: Arc<Self>,
        lock: &mut PgConnection,
        running: &mut JoinSet<(String, anyhow::Result<Turn>)>,
    ) -> anyhow::Result<()> {
        let mut listener = catalog_store::event_store::listen_for_appends(&self.pool).await?;
        listener.listen(catalog_store::webhooks::CHANGED).await?;
        let mut busy: HashSet<String> = HashSet::new();
        let mut last_check: Option<Instant> = None;
        let mut held_back = false;
        let mut recheck = RECHECK_HELD_BACK;
        // Whether a round left due subscriptions waiting for a free slot.
        let mut saturated = false;
        let mut round = true;
        loop {
            if self.shutdown.is_triggered() {
                return Ok(());
            }
            if round {
                if last_check.is_none_or(|at| at.elapsed() >= CHECK_EVERY) {
                    // Still the leader? A dead lock connection means the lock may be someone
                    // else's now. (Outcomes are guarded by the rows themselves, so one round
                    // more after losing it does no harm.)
                    sqlx::query("SELECT 1")
                        .execute(&mut *lock)
                        .await
                        .context("webhook lock connection lost")?;
                    self.report_lag().await?;
                    last_check = Some(Instant::now());
                }
                let free = self.settings.concurrency.saturating_sub(busy.len());
                let due = self.due(&busy, free).await?;
                saturated = due.len() >= free;
                if !due.is_empty() {
                    held_back = false;
                }
                for name in due {
                    busy.insert(name.clone());
                    let dispatcher = Arc::clone(&self);
                    running.spawn(async move {
                        let turn = dispatcher.turn(&name).await;
                        (name, turn)
                    });
                }
            }
            let wait = if held_back {
                let wait = recheck;
                recheck = (recheck * 2).min(self.settings.poll_interval);
                wait
            } else {
                self.next_due_in(&busy).await?
            };
            round = tokio::select! {
                Some(joined) = running.join_next() => {
                    let name = joined.as_ref().ok().map(|(name, _)| name.clone());
                    match Self::finished(joined)? {
                        Turn::HeldBack => held_back = true,
                        Turn::Idle | Turn::Failed => recheck = RECHECK_HELD_BACK,
                    }
                    if let Some(name) = name {
                        busy.remove(&name);
                    }
                    // A freed slot matters only to subscriptions left waiting for one; a
                    // failed one's retry time is in its row and counted in the next wait.
                    saturated
                }
                notification = listener.recv() => {
                    notification?;
                    // One round answers every commit notified so far.
                    while listener.next_buffered().is_some() {}
                    true
                }
                () = tokio::time::sleep(wait) => true,
                () = self.shutdown.wait() => true,
            };
        }
    }

    /// A task's result: its turn, or why it failed (a panic included, so that one bad turn
    /// is reported rather than taking the dispatcher down silently).
    fn finished(
        joined: Result<(String, anyhow::Result<Turn>), tokio::task::JoinError>,
    ) -> anyhow::Result<Turn> {
        match joined {
            Ok((_, Ok(turn))) => Ok(turn),
            Ok((name, Err(err))) => Err(err.context(format!("delivering to {name}"))),
            Err(err) => Err(anyhow::anyhow!("a webhook delivery task ended: {err}")),
        }
    }

    /// Names of up to `limit` due subscriptions with something to send that no task is
    /// working on, the longest waiting first. A subscription that is caught up stays due (its
    /// `next_attempt_at` passed), so what it has to send is asked here, in one query, rather
    /// than by a task per subscription reading the feed on every notification: a pending
    /// batch, or any event past its checkpoint of a type it takes (one index probe per type,
    /// through `events_type_position_idx`). Events stored but not yet final count too; the
    /// task finds them held back and they are looked at again shortly.
    async fn due(&self, busy: &HashSet<String>, limit: usize) -> sqlx::Result<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let busy: Vec<&str> = busy.iter().map(String::as_str).collect();
        sqlx::query_scalar(
            "SELECT s.name FROM webhook_subscriptions s \
             WHERE s.status <> 'paused' AND s.next_attempt_at <= now() \
               AND NOT (s.name = ANY($1)) \
               AND (s.pending_delivery IS NOT NULL \
                    OR (cardinality(s.types) = 0 AND EXISTS ( \
                          SELECT 1 FROM events e WHERE e.position > s.delivered_position)) \
                    OR EXISTS ( \
                          SELECT 1 FROM unnest(s.types) AS t(event_type) \
                          WHERE EXISTS (SELECT 1 FROM events e \
                                        WHERE e.event_type = t.event_type \
                                          AND e.position > s.delivered_position))) \
             ORDER BY s.next_attempt_at LIMIT $2",
        )
        .bind(&busy)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
    }

    /// How long until the next retry that no task works on comes due, at most the poll
    /// interval: a retry comes due without any notification. (Subscriptions due already wait
    /// for events, which a notification or the poll announces.)
    async fn next_due_in(&self, busy: &HashSet<String>) -> sqlx::Result<Duration> {
        let busy: Vec<&str> = busy.iter().map(String::as_str).collect();
        let seconds: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 \
             FROM webhook_subscriptions \
             WHERE status <> 'paused' AND next_attempt_at > now() AND NOT (name = ANY($1))",
        )
        .bind(&busy)
        .fetch_one(&self.pool)
        .await?;
        let poll = self.settings.poll_interval;
        Ok(seconds.map_or(poll, |s| {
            Duration::try_from_secs_f64(s.max(0.0)).map_or(poll, |due| due.min(poll))
        }))
    }

    /// `catalog_webhook_lag_events`: for each subscription, the events stored past its
    /// checkpoint (with a `types` filter, events of other types count too).
    async fn report_lag(&self) -> sqlx::Result<()> {
        let head = feed::head(&self.pool).await?;
        let positions: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, delivered_position FROM webhook_subscriptions")
                .fetch_all(&self.pool)
                .await?;
        for (name, delivered) in positions {
            metrics::gauge!("catalog_webhook_lag_events", "subscription" => name)
                .set((head - delivered).max(0) as f64);
        }
        Ok(())
    }

    /// One subscription's turn: batch after batch while they are acknowledged, until there
    /// is nothing more to send, an attempt fails, or shutdown (no new batch is started then).
    async fn turn(&self, name: &str) -> anyhow::Result<Turn> {
        loop {
            if self.shutdown.is_triggered() {
                return Ok(Turn::Idle);
            }
            match self.step(name).await? {
                Step::Delivered | Step::Changed => {}
                Step::Done(turn) => return Ok(turn),
            }
        }
    }

    /// Reads the subscription, then sends its pending batch again or records and sends the
    /// next one, and records the outcome.
    async fn step(&self, name: &str) -> anyhow::Result<Step> {
        let Some(due) = self.load(name).await? else {
            return Ok(Step::Done(Turn::Idle));
        };
        let (delivery, through, events) = match (due.pending_delivery, due.pending_through) {
            (Some(delivery), Some(through)) => match self.pending_events(&due, through).await? {
                Some(events) => (delivery, through, events),
                None => return Ok(Step::Done(Turn::HeldBack)),
            },
            _ => {
                let page = feed::page(
                    &self.pool,
                    &FeedQuery {
                        after: due.delivered_position,
                        limit: self.settings.batch_size,
                        types: due.types.clone(),
                        product_id: None,
                    },
                )
                .await?;
                let Some(last) = page.events.last() else {
                    let turn = if page.held_back {
                        Turn::HeldBack
                    } else {
                        Turn::Idle
                    };
                    return Ok(Step::Done(turn));
                };
                let delivery = Uuid::new_v4();
                let through = last.position;
                if !self.record_pending(&due, delivery, through).await? {
                    return Ok(Step::Changed);
                }
                (delivery, through, page.events)
            }
        };
        if events.is_empty() {
            // A pending batch none of whose events the subscription selects any more (its
            // types changed): nothing to send, and nothing in that range to deliver later.
            return Ok(match self.acknowledge(&due, delivery, through).await? {
                true => Step::Delivered,
                false => Step::Changed,
            });
        }
        self.deliver(&due, delivery, through, &events).await
    }

    /// Sends one batch and records the outcome.
    #[tracing::instrument(skip_all, fields(subscription = %due.name, delivery = %delivery, through = through))]
    async fn deliver(
        &self,
        due: &Due,
        delivery: Uuid,
        through: i64,
        events: &[FeedEvent],
    ) -> anyhow::Result<Step> {
        let started = Instant::now();
        let sent = self.post(due, delivery, events).await;
        metrics::histogram!("catalog_webhook_delivery_seconds")
            .record(started.elapsed().as_secs_f64());
        let subscription = due.name.clone();
        match sent {
            Ok(()) => {
                if !self.acknowledge(due, delivery, through).await? {
                    // Changed through the API while the batch was out: its new state decides
                    // (a batch kept pending is sent again, with the same id).
                    return Ok(Step::Changed);
                }
                metrics::counter!("catalog_webhook_deliveries_total",
                    "subscription" => subscription.clone(), "outcome" => "delivered")
                .increment(1);
                metrics::counter!("catalog_webhook_events_delivered_total",
                    "subscription" => subscription)
                .increment(events.len() as u64);
                if due.failures > 0 {
                    tracing::info!(
                        failures = due.failures,
                        "webhook delivered again after failed attempts"
                    );
                } else {
                    tracing::debug!(events = events.len(), "webhook batch delivered");
                }
                Ok(Step::Delivered)
            }
            Err(Failure(error)) => {
                metrics::counter!("catalog_webhook_deliveries_total",
                    "subscription" => subscription, "outcome" => "failed")
                .increment(1);
                let attempt = u32::try_from(due.failures).unwrap_or(0).saturating_add(1);
                let retry_in = backoff(
                    attempt,
                    self.settings.retry_base,
                    self.settings.retry_max,
                    fastrand::f64(),
                );
                let Some(status) = self.record_failure(due, delivery, &error, retry_in).await?
                else {
                    return Ok(Step::Changed);
                };
                if status == "paused" {
                    tracing::error!(
                        subscription = %due.name,
                        attempt,
                        error = %error,
                        failing_for_over = ?self.settings.pause_after,
                        "webhook subscription paused: its receiver keeps failing; a PUT resumes it"
                    );
                } else {
                    tracing::warn!(
                        subscription = %due.name,
                        attempt,
                        error = %error,
                        ?retry_in,
                        "webhook delivery failed"
                    );
                }
                Ok(Step::Done(Turn::Failed))
            }
        }
    }

    /// The subscription, if it is still there and due.
    async fn load(&self, name: &str) -> sqlx::Result<Option<Due>> {
        sqlx::query_as(
            "SELECT name, url, secret, types, delivered_position, failures, pending_delivery, \
                    pending_through, revision \
             FROM webhook_subscriptions \
             WHERE name = $1 AND status <> 'paused' AND next_attempt_at <= now()",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// The events of the pending batch, `(delivered_position, through]` as the subscription
    /// selects them; `None` while the feed holds some of them back (it is conservative: an
    /// older transaction that took an id meanwhile holds back even final events, briefly).
    async fn pending_events(
        &self,
        due: &Due,
        through: i64,
    ) -> anyhow::Result<Option<Vec<FeedEvent>>> {
        let mut events = Vec::new();
        let mut after = due.delivered_position;
        while after < through {
            let page = feed::page(
                &self.pool,
                &FeedQuery {
                    after,
                    limit: PAGE_MAX,
                    types: due.types.clone(),
                    product_id: None,
                },
            )
            .await?;
            let next = page.next_after(after);
            let full = page.events.len() as i64 >= PAGE_MAX;
            events.extend(page.events.into_iter().filter(|e| e.position <= through));
            if next >= through {
                break;
            }
            if page.held_back {
                return Ok(None);
            }
            if !full {
                // Nothing more is stored in the range under the current filter.
                break;
            }
            after = next;
        }
        Ok(Some(events))
    }

    /// Records the batch about to be sent; false when the row changed since it was read. (A
    /// half-recorded batch, which nothing writes, would be replaced rather than block it.)
    async fn record_pending(&self, due: &Due, delivery: Uuid, through: i64) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET pending_delivery = $3, pending_through = $4 \
             WHERE name = $1 AND revision = $2 AND delivered_position = $5 \
               AND pending_delivery IS NOT DISTINCT FROM $6 \
               AND pending_through IS NOT DISTINCT FROM $7",
        )
        .bind(&due.name)
        .bind(due.revision)
        .bind(delivery)
        .bind(through)
        .bind(due.delivered_position)
        .bind(due.pending_delivery)
        .bind(due.pending_through)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the checkpoint over an acknowledged batch and clears the failure state; false
    /// when the row changed since it was read.
    async fn acknowledge(&self, due: &Due, delivery: Uuid, through: i64) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions \
             SET delivered_position = greatest(delivered_position, $4), pending_delivery = NULL, \
                 pending_through = NULL, failures = 0, failing_since = NULL, last_error = NULL, \
                 status = 'active', next_attempt_at = now() \
             WHERE name = $1 AND revision = $2 AND pending_delivery = $3",
        )
        .bind(&due.name)
        .bind(due.revision)
        .bind(delivery)
        .bind(through)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt: the retry after `retry_in`, or `paused` once the
    /// subscription has been failing for longer than `pause_after`. The new status, or `None`
    /// when the row changed since it was read.
    async fn record_failure(
        &self,
        due: &Due,
        delivery: Uuid,
        error: &str,
        retry_in: Duration,
    ) -> sqlx::Result<Option<String>> {
        // SET's expressions see the row as it was: `failing_since` below is the old value.
        sqlx::query_scalar(
            "UPDATE webhook_subscriptions SET failures = failures + 1, \
                 failing_since = coalesce(failing_since, now()), last_error = $4, \
                 status = CASE WHEN coalesce(failing_since, now()) \
                                    <= now() - $5 * interval '1 millisecond' \
                               THEN 'paused' ELSE 'retrying' END, \
                 next_attempt_at = now() + $6 * interval '1 millisecond' \
             WHERE name = $1 AND revision = $2 AND pending_delivery = $3 \
             RETURNING status",
        )
        .bind(&due.name)
        .bind(due.revision)
        .bind(delivery)
        .bind(error)
        .bind(millis(self.settings.pause_after))
        .bind(millis(retry_in))
        .fetch_optional(&self.pool)
        .await
    }

    /// One attempt: `POST`s the batch, signed; Ok on a 2xx.
    async fn post(&self, due: &Due, delivery: Uuid, events: &[FeedEvent]) -> Result<(), Failure> {
        let url = url::Url::parse(&due.url)
            .map_err(|err| Failure(format!("the subscription's URL is invalid: {err}")))?;
        if let Some(ip) = literal_ip(&url) {
            if !self.settings.allow_private && forbidden(ip) {
                return Err(Failure(format!("refused: {}", UrlRefused::Internal(ip))));
            }
        }
        let body = serde_json::to_vec(events)
            .map_err(|err| Failure(format!("the batch cannot be encoded: {err}")))?;
        let timestamp = chrono::Utc::now().timestamp();
        let response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(
                "Catalog-Signature",
                signature(&due.secret, timestamp, &body),
            )
            .header("Catalog-Delivery", delivery.to_string())
            .body(body)
            .send()
            .await
            .map_err(|err| Failure(describe(&err, self.settings.timeout)))?;
        let status = response.status();
        discard_body(response).await;
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(Failure(format!(
                "HTTP {status} (redirects are not followed)"
            )))
        } else {
            Err(Failure(format!("HTTP {status}")))
        }
    }
}

/// `last_error` for a request that got no answer: short, and naming the kind of failure.
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut innermost = err.to_string();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<UrlRefused>() {
            return format!("refused: {refused}");
        }
        innermost = cause.to_string();
        source = cause.source();
    }
    let text = if err.is_timeout() {
        format!("timed out after {timeout:?}")
    } else if err.is_connect() {
        format!("cannot connect: {innermost}")
    } else {
        format!("request failed: {innermost}")
    };
    text.chars().take(ERROR_MAX_CHARS).collect()
}

/// Reads a little of the body and drops the rest: enough for the connection to be reused
/// after the short answers receivers give, no more.
async fn discard_body(mut response: reqwest::Response) {
    let mut read = 0;
    while read < BODY_KEPT_READING {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

/// A duration in whole milliseconds, for SQL intervals.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn the_webhook_backoff_doubles_its_ceiling_up_to_the_cap() {
        assert!(backoff(1, BASE, MAX, 0.999_999) < BASE);
        assert_eq!(backoff(2, BASE, MAX, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(4, BASE, MAX, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(10, BASE, MAX, 1.0), Duration::from_secs(512));
        assert_eq!(backoff(11, BASE, MAX, 1.0), MAX);
        // Far past the cap (a day of retries), without overflow.
        assert_eq!(backoff(300, BASE, MAX, 1.0), MAX);
        assert_eq!(backoff(u32::MAX, BASE, MAX, 0.5), MAX / 2);
        assert_eq!(backoff(3, BASE, MAX, 0.0), Duration::ZERO);
    }

    #[test]
    fn the_first_webhook_retry_comes_within_five_seconds_by_default() {
        let settings = Settings::default();
        for _ in 0..1000 {
            let delay = backoff(1, settings.retry_base, settings.retry_max, fastrand::f64());
            assert!(delay < Duration::from_secs(5), "{delay:?}");
        }
    }

    #[test]
    fn webhook_urls_with_ip_literals_are_recognised() {
        let ip = |url: &str| literal_ip(&url::Url::parse(url).unwrap());
        assert_eq!(
            ip("http://127.0.0.1:9/hook"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(ip("http://[::1]/hook"), Some("::1".parse().unwrap()));
        // The URL parser normalises other spellings of an IPv4 address.
        assert_eq!(ip("http://0x7f.1/hook"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(ip("https://hooks.example.com/hook"), None);
    }

    #[tokio::test]
    async fn the_webhook_resolver_refuses_names_that_resolve_inward() {
        let refused = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        let err = match refused.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(err) => err,
        };
        assert!(
            matches!(err.downcast_ref::<UrlRefused>(), Some(UrlRefused::Internal(ip)) if ip.is_loopback()),
            "{err}"
        );
        let allowed = GuardedResolver {
            allow_private: true,
        };
        let addrs: Vec<SocketAddr> = allowed
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[tokio::test]
    async fn a_webhook_request_to_a_refused_name_says_why() {
        let settings = Settings::default();
        let client = client(&settings).unwrap();
        let err = client
            .post("http://localhost:9/hook")
            .send()
            .await
            .unwrap_err();
        let described = describe(&err, settings.timeout);
        assert!(described.starts_with("refused: "), "{described}");
        assert!(described.contains("WEBHOOK_ALLOW_PRIVATE"), "{described}");
    }
}
