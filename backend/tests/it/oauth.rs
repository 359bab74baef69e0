//! The OAuth endpoints over real HTTP, on SQLite and PostgreSQL: every error with its
//! status and headers, tokens checked against the published JWKS with independent crypto.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Duration;
use clavis::access::Actor;
use clavis::db::{DbConn, schema::audit_events};
use clavis::keys::SigningAlgorithm;
use clavis::{apis, apps, secrets};
use diesel::PgConnection;
use diesel::prelude::*;
use serde_json::Value;

use crate::on_both_databases_async;
use crate::server::{TestServer, http, http_from};
use crate::support::{TestDb, admin, jwks_algorithms, seed};

on_both_databases_async!(
    client_credentials_grant_issues_a_verifiable_jwt,
    every_refused_authentication_looks_the_same_and_is_audited,
    malformed_requests_are_refused_with_invalid_request,
    grant_scope_and_target_errors,
    deleted_secret_and_disabled_application_are_refused_at_once,
    concurrent_requests_each_get_their_own_clients_answer,
    failures_are_throttled_per_address_and_client,
    introspection_and_revocation,
    token_signed_before_rotation_still_validates_after_it,
    issued_tokens_and_last_use_are_recorded,
    each_api_signs_with_its_own_algorithm,
    a_missing_key_gets_a_clear_answer_until_maintenance_makes_it,
);

/// A seeded application with one fresh secret: (client_id, secret value, secret id).
pub(crate) fn client_with_secret(db: &TestDb) -> (String, String, String) {
    let seeded = seed(db);
    let now = clavis::db::now();
    let created = secrets::create(
        &mut db.conn(),
        &seeded.application.client_id,
        "test",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    (seeded.application.client_id, created.value, created.info.id)
}

/// Another application of Acme for `api_codes`, with one secret: (client_id, secret value).
pub(crate) fn another_client(db: &TestDb, name: &str, api_codes: &[&str]) -> (String, String) {
    let (mut conn, now) = (db.conn(), clavis::db::now());
    let new = clavis_shared::portal::CreateApplication {
        organisation_id: "Acme".into(),
        name: Some(name.into()),
        api_codes: api_codes.iter().map(|code| code.to_string()).collect(),
        ..Default::default()
    };
    let app = apps::create(&mut conn, &new, &admin(), now).unwrap();
    let created = secrets::create(
        &mut conn,
        &app.client_id,
        "s",
        now + Duration::days(1),
        &admin(),
        now,
    )
    .unwrap();
    (app.client_id, created.value)
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_form(client: &reqwest::Client, url: &str, body: String) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn token_basic(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    token_basic_at(&server.base, client_id, secret, extra).await
}

/// A client-credentials request with HTTP Basic to the Clavis at `base`, with `extra`
/// form fields.
pub(crate) async fn token_basic_at(
    base: &str,
    client_id: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend_from_slice(extra);
    http()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn access_token(server: &TestServer, client_id: &str, secret: &str) -> String {
    access_token_at(&server.base, client_id, secret).await
}

/// An access token from the Clavis at `base` (the request must succeed).
pub(crate) async fn access_token_at(base: &str, client_id: &str, secret: &str) -> String {
    let response = token_basic_at(base, client_id, secret, &[]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn jwks(server: &TestServer) -> Value {
    jwks_at(&server.base).await
}

/// The JWKS the Clavis at `base` publishes.
pub(crate) async fn jwks_at(base: &str) -> Value {
    http()
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies a JWT's signature against a JWKS with the RustCrypto crates directly, not with
/// the JWT library Clavis uses; returns (header, claims).
pub(crate) fn verify_independently(token: &str, jwks: &Value) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact serialisation");
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).expect("base64url");
    let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap();
    let signature = decode(parts[2]);
    let message = format!("{}.{}", parts[0], parts[1]);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} is not published", header["kid"]));
    let field = |name: &str| decode(jwk[name].as_str().unwrap());
    match jwk["kty"].as_str().unwrap() {
        "EC" => {
            use p256::ecdsa::signature::Verifier;
            let point = p256::EncodedPoint::from_affine_coordinates(
                field("x").as_slice().into(),
                field("y").as_slice().into(),
                false,
            );
            let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point).unwrap();
            let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
            key.verify(message.as_bytes(), &signature)
                .expect("valid ES256 signature");
        }
        "RSA" => {
            use rsa::signature::Verifier;
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&field("n")),
                rsa::BigUint::from_bytes_be(&field("e")),
            )
            .unwrap();
            let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
            let signature = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap();
            key.verify(message.as_bytes(), &signature)
                .expect("valid RS256 signature");
        }
        "OKP" => {
            use ed25519_dalek::Verifier;
            let key =
                ed25519_dalek::VerifyingKey::from_bytes(&field("x").try_into().unwrap()).unwrap();
            let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
            key.verify(message.as_bytes(), &signature)
                .expect("valid EdDSA signature");
        }
        other => panic!("unexpected key type {other}"),
    }
    (header, claims)
}

