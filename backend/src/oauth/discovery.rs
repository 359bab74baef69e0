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
/// §2.3.1: HTTP Basic, or the form parameters; RFC 7523 §2.2: a signed JWT).
const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
/// Added where Clavis sees client certificates (RFC 8705 §2.2).
const MUTUAL_TLS_METHODS: [&str; 1] = ["self_signed_tls_client_auth"];
/// Added where, besides, CAs for client certificates are configured (RFC 8705 §2.1).
const CA_ISSUED_METHOD: &str = "tls_client_auth";
/// What `private_key_jwt` assertions may be signed with: every algorithm of the key types
/// Clavis registers ([`crate::client_keys::public_key::KeyType::algorithms`]).
const ASSERTION_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The metadata document (RFC 8414 §2); every member is always present but the mutual TLS
/// aliases.
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
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    token_endpoint_auth_signing_alg_values_supported: [&'static str; 9],
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_signing_alg_values_supported: [&'static str; 9],
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_signing_alg_values_supported: [&'static str; 9],
    /// Whether tokens issued over mutual TLS are bound to the client's certificate
    /// (RFC 8705 §3.3): where client certificates can reach Clavis.
    tls_client_certificate_bound_access_tokens: bool,
    /// The endpoints at the host that asks for client certificates, when that is another
    /// (RFC 8705 §5, `CLAVIS_MTLS_PUBLIC_URL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    mtls_endpoint_aliases: Option<EndpointAliases>,
    /// Every scope some API defines, sorted.
    scopes_supported: BTreeSet<String>,
    /// Not an RFC 8414 field, but the one resource servers look for: every algorithm some
    /// API's tokens are signed with now.
    access_token_signing_alg_values_supported: Vec<SigningAlgorithm>,
}

/// The endpoints that take client credentials, at the mutual TLS host (RFC 8705 §5).
#[derive(Debug, Serialize)]
struct EndpointAliases {
    token_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
}

pub async fn metadata(
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse, OAuthError> {
    let apis = db.run(apis::list).await?;
    let urls = &service.urls;
    let mut auth_methods = AUTH_METHODS.to_vec();
    if service.sees_client_certificates {
        auth_methods.extend(MUTUAL_TLS_METHODS);
        if service.authenticator.checks_ca_issued_certificates() {
            auth_methods.push(CA_ISSUED_METHOD);
        }
    }
    let metadata = ServerMetadata {
        issuer: service.issuer.clone(),
        token_endpoint: urls.token_endpoint(),
        jwks_uri: urls.jwks_uri(),
        introspection_endpoint: urls.introspection_endpoint(),
        revocation_endpoint: urls.revocation_endpoint(),
        grant_types_supported: ["client_credentials"],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
        introspection_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
        revocation_endpoint_auth_methods_supported: auth_methods,
        revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
        tls_client_certificate_bound_access_tokens: service.sees_client_certificates,
        mtls_endpoint_aliases: service.mtls_urls.as_ref().map(|mtls| EndpointAliases {
            token_endpoint: mtls.token_endpoint(),
            introspection_endpoint: mtls.introspection_endpoint(),
            revocation_endpoint: mtls.revocation_endpoint(),
        }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_keys::public_key::KeyType;

    #[test]
    fn the_advertised_assertion_algorithms_are_those_of_the_key_types() {
        let key_types = [
            KeyType::Rsa { bits: 2048 },
            KeyType::P256,
            KeyType::P384,
            KeyType::Ed25519,
        ];
        let from_key_types: Vec<String> = key_types
            .iter()
            .flat_map(|key_type| key_type.algorithms())
            .map(|alg| format!("{alg:?}"))
            .collect();
        assert_eq!(from_key_types, ASSERTION_ALGS);
    }
}
