/// Why applying an event failed, which decides what happens to its message.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// May succeed later (a dependency down, an event not yet visible): retry with backoff.
    #[error("{0:#}")]
    Transient(anyhow::Error),
    /// Failed for a reason that may or may not pass: retried a limited number of times, then
    /// dead-lettered.
    #[error("{0:#}")]
    Failing(anyhow::Error),
    /// Will never succeed (an undecodable payload): dead-letter at once.
    #[error("{0:#}")]
    Permanent(anyhow::Error),
}

impl From<sqlx::Error> for ApplyError {
    fn from(err: sqlx::Error) -> Self {
        Self::Transient(anyhow::Error::new(err).context("PostgreSQL"))
    }
}
