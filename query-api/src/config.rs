//! query-api's settings: [`Config`], read once from the environment at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use catalog_support::auth::AuthSettings;
use catalog_support::config::{ConfigError, Env, RedisSettings};
use catalog_support::secret::Secret;

/// Everything query-api reads from its environment, once, at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `QUERY_API_ADDR`: where the HTTP listener binds. Port 0 picks a free port (tests).
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`: the read model and the event store (history, past versions).
    pub database_url: Secret,
    /// `DATABASE_MAX_CONNECTIONS`: pool size.
    pub database_max_connections: u32,
    /// `DATABASE_REPLICA_URL`: a PostgreSQL read replica that product lists and searches are
    /// read from, when set. Reads by id (and their `min_version` waits), history and past
    /// versions stay on `DATABASE_URL`: they must see what was just written.
    pub database_replica_url: Option<Secret>,
    /// `REDIS_URL`, or `REDIS_SENTINELS`, `REDIS_MASTER_NAME` and `REDIS_SENTINEL_PASSWORD`:
    /// the Redis read model. Optional at run time: without it reads come from PostgreSQL.
    pub redis: RedisSettings,
    /// `REDIS_TIMEOUT_MS`: a Redis call slower than this falls back to PostgreSQL.
    pub redis_timeout: Duration,
    /// How bearer tokens are checked: `JWT_SECRET` (HS256), `JWKS_URL` or `JWKS_FILE` (an
    /// outside issuer's RS256, ES256 and EdDSA keys; one of the secret and a JWKS is required),
    /// `JWT_LEEWAY_SECS`, `JWT_AUDIENCE`, `JWT_ISSUER`.
    pub auth: AuthSettings,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins browsers may call from; empty (the
    /// default) turns CORS off.
    pub cors_allowed_origins: Vec<String>,
    /// `CONSOLE_COMMAND_API_ORIGIN`: where the console served at `/console/` sends commands
    /// (`scheme://host[:port]` of command-api, whose `CORS_ALLOWED_ORIGINS` must name this
    /// service's origin); unset, the console only reads.
    pub console_command_api: Option<String>,
    /// `CATALOG_NAMESPACE`: prefix of Redis keys and channels.
    pub namespace: String,
    /// `DEFAULT_LOCALE` (default `en`): the locale of texts given as plain strings, and of
    /// every text stored before texts had locales.
    pub default_locale: catalog_domain::Locale,
    /// `MIN_VERSION_WAIT_MS`: how long `?min_version=` waits for the read model (2 s by contract).
    pub min_version_wait: Duration,
    /// `BLOB_STORE`: where image renditions are read from: `file://<dir>` or `s3://<bucket>/<prefix>`.
    pub blob_store: String,
    /// `REQUEST_TIMEOUT_SECS`: a request still running after this long is answered 503.
    pub request_timeout: Duration,
    /// The change feed's streams: `SSE_STREAMS_PER_TOKEN` (default 4),
    /// `SSE_HEARTBEAT_SECS` (at most 15, the contract's longest silence), `SSE_BUFFER_EVENTS`
    /// (1024), `SSE_SLOW_CONSUMER_SECS` (30), `FEED_POLL_MS` (1000).
    pub streams: crate::feed::StreamSettings,
    /// `LOCAL_CACHE_BYTES`: how much of the products read recently each process keeps in its
    /// own memory, in front of Redis; 0 turns the local cache off.
    pub local_cache_bytes: u64,
    /// `FACET_INDEX` (default `true`): whether lists' facets are counted from an index this
    /// process keeps in memory (about 75 bytes a product at a million), following the
    /// database lists are read from; `false` counts them in PostgreSQL.
    pub facet_index: bool,
}

impl Config {
    /// Reads every setting from `env`, each variable's default standing in where it is unset.
    /// The error names the first variable that is required and missing, or malformed.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.parse("QUERY_API_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?,
            database_url: env.url(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/catalog",
                &["postgres", "postgresql"],
            )?,
            database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 16u32)?,
            database_replica_url: env
                .optional_url("DATABASE_REPLICA_URL", &["postgres", "postgresql"])?,
            redis: env.redis_settings()?,
            redis_timeout: Duration::from_millis(env.parse("REDIS_TIMEOUT_MS", 300u64)?),
            auth: env.auth_settings()?,
            cors_allowed_origins: env.origins("CORS_ALLOWED_ORIGINS")?,
            console_command_api: env.optional_origin("CONSOLE_COMMAND_API_ORIGIN")?,
            namespace: env.namespace()?,
            default_locale: env.parse("DEFAULT_LOCALE", catalog_domain::Locale::default())?,
            min_version_wait: Duration::from_millis(env.parse("MIN_VERSION_WAIT_MS", 2000u64)?),
            blob_store: env.blob_store()?,
            request_timeout: Duration::from_secs(env.parse("REQUEST_TIMEOUT_SECS", 30u64)?),
            local_cache_bytes: env.parse("LOCAL_CACHE_BYTES", 32 * 1024 * 1024u64)?,
            facet_index: env.parse("FACET_INDEX", true)?,
            streams: crate::feed::StreamSettings {
                per_token: env.parse("SSE_STREAMS_PER_TOKEN", 4usize)?,
                heartbeat: Duration::from_secs(
                    env.parse("SSE_HEARTBEAT_SECS", 15u64)?.clamp(1, 15),
                ),
                buffer: env.parse("SSE_BUFFER_EVENTS", 1024usize)?.max(1),
                slow_after: Duration::from_secs(env.parse("SSE_SLOW_CONSUMER_SECS", 30u64)?),
                poll: Duration::from_millis(env.parse("FEED_POLL_MS", 1000u64)?.max(10)),
            },
        })
    }
}
