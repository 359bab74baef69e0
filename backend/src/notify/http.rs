//! `/api/v1/reminders/failing`: the addresses reminders keep failing to reach, and
//! `/api/v1/reminders/status`: whether reminders are sent at all (admins only);
//! `/api/v1/organisations/{id}/reminder-recipients`: who gets an organisation's reminders
//! (its members); `/api/v1/organisations/{id}/reminder-mailbox`: its shared mailbox, set by
//! its credential managers.

use actix_web::web;
use clavis_shared::ErrorBody;
use clavis_shared::admin::ReminderStatus;
use clavis_shared::dto::Organisation;
use clavis_shared::portal::{
    FailingAddress, ReminderRecipients, SetReminderMailbox, UpdateOrganisation,
};

use crate::access::{Access, Admin};
use crate::db::{self, Database};
use crate::error::Result;
use crate::orgs;

/// How far back failures are shown: older ones were dealt with or no longer matter.
const WINDOW: chrono::Duration = chrono::Duration::days(30);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reminders/failing", web::get().to(failing))
        .route("/reminders/status", web::get().to(status))
        .route(
            "/organisations/{id}/reminder-recipients",
            web::get().to(recipients),
        )
        .route(
            "/organisations/{id}/reminder-mailbox",
            web::put().to(set_mailbox),
        );
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

/// Who gets the organisation's expiry reminders: its credential managers (also the people its
/// viewers ask for changes) and its shared mailbox. For the organisation's members and
/// admins; anybody else gets the answer for an organisation that does not exist.
#[utoipa::path(get, path = "/api/v1/organisations/{id}/reminder-recipients",
    tag = "organisations",
    params(("id" = String, Path, description = "The organisation's id")),
    responses((status = 200, body = ReminderRecipients), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn recipients(
    access: Access,
    db: web::Data<Database>,
    id: web::Path<String>,
    reminders: web::Data<ReminderStatus>,
) -> Result<web::Json<ReminderRecipients>> {
    let id = id.into_inner();
    access.require_view_organisation(&id)?;
    let sent = reminders.enabled;
    db.run(move |conn| {
        let organisation = orgs::find_by_id(conn, &id)?;
        Ok(web::Json(super::plan::recipients_of(
            conn,
            &organisation,
            sent,
            db::now(),
        )?))
    })
    .await
}

/// Sets (or, with an empty address, removes) the organisation's shared mailbox for expiry
/// reminders; audited as an `organisation.update`. For its credential managers and admins:
/// viewers get 403, anybody else 404. A malformed address gets 422.
#[utoipa::path(put, path = "/api/v1/organisations/{id}/reminder-mailbox",
    tag = "organisations",
    params(("id" = String, Path, description = "The organisation's id")),
    request_body = SetReminderMailbox,
    responses((status = 200, body = Organisation), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_mailbox(
    access: Access,
    db: web::Data<Database>,
    id: web::Path<String>,
    body: web::Json<SetReminderMailbox>,
) -> Result<web::Json<Organisation>> {
    let id = id.into_inner();
    access.require_credential_manager(&id, "change where its expiry reminders go")?;
    let changes = UpdateOrganisation {
        notification_email: Some(body.into_inner().notification_email),
        ..UpdateOrganisation::default()
    };
    let updated = db
        .run(move |conn| orgs::update(conn, &id, &changes, &access.actor(), db::now()))
        .await?;
    Ok(web::Json(updated))
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
