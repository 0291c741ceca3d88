//! Facet counts from memory: each facet value's products as a compressed bitmap, and each
//! product's values, kept by query-api beside the PostgreSQL read model it lists from.
//!
//! Counting a list's facets in PostgreSQL reads every selected row: thousands of heap pages
//! for a filter that selects thousands of a million products (docs/PERFORMANCE.md, row 9).
//! Here a list's filters are intersections of bitmaps and its counts a walk over the hits'
//! own value numbers, with no page read: a hundredth of the statement's time.
//!
//! The index holds what `product_view` holds, and follows it:
//! - **Loaded** at start (and again after a generation switch, or when it fell too far behind)
//!   in keyset chunks of the view's `id`, `status` and `facets`; requests are counted in
//!   PostgreSQL until it is ready.
//! - **Followed** through the view's `written` column (migration `…_facet_index.sql`): the
//!   transaction id of the row's last write. Each catch-up reads the rows written at or after
//!   the previous catch-up's horizon, `pg_snapshot_xmin` of a snapshot taken before the read,
//!   the oldest transaction that was still running. A row is never missed however late its
//!   transaction commits, the same rule the outbox relay publishes by.
//! - **Caught up before every count**: a request waits for a catch-up that began after it
//!   arrived (concurrent requests share one), so its counts describe at least every write the
//!   database had committed when the request came, like the page read beside them. Lists read
//!   from a replica are counted from the replica's rows.
//!
//! A list whose filters the tokens cannot express (`q`, `sku`, prices, a value longer than a
//! token keeps) is counted in PostgreSQL, as is every list while the index is not ready.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bigdecimal::BigDecimal;
use catalog_support::shutdown::Shutdown;
use roaring::RoaringBitmap;
use sqlx::PgPool;
use tokio::sync::{Mutex, Notify};

use crate::facets::{
    status_token, token_value, Condition, FacetValue, Selection, FACET_VALUES_MAX,
};
use crate::generation::GENERATION;

/// How many rows one chunk of a load reads.
const LOAD_CHUNK: i64 = 10_000;
/// The most rows one catch-up applies; more (a rebuild in place rewrote the view) and the
/// index is loaded afresh in the background while PostgreSQL counts.
const CATCH_UP_MAX: i64 = 20_000;
/// How often the index catches up when no request asks it to: it keeps each request's
/// catch-up small.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How long a failed load waits before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Hits above which counting by each wanted value's bitmap beats walking each hit's values:
/// a walk costs a few nanoseconds per hit and value, an intersection of bitmaps a few
/// microseconds per value however many hits (measured at 1,000,000 products: 0.34 ms for
/// 6,321 hits walked).
const WALK_MAX: u64 = 100_000;

/// A facet value's token number, its facet and value, and its number when it is one.
#[derive(Debug)]
struct Token {
    facet: Box<str>,
    value: Box<str>,
    number: Option<BigDecimal>,
}

/// A product id as the index keys it: a UUID in 16 bytes (every id Catalog assigns), any
/// other text as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl Key {
    fn of(id: &str) -> Self {
        match uuid::Uuid::try_parse(id) {
            // Only the canonical spelling: another spelling of the same UUID is another id.
            Ok(uuid) if uuid.to_string() == id => Self::Uuid(uuid.into_bytes()),
            _ => Self::Text(id.into()),
        }
    }
}

/// Product numbers by id. The products of a load, UUIDs nearly always, are kept as a sorted
/// array, 20 bytes each, searched by halves; the few added later (and any id that is no UUID)
/// in a hash map. A hash map of a million entries would take 70 MB: its table doubles, and
/// each slot holds the key's 24 bytes, the number and padding.
#[derive(Debug, Default)]
struct Keys {
    loaded: Vec<([u8; 16], u32)>,
    added: HashMap<Key, u32>,
}

impl Keys {
    fn get(&self, key: &Key) -> Option<u32> {
        if let Key::Uuid(bytes) = key {
            if let Ok(at) = self
                .loaded
                .binary_search_by(|(loaded, _)| loaded.cmp(bytes))
            {
                return Some(self.loaded[at].1);
            }
        }
        self.added.get(key).copied()
    }

