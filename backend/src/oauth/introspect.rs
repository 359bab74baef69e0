//! `POST /oauth2/introspect` (RFC 7662): any authenticated client may ask whether a token is
//! active. Anything that is not a valid, unexpired, unrevoked Clavis token is `active: false`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{AccessTokenClaims, OAuthError, OAuthService, revoke, token_query};
use crate::db::Database;

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse, OAuthError> {
    let now = Utc::now();
    let query = token_query(&req, payload, &service, &db, "introspect", now).await?;
    let body = match verify(&service, &query.token, now) {
        Some(claims) if !revoke::is_revoked(&db, &claims.jti).await? => json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.sub,
            "aud": claims.aud,
            "iss": claims.iss,
            "exp": claims.exp,
            "iat": claims.iat,
            "nbf": claims.nbf,
            "jti": claims.jti,
            "org_id": claims.org_id,
            "environment": claims.environment,
        }),
        _ => json!({ "active": false }),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(body))
}

/// The claims of a token Clavis signed with a published key, of type `at+jwt`, from this
/// issuer, and valid at `now`; `None` for anything else.
pub fn verify(
    service: &OAuthService,
    token: &str,
    now: DateTime<Utc>,
) -> Option<AccessTokenClaims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let ring = service.keys.ring();
    let key = ring.find(header.kid.as_deref()?, now)?;
    let mut validation = jsonwebtoken::Validation::new(crate::keys::jwt_algorithm(key.algorithm));
    validation.set_issuer(&[&service.issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "nbf", "sub", "aud"]);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    (claims.exp > now.timestamp()).then_some(claims)
}
