//! Today's version of each stored event's shape: what a new event is stored with. Kept apart
//! from [`crate::schema`], which reads older shapes into the events, so the events can name
//! their own version without depending on their readers.

/// Today's version of each event's shape, by event type. Absent types are at "1".
pub(crate) const VERSIONS: &[(&str, &str)] = &[
    // v2: `name` and `description` are localized texts (tag → text); `type`; typed attributes.
    // v3: `variant_attributes`, the master variant's (absent: none).
    ("ProductCreated", "3"),
    // v2: `name` and `description` are localized texts; typed attributes.
    ("DetailsUpdated", "2"),
];

/// Today's version of `event_type`'s shape: what a new event of that type is stored with.
pub fn current_version(event_type: &str) -> &'static str {
    VERSIONS
        .iter()
        .find(|(name, _)| *name == event_type)
        .map_or("1", |(_, version)| version)
}