fn assert_no_store(response: &reqwest::Response) {
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
}

async fn assert_oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(!description.is_empty(), "{body}");
    assert!(
        description
            .chars()
            .all(|c| matches!(c, ' '..='!' | '#'..='[' | ']'..='~')),
        "RFC 6749 section 5.2 allows only printable ASCII without quote or backslash: {body}"
    );
    body
}

/// The audit trail's failure reasons, oldest first.
fn refusal_reasons(db: &TestDb) -> Vec<String> {
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    let details: Vec<String> = audit_events::table
        .filter(audit_events::action.eq("client.authenticate"))
        .filter(audit_events::outcome.eq("failure"))
        .order(audit_events::id)
        .select(audit_events::details)
        .load(conn)
        .unwrap();
    details
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn client_credentials_grant_issues_a_verifiable_jwt(db: TestDb) {
    let (client_id, secret, secret_id) = client_with_secret(&db);
    let server = TestServer::start(db, "").await;

    let response = token_basic(&server, &client_id, &secret, &[]).await;
    assert_eq!(response.status(), 200);
    assert_no_store(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "manifest.read manifest.write");

    let metadata: Value = http()
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (header, claims) =
        verify_independently(body["access_token"].as_str().unwrap(), &jwks(&server).await);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], metadata["issuer"]);
    assert_eq!(claims["iss"], server.base.as_str());
    assert_eq!(claims["sub"], client_id.as_str());
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["aud"], "https://api.example.org/smc");
    assert_eq!(claims["scope"], "manifest.read manifest.write");
    assert_eq!(claims["environment"], "production");
    assert!(claims["org_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    assert_eq!(claims["client_secret_id"], secret_id.as_str());

    // client_secret_post, a narrower scope, and the API named by resource.
    let response = post_form(
        &http(),
        &server.url("/oauth2/token"),
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("scope", "manifest.read"),
            ("resource", "https://api.example.org/smc"),
        ]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "manifest.read");
    let (_, claims) =
        verify_independently(body["access_token"].as_str().unwrap(), &jwks(&server).await);
    assert_eq!(claims["scope"], "manifest.read");

    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata: Value = http()
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(metadata["token_endpoint"], server.url("/oauth2/token"));
        assert_eq!(metadata["jwks_uri"], server.url("/.well-known/jwks.json"));
        assert_eq!(
            metadata["introspection_endpoint"],
            server.url("/oauth2/introspect")
        );
        assert_eq!(
            metadata["revocation_endpoint"],
            server.url("/oauth2/revoke")
        );
        assert_eq!(
            metadata["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        assert_eq!(
            metadata["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(
            metadata["scopes_supported"],
            serde_json::json!(["manifest.read", "manifest.write"])
        );
    }
    server.stop().await;
}

async fn every_refused_authentication_looks_the_same_and_is_audited(db: TestDb) {
    let (client_id, secret, secret_id) = client_with_secret(&db);
    let now = clavis::db::now();
    let expired = {
        let mut conn = db.conn();
        let created = secrets::create(
            &mut conn,
            &client_id,
            "old",
            now + Duration::seconds(2),
            &admin(),
            now,
        )
        .unwrap();
        created.value
    };
    let server = TestServer::start(db, "token_failure_limit = 100").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    let mut wrong = secret.clone().into_bytes();
    wrong[20] = if wrong[20] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    // The right format and checksum, but a random value: fails argon2id.
    let forged = {
        let other =
            secrets::value::ClientSecretValue::generate(uuid::Uuid::parse_str(&secret_id).unwrap());
        other.expose().to_owned()
    };
    let attempts = [
        ("00000000-0000-0000-0000-000000000000", secret.as_str()),
        (client_id.as_str(), "not-a-clavis-secret"),
        (client_id.as_str(), wrong.as_str()),
        (client_id.as_str(), forged.as_str()),
        (client_id.as_str(), expired.as_str()),
    ];
    let mut bodies = Vec::new();
    for (id, presented) in attempts {
        let response = token_basic(&server, id, presented, &[]).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"clavis\", charset=\"UTF-8\""
        );
        bodies.push(assert_oauth_error(response, 401, "invalid_client").await);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "no oracle: {bodies:?}"
    );

    let post = post_form(
        &http(),
        &server.url("/oauth2/token"),
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &wrong),
        ]),
    )
    .await;
    assert!(
        post.headers().get("www-authenticate").is_none(),
        "no Basic challenge when Basic was not used"
    );
    assert_oauth_error(post, 401, "invalid_client").await;
    let (db, _) = server.stop().await;
    assert_eq!(
        refusal_reasons(&db),
        vec![
            "unknown_client",
            "malformed_secret",
            "malformed_secret",
            "wrong_secret",
            "expired_secret",
            "malformed_secret"
        ]
    );
}

