//! Certificates a device proves itself with over mutual TLS instead of a secret (issue 19):
//! registered by their PEM (only the certificate is kept: its subject, SHA-256 thumbprint
//! and `notAfter`), matched at the token endpoint by the thumbprint of the certificate the
//! connection presented. A certificate belongs to one device.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::devices::DeviceCertificate;
use clavis_shared::dto::ClientKeyKind;
use clavis_shared::validate::{self, ValidationError};
use diesel::prelude::*;

use crate::access::Actor;
use crate::audit::AuditEvent;
use crate::client_keys::public_key;
use crate::db::schema::{device_certificates, devices};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::secrets::Lives;

#[derive(Queryable, Selectable)]
#[diesel(table_name = device_certificates)]
struct CertificateRow {
    id: String,
    name: String,
    subject: String,
    certificate_sha256: String,
    created_at: NaiveDateTime,
    created_by: String,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
}

impl From<CertificateRow> for DeviceCertificate {
    fn from(row: CertificateRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            subject: row.subject,
            certificate_sha256: row.certificate_sha256,
            expires_at: db::utc(row.expires_at),
            created_at: db::utc(row.created_at),
            created_by: row.created_by,
            last_used_at: row.last_used_at.map(db::utc),
        }
    }
}

/// Registers the certificate in `pem` to the device, audited as `device_certificate.add`.
///
/// # Errors
/// [`Error::NotFound`] for an unknown device; [`Error::Invalid`] for a bad name, text that is
/// not one certificate (a public key, a JWK, a private key), or a certificate already
/// expired; [`Error::Conflict`] for a certificate registered to a device already.
pub fn add(
    conn: &mut DbConn,
    device_id: &str,
    name: &str,
    pem: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DeviceCertificate> {
    let name = validate::credential_name(name)?;
    let only_a_certificate = || {
        ValidationError::new(
            "certificate",
            "A device proves itself with a certificate over mutual TLS: paste one PEM certificate (-----BEGIN CERTIFICATE-----), not a private key, a public key or a JWK.",
        )
    };
    // Text that is one certificate gets the reader's word on what is wrong with it; anything
    // else gets this kind's own message, since the reader's speak of an application's keys.
    let one_certificate =
        pem.matches("-----BEGIN ").count() == 1 && pem.contains("-----BEGIN CERTIFICATE-----");
    let material = match public_key::read(pem) {
        Ok(material) => material,
        Err(refused) if one_certificate => {
            return Err(ValidationError::new("certificate", refused.message).into());
        }
        Err(_) => return Err(only_a_certificate().into()),
    };
    let facts = match (material.kind, material.certificate) {
        (ClientKeyKind::Certificate, Some(facts)) => facts,
        _ => return Err(only_a_certificate().into()),
    };
    validate::certificate_expiry(facts.not_after, now)?;
    let id = db::new_id();
    db::write_transaction(conn, |conn| {
        let device = super::find(conn, device_id)?;
        diesel::insert_into(device_certificates::table)
            .values((
                device_certificates::id.eq(&id),
                device_certificates::device_id.eq(&device.device_id),
                device_certificates::name.eq(&name),
                device_certificates::subject.eq(&facts.subject),
                device_certificates::certificate_sha256.eq(&facts.sha256),
                device_certificates::created_at.eq(now.naive_utc()),
                device_certificates::created_by.eq(actor.label()),
                device_certificates::expires_at.eq(facts.not_after.naive_utc()),
                device_certificates::not_before.eq(facts.not_before.naive_utc()),
            ))
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                "This certificate is registered to a device already: each certificate proves one device.".to_owned()
            }))?;
        AuditEvent::success("device_certificate.add", actor)
            .organisation(&device.organisation_id)
            .details(serde_json::json!({
                "device_id": device.device_id, "device": device.name, "name": name,
                "subject": facts.subject,
                "certificate_sha256": facts.sha256, "expires_at": facts.not_after,
            }))
            .record(conn, now)?;
        Ok(())
    })?;
    Ok(DeviceCertificate {
        id,
        name,
        subject: facts.subject,
        certificate_sha256: facts.sha256,
        expires_at: facts.not_after,
        created_at: now,
        created_by: actor.label(),
        last_used_at: None,
    })
}

