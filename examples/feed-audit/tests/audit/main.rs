//! The auditor against real services: its hash against PostgreSQL's own, and the `feed-audit`
//! binary following a real query-api's stream over a test database of its own.

mod hash;
mod stream;