async fn malformed_requests_are_refused_with_invalid_request(db: TestDb) {
    let (client_id, secret, _) = client_with_secret(&db);
    let server = TestServer::start(db, "").await;
    let url = server.url("/oauth2/token");
    let client = http();
    let valid = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &client_id),
        ("client_secret", &secret),
    ]);

    let get = client.get(&url).send().await.unwrap();
    assert_eq!(get.headers()["allow"], "POST");
    assert_oauth_error(get, 405, "invalid_request").await;

    let in_query = client
        .post(format!("{url}?{valid}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_oauth_error(in_query, 400, "invalid_request").await;

    let json = client
        .post(&url)
        .json(&serde_json::json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json, 400, "invalid_request").await;

    let repeated = post_form(
        &client,
        &url,
        format!("{valid}&grant_type=client_credentials"),
    )
    .await;
    assert_oauth_error(repeated, 400, "invalid_request").await;

    let oversized = post_form(
        &client,
        &url,
        format!("{valid}&padding={}", "x".repeat(10_000)),
    )
    .await;
    assert_oauth_error(oversized, 400, "invalid_request").await;

    let both_methods = client
        .post(&url)
        .basic_auth(&client_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    assert_oauth_error(both_methods, 400, "invalid_request").await;

    let bad_basic = client
        .post(&url)
        .header("authorization", "Basic %%%")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(bad_basic, 400, "invalid_request").await;

    let anonymous = post_form(&client, &url, "grant_type=client_credentials".to_owned()).await;
    assert!(anonymous.headers().get("www-authenticate").is_none());
    assert_oauth_error(anonymous, 401, "invalid_client").await;

    // Percent- and plus-encoding inside HTTP Basic is decoded (RFC 6749 §2.3.1).
    let encoded = STANDARD.encode(format!("{}:{}", client_id.replace('-', "%2D"), secret));
    let encoded_basic = client
        .post(&url)
        .header("authorization", format!("Basic {encoded}"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(encoded_basic.status(), 200);
    server.stop().await;
}

async fn grant_scope_and_target_errors(db: TestDb) {
    let (client_id, secret, _) = client_with_secret(&db);
    let server = TestServer::start(db, "").await;

    let missing = post_form(
        &http(),
        &server.url("/oauth2/token"),
        form(&[("client_id", &client_id), ("client_secret", &secret)]),
    )
    .await;
    assert_oauth_error(missing, 400, "invalid_request").await;
    let password = post_form(
        &http(),
        &server.url("/oauth2/token"),
        form(&[
            ("grant_type", "password"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ]),
    )
    .await;
    assert_oauth_error(password, 400, "unsupported_grant_type").await;
    let long_and_quoted = format!("urn:\"{}\"\u{e9}", "x".repeat(500));
    let unknown = post_form(
        &http(),
        &server.url("/oauth2/token"),
        form(&[
            ("grant_type", &long_and_quoted),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ]),
    )
    .await;
    let body = assert_oauth_error(unknown, 400, "unsupported_grant_type").await;
    assert_eq!(
        body["error_description"],
        format!(
            "The grant type 'urn:'{}...' is not supported; use client_credentials.",
            "x".repeat(59)
        ),
        "repeated in RFC 6749 section 5.2's characters, cut short"
    );

    let scope = token_basic(
        &server,
        &client_id,
        &secret,
        &[("scope", "manifest.read manifest.delete")],
    )
    .await;
    assert_oauth_error(scope, 400, "invalid_scope").await;
    let target = token_basic(
        &server,
        &client_id,
        &secret,
        &[("resource", "https://api.example.org/other")],
    )
    .await;
    assert_oauth_error(target, 400, "invalid_target").await;
    let clash = token_basic(
        &server,
        &client_id,
        &secret,
        &[
            ("resource", "https://api.example.org/smc"),
            ("audience", "DM"),
        ],
    )
    .await;
    assert_oauth_error(clash, 400, "invalid_request").await;
    let by_code = token_basic(&server, &client_id, &secret, &[("audience", "smc")]).await;
    assert_eq!(by_code.status(), 200);

    // An application that may call no API is not authorized for this grant.
    let now = clavis::db::now();
    let dm = clavis_shared::portal::CreateApi {
        code: "DM".into(),
        name: "Docs".into(),
        audience: "urn:dm".into(),
        scopes: Vec::new(),
        ..Default::default()
    };
    apis::create(&mut server.db.conn(), &dm, &admin(), now).unwrap();
    let (lonely_id, lonely_secret) = another_client(&server.db, "Docs", &["DM", "SMC"]);
    let ambiguous = token_basic(&server, &lonely_id, &lonely_secret, &[]).await;
    assert_oauth_error(ambiguous, 400, "invalid_request").await;
    let dm = token_basic(
        &server,
        &lonely_id,
        &lonely_secret,
        &[("resource", "urn:dm")],
    )
    .await;
    assert_eq!(dm.status(), 200);
    let body: Value = dm.json().await.unwrap();
    assert!(
        body.get("scope").is_none(),
        "no scopes granted, none returned: {body}"
    );
    server.stop().await;
}

async fn deleted_secret_and_disabled_application_are_refused_at_once(db: TestDb) {
    let (client_id, secret, secret_id) = client_with_secret(&db);
    let server = TestServer::start(db, "token_failure_limit = 100").await;
    assert_eq!(
        token_basic(&server, &client_id, &secret, &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        token_basic(&server, &client_id, &secret, &[])
            .await
            .status(),
        200,
        "now from the verified-secret cache"
    );

    let now = clavis::db::now();
    apps::set_enabled(&mut server.db.conn(), &client_id, false, &admin(), now).unwrap();
    assert_oauth_error(
        token_basic(&server, &client_id, &secret, &[]).await,
        401,
        "invalid_client",
    )
    .await;
    apps::set_enabled(&mut server.db.conn(), &client_id, true, &admin(), now).unwrap();
    assert_eq!(
        token_basic(&server, &client_id, &secret, &[])
            .await
            .status(),
        200
    );

    secrets::delete(
        &mut server.db.conn(),
        &client_id,
        &secret_id,
        &Actor::System,
        now,
    )
    .unwrap();
    assert_oauth_error(
        token_basic(&server, &client_id, &secret, &[]).await,
        401,
        "invalid_client",
    )
    .await;
    let (db, _) = server.stop().await;
    assert_eq!(
        refusal_reasons(&db),
        vec!["disabled_application", "unknown_secret"]
    );
}

/// Concurrent requests are read from the database together: each must still be judged on
/// its own client and secret, and a secret presented under another client_id refused.
async fn concurrent_requests_each_get_their_own_clients_answer(db: TestDb) {
    let (first_id, first_secret, _) = client_with_secret(&db);
    let (second_id, second_secret) = another_client(&db, "Second", &["SMC"]);
    let server = TestServer::start(db, "token_failure_limit = 1000").await;
    let cases = [
        (first_id.as_str(), first_secret.as_str(), 200),
        (second_id.as_str(), second_secret.as_str(), 200),
        (second_id.as_str(), first_secret.as_str(), 401),
        (first_id.as_str(), second_secret.as_str(), 401),
    ];
    let requests = (0..10)
        .flat_map(|_| cases.iter())
        .map(|(id, secret, status)| {
            let server = &server;
            async move {
                let response = token_basic(server, id, secret, &[]).await;
                assert_eq!(response.status(), *status, "client {id}");
                if *status == 200 {
                    let body: Value = response.json().await.unwrap();
                    let claims = verify_independently(
                        body["access_token"].as_str().unwrap(),
                        &jwks(server).await,
                    )
                    .1;
                    assert_eq!(claims["sub"], *id);
                }
            }
        });
    futures_util::future::join_all(requests).await;
    let (db, _) = server.stop().await;
    let reasons = refusal_reasons(&db);
    assert_eq!(reasons.len(), 20);
    assert!(reasons.iter().all(|r| r == "unknown_secret"), "{reasons:?}");
}

async fn failures_are_throttled_per_address_and_client(db: TestDb) {
    let (client_id, secret, secret_id) = client_with_secret(&db);
    let server = TestServer::start(
        db,
        "token_failure_limit = 3\ntoken_failure_window_secs = 60",
    )
    .await;
    // The valid client proves its secret once before the attack.
    assert_eq!(
        token_basic(&server, &client_id, &secret, &[])
            .await
            .status(),
        200
    );

    let attacker = http_from("127.0.0.2");
    let wrong =
        secrets::value::ClientSecretValue::generate(uuid::Uuid::parse_str(&secret_id).unwrap());
    let attempt = |from: reqwest::Client| {
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", wrong.expose()),
        ]);
        let url = server.url("/oauth2/token");
        async move { post_form(&from, &url, body).await }
    };
    for _ in 0..3 {
        assert_eq!(attempt(attacker.clone()).await.status(), 401);
    }
    let throttled = attempt(attacker.clone()).await;
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry_after), "{retry_after}");
    assert_oauth_error(throttled, 429, "slow_down").await;

    // Another machine guessing for the same client_id is held back too (no argon2id work) ...
    let elsewhere = attempt(http_from("127.0.0.3")).await;
    assert_oauth_error(elsewhere, 429, "slow_down").await;
    // ... while the valid client, from its own address, is not slowed at all.
    for _ in 0..5 {
        assert_eq!(
            token_basic(&server, &client_id, &secret, &[])
                .await
                .status(),
            200
        );
    }
    server.stop().await;
}

pub(crate) async fn introspect(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    token: &str,
) -> Value {
    let response = http()
        .post(server.url("/oauth2/introspect"))
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_no_store(&response);
    response.json().await.unwrap()
}

pub(crate) async fn revoke(server: &TestServer, client_id: &str, secret: &str, token: &str) -> u16 {
    http()
        .post(server.url("/oauth2/revoke"))
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", token),
            ("token_type_hint", "access_token"),
        ]))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn introspection_and_revocation(db: TestDb) {
    let (client_id, secret, _) = client_with_secret(&db);
    let (other_id, other_secret) = another_client(&db, "Other", &["SMC"]);
    let server = TestServer::start(db, "").await;
    let token = access_token(&server, &client_id, &secret).await;

    // Only the token's own client (or a registered resource server) learns about it.
    assert_eq!(
        introspect(&server, &other_id, &other_secret, &token).await,
        serde_json::json!({ "active": false })
    );
    let active = introspect(&server, &client_id, &secret, &token).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], client_id.as_str());
    assert_eq!(active["scope"], "manifest.read manifest.write");
    assert_eq!(active["aud"], "https://api.example.org/smc");
    for garbage in ["not-a-token", "a.b.c", &token[..token.len() - 4]] {
        assert_eq!(
            introspect(&server, &client_id, &secret, garbage).await,
            serde_json::json!({ "active": false })
        );
    }
    let unauthenticated = post_form(
        &http(),
        &server.url("/oauth2/introspect"),
        form(&[("token", &token)]),
    )
    .await;
    assert_oauth_error(unauthenticated, 401, "invalid_client").await;

    // Another client cannot revoke it; its own client can; unknown tokens get 200 too.
    assert_eq!(revoke(&server, &other_id, &other_secret, &token).await, 200);
    assert_eq!(
        introspect(&server, &client_id, &secret, &token).await["active"],
        true
    );
    assert_eq!(revoke(&server, &client_id, &secret, &token).await, 200);
    assert_eq!(
        introspect(&server, &client_id, &secret, &token).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(
        revoke(&server, &client_id, &secret, &token).await,
        200,
        "revoking twice is fine"
    );
    assert_eq!(revoke(&server, &client_id, &secret, "unknown").await, 200);
    let fresh = access_token(&server, &client_id, &secret).await;
    assert_eq!(
        introspect(&server, &client_id, &secret, &fresh).await["active"],
        true
    );
    server.stop().await;
}

