//! Serves the portal: trunk's built files, and `index.html` for every other non-API path so
//! the single-page app's router can handle deep links.

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{HttpRequest, HttpResponse, web};
use clavis_shared::ErrorBody;
use std::path::{Path, PathBuf};

/// Paths that belong to machines, not to the portal: an unknown one is a JSON 404.
const MACHINE_PREFIXES: [&str; 4] = ["/api/", "/oauth2/", "/.well-known/", "/auth/"];

/// The portal's files with the SPA fallback, or a clear 503 page when it was not built.
pub fn portal(cfg: &mut web::ServiceConfig, frontend_dir: &Path) {
    let index = frontend_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            dir = %frontend_dir.display(),
            "the portal is not built: run `trunk build --release` (see README)"
        );
        cfg.default_service(web::to(portal_missing));
        return;
    }
    cfg.service(
        Files::new("/", frontend_dir)
            .index_file("index.html")
            .default_handler(fn_service(move |req: ServiceRequest| {
                spa_fallback(req, index.clone())
            })),
    );
}

async fn spa_fallback(
    req: ServiceRequest,
    index: PathBuf,
) -> Result<ServiceResponse, actix_web::Error> {
    let (req, _) = req.into_parts();
    if is_machine_path(req.path()) {
        let response = not_found_json(&req);
        return Ok(ServiceResponse::new(req, response));
    }
    let response = NamedFile::open_async(&index).await?.into_response(&req);
    Ok(ServiceResponse::new(req, response))
}

fn is_machine_path(path: &str) -> bool {
    MACHINE_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix) || path == prefix.trim_end_matches('/'))
}

/// Any path under `/api` that no endpoint serves.
pub async fn api_not_found(req: HttpRequest) -> HttpResponse {
    not_found_json(&req)
}

fn not_found_json(req: &HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new(
        "not_found",
        format!("There is no endpoint at {} {}.", req.method(), req.path()),
    ))
}

async fn portal_missing(req: HttpRequest) -> HttpResponse {
    if is_machine_path(req.path()) {
        return not_found_json(&req);
    }
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body("The Clavis portal has not been built. Run `trunk build --release` in the repository, then restart Clavis.\n")
}
