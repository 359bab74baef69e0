//! Federated workload identity (issue 18, part 2), on SQLite and PostgreSQL. A small OpenID
//! Connect issuer run by the test ([`Publisher`] on real HTTPS, serving a discovery document
//! and a key set) plays a Kubernetes cluster: it signs service account tokens with
//! `sub=system:serviceaccount:ns:name`, and rotates its key. Every refusal is checked for
//! its answer and the reason the audit trail records.

use chrono::Utc;
use clavis::db::{DbConn, schema::audit_events};
use clavis::federation;
use clavis::key_sets::RemoteKeySets;
use clavis_shared::portal::AddFederatedCredential;
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::Duration;

use crate::client_keys::{ClientKey, decode_payload, token_with_assertion};
use crate::on_both_databases_async;
use crate::publisher::Publisher;
use crate::server::TestServer;
use crate::support::{TestDb, admin, seed};
use crate::tls::TestCa;

const WORKLOAD: &str = "system:serviceaccount:billing:exporter";

on_both_databases_async!(
    issuers_are_trusted_only_when_discovery_works,
    federated_tokens_prove_the_application_and_every_bad_one_is_refused,
    issuers_and_federated_credentials_from_the_command_line,
);

/// A workload platform's issuer: discovery at its base URL, keys at `/jwks.json`.
fn start_issuer(ca: &TestCa) -> Publisher {
    let issuer = Publisher::start(ca);
    issuer.serve(
        "/.well-known/openid-configuration",
        json!({ "issuer": issuer.base, "jwks_uri": issuer.url }),
    );
    issuer
}

fn fetcher(issuer: &Publisher) -> RemoteKeySets {
    RemoteKeySets::new(
        Some(&issuer.dir.path().join("ca.pem")),
        Duration::from_secs(60),
    )
    .unwrap()
}

async fn refusal_of(remote: &RemoteKeySets, issuer: &str) -> String {
    federation::check_discovery(remote, issuer)
        .await
        .unwrap_err()
        .to_string()
}

fn credential(issuer: &str, subject: &str, audience: Option<&str>) -> AddFederatedCredential {
    AddFederatedCredential {
        name: "billing exporter".to_owned(),
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        audience: audience.map(str::to_owned),
    }
}

