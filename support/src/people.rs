//! The people who sign in (docs/API.md "Identity"): their email, their role and the argon2id
//! hash of their password, in PostgreSQL (`people`). `command-api user add|remove|list` keeps
//! them; query-api's `POST /session` checks a password against them.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::scopes::{SCOPE_ADMIN, SCOPE_AUDIT, SCOPE_WRITE};

/// The shortest password `user add` accepts, in characters (OWASP's advice for a password
/// that is the only factor is at least 8; a catalog's editors sign in rarely and can keep a
/// longer one in a password manager).
pub const PASSWORD_MIN: usize = 12;
/// The longest password, in bytes: hashing is deliberately slow, and an unbounded input would
/// let anyone make the server hash megabytes.
pub const PASSWORD_MAX: usize = 1024;
/// The longest email (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;

/// What a person may do: each role grants scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Changes the catalog: `catalog:write`.
    Editor,
    /// Reads histories, past versions and the change feed: `catalog:audit`.
    Auditor,
    /// Everything: `catalog:write`, `catalog:audit` and `catalog:admin`.
    Admin,
}

impl Role {
    /// Its name, as stored and as `--role` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Editor => "editor",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
        }
    }

    /// The scopes it grants, as a token's `scope` claim would.
    pub fn scopes(self) -> BTreeSet<String> {
        let scopes: &[&str] = match self {
            Self::Editor => &[SCOPE_WRITE],
            Self::Auditor => &[SCOPE_AUDIT],
            Self::Admin => &[SCOPE_WRITE, SCOPE_AUDIT, SCOPE_ADMIN],
        };
        scopes.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "editor" => Ok(Self::Editor),
            "auditor" => Ok(Self::Auditor),
            "admin" => Ok(Self::Admin),
            other => Err(format!("{other:?} is not a role: editor, auditor or admin")),
        }
    }
}

/// `raw` as people are known by: trimmed and lower-cased, one `@` between two non-empty parts,
/// no white space, at most [`EMAIL_MAX`] characters. Sign-in normalizes the same way, so
/// `Ada@Example.org ` signs in as `ada@example.org`.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let shaped = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    });
    if !shaped || email.chars().any(char::is_whitespace) || email.chars().count() > EMAIL_MAX {
        return Err(format!(
            "must be an email address (name@domain, at most {EMAIL_MAX} characters)"
        ));
    }
    Ok(email)
}

/// The password hasher: argon2id with OWASP's first recommended parameters (19 MiB, two
/// passes, one lane), stated here rather than left to the crate's defaults.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP's argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `password` is one `user add` accepts; why not, if not.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < PASSWORD_MIN || password.len() > PASSWORD_MAX {
        return Err(format!(
            "must be at least {PASSWORD_MIN} characters and at most {PASSWORD_MAX} bytes"
        ));
    }
    Ok(())
}

/// The argon2id hash of `password` with a fresh random salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random generator answers");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters cannot fail")
        .to_string()
}

/// A hash of a password nobody knows, verified in place of a person's when the email names
/// nobody: an unknown email then costs the same time as a wrong password, and tells nothing.
static NOBODY: LazyLock<String> = LazyLock::new(|| {
    let mut unknowable = [0u8; 32];
    getrandom::fill(&mut unknowable).expect("the operating system's random generator answers");
    hash_password(&hex::encode(unknowable))
});

/// Whether `password` is the one `hash` was made from; `None` (nobody by that email) verifies
/// against a hash no password matches, taking the same time, and is false. Runs the hash on a
/// blocking thread: it takes tens of milliseconds of CPU by design.
pub async fn verify_password(hash: Option<String>, password: &str) -> bool {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| NOBODY.clone());
    let password = password.to_string();
    let matched = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    known && matched
}

/// A person, as `user list` shows them (never the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// How they sign in, normalized.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// When they were added.
    pub created_at: DateTime<Utc>,
}

/// Adds `email` with `role` and `password` (both checked by the caller), or, with `replace`,
/// gives an existing person this role and password. False when the email is taken and
/// `replace` is not set.
pub async fn add(
    pool: &PgPool,
    email: &str,
    role: Role,
    password: &str,
    replace: bool,
) -> sqlx::Result<bool> {
    let hash = hash_password(password);
    let written = if replace {
        sqlx::query(
            "INSERT INTO people (email, role, password_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO UPDATE SET role = EXCLUDED.role, \
               password_hash = EXCLUDED.password_hash, changed_at = now()",
        )
    } else {
        sqlx::query(
            "INSERT INTO people (email, role, password_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (email) DO NOTHING",
        )
    }
    .bind(email)
    .bind(role.as_str())
    .bind(hash)
    .execute(pool)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Removes `email`; false when nobody had it.
pub async fn remove(pool: &PgPool, email: &str) -> sqlx::Result<bool> {
    let removed = sqlx::query("DELETE FROM people WHERE email = $1")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(removed.rows_affected() == 1)
}

/// Everyone, by email.
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Person>> {
    let rows: Vec<(String, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT email, role, created_at FROM people ORDER BY email")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(email, role, created_at)| {
            Some(Person {
                email,
                role: role.parse().ok()?,
                created_at,
            })
        })
        .collect())
}

/// The role and password hash of `email`, if someone has it.
pub async fn credentials(pool: &PgPool, email: &str) -> sqlx::Result<Option<(Role, String)>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT role, password_hash FROM people WHERE email = $1")
            .bind(email)
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(role, hash)| Some((role.parse().ok()?, hash))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email(" Ada@Example.ORG ").unwrap(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "a b@example.org",
            "a@b@c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_grant_their_scopes() {
        assert_eq!(
            Role::Editor.scopes(),
            BTreeSet::from([SCOPE_WRITE.to_string()])
        );
        assert_eq!(Role::Admin.scopes().len(), 3);
        assert_eq!("auditor".parse::<Role>(), Ok(Role::Auditor));
        assert!("root".parse::<Role>().is_err());
    }

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(Some(hash.clone()), "correct horse battery").await);
        assert!(!verify_password(Some(hash), "correct horse battery!").await);
        // Nobody's hash matches nothing, not even an empty password.
        assert!(!verify_password(None, "").await);
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
    }
}
