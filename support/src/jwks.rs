//! The public keys of an outside token issuer, as a JSON Web Key Set (RFC 7517) read from
//! `JWKS_URL` or `JWKS_FILE`, so that both APIs accept its RS256, ES256 and EdDSA tokens.
//!
//! Each key is held by its `kid` with the one algorithm its type allows: RSA → RS256, EC P-256 →
//! ES256, OKP Ed25519 → EdDSA. Keys of other types or curves, encryption keys, keys without a
//! `kid`, and keys whose own `alg` disagrees with their type are skipped with a warning: a key is
//! never trusted for an algorithm its issuer did not mean it for.
//!
//! **Refetching.** The set is read at start-up, then again only when a token names a `kid` that
//! is not cached, and at most once per refetch interval ([`REFETCH_INTERVAL`], 30 s): an issuer
//! that publishes a new key is picked up without a restart, while a flood of made-up `kid`s costs
//! the issuer one request per interval. The start-up read counts as an attempt. One refetch runs
//! at a time; requests that need it meanwhile wait for its outcome instead of fetching again.
//! The fetched set replaces the cached one whole, so a key the issuer removed stops being
//! accepted after the next refetch, which (since only an unknown `kid` triggers one) is the next
//! unknown-`kid` token at least an interval after the last attempt. Tokens of known keys never
//! wait for, or trigger, a fetch.
//!
//! **Failures.** A fetch that fails (the endpoint down or slow beyond [`FETCH_TIMEOUT`], an
//! error status, a body that is not a JWKS, an unreadable file) keeps the cached keys and logs
//! a warning with the cause; the token that asked gets 401. At start-up an unreachable `JWKS_URL`
//! is only a warning (the service starts with no keys, the next unknown `kid` retries), but a
//! `JWKS_FILE` that cannot be read or parsed is an error: a local file that is missing is a
//! deployment mistake, not an outage to wait out.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// The shortest time between two fetches of the set: an unknown `kid` within it of the last
/// attempt is refused without asking the issuer again.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// How long one fetch of `JWKS_URL` may take, connection included. Requests whose `kid` is
/// unknown wait for it, so it stays short.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A key set is a few kilobytes; a larger answer is not one.
const MAX_BYTES: usize = 1024 * 1024;

/// Where the set is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `JWKS_URL`: fetched with an HTTP GET.
    Url(url::Url),
    /// `JWKS_FILE`: read from disk again at every refetch, so rewriting it rotates keys.
    File(PathBuf),
}

impl fmt::Display for JwksSource {
    /// The URL without user, password or query (they may carry credentials), or the path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => {
                write!(f, "{}://{}", url.scheme(), url.host_str().unwrap_or(""))?;
                if let Some(port) = url.port() {
                    write!(f, ":{port}")?;
                }
                f.write_str(url.path())
            }
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One usable key of the set.
pub struct JwksKey {
    /// The only algorithm tokens signed with this key may name, from the key's type.
    pub algorithm: Algorithm,
    /// The public key that checks their signatures.
    pub key: DecodingKey,
}

/// Why a `kid` has no key, for the 401's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKey {
    /// The set, as last fetched successfully, has no such key.
    NotInSet,
    /// The cached set has no such key and the latest fetch of the set failed.
    FetchFailed,
}

