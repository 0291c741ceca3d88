//! Per-client rate limiting with its state in Redis, so the limit holds across every replica.
//!
//! The algorithm is GCRA (a leaky bucket kept as one timestamp per client): a client may send
//! `burst` commands at once and `per_second` sustained. The check and the update are one Lua
//! script on Redis's own clock, so replicas with skewed clocks still agree.
//!
//! Rate limiting protects the service; it is not a reason to refuse writes. If Redis cannot be
//! reached, requests are let through and the outage is logged.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use catalog_support::auth::Actor;
use catalog_support::config::RedisSettings;
use catalog_support::lazy_redis::{LazyRedis, RedisConnection, RedisTimeouts};
use catalog_support::problem::Problem;
use redis::Script;

/// Returns 0 when allowed, else the milliseconds until the next request would be.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - tolerance
if wait > 0 then
  return wait
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now))
return 0
"#;

/// The per-client limit, checked in Redis; clones share one connection.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    redis: LazyRedis,
    namespace: String,
    /// Milliseconds between two commands at the sustained rate.
    interval_ms: f64,
    /// How far ahead of the sustained rate a burst may run, in milliseconds.
    tolerance_ms: f64,
    script: Script,
}

impl RateLimiter {
    /// `None` when rate limiting is turned off (`per_second` is 0).
    pub fn new(
        redis: &RedisSettings,
        namespace: &str,
        per_second: f64,
        burst: u32,
    ) -> redis::RedisResult<Option<Self>> {
        if per_second <= 0.0 {
            return Ok(None);
        }
        let interval_ms = 1000.0 / per_second;
        Ok(Some(Self {
            inner: Arc::new(Inner {
                // Short: a slow Redis must not slow every command down.
                redis: LazyRedis::new(
                    redis,
                    RedisTimeouts::answering_within(Duration::from_millis(250)),
                )?,
                namespace: namespace.to_string(),
                interval_ms,
                tolerance_ms: interval_ms * f64::from(burst),
                script: Script::new(GCRA),
            }),
        }))
    }

    async fn connection(&self) -> redis::RedisResult<RedisConnection> {
        self.inner.redis.connection().await
    }

    /// For readiness: the limiter's Redis answers.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut connection = self.connection().await?;
        redis::cmd("PING").query_async(&mut connection).await
    }

    /// `Ok(None)` if `client` may proceed, `Ok(Some(wait))` if it must wait.
    async fn check(&self, client: &str) -> redis::RedisResult<Option<Duration>> {
        let inner = &self.inner;
        let mut connection = self.connection().await?;
        let wait_ms: i64 = inner
            .script
            .key(format!("{}:ratelimit:{{{client}}}", inner.namespace))
            .arg(inner.interval_ms)
            .arg(inner.tolerance_ms)
            .invoke_async(&mut connection)
            .await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms as u64)))
    }
}

/// Holds each authenticated client (the token's subject) to the limit: over it, 429
/// `rate-limited` with `Retry-After`. A request passes unchecked when limiting is off, when it
/// has no authenticated actor, or when Redis cannot be reached.
pub async fn middleware(
    State(limiter): State<Option<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let (Some(limiter), Some(actor)) = (limiter, request.extensions().get::<Actor>()) else {
        return next.run(request).await;
    };
    match limiter.check(&actor.subject).await {
        Ok(None) => next.run(request).await,
        Ok(Some(wait)) => {
            metrics::counter!("catalog_rate_limited_total").increment(1);
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!("this client is over its rate limit; retry in {seconds} s"),
            )
            .retry_after(seconds)
            .into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "rate limiter unavailable; letting the request through");
            next.run(request).await
        }
    }
}
