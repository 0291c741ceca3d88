//! Products for the write and lag loads to work on, each with a variant beside its master
//! (listed in `<out>.variants`); the last one, which the read row reads, with `wide` of them.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::try_join_all;

use crate::client::{http, variants_path, Api};

pub async fn run(
    api: &Api,
    products: usize,
    clients: usize,
    wide: usize,
    out: &Path,
) -> anyhow::Result<()> {
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
                let sku = format!("BENCH-{}-{n}", &run[..12]);
                let id = api.create(&http, &sku).await?;
                let variant = api.add_variant(&http, &id, &format!("{sku}-V0"), 0).await?;
                ids.push((id, variant));
            }
        }
    });
    let mut seeded: Vec<(String, String)> = try_join_all(workers).await?.concat();
    // The product the read row reads: as many variants as a product may hold.
    if let Some((last, _)) = seeded.last().cloned() {
        for n in 1..wide {
            let sku = format!("BENCH-{}-WIDE-V{n}", &run[..12]);
            let variant = api.add_variant(&http, &last, &sku, n).await?;
            seeded.push((last.clone(), variant));
        }
    }
    let ids: Vec<&str> = seeded.iter().map(|(id, _)| id.as_str()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    std::fs::write(out, unique.join("\n") + "\n")?;
    let variants: Vec<String> = seeded.iter().map(|(id, v)| format!("{id} {v}")).collect();
    std::fs::write(variants_path(out), variants.join("\n") + "\n")?;
    println!(
        "{}",
        serde_json::json!({"products": unique.len(), "variants": variants.len()})
    );
    Ok(())
}
