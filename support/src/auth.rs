//! Bearer authentication with JWTs: HS256 signed with `JWT_SECRET`, and RS256, ES256 and EdDSA
//! signed by an outside issuer whose public keys are published as a JWKS (`JWKS_URL` or
//! `JWKS_FILE`, see [`crate::jwks`]). The verifier is chosen by the token header's `alg`, and
//! for a JWKS key the `alg` must be the one the key's type allows: a token signed any other way,
//! or not signed (`alg: none`), is refused before its claims are read.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, SECRET_OR_JWKS};
use crate::jwks::{Jwks, JwksSource, UnknownKey};
use crate::problem::Problem;
use crate::secret::Secret;
use crate::session::{self, Session, Sessions, CSRF_HEADER};

pub use crate::scopes::{SCOPE_ADMIN, SCOPE_AUDIT, SCOPE_WRITE};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
}

/// Who is calling, as proven by a valid token. The subject is recorded on every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's `sub` claim, never blank.
    pub subject: String,
    /// The token's `scope` claim split on white space; empty when the claim is absent.
    pub scopes: BTreeSet<String>,
}

impl Actor {
    /// Whether the token grants `scope`, matched exactly.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

/// Why a request was refused before reaching its handler. Each answers problem+json with a
/// `WWW-Authenticate` challenge (RFC 6750): 401 for a missing or unusable token, 403 for a
/// missing scope.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("a bearer token is required")]
    Missing,
    /// The header is not `Bearer <token>`, or the token is not one this service accepts:
    /// malformed, forged, unsigned or signed another way, without a required claim (or with an
    /// empty subject), or for another audience or issuer. The reason is the problem's `detail`.
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    /// A genuine token past its `exp` (and the leeway): the client should get a new one.
    #[error("the bearer token has expired")]
    Expired,
    /// An accepted token without the scope the route requires, named here and in the challenge.
    #[error("the token lacks the scope {0}")]
    InsufficientScope(&'static str),
    /// A session cookie that names no running session: it ended (signed out, removed, idle
    /// or past its absolute limit) or never was.
    #[error("the session has ended: sign in again")]
    SessionEnded,
    /// The session store (Redis) cannot be reached, so a session cookie cannot be checked.
    #[error("sessions cannot be checked now: the session store is unavailable")]
    SessionsUnavailable,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let (status, kind, title, challenge) = match &self {
            Self::Missing => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                r#"Bearer realm="catalog""#.to_string(),
            ),
            Self::Invalid(_) | Self::Expired => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                r#"Bearer realm="catalog", error="invalid_token""#.to_string(),
            ),
            Self::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Insufficient scope",
                format!(r#"Bearer realm="catalog", error="insufficient_scope", scope="{scope}""#),
            ),
            Self::SessionEnded => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                r#"Bearer realm="catalog""#.to_string(),
            ),
            Self::SessionsUnavailable => {
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    detail,
                )
                .retry_after(2)
                .into_response()
            }
        };
        let challenge =
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"));
        Problem::new(status, kind, title, detail)
            .with_header(header::WWW_AUTHENTICATE, challenge)
            .into_response()
    }
}

pub use crate::config::AuthSettings;

/// The algorithms a token may be signed with: HS256 with the secret, the others with a key of
/// the JWKS.
const ACCEPTED: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The part of a token's header read before any key is chosen. `alg` stays a string, so that
/// `none` or an algorithm jsonwebtoken does not know gets a precise refusal.
#[derive(Deserialize)]
struct TokenHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Checks tokens, and issues them for development.
pub struct Authenticator {
    /// `JWT_SECRET`'s keys, when configured: HS256 tokens are refused without it.
    secret: Option<(DecodingKey, EncodingKey)>,
    /// The outside issuer's keys, when configured: RS256, ES256 and EdDSA are refused without.
    jwks: Option<Jwks>,
    /// One per algorithm of [`ACCEPTED`]: jsonwebtoken refuses a validation whose algorithms
    /// span key families, and each names only the algorithm of the key it goes with.
    validations: HashMap<Algorithm, Validation>,
    /// The signed-in sessions a `catalog_session` cookie names, when the service keeps them.
    sessions: Option<Sessions>,
    leeway: Duration,
    audience: Option<String>,
    issuer: Option<String>,
}

