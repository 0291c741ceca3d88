//! The versions of every stored event's shape, and how an older shape is read: the one place
//! that knows them. Stored events are never rewritten (the hash chain covers their bytes), so
//! an event whose shape changes gets a new `event_version`, and every reader (the aggregate,
//! the projector, history, past versions, rebuild and verify) decodes through
//! [`Schema::decode`], which upcasts an older payload step by step to today's shape first.
//!
//! Adding a version: bump the event's entry in [`crate::versions`], add an [`Upcaster`] from the
//! previous version to [`UPCASTERS`], and a stored fixture of the old shape to
//! `domain/tests/stored_v1.rs` (or its successor) that replays into today's state.

use serde_json::{Map, Value};

use crate::events::ProductEvent;
use crate::locale::Locale;
use crate::product_type::ProductTypeEvent;
use crate::versions::current_version;

/// Reads one version of an event's payload (the object inside its type tag) as the next.
struct Upcaster {
    event_type: &'static str,
    from: &'static str,
    to: &'static str,
    upcast: fn(&mut Map<String, Value>, &Schema),
}

/// Every upcaster, each one step.
const UPCASTERS: &[Upcaster] = &[
    Upcaster {
        event_type: "ProductCreated",
        from: "1",
        to: "2",
        upcast: texts_in_default_locale,
    },
    Upcaster {
        event_type: "DetailsUpdated",
        from: "1",
        to: "2",
        upcast: texts_in_default_locale,
    },
    Upcaster {
        event_type: "ProductCreated",
        from: "2",
        to: "3",
        upcast: master_without_variant_attributes,
    },
];

/// v2 → v3 of `ProductCreated`: v3 may name the master variant's variant-level attributes;
/// a v2 product's master has none, which is what an absent field reads as.
fn master_without_variant_attributes(_: &mut Map<String, Value>, _: &Schema) {}

/// v1 → v2 of the events that carry details: v1 held `name` and `description` as plain
/// strings, which the contract reads as text in the default locale. v1's attributes were
/// strings, which v2 reads unchanged.
fn texts_in_default_locale(payload: &mut Map<String, Value>, schema: &Schema) {
    for field in ["name", "description"] {
        if let Some(Value::String(text)) = payload.get_mut(field) {
            let text = std::mem::take(text);
            let mut localized = Map::new();
            localized.insert(
                schema.default_locale.as_str().to_string(),
                Value::String(text),
            );
            payload.insert(field.to_string(), Value::Object(localized));
        }
    }
}

/// Why a stored event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A version no upcaster leads from to today's shape: written by a newer Catalog, or an
    /// upcaster is missing.
    #[error("{event_type} version {version} cannot be read: today's is {current}")]
    UnknownVersion {
        /// The stored event type.
        event_type: String,
        /// The stored version.
        version: String,
        /// Today's version of the type.
        current: &'static str,
    },
    /// The payload is not the shape its type and version say.
    #[error("{event_type} v{version} payload is malformed: {source}")]
    Shape {
        /// The stored event type.
        event_type: String,
        /// The stored version.
        version: String,
        /// What serde found.
        source: serde_json::Error,
    },
}

/// What reading stored events needs to know of the installation: the default locale, which
/// v1's plain texts are in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// `DEFAULT_LOCALE`.
    pub default_locale: Locale,
}

impl Schema {
    /// The schema of an installation whose default locale is `default_locale`.
    pub fn new(default_locale: Locale) -> Self {
        Self { default_locale }
    }

    /// `payload` (tagged with its type, `{"ProductCreated": {...}}`) in today's shape of
    /// `event_type`, upcast from `version` step by step.
    pub fn upcast(
        &self,
        event_type: &str,
        version: &str,
        payload: Value,
    ) -> Result<Value, DecodeError> {
        let current = current_version(event_type);
        if version == current {
            return Ok(payload);
        }
        let unknown = || DecodeError::UnknownVersion {
            event_type: event_type.to_string(),
            version: version.to_string(),
            current,
        };
        let mut payload = payload;
        let mut at = version;
        while at != current {
            let step = UPCASTERS
                .iter()
                .find(|u| u.event_type == event_type && u.from == at)
                .ok_or_else(unknown)?;
            if let Some(Value::Object(inner)) = payload.get_mut(event_type) {
                (step.upcast)(inner, self);
            }
            at = step.to;
        }
        Ok(payload)
    }

    /// A stored Product event, read in today's shape.
    pub fn decode_product(
        &self,
        event_type: &str,
        version: &str,
        payload: Value,
    ) -> Result<ProductEvent, DecodeError> {
        self.decode(event_type, version, payload)
    }

    /// A stored ProductType event, read in today's shape.
    pub fn decode_product_type(
        &self,
        event_type: &str,
        version: &str,
        payload: Value,
    ) -> Result<ProductTypeEvent, DecodeError> {
        self.decode(event_type, version, payload)
    }

    fn decode<E: serde::de::DeserializeOwned>(
        &self,
        event_type: &str,
        version: &str,
        payload: Value,
    ) -> Result<E, DecodeError> {
        let payload = self.upcast(event_type, version, payload)?;
        serde_json::from_value(payload).map_err(|source| DecodeError::Shape {
            event_type: event_type.to_string(),
            version: version.to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_upcaster_is_one_step_towards_a_declared_version() {
        for upcaster in UPCASTERS {
            let current: u32 = current_version(upcaster.event_type).parse().unwrap();
            let (from, to): (u32, u32) =
                (upcaster.from.parse().unwrap(), upcaster.to.parse().unwrap());
            assert_eq!(to, from + 1, "{}", upcaster.event_type);
            assert!(to <= current, "{}", upcaster.event_type);
        }
        // every version below today's has its way up
        for (event_type, version) in crate::versions::VERSIONS {
            let current: u32 = version.parse().unwrap();
            for from in 1..current {
                assert!(
                    UPCASTERS
                        .iter()
                        .any(|u| u.event_type == *event_type && u.from == from.to_string()),
                    "{event_type} v{from}"
                );
            }
        }
    }

    #[test]
    fn v1_texts_are_read_in_the_default_locale() {
        // Given a v1 DetailsUpdated as stored
        let stored = json!({"DetailsUpdated": {
            "name": "Mug", "description": null, "category": "kitchen",
            "attributes": {"color": "red"}, "changed": ["name"]
        }});
        // When it is read by an installation whose default locale is German
        let schema = Schema::new(Locale::parse("de").unwrap());
        let upcast = schema.upcast("DetailsUpdated", "1", stored).unwrap();
        // Then its texts are German, the rest unchanged
        assert_eq!(
            upcast,
            json!({"DetailsUpdated": {
                "name": {"de": "Mug"}, "description": null, "category": "kitchen",
                "attributes": {"color": "red"}, "changed": ["name"]
            }})
        );
    }

    #[test]
    fn a_version_without_a_way_up_is_refused_not_guessed() {
        let schema = Schema::default();
        let err = schema
            .decode_product("ProductCreated", "9", json!({"ProductCreated": {}}))
            .unwrap_err();
        assert!(matches!(err, DecodeError::UnknownVersion { .. }), "{err}");
        let err = schema
            .decode_product("PriceChanged", "1", json!({"PriceChanged": {"price": 5}}))
            .unwrap_err();
        assert!(matches!(err, DecodeError::Shape { .. }), "{err}");
    }
}
