//! Tokens of an outside issuer: RS256, ES256 and EdDSA checked against a JWKS served over HTTP by
//! a loopback server of the test's own (or read from a file), with keys rotated while the
//! authenticator runs. The keys are the fixtures in `tests/fixtures/` (see `derive-jwks.py`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use catalog_support::auth::{require_scope, Actor, AuthError, Authenticator, RequireScope};
use catalog_support::jwks::{Jwks, JwksSource};
use catalog_support::secret::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tower::ServiceExt;

/// Short, so that tests wait for it rather than for the 30 s of production.
const INTERVAL: Duration = Duration::from_millis(200);
/// Long enough past [`INTERVAL`] on a busy machine.
const PAST_INTERVAL: Duration = Duration::from_millis(300);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixtures' public keys named by `kids`, as a JWKS.
fn set(kids: &[&str]) -> Value {
    let all: Value = serde_json::from_slice(&std::fs::read(fixture("jwks.json")).unwrap()).unwrap();
    let keys: Vec<Value> = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| kids.contains(&key["kid"].as_str().unwrap()))
        .cloned()
        .collect();
    assert_eq!(keys.len(), kids.len(), "every kid is a fixture");
    json!({ "keys": keys })
}

/// The private key of fixture `key` and the algorithm its type signs with. jsonwebtoken is built
/// without PEM parsing here, so the PEM's armour is taken off by hand: RSA keys are PKCS#1,
/// the others PKCS#8, the forms its DER constructors take.
fn signer(key: &str) -> (Algorithm, EncodingKey) {
    let pem = std::fs::read_to_string(fixture(&format!("{key}.pem"))).unwrap();
    let base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(base64).unwrap();
    match key.split('-').next().unwrap() {
        "rsa" => (Algorithm::RS256, EncodingKey::from_rsa_der(&der)),
        "ec" => (Algorithm::ES256, EncodingKey::from_ec_der(&der)),
        "ed" => (Algorithm::EdDSA, EncodingKey::from_ed_der(&der)),
        other => panic!("no fixture of type {other}"),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for "alice" with `catalog:write`, signed with fixture `key`, its header naming `kid`
/// and the algorithm of the key, plus `extra` claims.
fn token_with(key: &str, kid: &str, extra: Value) -> String {
    let (alg, encoding) = signer(key);
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    let mut claims = json!({ "sub": "alice", "scope": "catalog:write", "exp": now() + 600 });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
}

/// A token signed with fixture `key`, naming it by its own kid.
fn token(key: &str) -> String {
    token_with(key, key, json!({}))
}

async fn check(auth: &Authenticator, token: String) -> Result<Actor, AuthError> {
    auth.authenticate_bearer(&token).await
}

fn detail(result: Result<Actor, AuthError>) -> String {
    match result {
        Err(AuthError::Invalid(detail)) => detail,
        other => panic!("expected AuthError::Invalid, got {other:?}"),
    }
}

/// A JWKS endpoint on a loopback port: serves whatever set was last published, counts the
/// requests it answers, and can be made slow, failing, or stopped.
struct JwksServer {
    url: url::Url,
    state: Arc<Served>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Served {
    set: Mutex<Value>,
    /// Answered with this status instead of the set, when set.
    failing: Mutex<Option<StatusCode>>,
    delay: Mutex<Duration>,
    hits: AtomicUsize,
}

async fn serve_set(State(served): State<Arc<Served>>) -> Response {
    served.hits.fetch_add(1, Ordering::SeqCst);
    let delay = *served.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if let Some(status) = *served.failing.lock().unwrap() {
        return status.into_response();
    }
    axum::Json(served.set.lock().unwrap().clone()).into_response()
}

impl JwksServer {
    async fn start(set: Value) -> Self {
        let state = Arc::new(Served {
            set: Mutex::new(set),
            ..Served::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let app = Router::new()
            .route("/.well-known/jwks.json", get(serve_set))
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url: url::Url::parse(&url).unwrap(),
            state,
            stop: Some(stop),
            task,
        }
    }

    fn source(&self) -> JwksSource {
        JwksSource::Url(self.url.clone())
    }

    fn publish(&self, set: Value) {
        *self.state.set.lock().unwrap() = set;
    }

    fn fail_with(&self, status: Option<StatusCode>) {
        *self.state.failing.lock().unwrap() = status;
    }

    fn slow_down(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Closes the listener and every connection: the endpoint is down.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap();
    }
}

async fn authenticator(source: JwksSource) -> Authenticator {
    let jwks = Jwks::load_with_interval(source, INTERVAL).await.unwrap();
    Authenticator::from_jwks(jwks, Duration::ZERO)
}

/// A file of the test's own, replaced whole (write, then rename) as an issuer's deployment
/// would, so a refetch never reads half a file.
struct JwksFile(PathBuf);

impl JwksFile {
    fn new(set: Value) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "catalog-jwks-{}-{}.json",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let file = Self(path);
        file.write(set.to_string().as_bytes());
        file
    }

    fn write(&self, body: &[u8]) {
        let next = self.0.with_extension("next");
        std::fs::write(&next, body).unwrap();
        std::fs::rename(&next, &self.0).unwrap();
    }
}

impl Drop for JwksFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_are_accepted_with_their_keys() {
    let server = JwksServer::start(set(&["rsa-1", "ec-1", "ed-1"])).await;
    let auth = authenticator(server.source()).await;
    for key in ["rsa-1", "ec-1", "ed-1"] {
        let actor = auth.authenticate_bearer(&token(key)).await;
        let actor = actor.unwrap_or_else(|err| panic!("{key}: {err}"));
        assert_eq!(actor.subject, "alice", "{key}");
        assert!(actor.has_scope("catalog:write"), "{key}");
    }
    // Every kid was in the set read at start-up: nothing was fetched again.
    assert_eq!(server.hits(), 1);
    server.stop().await;
}

#[tokio::test]
async fn audience_issuer_and_expiry_apply_to_jwks_tokens_as_to_hs256() {
    let auth = authenticator(JwksSource::File(fixture("jwks.json")))
        .await
        .expecting(Some("catalog"), Some("https://id.test"));
    let ours = json!({ "aud": "catalog", "iss": "https://id.test" });
    for key in ["rsa-1", "ec-1", "ed-1"] {
        let accepted = check(&auth, token_with(key, key, ours.clone())).await;
        assert!(accepted.is_ok(), "{key}");
        for claims in [
            json!({}),
            json!({ "aud": "billing", "iss": "https://id.test" }),
            json!({ "aud": "catalog", "iss": "https://elsewhere.test" }),
            json!({ "aud": "catalog" }),
        ] {
            let refused = check(&auth, token_with(key, key, claims.clone())).await;
            assert!(
                matches!(refused, Err(AuthError::Invalid(_))),
                "{key} with {claims}"
            );
        }
        let expired = json!({ "aud": "catalog", "iss": "https://id.test", "exp": now() - 60 });
        let expired = check(&auth, token_with(key, key, expired)).await;
        assert!(matches!(expired, Err(AuthError::Expired)), "{key}");
        let no_subject = json!({ "aud": "catalog", "iss": "https://id.test", "sub": " " });
        let no_subject = check(&auth, token_with(key, key, no_subject)).await;
        assert_eq!(detail(no_subject), "the subject is empty");
    }
}

#[tokio::test]
async fn a_token_whose_alg_is_not_its_keys_is_refused_with_both_named() {
    let auth = Authenticator::new(&Secret::new("hs-secret"), Duration::ZERO).with_jwks(
        Jwks::load(JwksSource::File(fixture("jwks.json")))
            .await
            .unwrap(),
    );
    // Signed with an RSA key, but naming the EC key.
    assert_eq!(
        detail(
            auth.authenticate_bearer(&token_with("rsa-1", "ec-1", json!({})))
                .await
        ),
        r#"alg RS256 does not match key "ec-1" (ES256)"#
    );
    assert_eq!(
        detail(
            auth.authenticate_bearer(&token_with("ec-1", "ed-1", json!({})))
                .await
        ),
        r#"alg ES256 does not match key "ed-1" (EdDSA)"#
    );
    assert_eq!(
        detail(
            auth.authenticate_bearer(&token_with("ed-1", "rsa-2", json!({})))
                .await
        ),
        r#"alg EdDSA does not match key "rsa-2" (RS256)"#
    );
    // HS256 naming an RSA key: the key-confusion attack, whatever the HMAC key was.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let claims = json!({ "sub": "mallory", "scope": "catalog:write", "exp": now() + 600 });
    for secret in [b"hs-secret".as_slice(), b"the RSA modulus, say"] {
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(
            detail(auth.authenticate_bearer(&forged).await),
            r#"alg HS256 does not match key "rsa-1" (RS256)"#
        );
    }
    // The secret's own tokens still pass, and a signature by the wrong key of the right type
    // is a bad signature.
    let own = auth.issue("alice", "catalog:write", Duration::from_secs(60));
    assert!(auth.authenticate_bearer(&own).await.is_ok());
    let wrong_key = token_with("rsa-2", "rsa-1", json!({}));
    assert!(detail(auth.authenticate_bearer(&wrong_key).await).contains("InvalidSignature"));
}

#[tokio::test]
async fn a_new_key_is_fetched_on_its_first_token_and_a_removed_one_dropped_at_the_next_refetch() {
    let server = JwksServer::start(set(&["rsa-1"])).await;
    let auth = authenticator(server.source()).await;
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());

    // The issuer publishes a second key, then signs with it: picked up without a restart.
    server.publish(set(&["rsa-1", "rsa-2"]));
    tokio::time::sleep(PAST_INTERVAL).await;
    assert!(auth.authenticate_bearer(&token("rsa-2")).await.is_ok());
    assert_eq!(server.hits(), 2, "one refetch for the new kid");

    // The issuer retires the first key. Known keys never trigger a fetch, so it stays
    // accepted until a refetch happens: the next unknown kid past the interval.
    server.publish(set(&["rsa-2"]));
    tokio::time::sleep(PAST_INTERVAL).await;
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());
    assert_eq!(server.hits(), 2);
    let unknown = token_with("rsa-1", "k3", json!({}));
    assert_eq!(
        detail(auth.authenticate_bearer(&unknown).await),
        r#"no key "k3" in the JWKS"#
    );
    assert_eq!(server.hits(), 3);
    assert_eq!(
        detail(auth.authenticate_bearer(&token("rsa-1")).await),
        r#"no key "rsa-1" in the JWKS"#
    );
    assert!(auth.authenticate_bearer(&token("rsa-2")).await.is_ok());
    // rsa-1, unknown now, was refused within the interval: no fetch for it.
    assert_eq!(server.hits(), 3);
    server.stop().await;
}

#[tokio::test]
async fn unknown_kids_within_the_interval_cost_at_most_one_fetch() {
    let server = JwksServer::start(set(&["rsa-1"])).await;
    let auth = Arc::new(authenticator(server.source()).await);
    // Within the interval of the start-up read: nothing is fetched.
    for _ in 0..20 {
        let unknown = token_with("rsa-1", "made-up", json!({}));
        assert!(auth.authenticate_bearer(&unknown).await.is_err());
    }
    assert_eq!(server.hits(), 1);

    // Past it, many requests at once while the (slow) fetch is in flight: one fetch, whose
    // result every one of them uses.
    server.publish(set(&["rsa-1", "rsa-2"]));
    server.slow_down(Duration::from_millis(300));
    tokio::time::sleep(PAST_INTERVAL).await;
    let new_key = token("rsa-2");
    let unknown = token_with("rsa-1", "made-up", json!({}));
    let requests = (0..40).map(|i| {
        let auth = Arc::clone(&auth);
        let token = if i % 2 == 0 { &new_key } else { &unknown }.clone();
        tokio::spawn(async move { (i, auth.authenticate_bearer(&token).await) })
    });
    for outcome in futures::future::join_all(requests).await {
        let (i, result) = outcome.unwrap();
        assert_eq!(result.is_ok(), i % 2 == 0, "request {i}: {result:?}");
    }
    assert_eq!(server.hits(), 2);
    server.stop().await;
}

#[tokio::test]
async fn with_the_endpoint_down_cached_keys_keep_working_and_unknown_kids_get_401() {
    let server = JwksServer::start(set(&["rsa-1"])).await;
    let auth = authenticator(server.source()).await;
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());

    // Answering, but with an error: the cached keys stay.
    server.fail_with(Some(StatusCode::SERVICE_UNAVAILABLE));
    tokio::time::sleep(PAST_INTERVAL).await;
    let cannot_fetch = r#"no key "rsa-2" in the cached JWKS, and the JWKS cannot be fetched now"#;
    assert_eq!(
        detail(auth.authenticate_bearer(&token("rsa-2")).await),
        cannot_fetch
    );
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());
    assert_eq!(server.hits(), 2);

    // Gone altogether.
    server.stop().await;
    tokio::time::sleep(PAST_INTERVAL).await;
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());
    assert_eq!(
        detail(auth.authenticate_bearer(&token("rsa-2")).await),
        cannot_fetch
    );
    // Within the interval of that failure: refused at once, for the same reason.
    assert_eq!(
        detail(auth.authenticate_bearer(&token("ec-1")).await),
        r#"no key "ec-1" in the cached JWKS, and the JWKS cannot be fetched now"#
    );
}

