//! command-api as the load generators use it: one pooled HTTP client, a token, products and
//! variants, stock adjustments that answer the product's new version.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::json;

#[derive(clap::Args, Clone)]
pub struct Api {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub command_api: String,
    /// A token with the catalog:write scope.
    #[arg(long, env = "TOKEN")]
    pub token: String,
}

#[derive(Deserialize)]
struct Written {
    id: String,
    version: u64,
    #[serde(default)]
    variant_id: Option<String>,
}

/// One client shared by every task: its pool keeps a connection per concurrent request.
pub fn http(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .build()?)
}

impl Api {
    pub async fn create(&self, http: &reqwest::Client, sku: &str) -> anyhow::Result<String> {
        let body = json!({
            "sku": sku,
            "name": format!("Bench product {sku}"),
            "description": "A product made by bench/run.",
            "price": {"amount": 1999, "currency": "EUR"},
            "stock": 1_000_000,
            "category": "bench",
            "attributes": {"colour": "blue", "size": "M"},
        });
        let response = http
            .post(format!("{}/products", self.command_api))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        Ok(written(response).await?.id)
    }

    /// Adds a variant of `sku` to product `id` and answers its id.
    pub async fn add_variant(
        &self,
        http: &reqwest::Client,
        id: &str,
        sku: &str,
        size: usize,
    ) -> anyhow::Result<String> {
        let body = json!({
            "sku": sku,
            "attributes": {"size": format!("S{size}")},
            "prices": [{"amount": 2099, "currency": "EUR"},
                       {"amount": 1899, "currency": "EUR", "channel": "outlet"}],
            "stock": 1_000_000,
        });
        let response = http
            .post(format!("{}/products/{id}/variants", self.command_api))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        written(response)
            .await?
            .variant_id
            .context("command-api answered a new variant without its id")
    }

    /// Adds one unit of stock (never refused, unlike removals) to product `id`'s master, or to
    /// its `variant`, with an Idempotency-Key of its own, and answers the new version.
    pub async fn adjust_stock(
        &self,
        http: &reqwest::Client,
        id: &str,
        variant: Option<&str>,
    ) -> anyhow::Result<u64> {
        let path = match variant {
            Some(variant) => format!("/products/{id}/variants/{variant}/stock-adjustments"),
            None => format!("/products/{id}/stock-adjustments"),
        };
        // As a client that retries safely would send it: the key's record is part of what a
        // command costs.
        let response = http
            .post(format!("{}{path}", self.command_api))
            .bearer_auth(&self.token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({"delta": 1, "reason": "bench"}))
            .send()
            .await?;
        Ok(written(response).await?.version)
    }
}

async fn written(response: reqwest::Response) -> anyhow::Result<Written> {
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("command-api answered {status}: {body}");
    }
    Ok(response.json().await?)
}

/// The variants file beside a products file (`<ids>.variants`): `<product> <variant>` lines.
pub fn variants_path(ids: &Path) -> std::path::PathBuf {
    let mut path = ids.as_os_str().to_owned();
    path.push(".variants");
    path.into()
}

pub fn read_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    let ids: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if ids.is_empty() {
        bail!("{path:?} holds no product ids");
    }
    Ok(ids)
}
