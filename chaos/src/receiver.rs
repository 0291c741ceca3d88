//! A webhook receiver that fails on purpose, for the `webhooks` scenario: while failing, a
//! share of its answers are 500s and a share hang past the dispatcher's timeout, and it can be
//! taken down altogether (its port refuses connections and open ones are cut). It records every
//! batch it acknowledged, so that the scenario can prove each subscription got every event it
//! asked for, once, in order, whatever the receiver did meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use catalog_testkit::proxy::FaultProxy;
use serde_json::Value;
use sqlx::PgPool;

use crate::checks::Findings;

/// The HMAC key of every subscription the scenario makes.
pub const SECRET: &str = "whsec-chaos-receiver";
/// How long a hanging answer takes: longer than the dispatcher's timeout in the scenario
/// (`WEBHOOK_TIMEOUT_SECS=1`), so that the dispatcher gives up on it.
const HANG: Duration = Duration::from_secs(3);
/// How long the subscriptions may take to deliver everything once the receiver answers again.
const DELIVERY_LIMIT: Duration = Duration::from_secs(120);

/// One batch the receiver acknowledged with a 200.
struct Batch {
    delivery: String,
    positions: Vec<i64>,
    signed: bool,
}

struct Inner {
    failing: AtomicBool,
    rng: Mutex<fastrand::Rng>,
    /// Acknowledged batches per subscription, in the order they were acknowledged.
    batches: Mutex<HashMap<String, Vec<Batch>>>,
    errors: AtomicU64,
    hangs: AtomicU64,
}

/// The receiver, behind a proxy that can refuse and cut its connections.
pub struct Receiver {
    inner: Arc<Inner>,
    proxy: FaultProxy,
}

impl Receiver {
    /// Serves `POST /hook/{subscription}` on a loopback port; its choices come from `seed`.
    pub async fn start(seed: u64) -> Self {
        let inner = Arc::new(Inner {
            failing: AtomicBool::new(false),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            batches: Mutex::default(),
            errors: AtomicU64::new(0),
            hangs: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/hook/{subscription}", post(hook))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("the receiver binds a loopback port");
        let addr: SocketAddr = listener.local_addr().expect("a bound listener");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let proxy = FaultProxy::start(addr).await;
        Self { inner, proxy }
    }

    /// The URL a subscription named `name` delivers to.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/hook/{name}", self.proxy.addr())
    }

    /// From now on, whether answers fail: a quarter are 500s, a tenth hang, the rest are 200s.
    pub fn set_failing(&self, failing: bool) {
        self.inner.failing.store(failing, Ordering::SeqCst);
    }

    /// Takes the receiver down (connections refused, open ones cut) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.proxy.set_refusing(down);
        if down {
            self.proxy.cut();
        }
    }

    /// The failures served so far: 500s and hangs.
    pub fn failures(&self) -> (u64, u64) {
        (
            self.inner.errors.load(Ordering::SeqCst),
            self.inner.hangs.load(Ordering::SeqCst),
        )
    }

    /// Waits until every subscription in `subscriptions` (name, event types, empty for all)
    /// has delivered every matching stored event, then checks what the receiver acknowledged:
    /// each event exactly once, in position order, in batches signed with [`SECRET`]. A batch
    /// acknowledged twice under the same `Catalog-Delivery` id (its first answer was lost) is
    /// the documented at-least-once and counts once.
    pub async fn check(&self, pool: &PgPool, subscriptions: &[(&str, &[&str])], f: &mut Findings) {
        self.set_failing(false);
        self.set_down(false);
        for (name, types) in subscriptions {
            let types: Vec<String> = types.iter().map(ToString::to_string).collect();
            let expected: Vec<i64> = match sqlx::query_scalar(
                "SELECT position FROM events \
                 WHERE cardinality($1::text[]) = 0 OR event_type = ANY($1) ORDER BY position",
            )
            .bind(&types)
            .fetch_all(pool)
            .await
            {
                Ok(positions) => positions,
                Err(err) => {
                    f.note(format!("the event store did not answer: {err}"));
                    f.lost += 1;
                    return;
                }
            };
            let last = expected.last().copied().unwrap_or(0);
            if let Err(state) = delivered_through(pool, name, last).await {
                f.note(format!(
                    "subscription {name} had not delivered through position {last} after {} s: {state}",
                    DELIVERY_LIMIT.as_secs()
                ));
            }
            let batches = self.inner.batches.lock().expect("the receiver's record");
            let batches = batches.get(*name).map_or(&[][..], Vec::as_slice);
            compare(name, batches, &expected, f);
        }
    }
}

