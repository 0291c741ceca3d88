//! The verifier: the last link of every aggregate seen so far, and the checks each new event
//! must pass against it. No IO: the caller feeds it events, and fetches what [`Chain::needs`]
//! asks for before it hands over the event that needs it.

use std::collections::{HashMap, HashSet};

use crate::event::{Aggregate, FeedEvent};

/// The last verified link of one aggregate.
#[derive(Debug, Clone, Copy)]
struct Link {
    sequence: i64,
    position: i64,
    hash: [u8; 32],
}

/// A broken link: the first event that does not follow what came before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// The feed went backwards or repeated itself: it promises strictly increasing positions.
    #[error(
        "position {position} ({aggregate} sequence {sequence}) came after position {previous}: \
         the feed's positions must increase"
    )]
    PositionNotIncreasing {
        /// The event's position.
        position: i64,
        /// The position of the event before it in the feed.
        previous: i64,
        /// The event's aggregate.
        aggregate: Aggregate,
        /// The event's sequence.
        sequence: i64,
    },
    /// Sequences skipped: an event of the aggregate is missing.
    #[error(
        "position {position}: {aggregate} jumps from sequence {last} to {sequence}: \
         an event is missing"
    )]
    Gap {
        /// The event's position.
        position: i64,
        /// The event's aggregate.
        aggregate: Aggregate,
        /// The last sequence verified.
        last: i64,
        /// The event's sequence.
        sequence: i64,
    },
    /// A sequence seen again, or an older one after a newer one.
    #[error(
        "position {position}: {aggregate} sequence {sequence} comes after sequence {last}: \
         an event is repeated or out of order"
    )]
    Repeat {
        /// The event's position.
        position: i64,
        /// The event's aggregate.
        aggregate: Aggregate,
        /// The last sequence verified.
        last: i64,
        /// The event's sequence.
        sequence: i64,
    },
    /// The event's hash is not the one its content and the previous link give: this event,
    /// or the one before it, was altered after it was stored.
    #[error(
        "position {position}: {aggregate} sequence {sequence}: hash mismatch: the feed says \
         {stated}, its content gives {computed}: the event or its chain was altered"
    )]
    HashMismatch {
        /// The event's position.
        position: i64,
        /// The event's aggregate.
        aggregate: Aggregate,
        /// The event's sequence.
        sequence: i64,
        /// The hash the event carries, hex.
        stated: String,
        /// The hash recomputed from its content and the previous link, hex.
        computed: String,
    },
    /// The first event of an aggregate seen is past sequence 1 and its earlier links were not
    /// found, so nothing vouches for it.
    #[error(
        "position {position}: {aggregate} sequence {sequence} has no earlier link to verify it \
         against (sequence {} could not be read)",
        .sequence - 1
    )]
    Unlinked {
        /// The event's position.
        position: i64,
        /// The event's aggregate.
        aggregate: Aggregate,
        /// The event's sequence.
        sequence: i64,
    },
}

impl Broken {
    /// The position of the event that broke the chain.
    pub fn position(&self) -> i64 {
        match self {
            Self::PositionNotIncreasing { position, .. }
            | Self::Gap { position, .. }
            | Self::Repeat { position, .. }
            | Self::HashMismatch { position, .. }
            | Self::Unlinked { position, .. } => *position,
        }
    }
}

/// What the chain needs before an event can be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing: verify it.
    Nothing,
    /// The aggregate's events after `after` (a position, 0 for its beginning) up to sequence
    /// `through`, each through [`Chain::verify_link`], then the event itself.
    Links {
        /// Read the aggregate's events past this position.
        after: i64,
        /// Up to and including this sequence: the one before the event's.
        through: i64,
    },
}

/// The hash chains of every aggregate seen, and the feed's order.
#[derive(Debug)]
pub struct Chain {
    heads: HashMap<Aggregate, Link>,
    /// The last position of the feed itself: the events the caller was handed in order.
    position: i64,
    /// Whether the feed was asked for some event types only, so an aggregate's sequences
    /// legitimately skip the other types' events.
    filtered: bool,
    anchored: HashSet<Aggregate>,
}

