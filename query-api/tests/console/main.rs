//! The console in a real browser. This test runs the whole system (all four processes, on the
//! test's own database, namespace and blob directory), then hands it to the Playwright suite in
//! `browser/`, which drives Debian's Chromium through search, a product, an upload, a conflict,
//! an older version, product types, variants, webhook subscriptions and a person signing in and
//! out, saving screenshots as it goes. The webhook dispatcher (`projector webhooks`) runs beside
//! the services, so the suite sees a subscription whose receiver fails go from retrying to
//! paused. An editor is added with `command-api user add` for the suite to sign in as.
//!
//! Needs Node.js and Chromium (`/usr/bin/chromium`, or `CHROMIUM`); `scripts/test` installs
//! both. The suite's npm packages are installed on first use from `package-lock.json`.
//! Screenshots, and a trace of any failure, go to `CONSOLE_ARTIFACTS` (default
//! `target/console-artifacts` in the workspace).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use catalog_testkit::system::{Service, System};
use sqlx::PgPool;
use tokio::process::Command;

/// Below nextest's own limit (five minutes, .config/nextest.toml), so that a hung browser run
/// is reported by this test, with its output, rather than killed without it.
const SUITE_LIMIT: Duration = Duration::from_secs(240);

/// The editor the suite signs in as (`command-api user add` before the suite runs).
const SIGN_IN_EMAIL: &str = "editor@example.com";
const SIGN_IN_PASSWORD: &str = "correct horse battery staple";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/browser")
}

fn artifacts_dir() -> PathBuf {
    std::env::var_os("CONSOLE_ARTIFACTS").map_or_else(
        || {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("query-api lives in the workspace");
            workspace.join("target/console-artifacts")
        },
        PathBuf::from,
    )
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "Chromium is not at {}: install Debian's package (apt-get install chromium; \
         scripts/test does) or set CHROMIUM",
        path.display()
    );
    path
}

/// `npm ci` when the suite's packages are missing: the lock file pins them.
async fn install_packages(dir: &Path) {
    if dir
        .join("node_modules/@playwright/test/package.json")
        .exists()
    {
        return;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .await
        .expect("npm runs (Node.js is installed)");
    assert!(
        output.status.success(),
        "npm ci failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn the_console_works_in_chromium(pool: PgPool) {
    let chromium = chromium();
    let dir = browser_dir();
    install_packages(&dir).await;

    // The console is served by query-api and sends commands to command-api, across origins.
    let mut system = System::start(pool, &[], &[]).await;
    let query = system.url(Service::QueryApi);
    let command = system.url(Service::CommandApi);
    system.set_var("CORS_ALLOWED_ORIGINS", &query);
    system.set_var("CONSOLE_COMMAND_API_ORIGIN", &command);
    // The suite's webhook receiver listens on 127.0.0.1, which command-api and the dispatcher
    // otherwise refuse. Retries come within a few hundred milliseconds, and a subscription
    // failing for over five seconds is paused, so a failing one reaches `paused` in moments
    // rather than the production day.
    for (key, value) in [
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_TIMEOUT_SECS", "5"),
        ("WEBHOOK_RETRY_BASE_MS", "200"),
        ("WEBHOOK_RETRY_MAX_MS", "400"),
        ("WEBHOOK_POLL_INTERVAL_MS", "200"),
        ("WEBHOOK_PAUSE_AFTER_SECS", "5"),
    ] {
        system.set_var(key, value);
    }
    for service in Service::ALL.into_iter().chain([Service::Webhooks]) {
        system.start_service(service).await;
    }

    // A person who signs in with email and password (an editor: catalog:write only), added as
    // an operator does, with the CLI reading the password from its standard input.
    let added = system
        .run_tool_with_input(
            "command-api",
            &["user", "add", SIGN_IN_EMAIL, "--role", "editor"],
            format!("{SIGN_IN_PASSWORD}\n").as_bytes(),
            Duration::from_secs(30),
        )
        .await
        .expect("command-api user add runs");
    assert!(
        added.status.success(),
        "command-api user add failed:\n{}{}",
        String::from_utf8_lossy(&added.stdout),
        String::from_utf8_lossy(&added.stderr)
    );

    let artifacts = artifacts_dir();
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("the artifacts directory can be made");
    // A token that may edit but not administer: the pages of catalog:admin are not offered.
    let editor = catalog_testkit::issue(
        catalog_testkit::SECRET,
        "console-editor",
        "catalog:write catalog:audit",
    );
    let run = Command::new("node")
        .arg(dir.join("node_modules/@playwright/test/cli.js"))
        .args(["test", "--config", "playwright.config.mjs"])
        .current_dir(&dir)
        .env("QUERY_URL", &query)
        .env("COMMAND_URL", &command)
        .env("TOKEN", &system.token)
        .env("EDITOR_TOKEN", &editor)
        .env("SIGN_IN_EMAIL", SIGN_IN_EMAIL)
        .env("SIGN_IN_PASSWORD", SIGN_IN_PASSWORD)
        .env("CHROMIUM", &chromium)
        .env("CONSOLE_ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SUITE_LIMIT, run)
        .await
        .expect("the browser suite finishes within its limit")
        .expect("node runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    println!("screenshots: {}", artifacts.join("screenshots").display());
    if !output.status.success() {
        system.keep_logs();
    }
    assert!(
        output.status.success(),
        "the browser suite failed (artifacts in {}):\n{report}",
        artifacts.display()
    );
    let screenshots =
        std::fs::read_dir(artifacts.join("screenshots")).map_or(0, std::iter::Iterator::count);
    assert!(screenshots >= 24, "every step saved its screenshot");
}
