//! Extractors that turn a request into typed values, with every rejection in problem+json.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use catalog_support::auth::Actor;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Syntax errors and wrong types are 400, a body over the limit is 413, a body
/// sent as anything but JSON is 415. Rules on the values are checked later, as 422.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(usize::MAX, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        let mut value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        whole_numbers_as_integers(&mut value);
        if !value.is_object() {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        }
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("{}: {}", e.path(), e.inner())))
    }
}

/// Largest magnitude up to which every integer has an exact `f64`: past it, `2.0`-style
/// spellings no longer name one integer.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0; // 2^53

/// JSON has one number type: `1999.0` and `1.999e3` are the integer 1999 as much as `1999` is
/// (JSON Schema's `integer` admits them too). serde reads them as floats, which an `i64` field
/// would refuse, so whole numbers within the exactly representable range become integers.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
                if float.fract() == 0.0 && float.abs() <= EXACT_INTEGERS {
                    *number = serde_json::Number::from(float as i64);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(whole_numbers_as_integers);
        }
        _ => {}
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The JSON body limit in force, left in the request's extensions so a 413 can say it.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Identifiers that tie an event to the request that caused it. The request id comes from
/// `x-request-id` (set by the server when the client sent none); correlation and causation ids
/// may be sent by a client that is itself acting on a message, and default to the request id.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Who sent the command: the subject of the request's token.
    pub actor: String,
    /// `x-request-id`: this request.
    pub request_id: String,
    /// `x-correlation-id`: the whole exchange this request is part of.
    pub correlation_id: String,
    /// `x-causation-id`: the message or request that caused this one.
    pub causation_id: String,
    /// The request's `Idempotency-Key`: stored with its event, so that whether the command ran
    /// can be read from the event store (see `idempotency`).
    pub idempotency_key: Option<String>,
}

impl RequestContext {
    /// The metadata stored with the command's events, under these field names (the key only
    /// when the request had one).
    pub fn metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            ("actor".to_string(), self.actor.clone()),
            ("request_id".to_string(), self.request_id.clone()),
            ("correlation_id".to_string(), self.correlation_id.clone()),
            ("causation_id".to_string(), self.causation_id.clone()),
        ]);
        if let Some(key) = &self.idempotency_key {
            metadata.insert(catalog_store::log::IDEMPOTENCY_KEY.to_string(), key.clone());
        }
        metadata
    }
}

/// A caller-supplied id (support::http drops unusable ones before this runs; checked again so
/// that this extractor stands on its own).
fn header_id(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(catalog_support::http::usable_id)
        .map(str::to_string)
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let actor = parts
            .extensions
            .get::<Actor>()
            .map(|a| a.subject.clone())
            .ok_or_else(|| ApiError::from(anyhow::anyhow!("route is missing authentication")))?;
        let request_id = header_id(&parts.headers, "x-request-id")
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let correlation_id =
            header_id(&parts.headers, "x-correlation-id").unwrap_or_else(|| request_id.clone());
        let causation_id =
            header_id(&parts.headers, "x-causation-id").unwrap_or_else(|| request_id.clone());
        let idempotency_key = parts
            .headers
            .get(crate::idempotency::HEADER)
            .and_then(|key| crate::idempotency::valid_key(key).ok());
        Ok(Self {
            actor,
            request_id,
            correlation_id,
            causation_id,
            idempotency_key,
        })
    }
}

/// The version named by `If-Match: "<version>"`. `*` (any current version) is the same as no
/// precondition for a product that exists.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub u64);

impl<S: Send + Sync> OptionalFromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(None);
        };
        let raw = value
            .to_str()
            .map_err(|_| ApiError::BadRequest("If-Match is not ASCII".into()))?
            .trim();
        if raw == "*" {
            return Ok(None);
        }
        parse_version_tag(raw)
            .map(|v| Some(IfMatch(v)))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "If-Match must be an entity tag such as \"3\", not {raw:?}"
                ))
            })
    }
}

/// Accepts `"3"`, `W/"3"` and a bare `3` from lenient clients.
fn parse_version_tag(raw: &str) -> Option<u64> {
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tags_parse_in_their_usual_spellings() {
        assert_eq!(parse_version_tag("\"3\""), Some(3));
        assert_eq!(parse_version_tag("W/\"12\""), Some(12));
        assert_eq!(parse_version_tag("7"), Some(7));
        assert_eq!(parse_version_tag("\"x\""), None);
        assert_eq!(parse_version_tag("\"-1\""), None);
    }

    #[test]
    fn whole_numbers_spelled_as_floats_are_integers() {
        let mut value = serde_json::json!({
            "a": 1999.0, "b": 2e3, "c": [-3.0, 0.5], "d": {"e": 9007199254740992.0},
            "f": 1e300, "g": 7
        });
        whole_numbers_as_integers(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "a": 1999, "b": 2000, "c": [-3, 0.5], "d": {"e": 9007199254740992_i64},
                "f": 1e300, "g": 7
            })
        );
        assert!(value["a"].is_i64() && value["f"].is_f64());
    }

    #[test]
    fn json_content_types_include_parameters_and_suffixes() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, expected) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("multipart/form-data; boundary=x", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), expected, "{value}");
        }
    }
}
