//! A Redis connection opened on first use, for what a service keeps in Redis besides its read
//! model (rate limits, sessions): a service starts while Redis is still down, and each request
//! that needs Redis waits only briefly for it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

/// One reconnecting connection to a Redis, made when first asked for and shared afterwards.
pub struct LazyRedis {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    response_timeout: Duration,
}

impl LazyRedis {
    /// The Redis at `url`; each command waits at most `response_timeout` for its answer.
    pub fn new(url: &str, response_timeout: Duration) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: OnceCell::new(),
            response_timeout,
        })
    }

    /// The connection, opened now if it never was. Short timeouts and one retry: a slow Redis
    /// must not hold every request that needs it.
    pub async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_millis(500)))
                    .set_response_timeout(Some(self.response_timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(connection.clone())
    }
}
