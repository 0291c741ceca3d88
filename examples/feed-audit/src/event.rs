//! One event of the change feed as it arrives (`GET /events`' items, `GET /events/stream`'s
//! `data:`), and its link in the hash chain recomputed from what it carries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The fields of a feed event that locate it and that its hash covers; the feed's other
/// fields (`actor`, `correlation_id`, `causation_id`) are copies of `metadata`'s, which the
/// hash covers as text.
#[derive(Debug, Clone, Deserialize)]
pub struct FeedEvent {
    /// Its place in the feed.
    pub position: i64,
    /// The product it belongs to; `None` for another aggregate's (a product type's) events,
    /// which the feed cannot be asked for by id.
    pub product_id: Option<String>,
    /// `Product` or `ProductType`.
    pub aggregate_type: String,
    /// The aggregate's id within its type.
    pub aggregate_id: String,
    /// The aggregate's version after this event, from 1.
    pub sequence: i64,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The version of the event type's shape.
    pub event_version: String,
    /// The event's data as PostgreSQL printed it. Raw, because the hash covers that exact
    /// text: parsing and printing it again would change spacing and escapes.
    pub data: Box<RawValue>,
    /// When it was stored.
    pub recorded_at: DateTime<Utc>,
    /// The event's stable id.
    pub event_id: uuid::Uuid,
    /// The event's metadata as PostgreSQL printed it; raw for the same reason as `data`.
    pub metadata: Box<RawValue>,
    /// Its link: SHA-256 over its content and the previous link of its aggregate.
    #[serde(deserialize_with = "hex_32")]
    pub hash: [u8; 32],
}

impl FeedEvent {
    /// The hash this event must carry when `previous` is the link before it (`None` for an
    /// aggregate's first event): `catalog_event_hash` of the event-hash-chain migration,
    /// byte for byte.
    pub fn expected_hash(&self, previous: Option<&[u8; 32]>) -> [u8; 32] {
        let sequence = self.sequence.to_string();
        let event_id = self.event_id.hyphenated().to_string();
        // PostgreSQL's `to_char(.. AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`: always
        // six fractional digits and no zone, where RFC 3339 on the wire may carry fewer.
        let recorded_at = self.recorded_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        let fields = [
            self.aggregate_type.as_str(),
            &self.aggregate_id,
            &sequence,
            &self.event_type,
            &self.event_version,
            self.data.get(),
            self.metadata.get(),
            &event_id,
            &recorded_at,
        ];
        // 0x00 after the previous link and 0x01 between fields, as the SQL function does (its
        // comment speaks of NUL bytes throughout; `chr(1)` is what it hashes).
        let mut hasher = Sha256::new();
        if let Some(previous) = previous {
            hasher.update(previous);
        }
        hasher.update([0x00]);
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                hasher.update([0x01]);
            }
            hasher.update(field.as_bytes());
        }
        hasher.finalize().into()
    }

    /// Where it belongs: its aggregate's type and id.
    pub fn aggregate(&self) -> Aggregate {
        Aggregate {
            kind: self.aggregate_type.clone(),
            id: self.aggregate_id.clone(),
        }
    }
}

/// An aggregate: its type (`Product`, `ProductType`) and its id within that type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Aggregate {
    /// `Product` or `ProductType`.
    pub kind: String,
    /// The product's id, or the product type's key.
    pub id: String,
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

fn hex_32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
    let text = String::deserialize(deserializer)?;
    let mut bytes = [0; 32];
    hex::decode_to_slice(&text, &mut bytes).map_err(|err| {
        serde::de::Error::custom(format_args!("hash {text:?} is not 64 hex digits: {err}"))
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(recorded_at: &str) -> FeedEvent {
        serde_json::from_value(serde_json::json!({
            "position": 7, "product_id": null, "aggregate_type": "ProductType",
            "aggregate_id": "mug", "sequence": 1, "type": "ProductTypeDefined",
            "event_version": "1", "data": {}, "recorded_at": recorded_at,
            "event_id": "0b5c4a62-5c55-4f5e-9d3c-7b1f52b1c0de", "metadata": {},
            "hash": "00".repeat(32),
        }))
        .expect("a valid event")
    }

    #[test]
    fn the_time_is_hashed_in_utc_with_six_fractional_digits_whatever_the_wire_carried() {
        let whole = event("2026-03-01T00:00:00Z");
        let same_instant = event("2026-03-01T01:00:00.000000+01:00");
        assert_eq!(whole.expected_hash(None), same_instant.expected_hash(None));
        let a_microsecond_later = event("2026-03-01T00:00:00.000001Z");
        assert_ne!(
            whole.expected_hash(None),
            a_microsecond_later.expected_hash(None)
        );
    }

    #[test]
    fn a_hash_that_is_not_64_hex_digits_is_refused_by_name() {
        let mut value = serde_json::json!({
            "position": 1, "product_id": null, "aggregate_type": "ProductType",
            "aggregate_id": "mug", "sequence": 1, "type": "ProductTypeDefined",
            "event_version": "1", "data": {}, "recorded_at": "2026-03-01T00:00:00Z",
            "event_id": "0b5c4a62-5c55-4f5e-9d3c-7b1f52b1c0de", "metadata": {},
        });
        value["hash"] = "abc".into();
        let err = serde_json::from_value::<FeedEvent>(value).unwrap_err();
        assert!(err.to_string().contains("hash \"abc\""), "{err}");
    }
}
