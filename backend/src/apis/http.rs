//! `/api/v1/apis`: the APIs tokens are issued for and their scopes (admins only).

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::dto::Api;
use clavis_shared::paging::{ListQuery, Page};
use clavis_shared::portal::{CreateApi, UpdateApi};

use crate::access::Admin;
use crate::db::{self, Database};
use crate::error::Result;
use crate::keys::Keys;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(list))
        .route("/apis", web::post().to(create))
        .route("/apis/{code}", web::patch().to(update));
}

/// The APIs (admins only), a page at a time: `q` searches code, name and audience; `sort`
/// is `code` (default), `name`, `audience` or `created` (`-` in front for descending).
#[utoipa::path(get, path = "/api/v1/apis", tag = "admin", params(ListQuery),
    responses((status = 200, body = Page<Api>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    _admin: Admin,
    db: web::Data<Database>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Page<Api>>> {
    Ok(web::Json(
        db.run(move |conn| super::page(conn, &query)).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/apis", tag = "admin", request_body = CreateApi,
    responses((status = 201, body = Api), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    admin: Admin,
    db: web::Data<Database>,
    keys: web::Data<Keys>,
    body: web::Json<CreateApi>,
) -> Result<HttpResponse> {
    let mut new = body.into_inner();
    let signing_alg = keys.algorithm_for(new.signing_alg);
    new.signing_alg = Some(signing_alg);
    let actor = admin.actor();
    let created = db
        .run(move |conn| {
            let now = db::now();
            keys.prepare(conn, signing_alg, now)?;
            super::create(conn, &new, &actor, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// Renames an API, replaces its scope list (scopes applications hold cannot be removed),
/// replaces its resource servers (client_ids of existing applications, else 422), or changes
/// its signing algorithm.
#[utoipa::path(patch, path = "/api/v1/apis/{code}", tag = "admin",
    params(("code" = String, Path, description = "The API's code, such as SMC")),
    request_body = UpdateApi,
    responses((status = 200, body = Api), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    admin: Admin,
    db: web::Data<Database>,
    keys: web::Data<Keys>,
    code: web::Path<String>,
    body: web::Json<UpdateApi>,
) -> Result<web::Json<Api>> {
    let changes = body.into_inner();
    let actor = admin.actor();
    let updated = db
        .run(move |conn| {
            let now = db::now();
            if let Some(algorithm) = changes.signing_alg {
                keys.prepare(conn, algorithm, now)?;
            }
            super::update(conn, &code, &changes, &actor, now)
        })
        .await?;
    Ok(web::Json(updated))
}
