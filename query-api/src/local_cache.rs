//! The first cache level: products read recently, kept in this process as the bytes of their
//! JSON, so that a hot product is answered without a Redis round trip or any serialization.
//!
//! Redis stays the shared cache and the truth for "what is the newest version": every
//! projector write announces `<id>:<version>` on the versions channel, and an announcement
//! replaces the entry of that product with a marker of the announced version, so the next read
//! goes to Redis. An entry is only ever replaced by a newer version, whatever order reads and
//! announcements arrive in. Entries are kept only while the subscription is up: a process that
//! cannot hear announcements could not tell a stale entry, so it empties the cache and reads
//! through to Redis until it hears them again. A time-to-live bounds what a lost message on a
//! live subscription could cost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use moka::ops::compute::Op;
use moka::sync::Cache;

/// A product's JSON at a version. Cheap to clone (the bytes are shared).
#[derive(Debug, Clone)]
pub struct Document {
    /// The product's version, as the `version` field of `body` says.
    pub version: u64,
    /// The JSON, served as it is.
    pub body: Bytes,
    /// Whether a price of the product has a validity window: which price such a product is
    /// served depends on the instant, so its bytes are not served as they are. Found once, when
    /// the document is read from the next level, not on every request.
    pub dated: bool,
}

impl Document {
    /// The document of `version` in `body`.
    pub fn new(version: u64, body: Bytes) -> Self {
        // A key cannot appear inside a JSON string unescaped: no false negatives.
        let dated = [&b"\"valid_from\":"[..], b"\"valid_until\":"]
            .iter()
            .any(|key| memchr::memmem::find(&body, key).is_some());
        Self {
            version,
            body,
            dated,
        }
    }

    /// A document as the read models store it; None if it carries no version.
    pub fn from_json(json: String) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Versioned {
            version: u64,
        }
        let Versioned { version } = serde_json::from_str(&json).ok()?;
        Some(Self::new(version, Bytes::from(json)))
    }
}

#[derive(Clone)]
struct Slot {
    version: u64,
    /// None: a newer version was announced and has not been read yet.
    document: Option<Document>,
}

/// Products read recently, by id; shared by the reader, which fills it, and the version watch,
/// which tells it of announcements and of the subscription going up or down.
pub struct LocalCache {
    entries: Cache<String, Slot>,
    /// Entries are kept and served only while true (the subscription is up).
    live: AtomicBool,
    /// Bumped whenever the cache is emptied: a document read before that may be older than an
    /// announcement this process never heard, so `offer` refuses it.
    epoch: AtomicU64,
}

/// What a read from Redis started under; given back to `offer`.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// The handle is kept: this is the hottest counter of the read path.
static LOCAL_HITS: LazyLock<metrics::Counter> =
    LazyLock::new(|| metrics::counter!("catalog_cache_requests_total", "result" => "local_hit"));

const TIME_TO_LIVE: Duration = Duration::from_secs(60);
/// Bookkeeping per entry beyond its body (key, slot, the cache's own structures).
const ENTRY_OVERHEAD: u32 = 160;

