//! The settings of every projector subcommand, read from the environment once at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use catalog_support::config::{ConfigError, Env, RedisSettings};
use catalog_support::secret::Secret;

/// Everything the projector reads from its environment, once, at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: the event store and the PostgreSQL read model (one database).
    pub database_url: Secret,
    /// `REDIS_URL`, or `REDIS_SENTINELS`, `REDIS_MASTER_NAME` and `REDIS_SENTINEL_PASSWORD`:
    /// the Redis read model.
    pub redis: RedisSettings,
    /// `AMQP_URL`: the broker the events arrive from, or every node of a cluster,
    /// comma-separated (tried in turn; see `catalog_store::broker::connect`).
    pub amqp_url: Secret,
    /// `CATALOG_NAMESPACE`: prefix of queues and Redis keys.
    pub namespace: String,
    /// `DEFAULT_LOCALE` (default `en`): the locale of texts given as plain strings, and of
    /// every text stored before texts had locales.
    pub default_locale: catalog_domain::Locale,
    /// `PROJECTOR_PREFETCH`: unacknowledged messages in flight, which is also the largest batch
    /// the projector applies in one transaction (in order; at most 256).
    pub prefetch: u16,
    /// `PROJECTOR_SHARDS`: queues the events are spread over by product; every projector
    /// process consumes all of them, one process active per queue (see `amqp`).
    pub shards: u16,
    /// `PROJECTOR_INSTANCE`, `PROJECTOR_REPLICAS` and `PROJECTOR_STANDBY_AFTER_SECS`: which
    /// shards this process asks for first, and when it stands by for the others
    /// (`consumer::Placement`).
    pub placement: crate::consumer::Placement,
    /// `PROJECTOR_HTTP_ADDR`: where `/metrics` and `/health/*` are served.
    pub http_addr: SocketAddr,
    /// `BLOB_STORE`: where image originals and renditions live (image worker).
    pub blob_store: String,
    /// `IMAGE_CONCURRENCY`: images rendered at once by one image worker (CPU-bound: about one
    /// per core).
    pub image_concurrency: usize,
    /// `IMAGE_MAX_PIXELS`: the worker refuses to decode larger images (the upload limit, again,
    /// as a second line of defence).
    pub image_max_pixels: u64,
    /// `IMAGE_WORKER_HTTP_ADDR`: where the image worker serves `/metrics` and `/health/*`.
    pub image_http_addr: SocketAddr,
    /// `PROJECTOR_STATUS_EVERY_SECS`: how often the status line (rate, lag) is logged.
    pub status_every: Duration,
    /// `UPLOAD_SWEEP_EVERY_SECS`: how often the image worker looks for originals of uploads
    /// that died before their image was attached.
    pub upload_sweep_every: Duration,
    /// `UPLOAD_ABANDONED_AFTER_SECS`: how old an upload's intent must be before it counts as
    /// abandoned. Must exceed command-api's `REQUEST_TIMEOUT_SECS`.
    pub upload_abandoned_after: Duration,
    /// `WEBHOOK_HTTP_ADDR`: where the webhook dispatcher serves `/metrics` and `/health/*`.
    pub webhook_http_addr: SocketAddr,
    /// The webhook dispatcher's `WEBHOOK_*` settings: batch size, request timeout, retries,
    /// pausing, the address policy, concurrency and polling (`webhooks::Settings`).
    pub webhooks: crate::webhooks::Settings,
}

