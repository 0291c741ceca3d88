//! The change feed as an outside consumer reads it: `GET /events` paged from the start as fast
//! as one client can (row 7's read rate), and `GET /events/stream` followed during row 3's
//! load, each event's arrival timed against its command's answer (row 7's stream lag).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

#[derive(clap::Args, Clone)]
pub struct Feed {
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub query_api: String,
    /// A token with the catalog:audit scope.
    #[arg(long, env = "AUDIT_TOKEN")]
    pub audit_token: String,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<Item>,
    next_after: i64,
}

/// The fields of a FeedEvent the benchmark needs; the rest is read and dropped like a
/// consumer that stores whole events would read it.
#[derive(Deserialize)]
struct Item {
    product_id: Option<String>,
    sequence: u64,
}

/// Reads the whole feed, `limit` events a page, one page after another as a consumer pages
/// on `next_after`; prints the count, the time and the rate.
pub async fn read_all(feed: &Feed, limit: u32) -> anyhow::Result<()> {
    let http = crate::client::http(1)?;
    let (mut after, mut events, mut pages, mut bytes) = (0_i64, 0_u64, 0_u64, 0_u64);
    let started = Instant::now();
    loop {
        let response = http
            .get(format!("{}/events", feed.query_api))
            .query(&[("after", after.to_string()), ("limit", limit.to_string())])
            .bearer_auth(&feed.audit_token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("GET /events answered {}", response.status());
        }
        let body = response.bytes().await?;
        let page: Page = serde_json::from_slice(&body).context("a feed page")?;
        if page.items.is_empty() {
            break;
        }
        pages += 1;
        bytes += body.len() as u64;
        events += page.items.len() as u64;
        after = page.next_after;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "events": events,
            "pages": pages,
            "bytes": bytes,
            "seconds": seconds,
            "per_second": events as f64 / seconds,
        })
    );
    Ok(())
}

/// When each product's version arrived on the stream.
pub type Arrivals = Arc<Mutex<HashMap<(String, u64), Instant>>>;

/// Follows `GET /events/stream` after position `after` and notes each event's arrival, until
/// the task is aborted. Connected once the stream's headers are in, so the first command is
/// not sent before the stream can see it.
pub async fn follow(
    feed: &Feed,
    after: i64,
) -> anyhow::Result<(Arrivals, tokio::task::JoinHandle<()>)> {
    // Not `client::http`: its 10 s request timeout would cut the stream, which lasts the load.
    let response = reqwest::Client::new()
        .get(format!("{}/events/stream", feed.query_api))
        .query(&[("after", after)])
        .bearer_auth(&feed.audit_token)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("GET /events/stream answered {}", response.status());
    }
    let arrivals: Arrivals = Arc::default();
    let noted = Arc::clone(&arrivals);
    let task = tokio::spawn(async move {
        let mut events = response.bytes_stream().eventsource();
        while let Some(Ok(event)) = events.next().await {
            let now = Instant::now();
            if let Ok(Item {
                product_id: Some(product),
                sequence,
            }) = serde_json::from_str(&event.data)
            {
                noted
                    .lock()
                    .expect("the arrivals")
                    .insert((product, sequence), now);
            }
        }
    });
    Ok((arrivals, task))
}

/// Waits up to `patience` for every `(product, version)` in `wanted` to have arrived.
pub async fn wait_for(arrivals: &Arrivals, wanted: &[(String, u64)], patience: Duration) {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        let all = {
            let seen = arrivals.lock().expect("the arrivals");
            wanted.iter().all(|key| seen.contains_key(key))
        };
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
