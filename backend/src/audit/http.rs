//! `/api/v1/audit-events`: contacts see their organisations' events, admins all.

use actix_web::web;
use clavis_shared::ErrorBody;
use clavis_shared::portal::{AuditPage, AuditQuery};

use super::query;
use crate::access::Access;
use crate::db::Database;
use crate::error::Result;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit-events", web::get().to(list));
}

/// Audit events, newest first, filtered and a page at a time.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    access: Access,
    db: web::Data<Database>,
    params: web::Query<AuditQuery>,
) -> Result<web::Json<AuditPage>> {
    let params = params.into_inner();
    if let Some(organisation_id) = &params.organisation_id {
        access.require_view_organisation(organisation_id)?;
    }
    let organisations = access.visible_organisations();
    let page = db
        .run(move |conn| query(conn, &params, organisations.as_deref()))
        .await?;
    Ok(web::Json(page))
}