async fn token_signed_before_rotation_still_validates_after_it(db: TestDb) {
    let (client_id, secret, _) = client_with_secret(&db);
    let server = TestServer::start(db, "key_publish_lead_secs = 2").await;
    let before = access_token(&server, &client_id, &secret).await;
    let (old_header, _) = verify_independently(&before, &jwks(&server).await);

    let new_kid = {
        let mut conn = server.db.conn();
        server
            .state
            .keys
            .rotate(&mut conn, None, chrono::Utc::now())
            .unwrap()
            .remove(0)
    };
    let published = jwks(&server).await;
    assert_eq!(
        published["keys"].as_array().unwrap().len(),
        2,
        "published before it signs"
    );
    let (still_old, _) = verify_independently(
        &access_token(&server, &client_id, &secret).await,
        &published,
    );
    assert_eq!(
        still_old["kid"], old_header["kid"],
        "the new key does not sign yet"
    );

    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let after = access_token(&server, &client_id, &secret).await;
    let published = jwks(&server).await;
    let (new_header, _) = verify_independently(&after, &published);
    assert_eq!(new_header["kid"], new_kid.as_str());
    verify_independently(&before, &published);
    assert_eq!(
        introspect(&server, &client_id, &secret, &before).await["active"],
        true
    );
    server.stop().await;
}