    /// A key a load reads, which no other row of the load has: found again once sorted.
    fn load(&mut self, key: Key, product: u32) {
        match key {
            Key::Uuid(bytes) => self.loaded.push((bytes, product)),
            other => {
                self.added.insert(other, product);
            }
        }
    }

    /// Sorts what the load read, ready for [`Keys::get`].
    fn seal(&mut self) {
        self.loaded.sort_unstable();
        self.loaded.shrink_to_fit();
    }
}

/// Where a product's token numbers lie in [`Lists::values`], and how many more would fit.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
    room: u32,
}

/// Every product's token numbers, sorted, in one allocation: a list of its own per product
/// would cost a pointer, a length and the allocator's overhead, more than the numbers. A
/// product's new list is written in place when it fits, else at the end; the space left
/// behind is reclaimed once it exceeds what is in use.
#[derive(Debug, Default)]
struct Lists {
    values: Vec<u32>,
    spans: Vec<Span>,
    /// Numbers in use: the sum of the spans' lengths.
    used: usize,
}

impl Lists {
    /// How many products have a list.
    fn len(&self) -> usize {
        self.spans.len()
    }

    /// A new product's number, with an empty list.
    fn add(&mut self) -> u32 {
        self.spans.push(Span::default());
        (self.spans.len() - 1) as u32
    }

    fn get(&self, product: u32) -> &[u32] {
        let span = self.spans[product as usize];
        &self.values[span.start as usize..(span.start + span.len) as usize]
    }

    fn set(&mut self, product: u32, list: &[u32]) {
        let span = &mut self.spans[product as usize];
        self.used = self.used - span.len as usize + list.len();
        if list.len() <= span.room as usize {
            let start = span.start as usize;
            self.values[start..start + list.len()].copy_from_slice(list);
            span.len = list.len() as u32;
        } else {
            *span = Span {
                start: self.values.len() as u32,
                len: list.len() as u32,
                room: list.len() as u32,
            };
            self.values.extend_from_slice(list);
            if self.values.len() > 2 * self.used.max(1024) {
                self.compact();
            }
        }
    }

    /// Writes every list again, back to back, with no room to spare.
    fn compact(&mut self) {
        let mut values = Vec::with_capacity(self.used);
        for span in &mut self.spans {
            let start = values.len() as u32;
            values.extend_from_slice(
                &self.values[span.start as usize..(span.start + span.len) as usize],
            );
            *span = Span {
                start,
                len: span.len,
                room: span.len,
            };
        }
        self.values = values;
    }

    fn bytes(&self) -> u64 {
        (4 * self.values.capacity() + std::mem::size_of::<Span>() * self.spans.capacity()) as u64
    }
}

/// The index proper: tokens, their bitmaps, and each product's tokens.
#[derive(Debug, Default)]
struct Index {
    /// The read-model generation it was loaded from.
    generation: i32,
    tokens: Vec<Token>,
    numbered: HashMap<Box<str>, u32>,
    /// Each facet's token numbers, for numbers and ranges.
    by_facet: HashMap<Box<str>, Vec<u32>>,
    /// By token number: the products holding it.
    postings: Vec<RoaringBitmap>,
    /// By product number: its token numbers, sorted.
    lists: Lists,
    keys: Keys,
}

impl Index {
    fn token(&mut self, text: &str) -> u32 {
        if let Some(&number) = self.numbered.get(text) {
            return number;
        }
        let number = self.tokens.len() as u32;
        let (facet, value) = text.split_once('=').unwrap_or((text, ""));
        // Written by PostgreSQL: a number is `trim_scale(numeric)::text`, a string starts with
        // a quote, a boolean with a letter.
        let numeric = value.starts_with(|c: char| c == '-' || c.is_ascii_digit());
        self.tokens.push(Token {
            facet: facet.into(),
            value: value.into(),
            number: numeric.then(|| BigDecimal::from_str(value).ok()).flatten(),
        });
        self.numbered.insert(text.into(), number);
        self.by_facet.entry(facet.into()).or_default().push(number);
        self.postings.push(RoaringBitmap::new());
        number
    }

