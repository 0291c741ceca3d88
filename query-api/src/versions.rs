//! Read-your-writes: `?min_version=N` waits until the read model holds version N. The projector
//! publishes `<id>:<version>` on `<ns>:product-versions` with every Redis write; one
//! subscription per process fans those out to the requests waiting, which re-read only when
//! their product moves. Without Redis the waiters fall back to a slow poll.

use std::sync::Arc;
use std::time::Duration;

use catalog_read_model::redis::RedisReadModel;
use catalog_support::shutdown::Shutdown;
use futures::StreamExt;
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::local_cache::{Document, LocalCache};
use crate::reader::ProductReader;
use catalog_support::problem::CommonError;

/// Re-read interval while the subscription is up: only a guard against a lost message.
const GUARD_POLL: Duration = Duration::from_millis(500);
/// Re-read interval while it is down (Redis unreachable).
const DEGRADED_POLL: Duration = Duration::from_millis(100);

/// The process's one subscription to version announcements, and the requests waiting on it.
pub struct VersionWatch {
    sender: broadcast::Sender<(String, u64)>,
    /// Told of every announcement, and of the subscription going up or down (so it also
    /// answers whether the subscription is up).
    local: Arc<LocalCache>,
}

impl VersionWatch {
    /// A watch that tells `local` of what it hears; it hears nothing until [`Self::run`] runs.
    pub fn new(local: Arc<LocalCache>) -> Arc<Self> {
        let (sender, _) = broadcast::channel(4096);
        Arc::new(Self { sender, local })
    }

    /// Keeps one subscription to the versions channel until shutdown, resubscribing with
    /// backoff whenever it drops.
    pub async fn run(self: Arc<Self>, redis: RedisReadModel, shutdown: Shutdown) {
        let channel = redis.versions_channel();
        let mut delay = Duration::from_millis(200);
        while !shutdown.is_triggered() {
            let pubsub = match redis.client().await {
                Ok(client) => client.get_async_pubsub().await,
                Err(err) => Err(err),
            };
            match pubsub {
                Ok(mut pubsub) => {
                    if let Err(err) = pubsub.subscribe(&channel).await {
                        tracing::warn!(error = %err, "cannot subscribe to version announcements");
                    } else {
                        self.local.set_live(true);
                        delay = Duration::from_millis(200);
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                message = messages.next() => {
                                    let Some(message) = message else { break };
                                    let payload: String = message.get_payload().unwrap_or_default();
                                    if let Some((id, version)) = payload.rsplit_once(':') {
                                        if let Ok(version) = version.parse() {
                                            self.local.announce(id, version);
                                            let _ = self.sender.send((id.to_string(), version));
                                        }
                                    }
                                }
                                () = shutdown.wait() => return,
                            }
                        }
                        self.local.set_live(false);
                        tracing::warn!("version subscription lost; resubscribing");
                    }
                }
                Err(err) => tracing::debug!(error = %err, "Redis pub/sub unavailable"),
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.wait() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// The product once its read model reaches `min_version`, waiting up to `limit`.
    pub async fn wait_for(
        &self,
        reader: &Arc<ProductReader>,
        id: &str,
        min_version: u64,
        limit: Duration,
    ) -> Result<Option<Document>, ApiError> {
        // Subscribe before the first read, so an announcement between the two is not missed.
        let mut announcements = self.sender.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let view = reader.get(id).await?;
            if view.as_ref().is_some_and(|v| v.version >= min_version) {
                return Ok(view);
            }
            let poll = if self.local.is_live() {
                GUARD_POLL
            } else {
                DEGRADED_POLL
            };
            let wake = tokio::time::Instant::now() + poll;
            loop {
                tokio::select! {
                    announced = announcements.recv() => match announced {
                        Ok((announced_id, version)) if announced_id == id && version >= min_version => break,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return Err(ApiError::from(CommonError::Unavailable("the version watch"))),
                    },
                    () = tokio::time::sleep_until(wake.min(deadline)) => break,
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let view = reader.get(id).await?;
                return match view {
                    Some(v) if v.version >= min_version => Ok(Some(v)),
                    _ => Err(ApiError::NotCaughtUp {
                        wanted: min_version,
                    }),
                };
            }
        }
    }
}
