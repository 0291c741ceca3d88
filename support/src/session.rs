//! Signed-in sessions (docs/API.md "Identity"), in Redis so that every replica of both APIs
//! knows them: a random 256-bit id in an `HttpOnly`, `SameSite=Strict` cookie, stored only as
//! its SHA-256, expiring after 8 hours unused and 7 days at most; a CSRF token that every
//! change made with the cookie must repeat in `X-CSRF-Token`; and the sign-in lock-out (five
//! failures for one email in 15 minutes), shared by the replicas the same way.
//!
//! Keys, under the namespace: `session:<sha256 of the id>` (the session, JSON, its TTL the idle
//! limit), `sessions-of:<email>` (the hashes of one person's sessions, so that `user remove`
//! ends them all) and `sign-in-failures:<email>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::RedisSettings;
use crate::lazy_redis::{LazyRedis, RedisConnection, RedisTimeouts};
use crate::people::Role;
use crate::problem::Problem;

/// The cookie that carries a session's id.
pub const COOKIE: &str = "catalog_session";
/// The header a cookie-authenticated change repeats the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
/// A session ends this long after sign-in, however much it is used.
pub const ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Failed sign-ins for one email within [`FAILURE_WINDOW`] that lock it out.
pub const FAILURES_MAX: i64 = 5;
/// How long failed sign-ins are counted: from the first of them.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A signed-in person's session, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Who signed in, normalized: the actor of what they change.
    pub email: String,
    /// Their role when they signed in: the session's scopes.
    #[serde(with = "role_name")]
    pub role: Role,
    /// The token every change made with this session must carry in `X-CSRF-Token`. Kept as
    /// it is (unlike the id): it is worthless without the cookie, and the console reads it
    /// back with `GET /session` after a reload.
    pub csrf: String,
    /// Sign-in, Unix seconds: the start of the absolute limit.
    pub created: u64,
}

mod role_name {
    use super::Role;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(role.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Session {
    /// Whether `header` (an `X-CSRF-Token` value) is this session's token, compared in
    /// constant time.
    pub fn csrf_matches(&self, header: Option<&HeaderValue>) -> bool {
        header.is_some_and(|value| bool::from(value.as_bytes().ct_eq(self.csrf.as_bytes())))
    }

    /// When the session ends at the latest, Unix seconds.
    pub fn expires(&self) -> u64 {
        self.created + ABSOLUTE.as_secs()
    }
}

/// Reads a session and extends its idle limit in one step, ending it past its absolute limit.
/// KEYS[1] the session; ARGV: idle seconds, absolute seconds, now.
const TOUCH: &str = r#"
local stored = redis.call('GET', KEYS[1])
if not stored then return false end
local left = cjson.decode(stored).created + tonumber(ARGV[2]) - tonumber(ARGV[3])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('EXPIRE', KEYS[1], math.min(tonumber(ARGV[1]), left))
return stored
"#;

/// Counts a failed sign-in, the window starting at the first. KEYS[1] the counter; ARGV[1]
/// the window in seconds.
const FAILED: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"#;

/// The sessions and sign-in failures, in Redis; clones share one connection.
#[derive(Clone)]
pub struct Sessions {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    redis: LazyRedis,
    namespace: String,
    touch: Script,
    failed: Script,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// 256 random bits, base64url: a session id or a CSRF token.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random generator answers");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What a session id is stored under: its SHA-256, so that a copy of Redis holds no cookie
/// anyone could present.
fn hashed(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    /// Sessions in the Redis `redis` names, under `namespace`. Connects on first use.
    pub fn new(redis: &RedisSettings, namespace: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            inner: std::sync::Arc::new(Inner {
                // Every cookie-authenticated request waits on it.
                redis: LazyRedis::new(
                    redis,
                    RedisTimeouts::answering_within(Duration::from_millis(500)),
                )?,
                namespace: namespace.to_string(),
                touch: Script::new(TOUCH),
                failed: Script::new(FAILED),
            }),
        })
    }

    async fn connection(&self) -> redis::RedisResult<RedisConnection> {
        self.inner.redis.connection().await
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.inner.namespace)
    }

    /// Starts a session for `email` in `role`: its id (the cookie's value) and the session.
    pub async fn start(&self, email: &str, role: Role) -> redis::RedisResult<(String, Session)> {
        let id = random_token();
        let session = Session {
            email: email.to_string(),
            role,
            csrf: random_token(),
            created: now(),
        };
        let hash = hashed(&id);
        let mut connection = self.connection().await?;
        let stored = serde_json::to_string(&session).expect("a session serializes");
        let of_person = self.key("sessions-of", email);
        redis::pipe()
            .atomic()
            .set_ex(self.key("session", &hash), stored, IDLE.as_secs())
            .sadd(&of_person, &hash)
            .expire(&of_person, ABSOLUTE.as_secs() as i64)
            .query_async::<()>(&mut connection)
            .await?;
        Ok((id, session))
    }

