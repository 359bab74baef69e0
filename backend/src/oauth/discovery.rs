//! Authorization server metadata (RFC 8414), served at both well-known paths.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::collections::BTreeSet;

use super::error::OAuthError;
use super::service::OAuthService;
use crate::apis;
use crate::db::Database;
use crate::keys::SigningAlgorithm;

/// How clients may authenticate at every endpoint that takes client credentials (RFC 6749
/// §2.3.1: HTTP Basic, or the form parameters).
const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The metadata document (RFC 8414 §2); every member is always present.
#[derive(Debug, Serialize)]
struct ServerMetadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    /// Only the client credentials grant (RFC 6749 §4.4).
    grant_types_supported: [&'static str; 1],
    /// Required by RFC 8414 §2; empty, as Clavis has no authorization endpoint.
    response_types_supported: [&'static str; 0],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    revocation_endpoint_auth_methods_supported: [&'static str; 2],
    /// Every scope some API defines, sorted.
    scopes_supported: BTreeSet<String>,
    /// Not an RFC 8414 field, but the one resource servers look for: every algorithm some
    /// API's tokens are signed with now.
    access_token_signing_alg_values_supported: Vec<SigningAlgorithm>,
}

pub async fn metadata(
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse, OAuthError> {
    let apis = db.run(apis::list).await?;
    let urls = &service.urls;
    let metadata = ServerMetadata {
        issuer: service.issuer.clone(),
        token_endpoint: urls.token_endpoint(),
        jwks_uri: urls.jwks_uri(),
        introspection_endpoint: urls.introspection_endpoint(),
        revocation_endpoint: urls.revocation_endpoint(),
        grant_types_supported: ["client_credentials"],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: AUTH_METHODS,
        introspection_endpoint_auth_methods_supported: AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: AUTH_METHODS,
        scopes_supported: apis.into_iter().flat_map(|api| api.scopes).collect(),
        access_token_signing_alg_values_supported: service
            .keys
            .ring()
            .signing_algorithms(chrono::Utc::now()),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(metadata))
}
