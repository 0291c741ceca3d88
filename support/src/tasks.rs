//! The long-running tasks of a process, supervised together: the HTTP server, the relay, the
//! consumers, the periodic jobs. Each is named; one that ends before shutdown was asked for
//! (returning, failing or panicking) is logged with its reason and stops the whole process
//! with an error, so that a supervisor (systemd, Kubernetes, Compose) restarts it instead of
//! the process living on without part of its work.

use std::future::Future;

use anyhow::anyhow;
use tokio::task::JoinSet;

use crate::shutdown::Shutdown;

/// What a task ends with: nothing (a loop that only ends on shutdown) or a result.
pub trait Outcome: Send + 'static {
    /// The outcome as a result: `()` is success.
    fn into_result(self) -> anyhow::Result<()>;
}

impl Outcome for () {
    fn into_result(self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl Outcome for anyhow::Result<()> {
    fn into_result(self) -> anyhow::Result<()> {
        self
    }
}

/// A process's tasks and the shutdown they all watch.
pub struct Tasks {
    shutdown: Shutdown,
    running: JoinSet<(&'static str, anyhow::Result<()>)>,
}

impl Tasks {
    /// No tasks yet, all to watch `shutdown`; [`Tasks::run_until_stopped`] triggers it when
    /// one ends early.
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            shutdown,
            running: JoinSet::new(),
        }
    }

    /// Starts `task` under `name`. It should run until the shutdown fires and then return.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future + Send + 'static,
        F::Output: Outcome,
    {
        self.running
            .spawn(async move { (name, task.await.into_result()) });
    }

    /// Waits until the shutdown fires or a task ends on its own, then for every task to end.
    /// Fails with the first task that ended early or failed; a task that ends before shutdown
    /// triggers it, so the others stop too.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let mut failure: Option<anyhow::Error> = None;
        while let Some(joined) = self.running.join_next().await {
            let early = !self.shutdown.is_triggered();
            let outcome = match joined {
                Ok((name, Ok(()))) if early => Err(anyhow!("{name} stopped on its own")),
                Ok((_, Ok(()))) => Ok(()),
                Ok((name, Err(err))) => Err(err.context(format!("{name} failed"))),
                Err(err) if err.is_panic() => Err(anyhow!("a task panicked: {err}")),
                Err(err) => Err(anyhow!("a task was cancelled: {err}")),
            };
            if let Err(err) = outcome {
                tracing::error!(
                    error = format!("{err:#}"),
                    "task ended; stopping the process"
                );
                self.shutdown.trigger();
                failure.get_or_insert(err);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn tasks_that_end_on_shutdown_end_the_process_cleanly() {
        let shutdown = Shutdown::default();
        let mut tasks = Tasks::new(shutdown.clone());
        for name in ["a", "b"] {
            let stop = shutdown.clone();
            tasks.spawn(name, async move {
                stop.wait().await;
                Ok(())
            });
        }
        shutdown.trigger();
        tasks.run_until_stopped().await.unwrap();
    }

    #[tokio::test]
    async fn a_task_that_stops_early_stops_the_others_and_is_named() {
        let shutdown = Shutdown::default();
        let mut tasks = Tasks::new(shutdown.clone());
        let stop = shutdown.clone();
        tasks.spawn("server", async move {
            stop.wait().await;
            Ok(())
        });
        tasks.spawn("relay", tokio::time::sleep(Duration::from_millis(10)));
        let err = tasks.run_until_stopped().await.unwrap_err();
        assert_eq!(err.to_string(), "relay stopped on its own");
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn a_failing_or_panicking_task_fails_the_process() {
        let shutdown = Shutdown::default();
        let mut tasks = Tasks::new(shutdown.clone());
        tasks.spawn("consumer", async { Err(anyhow!("broker gone")) });
        let err = tasks.run_until_stopped().await.unwrap_err();
        assert_eq!(format!("{err:#}"), "consumer failed: broker gone");

        let mut tasks = Tasks::new(Shutdown::default());
        tasks.spawn("sweep", async { panic!("bug") as anyhow::Result<()> });
        let err = tasks.run_until_stopped().await.unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