    /// The session `id` names, its idle limit extended; `None` when it never was, or has ended.
    pub async fn find(&self, id: &str) -> redis::RedisResult<Option<Session>> {
        let mut connection = self.connection().await?;
        let stored: Option<String> = self
            .inner
            .touch
            .key(self.key("session", &hashed(id)))
            .arg(IDLE.as_secs())
            .arg(ABSOLUTE.as_secs())
            .arg(now())
            .invoke_async(&mut connection)
            .await?;
        Ok(stored.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Ends the session `id` names, if it still runs.
    pub async fn end(&self, id: &str) -> redis::RedisResult<()> {
        let mut connection = self.connection().await?;
        let hash = hashed(id);
        let key = self.key("session", &hash);
        let stored: Option<String> = connection.get(&key).await?;
        let _: () = connection.del(&key).await?;
        if let Some(session) = stored.and_then(|s| serde_json::from_str::<Session>(&s).ok()) {
            let _: () = connection
                .srem(self.key("sessions-of", &session.email), &hash)
                .await?;
        }
        Ok(())
    }

    /// Ends every session of `email` (`user remove`); how many were running.
    pub async fn end_all(&self, email: &str) -> redis::RedisResult<usize> {
        let mut connection = self.connection().await?;
        let of_person = self.key("sessions-of", email);
        let hashes: Vec<String> = connection.smembers(&of_person).await?;
        let keys: Vec<String> = hashes.iter().map(|h| self.key("session", h)).collect();
        let ended: usize = if keys.is_empty() {
            0
        } else {
            connection.del(&keys).await?
        };
        let _: () = connection.del(&of_person).await?;
        Ok(ended)
    }

    /// How long `email` stays locked out of signing in, if it is (five failures within the
    /// window).
    pub async fn locked(&self, email: &str) -> redis::RedisResult<Option<Duration>> {
        let mut connection = self.connection().await?;
        let key = self.key("sign-in-failures", email);
        let (failures, ttl): (Option<i64>, i64) = redis::pipe()
            .get(&key)
            .ttl(&key)
            .query_async(&mut connection)
            .await?;
        Ok((failures.unwrap_or(0) >= FAILURES_MAX).then(|| Duration::from_secs(ttl.max(1) as u64)))
    }

    /// Counts a failed sign-in for `email`.
    pub async fn failed(&self, email: &str) -> redis::RedisResult<()> {
        let mut connection = self.connection().await?;
        let _: i64 = self
            .inner
            .failed
            .key(self.key("sign-in-failures", email))
            .arg(FAILURE_WINDOW.as_secs())
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Forgets `email`'s failed sign-ins, after one that succeeded.
    pub async fn succeeded(&self, email: &str) -> redis::RedisResult<()> {
        let mut connection = self.connection().await?;
        connection.del(self.key("sign-in-failures", email)).await
    }
}

/// The session id a request's `Cookie` headers carry, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The answer to a change made with the session cookie but without the session's CSRF token
/// in `X-CSRF-Token`: 403, nothing done.
pub fn csrf_refused() -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "CSRF token missing or wrong",
        "a change made with the session cookie must repeat the session's CSRF token in \
         X-CSRF-Token (POST or GET /session answers it)",
    )
}

/// The `Set-Cookie` value that hands a browser session `id`: `HttpOnly` (no script reads it),
/// `SameSite=Strict` (no other site's page sends it), for the whole origin, until the session's
/// absolute end; `Secure` when the request came over https.
pub fn set_cookie(id: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        ABSOLUTE.as_secs()
    ))
    .expect("a base64url id makes a valid header")
}

/// The `Set-Cookie` value that makes a browser forget its session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"
    ))
    .expect("a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; catalog_session=abc"),
        );
        assert_eq!(cookie(&headers), Some("abc"));
        headers.clear();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("catalog_session_x=1"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("catalog_session="));
        assert_eq!(cookie(&headers), None);
    }

    #[test]
    fn tokens_are_256_random_bits_and_ids_are_stored_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(hashed(&a).len(), 64);
        assert_ne!(hashed(&a), a);
    }

    #[test]
    fn the_csrf_token_must_match_exactly() {
        let session = Session {
            email: "ada@example.org".into(),
            role: Role::Editor,
            csrf: "token".into(),
            created: 0,
        };
        assert!(session.csrf_matches(Some(&HeaderValue::from_static("token"))));
        assert!(!session.csrf_matches(Some(&HeaderValue::from_static("token2"))));
        assert!(!session.csrf_matches(Some(&HeaderValue::from_static("tokem"))));
        assert!(!session.csrf_matches(None));
        let cookie = set_cookie("abc", true);
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Strict")
                && cookie.ends_with("Secure")
        );
    }
}
