//! Authorization server metadata (RFC 8414), served at both well-known paths.

use actix_web::{HttpResponse, web};
use serde_json::json;
use std::collections::BTreeSet;

use super::service::OAuthService;
use crate::apis;
use crate::db::Database;
use crate::error::Result;

const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

pub async fn metadata(
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse> {
    let apis = db.run(apis::list).await?;
    let scopes: BTreeSet<String> = apis.into_iter().flat_map(|api| api.scopes).collect();
    let base = &service.public_url;
    // Not an RFC 8414 field, but the one resource servers look for: every algorithm some
    // API's tokens are signed with now.
    let signing_algs = service.keys.ring().signing_algorithms(chrono::Utc::now());
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(json!({
            "issuer": service.issuer,
            "token_endpoint": format!("{base}/oauth2/token"),
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "introspection_endpoint": format!("{base}/oauth2/introspect"),
            "revocation_endpoint": format!("{base}/oauth2/revoke"),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "scopes_supported": scopes,
            "access_token_signing_alg_values_supported": signing_algs,
        })))
}
