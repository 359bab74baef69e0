//! Text PostgreSQL cannot store (U+0000) and other control characters, on every path where
//! outside text used to reach a query: the OAuth endpoints, the portal API, the command line.
//! Each gets the answer the input deserves, the same on SQLite and PostgreSQL, before any
//! query: nothing is written, and it takes no pooled connection.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use clavis::secrets;
use clavis::session;
use clavis_shared::dto::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;

use crate::server::{TestServer, http};
use crate::support::{Seeded, TestDb, admin, seed};
use crate::{on_both_databases, on_both_databases_async};

on_both_databases_async!(
    oauth_endpoints_answer_control_characters_before_any_query,
    portal_api_refuses_nul_with_400_naming_the_field,
    portal_fields_name_the_control_characters_they_refuse,
    refusals_need_no_pooled_connection,
);
on_both_databases!(cli_refuses_control_characters_before_touching_the_database);

/// The tables a refused request must leave as they were.
const TABLES: [&str; 9] = [
    "organisations",
    "apis",
    "api_scopes",
    "applications",
    "application_scopes",
    "client_secrets",
    "role_assignments",
    "users",
    "revoked_tokens",
];

fn row_counts(db: &TestDb) -> Vec<(&'static str, i64)> {
    TABLES
        .iter()
        .map(|table| (*table, db.count(table)))
        .collect()
}

/// The seeded application with a fresh secret: (client_id, secret value).
fn client_with_secret(db: &TestDb, seeded: &Seeded) -> (String, String) {
    let now = clavis::db::now();
    let created = secrets::create(
        &mut db.conn(),
        &seeded.application.client_id,
        "ci",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    (seeded.application.client_id.clone(), created.value)
}

/// A form-encoded body; values are sent as given, so `%00` stays an encoded NUL.
async fn post_raw(server: &TestServer, path: &str, body: &str) -> reqwest::Response {
    http()
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// A request with HTTP Basic credentials built from raw (already form-encoded) parts.
async fn post_basic(
    server: &TestServer,
    path: &str,
    credentials: &str,
    body: &str,
) -> reqwest::Response {
    http()
        .post(server.url(path))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(credentials.as_bytes())),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn assert_oauth(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        !description.chars().any(char::is_control),
        "control characters are not repeated back: {description:?}"
    );
    body
}

async fn oauth_endpoints_answer_control_characters_before_any_query(db: TestDb) {
    let seeded = seed(&db);
    let (client_id, secret) = client_with_secret(&db, &seeded);
    let server = TestServer::start(db, "token_failure_limit = 100").await;
    let before = row_counts(&server.db);
    let grant = "grant_type=client_credentials";

    for endpoint in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        for bad_id in ["x%00y", "%00", "x%01y", "x%1By", "x%7Fy", "x%C2%80y"] {
            let post = post_raw(
                &server,
                endpoint,
                &format!("{grant}&token=t&client_id={bad_id}&client_secret={secret}"),
            )
            .await;
            assert!(post.headers().get("www-authenticate").is_none());
            assert_oauth(post, 401, "invalid_client").await;

            let basic = post_basic(
                &server,
                endpoint,
                &format!("{bad_id}:{secret}"),
                &format!("{grant}&token=t"),
            )
            .await;
            assert_eq!(
                basic.headers()["www-authenticate"],
                "Basic realm=\"clavis\", charset=\"UTF-8\""
            );
            assert_oauth(basic, 401, "invalid_client").await;
        }
        // NUL itself inside the Basic credentials, not percent-encoded.
        let raw = post_basic(&server, endpoint, &format!("x\0y:{secret}"), grant).await;
        assert_oauth(raw, 401, "invalid_client").await;
        // A secret with NUL is malformed: the same invalid_client as any wrong secret.
        let nul_secret = post_basic(
            &server,
            endpoint,
            &format!("{client_id}:{}%00", &secret[..secret.len() - 3]),
            &format!("{grant}&token=t"),
        )
        .await;
        assert_oauth(nul_secret, 401, "invalid_client").await;
    }

    let credentials = format!("{client_id}:{secret}");
    for (extra, status, error) in [
        ("scope=manifest.read%00", 400, "invalid_scope"),
        ("scope=manifest.read%09manifest.write", 400, "invalid_scope"),
        ("scope=%7F", 400, "invalid_scope"),
        (
            "resource=https://api.example.org/smc%00",
            400,
            "invalid_target",
        ),
        ("audience=SMC%01", 400, "invalid_target"),
    ] {
        let response = post_basic(
            &server,
            "/oauth2/token",
            &credentials,
            &format!("{grant}&{extra}"),
        )
        .await;
        assert_oauth(response, status, error).await;
    }

    let introspected = post_basic(&server, "/oauth2/introspect", &credentials, "token=a%00b").await;
    assert_eq!(introspected.status(), 200);
    assert_eq!(
        introspected.json::<Value>().await.unwrap(),
        json!({ "active": false })
    );
    let revoked = post_basic(&server, "/oauth2/revoke", &credentials, "token=a%00b").await;
    assert_eq!(revoked.status(), 200);

    // Still serving: the credential readers and the pool took no harm.
    let issued = post_basic(&server, "/oauth2/token", &credentials, grant).await;
    assert_eq!(issued.status(), 200);

    let (db, _) = server.stop().await;
    assert_eq!(row_counts(&db), before, "nothing was written");
}