async fn issued_tokens_and_last_use_are_recorded(db: TestDb) {
    let (client_id, secret, secret_id) = client_with_secret(&db);
    let server = TestServer::start(db, "").await;
    for _ in 0..5 {
        access_token(&server, &client_id, &secret).await;
    }
    let (db, _) = server.stop().await;
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    let issued: i64 = audit_events::table
        .filter(audit_events::action.eq("token.issue"))
        .filter(audit_events::outcome.eq("success"))
        .filter(audit_events::secret_id.eq(&secret_id))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(issued, 5, "every token is audited, none lost at shutdown");
    let listed = secrets::list(conn, &client_id, clavis::db::now()).unwrap();
    let last_used = listed[0].last_used_at.expect("last use is recorded");
    assert!(clavis::db::now() - last_used < Duration::minutes(1));
}

/// APIs registered before APIs had their own algorithm keep the configured one.
#[actix_web::test]
async fn rs256_and_eddsa_tokens_verify_too() {
    for algorithm in ["RS256", "EdDSA"] {
        let db = TestDb::sqlite();
        let (client_id, secret, _) = client_with_secret(&db);
        {
            use clavis::db::schema::apis;
            let mut conn = db.conn();
            let conn: &mut DbConn = &mut conn;
            diesel::update(apis::table)
                .set(apis::signing_alg.eq(None::<String>))
                .execute(conn)
                .unwrap();
        }
        let server = TestServer::start(db, &format!("token_signing_alg = \"{algorithm}\"")).await;
        let token = access_token(&server, &client_id, &secret).await;
        let (header, _) = verify_independently(&token, &jwks(&server).await);
        assert_eq!(header["alg"], algorithm);
        assert_eq!(
            introspect(&server, &client_id, &secret, &token).await["active"],
            true
        );
        server.stop().await;
    }
}

