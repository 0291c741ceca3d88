//! The binary's own command line, which must answer without any configuration.

use std::process::Command;

fn query_api(arg: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_query-api"))
        .arg(arg)
        .env_clear()
        .output()
        .expect("query-api runs")
}

#[test]
fn help_and_version_answer_without_any_environment() {
    let help = query_api("--help");
    assert!(help.status.success(), "{help:?}");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Usage: query-api"), "{text}");

    let version = query_api("--version");
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("query-api {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_unknown_argument_is_a_usage_error() {
    let output = query_api("--serve-forever");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
