//! Build script of catalog-support. `sqlx::migrate!` (in `db`) embeds the migrations at compile
//! time, but they live outside this package, where cargo does not look for changes: this makes
//! it rebuild the crate when a migration is added or edited.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
