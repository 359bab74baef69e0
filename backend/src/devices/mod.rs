//! Devices (issue 19, part 3): the nodes an organisation's applications run on, each with a
//! GUID, a name, an enabled flag and up to ten secrets. An application that requires a device
//! gets tokens only when the request also proves an enabled device of its organisation
//! (`X-Device-Authorization`, [`crate::oauth`]). Device secrets follow the rules of client
//! secrets: the same value format and argon2id hash, shown once, hinted, at most a year.
//!
//! Every function here fails with [`Error::Database`] when the database does; the `# Errors`
//! of each name what else it refuses.

pub mod certificates;
pub mod http;

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::devices::{CreateDevice, Device};
use clavis_shared::dto::{ClientSecretInfo, NewClientSecret, SecretStatus};
use clavis_shared::reminders::SecretLife;
use clavis_shared::validate::{self, ClientId, MAX_ACTIVE_SECRETS, ValidationError};
use diesel::prelude::*;
use std::collections::HashMap;

use crate::access::Actor;
use crate::audit::AuditEvent;
use crate::db::schema::{device_secrets, devices};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::orgs;
use crate::secrets::Lives;
use crate::secrets::hash::{self, SecretHash};

#[derive(Queryable, Selectable)]
#[diesel(table_name = devices)]
struct DeviceRow {
    id: String,
    organisation_id: String,
    name: String,
    enabled: bool,
    created_at: NaiveDateTime,
    created_by: String,
}

impl DeviceRow {
    fn into_device(self, active_secrets: i64) -> Device {
        Device {
            device_id: self.id,
            organisation_id: self.organisation_id,
            name: self.name,
            enabled: self.enabled,
            created_at: db::utc(self.created_at),
            created_by: self.created_by,
            active_secrets,
        }
    }
}

fn not_found(device_id: &str) -> Error {
    Error::NotFound(format!("No device has the id \"{}\".", device_id.trim()))
}

/// Creates a device of `organisation` (id or name), audited as `device.create`.
///
/// # Errors
/// [`Error::NotFound`] for an unknown organisation, [`Error::Invalid`] for a bad name or a
/// supplied id that is not a GUID, [`Error::Conflict`] for a name or id already taken.
pub fn create(
    conn: &mut DbConn,
    organisation: &str,
    new: &CreateDevice,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Device> {
    let name = validate::device_name(&new.name)?;
    let id = match &new.device_id {
        Some(supplied) => ClientId::parse(supplied)
            .map_err(|error| ValidationError::new("device_id", error.message))?
            .to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    db::write_transaction(conn, |conn| {
        let organisation = orgs::find(conn, organisation)?;
        if devices::table.find(&id).count().get_result::<i64>(conn)? > 0 {
            return Err(Error::Conflict(format!(
                "The device id {id} is taken. Leave it out to have one generated, or check that this device was not registered already."
            )));
        }
        diesel::insert_into(devices::table)
            .values((
                devices::id.eq(&id),
                devices::organisation_id.eq(&organisation.id),
                devices::name.eq(&name),
                devices::enabled.eq(true),
                devices::created_at.eq(now.naive_utc()),
                devices::created_by.eq(actor.label()),
            ))
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                format!("The organisation already has a device named \"{name}\".")
            }))?;
        AuditEvent::success("device.create", actor)
            .organisation(&organisation.id)
            .details(serde_json::json!({ "device_id": id, "name": name }))
            .record(conn, now)?;
        find(conn, &id)
    })
}

/// The device with this id, written in any GUID form.
///
/// # Errors
/// [`Error::NotFound`] when there is none.
pub fn find(conn: &mut DbConn, device_id: &str) -> Result<Device> {
    let Ok(id) = ClientId::parse(device_id) else {
        return Err(not_found(device_id));
    };
    let row = devices::table
        .find(id.as_str())
        .select(DeviceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(device_id))?;
    let active = active_secrets(conn, std::slice::from_ref(&row.id), db::now())?;
    let count = active.get(&row.id).copied().unwrap_or(0);
    Ok(row.into_device(count))
}