#[actix_web::test]
async fn configured_issuer_is_the_tokens_iss() {
    let db = TestDb::sqlite();
    let (client_id, secret, _) = client_with_secret(&db);
    let server = TestServer::start(db, "issuer = \"https://id.example.org/\"").await;
    let metadata: Value = http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://id.example.org");
    let (_, claims) = verify_independently(
        &access_token(&server, &client_id, &secret).await,
        &jwks(&server).await,
    );
    assert_eq!(claims["iss"], metadata["issuer"]);
    server.stop().await;
}

#[actix_web::test]
async fn signing_keys_need_the_master_key_they_were_sealed_with() {
    let server = TestServer::start(TestDb::sqlite(), "").await;
    let (db, dir) = server.stop().await;
    std::fs::write(
        dir.path().join("master.key"),
        format!("{}\n", STANDARD.encode([9u8; 32])),
    )
    .unwrap();
    let config_file = dir.path().join("clavis.toml");
    let config = clavis::config::Config::load(Some(&config_file)).unwrap();
    let error = match clavis::app::start(&config, db.db.clone()).await {
        Err(error) => error.to_string(),
        Ok(_) => panic!("a wrong master key must stop the start"),
    };
    assert!(
        error.contains("cannot be opened with the master key file"),
        "{error}"
    );
    std::fs::remove_file(dir.path().join("master.key")).unwrap();
    let error = clavis::app::start(&config, db.db.clone())
        .await
        .err()
        .expect("a missing key file")
        .to_string();
    assert!(
        error.contains("did not exist and was just created"),
        "{error}"
    );
}