impl Authenticator {
    /// Accepts HS256 tokens signed with `secret` (and issues them). `leeway` forgives clocks
    /// that disagree by that much on `exp`.
    pub fn new(secret: &Secret, leeway: Duration) -> Self {
        let key = secret.expose().as_bytes();
        Self::with_keys(
            Some((DecodingKey::from_secret(key), EncodingKey::from_secret(key))),
            None,
            leeway,
        )
    }

    /// Accepts only tokens signed with a key of `jwks`; such an authenticator cannot
    /// [`issue`](Self::issue) tokens.
    pub fn from_jwks(jwks: Jwks, leeway: Duration) -> Self {
        Self::with_keys(None, Some(jwks), leeway)
    }

    /// Also accepts the session cookie of a person signed in with `POST /session` (see
    /// [`crate::session`]), in place of a bearer token.
    pub fn with_sessions(mut self, sessions: Sessions) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Also accepts tokens signed with a key of `jwks`.
    pub fn with_jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// The authenticator `settings` describe, after a first read of the JWKS when one is
    /// configured. An unreachable `JWKS_URL` only logs (the service starts without its keys);
    /// a `JWKS_FILE` that cannot be read or parsed, or neither a secret nor a JWKS, is the error.
    pub async fn from_settings(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let jwks = match &settings.jwks {
            Some(source) => Some(Jwks::load(source.clone()).await.map_err(|err| {
                let var = match source {
                    JwksSource::Url(_) => "JWKS_URL",
                    JwksSource::File(_) => "JWKS_FILE",
                };
                ConfigError::new(var, format!("{source} cannot be used: {}", err.report()))
            })?),
            None => None,
        };
        let auth = match (&settings.secret, jwks) {
            (Some(secret), Some(jwks)) => Self::new(secret, settings.leeway).with_jwks(jwks),
            (Some(secret), None) => Self::new(secret, settings.leeway),
            (None, Some(jwks)) => Self::from_jwks(jwks, settings.leeway),
            (None, None) => return Err(ConfigError::new("JWT_SECRET", SECRET_OR_JWKS)),
        };
        Ok(auth.expecting(settings.audience.as_deref(), settings.issuer.as_deref()))
    }

    fn with_keys(
        secret: Option<(DecodingKey, EncodingKey)>,
        jwks: Option<Jwks>,
        leeway: Duration,
    ) -> Self {
        let mut auth = Self {
            secret,
            jwks,
            validations: HashMap::new(),
            sessions: None,
            leeway,
            audience: None,
            issuer: None,
        };
        auth.validations = auth.build_validations();
        auth
    }

    /// Also requires the `aud` and/or `iss` claims, when configured, to name these values:
    /// tokens minted for another service or by another issuer with the same key are refused.
    /// Applies to every algorithm alike.
    pub fn expecting(mut self, audience: Option<&str>, issuer: Option<&str>) -> Self {
        self.audience = audience.map(str::to_string);
        self.issuer = issuer.map(str::to_string);
        self.validations = self.build_validations();
        self
    }

    fn build_validations(&self) -> HashMap<Algorithm, Validation> {
        ACCEPTED
            .into_iter()
            .map(|alg| {
                let mut validation = Validation::new(alg);
                validation.leeway = self.leeway.as_secs();
                let mut required = vec!["exp", "sub"];
                // An `aud` claim is only checked when an audience is configured.
                validation.validate_aud = false;
                if let Some(audience) = &self.audience {
                    validation.set_audience(&[audience]);
                    validation.validate_aud = true;
                    required.push("aud");
                }
                if let Some(issuer) = &self.issuer {
                    validation.set_issuer(&[issuer]);
                    required.push("iss");
                }
                validation.set_required_spec_claims(&required);
                (alg, validation)
            })
            .collect()
    }

