//! Serves the portal: trunk's built files, and `index.html` for every other non-API path so
//! the single-page app's router can handle deep links. Every page Clavis renders carries its
//! Content-Security-Policy from here.

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{AcceptEncoding, ContentEncoding, Encoding, Header};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, guard, web};
use askama::Template;
use askama::filters::Escaper;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use crate::error::Error;
use crate::request_id;

/// Path prefixes that belong to machines, not to the portal: an unknown path under one
/// is a JSON 404, never the portal's page.
const MACHINE_SCOPES: [&str; 4] = ["/api", "/oauth2", "/.well-known", "/auth"];

/// Answers unknown paths under the machine prefixes; register after the real endpoints.
/// `/metrics` is one too: a scraper pointed at this port gets a 404 that says where the
/// metrics are, not the portal's page with a 200.
pub fn machine_not_found(cfg: &mut web::ServiceConfig) {
    for prefix in MACHINE_SCOPES {
        cfg.service(web::scope(prefix).default_service(web::to(not_found_json)));
    }
    cfg.route("/metrics", web::to(metrics_elsewhere));
}

async fn metrics_elsewhere() -> Result<HttpResponse, Error> {
    Err(Error::NotFound(
        "Metrics are not served on this port: they have a listener of their own \
         (metrics_listen, CLAVIS_METRICS_LISTEN), off unless it is set."
            .to_owned(),
    ))
}

/// The portal's files with the SPA fallback, or a clear 503 page when it was not built.
pub fn portal(cfg: &mut web::ServiceConfig, frontend_dir: &Path) {
    let index = frontend_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            dir = %frontend_dir.display(),
            "the portal is not built: run `cargo xtask frontend` (see README)"
        );
        cfg.default_service(web::to(portal_missing));
        return;
    }
    let page = index.clone();
    let built = web::Data::new(BuiltPortal {
        dir: frontend_dir.to_owned(),
        index: index.clone(),
    });
    let get_or_head = || guard::Any(guard::Get()).or(guard::Head());
    cfg.service(
        web::resource(["/", "/index.html"]).route(
            web::route()
                .guard(get_or_head())
                .to(move || portal_page(page.clone())),
        ),
    )
    .service(
        web::resource("/{file}")
            .app_data(built)
            .route(web::route().guard(get_or_head()).to(built_file)),
    )
    .service(Files::new("/", frontend_dir).default_handler(fn_service(
        move |req: ServiceRequest| spa_fallback(req, index.clone()),
    )));
}

/// Where trunk put the portal.
struct BuiltPortal {
    dir: PathBuf,
    index: PathBuf,
}

/// The encodings the portal's files are stored in, best first: `cargo xtask frontend` writes
/// `<file>.br` and `<file>.gz` beside each one.
static STORED_ENCODINGS: [(Encoding, &str, ContentEncoding); 2] = [
    (Encoding::brotli(), "br", ContentEncoding::Brotli),
    (Encoding::gzip(), "gz", ContentEncoding::Gzip),
];

/// One of the portal's built files (trunk's output is flat), in the encoding the browser
/// prefers among those stored (RFC 9110 §12.5.3), with `Vary: Accept-Encoding`; a name
/// that is no file is a page of the single-page app. A stored encoding older than its file
/// (a rebuild that did not compress) is passed over. Files whose names carry trunk's content
/// hash never change, so browsers keep them for a year without asking again.
async fn built_file(
    req: HttpRequest,
    name: web::Path<String>,
    built: web::Data<BuiltPortal>,
) -> Result<HttpResponse, actix_web::Error> {
    let name = name.into_inner();
    let path = built.dir.join(&name);
    if name.starts_with('.') || !path.is_file() {
        return portal_page(built.index.clone()).await;
    }
    let accepted = AcceptEncoding::parse(&req).unwrap_or_else(|_| AcceptEncoding(Vec::new()));
    let stored: Vec<_> = STORED_ENCODINGS
        .iter()
        .map(|(encoding, suffix, content_encoding)| {
            let variant = built.dir.join(format!("{name}.{suffix}"));
            (encoding, variant, *content_encoding)
        })
        .filter(|(_, variant, _)| is_fresh(&path, variant))
        .collect();
    let identity = Encoding::identity();
    let offered = stored
        .iter()
        .map(|(encoding, _, _)| *encoding)
        .chain([&identity]);
    let chosen = accepted.negotiate(offered);
    let mut file = match stored
        .iter()
        .find(|(encoding, _, _)| chosen.as_ref() == Some(*encoding))
    {
        Some((_, variant, content_encoding)) => NamedFile::open_async(variant)
            .await?
            .set_content_encoding(*content_encoding),
        None => NamedFile::open_async(&path).await?,
    };
    let extension = path
        .extension()
        .and_then(|ext| ext.to_str())
        .unwrap_or_default();
    file = file
        .set_content_type(actix_files::file_extension_to_mime(extension))
        .disable_content_disposition();
    let mut response = file.into_response(&req);
    let headers = response.headers_mut();
    headers.insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    let cache = if has_content_hash(&name) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(cache),
    );
    Ok(response)
}

