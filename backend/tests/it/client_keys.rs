//! Public keys and certificates (issue 18): registering them, with every refusal, and
//! `private_key_jwt` at the token, introspection and revocation endpoints, on SQLite and
//! PostgreSQL. Keys and certificates come from rcgen (aws-lc), assertions are signed by
//! jsonwebtoken as a client would; the node and Python clients are in `assertion_clients`.

use chrono::{Duration, Utc};
use clavis::client_keys;
use clavis::db::{DbConn, schema::audit_events};
use clavis_shared::dto::{ClientKeyInfo, ClientKeyKind};
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, KeyPair};
use serde_json::{Value, json};

use crate::oauth::form;
use crate::on_both_databases;
use crate::on_both_databases_async;
use crate::server::{TestServer, http};
use crate::support::{TestDb, admin, seed};

on_both_databases!(keys_are_added_listed_deleted_and_refused_clearly);

#[actix_web::test]
async fn a_jti_is_accepted_once_across_two_instances_on_postgresql() {
    let db = TestDb::postgres();
    let client_id = seed(&db).application.client_id;
    let key = ClientKey::new(Algorithm::ES256);
    add_public_key(&db, &client_id, "k", &key);
    // Each refused replay counts as a failed guess: a roomy window keeps this test about
    // replays, not throttling.
    let roomy = "token_failure_limit = 1000";
    let first = TestServer::start(db, roomy).await;
    let second = first.another_instance(roomy).await;
    let issuer = first.state.oauth.issuer.clone();
    assert_eq!(
        second.state.oauth.issuer, issuer,
        "one issuer behind the load balancer"
    );
    // Each assertion is sent to both instances at once, 20 times over: exactly one wins.
    for _ in 0..20 {
        let assertion = key.sign(None, &claims(&client_id, &issuer));
        let (a, b) = tokio::join!(
            token_with_assertion(&first.base, &assertion, &[]),
            token_with_assertion(&second.base, &assertion, &[]),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401]);
    }
    let fresh = key.sign(None, &claims(&client_id, &issuer));
    assert_eq!(
        token_with_assertion(&second.base, &fresh, &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        token_with_assertion(&first.base, &fresh, &[])
            .await
            .status(),
        401
    );
    second.stop().await;
    let (db, _) = first.stop().await;
    assert_eq!(db.count("client_assertion_jtis"), 21);
}
on_both_databases_async!(
    private_key_jwt_issues_tokens_for_each_key_type,
    every_bad_assertion_is_invalid_client_with_its_reason_audited,
    a_deleted_key_stops_working_and_its_tokens_go_inactive,
    failed_assertions_are_throttled_like_wrong_secrets,
);

/// A key pair of `alg`'s type, as a client keeps it.
pub(crate) struct ClientKey {
    pub(crate) pair: KeyPair,
    pub(crate) alg: Algorithm,
}

impl ClientKey {
    pub(crate) fn new(alg: Algorithm) -> Self {
        let kind = match alg {
            Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Algorithm::ES384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Algorithm::EdDSA => &rcgen::PKCS_ED25519,
            _ => &rcgen::PKCS_RSA_SHA256,
        };
        Self {
            pair: KeyPair::generate_for(kind).unwrap(),
            alg,
        }
    }

    /// A self-signed certificate of this key, valid from yesterday for `days`.
    pub(crate) fn certificate(&self, days: i64) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "billing-service");
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let now = Utc::now().timestamp();
        let at = |secs: i64| epoch + std::time::Duration::from_secs(secs.try_into().unwrap());
        params.not_before = at(now - 86_400);
        params.not_after = at(now + days * 86_400);
        params.self_signed(&self.pair).unwrap().pem()
    }

    fn encoding_key(&self) -> EncodingKey {
        let pkcs8 = self.pair.serialize_der();
        match self.alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_der(&pkcs8),
            Algorithm::EdDSA => EncodingKey::from_ed_der(&pkcs8),
            _ => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::pkcs8::DecodePrivateKey;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap();
                EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
            }
        }
    }

    /// `claims` signed with this key, the header naming `kid`.
    pub(crate) fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).unwrap()
    }
}

/// Registers `key`'s public key for `client_id` as `name`, expiring in 10 days.
fn add_public_key(db: &TestDb, client_id: &str, name: &str, key: &ClientKey) -> ClientKeyInfo {
    let now = clavis::db::now();
    client_keys::add(
        &mut db.conn(),
        client_id,
        name,
        &key.pair.public_key_pem(),
        Some(now + Duration::days(10)),
        &admin(),
        now,
    )
    .unwrap()
}