    /// The [`Actor`] of a request from its `Authorization: Bearer <token>` header. Only checks
    /// who is calling; the scope a route needs is [`require_scope`]'s to check. May wait for a
    /// refetch of the JWKS (see [`crate::jwks`]) when the token names an unknown key.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Actor, AuthError> {
        Ok(self.authenticate_request(headers).await?.0)
    }

    /// Who is calling and, when they proved it with a session cookie rather than a bearer
    /// token, their session (whose CSRF token a change must repeat). A bearer token wins over
    /// a cookie: a client that sends one means it.
    pub async fn authenticate_request(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Actor, Option<Session>), AuthError> {
        if !headers.contains_key(header::AUTHORIZATION) {
            if let (Some(sessions), Some(id)) = (&self.sessions, session::cookie(headers)) {
                let session = match sessions.find(id).await {
                    Ok(Some(session)) => session,
                    Ok(None) => return Err(AuthError::SessionEnded),
                    Err(err) => {
                        tracing::warn!(error = %err, "the session store (Redis) is unavailable");
                        return Err(AuthError::SessionsUnavailable);
                    }
                };
                let actor = Actor {
                    subject: session.email.clone(),
                    scopes: session.role.scopes(),
                };
                return Ok((actor, Some(session)));
            }
        }
        Ok((self.authenticate_bearer_header(headers).await?, None))
    }

    async fn authenticate_bearer_header(&self, headers: &HeaderMap) -> Result<Actor, AuthError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?
            .to_str()
            .map_err(|_| AuthError::Invalid("the header is not ASCII".into()))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| AuthError::Invalid("expected `Authorization: Bearer <token>`".into()))?;
        self.authenticate_bearer(token).await
    }

    /// The [`Actor`] a bearer token proves: its signature checked with the key its header's
    /// `alg` (and, for a JWKS key, `kid`) selects, then its claims.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Actor, AuthError> {
        let header = read_header(token)?;
        let alg = match header.alg.as_str() {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            other => {
                return Err(AuthError::Invalid(format!(
                    "alg {} is not accepted (HS256, RS256, ES256 or EdDSA)",
                    shown(other)
                )))
            }
        };
        if alg == Algorithm::HS256 {
            // An HS256 token naming a JWKS key is the classic confusion attack (the public key
            // used as an HMAC secret): refused as such, whatever the secret would say.
            if let (Some(kid), Some(jwks)) = (&header.kid, &self.jwks) {
                if let Some(key) = jwks.cached(kid) {
                    return Err(mismatch(alg, kid, key.algorithm));
                }
            }
            let Some((key, _)) = &self.secret else {
                return Err(AuthError::Invalid(
                    "HS256 tokens are not accepted: no JWT_SECRET is configured".into(),
                ));
            };
            return self.verify(token, key, alg);
        }
        let Some(jwks) = &self.jwks else {
            return Err(AuthError::Invalid(format!(
                "{alg:?} tokens are not accepted: no JWKS_URL or JWKS_FILE is configured"
            )));
        };
        let Some(kid) = header.kid.as_deref() else {
            return Err(AuthError::Invalid(format!(
                "{alg:?} tokens must name their key in `kid`"
            )));
        };
        let key = jwks.key(kid).await.map_err(|reason| {
            AuthError::Invalid(match reason {
                UnknownKey::NotInSet => format!("no key {} in the JWKS", shown(kid)),
                UnknownKey::FetchFailed => format!(
                    "no key {} in the cached JWKS, and the JWKS cannot be fetched now",
                    shown(kid)
                ),
            })
        })?;
        if key.algorithm != alg {
            return Err(mismatch(alg, kid, key.algorithm));
        }
        self.verify(token, &key.key, alg)
    }

    fn verify(&self, token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Actor, AuthError> {
        let validation = &self.validations[&alg];
        let data =
            jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|err| {
                match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid(err.to_string()),
                }
            })?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("the subject is empty".into()));
        }
        Ok(Actor {
            subject: claims.sub,
            scopes: claims
                .scope
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        })
    }

    /// Whether [`issue`](Self::issue) can sign: only with `JWT_SECRET`.
    pub fn can_issue(&self) -> bool {
        self.secret.is_some()
    }

    /// Signs an HS256 token for `subject` with the given space-separated scopes (development
    /// tokens: an outside issuer signs the others).
    ///
    /// # Panics
    ///
    /// Without `JWT_SECRET` (an authenticator from [`from_jwks`](Self::from_jwks)): JWKS keys
    /// are public, they cannot sign. Check [`can_issue`](Self::can_issue) first.
    pub fn issue(&self, subject: &str, scope: &str, ttl: Duration) -> String {
        let (_, key) = self
            .secret
            .as_ref()
            .expect("issuing a token needs JWT_SECRET: JWKS keys only verify");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: subject.to_string(),
            scope: scope.to_string(),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            aud: self.audience.clone(),
            iss: self.issuer.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .expect("HS256 signing with a byte key cannot fail")
    }
}

