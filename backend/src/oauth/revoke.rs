//! `POST /oauth2/revoke` (RFC 7009): a client revokes one of its own access tokens. The
//! answer is 200 whatever the token was, so it reveals nothing; a revoked token is inactive
//! in introspection until it would have expired.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

use super::access_token;
use super::error::OAuthError;
use super::revocations;
use super::service::{OAuthService, TokenQuery, token_query};
use crate::access::Actor;
use crate::audit::AuditEvent;
use crate::db::Database;

pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse, OAuthError> {
    let now = Utc::now();
    let TokenQuery {
        source,
        client,
        token,
    } = token_query(&req, payload, &service, &db, "revoke", now).await?;
    let own_token = access_token::verify(&token, &service.keys, &service.issuer, now)
        .filter(|claims| claims.client_id == client.application.client_id);
    if let Some(claims) = own_token {
        let (jti, client_id) = (claims.jti.clone(), claims.client_id.clone());
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
        db.run(move |conn| revocations::store(conn, &jti, &client_id, expires_at, now))
            .await?;
        let actor = Actor::Client {
            client_id: claims.client_id,
        };
        let event = AuditEvent::success("token.revoke", &actor)
            .source_address(&source)
            .organisation(&client.application.organisation_id)
            .application(&client.application.id)
            .details(serde_json::json!({ "jti": claims.jti }));
        service.audit.record(event, now).await;
    }
    Ok(HttpResponse::Ok().finish())
}