impl LocalCache {
    /// A cache of at most `max_bytes` of documents; 0 turns it off.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, slot: &Slot| {
                    let body = slot.document.as_ref().map_or(0, |d| d.body.len());
                    u32::try_from(key.len() + body).unwrap_or(u32::MAX) + ENTRY_OVERHEAD
                })
                .time_to_live(TIME_TO_LIVE)
                .build(),
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    /// Whether announcements can be heard (the version subscription is up).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    fn enabled(&self) -> bool {
        self.entries.policy().max_capacity() != Some(0) && self.live.load(Ordering::Acquire)
    }

    /// The cached document of `id`; `None` when none is held, a newer version was announced
    /// since, or the cache is off or not live.
    pub fn get(&self, id: &str) -> Option<Document> {
        if !self.enabled() {
            return None;
        }
        let document = self.entries.get(id)?.document?;
        LOCAL_HITS.increment(1);
        Some(document)
    }

    /// Taken before reading from the next level, handed back with what it read.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::Acquire))
    }

    /// Keeps `document` unless the cache already knows of a version at least as new, or was
    /// emptied since `ticket` was taken.
    pub fn offer(&self, id: &str, document: &Document, ticket: Ticket) {
        if !self.enabled() || self.epoch.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        self.entries.entry_by_ref(id).and_compute_with(|existing| {
            match existing.map(moka::Entry::into_value) {
                Some(slot) if slot.version > document.version => Op::Nop,
                Some(slot) if slot.version == document.version && slot.document.is_some() => {
                    Op::Nop
                }
                _ => Op::Put(Slot {
                    version: document.version,
                    document: Some(document.clone()),
                }),
            }
        });
    }

    /// The projector wrote `version` of `id`: anything older must not be served again.
    pub fn announce(&self, id: &str, version: u64) {
        if !self.enabled() {
            return;
        }
        self.entries
            .entry_by_ref(id)
            .and_compute_with(|existing| match existing {
                Some(slot) if slot.value().version >= version => Op::Nop,
                _ => Op::Put(Slot {
                    version,
                    document: None,
                }),
            });
    }

    /// The subscription is up (true) or lost (false). Either way, what is cached may have
    /// missed announcements: empty it.
    pub fn set_live(&self, live: bool) {
        self.live.store(false, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
        self.live.store(live, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(version: u64) -> Document {
        Document::new(version, Bytes::from(format!("{{\"version\":{version}}}")))
    }

    #[test]
    fn a_document_knows_whether_a_price_has_a_window() {
        let dated = |json: &str| Document::new(1, Bytes::from(json.to_string())).dated;
        assert!(!dated(
            r#"{"prices":[{"amount":1,"currency":"EUR"}],"name":"\"valid_from\": x"}"#
        ));
        assert!(dated(
            r#"{"prices":[{"amount":1,"currency":"EUR","valid_from":"2026-12-01T00:00:00Z"}]}"#
        ));
        assert!(dated(
            r#"{"prices":[{"valid_until":"2026-12-01T00:00:00Z"}]}"#
        ));
    }

    fn live() -> LocalCache {
        let cache = LocalCache::new(1 << 20);
        cache.set_live(true);
        cache
    }

    #[test]
    fn serves_what_was_offered_until_a_newer_version_is_announced() {
        let cache = live();
        cache.offer("p", &doc(3), cache.ticket());
        assert_eq!(cache.get("p").map(|d| d.version), Some(3));
        cache.announce("p", 3);
        assert_eq!(
            cache.get("p").map(|d| d.version),
            Some(3),
            "same version: still good"
        );
        cache.announce("p", 4);
        assert!(cache.get("p").is_none());
        cache.offer("p", &doc(4), cache.ticket());
        assert_eq!(cache.get("p").map(|d| d.version), Some(4));
    }

    #[test]
    fn a_late_read_never_replaces_a_newer_announcement_or_document() {
        let cache = live();
        let ticket = cache.ticket();
        cache.announce("p", 5);
        cache.offer("p", &doc(4), ticket);
        assert!(
            cache.get("p").is_none(),
            "4 was read before 5 was announced"
        );
        cache.offer("p", &doc(6), ticket);
        cache.offer("p", &doc(5), ticket);
        assert_eq!(cache.get("p").map(|d| d.version), Some(6));
    }

    #[test]
    fn nothing_is_kept_or_served_while_announcements_cannot_be_heard() {
        let cache = live();
        cache.offer("p", &doc(1), cache.ticket());
        let ticket = cache.ticket();
        cache.set_live(false);
        assert!(cache.get("p").is_none());
        cache.offer("p", &doc(2), cache.ticket());
        cache.set_live(true);
        assert!(cache.get("p").is_none(), "emptied on the way down and up");
        cache.offer("p", &doc(2), ticket);
        assert!(
            cache.get("p").is_none(),
            "read before the cache was emptied"
        );
    }

    #[test]
    fn size_zero_turns_it_off() {
        let cache = LocalCache::new(0);
        cache.set_live(true);
        cache.offer("p", &doc(1), cache.ticket());
        assert!(cache.get("p").is_none());
    }
}
