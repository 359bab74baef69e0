//! Serves the portal: trunk's built files, and `index.html` for every other non-API path so
//! the single-page app's router can handle deep links.

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::{HttpRequest, HttpResponse, web};
use clavis_shared::ErrorBody;
use std::path::{Path, PathBuf};

/// Path prefixes that belong to machines, not to the portal: an unknown path under one
/// is a JSON 404, never the portal's page.
const MACHINE_SCOPES: [&str; 4] = ["/api", "/oauth2", "/.well-known", "/auth"];

/// Answers unknown paths under the machine prefixes; register after the real endpoints.
pub fn machine_not_found(cfg: &mut web::ServiceConfig) {
    for prefix in MACHINE_SCOPES {
        cfg.service(web::scope(prefix).default_service(web::to(not_found_json)));
    }
}

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
    let response = NamedFile::open_async(&index).await?.into_response(&req);
    Ok(ServiceResponse::new(req, response))
}

async fn not_found_json(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new(
        "not_found",
        format!("There is no endpoint at {} {}.", req.method(), req.path()),
    ))
}

async fn portal_missing() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body(
            "The Clavis portal has not been built. Run `trunk build --release` in the repository, \
             then restart Clavis.\n",
        )
}