/// The devices of `organisation` (id or name), by name.
///
/// # Errors
/// [`Error::NotFound`] for an unknown organisation.
pub fn list(conn: &mut DbConn, organisation: &str, now: DateTime<Utc>) -> Result<Vec<Device>> {
    let organisation = orgs::find(conn, organisation)?;
    let rows: Vec<DeviceRow> = devices::table
        .filter(devices::organisation_id.eq(&organisation.id))
        .order(devices::name)
        .select(DeviceRow::as_select())
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let active = active_secrets(conn, &ids, now)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let count = active.get(&row.id).copied().unwrap_or(0);
            row.into_device(count)
        })
        .collect())
}

/// How many unexpired secrets each of the devices has.
fn active_secrets(
    conn: &mut DbConn,
    device_ids: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = device_secrets::table
        .filter(device_secrets::device_id.eq_any(device_ids))
        .filter(device_secrets::expires_at.gt(now.naive_utc()))
        .group_by(device_secrets::device_id)
        .select((device_secrets::device_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Enables or disables the device, audited as `device.enable` or `device.disable`. A
/// disabled device proves nothing from the next token request on.
///
/// # Errors
/// [`Error::NotFound`] for an unknown device.
pub fn set_enabled(
    conn: &mut DbConn,
    device_id: &str,
    enabled: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Device> {
    db::write_transaction(conn, |conn| {
        let device = find(conn, device_id)?;
        // Disabling revokes what the device was issued until now: enabling it again later
        // (a lost device found) brings no old token back.
        let revoked_before = (!enabled).then(|| now.naive_utc());
        diesel::update(devices::table.find(&device.device_id))
            .set(devices::enabled.eq(enabled))
            .execute(conn)?;
        if let Some(moment) = revoked_before {
            diesel::update(devices::table.find(&device.device_id))
                .set(devices::tokens_revoked_before.eq(moment))
                .execute(conn)?;
        }
        let action = if enabled {
            "device.enable"
        } else {
            "device.disable"
        };
        AuditEvent::success(action, actor)
            .organisation(&device.organisation_id)
            .details(serde_json::json!({ "device_id": device.device_id, "name": device.name }))
            .record(conn, now)?;
        find(conn, &device.device_id)
    })
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = device_secrets)]
struct DeviceSecretRow {
    id: String,
    name: String,
    hint: String,
    created_at: NaiveDateTime,
    created_by: String,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    description: String,
}

impl DeviceSecretRow {
    fn life(&self) -> SecretLife {
        SecretLife {
            created_at: db::utc(self.created_at),
            expires_at: db::utc(self.expires_at),
        }
    }

    /// As the portal shows it; `siblings` are the device's secrets, which decide whether a
    /// newer one replaced it (empty: not worked out).
    fn into_info(self, siblings: &[SecretLife], now: DateTime<Utc>) -> ClientSecretInfo {
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

/// Creates a secret for the device, with an optional `description` (empty for none),
/// audited as `device_secret.create`; the value is returned this once and never stored.
///
/// # Errors
/// [`Error::NotFound`] for an unknown device, [`Error::Invalid`] for a bad name, description
/// or expiry, [`Error::Conflict`] when the device already has ten active secrets.
pub fn create_secret(
    conn: &mut DbConn,
    device_id: &str,
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
        let device = find(conn, device_id)?;
        lock_secrets_of(conn, &device.device_id)?;
        if active_secrets(conn, std::slice::from_ref(&device.device_id), now)?
            .get(&device.device_id)
            .is_some_and(|count| *count >= MAX_ACTIVE_SECRETS)
        {
            return Err(Error::Conflict(format!(
                "This device already has {MAX_ACTIVE_SECRETS} active secrets, the most allowed. Delete one it no longer uses first."
            )));
        }
        diesel::insert_into(device_secrets::table)
            .values((
                device_secrets::id.eq(&id),
                device_secrets::device_id.eq(&device.device_id),
                device_secrets::name.eq(&name),
                device_secrets::hint.eq(value.hint()),
                device_secrets::secret_hash.eq(secret_hash.as_phc()),
                device_secrets::created_at.eq(now.naive_utc()),
                device_secrets::created_by.eq(actor.label()),
                device_secrets::expires_at.eq(expires_at.naive_utc()),
                device_secrets::description.eq(&description),
            ))
            .execute(conn)?;
        AuditEvent::success("device_secret.create", actor)
            .organisation(&device.organisation_id)
            .secret(&id)
            .details(serde_json::json!({
                "device_id": device.device_id, "device": device.name, "name": name,
                "hint": value.hint(), "expires_at": expires_at, "description": description,
            }))
            .record(conn, now)
    })?;
    let info = DeviceSecretRow {
        id,
        name,
        hint: value.hint().to_owned(),
        created_at: now.naive_utc(),
        created_by: actor.label(),
        expires_at: expires_at.naive_utc(),
        last_used_at: None,
        description,
    }
    .into_info(&[], now);
    Ok(NewClientSecret {
        info,
        value: value.expose().to_owned(),
    })
}

/// The device's secrets (never their values), soonest expiry first.
///
/// # Errors
/// [`Error::NotFound`] for an unknown device.
pub fn list_secrets(
    conn: &mut DbConn,
    device_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSecretInfo>> {
    let device = find(conn, device_id)?;
    let rows = secret_rows_of(conn, &device.device_id)?;
    let siblings: Vec<SecretLife> = rows.iter().map(DeviceSecretRow::life).collect();
    Ok(rows
        .into_iter()
        .map(|row| row.into_info(&siblings, now))
        .collect())
}

/// The device's secret rows, soonest expiry first.
fn secret_rows_of(conn: &mut DbConn, device_id: &str) -> Result<Vec<DeviceSecretRow>> {
    Ok(device_secrets::table
        .filter(device_secrets::device_id.eq(device_id))
        .order((device_secrets::expires_at, device_secrets::name))
        .select(DeviceSecretRow::as_select())
        .load(conn)?)
}

/// Serialises changes to one device's secrets (creation against the limit, deleting the
/// replaced ones), inside the caller's transaction: a no-op update takes the row's lock.
fn lock_secrets_of(conn: &mut DbConn, device_id: &str) -> Result<()> {
    diesel::update(devices::table.find(device_id))
        .set(devices::enabled.eq(devices::enabled))
        .execute(conn)?;
    Ok(())
}

/// Deletes one of the device's secrets, audited as `device_secret.delete`; it stops
/// working at once.
///
/// # Errors
/// [`Error::NotFound`] for an unknown device, or a secret it does not have.
pub fn delete_secret(
    conn: &mut DbConn,
    device_id: &str,
    secret_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ClientSecretInfo> {
    // Ids are lower-case GUIDs; one copied from elsewhere may not be.
    let secret_id = secret_id.trim().to_ascii_lowercase();
    db::write_transaction(conn, |conn| {
        let device = find(conn, device_id)?;
        let row = device_secrets::table
            .filter(device_secrets::id.eq(&secret_id))
            .filter(device_secrets::device_id.eq(&device.device_id))
            .select(DeviceSecretRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "The device {} has no secret with the id \"{secret_id}\".",
                    device.device_id,
                ))
            })?;
        remove_secret(conn, &device, &row, actor, now)?;
        Ok(row.into_info(&[], now))
    })
}

/// Deletes every secret of the device that a newer one has replaced (status
/// [`SecretStatus::Replaced`]), each audited as a `device_secret.delete`; the deleted
/// secrets, soonest expiry first (none when nothing was replaced).
///
/// # Errors
/// [`Error::NotFound`] for an unknown device.
pub fn delete_replaced_secrets(
    conn: &mut DbConn,
    device_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSecretInfo>> {
    db::write_transaction(conn, |conn| {
        let device = find(conn, device_id)?;
        // As creation does: a secret created meanwhile cannot change what counts as replaced.
        lock_secrets_of(conn, &device.device_id)?;
        let rows = secret_rows_of(conn, &device.device_id)?;
        let siblings: Vec<SecretLife> = rows.iter().map(DeviceSecretRow::life).collect();
        let mut deleted = Vec::new();
        for row in rows {
            if SecretStatus::among(row.life(), &siblings, now) != SecretStatus::Replaced {
                continue;
            }
            remove_secret(conn, &device, &row, actor, now)?;
            deleted.push(row.into_info(&siblings, now));
        }
        Ok(deleted)
    })
}

/// Deletes one secret row and records the audit event, inside the caller's transaction.
fn remove_secret(
    conn: &mut DbConn,
    device: &Device,
    row: &DeviceSecretRow,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    diesel::delete(device_secrets::table.find(&row.id)).execute(conn)?;
    AuditEvent::success("device_secret.delete", actor)
        .organisation(&device.organisation_id)
        .secret(&row.id)
        .details(serde_json::json!({
            "device_id": device.device_id, "device": device.name, "name": row.name,
            "hint": row.hint,
        }))
        .record(conn, now)
}

/// The [`Lives`] of the given devices' secrets, keyed by device id: what deciding whether a
/// device secret was replaced needs (its expiry reminders stop then).
///
/// # Errors
/// Only the database's.
pub fn lives_of(conn: &mut DbConn, device_ids: &[String]) -> Result<Lives> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = device_secrets::table
        .filter(device_secrets::device_id.eq_any(device_ids))
        .select((
            device_secrets::device_id,
            device_secrets::created_at,
            device_secrets::expires_at,
        ))
        .load(conn)?;
    Ok(Lives::from_rows(rows))
}

/// What the token endpoint needs to prove a device: its organisation and enabled flag, and
/// the secret presented's hash and expiry.
#[derive(Debug, Clone)]
pub struct StoredDeviceSecret {
    pub device_id: String,
    pub organisation_id: String,
    pub enabled: bool,
    pub secret_id: String,
    pub secret_hash: SecretHash,
    pub expires_at: DateTime<Utc>,
}

/// The device secrets named by `secret_ids` that exist, each with its device, keyed by
/// secret id: one indexed query for a whole batch of token requests, read fresh for every
/// batch, so that disabling and deletion apply at once on every instance. The caller checks
/// that each belongs to the device presented.
///
/// # Errors
/// Only the database's.
pub fn credentials(
    conn: &mut DbConn,
    secret_ids: &[&str],
) -> Result<HashMap<String, StoredDeviceSecret>> {
    let rows: Vec<(String, String, bool, String, SecretHash, NaiveDateTime)> =
        device_secrets::table
            .inner_join(devices::table)
            .filter(device_secrets::id.eq_any(secret_ids))
            .select((
                devices::id,
                devices::organisation_id,
                devices::enabled,
                device_secrets::id,
                device_secrets::secret_hash,
                device_secrets::expires_at,
            ))
            .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(device_id, organisation_id, enabled, secret_id, secret_hash, expires_at)| {
                let stored = StoredDeviceSecret {
                    device_id,
                    organisation_id,
                    enabled,
                    secret_id: secret_id.clone(),
                    secret_hash,
                    expires_at: db::utc(expires_at),
                };
                (secret_id, stored)
            },
        )
        .collect())
}

