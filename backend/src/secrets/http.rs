//! `/api/v1/applications/{client_id}/secrets` (and its `replaced-secrets`, deleted in one
//! go), the dashboard's expiring secrets, and an organisation's applications with the state
//! of their secrets.

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::dto::{ClientSecretInfo, NewClientSecret};
use clavis_shared::portal::{ApplicationSummary, CreateSecret, ExpiringSecret};
use clavis_shared::validate;

use crate::access::Access;
use crate::db::{self, Database};
use crate::error::Result;
use crate::{apps, orgs};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/applications/{client_id}/secrets", web::get().to(list))
        .route("/applications/{client_id}/secrets", web::post().to(create))
        .route(
            "/applications/{client_id}/secrets/{secret_id}",
            web::delete().to(delete),
        )
        .route(
            "/applications/{client_id}/replaced-secrets",
            web::delete().to(delete_replaced),
        )
        .route("/secrets/expiring", web::get().to(expiring))
        .route(
            "/organisations/{id}/applications",
            web::get().to(applications),
        );
}

/// The organisation's applications, each with its active secrets and soonest expiry.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/applications", tag = "organisations",
    params(("id" = String, Path, description = "The organisation's id")),
    responses((status = 200, body = Vec<ApplicationSummary>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn applications(
    access: Access,
    db: web::Data<Database>,
    id: web::Path<String>,
) -> Result<web::Json<Vec<ApplicationSummary>>> {
    let id = id.into_inner();
    access.require_view_organisation(&id)?;
    db.run(move |conn| {
        let organisation = orgs::find_by_id(conn, &id)?;
        let applications = apps::list(conn, Some(&organisation.id))?;
        let ids: Vec<String> = applications.iter().map(|a| a.id.clone()).collect();
        let mut active = super::expiry::active_by_application(conn, &ids, db::now())?;
        Ok(web::Json(
            applications
                .into_iter()
                .map(|application| {
                    let secrets = active.remove(&application.id).unwrap_or_default();
                    ApplicationSummary {
                        application,
                        active_secrets: secrets.count,
                        soonest_expiry: secrets.soonest_expiry,
                    }
                })
                .collect(),
        ))
    })
    .await
}

/// The application's secrets (never their values), soonest expiry first.
#[utoipa::path(get, path = "/api/v1/applications/{client_id}/secrets", tag = "secrets",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = Vec<ClientSecretInfo>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    access: Access,
    db: web::Data<Database>,
    client_id: web::Path<String>,
) -> Result<web::Json<Vec<ClientSecretInfo>>> {
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

/// Creates a secret valid through the end of `expires_on` (UTC). The response is the only
/// time its value is ever shown.
#[utoipa::path(post, path = "/api/v1/applications/{client_id}/secrets", tag = "secrets",
    params(("client_id" = String, Path, description = "The application's client_id")),
    request_body = CreateSecret,
    responses((status = 201, body = NewClientSecret), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    access: Access,
    db: web::Data<Database>,
    client_id: web::Path<String>,
    body: web::Json<CreateSecret>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let created = db
        .run(move |conn| {
            let application = access
                .visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
            access.require_manage_secrets(&application.organisation_id)?;
            let expires_at = validate::expiry_at_end_of(body.expires_on);
            super::store::create_described(
                conn,
                &application.client_id,
                &body.name,
                &body.description,
                expires_at,
                &access.actor(),
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Deletes a secret; it stops working at the token endpoint at once.
#[utoipa::path(delete, path = "/api/v1/applications/{client_id}/secrets/{secret_id}",
    tag = "secrets",
    params(("client_id" = String, Path, description = "The application's client_id"),
        ("secret_id" = String, Path, description = "The secret's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    access: Access,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (client_id, secret_id) = path.into_inner();
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        access.require_manage_secrets(&application.organisation_id)?;
        super::store::delete(
            conn,
            &application.client_id,
            &secret_id,
            &access.actor(),
            db::now(),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes every secret of the application that a newer one has replaced, to make room
/// under the limit of active secrets; each is audited as a single deletion would be. The
/// answer lists what was deleted (empty when nothing was replaced).
#[utoipa::path(delete, path = "/api/v1/applications/{client_id}/replaced-secrets",
    tag = "secrets",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = Vec<ClientSecretInfo>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_replaced(
    access: Access,
    db: web::Data<Database>,
    client_id: web::Path<String>,
) -> Result<web::Json<Vec<ClientSecretInfo>>> {
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, apps::find_by_client_id(conn, &client_id)?)?;
        access.require_manage_secrets(&application.organisation_id)?;
        let deleted = super::store::delete_replaced(
            conn,
            &application.client_id,
            &access.actor(),
            db::now(),
        )?;
        Ok(web::Json(deleted))
    })
    .await
}

/// Secrets of the person's organisations that expire within six weeks, soonest first.
#[utoipa::path(get, path = "/api/v1/secrets/expiring", tag = "secrets",
    responses((status = 200, body = Vec<ExpiringSecret>), (status = 401, body = ErrorBody)))]
pub async fn expiring(
    access: Access,
    db: web::Data<Database>,
) -> Result<web::Json<Vec<ExpiringSecret>>> {
    let organisations = access.visible_organisations();
    let found = db
        .run(move |conn| super::expiry::expiring(conn, organisations.as_deref(), db::now()))
        .await?;
    Ok(web::Json(found))
}
