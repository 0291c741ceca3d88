//! End-to-end visibility lag: commands at a fixed rate (open loop: a slow answer does not slow
//! the next command down), each followed by GET /products/{id}?min_version=<its version>,
//! which query-api answers as soon as its read model holds that version. The lag is the time
//! from the command's answer to that read's answer: the relay, the broker, the projector and
//! the read path together, plus one loopback round trip. With a feed to follow, the same
//! commands' events are also timed on `GET /events/stream`: from the command's answer to the
//! event's arrival on the stream.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::client::{http, read_ids, Api};
use crate::feed::{self, Feed};
use crate::latency::Latencies;

enum Sample {
    Seen {
        write: Duration,
        lag: Duration,
        /// The product and the version the command made, and when its answer came.
        made: (String, u64),
        answered: Instant,
    },
    Failed(String),
}

/// How long the stream may take to show the last commands' events once they are all answered.
const STREAM_PATIENCE: Duration = Duration::from_secs(30);

pub async fn run(
    api: &Api,
    query_api: &str,
    ids: &Path,
    rate: u32,
    seconds: u64,
    stream: Option<(Feed, i64)>,
) -> anyhow::Result<()> {
    let ids = Arc::new(read_ids(ids)?);
    let following = match &stream {
        Some((feed, after)) => Some(feed::follow(feed, *after).await?),
        None => None,
    };
    let http = http(256)?;
    let (samples, mut received) = mpsc::unbounded_channel();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let total = u64::from(rate) * seconds;
    let started = Instant::now();
    for n in 0..total {
        tick.tick().await;
        let id = ids[n as usize % ids.len()].clone();
        let (http, api, samples) = (http.clone(), api.clone(), samples.clone());
        let read = format!("{query_api}/products/{id}");
        tokio::spawn(async move {
            let sent = Instant::now();
            let sample = match api.adjust_stock(&http, &id, None).await {
                Err(err) => Sample::Failed(err.to_string()),
                Ok(version) => {
                    let answered = Instant::now();
                    match http
                        .get(&read)
                        .query(&[("min_version", version)])
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => Sample::Seen {
                            write: answered - sent,
                            lag: answered.elapsed(),
                            made: (id, version),
                            answered,
                        },
                        Ok(r) => Sample::Failed(format!("read answered {}", r.status())),
                        Err(err) => Sample::Failed(err.to_string()),
                    }
                }
            };
            let _ = samples.send(sample);
        });
    }
    drop(samples);
    let sending = started.elapsed().as_secs_f64();
    let (mut writes, mut lags) = (Latencies::new(), Latencies::new());
    let mut errors = Vec::new();
    let mut answers = Vec::new();
    while let Some(sample) = received.recv().await {
        match sample {
            Sample::Seen {
                write,
                lag,
                made,
                answered,
            } => {
                writes.record(write);
                lags.record(lag);
                answers.push((made, answered));
            }
            Sample::Failed(err) => errors.push(err),
        }
    }
    let stream = match following {
        None => serde_json::Value::Null,
        Some((arrivals, task)) => {
            let wanted: Vec<(String, u64)> = answers.iter().map(|(made, _)| made.clone()).collect();
            feed::wait_for(&arrivals, &wanted, STREAM_PATIENCE).await;
            task.abort();
            let arrivals = arrivals.lock().expect("the arrivals");
            let (mut stream_lags, mut missing, mut before_answer) = (Latencies::new(), 0, 0);
            for (made, answered) in &answers {
                match arrivals.get(made) {
                    None => missing += 1,
                    Some(arrived) => {
                        // An event can reach the stream before its command's answer reaches
                        // the client: both follow the commit. That lag is zero.
                        if arrived < answered {
                            before_answer += 1;
                        }
                        stream_lags.record(arrived.saturating_duration_since(*answered));
                    }
                }
            }
            json!({
                "lag": stream_lags.summary(),
                "missing": missing,
                "before_answer": before_answer,
            })
        }
    };
    println!(
        "{}",
        json!({
            "rate": rate,
            "sent": total,
            "achieved_rate": total as f64 / sending,
            "errors": errors.len(),
            "first_error": errors.first(),
            "write": writes.summary(),
            "lag": lags.summary(),
            "stream": stream,
        })
    );
    Ok(())
}
