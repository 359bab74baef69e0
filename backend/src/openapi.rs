//! The portal API's OpenAPI 3 document, generated from the handlers and the shared types,
//! served at `/api/v1/openapi.json`.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

use crate::{apis, apps, audit, client_keys, devices, federation, notify, orgs, secrets, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Clavis portal API",
        description = "The JSON API behind the Clavis portal. Every endpoint needs a portal \
            session (the `clavis_session` cookie set by signing in at /auth/login, named \
            `__Host-clavis_session` when the public URL is https); every POST, \
            PATCH and DELETE also needs the session's CSRF token (from GET /api/v1/me) in the \
            X-CSRF-Token header and the portal's own Origin. Errors share one JSON shape: \
            ErrorBody."
    ),
    paths(
        users::http::me,
        orgs::http::list,
        orgs::http::get,
        secrets::http::applications,
        orgs::http::create,
        orgs::http::update,
        apps::http::get,
        apps::http::create,
        apps::http::suggest_name,
        apps::http::update,
        apps::http::revoke_tokens,
        apps::http::client_authentication,
        devices::http::list,
        devices::http::create,
        devices::http::get,
        devices::http::update,
        devices::http::secrets,
        devices::http::create_secret,
        devices::http::delete_replaced_secrets,
        devices::http::delete_secret,
        devices::http::certificates,
        devices::http::add_certificate,
        devices::http::delete_certificate,
        apps::http::set_client_authentication,
        secrets::http::list,
        secrets::http::create,
        secrets::http::delete,
        secrets::http::expiring,
        apis::http::list,
        apis::http::create,
        apis::http::update,
        users::http::list_roles,
        users::http::grant_role,
        users::http::revoke_role,
        audit::http::list,
        audit::http::export,
        notify::http::failing,
        secrets::http::delete_replaced,
        client_keys::http::list,
        client_keys::http::add,
        client_keys::http::delete,
        client_keys::http::jwks_uri,
        client_keys::http::set_jwks_uri,
        federation::http::issuers,
        federation::http::trust,
        federation::http::untrust,
        federation::http::list,
        federation::http::add,
        federation::http::delete,
        notify::http::recipients,
        notify::http::set_mailbox,
        apps::http::list,
        users::http::people,
        notify::http::status,
    ),
    modifiers(&SessionCookie),
    security(("session" = [])),
    tags(
        (name = "session", description = "Who is signed in"),
        (name = "organisations", description = "Organisations the person belongs to"),
        (name = "applications", description = "Applications (OAuth clients)"),
        (name = "secrets", description = "Client secrets"),
        (name = "keys", description = "Public keys and certificates for private_key_jwt"),
        (name = "devices", description = "Devices an organisation's applications run on"),
        (name = "audit", description = "The audit trail"),
        (name = "admin", description = "Platform administration (admins only)"),
    )
)]
pub struct ApiDoc;

struct SessionCookie;

impl utoipa::Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::session::SESSION_COOKIE,
            ))),
        );
    }
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(document));
}