    /// Sets the product's tokens: its `facets` and its status.
    fn put(&mut self, id: &str, status: &str, facets: &[String]) {
        let tokens = self.token_numbers(status, facets);
        let key = Key::of(id);
        let product = match self.keys.get(&key) {
            Some(product) => product,
            None => {
                let product = self.lists.add();
                self.keys.added.insert(key, product);
                product
            }
        };
        self.set(product, tokens);
    }

    /// Adds a product a load reads: the load reads each id once.
    fn load(&mut self, id: &str, status: &str, facets: &[String]) {
        let tokens = self.token_numbers(status, facets);
        let product = self.lists.add();
        self.keys.load(Key::of(id), product);
        self.set(product, tokens);
    }

    /// The sorted token numbers of a product's `facets` and status.
    fn token_numbers(&mut self, status: &str, facets: &[String]) -> Vec<u32> {
        let mut tokens: Vec<u32> = facets.iter().map(|t| self.token(t)).collect();
        tokens.push(self.token(&status_token(status)));
        tokens.sort_unstable();
        tokens.dedup();
        tokens
    }

    /// Sets a product's token numbers, and its place in each token's bitmap.
    fn set(&mut self, product: u32, tokens: Vec<u32>) {
        let old = self.lists.get(product);
        for token in old.iter().filter(|t| tokens.binary_search(t).is_err()) {
            self.postings[*token as usize].remove(product);
        }
        for token in tokens.iter().filter(|t| old.binary_search(t).is_err()) {
            self.postings[*token as usize].insert(product);
        }
        self.lists.set(product, &tokens);
    }

    /// Every product: numbered from 0, none ever removed.
    fn everyone(&self) -> RoaringBitmap {
        let mut everyone = RoaringBitmap::new();
        everyone.insert_range(0..self.lists.len() as u32);
        everyone
    }

    fn posting(&self, token: &str) -> Option<&RoaringBitmap> {
        self.numbered
            .get(token)
            .map(|&number| &self.postings[number as usize])
    }

    /// The products of `facet` holding a number for which `keep` holds.
    fn numbers(&self, facet: &str, keep: impl Fn(&BigDecimal) -> bool) -> RoaringBitmap {
        let mut selected = RoaringBitmap::new();
        for &token in self.by_facet.get(facet).into_iter().flatten() {
            if self.tokens[token as usize]
                .number
                .as_ref()
                .is_some_and(&keep)
            {
                selected |= &self.postings[token as usize];
            }
        }
        selected
    }

    fn selected(&self, condition: &Condition) -> Option<RoaringBitmap> {
        match condition {
            Condition::AnyOf {
                facet,
                tokens,
                numbers,
            } => {
                let numbers = numbers
                    .iter()
                    .map(|n| BigDecimal::from_str(n).ok())
                    .collect::<Option<Vec<_>>>()?;
                let mut selected = self.numbers(facet, |n| numbers.contains(n));
                for token in tokens {
                    if let Some(posting) = self.posting(token) {
                        selected |= posting;
                    }
                }
                Some(selected)
            }
            Condition::Within { facet, min, max } => {
                let parse = |bound: &Option<String>| match bound {
                    Some(raw) => BigDecimal::from_str(raw).ok().map(Some),
                    None => Some(None),
                };
                let (min, max) = (parse(min)?, parse(max)?);
                Some(self.numbers(facet, |n| {
                    min.as_ref().is_none_or(|min| n >= min)
                        && max.as_ref().is_none_or(|max| n <= max)
                }))
            }
        }
    }

    /// The products `selection` selects; `None` when a bound is no number. The conditions
    /// first, the status last: the whole catalog is a bitmap only for a list with no condition.
    fn hits(&self, selection: &Selection) -> Option<RoaringBitmap> {
        let mut conditions = selection.conditions.iter();
        let mut hits = match conditions.next() {
            Some(first) => self.selected(first)?,
            None => self.everyone(),
        };
        for condition in conditions {
            if hits.is_empty() {
                return Some(hits);
            }
            hits &= self.selected(condition)?;
        }
        match selection.status {
            Some(status) => match self.posting(&status_token(status)) {
                Some(holding) => hits &= holding,
                None => hits.clear(),
            },
            None => {
                if let Some(archived) = self.posting(&status_token("archived")) {
                    hits -= archived;
                }
            }
        }
        Some(hits)
    }