async fn issuers_are_trusted_only_when_discovery_works(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let ca = TestCa::new("Platform test CA");
    let issuer = start_issuer(&ca);
    let remote = fetcher(&issuer);
    let now = clavis::db::now();

    // Not an https URL, or no discovery, or discovery of another issuer, or no usable key.
    let refused = federation::issuer_identifier("http://cluster.example").unwrap_err();
    assert!(refused.message.contains("https"), "{refused}");
    let elsewhere = format!("{}/tenant-2", issuer.base);
    assert!(refusal_of(&remote, &elsewhere).await.contains("404"));
    issuer.serve(
        "/.well-known/openid-configuration",
        json!({ "issuer": "https://impostor.example", "jwks_uri": issuer.url }),
    );
    let named = refusal_of(&remote, &issuer.base).await;
    assert!(named.contains("impostor.example"), "{named}");
    issuer.serve(
        "/.well-known/openid-configuration",
        json!({ "issuer": issuer.base, "jwks_uri": issuer.url }),
    );
    let empty = refusal_of(&remote, &issuer.base).await;
    assert!(empty.contains("no signing key"), "{empty}");

    // A private key published by mistake: the issuer is refused (anyone may sign with it).
    // Members that are not keys at all are ignored (RFC 7517 section 5).
    let key = ClientKey::new(Algorithm::ES256);
    let private = clavis_jwk_with_private_part(&key);
    issuer.serve("/jwks.json", json!({ "keys": [private, 5] }));
    let leaky = refusal_of(&remote, &issuer.base).await;
    assert!(leaky.contains("publishes 1 private key"), "{leaky}");

    issuer.publish(&[(&key, "k1")]);
    federation::check_discovery(&remote, &issuer.base)
        .await
        .unwrap();
    let mut conn = db.conn();
    let trusted =
        federation::trust(&mut conn, &issuer.base, Some("Cluster 1"), &admin(), now).unwrap();
    assert_eq!(trusted.name, "Cluster 1");
    let again = federation::trust(&mut conn, &issuer.base, None, &admin(), now).unwrap_err();
    assert!(again.to_string().contains("already trusted"), "{again}");

    // Credentials: exact subjects of trusted issuers, at most 10, no duplicates.
    let audience = Some("https://clavis.example");
    let cases = [
        (
            credential(&issuer.base, "system:serviceaccount:billing:*", audience),
            "wildcards",
        ),
        (credential(&issuer.base, " ", audience), "must not be empty"),
        (
            credential("https://untrusted.example", WORKLOAD, audience),
            "not a trusted issuer",
        ),
        (
            credential(&issuer.base, WORKLOAD, Some("https://*.example")),
            "wildcards",
        ),
        (
            credential(&issuer.base, &format!("{WORKLOAD}\u{200b}"), audience),
            "invisible",
        ),
    ];
    for (bad, expected) in cases {
        let refused = federation::add(&mut conn, &client_id, &bad, "https://clavis", &admin(), now)
            .unwrap_err()
            .to_string();
        assert!(refused.contains(expected), "{refused}");
    }
    let added = federation::add(
        &mut conn,
        &client_id,
        &credential(&issuer.base, WORKLOAD, None),
        "https://clavis.example/default",
        &admin(),
        now,
    )
    .unwrap();
    assert_eq!(
        added.audience, "https://clavis.example/default",
        "the default audience"
    );
    assert_eq!(added.issuer_name, "Cluster 1");
    let twice = federation::add(
        &mut conn,
        &client_id,
        &credential(&issuer.base, WORKLOAD, audience),
        "https://clavis",
        &admin(),
        now,
    )
    .unwrap_err();
    assert!(twice.to_string().contains("already accepts"), "{twice}");
    for n in 1..10 {
        let other = credential(&issuer.base, &format!("{WORKLOAD}-{n}"), audience);
        federation::add(
            &mut conn,
            &client_id,
            &other,
            "https://clavis",
            &admin(),
            now,
        )
        .unwrap();
    }
    let eleventh = credential(&issuer.base, &format!("{WORKLOAD}-11"), audience);
    let full = federation::add(
        &mut conn,
        &client_id,
        &eleventh,
        "https://clavis",
        &admin(),
        now,
    )
    .unwrap_err();
    assert!(
        full.to_string().contains("10 federated credentials"),
        "{full}"
    );

    // An issuer in use cannot be untrusted; once its credentials are gone, it can.
    let in_use = federation::untrust(&mut conn, &issuer.base, &admin(), now).unwrap_err();
    assert!(
        in_use.to_string().contains("10 federated credential"),
        "{in_use}"
    );
    assert_eq!(
        federation::list_issuers(&mut conn).unwrap()[0].credentials,
        10
    );
    for listed in federation::list(&mut conn, &client_id).unwrap() {
        federation::delete(&mut conn, &client_id, &listed.id, &admin(), now).unwrap();
    }
    federation::untrust(&mut conn, &trusted.id, &admin(), now).unwrap();
    assert!(federation::list_issuers(&mut conn).unwrap().is_empty());
}

/// A JWK of `key` with a private member, as a careless publisher might serve it.
fn clavis_jwk_with_private_part(key: &ClientKey) -> Value {
    let mut jwk = clavis::client_keys::public_key::read(&key.pair.public_key_pem())
        .unwrap()
        .jwk;
    jwk["kid"] = json!("leaky");
    jwk["d"] = json!("c2VjcmV0");
    jwk
}

/// A service account token of `issuer` for [`WORKLOAD`], addressed to `audience`, valid
/// for ten minutes.
fn service_account_claims(issuer: &str, audience: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": issuer, "sub": WORKLOAD, "aud": [audience],
        "iat": now, "nbf": now, "exp": now + 600,
        "kubernetes.io": { "namespace": "billing", "serviceaccount": { "name": "exporter" } },
    })
}

/// `claims` with `changes` merged in (a `null` removes the claim).
fn with(claims: &Value, changes: Value) -> Value {
    let mut merged = claims.clone();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            merged.as_object_mut().unwrap().remove(name);
        } else {
            merged[name] = value.clone();
        }
    }
    merged
}

