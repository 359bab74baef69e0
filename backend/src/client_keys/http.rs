//! `/api/v1/applications/{client_id}/keys`: an application's public keys and certificates
//! for `private_key_jwt`, managed by the same people as its secrets; and its `jwks-uri`.

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::dto::ClientKeyInfo;
use clavis_shared::portal::{AddClientKey, JwksUriSetting, SetJwksUri};
use clavis_shared::validate;

use super::JwksUriPolicy;
use crate::access::Access;
use crate::apps;
use crate::db::{self, Database};
use crate::error::Result;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/applications/{client_id}/keys", web::get().to(list))
        .route("/applications/{client_id}/keys", web::post().to(add))
        .route(
            "/applications/{client_id}/keys/{key_id}",
            web::delete().to(delete),
        )
        .route(
            "/applications/{client_id}/jwks-uri",
            web::get().to(jwks_uri),
        )
        .route(
            "/applications/{client_id}/jwks-uri",
            web::put().to(set_jwks_uri),
        );
}

/// The application's `jwks_uri`, and the hosts one may name here.
#[utoipa::path(get, path = "/api/v1/applications/{client_id}/jwks-uri", tag = "keys",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = JwksUriSetting), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn jwks_uri(
    access: Access,
    db: web::Data<Database>,
    policy: web::Data<JwksUriPolicy>,
    client_id: web::Path<String>,
) -> Result<web::Json<JwksUriSetting>> {
    let allowed_hosts = policy.allowed_hosts.clone();
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        Ok(web::Json(JwksUriSetting {
            jwks_uri: super::jwks_uri_of(conn, &application.client_id)?,
            allowed_hosts,
        }))
    })
    .await
}

/// Sets or removes the application's `jwks_uri`: an https URL on an allowed host.
#[utoipa::path(put, path = "/api/v1/applications/{client_id}/jwks-uri", tag = "keys",
    params(("client_id" = String, Path, description = "The application's client_id")),
    request_body = SetJwksUri,
    responses((status = 200, body = JwksUriSetting), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_jwks_uri(
    access: Access,
    db: web::Data<Database>,
    policy: web::Data<JwksUriPolicy>,
    client_id: web::Path<String>,
    body: web::Json<SetJwksUri>,
) -> Result<web::Json<JwksUriSetting>> {
    let body = body.into_inner();
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        access.require_manage_secrets(&application.organisation_id)?;
        let jwks_uri = super::set_jwks_uri(
            conn,
            &application.client_id,
            body.jwks_uri.as_deref(),
            &policy,
            &access.actor(),
            db::now(),
        )?;
        Ok(web::Json(JwksUriSetting {
            jwks_uri,
            allowed_hosts: policy.allowed_hosts.clone(),
        }))
    })
    .await
}

/// The application's public keys and certificates, soonest expiry first.
#[utoipa::path(get, path = "/api/v1/applications/{client_id}/keys", tag = "keys",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = Vec<ClientKeyInfo>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    access: Access,
    db: web::Data<Database>,
    client_id: web::Path<String>,
) -> Result<web::Json<Vec<ClientKeyInfo>>> {
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        Ok(web::Json(super::store::list(
            conn,
            &application.client_id,
            db::now(),
        )?))
    })
    .await
}

/// Registers a public key or certificate. Only its public part is kept; a private key is
/// refused and never stored.
#[utoipa::path(post, path = "/api/v1/applications/{client_id}/keys", tag = "keys",
    params(("client_id" = String, Path, description = "The application's client_id")),
    request_body = AddClientKey,
    responses((status = 201, body = ClientKeyInfo), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    access: Access,
    db: web::Data<Database>,
    client_id: web::Path<String>,
    body: web::Json<AddClientKey>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let added = db
        .run(move |conn| {
            let application = access
                .visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
            access.require_manage_secrets(&application.organisation_id)?;
            super::store::add(
                conn,
                &application.client_id,
                &body.name,
                &body.key,
                body.expires_on.map(validate::expiry_at_end_of),
                &access.actor(),
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(added))
}

/// Deletes a key; assertions signed with it are refused at once.
#[utoipa::path(delete, path = "/api/v1/applications/{client_id}/keys/{key_id}", tag = "keys",
    params(("client_id" = String, Path, description = "The application's client_id"),
        ("key_id" = String, Path, description = "The key's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    access: Access,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (client_id, key_id) = path.into_inner();
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        access.require_manage_secrets(&application.organisation_id)?;
        super::store::delete(
            conn,
            &application.client_id,
            &key_id,
            &access.actor(),
            db::now(),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