    /// Each of `facets`' values held by `hits`, counted: the most common
    /// [`FACET_VALUES_MAX`], then by value.
    fn count(&self, hits: &RoaringBitmap, facets: &[String]) -> BTreeMap<String, Vec<FacetValue>> {
        self.count_walking_up_to(hits, facets, WALK_MAX)
    }

    /// [`Index::count`], walking the hits' values when they are at most `walk_max`.
    fn count_walking_up_to(
        &self,
        hits: &RoaringBitmap,
        facets: &[String],
        walk_max: u64,
    ) -> BTreeMap<String, Vec<FacetValue>> {
        let wanted: HashSet<&str> = facets.iter().map(String::as_str).collect();
        let mut counts: Vec<u64> = vec![0; self.tokens.len()];
        if hits.len() <= walk_max {
            for product in hits {
                for &token in self.lists.get(product) {
                    counts[token as usize] += 1;
                }
            }
        } else {
            for (number, token) in self.tokens.iter().enumerate() {
                if wanted.contains(&*token.facet) {
                    counts[number] = hits.intersection_len(&self.postings[number]);
                }
            }
        }
        let mut answer: BTreeMap<String, Vec<(u64, &str)>> =
            facets.iter().map(|f| (f.clone(), Vec::new())).collect();
        for (number, token) in self.tokens.iter().enumerate() {
            if counts[number] > 0 {
                if let Some(values) = answer.get_mut(&*token.facet) {
                    values.push((counts[number], &token.value));
                }
            }
        }
        answer
            .into_iter()
            .map(|(facet, mut values)| {
                // As the statement orders them: by count, then by value's bytes (`COLLATE "C"`).
                values.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                values.truncate(FACET_VALUES_MAX as usize);
                let values = values
                    .into_iter()
                    .map(|(count, value)| FacetValue {
                        value: token_value(value),
                        count: count as i64,
                    })
                    .collect();
                (facet, values)
            })
            .collect()
    }

    /// What the index holds, for its log line and its gauge: products, tokens and the bytes
    /// of its bitmaps, product lists and ids (not the tokens, a few hundred).
    fn size(&self) -> (usize, usize, u64) {
        let bitmaps: u64 = self
            .postings
            .iter()
            .map(|p| p.serialized_size() as u64)
            .sum();
        let keys = (20 * self.keys.loaded.capacity() + 40 * self.keys.added.capacity()) as u64;
        (
            self.lists.len(),
            self.tokens.len(),
            bitmaps + self.lists.bytes() + keys,
        )
    }
}

/// Where the index stands with the view it follows.
#[derive(Debug, Default)]
struct Follow {
    /// The horizon the next catch-up reads from: rows written by this transaction or later.
    horizon: Option<i64>,
    /// The last catch-up round finished.
    finished: u64,
}

/// The facet index a query-api process keeps: see the module's documentation.
#[derive(Default)]
pub struct FacetIndex {
    /// `None` until loaded, and while loaded again. Requests read it for the microseconds
    /// their counts take; a catch-up writes into it in place.
    index: RwLock<Option<Index>>,
    /// Held by the one catch-up running; requests arriving meanwhile wait for the next.
    follow: Mutex<Follow>,
    /// Catch-up rounds begun: a request needs one begun after it arrived.
    begun: AtomicU64,
    /// Wakes the loader: the index was dropped and must be loaded again.
    reload: Notify,
}

/// Why the index could not serve.
enum Behind {
    /// Not loaded, or dropped to be loaded again.
    NotReady,
    /// The database failed.
    Database(sqlx::Error),
}

/// Why a load did not finish.
enum NotLoaded {
    /// The live read-model generation is not this release's (or none is live yet).
    Generation(Option<i32>),
    /// The database failed.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for NotLoaded {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err)
    }
}

impl From<sqlx::Error> for Behind {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err)
    }
}

