//! Settings come from environment variables, read once at start-up. A bad value stops the
//! process with one line naming the variable and what is wrong with it.

use std::fmt::Display;
use std::str::FromStr;

use crate::jwks::JwksSource;
use crate::secret::Secret;

/// How tokens are checked, as both APIs read it from their environment
/// ([`crate::config::Env::auth_settings`]).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `JWT_SECRET`: the HS256 key. Optional when a JWKS is configured.
    pub secret: Option<Secret>,
    /// `JWKS_URL` or `JWKS_FILE`: the outside issuer's public keys, when set.
    pub jwks: Option<JwksSource>,
    /// `JWT_LEEWAY_SECS`: clock skew forgiven when checking `exp`.
    pub leeway: std::time::Duration,
    /// `JWT_AUDIENCE`: when set, tokens must carry this `aud`.
    pub audience: Option<String>,
    /// `JWT_ISSUER`: when set, tokens must carry this `iss`.
    pub issuer: Option<String>,
}

/// Where the services reach Redis, as every process reads it
/// ([`crate::config::Env::redis_settings`]); [`crate::lazy_redis::LazyRedis`] opens it.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `REDIS_URL`: the server. With Sentinels, only its credentials and database apply, to
    /// the master they name.
    pub url: Secret,
    /// `REDIS_SENTINELS`: `host:port` of every Sentinel, when the master is found through them;
    /// empty when Redis is reached at `REDIS_URL` directly.
    pub sentinels: Vec<String>,
    /// `REDIS_MASTER_NAME` (default `catalog`): the name the Sentinels know the master by.
    pub master_name: String,
    /// `REDIS_SENTINEL_PASSWORD`: what the Sentinels require (their `requirepass`), if they
    /// require one. The master's own password is `REDIS_URL`'s.
    pub sentinel_password: Option<Secret>,
}

impl RedisSettings {
    /// Redis at `url`, directly, without Sentinel.
    pub fn direct(url: impl Into<String>) -> Self {
        Self {
            url: Secret::new(url),
            sentinels: Vec::new(),
            master_name: DEFAULT_REDIS_MASTER_NAME.to_string(),
            sentinel_password: None,
        }
    }
}

/// The Sentinel service name when `REDIS_MASTER_NAME` is not set.
pub const DEFAULT_REDIS_MASTER_NAME: &str = "catalog";

/// The message of the configuration error when neither kind of key is configured.
pub const SECRET_OR_JWKS: &str = "is required unless JWKS_URL or JWKS_FILE is set";

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: String,
    /// What is wrong with its value, e.g. `is required but not set`.
    pub message: String,
}

impl ConfigError {
    /// An error about `var`, displayed as `<var>: <message>`.
    pub fn new(var: &str, message: impl Into<String>) -> Self {
        Self {
            var: var.to_string(),
            message: message.into(),
        }
    }

    /// Reports the error as one line on stderr and gives exit code 2 (a usage error, unlike 1,
    /// a failure at run time), so that supervisors and scripts can tell the two apart.
    pub fn exit(&self, program: &str) -> std::process::ExitCode {
        eprintln!("{program}: configuration error: {self}");
        std::process::ExitCode::from(2)
    }
}

/// Reads settings from a source of variables: the process environment in services, a map in
/// tests, so that tests never race on the shared environment.
pub struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

/// Settings from the process environment: what every service reads at start-up.
pub fn from_process() -> Env<impl Fn(&str) -> Option<String>> {
    Env {
        lookup: |name: &str| std::env::var(name).ok(),
    }
}

