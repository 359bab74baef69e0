//! `/api/v1/organisations/{id}/devices` and `/api/v1/devices/{device_id}`: an organisation's
//! devices and their secrets. Members see them; credential managers (and admins) add them,
//! enable and disable them, and create and delete their secrets.

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::devices::{
    AddDeviceCertificate, CreateDevice, Device, DeviceCertificate, UpdateDevice,
};
use clavis_shared::dto::{ClientSecretInfo, NewClientSecret};
use clavis_shared::portal::CreateSecret;
use clavis_shared::validate;

use crate::access::Access;
use crate::db::{self, Database, DbConn};
use crate::error::Result;
use crate::orgs;

/// What a viewer is told when asking to change devices.
const MANAGING: &str =
    "add, enable or disable devices, or create or delete their secrets and certificates";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/organisations/{id}/devices", web::get().to(list))
        .route("/organisations/{id}/devices", web::post().to(create))
        .route("/devices/{device_id}", web::get().to(get))
        .route("/devices/{device_id}", web::patch().to(update))
        .route("/devices/{device_id}/secrets", web::get().to(secrets))
        .route(
            "/devices/{device_id}/secrets",
            web::post().to(create_secret),
        )
        .route(
            "/devices/{device_id}/secrets/{secret_id}",
            web::delete().to(delete_secret),
        )
        .route(
            "/devices/{device_id}/replaced-secrets",
            web::delete().to(delete_replaced_secrets),
        )
        .route(
            "/devices/{device_id}/certificates",
            web::get().to(certificates),
        )
        .route(
            "/devices/{device_id}/certificates",
            web::post().to(add_certificate),
        )
        .route(
            "/devices/{device_id}/certificates/{certificate_id}",
            web::delete().to(delete_certificate),
        );
}

/// The device, if the person may see it: a non-member gets the answer for a device that
/// does not exist.
fn visible(access: &Access, conn: &mut DbConn, device_id: &str) -> Result<Device> {
    let device = super::find(conn, device_id)?;
    access
        .require_view_organisation(&device.organisation_id)
        .map_err(|_| super::not_found(device_id))?;
    Ok(device)
}

/// The device, if the person may change it and its secrets.
fn managed(access: &Access, conn: &mut DbConn, device_id: &str) -> Result<Device> {
    let device = visible(access, conn, device_id)?;
    access.require_credential_manager(&device.organisation_id, MANAGING)?;
    Ok(device)
}