impl FacetIndex {
    /// An empty index: [`FacetIndex::run`] loads it.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether it can count now.
    pub fn is_ready(&self) -> bool {
        self.read().is_some()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Index>> {
        self.index.read().expect("the facet index's lock")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Index>> {
        self.index.write().expect("the facet index's lock")
    }

    /// Loads the index from `pool`'s `product_view` and keeps it current until shutdown:
    /// caught up every [`FOLLOW_EVERY`], loaded again when dropped.
    pub async fn run(self: Arc<Self>, pool: PgPool, shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            if !self.is_ready() {
                if let Err(err) = self.load(&pool).await {
                    match err {
                        // An upgrade in progress: the generation goes live later.
                        NotLoaded::Generation(live) => tracing::debug!(
                            live = ?live,
                            "the facet index waits for this release's read-model generation"
                        ),
                        NotLoaded::Database(err) => tracing::warn!(
                            error = %err,
                            "cannot load the facet index; facets are counted in PostgreSQL"
                        ),
                    }
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_AFTER) => {}
                        () = shutdown.wait() => return,
                    }
                    continue;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(FOLLOW_EVERY) => {
                    if let Err(Behind::Database(err)) = self.catch_up(&pool).await {
                        tracing::debug!(error = %err, "the facet index cannot catch up");
                    }
                }
                () = self.reload.notified() => {}
                () = shutdown.wait() => return,
            }
        }
    }