impl Chain {
    /// A chain for a feed read past `after`; `filtered` when it was asked for some event types
    /// only.
    pub fn new(after: i64, filtered: bool) -> Self {
        Self {
            heads: HashMap::new(),
            position: after,
            filtered,
            anchored: HashSet::new(),
        }
    }

    /// The position of the last event of the feed handed over: where to resume.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// The aggregates whose chains were taken on trust from their first event seen (see
    /// [`Chain::anchor`]).
    pub fn anchored(&self) -> usize {
        self.anchored.len()
    }

    /// The last sequence verified of `aggregate`, if any.
    pub fn last_sequence(&self, aggregate: &Aggregate) -> Option<i64> {
        self.heads.get(aggregate).map(|link| link.sequence)
    }

    /// What must be read before `event` can be verified. An aggregate first seen past
    /// sequence 1 (the feed was read from a later position) needs its earlier links; so does
    /// one whose sequences skip, but only when the feed was filtered by type: unfiltered, a
    /// skip is a missing event, which [`Chain::verify`] reports.
    pub fn needs(&self, event: &FeedEvent) -> Need {
        match self.heads.get(&event.aggregate()) {
            None if event.sequence > 1 => Need::Links {
                after: 0,
                through: event.sequence - 1,
            },
            Some(head) if self.filtered && event.sequence > head.sequence + 1 => Need::Links {
                after: head.position,
                through: event.sequence - 1,
            },
            _ => Need::Nothing,
        }
    }

    /// Verifies the feed's next event: its position follows the last one, and it is the next
    /// link of its aggregate's chain.
    pub fn verify(&mut self, event: &FeedEvent) -> Result<(), Broken> {
        self.check_position(event)?;
        self.verify_link(event)?;
        self.position = event.position;
        Ok(())
    }

    /// Verifies an earlier event of an aggregate, read to reach back from the feed's next one
    /// (what [`Need::Links`] asks for): only its link, as it lies behind the feed's position.
    pub fn verify_link(&mut self, event: &FeedEvent) -> Result<(), Broken> {
        let aggregate = event.aggregate();
        let previous = match self.heads.get(&aggregate) {
            Some(head) if event.sequence == head.sequence + 1 => Some(head.hash),
            Some(head) if event.sequence <= head.sequence => {
                return Err(Broken::Repeat {
                    position: event.position,
                    aggregate,
                    last: head.sequence,
                    sequence: event.sequence,
                })
            }
            Some(head) => {
                return Err(Broken::Gap {
                    position: event.position,
                    aggregate,
                    last: head.sequence,
                    sequence: event.sequence,
                })
            }
            None if event.sequence == 1 => None,
            None => {
                return Err(Broken::Unlinked {
                    position: event.position,
                    aggregate,
                    sequence: event.sequence,
                })
            }
        };
        let computed = event.expected_hash(previous.as_ref());
        if computed != event.hash {
            return Err(Broken::HashMismatch {
                position: event.position,
                aggregate,
                sequence: event.sequence,
                stated: hex::encode(event.hash),
                computed: hex::encode(computed),
            });
        }
        self.heads.insert(aggregate, link(event));
        Ok(())
    }

    /// Takes the feed's next event as its aggregate's link without checking its hash: for an
    /// aggregate whose earlier events cannot be read by id (a product type's), first seen past
    /// sequence 1 or, in a feed filtered by type, after a skip. Its later events are verified
    /// against it; the aggregate is counted in [`Chain::anchored`].
    pub fn anchor(&mut self, event: &FeedEvent) -> Result<(), Broken> {
        self.check_position(event)?;
        let aggregate = event.aggregate();
        if let Some(head) = self.heads.get(&aggregate) {
            if event.sequence <= head.sequence {
                return Err(Broken::Repeat {
                    position: event.position,
                    aggregate,
                    last: head.sequence,
                    sequence: event.sequence,
                });
            }
        }
        self.heads.insert(aggregate.clone(), link(event));
        self.anchored.insert(aggregate);
        self.position = event.position;
        Ok(())
    }

