//! command-api's settings: [`Config`], read once from the environment at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use catalog_support::auth::AuthSettings;
use catalog_support::config::{ConfigError, Env, RedisSettings};
use catalog_support::secret::Secret;

/// Lines of an import read, decided and saved together (a chunk); by default also the lines
/// run at once, so that a chunk's appends are written as one group.
pub const IMPORT_CHUNK_LINES: usize = 256;

/// Everything command-api reads from its environment, once, at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `COMMAND_API_ADDR`: where the HTTP listener binds. Port 0 picks a free port (tests).
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`: the PostgreSQL database holding the event store.
    pub database_url: Secret,
    /// `DATABASE_MAX_CONNECTIONS`: pool size. Each command holds a connection only for its load
    /// and its commit, so a small pool serves many concurrent requests.
    pub database_max_connections: u32,
    /// How bearer tokens are checked: `JWT_SECRET` (HS256), `JWKS_URL` or `JWKS_FILE` (an
    /// outside issuer's RS256, ES256 and EdDSA keys; one of the secret and a JWKS is required),
    /// `JWT_LEEWAY_SECS`, `JWT_AUDIENCE`, `JWT_ISSUER`.
    pub auth: AuthSettings,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins browsers may call from; empty (the
    /// default) turns CORS off.
    pub cors_allowed_origins: Vec<String>,
    /// `CATALOG_NAMESPACE`: prefix of exchanges, queues and Redis keys.
    pub namespace: String,
    /// `DEFAULT_LOCALE` (default `en`): the locale of texts given as plain strings, and of
    /// every text stored before texts had locales.
    pub default_locale: catalog_domain::Locale,
    /// `SNAPSHOT_EVERY`: a product's state is snapshotted every this many events, so loading it
    /// reads at most this many events after the snapshot.
    pub snapshot_every: usize,
    /// `PRODUCT_CACHE_ENTRIES` (default 0: none): products kept in memory as the last command
    /// left them, so a command on a warm product reads nothing before it appends. Off by
    /// default while command-api's idle memory has no room for it (docs/PERFORMANCE.md).
    pub product_cache_entries: u64,
    /// `APPEND_WRITERS` (default 2) and `APPEND_GROUP_MAX` (default 64): how concurrent
    /// commands' appends are grouped into one transaction: how many groups are written at
    /// once, and how many commands one holds (docs/PERFORMANCE.md, group commit).
    pub append_grouping: catalog_store::append::Grouping,
    /// `IDEMPOTENCY_TTL_HOURS`: how long an Idempotency-Key is remembered (at least 24 by contract).
    pub idempotency_ttl: Duration,
    /// `MAX_JSON_BODY_BYTES`: larger JSON bodies are refused with 413.
    pub max_json_body: usize,
    /// `REQUEST_TIMEOUT_SECS`: a request still running after this long is answered 503.
    pub request_timeout: Duration,
    /// `MIGRATE_ON_START`: run pending migrations before serving (default true).
    pub migrate_on_start: bool,
    /// `REDIS_URL`, or `REDIS_SENTINELS`, `REDIS_MASTER_NAME` and `REDIS_SENTINEL_PASSWORD`:
    /// where rate-limit state and sessions live, shared by every replica.
    pub redis: RedisSettings,
    /// `RATE_LIMIT_PER_SECOND`: sustained commands per second allowed to one client (token
    /// subject); 0 turns rate limiting off.
    pub rate_limit_per_second: f64,
    /// `RATE_LIMIT_BURST`: commands one client may send at once above the sustained rate.
    pub rate_limit_burst: u32,
    /// `BLOB_STORE`: where image originals go: `file://<dir>` or `s3://<bucket>/<prefix>`.
    pub blob_store: String,
    /// `UPLOAD_MAX_BYTES`: larger uploads are refused with 413 (20 MiB by default).
    pub upload_max_bytes: usize,
    /// `IMPORT_MAX_BYTES`: the largest file `POST /imports` takes (1 GiB); larger is 413.
    pub import_max_bytes: u64,
    /// `IMPORT_UPLOAD_TIMEOUT_SECS`: how long an import's upload may take (1 hour), in place of
    /// `REQUEST_TIMEOUT_SECS`: a large file over a slow link takes minutes.
    pub import_upload_timeout: Duration,
    /// `IMPORT_CONCURRENCY`: lines of an import run at once (256, a whole chunk); their
    /// appends are written together, in groups of up to this many commands.
    pub import_concurrency: usize,
    /// `UPLOAD_MAX_PIXELS`: images with more pixels are refused with 422 (50 megapixels).
    pub upload_max_pixels: u64,
    /// `AMQP_URL`: the RabbitMQ broker the relay publishes events to, or every node of a
    /// cluster, comma-separated (tried in turn; see `catalog_store::broker::connect`).
    pub amqp_url: Secret,
    /// `WEBHOOK_ALLOW_PRIVATE`: webhook subscriptions may name loopback, private and
    /// link-local addresses (default false: such URLs are refused, 422). For a receiver on the
    /// same private network; `projector webhooks` reads the same variable.
    pub webhook_allow_private: bool,
    /// `RELAY_ENABLED`: run the outbox relay in this process (default true). Every replica may
    /// run it: an advisory lock keeps exactly one active.
    pub relay_enabled: bool,
    /// `RELAY_BATCH_SIZE`: events published per round under load.
    pub relay_batch_size: i64,
    /// `RELAY_ROUNDS_IN_FLIGHT`: rounds the relay publishes before the oldest is confirmed
    /// (default 4); 1 waits for each round's confirms before reading the next.
    pub relay_rounds_in_flight: usize,
    /// `PROJECTOR_SHARDS`: the relay declares the projector's queues, so it must know them.
    pub projector_shards: u16,
    /// `RELAY_POLL_INTERVAL_MS`: how often the relay looks for events when no notification
    /// woke it (a notification is lost while the listener reconnects, for instance).
    pub relay_poll_interval: Duration,
}