/// Settings from fixed `(name, value)` pairs, for tests; a name not listed is unset.
pub fn from_pairs<'a>(
    pairs: &'a [(&'a str, &'a str)],
) -> Env<impl Fn(&str) -> Option<String> + 'a> {
    Env {
        lookup: move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        },
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The raw value; an empty variable counts as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|v| !v.is_empty())
    }

    /// The value, or `default` when unset or empty.
    pub fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_string())
    }

    /// The value parsed as `T`, or `default` when unset or empty. A value that does not parse
    /// is an error quoting it with the parser's reason (`cannot use "eighty": …`): for numbers,
    /// flags and addresses, never for anything secret.
    pub fn parse<T>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| ConfigError::new(var, format!("cannot use {raw:?}: {e}"))),
        }
    }

    /// A value that must be set, kept as a [`Secret`]. Unset or empty is an error (`is required
    /// but not set`) rather than a default, so a service never runs with a guessable key.
    pub fn required_secret(&self, var: &str) -> Result<Secret, ConfigError> {
        self.get(var)
            .map(Secret::new)
            .ok_or_else(|| ConfigError::new(var, "is required but not set"))
    }

    /// How bearer tokens are checked: `JWT_SECRET` (HS256), `JWKS_URL` or `JWKS_FILE` (an
    /// outside issuer's RS256, ES256 and EdDSA keys), `JWT_LEEWAY_SECS` (default 30),
    /// `JWT_AUDIENCE` and `JWT_ISSUER`. At least one of the secret and a JWKS is required, and
    /// the two JWKS variables exclude each other. Only their form is checked here; the JWKS is
    /// read when the service starts ([`crate::auth::Authenticator::from_settings`]).
    pub fn auth_settings(&self) -> Result<AuthSettings, ConfigError> {
        let jwks = match (self.get("JWKS_URL"), self.get("JWKS_FILE")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "JWKS_URL",
                    "cannot be set together with JWKS_FILE: set one of them",
                ))
            }
            (Some(_), None) => {
                let url = self.url("JWKS_URL", "", &["https", "http"])?;
                let url = url::Url::parse(url.expose()).expect("checked as a URL just above");
                Some(JwksSource::Url(url))
            }
            (None, Some(path)) => Some(JwksSource::File(path.into())),
            (None, None) => None,
        };
        let secret = self.get("JWT_SECRET").map(Secret::new);
        if secret.is_none() && jwks.is_none() {
            return Err(ConfigError::new("JWT_SECRET", SECRET_OR_JWKS));
        }
        Ok(AuthSettings {
            secret,
            jwks,
            leeway: std::time::Duration::from_secs(self.parse("JWT_LEEWAY_SECS", 30u64)?),
            audience: self.get("JWT_AUDIENCE"),
            issuer: self.get("JWT_ISSUER"),
        })
    }

    /// Where Redis is: `REDIS_URL` (default `redis://127.0.0.1:6379`, `redis://` only: this
    /// build has no TLS client for Redis), and, to find the master through Sentinel,
    /// `REDIS_SENTINELS` (comma-separated `host:port`) and `REDIS_MASTER_NAME` (default
    /// `catalog`), with `REDIS_SENTINEL_PASSWORD` when the Sentinels require one. A master name
    /// or a Sentinel password without Sentinels is refused: it would be silently ignored.
    pub fn redis_settings(&self) -> Result<RedisSettings, ConfigError> {
        let url = self.url("REDIS_URL", "redis://127.0.0.1:6379", &["redis"])?;
        let sentinels = match self.get("REDIS_SENTINELS") {
            None => Vec::new(),
            Some(raw) => list_entries(&raw)
                .map(sentinel_address)
                .collect::<Result<Vec<_>, _>>()?,
        };
        let master_name = match self.get("REDIS_MASTER_NAME") {
            None => DEFAULT_REDIS_MASTER_NAME.to_string(),
            Some(_) if sentinels.is_empty() => {
                return Err(ConfigError::new(
                    "REDIS_MASTER_NAME",
                    "is only used with REDIS_SENTINELS, which is not set",
                ))
            }
            Some(name) if name.chars().any(char::is_whitespace) => {
                return Err(ConfigError::new(
                    "REDIS_MASTER_NAME",
                    format!("{name:?} holds white space, which Sentinel names cannot"),
                ))
            }
            Some(name) => name,
        };
        let sentinel_password = match self.get("REDIS_SENTINEL_PASSWORD") {
            None => None,
            Some(_) if sentinels.is_empty() => {
                return Err(ConfigError::new(
                    "REDIS_SENTINEL_PASSWORD",
                    "is only used with REDIS_SENTINELS, which is not set",
                ))
            }
            Some(password) => Some(Secret::new(password)),
        };
        Ok(RedisSettings {
            url,
            sentinels,
            master_name,
            sentinel_password,
        })
    }

    /// A URL with one of the given schemes. The value is never echoed back in the error, since
    /// connection URLs carry passwords.
    pub fn url(&self, var: &str, default: &str, schemes: &[&str]) -> Result<Secret, ConfigError> {
        Self::checked_url(var, self.string(var, default), schemes)
    }

    /// A comma-separated list of URLs, each with one of the given schemes: every node of a
    /// RabbitMQ cluster in `AMQP_URL`, one URL being a list of one. The whole value is kept, as
    /// [`Env::url`] keeps one; [`list_entries`] splits it. An error names the entry by its
    /// place, never its value (URLs carry passwords). A comma inside a URL must be written
    /// `%2C`.
    pub fn url_list(
        &self,
        var: &str,
        default: &str,
        schemes: &[&str],
    ) -> Result<Secret, ConfigError> {
        let raw = self.string(var, default);
        let entries: Vec<&str> = list_entries(&raw).collect();
        if entries.is_empty() {
            return Err(ConfigError::new(var, "holds no URL"));
        }
        for (n, entry) in entries.iter().enumerate() {
            Self::checked_url(var, (*entry).to_string(), schemes)
                .map_err(|err| ConfigError::new(var, format!("entry {} {}", n + 1, err.message)))?;
        }
        Ok(Secret::new(raw))
    }

    /// A URL that may be left unset (or empty): `None` then.
    pub fn optional_url(&self, var: &str, schemes: &[&str]) -> Result<Option<Secret>, ConfigError> {
        match self.get(var).filter(|v| !v.trim().is_empty()) {
            Some(raw) => Self::checked_url(var, raw, schemes).map(Some),
            None => Ok(None),
        }
    }

    fn checked_url(var: &str, raw: String, schemes: &[&str]) -> Result<Secret, ConfigError> {
        let parsed = url::Url::parse(&raw)
            .map_err(|e| ConfigError::new(var, format!("is not a valid URL ({e})")))?;
        if !schemes.contains(&parsed.scheme()) {
            return Err(ConfigError::new(
                var,
                format!(
                    "scheme {:?} is not one of {}",
                    parsed.scheme(),
                    schemes.join(", ")
                ),
            ));
        }
        Ok(Secret::new(raw))
    }

    /// `BLOB_STORE`: `file://<dir>` or `s3://<bucket>[/<prefix>]` (the default: `./data/blobs`).
    /// Checked for form here, so that a typo stops the process at once; reached at first use.
    pub fn blob_store(&self) -> Result<String, ConfigError> {
        let url = self.string("BLOB_STORE", "file://./data/blobs");
        match url.split_once("://") {
            Some(("file", _)) => Ok(url),
            Some(("s3", bucket)) if !bucket.is_empty() && !bucket.starts_with('/') => Ok(url),
            Some(("s3", _)) => Err(ConfigError::new("BLOB_STORE", "s3:// needs a bucket name")),
            _ => Err(ConfigError::new(
                "BLOB_STORE",
                "must start with file:// or s3://",
            )),
        }
    }

    /// A comma-separated list of web origins (`https://shop.example`), each checked to be one.
    pub fn origins(&self, var: &str) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|origin| parse_origin(var, origin))
            .collect()
    }

    /// One `scheme://host[:port]` origin, when set.
    pub fn optional_origin(&self, var: &str) -> Result<Option<String>, ConfigError> {
        self.get(var)
            .map(|raw| raw.trim().to_string())
            .filter(|o| !o.is_empty())
            .map(|origin| parse_origin(var, &origin))
            .transpose()
    }

    /// `PROJECTOR_SHARDS`: how many queues the projector's events are spread over by product
    /// (1 to 256, default 1). The relay and every projector of a deployment must agree.
    pub fn projector_shards(&self) -> Result<u16, ConfigError> {
        let shards: u16 = self.parse("PROJECTOR_SHARDS", 1)?;
        if (1..=256).contains(&shards) {
            Ok(shards)
        } else {
            Err(ConfigError::new(
                "PROJECTOR_SHARDS",
                "must be between 1 and 256",
            ))
        }
    }

    /// The prefix for exchanges, queues and Redis keys: short, and safe inside every one of them.
    pub fn namespace(&self) -> Result<String, ConfigError> {
        let ns = self.string("CATALOG_NAMESPACE", "catalog");
        let ok = ns.len() <= 64
            && ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Ok(ns)
        } else {
            Err(ConfigError::new(
                "CATALOG_NAMESPACE",
                "must be at most 64 characters of A-Z, a-z, 0-9, '_', '-', '.'",
            ))
        }
    }
}

