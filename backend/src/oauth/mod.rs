//! The OAuth 2.0 authorization server: the token endpoint (client credentials grant),
//! introspection, revocation and discovery. Access tokens are JWTs per RFC 9068.

mod client_auth;
mod discovery;
mod error;
mod introspect;
mod lookup;
mod request;
mod revoke;
mod throttle;
mod token;
mod usage;

pub use client_auth::{ClientAuthenticator, Refusal};
pub use error::{ErrorCode, OAuthError};
pub use lookup::CredentialLookup;
pub use revoke::prune_revoked;
pub use throttle::Throttle;
pub use token::AccessTokenClaims;
pub use usage::LastUsed;

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use std::net::IpAddr;

use crate::access::Actor;
use crate::audit::{AuditEvent, AuditSink};
use crate::db::Database;
use crate::forwarded::ClientOrigin;
use crate::keys::{self, Keys};
use client_auth::{AuthenticatedClient, Outcome};
use request::{ClientCredentials, Params};

/// What the OAuth endpoints share.
pub struct OAuthService {
    /// The `iss` of every token.
    pub issuer: String,
    /// Where clients reach the endpoints, without a trailing slash.
    pub public_url: String,
    pub max_token_lifetime_secs: i32,
    /// Refuse client credentials that crossed a network over plain HTTP: set when Clavis
    /// serves HTTPS itself or sits behind trusted proxies, so HTTPS is what clients have.
    pub https_only: bool,
    pub keys: web::Data<Keys>,
    pub authenticator: ClientAuthenticator,
    pub usage: LastUsed,
    pub audit: AuditSink,
}

/// Every OAuth route; registered before the JSON-404 catch-alls.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let post_only = |path: &str, route: actix_web::Route| {
        web::resource(path.to_owned())
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

/// The common start of every OAuth endpoint: refuse credentials sent over plain HTTP from
/// another machine, read the form, find the client's credentials. Throttling comes later,
/// in [`ClientAuthenticator::authenticate`], once a proven secret can be told apart.
async fn begin(
    req: &HttpRequest,
    payload: web::Payload,
    service: &OAuthService,
) -> Result<(ClientOrigin, Params, ClientCredentials), OAuthError> {
    let origin = ClientOrigin::of(req);
    if service.https_only && !origin.is_private_channel() {
        return Err(OAuthError::insecure_transport());
    }
    let params = request::read_form(req, payload).await?;
    let credentials = request::client_credentials(req, &params)?;
    Ok((origin, params, credentials))
}

/// A request about a token (introspection, revocation): the client authenticated, and the
/// `token` parameter it asks about.
struct TokenQuery {
    source: String,
    client: AuthenticatedClient,
    token: zeroize::Zeroizing<String>,
}

async fn token_query(
    req: &HttpRequest,
    payload: web::Payload,
    service: &OAuthService,
    db: &Database,
    endpoint: &'static str,
    now: DateTime<Utc>,
) -> Result<TokenQuery, OAuthError> {
    let (origin, params, credentials) = begin(req, payload, service).await?;
    let client = authenticate(service, db, &credentials, origin.address, endpoint, now).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is required."))?;
    Ok(TokenQuery {
        source: origin.address.to_string(),
        client,
        token: zeroize::Zeroizing::new(token.to_owned()),
    })
}

/// Authenticates the client; a refusal is audited with its real reason and answered with
/// the same `invalid_client` whatever that reason was.
async fn authenticate(
    service: &OAuthService,
    db: &Database,
    credentials: &ClientCredentials,
    source: IpAddr,
    endpoint: &'static str,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, OAuthError> {
    match service
        .authenticator
        .authenticate(db, credentials, source, now)
        .await?
    {
        Outcome::Authenticated(client) => Ok(client),
        Outcome::Refused { refusal, error } => {
            let actor = Actor::Client {
                client_id: credentials.client_id.clone(),
            };
            let event = AuditEvent::failure("client.authenticate", &actor)
                .source_address(&source.to_string())
                .details(serde_json::json!({ "endpoint": endpoint, "reason": refusal.as_str() }));
            service.audit.record(event, now).await;
            Err(error)
        }
    }
}
