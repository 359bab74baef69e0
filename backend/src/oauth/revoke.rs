//! `POST /oauth2/revoke` (RFC 7009): a client revokes one of its own access tokens. The
//! answer is 200 whatever the token was, so it reveals nothing; a revoked token is inactive
//! in introspection until it would have expired.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{OAuthError, OAuthService, TokenQuery, introspect, token_query};
use crate::access::Actor;
use crate::audit::AuditEvent;
use crate::db::{Database, DbConn, schema::revoked_tokens};
use crate::error::{Error, Result};

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
    let own_token = introspect::verify(&service, &token, now)
        .filter(|claims| claims.client_id == client.application.client_id);
    if let Some(claims) = own_token {
        let (jti, client_id) = (claims.jti.clone(), claims.client_id.clone());
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
        db.run(move |conn| store_revocation(conn, &jti, &client_id, expires_at, now))
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
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

fn store_revocation(
    conn: &mut DbConn,
    jti: &str,
    client_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let inserted = diesel::insert_into(revoked_tokens::table)
        .values((
            revoked_tokens::jti.eq(jti),
            revoked_tokens::client_id.eq(client_id),
            revoked_tokens::expires_at.eq(expires_at.naive_utc()),
            revoked_tokens::revoked_at.eq(now.naive_utc()),
        ))
        .execute(conn);
    match inserted.map_err(Error::on_duplicate(String::new)) {
        Ok(_) | Err(Error::Conflict(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Whether the token `jti` was revoked (and has not expired since).
pub fn is_revoked(conn: &mut DbConn, jti: &str) -> Result<bool> {
    let count: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Forgets revocations of tokens that have expired anyway.
pub fn prune_revoked(conn: &mut DbConn, now: DateTime<Utc>) -> Result<()> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now.naive_utc())))
        .execute(conn)?;
    Ok(())
}
