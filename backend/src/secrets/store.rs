//! The portal's store of client secrets: create (the value shown once, only its hash kept),
//! list and delete. Creations and deletions are audited in the same transaction.
//!
//! Every function here fails with [`Error::Database`] when the
//! database does; the `# Errors` of each name what else it refuses.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::{Application, ClientSecretInfo, NewClientSecret, SecretStatus};
use clavis_shared::reminders::SecretLife;
use clavis_shared::validate::{self, MAX_ACTIVE_SECRETS};
use diesel::prelude::*;

use super::hash;
use crate::access::{Actor, not_found};
use crate::apps;
use crate::audit::AuditEvent;
use crate::db::schema::client_secrets;
use crate::db::{self, DbConn};
use crate::error::{Error, Result};

/// A stored secret, as the portal reads it (never its hash).
#[derive(Queryable, Selectable)]
#[diesel(table_name = client_secrets)]
pub(super) struct SecretRow {
    pub(super) id: String,
    pub(super) application_id: String,
    pub(super) name: String,
    pub(super) hint: String,
    pub(super) created_at: NaiveDateTime,
    pub(super) created_by: String,
    pub(super) expires_at: NaiveDateTime,
    pub(super) last_used_at: Option<NaiveDateTime>,
    pub(super) description: String,
}

impl SecretRow {
    pub(super) fn life(&self) -> SecretLife {
        SecretLife {
            created_at: db::utc(self.created_at),
            expires_at: db::utc(self.expires_at),
        }
    }

    /// As contacts see it; `siblings` (the application's secrets) decide "replaced".
    pub(super) fn into_info(self, siblings: &[SecretLife], now: DateTime<Utc>) -> ClientSecretInfo {
        let status = SecretStatus::among(self.life(), siblings, now);
        ClientSecretInfo {
            id: self.id,
            name: self.name,
            hint: self.hint,
            created_at: db::utc(self.created_at),
            created_by: self.created_by,
            expires_at: db::utc(self.expires_at),
            last_used_at: self.last_used_at.map(db::utc),
            status,
            description: self.description,
        }
    }
}

