//! The Redis read model: one ProductView document per product, written only forward.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use catalog_domain::ProductView;
use catalog_support::config::RedisSettings;
use catalog_support::health::{Dependency, Need};
use catalog_support::lazy_redis::{LazyRedis, RedisConnection, RedisTimeouts};
use redis::{AsyncCommands, Script};

use crate::generation::{redis_prefix, GENERATION};

/// Writes the document unless Redis already holds a newer version, and announces the new
/// version on the namespace's channel (read-your-writes waiters listen there). Atomic, so two
/// writers racing can never leave an older document behind.
const PUT: &str = r#"
local current = redis.call('HGET', KEYS[1], 'version')
if current and (tonumber(current) > tonumber(ARGV[1])
    or (ARGV[5] == 'newer' and tonumber(current) == tonumber(ARGV[1]))) then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'doc', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"#;

/// Claims the refill: KEYS[1] the filled marker, ARGV[1] the master's replication id, ARGV[2]
/// the lease in seconds. A marker of another master (a failover since) counts as none.
const CLAIM_REFILL: &str = r#"
local marker = redis.call('GET', KEYS[1])
if marker == ARGV[1] or marker == 'refilling:' .. ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], 'refilling:' .. ARGV[1], 'EX', ARGV[2])
return 1
"#;

/// Ends the refill this master's claim names (dropping the lease): KEYS[1] the marker, ARGV[1]
/// the master's replication id.
const END_REFILL: &str = r#"
if redis.call('GET', KEYS[1]) ~= 'refilling:' .. ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"#;

/// The replication id of the master `conn` reaches. It is new whenever a server starts and
/// whenever a replica is promoted, and stays while that master serves. A Redis too old to
/// report one (before 4.0) never fails over under Catalog's marker: one name for all.
async fn replication_id(conn: &mut RedisConnection) -> redis::RedisResult<String> {
    let info: redis::InfoDict = redis::cmd("INFO")
        .arg("replication")
        .query_async(conn)
        .await?;
    Ok(info
        .get::<String>("master_replid")
        .unwrap_or_else(|| "filled".to_string()))
}

/// A handle to the Redis read model; cheap to clone.
///
/// The connection is made on first use, not at start-up, so a service starts while Redis is
/// down. After a failed connection attempt the model reports Redis unavailable for a short
/// cool-down instead of waiting on every call: readers fall back to PostgreSQL at once. Behind
/// Sentinel, the master is looked up again after it fails ([`LazyRedis`]).
#[derive(Clone)]
pub struct RedisReadModel {
    inner: Arc<Inner>,
}

struct Inner {
    redis: LazyRedis,
    namespace: String,
    /// The read-model generation whose documents are read and written: this release's,
    /// unless told otherwise (query-api follows the live one); 0 while unknown, when every
    /// read misses and nothing is written.
    generation: AtomicI32,
    put: Script,
}

/// How long after a failed connection attempt calls fail at once, without trying Redis.
const COOL_DOWN: Duration = Duration::from_secs(2);

impl RedisReadModel {
    /// Readiness's view of Redis: it answers a PING.
    pub fn dependency(&self, need: Need) -> Dependency {
        let redis = self.clone();
        Dependency::new("redis", need, move || {
            let redis = redis.clone();
            async move { redis.ping().await.map_err(|e| e.to_string()) }
        })
    }

