//! Keys an application publishes at its `jwks_uri` (issue 18): fetched over real HTTPS from
//! a publisher the test runs, with a certificate of a test CA that only Clavis's
//! `outbound_ca_file` trusts; cached; fetched again for an unknown `kid`, at most once per
//! `key_set_refetch_secs`; and a publisher that is down never turns into a 5xx.

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use clavis::client_keys::{self, JwksUriPolicy};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::client_keys::{ClientKey, claims, token_with_assertion};
use crate::on_both_databases_async;
use crate::server::{TestServer, loopback_listener};
use crate::support::{TestDb, admin, seed};
use crate::tls::TestCa;

on_both_databases_async!(published_keys_are_fetched_cached_and_fetched_again_for_a_new_kid);

/// A partner's key set on HTTPS: what it serves can change, and it counts the fetches.
struct Publisher {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    handle: ServerHandle,
    dir: tempfile::TempDir,
}

impl Publisher {
    async fn start(ca: &TestCa) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca.issue(7, 30);
        let settings = clavis::tls::TlsSettings {
            cert_file: dir.path().join("cert.pem"),
            key_file: dir.path().join("key.pem"),
        };
        std::fs::write(&settings.cert_file, cert).unwrap();
        std::fs::write(&settings.key_file, key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
        let tls = clavis::tls::ServedCertificate::load(&settings)
            .unwrap()
            .server_config();
        let keys = Arc::new(Mutex::new(json!({ "keys": [] })));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&keys), Arc::clone(&fetches));
        let (listener, base) = loopback_listener();
        let server = HttpServer::new(move || {
            let (served, counted) = (Arc::clone(&served), Arc::clone(&counted));
            App::new().route(
                "/jwks.json",
                web::get().to(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().to_string();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }),
            )
        })
        .workers(1)
        .listen_rustls_0_23(listener, tls)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url: format!("{}/jwks.json", base.replace("http://", "https://")),
            keys,
            fetches,
            handle,
            dir,
        }
    }

    /// Serves these keys from now on, each with its `kid`.
    fn publish(&self, keys: &[(&ClientKey, &str)]) {
        let jwks: Vec<Value> = keys
            .iter()
            .map(|(key, kid)| {
                let mut jwk = client_keys::public_key::read(&key.pair.public_key_pem())
                    .unwrap()
                    .jwk;
                jwk["kid"] = json!(kid);
                jwk
            })
            .collect();
        *self.keys.lock().unwrap() = json!({ "keys": jwks });
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn published_keys_are_fetched_cached_and_fetched_again_for_a_new_kid(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let ca = TestCa::new("Partner test CA");
    let publisher = Publisher::start(&ca).await;
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

    let body: Value = kept.json().await.unwrap();
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
