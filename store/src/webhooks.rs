//! Webhook subscriptions: who receives the change feed by HTTP, and how far each has been
//! delivered. Written by command-api (`PUT/GET/DELETE /subscriptions/{name}`), read and
//! advanced by the dispatcher (`projector webhooks`). Also the two rules both sides apply: the
//! signature a receiver checks, and which addresses a webhook may never reach.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use sqlx::PgPool;

/// A subscription as it is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// Where batches are POSTed: `http` or `https`.
    pub url: url::Url,
    /// The HMAC key of `Catalog-Signature`.
    pub secret: String,
    /// Event types delivered; empty for all.
    pub types: Vec<String>,
    /// Deliver the events after this position (replay or resume); unset on a new
    /// subscription, start after the feed's current end; unset on an existing one, carry on.
    pub from_position: Option<i64>,
}

/// A subscription as it is shown: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// Its name, unique.
    pub name: String,
    /// Where batches are POSTed.
    pub url: String,
    /// Event types delivered; empty for all.
    pub types: Vec<String>,
    /// `active` (delivering), `retrying` (the last attempt failed; backing off) or `paused`
    /// (failing for over 24 hours; a `PUT` resumes it).
    #[cfg_attr(feature = "openapi", schema(example = "active"))]
    pub status: String,
    /// Every event up to this position has been acknowledged by the receiver.
    pub delivered_position: i64,
    /// Failed attempts since the last acknowledged batch.
    pub failures: i32,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// Since when it has been failing (the first failed attempt after the last acknowledged
    /// batch); `null` while deliveries succeed. It is paused once this is 24 hours old.
    pub failing_since: Option<DateTime<Utc>>,
    /// When the dispatcher tries next.
    pub next_attempt_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed through the API.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "name, url, types, status, delivered_position, failures, last_error, \
     failing_since, next_attempt_at, created_at, updated_at";

/// The channel notified after a subscription is saved, which the dispatcher listens on.
pub const CHANGED: &str = "catalog_subscriptions";

/// Creates subscription `name` or changes it; `true` when it was created. Any change makes it
/// `active` again and due at once (a paused subscription resumes); `from_position` moves its
/// checkpoint (and drops the batch in flight), and without it a new subscription starts after
/// the last event stored now.
pub async fn put(
    pool: &PgPool,
    name: &str,
    spec: &SubscriptionSpec,
) -> sqlx::Result<(Subscription, bool)> {
    #[derive(sqlx::FromRow)]
    struct Saved {
        #[sqlx(flatten)]
        subscription: Subscription,
        created: bool,
    }
    let saved: Saved = sqlx::query_as(&format!(
        "WITH head AS (SELECT coalesce(max(position), 0) AS position FROM events) \
         INSERT INTO webhook_subscriptions AS s (name, url, secret, types, delivered_position) \
         VALUES ($1, $2, $3, $4, coalesce($5, (SELECT position FROM head))) \
         ON CONFLICT (name) DO UPDATE SET \
             url = EXCLUDED.url, secret = EXCLUDED.secret, types = EXCLUDED.types, \
             delivered_position = coalesce($5, s.delivered_position), \
             pending_delivery = CASE WHEN $5 IS NULL THEN s.pending_delivery END, \
             pending_through = CASE WHEN $5 IS NULL THEN s.pending_through END, \
             status = 'active', failures = 0, failing_since = NULL, last_error = NULL, \
             next_attempt_at = now(), revision = s.revision + 1, updated_at = now() \
         RETURNING {COLUMNS}, (xmax = 0) AS created"
    ))
    .bind(name)
    .bind(spec.url.as_str())
    .bind(&spec.secret)
    .bind(&spec.types)
    .bind(spec.from_position)
    .fetch_one(pool)
    .await?;
    // After the commit, so the dispatcher reads the new row: a resumed or replayed
    // subscription is delivered now rather than at the dispatcher's next poll. Lost, it costs
    // only that poll.
    if let Err(err) = sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANGED)
        .execute(pool)
        .await
    {
        tracing::debug!(error = %err, "could not wake the webhook dispatcher; it will poll");
    }
    Ok((saved.subscription, saved.created))
}

/// Subscription `name`, if it exists.
pub async fn get(pool: &PgPool, name: &str) -> sqlx::Result<Option<Subscription>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_subscriptions WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(pool)
    .await
}

/// Every subscription, by name.
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Subscription>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_subscriptions ORDER BY name"
    ))
    .fetch_all(pool)
    .await
}

/// Removes subscription `name`; `false` when there was none.
pub async fn delete(pool: &PgPool, name: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// `Catalog-Signature`'s value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Whether a webhook may never reach `ip` (without `WEBHOOK_ALLOW_PRIVATE`): loopback,
/// private, link-local (cloud metadata services live there), shared (carrier-grade NAT),
/// unspecified, multicast and broadcast addresses, and IPv6's unique-local and the IPv4 ones
/// written as IPv6.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                // 100.64.0.0/10, shared address space; 0.0.0.0/8, "this network".
                || (a == 100 && (b & 0xc0) == 64)
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local (fd00:ec2::254 is a metadata service), fe80::/10 link local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not `http` or `https`, or without a host.
    #[error("must be an http or https URL with a host")]
    Scheme,
    /// The host did not resolve.
    #[error("its host does not resolve: {0}")]
    Unresolved(String),
    /// The host resolves to an address a webhook may not reach.
    #[error(
        "its host resolves to {0}, a loopback, private, link-local or otherwise internal \
         address (allowed only with WEBHOOK_ALLOW_PRIVATE=true)"
    )]
    Internal(IpAddr),
}

/// Checks a webhook URL: its scheme, and every address its host resolves to now (the
/// dispatcher checks again at every connection, so a name that later resolves inward is
/// refused then too).
pub async fn check_url(url: &url::Url, allow_private: bool) -> Result<(), UrlRefused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme);
    }
    let host = url.host_str().ok_or(UrlRefused::Scheme)?;
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| UrlRefused::Unresolved(err.to_string()))?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() {
        return Err(UrlRefused::Unresolved("no address".into()));
    }
    if !allow_private {
        if let Some(ip) = addresses.into_iter().find(|ip| forbidden(*ip)) {
            return Err(UrlRefused::Internal(ip));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // An independent computation of the contract's scheme:
        // printf '1700000000.[]' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, b"[]"),
            "t=1700000000,v1=74f76d8933679a54d6be8c7560a5233b124658241ca5a3b0f09af80d3ea60d78"
        );
    }

    #[test]
    fn internal_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_to_loopback_are_refused_unless_allowed() {
        let url = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
        assert!(matches!(
            check_url(&url, false).await,
            Err(UrlRefused::Internal(_))
        ));
        assert_eq!(check_url(&url, true).await, Ok(()));
        let url = url::Url::parse("http://localhost/hook").unwrap();
        assert!(matches!(
            check_url(&url, false).await,
            Err(UrlRefused::Internal(_))
        ));
        let url = url::Url::parse("ftp://example.com/hook").unwrap();
        assert_eq!(check_url(&url, true).await, Err(UrlRefused::Scheme));
    }
}
