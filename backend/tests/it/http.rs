use actix_web::http::StatusCode;
use actix_web::test;
use clavis::app::{self, AppState};
use clavis_shared::ErrorBody;
use diesel::connection::SimpleConnection;
use std::path::Path;

use crate::on_both_databases_async;
use crate::server::{TestServer, http};
use crate::support::TestDb;

on_both_databases_async!(
    health_and_readiness,
    readiness_fails_while_a_migration_is_missing
);

/// A stand-in for trunk's output: an index page and one asset.
fn built_portal() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!DOCTYPE html><title>Clavis portal</title>",
    )
    .unwrap();
    std::fs::write(dir.path().join("style-abc.css"), "body { margin: 0 }").unwrap();
    dir
}

/// The app with its real state but the portal files from `frontend_dir`.
fn state(server: &TestServer, frontend_dir: &Path) -> AppState {
    AppState {
        frontend_dir: frontend_dir.to_owned(),
        ..server.state.clone()
    }
}

async fn health_and_readiness(test_db: TestDb) {
    let server = TestServer::start(test_db, "").await;
    let portal = built_portal();
    let service = test::init_service(app::build(state(&server, portal.path()))).await;
    let health = test::call_service(
        &service,
        test::TestRequest::get().uri("/healthz").to_request(),
    )
    .await;
    assert_eq!(health.status(), StatusCode::OK);
    let body: serde_json::Value = test::read_body_json(health).await;
    assert_eq!(body, serde_json::json!({ "status": "ok" }));

    let ready = test::call_service(
        &service,
        test::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = test::read_body_json(ready).await;
    assert_eq!(body, serde_json::json!({ "status": "ready" }));
}

async fn readiness_fails_while_a_migration_is_missing(test_db: TestDb) {
    let server = TestServer::start(test_db, "").await;
    let client = http();
    assert_eq!(
        client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Forget the newest migration, as if this binary were newer than the database.
    server
        .db
        .conn()
        .batch_execute("DELETE FROM __diesel_schema_migrations WHERE version = '20261122000002'")
        .unwrap();
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: ErrorBody = ready.json().await.unwrap();
    assert_eq!(body.error, "unavailable");
    assert_eq!(
        body.message,
        "The database has migrations that are not applied yet: run clavis migrate."
    );
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the database"
    );
    server.stop().await;
}

#[actix_web::test]
async fn portal_is_served_with_spa_fallback_and_api_paths_get_json_404() {
    let server = TestServer::start(TestDb::sqlite(), "").await;
    let portal = built_portal();
    let service = test::init_service(app::build(state(&server, portal.path()))).await;

    for path in ["/", "/applications/6f1c2d3e", "/admin/organisations?tab=2"] {
        let page =
            test::call_service(&service, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert!(
            page.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let body = test::read_body(page).await;
        assert_eq!(
            body, "<!DOCTYPE html><title>Clavis portal</title>",
            "{path}"
        );
    }

    let page = test::call_service(&service, test::TestRequest::get().uri("/").to_request()).await;
    for (header, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(page.headers().get(header).unwrap(), value, "{header}");
    }
    // The page's own policy (login.rs tests it in full) keeps the framing ban.
    let policy = page
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'self' 'wasm-unsafe-eval';")
            && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );

    let asset = test::call_service(
        &service,
        test::TestRequest::get().uri("/style-abc.css").to_request(),
    )
    .await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(
        asset.headers().get("content-security-policy").unwrap(),
        "frame-ancestors 'none'"
    );
    assert_eq!(test::read_body(asset).await, "body { margin: 0 }");

    for (method, path) in [
        ("GET", "/api/v1/nothing"),
        ("POST", "/api/v1/nothing"),
        ("GET", "/api"),
        ("GET", "/oauth2/nothing"),
        ("GET", "/.well-known/nothing"),
    ] {
        let request = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(path)
            .to_request();
        let response = test::call_service(&service, request).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body: ErrorBody = test::read_body_json(response).await;
        assert_eq!(body.error, "not_found");
        assert_eq!(
            body.message,
            format!("There is no endpoint at {method} {path}.")
        );
    }
}

/// `cargo xtask frontend` stores each built file with brotli and gzip beside it; the server
/// sends the encoding the browser prefers, and lets browsers keep hashed names for good.
#[actix_web::test]
async fn the_portal_is_served_precompressed_as_the_browser_prefers() {
    let server = TestServer::start(TestDb::sqlite(), "").await;
    let portal = built_portal();
    let dir = portal.path();
    let script = "export const portal = 'clavis';\n".repeat(50);
    std::fs::write(dir.join("app-0123456789abcdef.js"), &script).unwrap();
    // Stand-ins for the compressed copies: the test reads which one was sent by its bytes.
    std::fs::write(dir.join("app-0123456789abcdef.js.br"), "brotli bytes").unwrap();
    std::fs::write(dir.join("app-0123456789abcdef.js.gz"), "gzip bytes").unwrap();
    let service = test::init_service(app::build(state(&server, dir))).await;
    let fetch = |accept: Option<&'static str>, path: &'static str| {
        let mut request = test::TestRequest::get().uri(path);
        if let Some(accept) = accept {
            request = request.insert_header(("accept-encoding", accept));
        }
        test::call_service(&service, request.to_request())
    };
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), Some("br"), "brotli bytes"),
        (Some("gzip"), Some("gzip"), "gzip bytes"),
        (Some("br;q=0.5, gzip;q=0.8"), Some("gzip"), "gzip bytes"),
        (Some("br;q=0, gzip;q=0"), None, script.as_str()),
        (Some("identity"), None, script.as_str()),
        (None, None, script.as_str()),
    ] {
        let response = fetch(accept, "/app-0123456789abcdef.js").await;
        assert_eq!(response.status(), StatusCode::OK, "{accept:?}");
        let headers = response.headers();
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            encoding,
            "{accept:?}"
        );
        assert_eq!(headers.get("content-type").unwrap(), "text/javascript");
        assert_eq!(headers.get("vary").unwrap(), "accept-encoding");
        assert_eq!(
            headers.get("cache-control").unwrap(),
            "public, max-age=31536000, immutable"
        );
        assert!(headers.get("content-disposition").is_none());
        assert_eq!(test::read_body(response).await, body, "{accept:?}");
    }

    // A name without trunk's hash may change: browsers ask again each time.
    let style = fetch(Some("br"), "/style-abc.css").await;
    assert_eq!(style.headers().get("cache-control").unwrap(), "no-cache");
    assert!(
        style.headers().get("content-encoding").is_none(),
        "none is stored"
    );
    assert_eq!(test::read_body(style).await, "body { margin: 0 }");

    // A rebuild that was not compressed again leaves older copies, which are passed over.
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join("app-0123456789abcdef.js.br"))
        .unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    let response = fetch(Some("br, gzip"), "/app-0123456789abcdef.js").await;
    assert_eq!(response.headers().get("content-encoding").unwrap(), "gzip");

    // A name that is no file is a page of the app; hidden files are never served.
    for path in ["/audit", "/.hidden", "/app-0123456789abcdef.js.missing"] {
        let page = fetch(Some("br"), path).await;
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(
            test::read_body(page).await,
            "<!DOCTYPE html><title>Clavis portal</title>",
            "{path}"
        );
    }
}

#[actix_web::test]
async fn unbuilt_portal_says_how_to_build_it() {
    let server = TestServer::start(TestDb::sqlite(), "").await;
    let empty = tempfile::tempdir().unwrap();
    let service = test::init_service(app::build(state(&server, empty.path()))).await;
    let page = test::call_service(&service, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = test::read_body(page).await;
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .contains("cargo xtask frontend")
    );
    let api = test::call_service(
        &service,
        test::TestRequest::get().uri("/api/v1/x").to_request(),
    )
    .await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let health = test::call_service(
        &service,
        test::TestRequest::get().uri("/healthz").to_request(),
    )
    .await;
    assert_eq!(health.status(), StatusCode::OK);
}
