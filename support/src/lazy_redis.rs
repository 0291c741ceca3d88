//! The one way Catalog opens Redis: the read model, rate limits and sessions all connect here.
//!
//! Redis is reached either at `REDIS_URL` directly or, with `REDIS_SENTINELS`, at the master
//! the Sentinels name ([`RedisSettings`]). Either way the connection is opened on first use, so
//! a service starts while Redis is still down, and after a failed attempt calls fail at once
//! for a short cool-down instead of each waiting for Redis again.
//!
//! The crate's `ConnectionManager` reconnects by itself, but always to the address it was made
//! with. That is all a direct connection needs. Behind Sentinel the master moves: after a
//! failover the old one is gone, or back as a replica that refuses writes with `READONLY`. So
//! a command that fails that way (or on a dropped connection) retires the manager, and the next
//! call asks the Sentinels for the master again and connects to it. Re-resolving happens once
//! at a time, and no sooner than [`RESOLVE_INTERVAL`] after the last one, so a master that
//! stays down costs a lookup per interval, not one per call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};

use crate::config::RedisSettings;
use crate::secret::Secret;

/// The shortest time between two lookups of the master through the Sentinels.
pub const RESOLVE_INTERVAL: Duration = Duration::from_millis(250);

/// How long a connection waits: to connect, for each answer, and, after a failed attempt, before
/// trying Redis again.
#[derive(Debug, Clone, Copy)]
pub struct RedisTimeouts {
    /// Connecting (and, behind Sentinel, the lookup of the master): each attempt.
    pub connect: Duration,
    /// Each command's answer.
    pub response: Duration,
    /// After a failed connection attempt, calls fail at once for this long.
    pub cool_down: Duration,
}

impl RedisTimeouts {
    /// `response` for every answer; connecting within 500 ms, and a cool-down of one second.
    pub fn answering_within(response: Duration) -> Self {
        Self {
            connect: Duration::from_millis(500),
            response,
            cool_down: Duration::from_secs(1),
        }
    }
}

/// One reconnecting connection to Redis, made when first asked for and shared by its clones.
#[derive(Clone)]
pub struct LazyRedis {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    timeouts: RedisTimeouts,
    /// The connection handed out, and a number that tells it from the ones before it.
    current: Mutex<Option<(ConnectionManager, u64)>>,
    /// Held while connecting, so that callers waiting meanwhile share one attempt.
    connecting: tokio::sync::Mutex<()>,
    /// No new attempt before this instant: after a failure, or a lookup moments ago.
    not_before: Mutex<Option<Instant>>,
    /// Connections made so far, which numbers each.
    made: AtomicU64,
}

