//! Request ids (README "Logs and request ids"): taken from a trusted proxy's `X-Request-Id`,
//! made otherwise, answered in the header, named in server errors, and carried by every log
//! line of the request, JSON lines too.

use diesel::connection::SimpleConnection;

use crate::on_both_databases_async;
use crate::process::ServeProcess;
use crate::server::{TestServer, http_from};
use crate::support::TestDb;

on_both_databases_async!(
    a_request_without_an_id_gets_a_new_one,
    an_id_from_a_trusted_proxy_is_kept_unless_unacceptable,
    an_id_from_an_untrusted_peer_is_replaced,
    a_server_error_names_the_request_id,
    json_log_lines_carry_the_request_id,
);

fn id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("every answer has an X-Request-Id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn assert_generated(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 4, "{id}");
}

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    http_from("127.0.0.1")
        .get(server.url(path))
        .send()
        .await
        .unwrap()
}

async fn healthz(server: &TestServer, from: &str, sent: Option<&str>) -> String {
    let mut request = http_from(from).get(server.url("/healthz"));
    if let Some(sent) = sent {
        request = request.header("x-request-id", sent);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    id_of(&response)
}

async fn a_request_without_an_id_gets_a_new_one(db: TestDb) {
    let server = TestServer::start(db, "").await;
    let (first, second) = (
        healthz(&server, "127.0.0.1", None).await,
        healthz(&server, "127.0.0.1", None).await,
    );
    assert_generated(&first);
    assert_generated(&second);
    assert_ne!(first, second);
    // Not only on success: a 404 of the API carries one too.
    let missing = get(&server, "/api/v1/nothing-here").await;
    assert_eq!(missing.status(), 404);
    assert_generated(&id_of(&missing));
}

async fn an_id_from_a_trusted_proxy_is_kept_unless_unacceptable(db: TestDb) {
    let server = TestServer::start(db, "trusted_proxies = \"127.0.0.1\"").await;
    let proxied = "nginx-4bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(healthz(&server, "127.0.0.1", Some(proxied)).await, proxied);
    let too_long = "a".repeat(clavis::request_id::MAX_CHARS + 1);
    for unacceptable in ["two words", "quote\"d", too_long.as_str()] {
        let id = healthz(&server, "127.0.0.1", Some(unacceptable)).await;
        assert_generated(&id);
    }
}

async fn an_id_from_an_untrusted_peer_is_replaced(db: TestDb) {
    // 127.0.0.2 is the proxy; the client at 127.0.0.1 cannot choose its id.
    let server = TestServer::start(db, "trusted_proxies = \"127.0.0.2\"").await;
    let chosen = "chosen-by-the-client";
    let id = healthz(&server, "127.0.0.1", Some(chosen)).await;
    assert_ne!(id, chosen);
    assert_generated(&id);
    assert_eq!(healthz(&server, "127.0.0.2", Some(chosen)).await, chosen);
}

/// A database whose newest migration is not applied (as after a downgrade, or with a newer
/// instance's schema half-rolled back) makes the readiness check fail with 503.
async fn a_server_error_names_the_request_id(db: TestDb) {
    let server = TestServer::start(db, "").await;
    server
        .db
        .conn()
        .batch_execute(
            "DELETE FROM __diesel_schema_migrations WHERE version = \
             (SELECT MAX(version) FROM __diesel_schema_migrations)",
        )
        .unwrap();
    let response = get(&server, "/readyz").await;
    assert_eq!(response.status(), 503);
    let id = id_of(&response);
    assert_generated(&id);
    let body: clavis_shared::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "unavailable");
    assert_eq!(body.request_id.as_deref(), Some(id.as_str()));
    // A client error does not carry it: it is for reporting the server's failures.
    let missing = get(&server, "/api/v1/nothing-here").await;
    let body: clavis_shared::ErrorBody = missing.json().await.unwrap();
    assert_eq!(body.request_id, None);
}

async fn json_log_lines_carry_the_request_id(db: TestDb) {
    let clavis = ServeProcess::serve(
        &db,
        &[
            ("CLAVIS_LOG_FORMAT", "json".to_owned()),
            ("CLAVIS_LOG_LEVEL", "info".to_owned()),
        ],
    )
    .await;
    let response = reqwest::get(clavis.url("/healthz")).await.unwrap();
    let id = id_of(&response);
    let line = clavis.wait_for_log(&id).await;
    let logged: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(logged["request_id"], id.as_str(), "{line}");
    assert_eq!(logged["message"], "request", "{line}");
    assert_eq!(logged["path"], "/healthz", "{line}");
    assert_eq!(logged["level"], "INFO", "{line}");
    // Lines outside any request have no id.
    let serving = clavis.wait_for_log("Clavis is serving").await;
    let serving: serde_json::Value = serde_json::from_str(&serving).unwrap();
    assert!(serving.get("request_id").is_none(), "{serving}");
}
