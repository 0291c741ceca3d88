//! Products for the write and lag loads to work on.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::try_join_all;

use crate::client::{http, Api};

pub async fn run(api: &Api, products: usize, clients: usize, out: &Path) -> anyhow::Result<()> {
    let http = http(clients)?;
    let next = Arc::new(AtomicUsize::new(0));
    // Unique per run, so that seeding twice into one database never hits a taken SKU.
    let run = uuid::Uuid::now_v7().simple().to_string();
    let workers = (0..clients).map(|_| {
        let (http, next, api, run) = (http.clone(), next.clone(), api.clone(), run.clone());
        async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= products {
                    return anyhow::Ok(ids);
                }
                ids.push(
                    api.create(&http, &format!("BENCH-{}-{n}", &run[..12]))
                        .await?,
                );
            }
        }
    });
    let ids: Vec<String> = try_join_all(workers).await?.concat();
    std::fs::write(out, ids.join("\n") + "\n")?;
    println!("{}", serde_json::json!({"products": ids.len()}));
    Ok(())
}
