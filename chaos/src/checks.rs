//! What must hold after every scenario, once the system is quiet again: every acknowledged
//! command's event is stored exactly once, both read models match a replay of the event store,
//! every image reached ready or failed with its blobs in place and no blob left over, and
//! nothing sits unexplained in a dead-letter queue.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use catalog_store::broker::{Topology, CONSUMERS};
use catalog_testkit::system::System;
use catalog_testkit::PRODUCTS_BEHIND;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use sqlx::PgPool;

use crate::workload::Record;

/// How long the system may take to become quiet after the load stops.
const QUIET_LIMIT: Duration = Duration::from_secs(180);

#[derive(Debug, Default, Clone)]
pub struct Findings {
    pub acknowledged: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub mismatches: usize,
    /// Products whose stock went below zero at some event.
    pub negative_stock: usize,
    pub stuck_images: usize,
    pub missing_blobs: usize,
    pub orphan_blobs: usize,
    pub dead_letters: u32,
    /// Webhook deliveries out of order, badly signed, or holding events the subscription did
    /// not ask for (events lost or repeated count as lost or duplicated).
    pub misdelivered: usize,
    pub stale_reads: u64,
    pub unknown: u64,
    pub server_errors: u64,
    /// Probes after a fault whose write was never acknowledged, or never readable through
    /// query-api, within their limit: the system did not recover from the fault.
    pub failed_probes: usize,
    /// Whether the read models and images settled within [`QUIET_LIMIT`]; the invariants are
    /// only meaningful once they have.
    pub settled: bool,
    /// How long the read models took to catch up once the load stopped.
    pub caught_up_after: Duration,
    /// How long until, in addition, every image was rendered and every upload settled.
    pub quiet_after: Duration,
    pub notes: Vec<String>,
}

impl Findings {
    /// A scenario passes only when the workload got commands through (without any, nothing
    /// was put to the test), the system settled, and every invariant holds.
    pub fn passed(&self) -> bool {
        self.acknowledged > 0
            && self.settled
            && self.failed_probes == 0
            && self.lost == 0
            && self.duplicated == 0
            && self.mismatches == 0
            && self.negative_stock == 0
            && self.stuck_images == 0
            && self.missing_blobs == 0
            && self.orphan_blobs == 0
            && self.dead_letters == 0
            && self.misdelivered == 0
            && self.stale_reads == 0
            && self.server_errors == 0
            && self.unknown == 0
    }

    pub fn note(&mut self, note: String) {
        if self.notes.len() < 20 {
            self.notes.push(note);
        }
    }
}

/// Waits for quiescence and checks every invariant.
pub async fn check(system: &System, record: &Record) -> Findings {
    let mut findings = Findings {
        acknowledged: record.acks.len(),
        stale_reads: record.stale_reads,
        unknown: record.unknown,
        server_errors: record.server_errors,
        ..Findings::default()
    };
    if findings.acknowledged == 0 {
        findings.note("no command was acknowledged: the scenario tested nothing".into());
    }
    for surprise in &record.surprises {
        findings.note(surprise.clone());
    }
    match quiet(&system.pool).await {
        Some(times) => {
            findings.settled = true;
            (findings.caught_up_after, findings.quiet_after) = times;
        }
        None => {
            findings.note(format!(
                "the read models and images did not settle within {} s",
                QUIET_LIMIT.as_secs()
            ));
            findings.caught_up_after = QUIET_LIMIT;
            findings.quiet_after = QUIET_LIMIT;
        }
    }
    acknowledged_exactly_once(&system.pool, record, &mut findings).await;
    stock_never_negative(&system.pool, &mut findings).await;
    variant_stock_projected(&system.pool, &mut findings).await;
    verify(system, &mut findings).await;
    images(system, &mut findings).await;
    dead_letters(system, &mut findings).await;
    findings
}

