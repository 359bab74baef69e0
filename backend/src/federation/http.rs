//! `/api/v1/issuers` (trusted issuers: everyone signed in lists them, admins trust and
//! untrust) and `/api/v1/applications/{client_id}/federated` (an application's federated
//! credentials, managed by the same people as its secrets and keys).

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::admin::TrustIssuer;
use clavis_shared::dto::{FederatedCredentialInfo, TrustedIssuerInfo};
use clavis_shared::portal::AddFederatedCredential;

use crate::access::{Access, Admin};
use crate::apps;
use crate::db::{self, Database};
use crate::error::Result;
use crate::key_sets::RemoteKeySets;

/// The `aud` a federated credential requires when its creator names none: Clavis's issuer
/// identifier, as Entra defaults to its own.
pub struct DefaultAudience(pub String);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/issuers", web::get().to(issuers))
        .route("/issuers", web::post().to(trust))
        .route("/issuers/{issuer_id}", web::delete().to(untrust))
        .route("/applications/{client_id}/federated", web::get().to(list))
        .route("/applications/{client_id}/federated", web::post().to(add))
        .route(
            "/applications/{client_id}/federated/{credential_id}",
            web::delete().to(delete),
        );
}

/// The trusted issuers, by name.
#[utoipa::path(get, path = "/api/v1/issuers", tag = "federated",
    responses((status = 200, body = Vec<TrustedIssuerInfo>), (status = 401, body = ErrorBody)))]
pub async fn issuers(
    _access: Access,
    db: web::Data<Database>,
) -> Result<web::Json<Vec<TrustedIssuerInfo>>> {
    db.run(|conn| Ok(web::Json(super::list_issuers(conn)?)))
        .await
}

/// Trusts an OpenID Connect issuer, once its discovery document and keys can be fetched.
#[utoipa::path(post, path = "/api/v1/issuers", tag = "federated", request_body = TrustIssuer,
    responses((status = 201, body = TrustedIssuerInfo), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn trust(
    admin: Admin,
    db: web::Data<Database>,
    remote: web::Data<RemoteKeySets>,
    body: web::Json<TrustIssuer>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let issuer = super::issuer_identifier(&body.issuer)?;
    super::check_discovery(&remote, &issuer).await?;
    let trusted = db
        .run(move |conn| {
            super::trust(
                conn,
                &issuer,
                body.name.as_deref(),
                &admin.actor(),
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(trusted))
}

/// Stops trusting an issuer that no federated credential names any more.
#[utoipa::path(delete, path = "/api/v1/issuers/{issuer_id}", tag = "federated",
    params(("issuer_id" = String, Path, description = "The trusted issuer's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn untrust(
    admin: Admin,
    db: web::Data<Database>,
    issuer_id: web::Path<String>,
) -> Result<HttpResponse> {
    db.run(move |conn| super::untrust(conn, &issuer_id, &admin.actor(), db::now()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The application's federated credentials, by name.
#[utoipa::path(get, path = "/api/v1/applications/{client_id}/federated", tag = "federated",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = Vec<FederatedCredentialInfo>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    access: Access,
    db: web::Data<Database>,
    client_id: web::Path<String>,
) -> Result<web::Json<Vec<FederatedCredentialInfo>>> {
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        Ok(web::Json(super::list(conn, &application.client_id)?))
    })
    .await
}

/// Lets a trusted issuer's tokens with an exact subject and audience prove the application.
#[utoipa::path(post, path = "/api/v1/applications/{client_id}/federated", tag = "federated",
    params(("client_id" = String, Path, description = "The application's client_id")),
    request_body = AddFederatedCredential,
    responses((status = 201, body = FederatedCredentialInfo), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    access: Access,
    db: web::Data<Database>,
    default_audience: web::Data<DefaultAudience>,
    client_id: web::Path<String>,
    body: web::Json<AddFederatedCredential>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let added = db
        .run(move |conn| {
            let application = access
                .visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
            access.require_manage_secrets(&application.organisation_id)?;
            super::add(
                conn,
                &application.client_id,
                &body,
                &default_audience.0,
                &access.actor(),
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(added))
}

/// Deletes a federated credential; tokens it accepted are refused at once.
#[utoipa::path(delete, path = "/api/v1/applications/{client_id}/federated/{credential_id}",
    tag = "federated",
    params(("client_id" = String, Path, description = "The application's client_id"),
        ("credential_id" = String, Path, description = "The federated credential's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    access: Access,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (client_id, credential_id) = path.into_inner();
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        access.require_manage_secrets(&application.organisation_id)?;
        super::delete(
            conn,
            &application.client_id,
            &credential_id,
            &access.actor(),
            db::now(),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