/// Checks the batches subscription `name` acknowledged against the positions it asked for.
fn compare(name: &str, batches: &[Batch], expected: &[i64], f: &mut Findings) {
    let mut seen: BTreeMap<&str, &[i64]> = BTreeMap::new();
    let mut received: Vec<i64> = Vec::new();
    for batch in batches {
        if !batch.signed {
            f.misdelivered += 1;
            f.note(format!(
                "{name}: delivery {} was not signed with the subscription's secret",
                batch.delivery
            ));
        }
        match seen.get(batch.delivery.as_str()) {
            Some(first) if *first == batch.positions.as_slice() => continue,
            Some(_) => {
                f.misdelivered += 1;
                f.note(format!(
                    "{name}: delivery {} was sent again with other events",
                    batch.delivery
                ));
                continue;
            }
            None => {
                seen.insert(&batch.delivery, &batch.positions);
            }
        }
        received.extend(&batch.positions);
    }
    if let Some(pair) = received.windows(2).find(|pair| pair[0] >= pair[1]) {
        f.misdelivered += 1;
        f.note(format!(
            "{name}: position {} was delivered after position {}",
            pair[1], pair[0]
        ));
    }
    let mut unique = received.clone();
    unique.sort_unstable();
    unique.dedup();
    let repeated = received.len() - unique.len();
    if repeated > 0 {
        f.duplicated += repeated;
        f.note(format!(
            "{name}: {repeated} events delivered again under a new delivery id"
        ));
    }
    let missing: Vec<i64> = expected
        .iter()
        .filter(|p| unique.binary_search(p).is_err())
        .copied()
        .collect();
    if let Some(first) = missing.first() {
        f.lost += missing.len();
        f.note(format!(
            "{name}: {} of {} events never delivered, the first at position {first}",
            missing.len(),
            expected.len()
        ));
    }
    let unasked = unique
        .iter()
        .filter(|p| expected.binary_search(p).is_err())
        .count();
    if unasked > 0 {
        f.misdelivered += unasked;
        f.note(format!(
            "{name}: {unasked} events delivered that the subscription did not ask for"
        ));
    }
    f.note(format!(
        "{name}: {} events in {} deliveries ({} acknowledged again)",
        unique.len(),
        seen.len(),
        batches.len() - seen.len()
    ));
}

/// Waits until subscription `name` has delivered through `last`; its state if it never did.
async fn delivered_through(pool: &PgPool, name: &str, last: i64) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + DELIVERY_LIMIT;
    loop {
        let row: Result<(i64, String, Option<String>), _> = sqlx::query_as(
            "SELECT delivered_position, status, last_error FROM webhook_subscriptions \
             WHERE name = $1",
        )
        .bind(name)
        .fetch_one(pool)
        .await;
        match row {
            Ok((delivered, _, _)) if delivered >= last => return Ok(()),
            Ok((delivered, status, error)) if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "{status} at {delivered}, last error {}",
                    error.as_deref().unwrap_or("none")
                ))
            }
            Err(err) if tokio::time::Instant::now() >= deadline => return Err(err.to_string()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn hook(
    State(inner): State<Arc<Inner>>,
    Path(subscription): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if inner.failing.load(Ordering::SeqCst) {
        let draw = inner.rng.lock().expect("the receiver's choices").f64();
        if draw < 0.25 {
            inner.errors.fetch_add(1, Ordering::SeqCst);
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        if draw < 0.35 {
            inner.hangs.fetch_add(1, Ordering::SeqCst);
            // The dispatcher has given up by the time this answers; if the connection is gone
            // the answer (and the record below) never happens, as with a receiver that died
            // mid-request.
            tokio::time::sleep(HANG).await;
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let signature = header("catalog-signature");
    let signed = signature
        .split(',')
        .find_map(|part| part.strip_prefix("t="))
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| catalog_store::webhooks::signature(SECRET, t, &body) == signature);
    let events: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
    let positions = events
        .iter()
        .filter_map(|event| event["position"].as_i64())
        .collect();
    inner
        .batches
        .lock()
        .expect("the receiver's record")
        .entry(subscription)
        .or_default()
        .push(Batch {
            delivery: header("catalog-delivery"),
            positions,
            signed,
        });
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(delivery: &str, positions: &[i64]) -> Batch {
        Batch {
            delivery: delivery.into(),
            positions: positions.to_vec(),
            signed: true,
        }
    }

    fn findings(batches: &[Batch], expected: &[i64]) -> Findings {
        let mut f = Findings::default();
        compare("s", batches, expected, &mut f);
        f
    }

    #[test]
    fn every_event_once_in_order_passes_even_when_a_batch_was_acknowledged_twice() {
        let f = findings(
            &[batch("a", &[1, 2]), batch("a", &[1, 2]), batch("b", &[5])],
            &[1, 2, 5],
        );
        assert_eq!((f.lost, f.duplicated, f.misdelivered), (0, 0, 0));
        assert_eq!(
            f.notes,
            ["s: 3 events in 2 deliveries (1 acknowledged again)"]
        );
    }

    #[test]
    fn a_skipped_event_is_lost() {
        let f = findings(&[batch("a", &[1]), batch("b", &[5])], &[1, 2, 5]);
        assert_eq!(f.lost, 1);
        assert!(f.notes[0].contains("first at position 2"), "{:?}", f.notes);
    }

    #[test]
    fn an_event_sent_again_under_a_new_id_is_duplicated() {
        let f = findings(&[batch("a", &[1, 2]), batch("b", &[2, 5])], &[1, 2, 5]);
        assert_eq!(f.duplicated, 1);
    }

    #[test]
    fn reordered_unsigned_unasked_or_changed_deliveries_are_misdelivered() {
        assert_eq!(
            findings(&[batch("a", &[2]), batch("b", &[1])], &[1, 2]).misdelivered,
            1
        );
        let mut unsigned = batch("a", &[1]);
        unsigned.signed = false;
        assert_eq!(findings(&[unsigned], &[1]).misdelivered, 1);
        assert_eq!(findings(&[batch("a", &[1, 3])], &[1]).misdelivered, 1);
        assert_eq!(
            findings(&[batch("a", &[1]), batch("a", &[1, 2])], &[1, 2]).misdelivered,
            1
        );
    }
}