    /// Reads the whole view afresh, then catches up with what was written meanwhile. Requests
    /// are counted in PostgreSQL until it is done.
    async fn load(&self, pool: &PgPool) -> Result<(), NotLoaded> {
        let started = Instant::now();
        let (horizon, generation) = horizon(pool).await?;
        if generation != Some(GENERATION) {
            // Another release's shape (before the view had tokens, during an upgrade): this
            // release's index is loaded once its generation goes live.
            return Err(NotLoaded::Generation(generation));
        }
        let mut index = Index {
            generation: GENERATION,
            ..Index::default()
        };
        let mut after = String::new();
        loop {
            let rows: Vec<(String, String, Vec<String>)> = sqlx::query_as(
                "SELECT id, status, facets FROM product_view WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(&after)
            .bind(LOAD_CHUNK)
            .fetch_all(pool)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.0.clone();
            for (id, status, facets) in &rows {
                index.load(id, status, facets);
            }
        }
        index.keys.seal();
        // Grown by doubling while read: up to half of it spare.
        index.lists.values.shrink_to_fit();
        index.lists.spans.shrink_to_fit();
        let (products, tokens, bytes) = index.size();
        {
            // No catch-up runs while the index is absent; this one is the first.
            let mut follow = self.follow.lock().await;
            follow.horizon = Some(horizon);
            *self.write() = Some(index);
        }
        // What was written while the chunks were read.
        if let Err(Behind::Database(err)) = self.catch_up(pool).await {
            return Err(NotLoaded::Database(err));
        }
        metrics::gauge!("catalog_facet_index_products").set(products as f64);
        tracing::info!(
            products,
            tokens,
            bytes,
            took_ms = started.elapsed().as_millis() as u64,
            "facet index loaded"
        );
        Ok(())
    }

    /// Applies what was written since the last catch-up, unless one that began after this
    /// call did so meanwhile.
    async fn catch_up(&self, pool: &PgPool) -> Result<(), Behind> {
        let arrived = self.begun.load(Ordering::SeqCst);
        // A load in progress would hold requests for seconds: they are counted in PostgreSQL.
        let generation = self.read().as_ref().map(|index| index.generation);
        let Some(loaded) = generation else {
            return Err(Behind::NotReady);
        };
        let mut follow = self.follow.lock().await;
        if follow.finished > arrived {
            return Ok(());
        }
        let round = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let from = follow.horizon.ok_or(Behind::NotReady)?;
        let (horizon, generation) = horizon(pool).await?;
        if generation != Some(loaded) {
            tracing::info!(generation = ?generation, "the read model switched generation; loading the facet index again");
            return Err(self.drop_index());
        }
        let rows: Vec<(String, String, Vec<String>)> = sqlx::query_as(CATCH_UP)
            .bind(from.to_string())
            .bind(CATCH_UP_MAX + 1)
            .fetch_all(pool)
            .await?;
        if rows.len() as i64 > CATCH_UP_MAX {
            tracing::info!(
                "more than {CATCH_UP_MAX} products changed at once; loading the facet index again"
            );
            return Err(self.drop_index());
        }
        if !rows.is_empty() {
            let mut index = self.write();
            let index = index.as_mut().ok_or(Behind::NotReady)?;
            for (id, status, facets) in &rows {
                index.put(id, status, facets);
            }
        }
        follow.horizon = Some(horizon);
        follow.finished = round;
        Ok(())
    }

    fn drop_index(&self) -> Behind {
        *self.write() = None;
        self.reload.notify_one();
        Behind::NotReady
    }

    /// `facets`' counts over the products `selection` selects, from the index caught up with
    /// `pool`; `None` when the index is not ready (the caller counts in PostgreSQL).
    pub async fn count(
        &self,
        pool: &PgPool,
        selection: &Selection,
        facets: &[String],
    ) -> sqlx::Result<Option<BTreeMap<String, Vec<FacetValue>>>> {
        match self.catch_up(pool).await {
            Ok(()) => {}
            Err(Behind::NotReady) => return Ok(None),
            Err(Behind::Database(err)) => return Err(err),
        }
        // Well under a millisecond for thousands of hits; larger sets are counted by bitmap
        // intersections, a few milliseconds at a million.
        let index = self.read();
        Ok(index
            .as_ref()
            .and_then(|index| Some(index.count(&index.hits(selection)?, facets))))
    }
}

/// A catch-up's read: the rows written at or after a horizon (bound as text: sqlx has no
/// xid8), through `product_view_written_idx`.
const CATCH_UP: &str =
    "SELECT id, status, facets FROM product_view WHERE written >= $1::text::xid8 LIMIT $2";

/// PostgreSQL's plan of a catch-up that would begin now, as `EXPLAIN` prints it: the one way
/// tests read what following the view costs.
pub async fn plan_catch_up(pool: &PgPool) -> sqlx::Result<String> {
    let (horizon, _) = horizon(pool).await?;
    let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {CATCH_UP}"))
        .bind(horizon.to_string())
        .bind(CATCH_UP_MAX + 1)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n"))
}

/// The horizon of a catch-up that begins now (the oldest transaction still running, as a
/// 64-bit xid), and the live read-model generation.
async fn horizon(pool: &PgPool) -> sqlx::Result<(i64, Option<i32>)> {
    sqlx::query_as(
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, \
           (SELECT generation FROM public.read_model_generations WHERE state = 'live')",
    )
    .fetch_one(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small catalog whose products are changed again and again: every product's tokens as
    /// the view would hold them, kept beside the index to count by brute force.
    struct Catalog {
        index: Index,
        products: BTreeMap<String, (String, Vec<String>)>,
    }

    const STATUSES: [&str; 3] = ["draft", "published", "archived"];

    fn tokens(seed: u64) -> Vec<String> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut tokens = vec![format!("category=\"c{}\"", rng.u8(0..4))];
        if rng.bool() {
            tokens.push(format!("type=\"t{}\"", rng.u8(0..2)));
        }
        for _ in 0..rng.usize(0..3) {
            tokens.push(format!(
                "attr.colour=\"{}\"",
                ["red", "blue", "green"][rng.usize(0..3)]
            ));
        }
        // Numbers as PostgreSQL writes them, and a string that only looks like one.
        tokens.push(format!(
            "attr.weight={}",
            ["0.5", "1.5", "2", "10", "-3", "1.25"][rng.usize(0..6)]
        ));
        if rng.u8(0..5) == 0 {
            tokens.push("attr.weight=\"2\"".to_string());
        }
        if rng.bool() {
            tokens.push(format!("attr.organic={}", rng.bool()));
        }
        tokens.sort();
        tokens.dedup();
        tokens
    }

    impl Catalog {
        fn new() -> Self {
            Self {
                index: Index::default(),
                products: BTreeMap::new(),
            }
        }

        /// Sets a product's tokens: as a load reads it while `loading`, else as a catch-up.
        fn put(&mut self, id: &str, status: &str, tokens: Vec<String>, loading: bool) {
            if loading {
                self.index.load(id, status, &tokens);
            } else {
                self.index.put(id, status, &tokens);
            }
            self.products
                .insert(id.to_string(), (status.to_string(), tokens));
        }

        /// The products `selection` selects, by brute force: each product's own tokens.
        fn selected(&self, selection: &Selection) -> Vec<&(String, Vec<String>)> {
            let number = |t: &str, facet: &str| {
                t.strip_prefix(facet)
                    .and_then(|t| t.strip_prefix('='))
                    .filter(|v| !v.starts_with('"') && *v != "true" && *v != "false")
                    .map(|v| BigDecimal::from_str(v).unwrap())
            };
            self.products
                .values()
                .filter(|(status, _)| match selection.status {
                    Some(wanted) => status == wanted,
                    None => status != "archived",
                })
                .filter(|(_, tokens)| {
                    selection
                        .conditions
                        .iter()
                        .all(|condition| match condition {
                            Condition::AnyOf {
                                facet,
                                tokens: wanted,
                                numbers,
                            } => tokens.iter().any(|t| {
                                wanted.contains(t)
                                    || number(t, facet).is_some_and(|n| {
                                        numbers
                                            .iter()
                                            .any(|w| BigDecimal::from_str(w).unwrap() == n)
                                    })
                            }),
                            Condition::Within { facet, min, max } => tokens.iter().any(|t| {
                                number(t, facet).is_some_and(|n| {
                                    min.as_ref()
                                        .is_none_or(|m| n >= BigDecimal::from_str(m).unwrap())
                                        && max
                                            .as_ref()
                                            .is_none_or(|m| n <= BigDecimal::from_str(m).unwrap())
                                })
                            }),
                        })
                })
                .collect()
        }
    }

    fn selections() -> Vec<Selection> {
        let any = |facet: &str, tokens: &[&str], numbers: &[&str]| Condition::AnyOf {
            facet: facet.to_string(),
            tokens: tokens.iter().map(ToString::to_string).collect(),
            numbers: numbers.iter().map(ToString::to_string).collect(),
        };
        let within = |min: Option<&str>, max: Option<&str>| Condition::Within {
            facet: "attr.weight".to_string(),
            min: min.map(str::to_string),
            max: max.map(str::to_string),
        };
        let mut selections = Vec::new();
        for status in [None, Some("draft"), Some("archived")] {
            for conditions in [
                vec![],
                vec![any("category", &["category=\"c1\""], &[])],
                vec![
                    any("category", &["category=\"c2\""], &[]),
                    any(
                        "attr.colour",
                        &["attr.colour=\"red\"", "attr.colour=\"blue\""],
                        &[],
                    ),
                ],
                vec![any(
                    "attr.weight",
                    &["attr.weight=\"2\""],
                    &["2.000", "1.5e0"],
                )],
                vec![any(
                    "attr.organic",
                    &["attr.organic=\"true\"", "attr.organic=true"],
                    &[],
                )],
                vec![
                    within(Some("1.25"), Some("2")),
                    any("type", &["type=\"t0\""], &[]),
                ],
                vec![within(None, Some("0")), within(Some("-3e0"), None)],
                vec![any("category", &["category=\"nowhere\""], &[])],
            ] {
                selections.push(Selection { status, conditions });
            }
        }
        selections
    }

    fn brute_force(
        products: &[&(String, Vec<String>)],
        facets: &[String],
    ) -> BTreeMap<String, Vec<FacetValue>> {
        let mut counts: BTreeMap<String, BTreeMap<String, i64>> = facets
            .iter()
            .map(|f| (f.clone(), BTreeMap::new()))
            .collect();
        for (status, tokens) in products {
            for token in tokens.iter().cloned().chain([status_token(status)]) {
                let (facet, value) = token.split_once('=').unwrap();
                if let Some(values) = counts.get_mut(facet) {
                    *values.entry(value.to_string()).or_default() += 1;
                }
            }
        }
        counts
            .into_iter()
            .map(|(facet, values)| {
                let mut values: Vec<(String, i64)> = values.into_iter().collect();
                values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let values = values
                    .into_iter()
                    .take(FACET_VALUES_MAX as usize)
                    .map(|(value, count)| FacetValue {
                        value: token_value(&value),
                        count,
                    })
                    .collect();
                (facet, values)
            })
            .collect()
    }

    #[test]
    fn hits_and_counts_equal_a_brute_force_count_while_products_change() {
        let facets: Vec<String> = [
            "category",
            "status",
            "type",
            "attr.colour",
            "attr.weight",
            "attr.organic",
            "attr.size",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let mut catalog = Catalog::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..4u64 {
            // Round 0 is a load, in no particular order of ids; then new products, and a
            // third of the known ones changed: values and status.
            let loading = round == 0;
            let mut order: Vec<u64> = (0..300).collect();
            rng.shuffle(&mut order);
            for i in order {
                let id = if round > 0 && i % 3 == 0 {
                    uuid::Uuid::from_u128(u128::from(rng.u64(0..300))).to_string()
                } else {
                    uuid::Uuid::from_u128(u128::from(round * 300 + i)).to_string()
                };
                let status = STATUSES[rng.usize(0..3)];
                catalog.put(&id, status, tokens(rng.u64(..)), loading);
            }
            // An id that is no UUID is kept as it is.
            let status = STATUSES[round as usize % 2];
            catalog.put("legacy-product", status, tokens(round), loading);
            if loading {
                catalog.index.keys.seal();
            }
            let mut selecting = 0;
            for selection in selections() {
                let selected = catalog.selected(&selection);
                selecting += usize::from(!selected.is_empty());
                let hits = catalog.index.hits(&selection).unwrap();
                assert_eq!(hits.len() as usize, selected.len(), "{selection:?}");
                let expected = brute_force(&selected, &facets);
                // Both ways of counting: each hit's values walked, each value's bitmap met.
                for walk_max in [u64::MAX, 0] {
                    assert_eq!(
                        catalog.index.count_walking_up_to(&hits, &facets, walk_max),
                        expected,
                        "{selection:?}, walking up to {walk_max}"
                    );
                }
            }
            // Every selection but the three of a category no product has selects some.
            assert_eq!(selecting, selections().len() - 3, "round {round}");
        }
        assert_eq!(catalog.index.lists.len(), catalog.products.len());
        // A facet asked for that no product holds is answered, empty.
        let counts = catalog.index.count(&catalog.index.everyone(), &facets);
        assert_eq!(counts["attr.size"], []);
    }

    #[test]
    fn lists_rewritten_in_place_at_the_end_and_compacted_keep_their_numbers() {
        let mut lists = Lists::default();
        let mut model: Vec<Vec<u32>> = Vec::new();
        let mut rng = fastrand::Rng::with_seed(11);
        for step in 0..20_000 {
            if model.is_empty() || rng.u8(0..10) == 0 {
                assert_eq!(lists.add() as usize, model.len());
                model.push(Vec::new());
            }
            let product = rng.usize(0..model.len());
            let mut list: Vec<u32> = (0..rng.u32(0..12)).map(|_| rng.u32(0..500)).collect();
            list.sort_unstable();
            lists.set(product as u32, &list);
            model[product] = list;
            if step % 5_000 == 4_999 {
                lists.compact();
            }
            assert_eq!(lists.used, model.iter().map(Vec::len).sum::<usize>());
        }
        for (product, list) in model.iter().enumerate() {
            assert_eq!(
                lists.get(product as u32),
                list.as_slice(),
                "product {product}"
            );
        }
        // Reclaimed as it goes: never more than twice what is in use.
        assert!(
            lists.values.len() <= 2 * lists.used.max(1024),
            "{}",
            lists.values.len()
        );
    }

    #[test]
    fn a_bound_that_is_no_number_is_not_counted_here() {
        let mut index = Index::default();
        index.put("p", "draft", &["attr.weight=1".to_string()]);
        let selection = Selection {
            status: None,
            conditions: vec![Condition::Within {
                facet: "attr.weight".to_string(),
                min: Some("x".to_string()),
                max: None,
            }],
        };
        assert!(index.hits(&selection).is_none());
    }
}