#[tokio::test]
async fn a_jwks_unreachable_at_start_up_is_retried_by_the_first_unknown_kid() {
    // Nothing listens on a port just released.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/jwks", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let auth = authenticator(JwksSource::Url(url)).await;
    assert!(detail(auth.authenticate_bearer(&token("rsa-1")).await).contains("cannot be fetched"));

    // An endpoint that fails at start-up and recovers later.
    let server = JwksServer::start(set(&["rsa-1"])).await;
    server.fail_with(Some(StatusCode::BAD_GATEWAY));
    let auth = authenticator(server.source()).await;
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_err());
    server.fail_with(None);
    assert!(
        auth.authenticate_bearer(&token("rsa-1")).await.is_err(),
        "within the interval of the failed start-up read"
    );
    tokio::time::sleep(PAST_INTERVAL).await;
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());
    assert_eq!(server.hits(), 2);

    // A body that is not a key set counts as a failure too.
    server.publish(json!({ "issuer": "not a key set" }));
    tokio::time::sleep(PAST_INTERVAL).await;
    assert!(detail(auth.authenticate_bearer(&token("ec-1")).await).contains("cannot be fetched"));
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn a_jwks_file_is_read_again_on_an_unknown_kid() {
    let file = JwksFile::new(set(&["rsa-1"]));
    let auth = authenticator(JwksSource::File(file.0.clone())).await;
    assert!(auth.authenticate_bearer(&token("rsa-1")).await.is_ok());
    assert!(auth.authenticate_bearer(&token("ed-1")).await.is_err());

    file.write(set(&["ed-1"]).to_string().as_bytes());
    tokio::time::sleep(PAST_INTERVAL).await;
    assert!(auth.authenticate_bearer(&token("ed-1")).await.is_ok());
    assert_eq!(
        detail(auth.authenticate_bearer(&token("rsa-1")).await),
        r#"no key "rsa-1" in the JWKS"#
    );

    // A file rewritten with something else keeps the keys read before.
    file.write(b"{ not json");
    tokio::time::sleep(PAST_INTERVAL).await;
    assert!(detail(auth.authenticate_bearer(&token("ec-1")).await).contains("cannot be fetched"));
    assert!(auth.authenticate_bearer(&token("ed-1")).await.is_ok());

    // Unlike an unreachable URL, a file that cannot be read at start-up is an error.
    let missing = JwksSource::File(file.0.with_extension("missing"));
    assert!(Jwks::load(missing).await.is_err());
}

#[tokio::test]
async fn the_middleware_answers_a_mismatch_with_a_401_problem_and_a_challenge() {
    let auth = Arc::new(authenticator(JwksSource::File(fixture("jwks.json"))).await);
    let app = Router::new()
        .route("/guarded", get(|| async { "in" }))
        .route_layer(axum::middleware::from_fn_with_state(
            RequireScope {
                auth,
                scope: "catalog:write",
            },
            require_scope,
        ));
    let call = |token: String| {
        let request = Request::get("/guarded")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request)
    };
    assert_eq!(call(token("ec-1")).await.unwrap().status(), StatusCode::OK);
    let response = call(token_with("rsa-1", "ec-1", json!({}))).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let problem: Value = serde_json::from_slice(&body).unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.ends_with(r#"alg RS256 does not match key "ec-1" (ES256)"#),
        "{problem}"
    );
}