async fn federated_tokens_prove_the_application_and_every_bad_one_is_refused(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let ca = TestCa::new("Platform test CA");
    let issuer = start_issuer(&ca);
    let (key, rotated) = (
        ClientKey::new(Algorithm::ES256),
        ClientKey::new(Algorithm::RS256),
    );
    issuer.publish(&[(&key, "2026-11")]);
    let now = clavis::db::now();
    federation::trust(&mut db.conn(), &issuer.base, None, &admin(), now).unwrap();
    // Each refusal counts as a failed guess: a roomy window keeps this test about reasons.
    let settings = format!(
        "{}key_set_refetch_secs = 1\ntoken_failure_limit = 1000\n",
        issuer.ca_setting()
    );
    let server = TestServer::start(db, &settings).await;
    let clavis_issuer = server.state.oauth.issuer.clone();
    let added = federation::add(
        &mut server.db.conn(),
        &client_id,
        &credential(&issuer.base, WORKLOAD, None),
        &clavis_issuer,
        &admin(),
        now,
    )
    .unwrap();
    let good = service_account_claims(&issuer.base, &clavis_issuer);
    let token = key.sign(Some("2026-11"), &good);
    let with_client = [("client_id", client_id.as_str())];

    // The same token works for its whole life: platforms hand it out again and again.
    for _ in 0..3 {
        let response = token_with_assertion(&server.base, &token, &with_client).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        let access = decode_payload(body["access_token"].as_str().unwrap());
        assert_eq!(access["client_federated_credential_id"], added.id.as_str());
        assert!(
            access["exp"].as_i64().unwrap() <= good["exp"].as_i64().unwrap(),
            "never outlives the service account token"
        );
        assert!(body["expires_in"].as_i64().unwrap() <= 600);
    }
    assert_eq!(issuer.fetches_of("/.well-known/openid-configuration"), 1);

    // Without client_id the application is unknown: sub names the workload.
    let anonymous = token_with_assertion(&server.base, &token, &[]).await;
    assert_eq!(anonymous.status(), 400);
    assert!(anonymous.text().await.unwrap().contains("client_id"));

    let other = ClientKey::new(Algorithm::ES256);
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"a shared secret"),
    )
    .unwrap();
    let hour_ago = Utc::now().timestamp() - 3600;
    let bad = [
        (
            key.sign(
                Some("2026-11"),
                &with(&good, json!({"sub": "system:serviceaccount:billing:other"})),
            ),
            "wrong_subject",
        ),
        (
            key.sign(
                Some("2026-11"),
                &with(&good, json!({"aud": "https://elsewhere.example"})),
            ),
            "wrong_audience",
        ),
        (
            key.sign(Some("2026-11"), &with(&good, json!({"exp": null}))),
            "missing_claim",
        ),
        (
            key.sign(
                Some("2026-11"),
                &with(&good, json!({"exp": good["iat"].as_i64().unwrap() + 7200})),
            ),
            "federated_too_long_lived",
        ),
        (
            key.sign(
                Some("2026-11"),
                &with(
                    &good,
                    json!({"iat": hour_ago, "nbf": hour_ago, "exp": hour_ago + 600}),
                ),
            ),
            "expired_assertion",
        ),
        (other.sign(Some("2026-11"), &good), "bad_signature"),
        (key.sign(Some("no-such-kid"), &good), "unknown_key"),
        (hmac, "wrong_algorithm"),
        (
            key.sign(
                Some("2026-11"),
                &with(&good, json!({"iss": "https://untrusted.example"})),
            ),
            "untrusted_issuer",
        ),
    ];
    for (assertion, _) in &bad {
        let response = token_with_assertion(&server.base, assertion, &with_client).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }

    // The platform rotates its key: the new kid is fetched, the old key stops working.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    issuer.publish(&[(&rotated, "2026-12")]);
    let fresh = rotated.sign(
        Some("2026-12"),
        &service_account_claims(&issuer.base, &clavis_issuer),
    );
    let response = token_with_assertion(&server.base, &fresh, &with_client).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let retired = token_with_assertion(&server.base, &token, &with_client).await;
    assert_eq!(
        retired.status(),
        401,
        "a remembered token of a withdrawn key"
    );

    // A deleted credential stops working at once.
    federation::delete(&mut server.db.conn(), &client_id, &added.id, &admin(), now).unwrap();
    let deleted = token_with_assertion(&server.base, &fresh, &with_client).await;
    assert_eq!(deleted.status(), 401);

    // An issuer whose discovery fails: a 401, never a 5xx.
    let down = start_issuer(&ca);
    down.handle.stop(false).await;
    federation::trust(&mut server.db.conn(), &down.base, None, &admin(), now).unwrap();
    federation::add(
        &mut server.db.conn(),
        &client_id,
        &credential(&down.base, WORKLOAD, None),
        &clavis_issuer,
        &admin(),
        now,
    )
    .unwrap();
    let unreachable = key.sign(
        Some("2026-11"),
        &service_account_claims(&down.base, &clavis_issuer),
    );
    let response = token_with_assertion(&server.base, &unreachable, &with_client).await;
    assert_eq!(response.status(), 401);

    let (db, _) = server.stop().await;
    let mut expected: Vec<&str> = bad.iter().map(|(_, reason)| *reason).collect();
    expected.extend(["unknown_key", "untrusted_issuer", "key_set_unavailable"]);
    assert_eq!(federated_refusals(&db), expected);
    let issued = issued_credentials(&db);
    assert_eq!(issued.len(), 4);
    assert_eq!(issued[0]["kind"], "federated");
    assert_eq!(issued[0]["issuer"], issuer.base.as_str());
    assert_eq!(issued[0]["subject"], WORKLOAD);
}