/// The organisation's devices, by name.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/devices", tag = "devices",
    params(("id" = String, Path, description = "The organisation's id")),
    responses((status = 200, body = Vec<Device>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    access: Access,
    db: web::Data<Database>,
    id: web::Path<String>,
) -> Result<web::Json<Vec<Device>>> {
    let id = id.into_inner();
    access.require_view_organisation(&id)?;
    let listed = db
        .run(move |conn| {
            // By id only: the command line's name lookup must not reach another organisation.
            let organisation = orgs::find_by_id(conn, &id)?;
            super::list(conn, &organisation.id, db::now())
        })
        .await?;
    Ok(web::Json(listed))
}

/// Adds a device to the organisation, with the GUID given or a new one.
#[utoipa::path(post, path = "/api/v1/organisations/{id}/devices", tag = "devices",
    params(("id" = String, Path, description = "The organisation's id")),
    request_body = CreateDevice,
    responses((status = 201, body = Device), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    access: Access,
    db: web::Data<Database>,
    id: web::Path<String>,
    body: web::Json<CreateDevice>,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    access.require_credential_manager(&id, MANAGING)?;
    let new = body.into_inner();
    let created = db
        .run(move |conn| {
            let organisation = orgs::find_by_id(conn, &id)?;
            super::create(conn, &organisation.id, &new, &access.actor(), db::now())
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(get, path = "/api/v1/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)")),
    responses((status = 200, body = Device), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    access: Access,
    db: web::Data<Database>,
    device_id: web::Path<String>,
) -> Result<web::Json<Device>> {
    let device = db
        .run(move |conn| visible(&access, conn, &device_id))
        .await?;
    Ok(web::Json(device))
}

/// Enables or disables the device; a disabled device proves nothing from the next token
/// request on.
#[utoipa::path(patch, path = "/api/v1/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)")),
    request_body = UpdateDevice,
    responses((status = 200, body = Device), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    access: Access,
    db: web::Data<Database>,
    device_id: web::Path<String>,
    body: web::Json<UpdateDevice>,
) -> Result<web::Json<Device>> {
    let enabled = body.enabled;
    let device = db
        .run(move |conn| {
            let device = managed(&access, conn, &device_id)?;
            super::set_enabled(conn, &device.device_id, enabled, &access.actor(), db::now())
        })
        .await?;
    Ok(web::Json(device))
}

/// The device's secrets (never their values), soonest expiry first.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}/secrets", tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)")),
    responses((status = 200, body = Vec<ClientSecretInfo>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn secrets(
    access: Access,
    db: web::Data<Database>,
    device_id: web::Path<String>,
) -> Result<web::Json<Vec<ClientSecretInfo>>> {
    let listed = db
        .run(move |conn| {
            let device = visible(&access, conn, &device_id)?;
            super::list_secrets(conn, &device.device_id, db::now())
        })
        .await?;
    Ok(web::Json(listed))
}

/// Creates a device secret valid through the end of `expires_on` (UTC). The response is the
/// only time its value is ever shown.
#[utoipa::path(post, path = "/api/v1/devices/{device_id}/secrets", tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)")),
    request_body = CreateSecret,
    responses((status = 201, body = NewClientSecret), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_secret(
    access: Access,
    db: web::Data<Database>,
    device_id: web::Path<String>,
    body: web::Json<CreateSecret>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let created = db
        .run(move |conn| {
            let device = managed(&access, conn, &device_id)?;
            super::create_secret(
                conn,
                &device.device_id,
                &body.name,
                &body.description,
                validate::expiry_at_end_of(body.expires_on),
                &access.actor(),
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Deletes a device secret; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}/secrets/{secret_id}",
    tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)"),
        ("secret_id" = String, Path, description = "The secret's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_secret(
    access: Access,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (device_id, secret_id) = path.into_inner();
    db.run(move |conn| {
        let device = managed(&access, conn, &device_id)?;
        super::delete_secret(
            conn,
            &device.device_id,
            &secret_id,
            &access.actor(),
            db::now(),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes every secret of the device that a newer one has replaced, to make room under
/// the limit in one step; the answer lists what was deleted (empty when nothing was).
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}/replaced-secrets", tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)")),
    responses((status = 200, body = Vec<ClientSecretInfo>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_replaced_secrets(
    access: Access,
    db: web::Data<Database>,
    device_id: web::Path<String>,
) -> Result<web::Json<Vec<ClientSecretInfo>>> {
    let deleted = db
        .run(move |conn| {
            let device = managed(&access, conn, &device_id)?;
            super::delete_replaced_secrets(conn, &device.device_id, &access.actor(), db::now())
        })
        .await?;
    Ok(web::Json(deleted))
}

/// The device's certificates for mutual TLS, soonest expiry first.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}/certificates", tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)")),
    responses((status = 200, body = Vec<DeviceCertificate>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn certificates(
    access: Access,
    db: web::Data<Database>,
    device_id: web::Path<String>,
) -> Result<web::Json<Vec<DeviceCertificate>>> {
    let listed = db
        .run(move |conn| {
            let device = visible(&access, conn, &device_id)?;
            super::certificates::list(conn, &device.device_id)
        })
        .await?;
    Ok(web::Json(listed))
}

/// Registers a certificate the device proves itself with over mutual TLS; only the
/// certificate is kept.
#[utoipa::path(post, path = "/api/v1/devices/{device_id}/certificates", tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)")),
    request_body = AddDeviceCertificate,
    responses((status = 201, body = DeviceCertificate), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_certificate(
    access: Access,
    db: web::Data<Database>,
    device_id: web::Path<String>,
    body: web::Json<AddDeviceCertificate>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let added = db
        .run(move |conn| {
            let device = managed(&access, conn, &device_id)?;
            super::certificates::add(
                conn,
                &device.device_id,
                &body.name,
                &body.certificate,
                &access.actor(),
                db::now(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(added))
}

/// Deletes a device certificate; it proves nothing from the next token request on.
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}/certificates/{certificate_id}",
    tag = "devices",
    params(("device_id" = String, Path, description = "The device's id (a GUID)"),
        ("certificate_id" = String, Path, description = "The certificate's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_certificate(
    access: Access,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (device_id, certificate_id) = path.into_inner();
    db.run(move |conn| {
        let device = managed(&access, conn, &device_id)?;
        super::certificates::delete(
            conn,
            &device.device_id,
            &certificate_id,
            &access.actor(),
            db::now(),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
