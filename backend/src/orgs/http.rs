//! `/api/v1/organisations`: contacts see their own, admins see and change all.

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::dto::Organisation;
use clavis_shared::paging::{ListQuery, Page};
use clavis_shared::portal::{CreateOrganisation, UpdateOrganisation};

use crate::access::{Access, Admin};
use crate::db::{self, Database};
use crate::error::Result;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/organisations", web::get().to(list))
        .route("/organisations", web::post().to(create))
        .route("/organisations/{id}", web::get().to(get))
        .route("/organisations/{id}", web::patch().to(update));
}

/// The organisations the person belongs to (admins: all), a page at a time: `q` searches
/// name, country and reminder mailbox; `sort` is `name` (default), `country` or `created`
/// (`-` in front for descending).
#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations", params(ListQuery),
    responses((status = 200, body = Page<Organisation>), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list(
    access: Access,
    db: web::Data<Database>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Page<Organisation>>> {
    let visible = access.visible_organisations();
    let page = db
        .run(move |conn| super::page(conn, &query, visible.as_deref()))
        .await?;
    Ok(web::Json(page))
}

#[utoipa::path(get, path = "/api/v1/organisations/{id}", tag = "organisations",
    params(("id" = String, Path, description = "The organisation's id")),
    responses((status = 200, body = Organisation), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    access: Access,
    db: web::Data<Database>,
    id: web::Path<String>,
) -> Result<web::Json<Organisation>> {
    let id = id.into_inner();
    access.require_view_organisation(&id)?;
    Ok(web::Json(
        db.run(move |conn| super::find_by_id(conn, &id)).await?,
    ))
}

/// Creates an organisation (admins only).
#[utoipa::path(post, path = "/api/v1/organisations", tag = "admin",
    request_body = CreateOrganisation,
    responses((status = 201, body = Organisation), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    admin: Admin,
    db: web::Data<Database>,
    body: web::Json<CreateOrganisation>,
) -> Result<HttpResponse> {
    let new = body.into_inner();
    let actor = admin.actor();
    let created = db
        .run(move |conn| super::create(conn, &new, &actor, db::now()))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Renames an organisation, changes its country or sandbox flag (admins only).
#[utoipa::path(patch, path = "/api/v1/organisations/{id}", tag = "admin",
    params(("id" = String, Path, description = "The organisation's id")),
    request_body = UpdateOrganisation,
    responses((status = 200, body = Organisation), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    admin: Admin,
    db: web::Data<Database>,
    id: web::Path<String>,
    body: web::Json<UpdateOrganisation>,
) -> Result<web::Json<Organisation>> {
    let changes = body.into_inner();
    let actor = admin.actor();
    let updated = db
        .run(move |conn| super::update(conn, &id, &changes, &actor, db::now()))
        .await?;
    Ok(web::Json(updated))
}