/// Good assertion claims for `client_id`, addressed to `audience`, with a new jti.
pub(crate) fn claims(client_id: &str, audience: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + 120, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// A client-credentials request authenticated by `assertion`.
pub(crate) async fn token_with_assertion(
    base: &str,
    assertion: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    pairs.extend_from_slice(extra);
    http()
        .post(format!("{base}/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .unwrap()
}

fn message(error: clavis::error::Error) -> String {
    error.to_string()
}

fn keys_are_added_listed_deleted_and_refused_clearly(db: &TestDb) {
    let seeded = seed(db);
    let client_id = seeded.application.client_id.as_str();
    let mut conn = db.conn();
    let now = clavis::db::now();
    let in_90_days = Some(now + Duration::days(90));
    let add = |conn: &mut clavis::db::PooledConn, name: &str, key: &str, expires| {
        client_keys::add(conn, client_id, name, key, expires, &admin(), now)
    };

    let ec = ClientKey::new(Algorithm::ES256);
    let certificate = add(&mut conn, "billing cert", &ec.certificate(90), None).unwrap();
    assert_eq!(certificate.kind, ClientKeyKind::Certificate);
    assert_eq!(certificate.key_type, "EC P-256");
    assert_eq!(certificate.subject, "CN=billing-service");
    assert_eq!(certificate.kid, certificate.thumbprint);
    assert_eq!(certificate.thumbprint.len(), 43, "SHA-256, base64url");
    assert!(
        (certificate.expires_at - (now + Duration::days(90)))
            .num_seconds()
            .abs()
            < 5
    );

    let ed = ClientKey::new(Algorithm::EdDSA);
    let public_key = add(&mut conn, "ed key", &ed.pair.public_key_pem(), in_90_days).unwrap();
    assert_eq!(
        (public_key.kind, public_key.key_type.as_str()),
        (ClientKeyKind::PublicKey, "Ed25519")
    );

    let rsa = ClientKey::new(Algorithm::RS256);
    let jwk = rsa_jwk(&rsa, Some("rsa-2026"));
    let from_jwk = add(&mut conn, "rsa jwk", &jwk, in_90_days).unwrap();
    assert_eq!(from_jwk.kid, "rsa-2026");
    assert_eq!(from_jwk.key_type, "RSA 2048");

    let listed = client_keys::list(&mut conn, client_id, now).unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|key| key.last_used_at.is_none()));

    // Every refusal says what is wrong; none stores anything.
    let refusals = [
        (ec.pair.serialize_pem(), None, "private key"),
        (ec.certificate(-1), None, "expired on"),
        (ec.certificate(3 * 365), None, "more than two years"),
        (
            ClientKey::new(Algorithm::ES384).certificate(30),
            in_90_days,
            "leave the expiry out",
        ),
        (
            ClientKey::new(Algorithm::ES384).pair.public_key_pem(),
            None,
            "Choose when this key expires",
        ),
        (ec.certificate(60), None, "already has this key"),
        (
            rsa_jwk(&ClientKey::new(Algorithm::RS256), Some("rsa-2026")),
            in_90_days,
            "already has a key with the kid",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----".to_owned(),
            None,
            "malformed",
        ),
        (
            r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#.to_owned(),
            in_90_days,
            "P-256 or P-384",
        ),
        (
            r#"{"kty":"oct","k":"c2VjcmV0"}"#.to_owned(),
            in_90_days,
            "private key",
        ),
        ("hello".to_owned(), in_90_days, "is not a PEM certificate"),
    ];
    for (key, expires, expected) in refusals {
        let refused = message(add(&mut conn, "refused", &key, expires).unwrap_err());
        assert!(
            refused.contains(expected),
            "{expected:?} not in {refused:?}"
        );
        assert!(
            !refused.contains("MIG"),
            "the refusal repeats key material: {refused}"
        );
    }
    assert_eq!(db.count("client_keys"), 3);

    // At most ten active keys.
    for n in 3..10 {
        let key = ClientKey::new(Algorithm::ES256).pair.public_key_pem();
        add(&mut conn, &format!("key {n}"), &key, in_90_days).unwrap();
    }
    let key = ClientKey::new(Algorithm::ES256).pair.public_key_pem();
    let refused = message(add(&mut conn, "eleventh", &key, in_90_days).unwrap_err());
    assert!(refused.contains("already has 10 active"), "{refused}");

    client_keys::delete(&mut conn, client_id, &from_jwk.id, &admin(), now).unwrap();
    let refused = message(
        client_keys::delete(&mut conn, client_id, &from_jwk.id, &admin(), now).unwrap_err(),
    );
    assert!(
        refused.contains("has no public key or certificate"),
        "{refused}"
    );
    assert_eq!(db.count("client_keys"), 9);
    let conn: &mut DbConn = &mut conn;
    let actions: Vec<String> = audit_events::table
        .filter(audit_events::action.like("client_key.%"))
        .select(audit_events::action)
        .load(conn)
        .unwrap();
    assert_eq!(
        actions.iter().filter(|a| *a == "client_key.add").count(),
        10
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "client_key.delete").count(),
        1
    );
}