/// Whether `compressed` exists and was written after `original` was.
fn is_fresh(original: &Path, compressed: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|meta| meta.modified());
    matches!(
        (modified(original), modified(compressed)),
        (Ok(original), Ok(compressed)) if compressed >= original
    )
}

/// Whether a file name carries trunk's content hash (`name-<hex digits>` before the extension
/// or `_bg`: 64-bit, printed without leading zeros, so 12 digits or more in practice), so its
/// content never changes under that name.
fn has_content_hash(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-').is_some_and(|(_, hash)| {
        (12..=16).contains(&hash.len()) && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
    })
}

async fn spa_fallback(
    req: ServiceRequest,
    index: PathBuf,
) -> Result<ServiceResponse, actix_web::Error> {
    let (req, _) = req.into_parts();
    let response = portal_page(index).await?;
    Ok(ServiceResponse::new(req, response))
}

/// `index.html` with a policy that pins its inline scripts (trunk's module loader) by hash.
/// Read on every request, like the other files, so a rebuilt portal is served at once.
async fn portal_page(index: PathBuf) -> Result<HttpResponse, actix_web::Error> {
    let html = web::block(move || std::fs::read_to_string(index)).await??;
    let policy = portal_policy(&html);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(html))
}

/// The portal's Content-Security-Policy: scripts and WebAssembly only from Clavis itself
/// (plus the page's own inline scripts, each pinned by its SHA-256), requests only to Clavis,
/// styles only from its stylesheet, no plugins, no `<base>`, no framing, forms only to Clavis.
fn portal_policy(html: &str) -> String {
    let mut scripts = "'self' 'wasm-unsafe-eval'".to_owned();
    for hash in inline_script_hashes(html) {
        scripts.push_str(&format!(" '{hash}'"));
    }
    page_policy(&scripts, "'self'", "'self' data:", "'self'")
}

/// The policy shared by every page Clavis renders; `default-src 'none'` denies anything not
/// listed (CSP Level 3 §6).
fn page_policy(script_src: &str, style_src: &str, img_src: &str, connect_src: &str) -> String {
    format!(
        "default-src 'none'; script-src {script_src}; style-src {style_src}; img-src {img_src}; \
         connect-src {connect_src}; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'; object-src 'none'"
    )
}

/// `'sha256-…'` sources (CSP Level 3 §8.4) for every inline `<script>` (one without `src`) of
/// a page trunk wrote: the exact text between the tags, as the browser hashes it.
fn inline_script_hashes(html: &str) -> Vec<String> {
    // ASCII lowercasing keeps byte offsets, so positions found here index `html` too.
    let lower = html.to_ascii_lowercase();
    let mut hashes = Vec::new();
    let mut rest = 0;
    while let Some(start) = lower[rest..].find("<script").map(|at| rest + at) {
        let Some(tag_end) = lower[start..].find('>').map(|at| start + at + 1) else {
            break;
        };
        let Some(close) = lower[tag_end..].find("</script").map(|at| tag_end + at) else {
            break;
        };
        if !has_src(&lower[start..tag_end]) {
            hashes.push(sha256_source(&html[tag_end..close]));
        }
        rest = close;
    }
    hashes
}

fn has_src(open_tag: &str) -> bool {
    open_tag
        .split(|c: char| c.is_ascii_whitespace())
        .any(|attribute| attribute.starts_with("src=") || attribute == "src")
}

fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The JSON 404 of the machine prefixes and the portal API, in the portal API's error shape.
pub async fn not_found_json(req: HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::NotFound(format!(
        "There is no endpoint at {} {}.",
        req.method(),
        req.path()
    )))
}

async fn portal_missing() -> HttpResponse {
    let request = request_id::current()
        .map(|id| format!("Request id: {id}\n"))
        .unwrap_or_default();
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "The Clavis portal has not been built. Run `cargo xtask frontend` in the repository, \
             then restart Clavis.\n{request}"
        ))
}

/// The one style sheet of the message pages, inline so they need nothing else;
/// `templates/message.html` writes it byte for byte, as its hash in the policy requires.
/// It draws the portal's own header bar and card (frontend/style.css), so that a refusal
/// looks like the portal that sent the person there.
const MESSAGE_STYLE: &str = "body{margin:0;font-family:system-ui,-apple-system,\"Segoe UI\",\
Roboto,sans-serif;line-height:1.5;color:#1b1f24;background:#f6f8fa}\
header{background:#1b1f24;padding:0.75rem 1.5rem}header a{color:#fff;font-weight:700;\
font-size:1.25rem;text-decoration:none}main{max-width:36rem;margin:2rem auto;padding:0 1rem}\
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:1.25rem 1.5rem}\
h1{font-size:1.4rem;margin:0 0 1rem}a{color:#0b5cad;overflow-wrap:anywhere}\
a:focus{outline:3px solid #0b5cad;outline-offset:2px}";

