//! [`Secret`], for keys, passwords and URLs that carry them: held like any string, never
//! printed by accident.

use std::fmt;

/// A secret string. It can be read on purpose with [`Secret::expose`], but never by accident
/// through `{:?}` or `{}` in a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Holds `value` as given, neither checked nor trimmed.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it (a connection, a signing key). Never
    /// for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings as a service holds them: a derived `Debug` prints every field, the secret too.
    #[derive(Debug)]
    #[allow(dead_code)] // Read only through `Debug`, which is the point.
    struct Settings {
        url: &'static str,
        password: Secret,
    }

    #[test]
    fn formatting_says_redacted_and_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        // Width, alignment and the alternate form go through the same two impls.
        for shown in [
            format!("{secret:>40}"),
            format!("{secret:<40?}"),
            format!("{secret:#?}"),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn a_secret_inside_a_logged_struct_stays_hidden() {
        let settings = Settings {
            url: "redis://cache:6379",
            password: Secret::new("hunter2"),
        };
        for shown in [format!("{settings:?}"), format!("{settings:#?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
            // Only the secret is hidden, not the rest of the struct.
            assert!(shown.contains("redis://cache:6379"), "{shown}");
        }
    }
}