/// Creates a secret without a description for the application `client_id`; see
/// [`create_described`].
///
/// # Errors
/// As [`create_described`].
pub fn create(
    conn: &mut DbConn,
    client_id: &str,
    name: &str,
    expires_at: DateTime<Utc>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<NewClientSecret> {
    create_described(conn, client_id, name, "", expires_at, actor, now)
}

/// Creates a secret for the application `client_id`, with an optional `description` (empty
/// for none); the returned value is never stored.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id, [`Error::Invalid`] for a bad name,
/// description or expiry, [`Error::Conflict`] when the application already holds the most
/// secrets allowed.
pub fn create_described(
    conn: &mut DbConn,
    client_id: &str,
    name: &str,
    description: &str,
    expires_at: DateTime<Utc>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<NewClientSecret> {
    let name = validate::secret_name(name)?;
    let description = validate::secret_description(description)?;
    let expires_at = validate::secret_expiry(expires_at, now)?;
    let hash::MintedSecret {
        id,
        value,
        hash: secret_hash,
    } = hash::mint()?;
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        apps::lock_credentials_of(conn, &application.client_id)?;
        ensure_room_for_another(conn, &application.id, now)?;
        diesel::insert_into(client_secrets::table)
            .values((
                client_secrets::id.eq(&id),
                client_secrets::application_id.eq(&application.id),
                client_secrets::name.eq(&name),
                client_secrets::hint.eq(value.hint()),
                client_secrets::secret_hash.eq(secret_hash.as_phc()),
                client_secrets::created_at.eq(now.naive_utc()),
                client_secrets::created_by.eq(actor.label()),
                client_secrets::expires_at.eq(expires_at.naive_utc()),
                client_secrets::description.eq(&description),
            ))
            .execute(conn)?;
        AuditEvent::success("secret.create", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .secret(&id)
            .details(serde_json::json!({
                "name": name, "hint": value.hint(), "expires_at": expires_at,
                "description": description,
            }))
            .record(conn, now)
    })?;
    let info = ClientSecretInfo {
        id,
        name,
        hint: value.hint().to_owned(),
        created_at: now,
        created_by: actor.label(),
        expires_at,
        last_used_at: None,
        status: SecretStatus::of(expires_at, now),
        description,
    };
    Ok(NewClientSecret {
        info,
        value: value.expose().to_owned(),
    })
}

/// The application's secrets, soonest expiry first.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id.
pub fn list(
    conn: &mut DbConn,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSecretInfo>> {
    let application = apps::find_by_client_id(conn, client_id)?;
    let rows = rows_of(conn, &application.id)?;
    let siblings: Vec<SecretLife> = rows.iter().map(SecretRow::life).collect();
    Ok(rows
        .into_iter()
        .map(|row| row.into_info(&siblings, now))
        .collect())
}

/// Deletes one of the application's secrets; it stops working at once.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id, [`not_found::secret`] for a
/// secret it does not have.
pub fn delete(
    conn: &mut DbConn,
    client_id: &str,
    secret_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ClientSecretInfo> {
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        let row = client_secrets::table
            .filter(client_secrets::id.eq(secret_id.trim()))
            .filter(client_secrets::application_id.eq(&application.id))
            .select(SecretRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| not_found::secret(&application.client_id, secret_id))?;
        remove(conn, &application, &row, actor, now)?;
        Ok(row.into_info(&[], now))
    })
}

/// Deletes every secret of the application that a newer one has replaced (status
/// [`SecretStatus::Replaced`]), each audited as a `secret.delete` like a single deletion;
/// the deleted secrets, soonest expiry first (none when nothing was replaced).
///
/// # Errors
/// [`not_found::application`] for an unknown client_id.
pub fn delete_replaced(
    conn: &mut DbConn,
    client_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSecretInfo>> {
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        // The same lock as creation: a secret created meanwhile cannot change what counts
        // as replaced between reading and deleting.
        apps::lock_credentials_of(conn, &application.client_id)?;
        let rows = rows_of(conn, &application.id)?;
        let siblings: Vec<SecretLife> = rows.iter().map(SecretRow::life).collect();
        let mut deleted = Vec::new();
        for row in rows {
            if SecretStatus::among(row.life(), &siblings, now) != SecretStatus::Replaced {
                continue;
            }
            remove(conn, &application, &row, actor, now)?;
            deleted.push(row.into_info(&siblings, now));
        }
        Ok(deleted)
    })
}

/// The application's secret rows (by its internal id), soonest expiry first.
fn rows_of(conn: &mut DbConn, application_id: &str) -> Result<Vec<SecretRow>> {
    Ok(client_secrets::table
        .filter(client_secrets::application_id.eq(application_id))
        .order((client_secrets::expires_at, client_secrets::name))
        .select(SecretRow::as_select())
        .load(conn)?)
}

/// Deletes one secret row and records the audit event, inside the caller's transaction.
fn remove(
    conn: &mut DbConn,
    application: &Application,
    row: &SecretRow,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    diesel::delete(client_secrets::table.find(&row.id)).execute(conn)?;
    AuditEvent::success("secret.delete", actor)
        .organisation(&application.organisation_id)
        .application(&application.id)
        .secret(&row.id)
        .details(serde_json::json!({ "name": row.name, "hint": row.hint }))
        .record(conn, now)
}

fn ensure_room_for_another(
    conn: &mut DbConn,
    application_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let active: i64 = client_secrets::table
        .filter(client_secrets::application_id.eq(application_id))
        .filter(client_secrets::expires_at.gt(now.naive_utc()))
        .count()
        .get_result(conn)?;
    if active >= MAX_ACTIVE_SECRETS {
        return Err(Error::Conflict(format!(
            "This application already has {MAX_ACTIVE_SECRETS} active secrets, the most allowed. Delete one it no longer uses first."
        )));
    }
    Ok(())
}