    fn check_position(&self, event: &FeedEvent) -> Result<(), Broken> {
        if event.position > self.position {
            return Ok(());
        }
        Err(Broken::PositionNotIncreasing {
            position: event.position,
            previous: self.position,
            aggregate: event.aggregate(),
            sequence: event.sequence,
        })
    }
}

fn link(event: &FeedEvent) -> Link {
    Link {
        sequence: event.sequence,
        position: event.position,
        hash: event.hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events of one product and one product type, interleaved, each hashed to its
    /// predecessor as the store's trigger does (the hash itself is checked against PostgreSQL
    /// in the integration tests).
    struct Log {
        events: Vec<FeedEvent>,
        heads: HashMap<Aggregate, [u8; 32]>,
    }

    const PRODUCT: &str = "4f1d2c1e-9a8b-4c3d-8e7f-0a1b2c3d4e5f";

    impl Log {
        fn new() -> Self {
            Self {
                events: Vec::new(),
                heads: HashMap::new(),
            }
        }

        fn push(&mut self, kind: &str, id: &str, sequence: i64) -> &mut Self {
            let position = self.events.last().map_or(1, |e| e.position + 1);
            let mut event: FeedEvent = serde_json::from_value(serde_json::json!({
                "position": position,
                "product_id": (kind == "Product").then_some(id),
                "aggregate_type": kind, "aggregate_id": id, "sequence": sequence,
                "type": "Something", "event_version": "1",
                "data": {"n": position}, "recorded_at": "2026-03-01T12:00:00.5Z",
                "event_id": uuid::Uuid::new_v4(), "metadata": {"actor": "a"},
                "hash": "00".repeat(32),
            }))
            .unwrap();
            let aggregate = event.aggregate();
            event.hash = event.expected_hash(self.heads.get(&aggregate));
            self.heads.insert(aggregate, event.hash);
            self.events.push(event);
            self
        }
    }

    #[test]
    fn an_intact_log_verifies_from_the_start() {
        let mut log = Log::new();
        log.push("Product", PRODUCT, 1)
            .push("ProductType", "mug", 1)
            .push("Product", PRODUCT, 2)
            .push("ProductType", "mug", 2);
        let mut chain = Chain::new(0, false);
        for event in &log.events {
            assert_eq!(chain.needs(event), Need::Nothing);
            chain.verify(event).unwrap();
        }
        assert_eq!(chain.position(), 4);
        assert_eq!(chain.anchored(), 0);
    }

    #[test]
    fn altered_data_is_a_hash_mismatch_at_that_position() {
        let mut log = Log::new();
        log.push("Product", PRODUCT, 1).push("Product", PRODUCT, 2);
        log.events[1].data =
            serde_json::value::RawValue::from_string("{\"n\": 99}".into()).unwrap();
        let mut chain = Chain::new(0, false);
        chain.verify(&log.events[0]).unwrap();
        let broken = chain.verify(&log.events[1]).unwrap_err();
        assert!(matches!(
            broken,
            Broken::HashMismatch {
                position: 2,
                sequence: 2,
                ..
            }
        ));
        assert!(
            broken.to_string().starts_with("position 2: Product "),
            "{broken}"
        );
    }

    #[test]
    fn a_missing_event_is_a_gap_and_a_repeated_one_goes_backwards() {
        let mut log = Log::new();
        log.push("Product", PRODUCT, 1)
            .push("Product", PRODUCT, 2)
            .push("Product", PRODUCT, 3);
        let mut chain = Chain::new(0, false);
        chain.verify(&log.events[0]).unwrap();
        assert_eq!(chain.needs(&log.events[2]), Need::Nothing);
        assert!(matches!(
            chain.verify(&log.events[2]).unwrap_err(),
            Broken::Gap {
                last: 1,
                sequence: 3,
                position: 3,
                ..
            }
        ));
        chain.verify(&log.events[1]).unwrap();
        assert!(matches!(
            chain.verify(&log.events[1]).unwrap_err(),
            Broken::PositionNotIncreasing {
                position: 2,
                previous: 2,
                ..
            }
        ));
        assert!(matches!(
            chain.verify_link(&log.events[0]).unwrap_err(),
            Broken::Repeat {
                last: 2,
                sequence: 1,
                ..
            }
        ));
    }

    #[test]
    fn swapped_events_of_an_aggregate_are_out_of_order() {
        let mut log = Log::new();
        log.push("Product", PRODUCT, 1)
            .push("Product", PRODUCT, 2)
            .push("Product", PRODUCT, 3);
        let (second, third) = (log.events[1].clone(), log.events[2].clone());
        log.events[1] = FeedEvent {
            position: 2,
            ..third
        };
        log.events[2] = FeedEvent {
            position: 3,
            ..second
        };
        let mut chain = Chain::new(0, false);
        chain.verify(&log.events[0]).unwrap();
        assert!(matches!(
            chain.verify(&log.events[1]).unwrap_err(),
            Broken::Gap { position: 2, .. }
        ));
    }

    #[test]
    fn started_mid_stream_it_asks_for_the_earlier_links_and_verifies_them() {
        let mut log = Log::new();
        log.push("Product", PRODUCT, 1)
            .push("Product", PRODUCT, 2)
            .push("Product", PRODUCT, 3);
        let mut chain = Chain::new(2, false);
        let next = &log.events[2];
        assert_eq!(
            chain.needs(next),
            Need::Links {
                after: 0,
                through: 2
            }
        );
        assert!(matches!(
            chain.verify(next).unwrap_err(),
            Broken::Unlinked { sequence: 3, .. }
        ));
        chain.verify_link(&log.events[0]).unwrap();
        chain.verify_link(&log.events[1]).unwrap();
        assert_eq!(chain.needs(next), Need::Nothing);
        chain.verify(next).unwrap();
        assert_eq!(chain.position(), 3);
    }

    #[test]
    fn a_type_filtered_feed_asks_to_fill_skips_an_unfiltered_one_does_not() {
        let mut log = Log::new();
        log.push("Product", PRODUCT, 1)
            .push("Product", PRODUCT, 2)
            .push("Product", PRODUCT, 3);
        let mut filtered = Chain::new(0, true);
        filtered.verify(&log.events[0]).unwrap();
        assert_eq!(
            filtered.needs(&log.events[2]),
            Need::Links {
                after: 1,
                through: 2
            }
        );
        let mut whole = Chain::new(0, false);
        whole.verify(&log.events[0]).unwrap();
        assert_eq!(whole.needs(&log.events[2]), Need::Nothing);
    }

    #[test]
    fn an_anchored_aggregate_is_verified_from_its_anchor_on() {
        let mut log = Log::new();
        log.push("ProductType", "mug", 1)
            .push("ProductType", "mug", 2)
            .push("ProductType", "mug", 3);
        let mut chain = Chain::new(1, false);
        chain.anchor(&log.events[1]).unwrap();
        assert_eq!(chain.anchored(), 1);
        assert_eq!(chain.needs(&log.events[2]), Need::Nothing);
        chain.verify(&log.events[2]).unwrap();

        let mut tampered = Chain::new(1, false);
        tampered.anchor(&log.events[1]).unwrap();
        let mut altered = log.events[2].clone();
        altered.event_version = "2".into();
        assert!(matches!(
            tampered.verify(&altered).unwrap_err(),
            Broken::HashMismatch { position: 3, .. }
        ));
    }
}