enum Target {
    Direct(redis::Client),
    /// The lookup keeps its connections to the Sentinels between calls, hence the lock.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

impl LazyRedis {
    /// Redis as `settings` say; nothing is connected yet. Fails only on a malformed URL.
    pub fn new(settings: &RedisSettings, timeouts: RedisTimeouts) -> redis::RedisResult<Self> {
        let target = if settings.sentinels.is_empty() {
            Target::Direct(redis::Client::open(settings.url.expose())?)
        } else {
            // REDIS_URL's credentials and database, for the master the Sentinels name.
            let master = settings.url.expose().into_connection_info()?;
            let node = SentinelNodeConnectionInfo::default()
                .set_redis_connection_info(master.redis_settings().clone());
            let sentinels = settings
                .sentinels
                .iter()
                .map(|address| {
                    redis_url(
                        address,
                        settings.sentinel_password.as_ref().map(Secret::expose),
                    )
                })
                .collect::<redis::RedisResult<Vec<_>>>()?;
            Target::Sentinel(tokio::sync::Mutex::new(SentinelClient::build(
                sentinels,
                settings.master_name.clone(),
                Some(node),
                SentinelServerType::Master,
            )?))
        };
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                timeouts,
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                not_before: Mutex::new(None),
                made: AtomicU64::new(0),
            }),
        })
    }

    /// The connection, opened now if there is none: on first use, and behind Sentinel after
    /// the master failed. One retry of a failed connection, and short timeouts: a slow Redis
    /// must not hold every request that needs it.
    pub async fn connection(&self) -> redis::RedisResult<RedisConnection> {
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let _connecting = self.inner.connecting.lock().await;
        // Made by the caller that held the lock before.
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let waiting = self
            .inner
            .not_before
            .lock()
            .expect("not poisoned")
            .is_some_and(|until| Instant::now() < until);
        if waiting {
            return Err(RedisError::from((
                ErrorKind::Io,
                "Redis was unreachable moments ago",
            )));
        }
        let made = self.connect().await;
        let pause = match &made {
            Ok(_) => RESOLVE_INTERVAL,
            Err(_) => self.inner.timeouts.cool_down.max(RESOLVE_INTERVAL),
        };
        *self.inner.not_before.lock().expect("not poisoned") = Some(Instant::now() + pause);
        let manager = made?;
        let number = self.inner.made.fetch_add(1, Ordering::Relaxed) + 1;
        *self.inner.current.lock().expect("not poisoned") = Some((manager.clone(), number));
        Ok(RedisConnection {
            manager,
            number,
            owner: self.clone(),
        })
    }

    /// A client for the master as it is now: for connections of another kind (pub/sub), which
    /// the caller makes again after losing one.
    pub async fn client(&self) -> redis::RedisResult<redis::Client> {
        match &self.inner.target {
            Target::Direct(client) => Ok(client.clone()),
            Target::Sentinel(sentinel) => self.master(sentinel).await,
        }
    }

    fn current(&self) -> Option<RedisConnection> {
        let current = self.inner.current.lock().expect("not poisoned");
        current.as_ref().map(|(manager, number)| RedisConnection {
            manager: manager.clone(),
            number: *number,
            owner: self.clone(),
        })
    }

    async fn connect(&self) -> redis::RedisResult<ConnectionManager> {
        let timeouts = self.inner.timeouts;
        let client = self.client().await?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            .set_number_of_retries(1);
        ConnectionManager::new_with_config(client, config).await
    }

    /// Asks the Sentinels which server is the master (the crate also checks that the server
    /// agrees), within the connect timeout: one Sentinel that hangs must not hold the caller.
    async fn master(
        &self,
        sentinel: &tokio::sync::Mutex<SentinelClient>,
    ) -> redis::RedisResult<redis::Client> {
        let limit = self.inner.timeouts.connect * 2;
        let mut sentinel = sentinel.lock().await;
        tokio::time::timeout(limit, sentinel.async_get_client())
            .await
            .unwrap_or_else(|_| {
                Err(RedisError::from((
                    ErrorKind::Io,
                    "the Sentinels did not name a master in time",
                )))
            })
    }

    /// Retires connection `number` after `err`, when the master it reached may be gone or
    /// demoted: the next call asks the Sentinels again. A direct connection stays, since its
    /// manager reconnects to the one address there is.
    fn failed(&self, number: u64, err: &RedisError) {
        if !matches!(self.inner.target, Target::Sentinel(_)) {
            return;
        }
        if !master_may_have_moved(err) {
            return;
        }
        let mut current = self.inner.current.lock().expect("not poisoned");
        if current.as_ref().is_some_and(|(_, n)| *n == number) {
            tracing::warn!(error = %err, "the Redis master failed; asking the Sentinels again");
            *current = None;
        }
    }
}

/// The URL of the Redis server or Sentinel at `address` (`host:port`), signed in with
/// `password` (encoded as a URL needs it) when it requires one.
pub fn redis_url(address: &str, password: Option<&str>) -> redis::RedisResult<String> {
    let mut url = url::Url::parse(&format!("redis://{address}"))
        .map_err(|_| RedisError::from((ErrorKind::InvalidClientConfig, "a Redis address")))?;
    url.set_password(password)
        .map_err(|()| RedisError::from((ErrorKind::InvalidClientConfig, "a Redis URL")))?;
    Ok(url.into())
}

/// Whether `err` says that the server a connection reached may no longer be the master: an I/O
/// error (timeouts included: a master cut off by the network answers nothing at all), an
/// unrecoverable one, or `READONLY` from a master demoted to a replica.
pub fn master_may_have_moved(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_unrecoverable_error()
        || err.kind() == ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// A connection from [`LazyRedis::connection`], for commands, scripts and pipelines. Behind
/// Sentinel, an error that says the master is gone or demoted retires it (the command still
/// fails: the caller's own retry, or the next call, reaches the new master).
pub struct RedisConnection {
    manager: ConnectionManager,
    number: u64,
    owner: LazyRedis,
}

impl RedisConnection {
    fn noticed<T>(&self, result: redis::RedisResult<T>) -> redis::RedisResult<T> {
        if let Err(err) = &result {
            self.owner.failed(self.number, err);
        }
        result
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.manager.req_packed_command(cmd).await;
            self.noticed(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .manager
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.noticed(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.manager.get_db()
    }
}
