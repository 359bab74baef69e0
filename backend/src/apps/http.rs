//! `/api/v1/applications`: one application as its page shows it; admins create and change
//! them.

use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::admin::{ApplicationFilter, ApplicationListing};
use clavis_shared::client_auth::{ClientAuthentication, SetClientAuthentication};
use clavis_shared::dto::Application;
use clavis_shared::paging::{ListQuery, Page};
use clavis_shared::portal::{
    ApplicationDetail, CreateApplication, SuggestedName, UpdateApplication,
};
use serde::Deserialize;

use crate::access::{Access, Admin};
use crate::db::{self, Database};
use crate::error::Result;
use crate::orgs;
use crate::public_url::PublicUrls;
use crate::tls::MutualTlsReach;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/applications", web::get().to(list))
        .route("/applications", web::post().to(create))
        .route("/applications/suggest-name", web::get().to(suggest_name))
        .route("/applications/{client_id}", web::get().to(get))
        .route("/applications/{client_id}", web::patch().to(update))
        .route(
            "/applications/{client_id}/revoke-tokens",
            web::post().to(revoke_tokens),
        )
        .route(
            "/applications/{client_id}/client-authentication",
            web::get().to(client_authentication),
        )
        .route(
            "/applications/{client_id}/client-authentication",
            web::put().to(set_client_authentication),
        );
}

/// Every application (admins only), a page at a time: `q` searches name, client_id and
/// organisation name; `sort` is `name` (default), `organisation`, `client_id`,
/// `environment`, `enabled` or `created` (`-` in front for descending); `organisation`
/// keeps one organisation's.
#[utoipa::path(get, path = "/api/v1/applications", tag = "admin",
    params(ListQuery, ApplicationFilter),
    responses((status = 200, body = Page<ApplicationListing>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list(
    _admin: Admin,
    db: web::Data<Database>,
    query: web::Query<ListQuery>,
    filter: web::Query<ApplicationFilter>,
) -> Result<web::Json<Page<ApplicationListing>>> {
    let page = db
        .run(move |conn| super::page(conn, &query, filter.organisation.as_deref()))
        .await?;
    Ok(web::Json(page))
}

#[utoipa::path(get, path = "/api/v1/applications/{client_id}", tag = "applications",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = ApplicationDetail), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    access: Access,
    db: web::Data<Database>,
    urls: web::Data<PublicUrls>,
    client_id: web::Path<String>,
) -> Result<web::Json<ApplicationDetail>> {
    let token_endpoint = urls.token_endpoint();
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, super::find_by_client_id(conn, &client_id)?)?;
        let organisation = orgs::find_by_id(conn, &application.organisation_id)?;
        Ok(web::Json(ApplicationDetail {
            application,
            organisation_name: organisation.name,
            token_endpoint,
        }))
    })
    .await
}

/// Creates an application (admins only); without a name it gets the conventional one.
#[utoipa::path(post, path = "/api/v1/applications", tag = "admin",
    request_body = CreateApplication,
    responses((status = 201, body = Application), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    admin: Admin,
    db: web::Data<Database>,
    body: web::Json<CreateApplication>,
) -> Result<HttpResponse> {
    let new = body.into_inner();
    let actor = admin.actor();
    let created = db
        .run(move |conn| super::create(conn, &new, &actor, db::now()))
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SuggestNameQuery {
    organisation_id: String,
    api_code: String,
}

/// The conventional name (Partner-CC-Organisation-API) for a new application (admins only).
#[utoipa::path(get, path = "/api/v1/applications/suggest-name", tag = "admin",
    params(SuggestNameQuery),
    responses((status = 200, body = SuggestedName), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn suggest_name(
    _admin: Admin,
    db: web::Data<Database>,
    query: web::Query<SuggestNameQuery>,
) -> Result<web::Json<SuggestedName>> {
    let query = query.into_inner();
    let name = db
        .run(move |conn| {
            let organisation = orgs::find_by_id(conn, &query.organisation_id)?;
            super::suggest_name(conn, &organisation.id, &query.api_code)
        })
        .await?;
    Ok(web::Json(SuggestedName { name }))
}

/// Changes an application: name, description, enabled, token lifetime, APIs and scopes
/// (admins only). Disabling takes effect at the token endpoint on the next request.
#[utoipa::path(patch, path = "/api/v1/applications/{client_id}", tag = "admin",
    params(("client_id" = String, Path, description = "The application's client_id")),
    request_body = UpdateApplication,
    responses((status = 200, body = Application), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    admin: Admin,
    db: web::Data<Database>,
    client_id: web::Path<String>,
    body: web::Json<UpdateApplication>,
) -> Result<web::Json<Application>> {
    let changes = body.into_inner();
    let actor = admin.actor();
    let updated = db
        .run(move |conn| super::update(conn, &client_id, &changes, &actor, db::now()))
        .await?;
    Ok(web::Json(updated))
}

/// The kill switch (admins only, audited): every token of the application issued until now
/// is inactive in introspection from this moment. Resource servers that validate the JWTs
/// themselves see this only when the tokens expire.
#[utoipa::path(post, path = "/api/v1/applications/{client_id}/revoke-tokens", tag = "admin",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = Application), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_tokens(
    admin: Admin,
    db: web::Data<Database>,
    client_id: web::Path<String>,
) -> Result<web::Json<Application>> {
    let actor = admin.actor();
    let revoked = db
        .run(move |conn| super::revoke_tokens(conn, &client_id, &actor, db::now()))
        .await?;
    Ok(web::Json(revoked))
}

/// How the application may prove itself at the token endpoint, and what this Clavis can
/// check of client certificates.
#[utoipa::path(get, path = "/api/v1/applications/{client_id}/client-authentication",
    tag = "applications",
    params(("client_id" = String, Path, description = "The application's client_id")),
    responses((status = 200, body = ClientAuthentication), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn client_authentication(
    access: Access,
    db: web::Data<Database>,
    reach: web::Data<MutualTlsReach>,
    client_id: web::Path<String>,
) -> Result<web::Json<ClientAuthentication>> {
    let reach = **reach;
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, super::find_by_client_id(conn, &client_id)?)?;
        let settings = super::authentication::settings_of(conn, &application.client_id)?;
        Ok(web::Json(reach.describe(settings)))
    })
    .await
}

/// Sets how the application may prove itself (those who manage its credentials): the
/// methods it accepts, the certificate subject of `tls_client_auth`, and whether its tokens
/// must be certificate-bound. Applies to the next token request.
#[utoipa::path(put, path = "/api/v1/applications/{client_id}/client-authentication",
    tag = "applications",
    params(("client_id" = String, Path, description = "The application's client_id")),
    request_body = SetClientAuthentication,
    responses((status = 200, body = ClientAuthentication), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_client_authentication(
    access: Access,
    db: web::Data<Database>,
    reach: web::Data<MutualTlsReach>,
    client_id: web::Path<String>,
    body: web::Json<SetClientAuthentication>,
) -> Result<web::Json<ClientAuthentication>> {
    let reach = **reach;
    let settings = body.into_inner();
    db.run(move |conn| {
        let application =
            access.visible_application(&client_id, super::find_by_client_id(conn, &client_id)?)?;
        access.require_manage_secrets(&application.organisation_id)?;
        let stored = super::authentication::set_settings(
            conn,
            &application.client_id,
            settings,
            reach,
            &access.actor(),
            db::now(),
        )?;
        Ok(web::Json(reach.describe(stored)))
    })
    .await
}