#[test]
fn sealed_private_keys_are_not_stored_in_the_clear() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let settings = clavis::config::Config::load(None).unwrap().keys;
    let settings = clavis::keys::KeySettings {
        master_key: clavis::keys::MasterKeySource::File(dir.path().join("master.key")),
        ..settings
    };
    let keys =
        clavis::keys::Keys::open(&mut db.conn(), settings, 3600, chrono::Utc::now()).unwrap();
    let sealed: String = {
        use clavis::db::schema::signing_keys;
        let mut conn = db.conn();
        let conn: &mut DbConn = &mut conn;
        signing_keys::table
            .select(signing_keys::sealed_private_key)
            .first(conn)
            .unwrap()
    };
    assert!(!sealed.contains("PRIVATE"));
    assert_eq!(
        keys.ring().jwks(chrono::Utc::now())["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[actix_web::test]
async fn connections_heal_after_postgres_drops_them() {
    let db = TestDb::postgres();
    let (client_id, secret, _) = client_with_secret(&db);
    let server = TestServer::start(db, "").await;
    assert_eq!(
        token_basic(&server, &client_id, &secret, &[])
            .await
            .status(),
        200
    );
    let database = server.db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = PgConnection::establish("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut admin)
    .unwrap();
    // Each dropped pooled connection fails one request and is then replaced, so at most as
    // many requests fail as the pool holds connections (4 here).
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let ready = http().get(server.url("/readyz")).send().await.unwrap();
        statuses.push(ready.status().as_u16());
    }
    assert_eq!(
        statuses[0], 503,
        "the first request meets a dropped connection: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    let failed = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        failed <= 4,
        "each connection fails at most once: {statuses:?}"
    );
    // The credential readers reconnect and read again: no token request fails.
    for _ in 0..20 {
        assert_eq!(
            token_basic(&server, &client_id, &secret, &[])
                .await
                .status(),
            200
        );
    }
    server.stop().await;
}

/// Registers an API whose tokens are signed with `algorithm`.
fn register_api(db: &TestDb, code: &str, algorithm: SigningAlgorithm) -> String {
    let audience = format!("https://api.example.org/{}", code.to_lowercase());
    let new = clavis_shared::portal::CreateApi {
        code: code.into(),
        name: format!("API {code}"),
        audience: audience.clone(),
        scopes: vec!["read".into()],
        signing_alg: Some(algorithm),
        ..Default::default()
    };
    apis::create(&mut db.conn(), &new, &admin(), clavis::db::now()).unwrap();
    audience
}

/// Checks a token as a resource server would: the key by `kid` from the JWKS it fetched, the
/// algorithm it expects (never the token's own say), and its audience. Returns the header.
fn verify_as_resource_server(
    token: &str,
    jwks: &Value,
    expected: jsonwebtoken::Algorithm,
    audience: &str,
) -> jsonwebtoken::Header {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the token's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(expected);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a valid token");
    header
}

async fn each_api_signs_with_its_own_algorithm(db: TestDb) {
    let seeded = seed(&db);
    let reg = register_api(&db, "REG", SigningAlgorithm::Rs256);
    let edx = register_api(&db, "EDX", SigningAlgorithm::EdDsa);
    let (client_id, secret) = another_client(&db, "Multi", &["SMC", "REG", "EDX"]);
    drop(seeded);
    let server = TestServer::start(db, "").await;
    let published = jwks(&server).await;
    assert_eq!(
        published["keys"].as_array().unwrap().len(),
        3,
        "one key each"
    );
    assert_eq!(jwks_algorithms(&published), ["ES256", "EdDSA", "RS256"]);

    use jsonwebtoken::Algorithm::{ES256, EdDSA, RS256};
    for (audience, expected, name) in [
        ("https://api.example.org/smc", ES256, "ES256"),
        (reg.as_str(), RS256, "RS256"),
        (edx.as_str(), EdDSA, "EdDSA"),
    ] {
        let response = token_basic(&server, &client_id, &secret, &[("resource", audience)]).await;
        assert_eq!(response.status(), 200, "{audience}");
        let body: Value = response.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        let header = verify_as_resource_server(token, &published, expected, audience);
        assert_eq!(header.alg, expected);
        let (raw_header, _) = verify_independently(token, &published);
        assert_eq!(raw_header["alg"], name, "the header says {name}");
        // A resource server pinning another algorithm refuses it.
        let other = if expected == ES256 { RS256 } else { ES256 };
        let key = jsonwebtoken::DecodingKey::from_jwk(
            &serde_json::from_value(
                published["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|key| key["kid"] == raw_header["kid"])
                    .unwrap()
                    .clone(),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(
            jsonwebtoken::decode::<Value>(token, &key, &jsonwebtoken::Validation::new(other))
                .is_err()
        );
        assert_eq!(
            introspect(&server, &client_id, &secret, token).await["active"],
            true
        );
    }
    let metadata = server
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        metadata["access_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256", "EdDSA"])
    );
    server.stop().await;
}

async fn a_missing_key_gets_a_clear_answer_until_maintenance_makes_it(db: TestDb) {
    seed(&db);
    let server = TestServer::start(db, "").await;
    // Let the first scheduled maintenance pass (it replaces the ring); the next is 30 s away.
    let opened = server.state.keys.ring();
    for _ in 0..200 {
        if !std::sync::Arc::ptr_eq(&opened, &server.state.keys.ring()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // As if another instance registered the API and this one has not reloaded its keys yet.
    let reg = register_api(&server.db, "REG", SigningAlgorithm::Rs256);
    let (client_id, secret) = another_client(&server.db, "Registry client", &["REG"]);
    let response = token_basic(&server, &client_id, &secret, &[]).await;
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_oauth_error(response, 503, "temporarily_unavailable").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("No RS256 signing key is ready yet"),
        "{body}"
    );

    let keys = server.state.keys.clone();
    let db = server.db.db.clone();
    db.run(move |conn| keys.maintain(conn, chrono::Utc::now()))
        .await
        .unwrap();
    let token = access_token(&server, &client_id, &secret).await;
    let header = verify_as_resource_server(
        &token,
        &jwks(&server).await,
        jsonwebtoken::Algorithm::RS256,
        &reg,
    );
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    server.stop().await;
}
