//! The HTTP ceiling for cached reads: the same framework, runtime and response bytes as
//! query-api's GET /products/{id}, with nothing behind it but memory.

use std::path::Path;

use anyhow::Context;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

pub async fn serve(addr: &str, body: &Path) -> anyhow::Result<()> {
    let body = Bytes::from(std::fs::read(body).with_context(|| format!("reading {body:?}"))?);
    let version = serde_json::from_slice::<serde_json::Value>(&body)?["version"]
        .as_u64()
        .unwrap_or(1);
    let etag = format!("\"{version}\"");
    let app = Router::new().route(
        "/products/{id}",
        get(move || {
            let body = body.clone();
            let etag = etag.clone();
            async move {
                (
                    [
                        (header::CONTENT_TYPE, "application/json".to_string()),
                        (header::ETAG, etag),
                        (header::CACHE_CONTROL, "no-cache".to_string()),
                    ],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    eprintln!("ceiling listening on {addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