impl Config {
    /// Reads every setting from `env`, each variable's default standing in where it is unset.
    /// The error names the first variable that is required and missing, malformed, or out of
    /// range (`IDEMPOTENCY_TTL_HOURS` below 24, `SNAPSHOT_EVERY` 0, …).
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let snapshot_every = env.parse("SNAPSHOT_EVERY", 50usize)?;
        if snapshot_every == 0 {
            return Err(ConfigError::new("SNAPSHOT_EVERY", "must be at least 1"));
        }
        let ttl_hours = env.parse("IDEMPOTENCY_TTL_HOURS", 24u64)?;
        if ttl_hours < 24 {
            return Err(ConfigError::new(
                "IDEMPOTENCY_TTL_HOURS",
                "must be at least 24 (the API promises keys are kept 24 hours)",
            ));
        }
        let grouping = catalog_store::append::Grouping::default();
        Ok(Self {
            listen_addr: env.parse("COMMAND_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            database_url: env.url(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/catalog",
                &["postgres", "postgresql"],
            )?,
            database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 16u32)?,
            auth: env.auth_settings()?,
            cors_allowed_origins: env.origins("CORS_ALLOWED_ORIGINS")?,
            namespace: env.namespace()?,
            default_locale: env.parse("DEFAULT_LOCALE", catalog_domain::Locale::default())?,
            snapshot_every,
            product_cache_entries: env.parse("PRODUCT_CACHE_ENTRIES", 0u64)?,
            append_grouping: catalog_store::append::Grouping {
                writers: env.parse("APPEND_WRITERS", grouping.writers)?.max(1),
                max_commands: env.parse("APPEND_GROUP_MAX", grouping.max_commands)?.max(1),
            },
            idempotency_ttl: Duration::from_secs(ttl_hours * 3600),
            max_json_body: env.parse("MAX_JSON_BODY_BYTES", 1024 * 1024usize)?,
            request_timeout: Duration::from_secs(env.parse("REQUEST_TIMEOUT_SECS", 30u64)?),
            migrate_on_start: env.parse("MIGRATE_ON_START", true)?,
            redis: env.redis_settings()?,
            rate_limit_per_second: env.parse("RATE_LIMIT_PER_SECOND", 50.0f64)?.max(0.0),
            rate_limit_burst: env.parse("RATE_LIMIT_BURST", 100u32)?.max(1),
            blob_store: env.blob_store()?,
            upload_max_bytes: env.parse("UPLOAD_MAX_BYTES", 20 * 1024 * 1024usize)?,
            import_max_bytes: env.parse("IMPORT_MAX_BYTES", 1u64 << 30)?,
            import_upload_timeout: Duration::from_secs(
                env.parse("IMPORT_UPLOAD_TIMEOUT_SECS", 3600u64)?,
            ),
            import_concurrency: env.parse("IMPORT_CONCURRENCY", IMPORT_CHUNK_LINES)?.max(1),
            upload_max_pixels: env.parse("UPLOAD_MAX_PIXELS", 50_000_000u64)?,
            amqp_url: env.url_list(
                "AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                &["amqp", "amqps"],
            )?,
            relay_enabled: env.parse("RELAY_ENABLED", true)?,
            webhook_allow_private: env.parse("WEBHOOK_ALLOW_PRIVATE", false)?,
            relay_batch_size: env.parse("RELAY_BATCH_SIZE", 500i64)?.max(1),
            relay_rounds_in_flight: env.parse("RELAY_ROUNDS_IN_FLIGHT", 4usize)?.max(1),
            projector_shards: env.projector_shards()?,
            relay_poll_interval: Duration::from_millis(
                env.parse("RELAY_POLL_INTERVAL_MS", 500u64)?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use catalog_support::config::from_pairs;

    use super::*;

    #[test]
    fn defaults_need_only_the_jwt_secret() {
        let config = Config::from_env(&from_pairs(&[("JWT_SECRET", "s")])).unwrap();
        assert_eq!(config.listen_addr.port(), 8080);
        assert_eq!(config.namespace, "catalog");
        assert_eq!(config.max_json_body, 1 << 20);
        let err = Config::from_env(&from_pairs(&[])).unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
    }

    #[test]
    fn a_jwks_stands_in_for_the_secret() {
        let config =
            Config::from_env(&from_pairs(&[("JWKS_URL", "https://id.example/jwks")])).unwrap();
        assert!(config.auth.secret.is_none() && config.auth.jwks.is_some());
        let err = Config::from_env(&from_pairs(&[
            ("JWT_SECRET", "s"),
            ("JWKS_URL", "https://id.example/jwks"),
            ("JWKS_FILE", "/etc/jwks.json"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "JWKS_URL");
    }

    #[test]
    fn a_malformed_database_url_is_named() {
        let err = Config::from_env(&from_pairs(&[
            ("JWT_SECRET", "s"),
            ("DATABASE_URL", "not a url"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }

    #[test]
    fn idempotency_keys_are_kept_at_least_a_day() {
        let err = Config::from_env(&from_pairs(&[
            ("JWT_SECRET", "s"),
            ("IDEMPOTENCY_TTL_HOURS", "1"),
        ]))
        .unwrap_err();
        assert_eq!(err.var, "IDEMPOTENCY_TTL_HOURS");
    }
}
