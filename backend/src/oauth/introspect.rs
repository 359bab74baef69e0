//! `POST /oauth2/introspect` (RFC 7662). The caller authenticates as a client, and RFC 7662
//! §4 leaves it to the server to decide what each caller may learn. Clavis answers
//! `active: true` with the token's claims only when both hold:
//! - the caller may know about the token: it is the token's own client, or an application
//!   admins registered as a resource server of the token's API (its `aud`);
//! - the token is still good *now*: not revoked (RFC 7009), its application enabled and its
//!   kill switch not used since the token was issued, and the credential it was issued
//!   with (the private claim `client_secret_id`, `client_key_id`, `client_jwks_uri` or
//!   `client_federated_credential_id`, see [`AccessTokenClaims`]) not deleted.
//!
//! Everyone else, and anything that is not a valid, unexpired Clavis token, gets
//! `{"active": false}`, so a caller cannot tell a foreign token from a dead one.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::access_token::{self, AccessTokenClaims, Confirmation, revoked_by_kill_switch};
use super::error::OAuthError;
use super::revocations;
use super::service::{OAuthService, token_query};
use crate::db::schema::{
    api_resource_servers, apis, applications, client_keys, client_secrets, federated_credentials,
};
use crate::db::{Database, DbConn};
use crate::devices;
use crate::error::Result;
use crate::secrets::ClientApplication;

/// The introspection response (RFC 7662 §2.2): `active` alone when the token is inactive or
/// the caller may not know about it.
#[derive(Debug, Serialize)]
struct Introspection {
    active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    token: Option<ActiveToken>,
}

/// What an entitled caller learns about an active token: its claims, minus the credential.
#[derive(Debug, Serialize)]
struct ActiveToken {
    token_type: &'static str,
    scope: String,
    client_id: String,
    sub: String,
    aud: String,
    iss: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    org_id: String,
    environment: String,
    /// The certificate the token is bound to (RFC 8705 §3.2), if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
    /// The device the token was issued on, if its application requires one.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
}

impl From<AccessTokenClaims> for ActiveToken {
    fn from(claims: AccessTokenClaims) -> Self {
        Self {
            token_type: "Bearer",
            scope: claims.scope,
            client_id: claims.client_id,
            sub: claims.sub,
            aud: claims.aud,
            iss: claims.iss,
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            jti: claims.jti,
            org_id: claims.org_id,
            environment: claims.environment,
            cnf: claims.cnf,
            device_id: claims.device_id,
        }
    }
}

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse, OAuthError> {
    let now = Utc::now();
    let query = token_query(&req, payload, &service, &db, "introspect", now).await?;
    let token = match access_token::verify(&query.token, &service.keys, &service.issuer, now) {
        Some(claims) => {
            let caller = query.client.application;
            db.run(move |conn| disclosed(conn, &caller, claims)).await?
        }
        None => None,
    };
    Ok(HttpResponse::Ok().json(Introspection {
        active: token.is_some(),
        token,
    }))
}

/// The token's claims if `caller` may know about it and it is still good; `None` otherwise.
fn disclosed(
    conn: &mut DbConn,
    caller: &ClientApplication,
    claims: AccessTokenClaims,
) -> Result<Option<ActiveToken>> {
    let shown = may_know(conn, caller, &claims)? && is_current(conn, &claims)?;
    Ok(shown.then(|| claims.into()))
}

/// Whether `caller` may learn about a token (RFC 7662 §4): it is the token's own client, or a
/// registered resource server of the API whose audience is the token's `aud`.
fn may_know(
    conn: &mut DbConn,
    caller: &ClientApplication,
    claims: &AccessTokenClaims,
) -> Result<bool> {
    if caller.client_id == claims.client_id {
        return Ok(true);
    }
    let registered: i64 = api_resource_servers::table
        .inner_join(apis::table)
        .filter(api_resource_servers::application_id.eq(&caller.id))
        .filter(apis::audience.eq(&claims.aud))
        .count()
        .get_result(conn)?;
    Ok(registered > 0)
}

/// Whether the token is still good at this moment: the secret or key it was issued with
/// still exists and belongs to its client (or the client still publishes its keys at the
/// `jwks_uri` that signed, or still registers a subject for CA-issued certificates), whose
/// application is enabled and whose kill switch has not been used since the token was
/// issued; the device it names, if any, is still an enabled device of the organisation that
/// was not disabled since; and the token was not revoked.
fn is_current(conn: &mut DbConn, claims: &AccessTokenClaims) -> Result<bool> {
    let of_client = applications::table.filter(applications::client_id.eq(&claims.client_id));
    let application: Option<(bool, Option<NaiveDateTime>)> = match (
        &claims.client_secret_id,
        &claims.client_key_id,
        &claims.client_jwks_uri,
        &claims.client_federated_credential_id,
    ) {
        (None, None, Some(jwks_uri), None) => of_client
            .filter(applications::jwks_uri.eq(jwks_uri))
            .select((applications::enabled, applications::tokens_revoked_before))
            .first(conn)
            .optional()?,
        (Some(secret_id), None, None, None) => client_secrets::table
            .inner_join(applications::table)
            .filter(client_secrets::id.eq(secret_id))
            .filter(applications::client_id.eq(&claims.client_id))
            .select((applications::enabled, applications::tokens_revoked_before))
            .first(conn)
            .optional()?,
        (None, Some(key_id), None, None) => client_keys::table
            .inner_join(applications::table)
            .filter(client_keys::id.eq(key_id))
            .filter(applications::client_id.eq(&claims.client_id))
            .select((applications::enabled, applications::tokens_revoked_before))
            .first(conn)
            .optional()?,
        // A CA-issued certificate (`tls_client_auth`): good while the application still
        // registers a subject for one.
        (None, None, None, None) if claims.cnf.is_some() => of_client
            .filter(applications::tls_client_auth_value.is_not_null())
            .select((applications::enabled, applications::tokens_revoked_before))
            .first(conn)
            .optional()?,
        (None, None, None, Some(credential_id)) => federated_credentials::table
            .inner_join(applications::table)
            .filter(federated_credentials::id.eq(credential_id))
            .filter(applications::client_id.eq(&claims.client_id))
            .select((applications::enabled, applications::tokens_revoked_before))
            .first(conn)
            .optional()?,
        _ => None,
    };
    let Some((enabled, tokens_revoked_before)) = application else {
        return Ok(false);
    };
    let device_current = match &claims.device_id {
        Some(device_id) => matches!(
            devices::token_standing(conn, device_id, &claims.org_id)?,
            Some((true, revoked_before)) if !revoked_by_kill_switch(claims.iat, revoked_before)
        ),
        None => true,
    };
    Ok(enabled
        && device_current
        && !revoked_by_kill_switch(claims.iat, tokens_revoked_before)
        && !revocations::is_revoked(conn, &claims.jti)?)
}