/// The header of a token, read without checking anything else.
fn read_header(token: &str) -> Result<TokenHeader, AuthError> {
    let unreadable = || AuthError::Invalid("the token's header is not base64url JSON".into());
    let encoded = token.split('.').next().unwrap_or_default();
    let json = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| unreadable())?;
    serde_json::from_slice(&json).map_err(|_| unreadable())
}

fn mismatch(alg: Algorithm, kid: &str, key_alg: Algorithm) -> AuthError {
    AuthError::Invalid(format!(
        "alg {alg:?} does not match key {} ({key_alg:?})",
        shown(kid)
    ))
}

/// A value from the token, quoted and cut short: it is the caller's text, echoed in a detail.
fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    match value.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{:?}…", &value[..end]),
        None => format!("{value:?}"),
    }
}

/// Middleware state: the authenticator and the scope a group of routes requires.
#[derive(Clone)]
pub struct RequireScope {
    /// Checks the token, shared by every group of routes of the service.
    pub auth: Arc<Authenticator>,
    /// The scope every route of the group requires, e.g. [`SCOPE_WRITE`].
    pub scope: &'static str,
}

/// Authenticates the request and checks its scope before any other extractor runs, so that an
/// unauthenticated client learns nothing about bodies or ids. The [`Actor`] is left in the
/// request's extensions for handlers.
pub async fn require_scope(
    State(required): State<RequireScope>,
    mut request: Request,
    next: Next,
) -> Response {
    let (actor, session) = match required.auth.authenticate_request(request.headers()).await {
        Ok(found) => found,
        Err(err) => return err.into_response(),
    };
    // A session cookie rides along with any request the browser sends, whichever page made
    // it: a change must also show the session's CSRF token, which only the console's own
    // pages can read.
    if let Some(session) = session {
        let reads = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        if !reads && !session.csrf_matches(request.headers().get(CSRF_HEADER)) {
            return session::csrf_refused().into_response();
        }
    }
    if !actor.has_scope(required.scope) {
        return AuthError::InsufficientScope(required.scope).into_response();
    }
    tracing::Span::current().record("actor", actor.subject.as_str());
    request.extensions_mut().insert(actor);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(&Secret::new("test-secret"), Duration::from_secs(0))
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        headers
    }

    fn detail(result: Result<Actor, AuthError>) -> String {
        match result {
            Err(AuthError::Invalid(detail)) => detail,
            other => panic!("expected AuthError::Invalid, got {other:?}"),
        }
    }

    /// A token with this header, the usual claims and a signature that does not matter: these
    /// tokens are refused before any signature is checked.
    fn with_header(header: &str) -> String {
        let claims = r#"{"sub":"mallory","scope":"catalog:write","exp":4102444800}"#;
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    fn fixture_jwks() -> JwksSource {
        JwksSource::File(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks.json").into())
    }

    #[tokio::test]
    async fn an_issued_token_authenticates_with_its_scopes() {
        let auth = auth();
        let token = auth.issue(
            "alice",
            "catalog:write catalog:audit",
            Duration::from_secs(60),
        );
        let actor = auth.authenticate(&bearer(&token)).await.unwrap();
        assert_eq!(actor.subject, "alice");
        assert!(actor.has_scope(SCOPE_WRITE) && actor.has_scope(SCOPE_AUDIT));
        assert!(!actor.has_scope("catalog:admin"));
    }

    #[tokio::test]
    async fn a_token_signed_with_another_secret_is_invalid() {
        let other = Authenticator::new(&Secret::new("other"), Duration::ZERO);
        let token = other.issue("mallory", SCOPE_WRITE, Duration::from_secs(60));
        assert!(matches!(
            auth().authenticate(&bearer(&token)).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn an_unsigned_token_is_invalid() {
        // {"alg":"none","typ":"JWT"} . {"sub":"mallory","scope":"catalog:write","exp":4102444800} .
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJtYWxsb3J5Iiwic2NvcGUiOiJjYXRhbG9nOndyaXRlIiwiZXhwIjo0MTAyNDQ0ODAwfQ.";
        let detail = detail(auth().authenticate(&bearer(token)).await);
        assert!(detail.contains(r#"alg "none" is not accepted"#), "{detail}");
    }

    #[tokio::test]
    async fn a_configured_audience_and_issuer_are_required() {
        let strict = Authenticator::new(&Secret::new("test-secret"), Duration::ZERO)
            .expecting(Some("catalog"), Some("https://issuer.test"));
        let own = strict.issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert!(strict.authenticate(&bearer(&own)).await.is_ok());
        // Same key, but minted without (or for another) audience and issuer.
        let plain = auth().issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert!(matches!(
            strict.authenticate(&bearer(&plain)).await,
            Err(AuthError::Invalid(_))
        ));
        let elsewhere = Authenticator::new(&Secret::new("test-secret"), Duration::ZERO)
            .expecting(Some("billing"), Some("https://issuer.test"))
            .issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert!(matches!(
            strict.authenticate(&bearer(&elsewhere)).await,
            Err(AuthError::Invalid(_))
        ));
        // Without configuration an audience in the token is not held against it.
        assert!(auth().authenticate(&bearer(&own)).await.is_ok());
    }

    #[tokio::test]
    async fn missing_and_malformed_headers_are_told_apart() {
        assert!(matches!(
            auth().authenticate(&HeaderMap::new()).await,
            Err(AuthError::Missing)
        ));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(matches!(
            auth().authenticate(&basic).await,
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            auth().authenticate(&bearer("not.a.jwt")).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn an_algorithm_without_its_keys_configured_is_refused_by_name() {
        let rs256 = with_header(r#"{"alg":"RS256","kid":"rsa-1"}"#);
        assert_eq!(
            detail(auth().authenticate_bearer(&rs256).await),
            "RS256 tokens are not accepted: no JWKS_URL or JWKS_FILE is configured"
        );
        let jwks = Jwks::load(fixture_jwks()).await.unwrap();
        let jwks_only = Authenticator::from_jwks(jwks, Duration::ZERO);
        assert!(!jwks_only.can_issue());
        let hs256 = auth().issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert_eq!(
            detail(jwks_only.authenticate_bearer(&hs256).await),
            "HS256 tokens are not accepted: no JWT_SECRET is configured"
        );
        let no_kid = with_header(r#"{"alg":"ES256"}"#);
        assert_eq!(
            detail(jwks_only.authenticate_bearer(&no_kid).await),
            "ES256 tokens must name their key in `kid`"
        );
        for alg in ["none", "HS512", "PS256", "RS384"] {
            let token = with_header(&format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#));
            let detail = detail(jwks_only.authenticate_bearer(&token).await);
            assert!(detail.contains("is not accepted"), "{alg}: {detail}");
        }
    }

    #[tokio::test]
    async fn settings_need_a_secret_or_a_readable_jwks() {
        let settings = |secret: Option<&str>, jwks: Option<JwksSource>| AuthSettings {
            secret: secret.map(Secret::new),
            jwks,
            leeway: Duration::ZERO,
            audience: None,
            issuer: None,
        };
        let Err(err) = Authenticator::from_settings(&settings(None, None)).await else {
            panic!("neither a secret nor a JWKS must be an error");
        };
        assert_eq!(err.var, "JWT_SECRET");
        let missing = JwksSource::File("/nonexistent/jwks.json".into());
        let Err(err) = Authenticator::from_settings(&settings(Some("s"), Some(missing))).await
        else {
            panic!("an unreadable JWKS_FILE must be an error");
        };
        assert_eq!(err.var, "JWKS_FILE");
        let both = Authenticator::from_settings(&settings(Some("s"), Some(fixture_jwks())))
            .await
            .unwrap();
        let token = both.issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert!(both.authenticate_bearer(&token).await.is_ok());
    }

    #[test]
    #[should_panic(expected = "issuing a token needs JWT_SECRET")]
    fn issuing_without_a_secret_panics_clearly() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let jwks = runtime.block_on(Jwks::load(fixture_jwks())).unwrap();
        Authenticator::from_jwks(jwks, Duration::ZERO).issue("a", "", Duration::ZERO);
    }

    #[test]
    fn echoed_values_are_quoted_and_cut_short() {
        assert_eq!(shown("k1"), r#""k1""#);
        let long = "é".repeat(100);
        assert_eq!(shown(&long), format!("{:?}…", "é".repeat(64)));
    }
}
