//! People signing in (docs/API.md "Identity"), through the real binaries: `command-api user
//! add` with the password on standard input, `POST /session` on query-api, the session cookie
//! accepted by command-api for changes that repeat the CSRF token, the signed-in email recorded
//! as the actor, sign-out and `user remove` ending sessions at once, the lock-out after five
//! failures, and no difference between an unknown email and a wrong password.

use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery staple";

/// `command-api user <args>` with `input` on standard input: its exit success and output.
async fn user(system: &System, args: &[&str], input: &str) -> (bool, String) {
    let mut full = vec!["user"];
    full.extend_from_slice(args);
    let output = system
        .run_tool_with_input(
            "command-api",
            &full,
            input.as_bytes(),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `POST /session`: the response's status, its body and the cookie it set (name=value).
async fn sign_in(
    system: &System,
    email: &str,
    password: &str,
) -> (StatusCode, Value, Option<String>) {
    let response = system
        .client
        .post(format!("{}/session", system.url(Service::QueryApi)))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
    if let Some(set) = response.headers().get(SET_COOKIE) {
        let set = set.to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(attribute), "{set}");
        }
    }
    (status, response.json().await.unwrap_or(Value::Null), cookie)
}

/// A product created on command-api with the session cookie, and `csrf` if given.
async fn create_with_cookie(
    system: &System,
    cookie: &str,
    csrf: Option<&str>,
    sku: &str,
) -> reqwest::Response {
    let mut request = system
        .client
        .post(format!("{}/products", system.url(Service::CommandApi)))
        .header(COOKIE, cookie)
        .json(&json!({"sku": sku, "name": "Signed-in product", "price": {"amount": 100, "currency": "EUR"}}));
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    request.send().await.unwrap()
}

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn a_person_signs_in_changes_the_catalog_as_themselves_and_is_signed_out(pool: PgPool) {
    let system = System::start(pool.clone(), &[Service::CommandApi, Service::QueryApi], &[]).await;

    // Added from the command line; a short password and an unknown role are refused.
    let (ok, out) = user(
        &system,
        &["add", "Ada@Example.org", "--role", "editor"],
        "short\n",
    )
    .await;
    assert!(!ok && out.contains("at least 12"), "{out}");
    let (ok, out) = user(
        &system,
        &["add", "ada@example.org", "--role", "root"],
        PASSWORD,
    )
    .await;
    assert!(!ok && out.contains("not a role"), "{out}");
    let (ok, out) = user(
        &system,
        &["add", "Ada@Example.org", "--role", "editor"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = user(
        &system,
        &["add", "ada@example.org", "--role", "admin"],
        PASSWORD,
    )
    .await;
    assert!(!ok && out.contains("already added"), "{out}");
    let (ok, out) = user(&system, &["list"], "").await;
    assert!(ok && out.contains("ada@example.org\teditor"), "{out}");
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM people")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(PASSWORD));

    // Signed in (the email as typed, any case), the cookie is a session command-api accepts.
    let (status, session, cookie) = sign_in(&system, " ADA@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["email"], "ada@example.org");
    assert_eq!(session["scopes"], json!(["catalog:write"]));
    let cookie = cookie.expect("a session cookie");
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(URL_SAFE_LEN, csrf.len(), "256 bits, base64url");

    // A change without the CSRF token is refused and writes nothing; with it, it is made as
    // the person.
    let refused = create_with_cookie(&system, &cookie, None, "ADA-1").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:catalog:problem:csrf");
    let wrong = create_with_cookie(&system, &cookie, Some("not-the-token"), "ADA-1").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let made = create_with_cookie(&system, &cookie, Some(&csrf), "ADA-1").await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT metadata->>'actor' FROM events WHERE aggregate_type = 'Product'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actors, ["ada@example.org"]);
    // An editor's session grants no more than the role: product types need catalog:admin.
    let types = system
        .client
        .put(format!(
            "{}/product-types/mug",
            system.url(Service::CommandApi)
        ))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "Mug", "attributes": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(types.status(), StatusCode::FORBIDDEN);

    // The console reads the session back after a reload; sign-out needs the CSRF token too.
    let current = system
        .client
        .get(format!("{}/session", system.url(Service::QueryApi)))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), StatusCode::OK);
    let sign_out = |csrf: Option<String>| {
        let mut request = system
            .client
            .delete(format!("{}/session", system.url(Service::QueryApi)))
            .header(COOKIE, &cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    assert_eq!(
        sign_out(None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let out = sign_out(Some(csrf.clone())).await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // Ended at once, for both APIs.
    let after = create_with_cookie(&system, &cookie, Some(&csrf), "ADA-2").await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);

    // `user remove` ends every session of the person, on the spot.
    let (_, _, first) = sign_in(&system, "ada@example.org", PASSWORD).await;
    let (_, second_session, second) = sign_in(&system, "ada@example.org", PASSWORD).await;
    let (ok, out) = user(&system, &["remove", "ada@example.org"], "").await;
    assert!(ok && out.contains("ended 2 session(s)"), "{out}");
    for cookie in [first.unwrap(), second.unwrap()] {
        let after = create_with_cookie(
            &system,
            &cookie,
            second_session["csrf_token"].as_str(),
            "ADA-3",
        )
        .await;
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = sign_in(&system, "ada@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The length of 32 bytes in unpadded base64url.
const URL_SAFE_LEN: usize = 43;

#[sqlx::test(migrator = "catalog_support::db::MIGRATOR")]
async fn failures_lock_one_email_out_and_never_tell_who_exists(pool: PgPool) {
    let system = System::start(pool.clone(), &[Service::CommandApi, Service::QueryApi], &[]).await;
    let (ok, out) = user(
        &system,
        &["add", "grace@example.org", "--role", "auditor"],
        PASSWORD,
    )
    .await;
    assert!(ok, "{out}");

    // An auditor's session reads what catalog:audit guards (a read: no CSRF token needed) and
    // nothing beyond it.
    let (status, session, cookie) = sign_in(&system, "grace@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.unwrap();
    let feed = system
        .client
        .get(format!("{}/events", system.url(Service::QueryApi)))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let write =
        create_with_cookie(&system, &cookie, session["csrf_token"].as_str(), "GRACE-1").await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let problem: Value = write.json().await.unwrap();
    assert_eq!(problem["type"], "urn:catalog:problem:forbidden");

    // An unknown email and a wrong password: the same status and problem, in about the same
    // time (both check a password hash). Interleaved, so drift on the machine hits both.
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut answers = Vec::new();
    for round in 0..4 {
        let started = Instant::now();
        let (status, body, cookie) =
            sign_in(&system, &format!("nobody{round}@example.org"), PASSWORD).await;
        unknown.push(started.elapsed());
        answers.push((
            status,
            body["type"].clone(),
            body["detail"].clone(),
            cookie.is_some(),
        ));
        let started = Instant::now();
        let (status, body, cookie) = sign_in(
            &system,
            "grace@example.org",
            &format!("wrong password {round}"),
        )
        .await;
        wrong.push(started.elapsed());
        answers.push((
            status,
            body["type"].clone(),
            body["detail"].clone(),
            cookie.is_some(),
        ));
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "one answer for both: {answers:?}");
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    unknown.sort();
    wrong.sort();
    let (unknown, wrong) = (unknown[1].as_secs_f64(), wrong[1].as_secs_f64());
    let ratio = unknown / wrong;
    assert!(
        (0.5..2.0).contains(&ratio),
        "an unknown email takes {unknown:.3} s, a wrong password {wrong:.3} s"
    );

    // The fifth failure for grace locks her email: even the right password is 429 for now.
    let (status, _, _) = sign_in(&system, "grace@example.org", "wrong password 5").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = system
        .client
        .post(format!("{}/session", system.url(Service::QueryApi)))
        .json(&json!({"email": "grace@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    // Other emails are not locked, known or not: the lock-out is per email.
    let (status, _, _) = sign_in(&system, "nobody9@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Malformed attempts are told apart from failed ones, and count for nothing.
    for body in [
        json!({"email": "grace"}),
        json!({"email": "not an email", "password": "x"}),
    ] {
        let response = system
            .client
            .post(format!("{}/session", system.url(Service::QueryApi)))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
}