/// The RSA key's public JWK, with `kid`, as a client would publish it.
fn rsa_jwk(key: &ClientKey, kid: Option<&str>) -> String {
    let material = client_keys::public_key::read(&key.pair.public_key_pem()).unwrap();
    let mut jwk = material.jwk;
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk["use"] = json!("sig");
    jwk.to_string()
}

async fn private_key_jwt_issues_tokens_for_each_key_type(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id.clone();
    let now = clavis::db::now();
    let keys: Vec<ClientKey> = [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::PS256,
    ]
    .into_iter()
    .map(ClientKey::new)
    .collect();
    let mut kids = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        let added = client_keys::add(
            &mut db.conn(),
            &client_id,
            &format!("key {n}"),
            &key.certificate(30),
            None,
            &admin(),
            now,
        )
        .unwrap();
        kids.push(added.kid);
    }
    let server = TestServer::start(db, "").await;
    let issuer = server.state.oauth.issuer.clone();
    let token_endpoint = server.url("/oauth2/token");
    for (key, kid) in keys.iter().zip(&kids) {
        // Either audience is accepted; the kid may be left out.
        for (audience, kid) in [(&issuer, Some(kid.as_str())), (&token_endpoint, None)] {
            let assertion = key.sign(kid, &claims(&client_id, audience));
            let response = token_with_assertion(&server.base, &assertion, &[]).await;
            assert_eq!(
                response.status(),
                200,
                "{:?}: {}",
                key.alg,
                response.text().await.unwrap()
            );
            let body: Value = response.json().await.unwrap();
            let token = body["access_token"].as_str().unwrap();
            let payload = decode_payload(token);
            assert_eq!(payload["client_id"], client_id.as_str());
            assert!(payload.get("client_secret_id").is_none());
            assert!(payload["client_key_id"].is_string());
        }
    }
    let metadata = server
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    let algs = &metadata["token_endpoint_auth_signing_alg_values_supported"];
    assert!(algs.as_array().unwrap().contains(&json!("ES256")));
    assert!(!algs.as_array().unwrap().contains(&json!("HS256")));
    // The audit trail names the key and its kind.
    let (db, _) = server.stop().await;
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    let issued: Vec<String> = audit_events::table
        .filter(audit_events::action.eq("token.issue"))
        .select(audit_events::details)
        .load(conn)
        .unwrap();
    assert_eq!(issued.len(), 8);
    let first: Value = serde_json::from_str(&issued[0]).unwrap();
    assert_eq!(first["credential"]["kind"], "certificate");
}