/// One `host:port` of `REDIS_SENTINELS` (an IPv6 host in brackets), as given.
fn sentinel_address(address: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| {
        ConfigError::new(
            "REDIS_SENTINELS",
            format!("{address:?} is not host:port ({why})"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() || host.contains('/') || host.contains('@') {
        return Err(bad("no host"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad("the port is not 1 to 65535")),
        Ok(_) => Ok(address.to_string()),
    }
}

fn parse_origin(var: &str, origin: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(origin)
        .map_err(|e| ConfigError::new(var, format!("{origin:?} is not an origin ({e})")))?;
    let bare = url.path() == "/" && url.query().is_none() && !origin.ends_with('/');
    if !matches!(url.scheme(), "http" | "https") || !bare {
        return Err(ConfigError::new(
            var,
            format!("{origin:?} must be scheme://host[:port], nothing more"),
        ));
    }
    Ok(origin.to_string())
}

/// The entries of a comma-separated list, trimmed, empty ones skipped: how [`Env::url_list`]
/// reads a list, and how its users split it again.
pub fn list_entries(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_list_checks_every_entry_and_never_echoes_one() {
        let schemes = &["amqp", "amqps"];
        let one = from_pairs(&[]).url_list("AMQP_URL", "amqp://h:5672/%2f", schemes);
        assert_eq!(one.unwrap().expose(), "amqp://h:5672/%2f");
        let list = "amqp://u:pw@a:5672/%2f, amqp://u:pw@b:5672/%2f,,amqps://u:pw@c/%2f ";
        let pairs = [("AMQP_URL", list)];
        let urls = from_pairs(&pairs)
            .url_list("AMQP_URL", "", schemes)
            .unwrap();
        assert_eq!(
            list_entries(urls.expose()).collect::<Vec<_>>(),
            [
                "amqp://u:pw@a:5672/%2f",
                "amqp://u:pw@b:5672/%2f",
                "amqps://u:pw@c/%2f"
            ]
        );
        let env = from_pairs(&[("AMQP_URL", "amqp://u:pw@a/%2f,http://u:pw@b/")]);
        let err = env.url_list("AMQP_URL", "", schemes).unwrap_err();
        assert_eq!(err.var, "AMQP_URL");
        assert!(err.message.starts_with("entry 2 scheme \"http\""), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
        let env = from_pairs(&[("AMQP_URL", "amqp://u:pw@a/%2f,amqp//u:pw@b")]);
        let err = env.url_list("AMQP_URL", "", schemes).unwrap_err();
        assert!(
            err.message.starts_with("entry 2 is not a valid URL"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");
        let err = from_pairs(&[("AMQP_URL", " , ")])
            .url_list("AMQP_URL", "amqp://h/", schemes)
            .unwrap_err();
        assert_eq!(err.message, "holds no URL");
    }

    #[test]
    fn a_bad_number_names_the_variable_and_the_value() {
        let env = from_pairs(&[("PORT", "eighty")]);
        let err = env.parse::<u16>("PORT", 80).unwrap_err();
        assert_eq!(err.var, "PORT");
        assert!(err.to_string().starts_with("PORT: cannot use \"eighty\""));
        assert_eq!(from_pairs(&[]).parse::<u16>("PORT", 80).unwrap(), 80);
    }

    #[test]
    fn a_url_error_never_echoes_the_value() {
        let env = from_pairs(&[("DATABASE_URL", "postgres//user:pw@host")]);
        let err = env
            .url("DATABASE_URL", "postgres://x", &["postgres", "postgresql"])
            .unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        let env = from_pairs(&[("DATABASE_URL", "mysql://user:pw@host/db")]);
        let err = env.url("DATABASE_URL", "", &["postgres"]).unwrap_err();
        assert!(err.to_string().contains("mysql"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[test]
    fn a_missing_secret_is_an_error_and_empty_counts_as_missing() {
        assert!(from_pairs(&[("JWT_SECRET", "")])
            .required_secret("JWT_SECRET")
            .is_err());
        assert!(from_pairs(&[]).required_secret("JWT_SECRET").is_err());
    }

    #[test]
    fn tokens_need_a_secret_or_one_jwks() {
        let err = from_pairs(&[]).auth_settings().unwrap_err();
        assert_eq!(err.var, "JWT_SECRET");
        assert!(err.to_string().contains("JWKS_URL"), "{err}");
        let jwks_only = from_pairs(&[("JWKS_URL", "https://id.example/.well-known/jwks.json")])
            .auth_settings()
            .unwrap();
        assert!(jwks_only.secret.is_none());
        assert!(matches!(jwks_only.jwks, Some(JwksSource::Url(_))));
        let file = from_pairs(&[("JWT_SECRET", "s"), ("JWKS_FILE", "/etc/catalog/jwks.json")])
            .auth_settings()
            .unwrap();
        assert!(file.secret.is_some());
        assert_eq!(
            file.jwks,
            Some(JwksSource::File("/etc/catalog/jwks.json".into()))
        );
        let both = from_pairs(&[("JWKS_URL", "https://id.example/jwks"), ("JWKS_FILE", "j")]);
        assert_eq!(both.auth_settings().unwrap_err().var, "JWKS_URL");
        let ftp = from_pairs(&[("JWKS_URL", "ftp://id.example/jwks")]);
        assert_eq!(ftp.auth_settings().unwrap_err().var, "JWKS_URL");
    }

    #[test]
    fn origins_are_bare_scheme_host_and_port() {
        let env = from_pairs(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://shop.example, http://localhost:3000",
        )]);
        assert_eq!(
            env.origins("CORS_ALLOWED_ORIGINS").unwrap(),
            ["https://shop.example", "http://localhost:3000"]
        );
        for bad in [
            "shop.example",
            "https://shop.example/path",
            "ftp://x.example",
        ] {
            let pairs = [("CORS_ALLOWED_ORIGINS", bad)];
            assert!(
                from_pairs(&pairs).origins("CORS_ALLOWED_ORIGINS").is_err(),
                "{bad}"
            );
        }
        assert!(from_pairs(&[]).origins("X").unwrap().is_empty());
    }

    #[test]
    fn redis_is_direct_unless_sentinels_are_listed() {
        let direct = from_pairs(&[]).redis_settings().unwrap();
        assert_eq!(direct.url.expose(), "redis://127.0.0.1:6379");
        assert!(direct.sentinels.is_empty());
        let sentinel = from_pairs(&[
            ("REDIS_URL", "redis://:pw@ignored:1/2"),
            (
                "REDIS_SENTINELS",
                " 10.0.0.1:26379, sentinel-b:26380,,[::1]:26381 ",
            ),
        ])
        .redis_settings()
        .unwrap();
        assert_eq!(
            sentinel.sentinels,
            ["10.0.0.1:26379", "sentinel-b:26380", "[::1]:26381"]
        );
        assert_eq!(sentinel.master_name, "catalog");
        let named = from_pairs(&[
            ("REDIS_SENTINELS", "127.0.0.1:26379"),
            ("REDIS_MASTER_NAME", "shop"),
        ])
        .redis_settings()
        .unwrap();
        assert_eq!(named.master_name, "shop");
    }

    #[test]
    fn bad_redis_settings_name_their_variable() {
        for (pairs, var) in [
            (&[("REDIS_SENTINELS", "127.0.0.1")][..], "REDIS_SENTINELS"),
            (&[("REDIS_SENTINELS", "127.0.0.1:0")], "REDIS_SENTINELS"),
            (&[("REDIS_SENTINELS", ":26379")], "REDIS_SENTINELS"),
            (&[("REDIS_SENTINELS", "redis://h:26379")], "REDIS_SENTINELS"),
            (&[("REDIS_SENTINELS", "h:26379,h:x")], "REDIS_SENTINELS"),
            (&[("REDIS_MASTER_NAME", "shop")], "REDIS_MASTER_NAME"),
            (
                &[("REDIS_SENTINELS", "h:1"), ("REDIS_MASTER_NAME", "a b")],
                "REDIS_MASTER_NAME",
            ),
            (&[("REDIS_URL", "rediss://h:6379")], "REDIS_URL"),
            (
                &[("REDIS_SENTINEL_PASSWORD", "s3cret")],
                "REDIS_SENTINEL_PASSWORD",
            ),
        ] {
            let err = from_pairs(pairs).redis_settings().unwrap_err();
            assert_eq!(err.var, var, "{pairs:?}");
        }
    }

    #[test]
    fn namespaces_are_restricted_to_safe_characters() {
        assert_eq!(from_pairs(&[]).namespace().unwrap(), "catalog");
        assert!(from_pairs(&[("CATALOG_NAMESPACE", "t-1.a_b")])
            .namespace()
            .is_ok());
        assert!(from_pairs(&[("CATALOG_NAMESPACE", "a b")])
            .namespace()
            .is_err());
        assert!(from_pairs(&[("CATALOG_NAMESPACE", "a:b")])
            .namespace()
            .is_err());
    }
}
