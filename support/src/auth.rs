//! Bearer authentication with HS256 JWTs. The algorithm is pinned: a token signed any other
//! way, or not signed (`alg: none`), is refused before its claims are read.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::problem::Problem;
use crate::secret::Secret;

/// The scope command-api requires of every command: any change to the catalog.
pub const SCOPE_WRITE: &str = "catalog:write";
/// The scope query-api requires to read a product's history and past versions (the audit
/// routes); the other reads are public.
pub const SCOPE_AUDIT: &str = "catalog:audit";
/// The scope command-api requires to define product types.
pub const SCOPE_ADMIN: &str = "catalog:admin";

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
        };
        let challenge =
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"));
        Problem::new(status, kind, title, detail)
            .with_header(header::WWW_AUTHENTICATE, challenge)
            .into_response()
    }
}

/// Checks tokens, and issues them for development.
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    audience: Option<String>,
    issuer: Option<String>,
}

impl Authenticator {
    /// `leeway` forgives clocks that disagree by that much on `exp`.
    pub fn new(secret: &Secret, leeway: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway.as_secs();
        validation.set_required_spec_claims(&["exp", "sub"]);
        // An `aud` claim is only checked when an audience is configured (see `expecting`).
        validation.validate_aud = false;
        Self {
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            audience: None,
            issuer: None,
        }
    }

    /// Also requires the `aud` and/or `iss` claims, when configured, to name these values:
    /// tokens minted for another service or by another issuer with the same key are refused.
    pub fn expecting(mut self, audience: Option<&str>, issuer: Option<&str>) -> Self {
        let mut required = vec!["exp", "sub"];
        if let Some(audience) = audience {
            self.validation.set_audience(&[audience]);
            self.validation.validate_aud = true;
            required.push("aud");
        }
        if let Some(issuer) = issuer {
            self.validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        self.validation.set_required_spec_claims(&required);
        self.audience = audience.map(str::to_string);
        self.issuer = issuer.map(str::to_string);
        self
    }

    /// The [`Actor`] of a request from its `Authorization: Bearer <token>` header. Only checks
    /// who is calling; the scope a route needs is [`require_scope`]'s to check.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Actor, AuthError> {
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
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(err.to_string()),
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

    /// Signs a token for `subject` with the given space-separated scopes.
    pub fn issue(&self, subject: &str, scope: &str, ttl: Duration) -> String {
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
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a byte key cannot fail")
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
    let actor = match required.auth.authenticate(request.headers()) {
        Ok(actor) => actor,
        Err(err) => return err.into_response(),
    };
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

    #[test]
    fn an_issued_token_authenticates_with_its_scopes() {
        let auth = auth();
        let token = auth.issue(
            "alice",
            "catalog:write catalog:audit",
            Duration::from_secs(60),
        );
        let actor = auth.authenticate(&bearer(&token)).unwrap();
        assert_eq!(actor.subject, "alice");
        assert!(actor.has_scope(SCOPE_WRITE) && actor.has_scope(SCOPE_AUDIT));
        assert!(!actor.has_scope("catalog:admin"));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let other = Authenticator::new(&Secret::new("other"), Duration::ZERO);
        let token = other.issue("mallory", SCOPE_WRITE, Duration::from_secs(60));
        assert!(matches!(
            auth().authenticate(&bearer(&token)),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn an_unsigned_token_is_invalid() {
        // {"alg":"none","typ":"JWT"} . {"sub":"mallory","scope":"catalog:write","exp":4102444800} .
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJtYWxsb3J5Iiwic2NvcGUiOiJjYXRhbG9nOndyaXRlIiwiZXhwIjo0MTAyNDQ0ODAwfQ.";
        assert!(matches!(
            auth().authenticate(&bearer(token)),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn a_configured_audience_and_issuer_are_required() {
        let strict = Authenticator::new(&Secret::new("test-secret"), Duration::ZERO)
            .expecting(Some("catalog"), Some("https://issuer.test"));
        let own = strict.issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert!(strict.authenticate(&bearer(&own)).is_ok());
        // Same key, but minted without (or for another) audience and issuer.
        let plain = auth().issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert!(matches!(
            strict.authenticate(&bearer(&plain)),
            Err(AuthError::Invalid(_))
        ));
        let elsewhere = Authenticator::new(&Secret::new("test-secret"), Duration::ZERO)
            .expecting(Some("billing"), Some("https://issuer.test"))
            .issue("alice", SCOPE_WRITE, Duration::from_secs(60));
        assert!(matches!(
            strict.authenticate(&bearer(&elsewhere)),
            Err(AuthError::Invalid(_))
        ));
        // Without configuration an audience in the token is not held against it.
        assert!(auth().authenticate(&bearer(&own)).is_ok());
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        assert!(matches!(
            auth().authenticate(&HeaderMap::new()),
            Err(AuthError::Missing)
        ));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(matches!(
            auth().authenticate(&basic),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            auth().authenticate(&bearer("not.a.jwt")),
            Err(AuthError::Invalid(_))
        ));
    }
}