async fn every_bad_assertion_is_invalid_client_with_its_reason_audited(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id.clone();
    let now = clavis::db::now();
    let key = ClientKey::new(Algorithm::ES256);
    let kid = client_keys::add(
        &mut db.conn(),
        &client_id,
        "k",
        &key.certificate(30),
        None,
        &admin(),
        now,
    )
    .unwrap()
    .kid;
    let server = TestServer::start(db, "").await;
    let issuer = server.state.oauth.issuer.clone();
    let good = || claims(&client_id, &issuer);
    let with = |changes: Value| {
        let mut claims = good();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    };
    let stranger = ClientKey::new(Algorithm::ES256);
    let at = Utc::now().timestamp();
    let replayed = key.sign(Some(&kid), &good());
    assert_eq!(
        token_with_assertion(&server.base, &replayed, &[])
            .await
            .status(),
        200
    );
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good(),
        &EncodingKey::from_secret(b"shared"),
    )
    .unwrap();
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&good().to_string())
    );
    let cases: Vec<(String, &str)> = vec![
        (
            key.sign(
                Some(&kid),
                &with(json!({"aud": "https://elsewhere.example"})),
            ),
            "wrong_audience",
        ),
        (
            key.sign(Some(&kid), &with(json!({"exp": at - 120, "iat": at - 200}))),
            "expired_assertion",
        ),
        (
            key.sign(Some(&kid), &with(json!({"exp": null}))),
            "missing_claim",
        ),
        (
            key.sign(Some(&kid), &with(json!({"jti": null}))),
            "missing_claim",
        ),
        (
            key.sign(Some(&kid), &with(json!({"exp": at + 3600}))),
            "assertion_too_long_lived",
        ),
        (
            key.sign(Some(&kid), &with(json!({"iss": "someone-else"}))),
            "wrong_issuer",
        ),
        (replayed, "replayed_assertion"),
        (stranger.sign(Some(&kid), &good()), "bad_signature"),
        (key.sign(Some("no-such-kid"), &good()), "unknown_key"),
        (hmac, "wrong_algorithm"),
        (none, "wrong_algorithm"),
        ("not.a.jwt".to_owned(), "malformed_assertion"),
    ];
    for (assertion, _) in &cases {
        let response =
            token_with_assertion(&server.base, assertion, &[("client_id", &client_id)]).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert!(!body.to_string().contains(&kid));
    }
    // A secret beside an assertion, or half an assertion, is a malformed request.
    let assertion = key.sign(Some(&kid), &good());
    let both = token_with_assertion(&server.base, &assertion, &[("client_secret", "x")]).await;
    assert_eq!(both.status(), 400);
    let body: Value = both.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not both"),
        "{body}"
    );
    let wrong_type = http()
        .post(server.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &assertion),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 400);
    let expected: Vec<&str> = cases.iter().map(|(_, reason)| *reason).collect();
    let (db, _) = server.stop().await;
    assert_eq!(assertion_refusals(&db), expected);
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The audit trail's reasons for refused assertions, oldest first.
pub(crate) fn assertion_refusals(db: &TestDb) -> Vec<String> {
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    let details: Vec<String> = audit_events::table
        .filter(audit_events::action.eq("client.authenticate"))
        .order(audit_events::id)
        .select(audit_events::details)
        .load(conn)
        .unwrap();
    details
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|d| d["auth_method"] == "private_key_jwt")
        .map(|d| d["reason"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_deleted_key_stops_working_and_its_tokens_go_inactive(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id.clone();
    let key = ClientKey::new(Algorithm::ES256);
    let added = add_public_key(&db, &client_id, "k", &key);
    let server = TestServer::start(db, "").await;
    let issuer = server.state.oauth.issuer.clone();
    let response = token_with_assertion(
        &server.base,
        &key.sign(None, &claims(&client_id, &issuer)),
        &[],
    )
    .await;
    let token: Value = response.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    // Introspection takes assertions too.
    let answer = introspect(&server, &key, &client_id, &token).await;
    assert_eq!(answer["active"], true, "{answer}");

    // Last use is written back in batches.
    server
        .state
        .oauth
        .usage
        .flush(&server.state.db)
        .await
        .unwrap();
    let listed = client_keys::list(&mut server.db.conn(), &client_id, clavis::db::now()).unwrap();
    assert!(listed[0].last_used_at.is_some());

    // A second key keeps introspection possible after the first is deleted.
    let second = ClientKey::new(Algorithm::EdDSA);
    add_public_key(&server.db, &client_id, "k2", &second);
    client_keys::delete(
        &mut server.db.conn(),
        &client_id,
        &added.id,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    let refused = token_with_assertion(
        &server.base,
        &key.sign(None, &claims(&client_id, &issuer)),
        &[],
    )
    .await;
    assert_eq!(refused.status(), 401);
    let answer = introspect(&server, &second, &client_id, &token).await;
    assert_eq!(
        answer["active"], false,
        "the token of a deleted key: {answer}"
    );
}

/// What introspection says of `token`, asked by `client_id` with an assertion of `key`.
async fn introspect(server: &TestServer, key: &ClientKey, client_id: &str, token: &str) -> Value {
    let assertion = key.sign(None, &claims(client_id, &server.state.oauth.issuer));
    let body = form(&[
        ("token", token),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", &assertion),
    ]);
    http()
        .post(server.url("/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The claims of a JWT, unverified (the tests of signatures are elsewhere).
pub(crate) fn decode_payload(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn failed_assertions_are_throttled_like_wrong_secrets(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let key = ClientKey::new(Algorithm::ES256);
    add_public_key(&db, &client_id, "k", &key);
    let server = TestServer::start(db, "token_failure_limit = 3").await;
    let issuer = server.state.oauth.issuer.clone();
    // Many good assertions at once are no guesses: none is throttled.
    let good: Vec<String> = (0..12)
        .map(|_| key.sign(None, &claims(&client_id, &issuer)))
        .collect();
    let answers = futures_util::future::join_all(
        good.iter()
            .map(|assertion| token_with_assertion(&server.base, assertion, &[])),
    )
    .await;
    assert!(answers.iter().all(|answer| answer.status() == 200));
    // Three bad signatures fill the window; then even a good assertion waits.
    let stranger = ClientKey::new(Algorithm::ES256);
    for _ in 0..3 {
        let forged = stranger.sign(None, &claims(&client_id, &issuer));
        assert_eq!(
            token_with_assertion(&server.base, &forged, &[])
                .await
                .status(),
            401
        );
    }
    let forged = stranger.sign(None, &claims(&client_id, &issuer));
    let throttled = token_with_assertion(&server.base, &forged, &[]).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let good = key.sign(None, &claims(&client_id, &issuer));
    assert_eq!(
        token_with_assertion(&server.base, &good, &[])
            .await
            .status(),
        429
    );
}
