//! The scopes a token or a session grants, as the `scope` claim names them.

/// The scope command-api requires of every command: any change to the catalog.
pub const SCOPE_WRITE: &str = "catalog:write";
/// The scope query-api requires to read a product's history and past versions (the audit
/// routes); the other reads are public.
pub const SCOPE_AUDIT: &str = "catalog:audit";
/// The scope command-api requires to define product types.
pub const SCOPE_ADMIN: &str = "catalog:admin";
