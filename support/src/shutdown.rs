//! Graceful shutdown: one [`Shutdown`] per process, triggered by SIGINT or SIGTERM (or by a
//! task that ends early, see `tasks`), watched by the HTTP server and every background loop.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, whichever comes first.
async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// A shutdown request shared by every task of a process: the HTTP server and each background
/// task wait on their own clone, and one `trigger` stops them all.
#[derive(Clone)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (sender, receiver) = watch::channel(false);
        Self { sender, receiver }
    }
}

impl Shutdown {
    /// A shutdown that SIGINT or SIGTERM triggers: what every binary starts with.
    pub fn on_signals() -> Self {
        let stop = Self::default();
        let trigger = stop.clone();
        tokio::spawn(async move {
            signal().await;
            trigger.trigger();
        });
        stop
    }

    /// Asks every holder to stop. Idempotent; never blocks.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Whether shutdown has been asked for, without waiting.
    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        // An error means every sender is gone, which can only happen once we are shutting down.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }

    /// Runs `round` now and then every `period` until shutdown is triggered. A round in progress
    /// finishes first, and a slow round delays the next instead of bunching them up.
    pub async fn every<F, Fut>(&self, period: Duration, mut round: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.wait() => return,
            }
            round().await;
        }
    }
}
