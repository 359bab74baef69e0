//! `/api/v1/reminders/failing`: the addresses reminders keep failing to reach, and
//! `/api/v1/reminders/status`: whether reminders are sent at all (admins only).

use actix_web::web;
use clavis_shared::ErrorBody;
use clavis_shared::admin::ReminderStatus;
use clavis_shared::portal::FailingAddress;

use crate::access::Admin;
use crate::db::{self, Database};
use crate::error::Result;

/// How far back failures are shown: older ones were dealt with or no longer matter.
const WINDOW: chrono::Duration = chrono::Duration::days(30);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reminders/failing", web::get().to(failing))
        .route("/reminders/status", web::get().to(status));
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

/// Whether expiry reminders are sent: off when no SMTP server is configured
/// (`CLAVIS_SMTP_HOST`), in which case no reminder job runs (see `jobs::reminders`).
#[utoipa::path(get, path = "/api/v1/reminders/status", tag = "admin",
    responses((status = 200, body = ReminderStatus), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn status(
    _admin: Admin,
    reminders: web::Data<ReminderStatus>,
) -> web::Json<ReminderStatus> {
    web::Json(**reminders)
}
