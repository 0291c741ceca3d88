//! A setting that cannot be used stops the process at once: one line on stderr naming the
//! variable and what is wrong, exit code 2, and no panic.

use std::process::Command;

use crate::helpers::*;

/// Runs `program args` with exactly `env` and returns (exit code, stderr).
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(binary(program))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// (program, arguments, environment, the variable the error must name)
type Case<'a> = (&'a str, &'a [&'a str], Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn a_missing_or_malformed_setting_is_one_clear_line_and_exit_code_2() {
    let secret = ("JWT_SECRET", "a-secret-for-this-test");
    let cases: Vec<Case> = vec![
        ("command-api", &["serve"], vec![], "JWT_SECRET"),
        (
            "command-api",
            &["serve"],
            vec![("JWT_SECRET", "")],
            "JWT_SECRET",
        ),
        ("command-api", &["token"], vec![], "JWT_SECRET"),
        (
            "command-api",
            &["serve"],
            vec![
                secret,
                ("DATABASE_URL", "postgres//user:hunter2@db/catalog"),
            ],
            "DATABASE_URL",
        ),
        (
            "command-api",
            &["migrate"],
            vec![("DATABASE_URL", "not a url")],
            "DATABASE_URL",
        ),
        (
            "command-api",
            &["serve"],
            vec![secret, ("RATE_LIMIT_BURST", "lots")],
            "RATE_LIMIT_BURST",
        ),
        ("query-api", &[], vec![], "JWT_SECRET"),
        (
            "query-api",
            &[],
            vec![secret, ("DATABASE_URL", "mysql://user:hunter2@db/catalog")],
            "DATABASE_URL",
        ),
        (
            "query-api",
            &[],
            vec![secret, ("BLOB_STORE", "/var/blobs")],
            "BLOB_STORE",
        ),
        (
            "projector",
            &["run"],
            vec![("DATABASE_URL", "postgres//user:hunter2@db/catalog")],
            "DATABASE_URL",
        ),
        (
            "projector",
            &["images"],
            vec![("AMQP_URL", "http://127.0.0.1:5672")],
            "AMQP_URL",
        ),
        (
            "projector",
            &["run"],
            vec![("PROJECTOR_HTTP_ADDR", "everywhere")],
            "PROJECTOR_HTTP_ADDR",
        ),
    ];
    for (program, args, env, variable) in cases {
        let (code, stderr) = run(program, args, &env);
        let what = format!("{program} {args:?} with {env:?}");
        assert_eq!(code, Some(2), "{what}: exit code; stderr: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: one line, not {stderr:?}");
        let line = lines[0];
        assert!(
            line.starts_with(&format!("{program}: configuration error: {variable}: ")),
            "{what}: {line}"
        );
        assert!(!line.contains("panicked"), "{what}: {line}");
        // Connection URLs carry passwords; the message names the variable, never its value.
        assert!(!line.contains("hunter2"), "{what}: {line}");
    }
}
