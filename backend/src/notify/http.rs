//! `/api/v1/reminders/failing`: the addresses reminders keep failing to reach (admins only).

use actix_web::web;
use clavis_shared::ErrorBody;
use clavis_shared::portal::FailingAddress;

use crate::access::Admin;
use crate::db::{self, Database};
use crate::error::Result;

/// How far back failures are shown: older ones were dealt with or no longer matter.
const WINDOW: chrono::Duration = chrono::Duration::days(30);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reminders/failing", web::get().to(failing));
}

/// Addresses that expiry reminders could not reach after repeated attempts in the last 30
/// days, most recent first; an address drops off once a later reminder gets through.
#[utoipa::path(get, path = "/api/v1/reminders/failing", tag = "admin",
    responses((status = 200, body = Vec<FailingAddress>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn failing(
    _admin: Admin,
    db: web::Data<Database>,
) -> Result<web::Json<Vec<FailingAddress>>> {
    let failing = db
        .run(|conn| super::failing_addresses(conn, WINDOW, db::now()))
        .await?;
    Ok(web::Json(failing))
}