/// The reasons of refused federated assertions, in order.
fn federated_refusals(db: &TestDb) -> Vec<String> {
    details_of(db, "client.authenticate")
        .into_iter()
        .filter(|details| details["auth_method"] == "federated_jwt")
        .map(|details| details["reason"].as_str().unwrap().to_owned())
        .collect()
}

/// The credential each issued token names, in order.
fn issued_credentials(db: &TestDb) -> Vec<Value> {
    details_of(db, "token.issue")
        .into_iter()
        .map(|details| details["credential"].clone())
        .collect()
}

fn details_of(db: &TestDb, action: &str) -> Vec<Value> {
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    audit_events::table
        .filter(audit_events::action.eq(action))
        .order(audit_events::id)
        .select(audit_events::details)
        .load::<String>(conn)
        .unwrap()
        .iter()
        .map(|details| serde_json::from_str(details).unwrap())
        .collect()
}

/// `clavis issuer` and `clavis federated`, as an operator's script runs them: JSON on
/// success, one line naming the problem on failure.
async fn issuers_and_federated_credentials_from_the_command_line(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let ca = TestCa::new("Platform test CA");
    let issuer = start_issuer(&ca);
    let key = ClientKey::new(Algorithm::ES256);
    issuer.publish(&[(&key, "k1")]);
    let env = [(
        "CLAVIS_OUTBOUND_CA_FILE",
        issuer.dir.path().join("ca.pem").display().to_string(),
    )];
    let run = |args: &[&str]| crate::cli::clavis_with(&db, &env, args);
    let succeeds = |args: &[&str]| -> Value {
        let output = run(&[args, &["--json"]].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let refused = |args: &[&str], expected: &str| {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} should fail");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    let elsewhere = format!("{}/elsewhere", issuer.base);
    refused(
        &["issuer", "trust", "--url", "http://cluster.example"],
        "https URL",
    );
    refused(&["issuer", "trust", "--url", &elsewhere], "404");
    let trusted = succeeds(&[
        "issuer",
        "trust",
        "--url",
        &issuer.base,
        "--name",
        "Cluster 1",
    ]);
    assert_eq!(trusted[0]["name"], "Cluster 1");
    refused(
        &["issuer", "trust", "--url", &issuer.base],
        "already trusted",
    );

    let add = |subject: &str| {
        [
            "federated",
            "add",
            "--app",
            &client_id,
            "--name",
            "exporter",
            "--issuer",
            &issuer.base,
            "--subject",
            subject,
        ]
        .map(str::to_owned)
    };
    let wildcard = add("system:serviceaccount:*");
    refused(&wildcard.each_ref().map(String::as_str), "wildcards");
    let good = add(WORKLOAD);
    let added = succeeds(&good.each_ref().map(String::as_str));
    assert_eq!(added[0]["subject"], WORKLOAD);
    let listed = succeeds(&["federated", "list", "--app", &client_id]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(succeeds(&["issuer", "list"])[0]["credentials"], 1);
    refused(&["issuer", "untrust", "--url", &issuer.base], "still trust");
    let id = added[0]["id"].as_str().unwrap();
    succeeds(&["federated", "delete", "--app", &client_id, "--id", id]);
    refused(
        &["federated", "delete", "--app", &client_id, "--id", id],
        "no federated credential",
    );
    succeeds(&["issuer", "untrust", "--url", &issuer.base]);
    refused(
        &["credential", "jwks-uri", "--app", &client_id, "--url", " "],
        "--remove",
    );
}