/// Why the set could not be fetched. The underlying error is the `source`: show it with
/// [`FetchError::report`].
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer: connection refused, DNS, TLS, or the timeout.
    #[error("the request failed")]
    Request(#[source] reqwest::Error),
    /// An answer other than 2xx.
    #[error("the answer was HTTP {0}")]
    Status(reqwest::StatusCode),
    /// An answer larger than any key set.
    #[error("the answer is larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// `JWKS_FILE` could not be read.
    #[error("cannot read the file")]
    Read(#[source] std::io::Error),
    /// The body is not a JSON object with a `keys` array.
    #[error("not a JWKS")]
    Json(#[source] serde_json::Error),
}

impl FetchError {
    /// The error with its causes, `: `-separated: reqwest's own message alone says only "error
    /// sending request", the cause says "connection refused".
    pub fn report(&self) -> String {
        let mut report = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            report.push_str(": ");
            report.push_str(&err.to_string());
            cause = err.source();
        }
        report
    }
}

type KeyMap = HashMap<String, Arc<JwksKey>>;

/// When the set was last fetched, and how it went. Its mutex is held for the whole of a
/// refetch: that is what keeps refetches one at a time.
struct LastFetch {
    at: Instant,
    failed: bool,
}

/// The cached key set of one issuer, refetched as the module documentation says.
pub struct Jwks {
    source: JwksSource,
    client: reqwest::Client,
    refetch_interval: Duration,
    /// Replaced whole by each successful fetch; readers clone the `Arc` and never wait on a
    /// refetch.
    keys: RwLock<Arc<KeyMap>>,
    last_fetch: tokio::sync::Mutex<LastFetch>,
}

impl Jwks {
    /// Reads the set for the first time, refetching at most every [`REFETCH_INTERVAL`]. An
    /// unreachable or invalid `JWKS_URL` is logged and leaves the set empty; an unreadable or
    /// invalid `JWKS_FILE` is the error.
    pub async fn load(source: JwksSource) -> Result<Self, FetchError> {
        Self::load_with_interval(source, REFETCH_INTERVAL).await
    }

    /// [`Jwks::load`] with another refetch interval: tests use a fraction of a second.
    pub async fn load_with_interval(
        source: JwksSource,
        refetch_interval: Duration,
    ) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(FetchError::Request)?;
        let mut jwks = Self {
            source,
            client,
            refetch_interval,
            keys: RwLock::default(),
            last_fetch: tokio::sync::Mutex::new(LastFetch {
                at: Instant::now(),
                failed: false,
            }),
        };
        let failed = match jwks.fetch().await {
            Ok(keys) => {
                jwks.replace(keys);
                false
            }
            Err(err) if matches!(jwks.source, JwksSource::File(_)) => return Err(err),
            Err(err) => {
                tracing::warn!(
                    source = %jwks.source,
                    error = err.report(),
                    "cannot fetch the JWKS; starting without its keys, an unknown kid retries"
                );
                true
            }
        };
        *jwks.last_fetch.get_mut() = LastFetch {
            at: Instant::now(),
            failed,
        };
        Ok(jwks)
    }

    /// Where the set comes from.
    pub fn source(&self) -> &JwksSource {
        &self.source
    }

    /// The `kid`s of the cached keys, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.current().keys().cloned().collect();
        kids.sort();
        kids
    }

    /// The cached key named `kid`, never fetching.
    pub fn cached(&self, kid: &str) -> Option<Arc<JwksKey>> {
        self.current().get(kid).cloned()
    }

    /// The key named `kid`: from the cache, or else from a refetch of the set when the last
    /// attempt is at least the refetch interval old.
    pub async fn key(&self, kid: &str) -> Result<Arc<JwksKey>, UnknownKey> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut last = self.last_fetch.lock().await;
        // The refetch this request waited for, if any, may have brought the key.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if last.at.elapsed() < self.refetch_interval {
            return Err(if last.failed {
                UnknownKey::FetchFailed
            } else {
                UnknownKey::NotInSet
            });
        }
        // Stamped before the fetch: a request dropped mid-fetch (its client gone) still counts
        // as an attempt, so cancelled requests cannot turn into a stream of fetches.
        *last = LastFetch {
            at: Instant::now(),
            failed: false,
        };
        let fetched = self.fetch().await;
        // And stamped again after: the interval runs from what the waiting requests learnt,
        // so a slow fetch does not let them start another one at once.
        last.at = Instant::now();
        match fetched {
            Ok(keys) => self.replace(keys),
            Err(err) => {
                last.failed = true;
                tracing::warn!(
                    source = %self.source,
                    error = err.report(),
                    kid,
                    cached = self.current().len(),
                    "cannot refetch the JWKS; keeping the cached keys"
                );
                return Err(UnknownKey::FetchFailed);
            }
        }
        self.cached(kid).ok_or(UnknownKey::NotInSet)
    }

    fn current(&self) -> Arc<KeyMap> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, keys: KeyMap) {
        let keys = Arc::new(keys);
        let mut kids: Vec<&String> = keys.keys().collect();
        kids.sort();
        tracing::info!(source = %self.source, kids = ?kids, "JWKS loaded");
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&keys);
    }

    async fn fetch(&self) -> Result<KeyMap, FetchError> {
        let body = match &self.source {
            JwksSource::Url(url) => self.get(url.clone()).await?,
            JwksSource::File(path) => tokio::fs::read(path).await.map_err(FetchError::Read)?,
        };
        parse_set(&body)
    }

    async fn get(&self, url: url::Url) -> Result<Vec<u8>, FetchError> {
        // The URL is left out of errors: it may carry credentials, and the log names the source.
        let request = |err: reqwest::Error| FetchError::Request(err.without_url());
        let mut response = self.client.get(url).send().await.map_err(request)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request)? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[derive(Deserialize)]
