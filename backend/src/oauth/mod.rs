//! The OAuth 2.0 authorization server: the token endpoint (client credentials grant),
//! introspection, revocation and discovery. Access tokens are JWTs per RFC 9068.

mod access_token;
mod assertion;
mod authentication;
mod client_auth;
mod device;
mod discovery;
mod error;
mod federated;
mod introspect;
mod lookup;
mod mtls;
mod replay;
mod request;
mod revocations;
mod revoke;
mod service;
mod settings;
mod throttle;
mod token;
mod usage;

pub use access_token::{AccessTokenClaims, Confirmation};
pub use assertion::AssertionVerifier;
pub use authentication::{AuthFailure, Credential};
pub use client_auth::ClientAuthenticator;
pub use error::{ErrorCode, OAuthError};
pub use lookup::CredentialLookup;
pub use replay::{JtiLedger, prune_jtis};
pub use revocations::prune_revoked;
pub use service::OAuthService;
pub use settings::TokenSettings;
pub use throttle::Throttle;
pub use usage::LastUsed;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::web;

use crate::keys;

/// Every OAuth route; registered before the JSON-404 catch-alls.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let post_only = |path: &str, route: actix_web::Route| {
        web::resource(path.to_owned())
            .wrap(from_fn(no_store))
            .route(route)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(OAuthError::method_not_allowed())
            }))
    };
    cfg.service(post_only("/oauth2/token", web::post().to(token::token)))
        .service(post_only(
            "/oauth2/introspect",
            web::post().to(introspect::introspect),
        ))
        .service(post_only("/oauth2/revoke", web::post().to(revoke::revoke)))
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            web::get().to(discovery::metadata),
        )
        .route("/.well-known/jwks.json", web::get().to(keys::jwks));
}

/// Keeps the answers of the endpoints that take client credentials out of every cache:
/// `Cache-Control: no-store` on each, and `Pragma: no-cache` for HTTP/1.0 caches on each that
/// has a body (RFC 6749 §5.1 and §5.2; the revocation's empty 200 has none).
async fn no_store(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}
