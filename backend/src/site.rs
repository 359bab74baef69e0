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

pub async fn not_found_json(req: HttpRequest) -> HttpResponse {
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

/// A small self-contained page (no script, no external assets) for answers the portal app
/// cannot give itself, such as a refused sign-in.
pub fn message_page(title: &str, explanation: &str, link: &str, link_text: &str) -> String {
    let (title, explanation, link, link_text) = (
        escape_html(title),
        escape_html(explanation),
        escape_html(link),
        escape_html(link_text),
    );
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} - Clavis</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;\
margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}}h1{{font-size:1.4rem}}\
a{{color:#0b5394}}a:focus{{outline:3px solid #0b5394;outline-offset:2px}}</style></head>\
<body><main><h1>{title}</h1><p>{explanation}</p><p><a href=\"{link}\">{link_text}</a></p>\
</main></body></html>"
    )
}

/// Makes text safe to put in HTML (pages here, reminder mails).
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    #[test]
    fn message_pages_escape_what_they_show() {
        let page = super::message_page("<b>", "a \"quote\" & <script>", "/x", "Go");
        assert!(page.contains("&lt;b&gt;"));
        assert!(page.contains("&quot;quote&quot; &amp; &lt;script&gt;"));
        assert!(!page.contains("<script>"));
    }
}