struct RawSet {
    /// Each key on its own: one this crate cannot read must not cost the issuer the others.
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a set; the others are logged and skipped.
fn parse_set(body: &[u8]) -> Result<KeyMap, FetchError> {
    let set: RawSet = serde_json::from_slice(body).map_err(FetchError::Json)?;
    let mut keys = KeyMap::new();
    for raw in set.keys {
        let kid = raw
            .get("kid")
            .and_then(|kid| kid.as_str())
            .map(str::to_owned);
        match parse_key(raw) {
            Ok((kid, _)) if keys.contains_key(&kid) => {
                tracing::warn!(kid, "the JWKS names this kid twice; the first key is used");
            }
            Ok((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(reason) => tracing::warn!(?kid, reason, "a key of the JWKS is skipped"),
        }
    }
    Ok(keys)
}

/// One key with its `kid` and algorithm, or why it cannot be used.
fn parse_key(raw: serde_json::Value) -> Result<(String, JwksKey), String> {
    let jwk: Jwk = serde_json::from_value(raw).map_err(|e| format!("not a JWK: {e}"))?;
    let kid = jwk
        .common
        .key_id
        .clone()
        .filter(|kid| !kid.is_empty())
        .ok_or("no kid: tokens could not name it")?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err("an encryption key (`use: enc`)".into());
    }
    let (algorithm, named) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        _ => {
            return Err(
                "not an RSA, EC P-256 or OKP Ed25519 key (the types RS256, ES256, EdDSA need)"
                    .into(),
            )
        }
    };
    if let Some(alg) = jwk.common.key_algorithm {
        if alg != named {
            return Err(format!(
                "its alg {alg} does not match its type, which only allows {named}"
            ));
        }
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable key material: {e}"))?;
    Ok((kid, JwksKey { algorithm, key }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = include_str!("../tests/fixtures/jwks.json");

    #[test]
    fn each_key_type_gets_its_one_algorithm() {
        let keys = parse_set(SET.as_bytes()).unwrap();
        let alg = |kid: &str| keys[kid].algorithm;
        assert_eq!(alg("rsa-1"), Algorithm::RS256);
        assert_eq!(alg("rsa-2"), Algorithm::RS256);
        assert_eq!(alg("ec-1"), Algorithm::ES256);
        assert_eq!(alg("ed-1"), Algorithm::EdDSA);
    }

    #[test]
    fn keys_that_cannot_be_used_are_skipped_and_the_others_kept() {
        let set: serde_json::Value = serde_json::from_str(SET).unwrap();
        let rsa = set["keys"][0].clone();
        let with = |changes: serde_json::Value| {
            let mut key = rsa.clone();
            for (name, value) in changes.as_object().unwrap() {
                key[name] = value.clone();
            }
            key
        };
        let body = serde_json::json!({ "keys": [
            with(serde_json::json!({ "kid": "named-es256", "alg": "ES256" })),
            with(serde_json::json!({ "kid": "for-encryption", "use": "enc" })),
            with(serde_json::json!({ "kid": "odd-alg", "alg": "RSA-OAEP" })),
            with(serde_json::json!({ "kid": null })),
            { "kty": "oct", "kid": "symmetric", "k": "c2VjcmV0" },
            { "kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA" },
            { "kty": "unheard-of", "kid": "odd" },
            rsa.clone(),
            with(serde_json::json!({ "n": "AQAB" })),
        ]});
        let keys = parse_set(body.to_string().as_bytes()).unwrap();
        let mut kids: Vec<&String> = keys.keys().collect();
        kids.sort();
        // The last entry repeats rsa-1's kid: the first one stays.
        assert_eq!(kids, ["rsa-1"]);
    }

    #[test]
    fn a_body_that_is_not_a_key_set_is_an_error() {
        for body in ["", "[]", "{\"keys\": 1}", "<html>"] {
            assert!(parse_set(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn the_source_is_shown_without_credentials() {
        let url = url::Url::parse("https://user:pw@id.example:8443/jwks?token=t").unwrap();
        assert_eq!(
            JwksSource::Url(url).to_string(),
            "https://id.example:8443/jwks"
        );
    }
}
