use std::time::Duration;

pub use catalog_store::broker::Topology;
pub use catalog_testkit::system::{binary, free_port, mentions, series, Service, System};
pub use catalog_testkit::*;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[path = "../../../renditions/tests/support/mod.rs"]
mod samples;

/// A small PNG of its own size, so that each upload is a new image.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    samples::png(&image::DynamicImage::ImageRgb8(samples::gradient(
        width, height,
    )))
}

pub async fn create(system: &System, sku: &str, stock: i64) -> String {
    let response = system
        .client
        .post(format!("{}/products", system.url(Service::CommandApi)))
        .bearer_auth(&system.token)
        .json(&json!({
            "sku": sku, "name": format!("Product {sku}"),
            "price": {"amount": 500, "currency": "EUR"}, "stock": stock
        }))
        .send()
        .await
        .expect("command-api answers");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// Uploads a PNG with the given trace headers; returns the image id.
pub async fn upload(system: &System, id: &str, bytes: Vec<u8>, headers: &[(&str, &str)]) -> String {
    let part = Part::bytes(bytes)
        .file_name("photo.png")
        .mime_str("image/png")
        .unwrap();
    let mut request = system
        .client
        .post(format!(
            "{}/products/{id}/images",
            system.url(Service::CommandApi)
        ))
        .bearer_auth(&system.token)
        .multipart(Form::new().part("file", part));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("command-api answers");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    body["image_id"].as_str().expect("an image id").to_string()
}

/// Waits until the product's images have all left `processing` in the read model; returns it.
pub async fn settled(system: &System, id: &str, images: usize) -> Value {
    let url = format!("{}/products/{id}", system.url(Service::QueryApi));
    eventually(Duration::from_secs(90), || async {
        let view: Value = system
            .client
            .get(&url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let list = view["images"].as_array()?;
        (list.len() == images && list.iter().all(|i| i["status"] != "processing")).then_some(view)
    })
    .await
    .unwrap_or_else(|| panic!("the images of {id} did not settle"))
}

/// Waits until every product's read-model version equals its last stored event.
pub async fn caught_up(system: &System) {
    read_model_caught_up(&system.pool, Duration::from_secs(90)).await;
}
