//! The mixed workload a shop puts on Catalog, from clients that behave as the API asks: every
//! mutation carries an Idempotency-Key and a request id of its own, and is retried with both
//! unchanged after a timeout, a broken connection, 429 or 503, until it gets a definite answer
//! or its retry budget runs out. Every acknowledged command is recorded, so that the checks can
//! find its event in the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinSet;

/// How long one attempt may take before the client gives up on it and retries.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command is retried before its outcome is left unknown.
const RETRY_BUDGET: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Create,
    Details,
    Price,
    Stock,
    StockIfMatch,
    VariantAdd,
    VariantStock,
    Publish,
    Unpublish,
    Upload,
    RemoveImage,
}

/// A command the service acknowledged with a 2xx.
#[derive(Clone, Debug)]
pub struct Ack {
    pub request_id: String,
    pub product: String,
    pub version: u64,
    pub kind: Kind,
    /// The stock delta, for stock adjustments.
    pub delta: i64,
}

/// What the clients saw.
#[derive(Default, Debug)]
pub struct Record {
    pub acks: Vec<Ack>,
    /// Commands refused with a definite 4xx (insufficient stock, stale If-Match, …).
    pub refused: u64,
    /// Commands whose retry budget ran out without a definite answer.
    pub unknown: u64,
    /// Attempts that were retried (transport errors, 429, 503, in progress).
    pub retries: u64,
    /// 5xx answers other than 503: each is a bug worth a look.
    pub server_errors: u64,
    pub reads: u64,
    /// Reads with min_version that answered 200 with an older version: read-your-writes broken.
    pub stale_reads: u64,
    /// Reads that answered 503 (the read model had not caught up within its wait).
    pub unavailable_reads: u64,
    /// A few examples of unexpected answers, for the report.
    pub surprises: Vec<String>,
}

impl Record {
    fn merge(&mut self, other: Record) {
        self.acks.extend(other.acks);
        self.refused += other.refused;
        self.unknown += other.unknown;
        self.retries += other.retries;
        self.server_errors += other.server_errors;
        self.reads += other.reads;
        self.stale_reads += other.stale_reads;
        self.unavailable_reads += other.unavailable_reads;
        for surprise in other.surprises {
            if self.surprises.len() < 10 {
                self.surprises.push(surprise);
            }
        }
    }

    fn surprise(&mut self, what: String) {
        if self.surprises.len() < 10 {
            self.surprises.push(what);
        }
    }
}

/// The two APIs, as a client reaches them.
#[derive(Clone)]
pub struct Endpoints {
    pub command: String,
    pub query: String,
    pub token: String,
}

/// The mix of operations: weights out of their sum.
#[derive(Clone, Copy)]
pub struct Mix {
    pub stock: u32,
    pub stock_if_match: u32,
    /// Stock adjustments of a variant other than the master.
    pub variant_stock: u32,
    pub price: u32,
    pub details: u32,
    pub publish: u32,
    pub create: u32,
    pub upload: u32,
    pub read: u32,
}

impl Mix {
    pub const SHOP: Mix = Mix {
        stock: 25,
        stock_if_match: 10,
        variant_stock: 10,
        price: 10,
        details: 10,
        publish: 4,
        create: 4,
        upload: 2,
        read: 25,
    };
}

/// A workload that runs until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: JoinSet<Record>,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoints: Endpoints,
}

struct Shared {
    client: Client,
    products: Mutex<Vec<String>>,
    /// The variant beside the master of each product created at the start.
    variants: HashMap<String, String>,
    /// The latest version a client was told of, per product.
    versions: Mutex<HashMap<String, u64>>,
    mix: Mix,
    image: Bytes,
    commands: Arc<AtomicU64>,
    /// Price changes so far: each sets a price no other did. A price equal to the current one
    /// changes nothing and stores no event, and its 200 would count as a lost command.
    prices: AtomicU64,
    stop: Arc<AtomicBool>,
    /// Stops the workload by itself after this many commands.
    limit: u64,
}

impl Client {
    pub fn new(endpoints: Endpoints) -> Self {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client");
        Self { http, endpoints }
    }