/// Waits until the PostgreSQL read model holds every product at its last event, no image is
/// processing any more and every upload is settled (a dead upload's intent is swept once it is
/// older than the services' request limit). Redis is compared by `projector verify` afterwards.
async fn quiet(pool: &PgPool) -> Option<(Duration, Duration)> {
    let started = Instant::now();
    let mut caught_up = None;
    while started.elapsed() < QUIET_LIMIT {
        let settled: Result<(i64, i64, i64), _> = sqlx::query_as(&format!(
            "SELECT ({PRODUCTS_BEHIND}), \
                    (SELECT count(*) FROM product_image_view WHERE status = 'processing'), \
                    (SELECT count(*) FROM upload_intents)"
        ))
        .fetch_one(pool)
        .await;
        if let Ok((behind, processing, intents)) = settled {
            if behind == 0 && caught_up.is_none() {
                caught_up = Some(started.elapsed());
            }
            if let (Some(caught_up), 0, 0) = (caught_up, processing, intents) {
                return Some((caught_up, started.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

async fn acknowledged_exactly_once(pool: &PgPool, record: &Record, findings: &mut Findings) {
    // The image worker's events carry the upload's ids too (one trace per image); they are
    // the worker's own commands, not a second copy of the upload.
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT metadata->>'request_id', aggregate_id, sequence FROM events \
         WHERE metadata ? 'request_id' \
           AND event_type NOT IN ('ImageProcessed', 'ImageProcessingFailed')",
    )
    .fetch_all(pool)
    .await
    .expect("the event store answers");
    let mut stored: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    for (request_id, product, sequence) in rows {
        if let Some(request_id) = request_id {
            stored
                .entry(request_id)
                .or_default()
                .push((product, sequence as u64));
        }
    }
    for ack in &record.acks {
        match stored.get(&ack.request_id).map(Vec::as_slice) {
            None | Some([]) => {
                findings.lost += 1;
                findings.note(format!(
                    "lost: {:?} on {} acknowledged at version {} (request {})",
                    ack.kind, ack.product, ack.version, ack.request_id
                ));
            }
            Some([(product, version)]) => {
                if *product != ack.product || *version != ack.version {
                    findings.lost += 1;
                    findings.note(format!(
                        "request {} was acknowledged as {}@{} but stored as {product}@{version}",
                        ack.request_id, ack.product, ack.version
                    ));
                }
            }
            Some(many) => {
                findings.duplicated += many.len() - 1;
                findings.note(format!(
                    "duplicated: request {} ({:?}) stored {} times: {many:?}",
                    ack.request_id,
                    ack.kind,
                    many.len()
                ));
            }
        }
    }
}

/// The stock an event leaves its variant with (payloads are tagged with the event's type): the
/// master's for `ProductCreated` and `StockAdjusted`.
pub const STOCK: &str = "COALESCE(payload->'StockAdjusted'->>'stock', \
                         payload->'ProductCreated'->>'stock', \
                         payload->'VariantAdded'->>'stock', \
                         payload->'VariantStockAdjusted'->>'stock')::bigint";

/// The variant whose stock an event of [`STOCK_EVENTS`] sets.
const VARIANT: &str = "COALESCE(payload->'VariantAdded'->>'variant_id', \
                       payload->'VariantStockAdjusted'->>'variant_id', 'master')";

/// The events that set a variant's stock.
const STOCK_EVENTS: &str =
    "('ProductCreated', 'StockAdjusted', 'VariantAdded', 'VariantStockAdjusted')";

async fn stock_never_negative(pool: &PgPool, findings: &mut Findings) {
    let negative: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT aggregate_id, {VARIANT}, min({STOCK}) FROM events \
         WHERE event_type IN {STOCK_EVENTS} \
         GROUP BY aggregate_id, {VARIANT} HAVING min({STOCK}) < 0"
    ))
    .fetch_all(pool)
    .await
    .expect("the event store answers");
    findings.negative_stock = negative.len();
    for (product, variant, min) in negative {
        findings.note(format!(
            "stock of {product}'s variant {variant} went down to {min}"
        ));
    }
}

/// Every variant's stock in the PostgreSQL read model is the one its last stock event left.
async fn variant_stock_projected(pool: &PgPool, findings: &mut Findings) {
    let differing: Vec<(String, String, Option<i64>, i64)> = sqlx::query_as(&format!(
        "WITH latest AS ( \
           SELECT DISTINCT ON (aggregate_id, {VARIANT}) aggregate_id, {VARIANT} AS variant, \
                  {STOCK} AS stock \
           FROM events WHERE event_type IN {STOCK_EVENTS} \
           ORDER BY aggregate_id, {VARIANT}, sequence DESC) \
         SELECT l.aggregate_id, l.variant, (v->>'stock')::bigint, l.stock FROM latest l \
         JOIN product_view p ON p.id = l.aggregate_id \
         LEFT JOIN LATERAL jsonb_array_elements(p.doc->'variants') v ON v->>'id' = l.variant \
         WHERE p.status <> 'archived' \
           AND (v->>'stock')::bigint IS DISTINCT FROM l.stock \
           AND NOT EXISTS (SELECT 1 FROM events r WHERE r.aggregate_id = l.aggregate_id \
                           AND r.event_type = 'VariantRemoved' \
                           AND r.payload->'VariantRemoved'->>'variant_id' = l.variant)"
    ))
    .fetch_all(pool)
    .await
    .expect("the event store and the read model answer");
    findings.mismatches += differing.len();
    for (product, variant, projected, stored) in differing.into_iter().take(5) {
        findings.note(format!(
            "variant {variant} of {product}: stock {projected:?} in the read model, {stored} stored"
        ));
    }
}

/// `projector verify`: both read models against a replay, and the hash chains.
async fn verify(system: &System, findings: &mut Findings) {
    match system
        .run_tool("projector", &["verify"], Duration::from_secs(300))
        .await
    {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let summary = stdout
                .lines()
                .find_map(|l| l.strip_suffix(" mismatches"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<usize>().ok());
            match (output.status.success(), summary) {
                (true, Some(0)) => {}
                (_, Some(n)) if n > 0 => {
                    findings.mismatches = n;
                    for line in stdout.lines().take(5) {
                        findings.note(format!("verify: {line}"));
                    }
                }
                _ => {
                    findings.mismatches = findings.mismatches.max(1);
                    findings.note(format!(
                        "projector verify failed ({}): {stdout} {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr)
                    ));
                }
            }
        }
        Err(err) => {
            findings.mismatches = 1;
            findings.note(format!("projector verify did not run: {err}"));
        }
    }
}

/// Images: none stuck in processing, every ready image's blobs present, and no blob that no
/// current image owns (the image worker deletes a removed image's blobs).
async fn images(system: &System, findings: &mut Findings) {
    let rows: Vec<(String, String, serde_json::Value)> =
        sqlx::query_as("SELECT image_id, status, renditions FROM product_image_view")
            .fetch_all(&system.pool)
            .await
            .expect("the read model answers");
    let mut current = HashSet::new();
    for (image_id, status, renditions) in rows {
        match status.as_str() {
            "processing" => {
                findings.stuck_images += 1;
                findings.note(format!("image {image_id} is stuck in processing"));
            }
            "ready" => {
                let keys = renditions
                    .as_object()
                    .into_iter()
                    .flat_map(|r| r.values())
                    .flat_map(|r| [r["webp_key"].as_str(), r["jpeg_key"].as_str()])
                    .flatten();
                for key in keys {
                    if !system.blob_dir().join(key).exists() {
                        findings.missing_blobs += 1;
                        findings.note(format!("image {image_id}: {key} is missing"));
                    }
                }
            }
            _ => {}
        }
        current.insert(image_id);
    }
    for image_id in stored_images(&system.blob_dir().join("images")) {
        if !current.contains(&image_id) {
            findings.orphan_blobs += 1;
            findings.note(format!("blobs of image {image_id} belong to no image"));
        }
    }
}

fn stored_images(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

async fn dead_letters(system: &System, findings: &mut Findings) {
    let topology = Topology::new(&system.namespace);
    let connection = match catalog_store::broker::connect(system.var("AMQP_URL")).await {
        Ok(connection) => connection,
        Err(err) => {
            findings.note(format!("the dead-letter queues could not be read: {err}"));
            findings.dead_letters = 1;
            return;
        }
    };
    for consumer in CONSUMERS {
        let channel = connection.create_channel().await.expect("a channel");
        let queue = topology.dead_queue(&consumer);
        let declared = channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        if let Ok(queue_state) = declared {
            let count = queue_state.message_count();
            if count > 0 {
                findings.dead_letters += count;
                findings.note(format!("{queue} holds {count} dead-lettered messages"));
            }
        }
    }
    let _ = connection.close(200, "checked".into()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> Findings {
        Findings {
            acknowledged: 10,
            settled: true,
            ..Findings::default()
        }
    }

    #[test]
    fn a_scenario_that_tested_nothing_or_never_recovered_fails() {
        assert!(clean().passed());
        let nothing = Findings {
            acknowledged: 0,
            ..clean()
        };
        assert!(!nothing.passed(), "nothing acknowledged");
        let unsettled = Findings {
            settled: false,
            ..clean()
        };
        assert!(!unsettled.passed(), "never settled");
        let unanswered = Findings {
            failed_probes: 1,
            ..clean()
        };
        assert!(!unanswered.passed(), "a probe never read its write");
    }
}