/// The message pages' policy: no script at all, only their own style (pinned by hash).
static MESSAGE_POLICY: LazyLock<String> = LazyLock::new(|| {
    let style = format!("'{}'", sha256_source(MESSAGE_STYLE));
    page_policy("'none'", &style, "'none'", "'none'")
});

/// A small self-contained page (no script, no external assets) for answers the portal app
/// cannot give itself, such as a refused sign-in; never cached. `links` are the ways on,
/// each (address, text), first the one most people want.
pub fn message_page(
    status: StatusCode,
    title: &str,
    explanation: &str,
    links: &[(&str, &str)],
) -> HttpResponse {
    let page = MessagePage {
        title,
        explanation,
        links,
    };
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONTENT_SECURITY_POLICY, MESSAGE_POLICY.as_str()))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(error) => {
            Error::Internal(format!("cannot render the page \"{title}\": {error}")).error_response()
        }
    }
}

/// `templates/message.html`: the title, one paragraph and the links, each escaped.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    explanation: &'a str,
    links: &'a [(&'a str, &'a str)],
}

/// The escaper of every `.html` template (set in `askama.toml`): named entities for `&`,
/// `<`, `>` and `"` (`&amp;`, `&lt;`, `&gt;`, `&quot;`), as these pages and the reminder
/// mails have always written them, where askama's own escaper writes numeric ones; `'` is
/// `&#x27;` (it was `&#39;`, which browsers show alike). Safe in text and in quoted
/// attributes alike.
#[derive(Debug, Clone, Copy)]
pub struct HtmlEntities;

impl Escaper for HtmlEntities {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, text: &str) -> fmt::Result {
        dest.write_str(&html_escape::encode_quoted_attribute(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunks_hashed_names_are_told_from_others() {
        for hashed in [
            "clavis-frontend-b9a7cb5876197976.js",
            "clavis-frontend-b9a7cb5876197976_bg.wasm",
            "style-3736f6eda0a8a43.css",
        ] {
            assert!(has_content_hash(hashed), "{hashed}");
        }
        for plain in [
            "index.html",
            "style-abc.css",
            "favicon.ico",
            "clavis-frontend.js",
        ] {
            assert!(!has_content_hash(plain), "{plain}");
        }
    }

    #[test]
    fn message_pages_escape_what_they_show() {
        let page = MessagePage {
            title: "<b>",
            explanation: "a \"quote\" & <script>",
            links: &[("/x?a=1&b=\"", "Go <now>")],
        }
        .render()
        .unwrap();
        assert!(page.contains("&lt;b&gt;"));
        assert!(page.contains("&quot;quote&quot; &amp; &lt;script&gt;"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("<a href=\"/x?a=1&amp;b=&quot;\">Go &lt;now&gt;</a>"));
    }

    #[test]
    fn message_pages_pin_their_style_and_run_no_script() {
        let page = MessagePage {
            title: "t",
            explanation: "e",
            links: &[("/auth/login", "Again")],
        }
        .render()
        .unwrap();
        let policy = MESSAGE_POLICY.as_str();
        assert!(page.contains(&format!("<style>{MESSAGE_STYLE}</style>")));
        assert!(policy.contains(&format!("style-src '{}'", sha256_source(MESSAGE_STYLE))));
        assert!(policy.contains("default-src 'none'; script-src 'none'"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn the_portal_policy_pins_each_inline_script_and_nothing_else() {
        let html = "<html><head><script type=\"module\">import init from '/a.js';\n</script>\
            <SCRIPT src=\"/b.js\"></SCRIPT><script>x()</script><link rel=\"modulepreload\"></head>";
        assert_eq!(
            inline_script_hashes(html),
            [
                sha256_source("import init from '/a.js';\n"),
                sha256_source("x()")
            ]
        );
        // The known answer for "x()" (as `openssl dgst -sha256 -binary | base64` gives it).
        assert_eq!(
            sha256_source("x()"),
            "sha256-D6IGS8VMvCoyaR/l0h9tERrBTATY01CoPS7l6xDv0kI="
        );
        let policy = portal_policy(html);
        assert!(policy.starts_with(&format!(
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval' '{}' '{}'; style-src 'self';",
            sha256_source("import init from '/a.js';\n"),
            sha256_source("x()")
        )));
        for directive in [
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(policy.contains(directive), "{directive}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"));
    }
}
