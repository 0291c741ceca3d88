//! A route asked with a method it does not take: 405 in problem+json, with the `Allow` header
//! RFC 9110 requires, naming exactly the methods the service's OpenAPI document declares there.

use std::collections::{BTreeMap, BTreeSet};

use catalog_testkit::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

/// Every documented path of one service, with its documented methods, upper-cased.
async fn documented(client: &reqwest::Client, base: &str) -> BTreeMap<String, BTreeSet<String>> {
    let document: Value = client
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut paths = BTreeMap::<String, BTreeSet<String>>::new();
    for (method, path) in operations(&document) {
        paths.entry(path).or_default().insert(method.to_uppercase());
    }
    paths
}

/// A concrete path for a templated one: every `{parameter}` filled with something well-formed.
fn concrete(path: &str) -> String {
    let id = "00000000-0000-4000-8000-000000000001";
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                id
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn every_route_names_its_methods_when_asked_with_another(pool: PgPool) {
    let world = World::start(
        pool,
        Options {
            query_api: true,
            ..Options::new(false, false)
        },
    )
    .await;
    let query_base = world.query.as_ref().expect("query-api started").0.clone();
    let mut checked = 0;
    for base in [world.base.clone(), query_base] {
        for (path, methods) in documented(&world.client, &base).await {
            let refused = [
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
                Method::POST,
                Method::GET,
            ]
            .into_iter()
            .find(|method| !methods.contains(method.as_str()))
            .expect("no route takes every method");
            let url = format!("{base}{}", concrete(&path));
            let response = world
                .client
                .request(refused.clone(), &url)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{refused} {url}"
            );
            assert_eq!(
                response
                    .headers()
                    .get("content-type")
                    .and_then(|value| value.to_str().ok()),
                Some("application/problem+json"),
                "{refused} {url}: {:?}",
                response.headers()
            );
            let allow = response
                .headers()
                .get("allow")
                .unwrap_or_else(|| panic!("{refused} {url}: 405 without Allow"))
                .to_str()
                .unwrap();
            let allowed: BTreeSet<String> = allow
                .split(',')
                .map(|method| method.trim().to_owned())
                // A GET route answers HEAD too; documents list GET alone.
                .filter(|method| method != "HEAD")
                .collect();
            assert_eq!(allowed, methods, "{refused} {url}: Allow: {allow}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} documented routes");
}