    /// Sends one command until it has a definite answer. `Ok` carries the 2xx body.
    pub async fn command(
        &self,
        method: Method,
        path: &str,
        body: Body,
        if_match: Option<u64>,
        record: &mut Record,
    ) -> (Answer, String) {
        let key = uuid::Uuid::new_v4().to_string();
        let request_id = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        let url = format!("{}{path}", self.endpoints.command);
        loop {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.endpoints.token)
                .header("idempotency-key", &key)
                .header("x-request-id", &request_id);
            if let Some(version) = if_match {
                request = request.header("if-match", format!("\"{version}\""));
            }
            request = match &body {
                Body::None => request,
                Body::Json(value) => request.json(value),
                Body::Image(bytes) => {
                    // A fixed boundary: a retry must send the very same bytes, or the key
                    // would be refused as reused with another request.
                    request
                        .header(
                            "content-type",
                            format!("multipart/form-data; boundary={BOUNDARY}"),
                        )
                        .body(multipart(bytes))
                }
            };
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(body) => Some((status, body)),
                        Err(_) => None,
                    }
                }
                Err(_) => None,
            };
            match answer {
                Some((status, body)) if status.is_success() => {
                    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    return (Answer::Ok(value), request_id);
                }
                Some((status, body)) if !retryable(status, &body) => {
                    if status.is_server_error() {
                        record.server_errors += 1;
                        record.surprise(format!(
                            "{method} {path}: {status} {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                    return (Answer::Refused, request_id);
                }
                _ => {}
            }
            if started.elapsed() > RETRY_BUDGET {
                return (Answer::Unknown, request_id);
            }
            record.retries += 1;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// GET /products/{id}?min_version=N once.
    pub async fn read(&self, id: &str, min_version: u64, record: &mut Record) {
        let url = format!(
            "{}/products/{id}?min_version={min_version}",
            self.endpoints.query
        );
        record.reads += 1;
        let Ok(response) = self.http.get(&url).send().await else {
            record.unavailable_reads += 1;
            return;
        };
        match response.status() {
            StatusCode::OK => {
                let version = response
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["version"].as_u64())
                    .unwrap_or(0);
                if version < min_version {
                    record.stale_reads += 1;
                    record.surprise(format!(
                        "read of {id} with min_version={min_version} answered version {version}"
                    ));
                }
            }
            StatusCode::SERVICE_UNAVAILABLE => record.unavailable_reads += 1,
            other => {
                record.surprise(format!("read of {id}: {other}"));
                if other.is_server_error() {
                    record.server_errors += 1;
                }
            }
        }
    }

    /// The product's version as query-api shows it now: what an If-Match client reads before
    /// it writes.
    pub async fn version(&self, id: &str) -> Option<u64> {
        let url = format!("{}/products/{id}", self.endpoints.query);
        let response = self.http.get(&url).send().await.ok()?;
        let view: Value = response.json().await.ok()?;
        view["version"].as_u64()
    }

    /// Creates a product with `stock` and returns its id.
    pub async fn create(&self, sku: &str, stock: i64, record: &mut Record) -> Option<Ack> {
        self.create_with(sku, stock, None, record).await
    }

    /// Defines [`CHAOS_TYPE`], which [`Client::create_typed`] products are typed with; true
    /// when it is defined.
    pub async fn define_type(&self) -> bool {
        let body = json!({"name": "Chaos mug", "attributes": [
            {"name": "volume_ml", "type": "number", "required": true},
            {"name": "material", "type": "ltext", "required": true},
            {"name": "colour", "type": "enum", "values": ["blue", "white"]},
            {"name": "size", "type": "enum", "values": ["M", "XL"], "level": "variant"}
        ]});
        let path = format!("/product-types/{CHAOS_TYPE}");
        let (answer, _) = self
            .command(
                Method::PUT,
                &path,
                Body::Json(body),
                None,
                &mut Record::default(),
            )
            .await;
        matches!(answer, Answer::Ok(_))
    }

    /// Creates a product of [`CHAOS_TYPE`] with typed attributes.
    pub async fn create_typed(&self, sku: &str, stock: i64, record: &mut Record) -> Option<Ack> {
        let attributes = json!({
            "volume_ml": 330,
            "material": {"en": "stoneware", "de": "Steinzeug"},
            "colour": "blue"
        });
        self.create_with(sku, stock, Some(attributes), record).await
    }

    async fn create_with(
        &self,
        sku: &str,
        stock: i64,
        typed: Option<Value>,
        record: &mut Record,
    ) -> Option<Ack> {
        let mut body = json!({
            "sku": sku,
            // Catalog 2: texts in two locales, so faults meet localized writes and reads.
            "name": {"en": format!("Product {sku}"), "de": format!("Produkt {sku}")},
            "price": {"amount": 1000, "currency": "EUR"},
            "stock": stock,
            "category": "chaos",
        });
        if let Some(attributes) = typed {
            body["type"] = json!(CHAOS_TYPE);
            body["attributes"] = attributes;
        }
        let (answer, request_id) = self
            .command(Method::POST, "/products", Body::Json(body), None, record)
            .await;
        acked(answer, request_id, Kind::Create, 0, None, record)
    }

    /// Adds a variant with `stock` to product `id`; its ack and the variant's id.
    pub async fn add_variant(
        &self,
        id: &str,
        sku: &str,
        stock: i64,
        record: &mut Record,
    ) -> Option<(Ack, String)> {
        let body = json!({"sku": sku, "attributes": {"size": "XL"}, "stock": stock,
                          "prices": [{"amount": 1200, "currency": "EUR"}]});
        let path = format!("/products/{id}/variants");
        let (answer, request_id) = self
            .command(Method::POST, &path, Body::Json(body), None, record)
            .await;
        let variant = match &answer {
            Answer::Ok(body) => body["variant_id"].as_str().map(str::to_string),
            _ => None,
        };
        let ack = acked(answer, request_id, Kind::VariantAdd, 0, Some(id), record)?;
        Some((ack, variant?))
    }

    /// Adjusts the stock of product `id`'s variant `variant` by `delta`.
    pub async fn adjust_variant(
        &self,
        id: &str,
        variant: &str,
        delta: i64,
        record: &mut Record,
    ) -> Option<Ack> {
        let body = json!({"delta": delta, "reason": "chaos"});
        let path = format!("/products/{id}/variants/{variant}/stock-adjustments");
        let (answer, request_id) = self
            .command(Method::POST, &path, Body::Json(body), None, record)
            .await;
        acked(
            answer,
            request_id,
            Kind::VariantStock,
            delta,
            Some(id),
            record,
        )
    }

    /// Adjusts stock by `delta`, optionally only at `if_match`.
    pub async fn adjust(
        &self,
        id: &str,
        delta: i64,
        if_match: Option<u64>,
        record: &mut Record,
    ) -> Option<Ack> {
        let body = json!({"delta": delta, "reason": "chaos"});
        let path = format!("/products/{id}/stock-adjustments");
        let (answer, request_id) = self
            .command(Method::POST, &path, Body::Json(body), if_match, record)
            .await;
        let kind = match if_match {
            Some(_) => Kind::StockIfMatch,
            None => Kind::Stock,
        };
        acked(answer, request_id, kind, delta, Some(id), record)
    }
}

pub enum Body {
    None,
    Json(Value),
    Image(Bytes),
}

pub enum Answer {
    Ok(Value),
    Refused,
    Unknown,
}

const BOUNDARY: &str = "catalog-chaos-boundary-7d1f";

/// The product type half the workload's products have.
pub const CHAOS_TYPE: &str = "chaos-mug";

fn multipart(image: &Bytes) -> Vec<u8> {
    let mut body = Vec::with_capacity(image.len() + 256);
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Whether the API asks the client to come back: overload, a dependency down, or the same key
/// still being processed by an earlier attempt.
fn retryable(status: StatusCode, body: &[u8]) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::BAD_GATEWAY
        | StatusCode::GATEWAY_TIMEOUT => true,
        StatusCode::CONFLICT => {
            let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let kind = problem["type"].as_str().unwrap_or("");
            kind.ends_with("idempotency-in-progress") || kind.ends_with("contention")
        }
        _ => false,
    }
}