/// An admin's session in a running server: the cookie token.
fn admin_session(server: &TestServer) -> String {
    server
        .signed_in("ada.admin@clavis.test", Role::Admin, None)
        .1
}

/// A portal API call as the portal makes it; `path` is sent as given (percent-encoded).
async fn call(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = http()
        .request(method, server.url(path))
        .header("Origin", &server.base)
        .header("Cookie", format!("clavis_session={token}"))
        .header("X-CSRF-Token", session::csrf_token(token));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_invalid_text(what: &str, (status, body): (StatusCode, Value), field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(body["error"], "invalid_text", "{what}: {body}");
    assert_eq!(body["field"], field, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

async fn portal_api_refuses_nul_with_400_naming_the_field(db: TestDb) {
    let seeded = seed(&db);
    let (client_id, _) = client_with_secret(&db, &seeded);
    let server = TestServer::start(db, "").await;
    let token = admin_session(&server);
    let before = row_counts(&server.db);
    let org = &seeded.organisation.id;
    let expires_on = (clavis::db::now() + Duration::days(10)).date_naive();

    // JSON bodies: a NUL in any string (JSON's \u0000), wherever it sits.
    let bodies: Vec<(Method, String, String, &str)> = vec![
        (Method::POST, "/api/v1/organisations".into(), r#"{"name":"Ac\u0000me","country":"NL"}"#.into(), "name"),
        (Method::POST, "/api/v1/organisations".into(), r#"{"name":"Acme 2","country":"N\u0000"}"#.into(), "country"),
        (Method::PATCH, format!("/api/v1/organisations/{org}"), r#"{"notification_email":"team\u0000@acme.test"}"#.into(), "notification_email"),
        (Method::POST, "/api/v1/apis".into(), r#"{"code":"DM","name":"Dangerous Goods","audience":"https://api.example.org/dm","scopes":["read","wr\u0000ite"]}"#.into(), "scopes[1]"),
        (Method::POST, "/api/v1/apis".into(), r#"{"code":"DM","name":"Dangerous Goods","audience":"https://api.example.org/\u0000","scopes":[]}"#.into(), "audience"),
        (Method::PATCH, "/api/v1/apis/SMC".into(), r#"{"name":"Ship\u0000Manifests"}"#.into(), "name"),
        (Method::POST, "/api/v1/applications".into(), r#"{"organisation_id":"\u0000","api_codes":["SMC"]}"#.into(), "organisation_id"),
        (Method::POST, "/api/v1/applications".into(), format!(r#"{{"organisation_id":"{org}","api_codes":["SM\u0000C"]}}"#), "api_codes[0]"),
        (Method::PATCH, format!("/api/v1/applications/{client_id}"), r#"{"description":"about\u0000"}"#.into(), "description"),
        (Method::PATCH, format!("/api/v1/applications/{client_id}"), r#"{"grants":[{"api_code":"SMC","scopes":["manifest.read\u0000"]}]}"#.into(), "grants[0].scopes[0]"),
        (Method::POST, format!("/api/v1/applications/{client_id}/secrets"), format!(r#"{{"name":"ci\u0000","expires_on":"{expires_on}"}}"#), "name"),
        (Method::POST, "/api/v1/role-assignments".into(), format!(r#"{{"email":"x\u0000@acme.test","role":"viewer","organisation_id":"{org}"}}"#), "email"),
        (Method::POST, "/api/v1/role-assignments".into(), r#"{"subject":"\u0000","role":"admin"}"#.into(), "subject"),
    ];
    for (method, path, body, field) in bodies {
        let answer = call(&server, &token, method.clone(), &path, Some(&body)).await;
        assert_invalid_text(&format!("{method} {path} {body}"), answer, field);
    }

    // Path parameters and query parameters: no control character at all.
    let urls: Vec<(Method, String, &str)> = vec![
        (Method::GET, "/api/v1/organisations/x%00y".into(), "path"),
        (Method::PATCH, "/api/v1/organisations/%01".into(), "path"),
        (
            Method::GET,
            "/api/v1/organisations/x%00y/applications".into(),
            "path",
        ),
        (Method::PATCH, "/api/v1/apis/S%00".into(), "path"),
        (Method::GET, "/api/v1/applications/x%00y".into(), "path"),
        (
            Method::GET,
            "/api/v1/applications/x%1B/secrets".into(),
            "path",
        ),
        (
            Method::DELETE,
            format!("/api/v1/applications/{client_id}/secrets/%00"),
            "path",
        ),
        (
            Method::DELETE,
            "/api/v1/role-assignments/%00".into(),
            "path",
        ),
        (
            Method::GET,
            "/api/v1/audit-events?actor=a%00b".into(),
            "actor",
        ),
        (
            Method::GET,
            "/api/v1/audit-events?action=%7F".into(),
            "action",
        ),
        (
            Method::GET,
            "/api/v1/audit-events?organisation_id=%00".into(),
            "organisation_id",
        ),
        (Method::GET, "/api/v1/audit-events?page=1%00".into(), "page"),
        (
            Method::GET,
            format!("/api/v1/applications/suggest-name?organisation_id={org}&api_code=SMC%00"),
            "api_code",
        ),
        (Method::GET, "/api/v1/audit-events?a%00=1".into(), "query"),
    ];
    for (method, path, field) in urls {
        let body = matches!(method, Method::PATCH).then_some("{}");
        let answer = call(&server, &token, method.clone(), &path, body).await;
        assert_invalid_text(&format!("{method} {path}"), answer, field);
    }

    // Refused before the session is even looked up: the same answer without one.
    let anonymous = http()
        .get(server.url("/api/v1/applications/x%00y"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::BAD_REQUEST);
    assert_eq!(anonymous.headers()["cache-control"], "no-store");

    // The API still answers, and nothing was written.
    let (status, _) = call(&server, &token, Method::GET, "/api/v1/organisations", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(row_counts(&server.db), before, "nothing was written");
}

async fn portal_fields_name_the_control_characters_they_refuse(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id.clone();
    let server = TestServer::start(db, "").await;
    let token = admin_session(&server);
    let before = row_counts(&server.db);

    for (method, path, body, field) in [
        (
            Method::POST,
            "/api/v1/organisations".to_owned(),
            r#"{"name":"Acme\u0001","country":"NL"}"#,
            "name",
        ),
        (
            Method::PATCH,
            "/api/v1/apis/SMC".to_owned(),
            r#"{"name":"Ship\tManifests"}"#,
            "name",
        ),
        (
            Method::PATCH,
            format!("/api/v1/applications/{client_id}"),
            r#"{"name":"Partner\u007f"}"#,
            "name",
        ),
        (
            Method::PATCH,
            format!("/api/v1/applications/{client_id}"),
            r#"{"description":"tab\there"}"#,
            "description",
        ),
        (
            Method::POST,
            "/api/v1/role-assignments".to_owned(),
            r#"{"subject":"248289761001\u001b","role":"admin"}"#,
            "subject",
        ),
    ] {
        let (status, body) = call(&server, &token, method.clone(), &path, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}: {body}"
        );
        assert_eq!(body["error"], "validation_failed");
        assert_eq!(body["field"], field);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("control characters (U+0000 to U+001F, U+007F to U+009F)"),
            "{body}"
        );
    }
    assert_eq!(row_counts(&server.db), before, "nothing was written");

    // A description is text of several lines: line breaks are kept.
    let (status, body) = call(
        &server,
        &token,
        Method::PATCH,
        &format!("/api/v1/applications/{client_id}"),
        Some(r#"{"description":"first line\r\nsecond line"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["description"], "first line\r\nsecond line");
}

/// With every pooled connection taken, refusals still come at once: they need none.
async fn refusals_need_no_pooled_connection(db: TestDb) {
    let seeded = seed(&db);
    let (client_id, secret) = client_with_secret(&db, &seeded);
    let server = TestServer::start(db, "token_failure_limit = 1000").await;
    let token = admin_session(&server);
    let held: Vec<_> = (0..8).map(|_| server.db.conn()).collect();

    let requests = (0..40).map(|i| {
        let server = &server;
        let (token, secret) = (token.clone(), secret.clone());
        async move {
            if i % 2 == 0 {
                let response = post_raw(
                    server,
                    "/oauth2/token",
                    &format!(
                        "grant_type=client_credentials&client_id=x%00{i}&client_secret={secret}"
                    ),
                )
                .await;
                response.status()
            } else {
                call(
                    server,
                    &token,
                    Method::GET,
                    &format!("/api/v1/applications/x%00{i}"),
                    None,
                )
                .await
                .0
            }
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    for (i, status) in statuses.iter().enumerate() {
        let expected = if i % 2 == 0 { 401 } else { 400 };
        assert_eq!(status.as_u16(), expected, "request {i}");
    }
    drop(held);

    let issued = post_basic(
        &server,
        "/oauth2/token",
        &format!("{client_id}:{secret}"),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(issued.status(), 200);
    let (status, _) = call(&server, &token, Method::GET, "/api/v1/organisations", None).await;
    assert_eq!(status, StatusCode::OK);
}

fn cli_refuses_control_characters_before_touching_the_database(db: &TestDb) {
    let clavis = |args: &[&str]| crate::cli::clavis(db, args);
    let before = row_counts(db);
    for (args, shown) in [
        (
            vec!["org", "create", "--name", "Acme\u{1}", "--country", "NL"],
            "Acme\\u{1}",
        ),
        (vec!["app", "show", "x\u{1b}[31my"], "x\\u{1b}[31my"),
        (vec!["secret", "list", "\u{7f}"], "\\u{7f}"),
        (
            vec![
                "user",
                "grant",
                "--email",
                "a\tb@acme.test",
                "--role",
                "admin",
            ],
            "a\\tb@acme.test",
        ),
    ] {
        let output = clavis(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!(
                "error: the argument \"{shown}\" holds control characters (U+0000 to U+001F, \
                 U+007F to U+009F); only line breaks are allowed, in a description"
            )
        );
    }
    // U+0000 cannot even reach the program: the operating system refuses such an argument.
    let nul = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .args(["org", "create", "--name", "Ac\0me"])
        .output();
    assert!(nul.is_err());
    assert_eq!(row_counts(db), before, "nothing was written");

    // A line break is no argument error: the field's own rule answers.
    let output = clavis(&["org", "create", "--name", "Acme\nCorp", "--country", "NL"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim_end(),
        "error: The organisation name must not contain control characters (U+0000 to U+001F, \
         U+007F to U+009F), such as tabs or line breaks."
    );
    assert_eq!(row_counts(db), before, "nothing was written");
}
