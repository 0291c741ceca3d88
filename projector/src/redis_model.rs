//! The Redis read model: one ProductView document per product, written only forward.

use std::time::Duration;

use catalog_domain::ProductView;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

/// Writes the document unless Redis already holds a newer version, and announces the new
/// version on the namespace's channel (read-your-writes waiters listen there). Atomic, so two
/// writers racing can never leave an older document behind.
const PUT: &str = r#"
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) > tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'doc', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"#;

#[derive(Clone)]
pub struct RedisReadModel {
    conn: ConnectionManager,
    namespace: String,
    put: Script,
}

impl RedisReadModel {
    /// Connects with bounded timeouts, so an unreachable Redis fails a write instead of
    /// hanging the consumer.
    pub async fn connect(url: &str, namespace: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            conn,
            namespace: namespace.to_string(),
            put: Script::new(PUT),
        })
    }

    /// `{…}` is a Redis Cluster hash tag: all of one product's keys live on one shard.
    pub fn key(&self, id: &str) -> String {
        format!("{}:product:{{{id}}}", self.namespace)
    }

    pub fn versions_channel(&self) -> String {
        format!("{}:product-versions", self.namespace)
    }

    /// True if written, false if Redis held a newer version.
    pub async fn put(&self, view: &ProductView) -> redis::RedisResult<bool> {
        let doc = serde_json::to_string(view).expect("a view serializes");
        let mut conn = self.conn.clone();
        let written: i32 = self
            .put
            .key(self.key(&view.id))
            .arg(view.version)
            .arg(doc)
            .arg(self.versions_channel())
            .arg(format!("{}:{}", view.id, view.version))
            .invoke_async(&mut conn)
            .await?;
        Ok(written == 1)
    }

    /// Writes many views in one round trip per batch.
    pub async fn put_many(&self, views: &[ProductView]) -> redis::RedisResult<()> {
        if views.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for view in views {
            let doc = serde_json::to_string(view).expect("a view serializes");
            pipe.invoke_script(
                self.put
                    .key(self.key(&view.id))
                    .arg(view.version)
                    .arg(doc)
                    .arg(self.versions_channel())
                    .arg(format!("{}:{}", view.id, view.version)),
            )
            .ignore();
        }
        // EVALSHA fails on a server that has not seen the script yet; load it first.
        self.put.prepare_invoke().load_async(&mut conn).await?;
        pipe.query_async::<()>(&mut conn).await
    }

    pub async fn get(&self, id: &str) -> redis::RedisResult<Option<ProductView>> {
        let mut conn = self.conn.clone();
        let doc: Option<String> = conn.hget(self.key(id), "doc").await?;
        Ok(doc.and_then(|d| serde_json::from_str(&d).ok()))
    }

    /// Every product id that has a document, for verification.
    pub async fn ids(&self) -> redis::RedisResult<Vec<String>> {
        let prefix = format!("{}:product:{{", self.namespace);
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
        let mut conn = self.conn.clone();
        let pattern = format!("{}:product:{{*}}", self.namespace);
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

    /// Deletes every product document of the namespace (rebuild, test clean-up).
    pub async fn delete_all(&self) -> redis::RedisResult<usize> {
        let keys = self.keys().await?;
        let mut conn = self.conn.clone();
        for chunk in keys.chunks(500) {
            conn.del::<_, ()>(chunk).await?;
        }
        Ok(keys.len())
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await
    }
}
