//! Keys an application publishes at its `jwks_uri` (issue 18): fetched over real HTTPS from
//! a publisher the test runs, with a certificate of a test CA that only Clavis's
//! `outbound_ca_file` trusts; cached; fetched again for an unknown `kid`, at most once per
//! `key_set_refetch_secs`; and a publisher that is down never turns into a 5xx.

use clavis::client_keys::{self, JwksUriPolicy};
use jsonwebtoken::Algorithm;

use crate::client_keys::{ClientKey, claims, token_with_assertion};
use crate::on_both_databases_async;
use crate::publisher::Publisher;
use crate::server::TestServer;
use crate::support::{TestDb, admin, seed};
use crate::tls::TestCa;

on_both_databases_async!(published_keys_are_fetched_cached_and_fetched_again_for_a_new_kid);

async fn published_keys_are_fetched_cached_and_fetched_again_for_a_new_kid(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let ca = TestCa::new("Partner test CA");
    let publisher = Publisher::start(&ca);
    let (first, second) = (
        ClientKey::new(Algorithm::ES256),
        ClientKey::new(Algorithm::EdDSA),
    );
    publisher.publish(&[(&first, "2026-11")]);
    let policy = JwksUriPolicy {
        allowed_hosts: vec!["127.0.0.1".to_owned()],
    };
    client_keys::set_jwks_uri(
        &mut db.conn(),
        &client_id,
        Some(&publisher.url),
        &policy,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    let settings = format!(
        "jwks_uri_hosts = \"127.0.0.1\"\noutbound_ca_file = \"{}\"\nkey_set_refetch_secs = 1\n",
        publisher.dir.path().join("ca.pem").display()
    );
    let server = TestServer::start(db, &settings).await;
    let issuer = server.state.oauth.issuer.clone();
    let token = |key: &ClientKey, kid: &str| key.sign(Some(kid), &claims(&client_id, &issuer));

    // Fetched once, then answered from memory.
    for _ in 0..3 {
        let response = token_with_assertion(&server.base, &token(&first, "2026-11"), &[]).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    assert_eq!(publisher.fetches(), 1);

    // The partner rotates: a kid Clavis has not seen makes it fetch again, once.
    publisher.publish(&[(&second, "2026-12")]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = token_with_assertion(&server.base, &token(&second, "2026-12"), &[]).await;
    assert_eq!(rotated.status(), 200, "{}", rotated.text().await.unwrap());
    assert_eq!(publisher.fetches(), 2);
    let retired = token_with_assertion(&server.base, &token(&first, "2026-11"), &[]).await;
    assert_eq!(retired.status(), 401, "a key the set no longer holds");
    assert_eq!(publisher.fetches(), 2, "the refetch interval holds");
    for _ in 0..3 {
        let unknown = token_with_assertion(&server.base, &token(&second, "no-such-kid"), &[]).await;
        assert_eq!(unknown.status(), 401);
    }
    assert_eq!(
        publisher.fetches(),
        2,
        "unknown kids within the interval fetch nothing"
    );

    // A publisher that is down: the kept set still answers, and nothing becomes a 5xx.
    publisher.handle.stop(false).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let unknown = token_with_assertion(&server.base, &token(&second, "another"), &[]).await;
    assert_eq!(unknown.status(), 401);
    let kept = token_with_assertion(&server.base, &token(&second, "2026-12"), &[]).await;
    assert_eq!(kept.status(), 200, "{}", kept.text().await.unwrap());

    let body: serde_json::Value = kept.json().await.unwrap();
    let payload = crate::client_keys::decode_payload(body["access_token"].as_str().unwrap());
    assert_eq!(payload["client_jwks_uri"], publisher.url.as_str());
    let (db, _) = server.stop().await;
    let reasons = crate::client_keys::assertion_refusals(&db);
    assert_eq!(
        reasons.iter().filter(|r| *r == "unknown_key").count(),
        5,
        "{reasons:?}"
    );
}