impl Config {
    /// Reads every setting from `env`; an unset or empty variable takes its default: database
    /// `catalog`, Redis and RabbitMQ (guest) on 127.0.0.1 at their standard ports, namespace
    /// `catalog`, prefetch 256, 1 shard, instance 0 of 1 replica with standby after 10 s,
    /// `127.0.0.1:8082` (image worker: `:8083`, webhook dispatcher: `:8084`), blobs in
    /// `file://./data/blobs`, as many images at once as cores (2 when unknown), 50 million
    /// pixels, status every 10 s, upload sweep every 60 s, uploads abandoned after 120 s, and
    /// the webhook defaults of `webhooks::Settings::default`. Prefetch, image concurrency and
    /// the status and sweep intervals are raised to at least 1.
    ///
    /// Fails naming the first variable whose value does not parse, has the wrong URL scheme or
    /// is out of range.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            database_url: env.url(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/catalog",
                &["postgres", "postgresql"],
            )?,
            redis: env.redis_settings()?,
            amqp_url: env.url_list(
                "AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                &["amqp", "amqps"],
            )?,
            namespace: env.namespace()?,
            default_locale: env.parse("DEFAULT_LOCALE", catalog_domain::Locale::default())?,
            prefetch: env.parse("PROJECTOR_PREFETCH", 256u16)?.max(1),
            shards: env.projector_shards()?,
            placement: placement(env)?,
            http_addr: env.parse(
                "PROJECTOR_HTTP_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8082)),
            )?,
            blob_store: env.blob_store()?,
            image_concurrency: env
                .parse(
                    "IMAGE_CONCURRENCY",
                    std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                )?
                .max(1),
            image_max_pixels: env.parse("IMAGE_MAX_PIXELS", 50_000_000u64)?,
            image_http_addr: env.parse(
                "IMAGE_WORKER_HTTP_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8083)),
            )?,
            status_every: Duration::from_secs(
                env.parse("PROJECTOR_STATUS_EVERY_SECS", 10u64)?.max(1),
            ),
            upload_sweep_every: Duration::from_secs(
                env.parse("UPLOAD_SWEEP_EVERY_SECS", 60u64)?.max(1),
            ),
            upload_abandoned_after: Duration::from_secs(
                env.parse("UPLOAD_ABANDONED_AFTER_SECS", 120u64)?,
            ),
            webhook_http_addr: env.parse(
                "WEBHOOK_HTTP_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8084)),
            )?,
            webhooks: webhooks(env)?,
        })
    }
}

/// The webhook dispatcher's settings. Values that would make it spin or never deliver (no
/// concurrency, a zero timeout or poll interval, a batch outside the feed's page) are refused;
/// a retry cap below the base is raised to it.
fn webhooks<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<crate::webhooks::Settings, ConfigError> {
    let defaults = crate::webhooks::Settings::default();
    let batch_size = env.parse("WEBHOOK_BATCH_SIZE", defaults.batch_size)?;
    if !(1..=catalog_store::feed::PAGE_MAX).contains(&batch_size) {
        return Err(ConfigError::new(
            "WEBHOOK_BATCH_SIZE",
            format!("must be between 1 and {}", catalog_store::feed::PAGE_MAX),
        ));
    }
    let positive = |var: &str, value: u64| {
        if value == 0 {
            Err(ConfigError::new(var, "must be at least 1"))
        } else {
            Ok(value)
        }
    };
    let timeout = positive(
        "WEBHOOK_TIMEOUT_SECS",
        env.parse("WEBHOOK_TIMEOUT_SECS", defaults.timeout.as_secs())?,
    )?;
    let retry_base = Duration::from_millis(env.parse(
        "WEBHOOK_RETRY_BASE_MS",
        defaults.retry_base.as_millis() as u64,
    )?);
    let retry_max = Duration::from_millis(env.parse(
        "WEBHOOK_RETRY_MAX_MS",
        defaults.retry_max.as_millis() as u64,
    )?);
    let concurrency = positive(
        "WEBHOOK_CONCURRENCY",
        env.parse("WEBHOOK_CONCURRENCY", defaults.concurrency as u64)?,
    )?;
    let poll_interval = positive(
        "WEBHOOK_POLL_INTERVAL_MS",
        env.parse(
            "WEBHOOK_POLL_INTERVAL_MS",
            defaults.poll_interval.as_millis() as u64,
        )?,
    )?;
    Ok(crate::webhooks::Settings {
        batch_size,
        timeout: Duration::from_secs(timeout),
        retry_base,
        retry_max: retry_max.max(retry_base),
        pause_after: Duration::from_secs(
            env.parse("WEBHOOK_PAUSE_AFTER_SECS", defaults.pause_after.as_secs())?,
        ),
        allow_private: env.parse("WEBHOOK_ALLOW_PRIVATE", defaults.allow_private)?,
        concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
        poll_interval: Duration::from_millis(poll_interval),
    })
}

