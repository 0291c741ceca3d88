//! Signing in and out (docs/API.md "Identity"): `POST /session` checks an email and password
//! against the people `command-api user add` added and starts a session in Redis, handed to
//! the browser as an `HttpOnly` cookie that both APIs accept; `GET /session` tells the console
//! who is signed in (and the CSRF token its changes repeat); `DELETE /session` ends it.
//!
//! A wrong password and an unknown email get the same answer in the same time: the unknown
//! email's password is checked against a hash nobody's password matches. Five failures for one
//! email within 15 minutes lock that email out (429) on every replica, whoever tries.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use catalog_support::people::{self, Role, PASSWORD_MAX};
use catalog_support::problem::{CommonError, FieldViolation, Problem};
use catalog_support::session::{self, Session, CSRF_HEADER};
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::openapi as doc;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/session", post(sign_in).get(current).delete(sign_out))
}

/// An email and password, as `command-api user add` set them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    /// Compared trimmed and lower-cased.
    #[schema(max_length = 254, format = Email)]
    email: String,
    /// At most 1024 bytes (256 characters always fit).
    #[schema(min_length = 1, max_length = 256, format = Password)]
    password: String,
}

/// A running session: who it is, what they may do, and the token their changes repeat.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionView {
    /// Every change made with the session cookie must carry it in `X-CSRF-Token`.
    csrf_token: String,
    /// Who signed in: the actor recorded on what they change.
    email: String,
    /// `editor`, `auditor` or `admin`.
    role: String,
    /// The scopes the role grants.
    scopes: Vec<String>,
    /// When the session ends at the latest (it ends sooner after 8 hours unused).
    expires_at: chrono::DateTime<Utc>,
}

impl From<Session> for SessionView {
    fn from(session: Session) -> Self {
        Self {
            expires_at: Utc
                .timestamp_opt(session.expires() as i64, 0)
                .single()
                .unwrap_or_else(Utc::now),
            scopes: session.role.scopes().into_iter().collect(),
            role: session.role.as_str().to_string(),
            email: session.email,
            csrf_token: session.csrf,
        }
    }
}

/// The answer to a failed sign-in, whatever failed: the same for an unknown email and a wrong
/// password.
fn wrong() -> Response {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Authentication required",
        "the email or the password is wrong",
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="catalog""#),
    )
    .into_response()
}

/// Redis cannot be reached: sessions cannot be started, read or ended.
fn unavailable(err: &redis::RedisError) -> Response {
    tracing::warn!(error = %err, "the session store (Redis) is unavailable");
    CommonError::Unavailable("the session store").into_response()
}

/// Whether the browser reached this service over https (directly or through a proxy that
/// says so): only then is the cookie marked `Secure`, or a plain-http development setup could
/// never sign in.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Signs in: a session cookie and the session's CSRF token.
#[utoipa::path(
    post,
    path = "/session",
    tag = "session",
    operation_id = "signIn",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; the cookie `catalog_session` carries the session",
         body = SessionView,
         headers(("Set-Cookie" = String, description = "`catalog_session=…; HttpOnly; SameSite=Strict; Path=/`"))),
        doc::SignInErrors,
    ),
)]
pub(crate) async fn sign_in(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let attempt: SignIn = match serde_json::from_slice(&body) {
        Ok(attempt) => attempt,
        Err(err) => {
            return CommonError::invalid("body", format!("must be {{email, password}}: {err}"))
                .into_response()
        }
    };
    let mut errors = Vec::new();
    let email = people::normalize_email(&attempt.email).unwrap_or_else(|message| {
        errors.push(FieldViolation {
            field: "email".into(),
            message,
        });
        String::new()
    });
    if attempt.password.is_empty() || attempt.password.len() > PASSWORD_MAX {
        errors.push(FieldViolation {
            field: "password".into(),
            message: format!("must be 1 to {PASSWORD_MAX} bytes"),
        });
    }
    if !errors.is_empty() {
        return CommonError::Validation(errors).into_response();
    }
    match app.sessions.locked(&email).await {
        Ok(Some(wait)) => {
            return Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-sign-ins",
                "Too many failed sign-ins",
                "five sign-ins for this email failed within 15 minutes; wait before trying again",
            )
            .retry_after(u32::try_from(wait.as_secs()).unwrap_or(u32::MAX))
            .into_response()
        }
        Ok(None) => {}
        Err(err) => return unavailable(&err),
    }
    let known = match people::credentials(&app.pool, &email).await {
        Ok(known) => known,
        Err(err) => return CommonError::database(err).into_response(),
    };
    let role = known.as_ref().map(|(role, _)| *role);
    let matched = people::verify_password(known.map(|(_, hash)| hash), &attempt.password).await;
    let role: Role = match (matched, role) {
        (true, Some(role)) => role,
        _ => {
            if let Err(err) = app.sessions.failed(&email).await {
                return unavailable(&err);
            }
            tracing::info!(email, "sign-in failed");
            return wrong();
        }
    };
    if let Err(err) = app.sessions.succeeded(&email).await {
        return unavailable(&err);
    }
    let (id, session) = match app.sessions.start(&email, role).await {
        Ok(started) => started,
        Err(err) => return unavailable(&err),
    };
    tracing::info!(email, role = role.as_str(), "signed in");
    let mut response = Json(SessionView::from(session)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&id, over_https(&headers)),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The session the cookie names, or 401.
async fn session_of(app: &AppState, headers: &HeaderMap) -> Result<Option<Session>, Response> {
    let Some(id) = session::cookie(headers) else {
        return Ok(None);
    };
    app.sessions.find(id).await.map_err(|err| unavailable(&err))
}

/// Who is signed in with this browser's cookie.
#[utoipa::path(
    get,
    path = "/session",
    tag = "session",
    operation_id = "currentSession",
    responses(
        (status = 200, description = "The running session", body = SessionView),
        doc::SessionErrors,
    ),
)]
pub(crate) async fn current(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match session_of(&app, &headers).await {
        Ok(Some(session)) => {
            let mut response = Json(SessionView::from(session)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(None) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            "no session: sign in with POST /session",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="catalog""#),
        )
        .into_response(),
        Err(response) => response,
    }
}

/// Signs out: ends the session at once on every replica and clears the cookie. With a running
/// session, `X-CSRF-Token` must carry its token (403 without), so no other site's page can
/// sign a person out.
#[utoipa::path(
    delete,
    path = "/session",
    tag = "session",
    operation_id = "signOut",
    params(("X-CSRF-Token" = Option<String>, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Signed out (or there was no session)"),
        doc::SignOutErrors,
    ),
)]
pub(crate) async fn sign_out(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let session = match session_of(&app, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    if let Some(session) = session {
        if !session.csrf_matches(headers.get(CSRF_HEADER)) {
            return session::csrf_refused().into_response();
        }
        let id = session::cookie(&headers).unwrap_or_default();
        if let Err(err) = app.sessions.end(id).await {
            return unavailable(&err);
        }
        tracing::info!(email = session.email, "signed out");
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(over_https(&headers)),
    );
    response
}