/// Whether `device_id` is an enabled device of `organisation_id`, and when it was last
/// disabled (tokens issued on it until then are revoked): what decides at introspection
/// whether a token issued on it is current. `None` when no such device exists.
///
/// # Errors
/// Only the database's.
pub fn token_standing(
    conn: &mut DbConn,
    device_id: &str,
    organisation_id: &str,
) -> Result<Option<(bool, Option<NaiveDateTime>)>> {
    Ok(devices::table
        .find(device_id)
        .filter(devices::organisation_id.eq(organisation_id))
        .select((devices::enabled, devices::tokens_revoked_before))
        .first(conn)
        .optional()?)
}

/// Whether a device with this id exists, for the audit trail's reason only.
///
/// # Errors
/// Only the database's.
pub fn exists(conn: &mut DbConn, device_id: &str) -> Result<bool> {
    Ok(devices::table
        .find(device_id)
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Writes when device secrets were last used (gathered by the token endpoint).
///
/// # Errors
/// Only the database's.
pub fn record_last_used(conn: &mut DbConn, used: &[(String, DateTime<Utc>)]) -> Result<()> {
    for (secret_id, at) in used {
        diesel::update(device_secrets::table.find(secret_id))
            .set(device_secrets::last_used_at.eq(at.naive_utc()))
            .execute(conn)?;
    }
    Ok(())
}