/// Which shards this replica prefers. An instance outside `0..PROJECTOR_REPLICAS` would prefer
/// none and stand by everywhere, silently: it is refused instead.
fn placement<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<crate::consumer::Placement, ConfigError> {
    let instance = env.parse("PROJECTOR_INSTANCE", 0u16)?;
    let replicas = env.parse("PROJECTOR_REPLICAS", 1u16)?;
    if instance >= replicas.max(1) {
        return Err(ConfigError::new(
            "PROJECTOR_INSTANCE",
            format!(
                "must be below PROJECTOR_REPLICAS ({}): instances are numbered from 0",
                replicas.max(1)
            ),
        ));
    }
    Ok(crate::consumer::Placement {
        instance,
        replicas,
        standby_after: Duration::from_secs(env.parse("PROJECTOR_STANDBY_AFTER_SECS", 10u64)?),
    })
}

#[cfg(test)]
mod tests {
    use catalog_support::config::from_pairs;

    use super::*;

    #[test]
    fn an_instance_outside_the_replicas_is_refused() {
        let config = |pairs: &[(&str, &str)]| Config::from_env(&from_pairs(pairs));
        for (instance, replicas) in [("0", "1"), ("2", "3")] {
            let placement = config(&[
                ("PROJECTOR_INSTANCE", instance),
                ("PROJECTOR_REPLICAS", replicas),
            ])
            .unwrap()
            .placement;
            assert_eq!(placement.instance.to_string(), instance);
        }
        for (instance, replicas) in [("1", "1"), ("3", "3"), ("1", "0")] {
            let err = config(&[
                ("PROJECTOR_INSTANCE", instance),
                ("PROJECTOR_REPLICAS", replicas),
            ])
            .err()
            .unwrap_or_else(|| panic!("{instance} of {replicas} was accepted"));
            assert_eq!(err.var, "PROJECTOR_INSTANCE");
        }
    }

    #[test]
    fn webhook_settings_default_to_the_contract_and_refuse_what_would_never_deliver() {
        let config = |pairs: &[(&str, &str)]| Config::from_env(&from_pairs(pairs));
        let webhooks = config(&[]).unwrap().webhooks;
        assert_eq!(webhooks.batch_size, 100);
        assert_eq!(webhooks.timeout, Duration::from_secs(10));
        assert_eq!(webhooks.retry_max, Duration::from_secs(600));
        assert_eq!(webhooks.pause_after, Duration::from_secs(86_400));
        assert!(!webhooks.allow_private);
        let webhooks = config(&[
            ("WEBHOOK_ALLOW_PRIVATE", "true"),
            ("WEBHOOK_RETRY_BASE_MS", "50"),
            ("WEBHOOK_RETRY_MAX_MS", "10"),
        ])
        .unwrap()
        .webhooks;
        assert!(webhooks.allow_private);
        assert_eq!(webhooks.retry_max, Duration::from_millis(50));
        for (var, value) in [
            ("WEBHOOK_BATCH_SIZE", "0"),
            ("WEBHOOK_BATCH_SIZE", "1001"),
            ("WEBHOOK_TIMEOUT_SECS", "0"),
            ("WEBHOOK_CONCURRENCY", "0"),
            ("WEBHOOK_ALLOW_PRIVATE", "yes"),
        ] {
            let err = config(&[(var, value)])
                .err()
                .unwrap_or_else(|| panic!("{var}={value} was accepted"));
            assert_eq!(err.var, var);
        }
    }
}