    /// `timeout` bounds connecting and every command, so an unreachable Redis fails a call
    /// instead of hanging it. Fails only on a malformed URL.
    pub fn new(
        redis: &RedisSettings,
        namespace: &str,
        timeout: Duration,
    ) -> redis::RedisResult<Self> {
        let timeouts = RedisTimeouts {
            connect: timeout,
            response: timeout,
            cool_down: COOL_DOWN,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                redis: LazyRedis::new(redis, timeouts)?,
                namespace: namespace.to_string(),
                generation: AtomicI32::new(GENERATION),
                put: Script::new(PUT),
            }),
        })
    }

    /// Connects now: for one-shot commands that cannot work without Redis (rebuild, verify).
    pub async fn connect(redis: &RedisSettings, namespace: &str) -> redis::RedisResult<Self> {
        let model = Self::new(redis, namespace, Duration::from_secs(2))?;
        model.connection().await?;
        Ok(model)
    }

    async fn connection(&self) -> redis::RedisResult<RedisConnection> {
        self.inner.redis.connection().await
    }

    /// A client for the master as it is now, for connections of a different kind (pub/sub).
    /// Behind Sentinel each call looks the master up, so ask again after losing one.
    pub async fn client(&self) -> redis::RedisResult<redis::Client> {
        self.inner.redis.client().await
    }

    /// The read-model generation whose documents this handle reads and writes; 0 while
    /// unknown.
    pub fn generation(&self) -> i32 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Reads and writes `generation`'s documents from now on (0: none until told again).
    pub fn follow(&self, generation: i32) {
        self.inner.generation.store(generation, Ordering::Release);
    }

    fn prefix(&self) -> String {
        redis_prefix(&self.inner.namespace, self.generation())
    }

    /// `{…}` is a Redis Cluster hash tag: all of one product's keys live on one shard.
    pub fn key(&self, id: &str) -> String {
        self.key_in(self.generation(), id)
    }

    fn key_in(&self, generation: i32, id: &str) -> String {
        format!(
            "{}:product:{{{id}}}",
            redis_prefix(&self.inner.namespace, generation)
        )
    }

    /// The pub/sub channel every write announces `<id>:<version>` on: read-your-writes waiters
    /// subscribe to it.
    pub fn versions_channel(&self) -> String {
        format!("{}:product-versions", self.inner.namespace)
    }

    /// True if written, false if Redis held a newer version.
    pub async fn put(&self, view: &ProductView) -> redis::RedisResult<bool> {
        self.write(self.generation(), view, false).await
    }

    /// Writes back `view`, read from PostgreSQL's `generation`, as a document of that
    /// generation (whichever this handle follows), unless Redis holds its version or a newer
    /// one: a write-back never replaces what the projector wrote, even of the same version
    /// (which, across a switch of generations, may have another shape).
    pub async fn write_back(
        &self,
        generation: i32,
        view: &ProductView,
    ) -> redis::RedisResult<bool> {
        self.write(generation, view, true).await
    }

    async fn write(
        &self,
        generation: i32,
        view: &ProductView,
        only_newer: bool,
    ) -> redis::RedisResult<bool> {
        if generation == 0 {
            return Ok(false);
        }
        let doc = serde_json::to_string(view).expect("a view serializes");
        let mut conn = self.connection().await?;
        let written: i32 = self
            .inner
            .put
            .key(self.key_in(generation, &view.id))
            .arg(view.version)
            .arg(doc)
            .arg(self.versions_channel())
            .arg(format!("{}:{}", view.id, view.version))
            .arg(if only_newer { "newer" } else { "" })
            .invoke_async(&mut conn)
            .await?;
        Ok(written == 1)
    }

    /// Writes many views in one round trip per batch.
    pub async fn put_many(&self, views: &[ProductView]) -> redis::RedisResult<()> {
        if views.is_empty() || self.generation() == 0 {
            return Ok(());
        }
        let mut conn = self.connection().await?;
        let mut pipe = redis::pipe();
        for view in views {
            let doc = serde_json::to_string(view).expect("a view serializes");
            pipe.invoke_script(
                self.inner
                    .put
                    .key(self.key(&view.id))
                    .arg(view.version)
                    .arg(doc)
                    .arg(self.versions_channel())
                    .arg(format!("{}:{}", view.id, view.version)),
            )
            .ignore();
        }
        // EVALSHA fails on a server that has not seen the script yet; load it first.
        self.inner
            .put
            .prepare_invoke()
            .load_async(&mut conn)
            .await?;
        pipe.query_async::<()>(&mut conn).await
    }

    /// The document of product `id`, parsed; `None` when Redis has none, or one that does not
    /// parse as a `ProductView`.
    pub async fn get(&self, id: &str) -> redis::RedisResult<Option<ProductView>> {
        let doc = self.get_raw(id).await?;
        Ok(doc.and_then(|d| serde_json::from_str(&d).ok()))
    }

    /// The stored JSON of a product, unparsed.
    pub async fn get_raw(&self, id: &str) -> redis::RedisResult<Option<String>> {
        if self.generation() == 0 {
            return Ok(None);
        }
        let mut conn = self.connection().await?;
        conn.hget(self.key(id), "doc").await
    }

    /// Every product id that has a document, for verification.
    pub async fn ids(&self) -> redis::RedisResult<Vec<String>> {
        let prefix = format!("{}:product:{{", self.prefix());
        Ok(self
            .keys()
            .await?
            .into_iter()
            .filter_map(|k| {
                k.strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix('}'))
                    .map(str::to_string)
            })
            .collect())
    }

    async fn keys(&self) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.connection().await?;
        let pattern = format!("{}:product:{{*}}", self.prefix());
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// Deletes every product document of the namespace, and the filled marker with them
    /// (rebuild, test clean-up).
    pub async fn delete_all(&self) -> redis::RedisResult<usize> {
        let keys = self.keys().await?;
        let mut conn = self.connection().await?;
        conn.del::<_, ()>(self.filled_marker()).await?;
        for chunk in keys.chunks(500) {
            conn.del::<_, ()>(chunk).await?;
        }
        Ok(keys.len())
    }

    /// The key that says Redis holds the whole read model. Redis keeps nothing on disk, so a
    /// restart or a flush removes it together with the documents: its absence is how the
    /// projector learns that it must fill Redis again (see `projector::refill`).
    ///
    /// Its value names the master it was filled on (the master's replication id): a replica
    /// promoted by a failover may lack the old master's last writes, the marker among what it
    /// did receive. It has a replication id of its own, so the marker no longer matches and
    /// the promoted replica is refilled too. While a refill runs, the value is
    /// `refilling:<replication id>`.
    fn filled_marker(&self) -> String {
        format!("{}:read-model-filled", self.prefix())
    }

    /// Whether Redis holds the whole read model, or a refill of it is under way, on the master
    /// as it is now. False after a restart, a flush or a failover.
    pub async fn is_filled(&self) -> redis::RedisResult<bool> {
        let mut conn = self.connection().await?;
        let master = replication_id(&mut conn).await?;
        let marker: Option<String> = conn.get(self.filled_marker()).await?;
        Ok(marker.is_some_and(|m| m == master || m == format!("refilling:{master}")))
    }

    /// Claims the refill for `lease` (one refill at a time across projector processes);
    /// false when another process holds it, or Redis is filled.
    pub async fn begin_refill(&self, lease: Duration) -> redis::RedisResult<bool> {
        let mut conn = self.connection().await?;
        let master = replication_id(&mut conn).await?;
        let claimed: i32 = Script::new(CLAIM_REFILL)
            .key(self.filled_marker())
            .arg(master)
            .arg(lease.as_secs().max(1))
            .invoke_async(&mut conn)
            .await?;
        Ok(claimed == 1)
    }

    /// Marks the refill done, unless the claim vanished meanwhile (Redis was flushed again, or
    /// failed over, during the refill, which must then start over): false in that case.
    pub async fn end_refill(&self) -> redis::RedisResult<bool> {
        let mut conn = self.connection().await?;
        let master = replication_id(&mut conn).await?;
        let kept: i32 = Script::new(END_REFILL)
            .key(self.filled_marker())
            .arg(master)
            .invoke_async(&mut conn)
            .await?;
        Ok(kept == 1)
    }

    /// Gives a failed refill's claim back, so the next attempt need not wait for the lease.
    pub async fn abandon_refill(&self) -> redis::RedisResult<()> {
        let mut conn = self.connection().await?;
        conn.del(self.filled_marker()).await
    }

    /// Answers when Redis does (a PING), connecting first if need be.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.connection().await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await
    }
}