/// The device's certificates, soonest expiry first.
///
/// # Errors
/// [`Error::NotFound`] for an unknown device.
pub fn list(conn: &mut DbConn, device_id: &str) -> Result<Vec<DeviceCertificate>> {
    let device = super::find(conn, device_id)?;
    let rows: Vec<CertificateRow> = device_certificates::table
        .filter(device_certificates::device_id.eq(&device.device_id))
        .order(device_certificates::expires_at)
        .select(CertificateRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(DeviceCertificate::from).collect())
}

/// Deletes one of the device's certificates, audited as `device_certificate.delete`; it
/// proves nothing from the next token request on.
///
/// # Errors
/// [`Error::NotFound`] for an unknown device, or a certificate it does not have.
pub fn delete(
    conn: &mut DbConn,
    device_id: &str,
    certificate_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<DeviceCertificate> {
    // Ids are lower-case GUIDs; one copied from elsewhere may not be.
    let certificate_id = certificate_id.trim().to_ascii_lowercase();
    db::write_transaction(conn, |conn| {
        let device = super::find(conn, device_id)?;
        let row: CertificateRow = device_certificates::table
            .filter(device_certificates::id.eq(&certificate_id))
            .filter(device_certificates::device_id.eq(&device.device_id))
            .select(CertificateRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "The device {} has no certificate with the id \"{certificate_id}\".",
                    device.device_id,
                ))
            })?;
        diesel::delete(device_certificates::table.find(&row.id)).execute(conn)?;
        AuditEvent::success("device_certificate.delete", actor)
            .organisation(&device.organisation_id)
            .details(serde_json::json!({
                "device_id": device.device_id, "device": device.name, "name": row.name,
                "certificate_sha256": row.certificate_sha256,
            }))
            .record(conn, now)?;
        Ok(row.into())
    })
}

/// What the token endpoint needs to prove a device by certificate.
#[derive(Debug, Clone)]
pub struct StoredDeviceCertificate {
    pub certificate_id: String,
    pub device_id: String,
    pub organisation_id: String,
    pub enabled: bool,
    /// The certificate's `notBefore`, when it was recorded.
    pub not_before: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// The device certificate with this SHA-256 thumbprint, with its device: one indexed read,
/// fresh for every token request.
///
/// # Errors
/// Only the database's.
pub fn by_thumbprint(
    conn: &mut DbConn,
    certificate_sha256: &str,
) -> Result<Option<StoredDeviceCertificate>> {
    type Row = (
        String,
        String,
        String,
        bool,
        Option<NaiveDateTime>,
        NaiveDateTime,
    );
    let row: Option<Row> = device_certificates::table
        .inner_join(devices::table)
        .filter(device_certificates::certificate_sha256.eq(certificate_sha256))
        .select((
            device_certificates::id,
            devices::id,
            devices::organisation_id,
            devices::enabled,
            device_certificates::not_before,
            device_certificates::expires_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(certificate_id, device_id, organisation_id, enabled, not_before, expires_at)| {
            StoredDeviceCertificate {
                certificate_id,
                device_id,
                organisation_id,
                enabled,
                not_before: not_before.map(db::utc),
                expires_at: db::utc(expires_at),
            }
        },
    ))
}

/// Writes when device certificates were last used.
///
/// # Errors
/// Only the database's.
pub fn record_last_used(conn: &mut DbConn, used: &[(String, DateTime<Utc>)]) -> Result<()> {
    for (certificate_id, at) in used {
        diesel::update(device_certificates::table.find(certificate_id))
            .set(device_certificates::last_used_at.eq(at.naive_utc()))
            .execute(conn)?;
    }
    Ok(())
}

/// The [`Lives`] of the given devices' certificates, keyed by device id: what deciding
/// whether a newer certificate replaced one needs (its expiry reminders stop then).
///
/// # Errors
/// Only the database's.
pub fn lives_of(conn: &mut DbConn, device_ids: &[String]) -> Result<Lives> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = device_certificates::table
        .filter(device_certificates::device_id.eq_any(device_ids))
        .select((
            device_certificates::device_id,
            device_certificates::created_at,
            device_certificates::expires_at,
        ))
        .load(conn)?;
    Ok(Lives::from_rows(rows))
}