pub fn acked(
    answer: Answer,
    request_id: String,
    kind: Kind,
    delta: i64,
    product: Option<&str>,
    record: &mut Record,
) -> Option<Ack> {
    match answer {
        Answer::Ok(body) => {
            let version = body["version"].as_u64();
            let id = body["id"].as_str().or(product);
            match (id, version) {
                (Some(id), Some(version)) => {
                    let ack = Ack {
                        request_id,
                        product: id.to_string(),
                        version,
                        kind,
                        delta,
                    };
                    record.acks.push(ack.clone());
                    Some(ack)
                }
                _ => {
                    record.surprise(format!("a 2xx without id and version: {body}"));
                    None
                }
            }
        }
        Answer::Refused => {
            record.refused += 1;
            None
        }
        Answer::Unknown => {
            record.unknown += 1;
            None
        }
    }
}

impl Load {
    /// Starts `workers` clients over `products` (created first, each with plenty of stock and
    /// a variant beside its master, typed and untyped alternately).
    /// The load stops by itself after `limit` commands. Each client makes its choices from a
    /// generator forked off `rng`, so the same seed gives every client the same choices.
    pub async fn start(
        endpoints: Endpoints,
        workers: usize,
        products: usize,
        mix: Mix,
        image: Bytes,
        limit: u64,
        rng: &mut fastrand::Rng,
    ) -> anyhow::Result<Self> {
        let client = Client::new(endpoints);
        let mut setup = Record::default();
        let mut ids = Vec::new();
        let mut versions = HashMap::new();
        let mut variants = HashMap::new();
        let run = uuid::Uuid::new_v4().simple().to_string();
        // Catalog 2: every other product typed, so faults meet typed writes and reads too.
        anyhow::ensure!(
            client.define_type().await,
            "the workload's product type could not be defined"
        );
        for i in 0..products {
            let sku = format!("C-{}-{i}", &run[..8]);
            let ack = match i % 2 {
                0 => client.create_typed(&sku, 1_000, &mut setup).await,
                _ => client.create(&sku, 1_000, &mut setup).await,
            }
            .ok_or_else(|| anyhow::anyhow!("the workload's products could not be created"))?;
            // Catalog 2: a variant of its own stock, so faults meet variant commands too.
            let (ack, variant) = client
                .add_variant(&ack.product, &format!("{sku}-XL"), 1_000, &mut setup)
                .await
                .ok_or_else(|| anyhow::anyhow!("the workload's variants could not be added"))?;
            variants.insert(ack.product.clone(), variant);
            versions.insert(ack.product.clone(), ack.version);
            ids.push(ack.product);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let commands = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            client,
            products: Mutex::new(ids),
            variants,
            versions: Mutex::new(versions),
            mix,
            image,
            commands,
            prices: AtomicU64::new(0),
            stop: stop.clone(),
            limit,
        });
        let mut set = JoinSet::new();
        let mut first = Some(setup);
        for worker in 0..workers {
            let shared = shared.clone();
            let record = first.take().unwrap_or_default();
            let rng = rng.fork();
            set.spawn(async move { work(shared, worker, record, rng).await });
        }
        Ok(Self { stop, workers: set })
    }

    /// Stops the clients once their commands in flight have a definite answer (or exhausted
    /// their retries) and returns what they saw.
    pub async fn stop(mut self) -> Record {
        self.stop.store(true, Ordering::SeqCst);
        let mut record = Record::default();
        while let Some(done) = self.workers.join_next().await {
            record.merge(done.expect("a workload client panicked"));
        }
        record
    }
}

async fn work(
    shared: Arc<Shared>,
    worker: usize,
    mut record: Record,
    mut rng: fastrand::Rng,
) -> Record {
    let mix = shared.mix;
    let total = mix.stock
        + mix.stock_if_match
        + mix.variant_stock
        + mix.price
        + mix.details
        + mix.publish
        + mix.create
        + mix.upload
        + mix.read;
    let mut created = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.commands.fetch_add(1, Ordering::SeqCst) >= shared.limit {
            break;
        }
        let product = {
            let products = shared.products.lock().unwrap();
            products[rng.usize(..products.len())].clone()
        };
        let known = shared
            .versions
            .lock()
            .unwrap()
            .get(&product)
            .copied()
            .unwrap_or(1);
        let client = &shared.client;
        let mut pick = rng.u32(..total);
        let mut next = |weight: u32| {
            let hit = pick < weight;
            pick = pick.saturating_sub(weight);
            hit
        };
        let ack = if next(mix.stock) {
            let delta = [-3, -2, -1, 1, 2, 3][rng.usize(..6)];
            client.adjust(&product, delta, None, &mut record).await
        } else if next(mix.stock_if_match) {
            let delta = [-2, -1, 1, 2][rng.usize(..4)];
            client
                .adjust(&product, delta, Some(known), &mut record)
                .await
        } else if next(mix.variant_stock) {
            let delta = [-3, -2, -1, 1, 2, 3][rng.usize(..6)];
            match shared.variants.get(&product) {
                Some(variant) => {
                    client
                        .adjust_variant(&product, variant, delta, &mut record)
                        .await
                }
                // Created during the run, without a variant: its master's stock instead.
                None => client.adjust(&product, delta, None, &mut record).await,
            }
        } else if next(mix.price) {
            // Above every price the products are created with (10.00 and 12.00 EUR).
            let amount = 100_000 + shared.prices.fetch_add(1, Ordering::Relaxed);
            let body = json!({"amount": amount, "currency": "EUR"});
            let path = format!("/products/{product}/price");
            let (answer, id) = client
                .command(Method::PUT, &path, Body::Json(body), None, &mut record)
                .await;
            acked(answer, id, Kind::Price, 0, Some(&product), &mut record)
        } else if next(mix.details) {
            let n = rng.u32(..);
            let body = match rng.bool() {
                true => json!({"name": format!("Renamed by {worker} #{n}")}),
                false => json!({"name": {
                    "en": format!("Renamed by {worker} #{n}"),
                    "de-CH": format!("Umbenannt von {worker} #{n}")
                }}),
            };
            let path = format!("/products/{product}");
            let (answer, id) = client
                .command(Method::PATCH, &path, Body::Json(body), None, &mut record)
                .await;
            acked(answer, id, Kind::Details, 0, Some(&product), &mut record)
        } else if next(mix.publish) {
            let (action, kind) = match rng.bool() {
                true => ("publish", Kind::Publish),
                false => ("unpublish", Kind::Unpublish),
            };
            let path = format!("/products/{product}/{action}");
            let (answer, id) = client
                .command(Method::POST, &path, Body::None, None, &mut record)
                .await;
            acked(answer, id, kind, 0, Some(&product), &mut record)
        } else if next(mix.create) {
            created += 1;
            let sku = format!("W{worker}-{created}-{}", rng.u32(..));
            let ack = client.create(&sku, 100, &mut record).await;
            if let Some(ack) = &ack {
                shared.products.lock().unwrap().push(ack.product.clone());
            }
            ack
        } else if next(mix.upload) {
            let path = format!("/products/{product}/images");
            let (answer, id) = client
                .command(
                    Method::POST,
                    &path,
                    Body::Image(shared.image.clone()),
                    None,
                    &mut record,
                )
                .await;
            acked(answer, id, Kind::Upload, 0, Some(&product), &mut record)
        } else {
            client.read(&product, known, &mut record).await;
            None
        };
        if let Some(ack) = ack {
            let mut versions = shared.versions.lock().unwrap();
            let latest = versions.entry(ack.product).or_insert(0);
            *latest = (*latest).max(ack.version);
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": format!("urn:catalog:problem:{kind}")})).unwrap()
    }

    #[test]
    fn a_client_retries_what_the_api_asks_it_to_and_nothing_else() {
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE, b""));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS, b""));
        assert!(retryable(
            StatusCode::CONFLICT,
            &problem("idempotency-in-progress")
        ));
        assert!(retryable(StatusCode::CONFLICT, &problem("contention")));
        assert!(!retryable(
            StatusCode::CONFLICT,
            &problem("insufficient-stock")
        ));
        assert!(!retryable(
            StatusCode::PRECONDITION_FAILED,
            &problem("precondition-failed")
        ));
        assert!(!retryable(StatusCode::INTERNAL_SERVER_ERROR, b""));
    }

    #[test]
    fn a_retried_upload_sends_the_same_bytes() {
        let image = Bytes::from_static(b"\xff\xd8\xff photo");
        let body = multipart(&image);
        assert_eq!(body, multipart(&image));
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert!(text.ends_with(&format!("\r\n--{BOUNDARY}--\r\n")));
    }
}
