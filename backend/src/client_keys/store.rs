//! The store of applications' public keys and certificates: add (only public material is
//! kept), list and delete, audited in the same transaction; and what the token endpoint
//! reads of them, in batches.
//!
//! Every function here fails with [`Error::Database`] when the database does; the
//! `# Errors` of each name what else it refuses.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::{Application, ClientKeyInfo, ClientKeyKind, SecretStatus};
use clavis_shared::reminders::SecretLife;
use clavis_shared::validate::{self, MAX_ACTIVE_CLIENT_KEYS, ValidationError};
use diesel::prelude::*;
use std::collections::HashMap;

use super::public_key::{self, PublicKeyMaterial};
use crate::access::{Actor, not_found};
use crate::apps::{self, TokenGrant};
use crate::audit::AuditEvent;
use crate::db::schema::{applications, client_keys};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::secrets::{ClientApplication, Lives};

/// A stored key, as the portal reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = client_keys)]
struct KeyRow {
    id: String,
    name: String,
    kind: String,
    key_type: String,
    kid: String,
    thumbprint: String,
    subject: String,
    created_at: NaiveDateTime,
    created_by: String,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
}

impl KeyRow {
    fn life(&self) -> SecretLife {
        SecretLife {
            created_at: db::utc(self.created_at),
            expires_at: db::utc(self.expires_at),
        }
    }

    /// As contacts see it; `siblings` (the application's keys) decide "replaced": a key is
    /// replaced by a newer key or certificate, never by a secret.
    fn into_info(self, siblings: &[SecretLife], now: DateTime<Utc>) -> Result<ClientKeyInfo> {
        let status = SecretStatus::among(self.life(), siblings, now);
        let kind = ClientKeyKind::parse(&self.kind).ok_or_else(|| {
            Error::Internal(format!(
                "client key {} has the unknown kind {:?}",
                self.id, self.kind
            ))
        })?;
        Ok(ClientKeyInfo {
            id: self.id,
            name: self.name,
            kind,
            key_type: self.key_type,
            kid: self.kid,
            thumbprint: self.thumbprint,
            subject: self.subject,
            created_at: db::utc(self.created_at),
            created_by: self.created_by,
            expires_at: db::utc(self.expires_at),
            last_used_at: self.last_used_at.map(db::utc),
            status,
        })
    }
}

/// Adds the public key or certificate `key` (see [`public_key::read`]) to the application
/// `client_id`. A certificate expires at its `notAfter` and takes no `expires_at`; any other
/// key needs one, at most a year ahead, as a secret does.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id; [`Error::Invalid`] for a bad name,
/// a key that is malformed, private or of a refused type or size, a certificate that expired
/// or lives too long, or a missing or misplaced expiry; [`Error::Conflict`] when the
/// application already holds this key, a key with the same `kid`, or the most keys allowed.
pub fn add(
    conn: &mut DbConn,
    client_id: &str,
    name: &str,
    key: &str,
    expires_at: Option<DateTime<Utc>>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ClientKeyInfo> {
    let name = validate::credential_name(name)?;
    let material = public_key::read(key)?;
    let expires_at = expiry(&material, expires_at, now)?;
    let id = uuid::Uuid::new_v4().to_string();
    let kid = material
        .kid
        .clone()
        .unwrap_or_else(|| material.thumbprint.clone());
    let subject = material
        .certificate
        .as_ref()
        .map(|certificate| certificate.subject.clone())
        .unwrap_or_default();
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        apps::lock_credentials_of(conn, &application.client_id)?;
        ensure_room_for(conn, &application.id, &material, &kid, now)?;
        diesel::insert_into(client_keys::table)
            .values((
                client_keys::id.eq(&id),
                client_keys::application_id.eq(&application.id),
                client_keys::name.eq(&name),
                client_keys::kind.eq(material.kind.as_str()),
                client_keys::key_type.eq(material.key_type.label()),
                client_keys::kid.eq(&kid),
                client_keys::thumbprint.eq(&material.thumbprint),
                client_keys::public_jwk.eq(material.jwk.to_string()),
                client_keys::subject.eq(&subject),
                client_keys::certificate_sha256.eq(material
                    .certificate
                    .as_ref()
                    .map(|certificate| &certificate.sha256)),
                client_keys::created_at.eq(now.naive_utc()),
                client_keys::created_by.eq(actor.label()),
                client_keys::expires_at.eq(expires_at.naive_utc()),
            ))
            .execute(conn)?;
        AuditEvent::success("client_key.add", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .details(serde_json::json!({
                "key_id": id, "name": name, "kind": material.kind.as_str(),
                "key_type": material.key_type.label(), "kid": kid,
                "thumbprint": material.thumbprint, "subject": subject, "expires_at": expires_at,
            }))
            .record(conn, now)
    })?;
    Ok(ClientKeyInfo {
        id,
        name,
        kind: material.kind,
        key_type: material.key_type.label(),
        kid,
        thumbprint: material.thumbprint,
        subject,
        created_at: now,
        created_by: actor.label(),
        expires_at,
        last_used_at: None,
        status: SecretStatus::of(expires_at, now),
    })
}

/// A certificate's `notAfter`, or the chosen expiry for any other key.
fn expiry(
    material: &PublicKeyMaterial,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    match (&material.certificate, expires_at) {
        (Some(certificate), None) => Ok(validate::certificate_expiry(certificate.not_after, now)?),
        (Some(_), Some(_)) => Err(ValidationError::new(
            "expires_on",
            "A certificate expires at its own notAfter: leave the expiry out.",
        )
        .into()),
        (None, Some(expires_at)) => Ok(validate::secret_expiry(expires_at, now)?),
        (None, None) => Err(ValidationError::new(
            "expires_on",
            "Choose when this key expires: at most one year ahead. (A certificate brings its own expiry.)",
        )
        .into()),
    }
}

fn ensure_room_for(
    conn: &mut DbConn,
    application_id: &str,
    material: &PublicKeyMaterial,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let same: Vec<(String, String, String)> = client_keys::table
        .filter(client_keys::application_id.eq(application_id))
        .filter(
            client_keys::thumbprint
                .eq(&material.thumbprint)
                .or(client_keys::kid.eq(kid)),
        )
        .select((client_keys::name, client_keys::thumbprint, client_keys::kid))
        .load(conn)?;
    if let Some((name, thumbprint, _)) = same.first() {
        return Err(Error::Conflict(if *thumbprint == material.thumbprint {
            format!("This application already has this key, as \"{name}\".")
        } else {
            format!(
                "This application already has a key with the kid \"{kid}\" (\"{name}\"). Give the new key another kid."
            )
        }));
    }
    let active: i64 = client_keys::table
        .filter(client_keys::application_id.eq(application_id))
        .filter(client_keys::expires_at.gt(now.naive_utc()))
        .count()
        .get_result(conn)?;
    if active >= MAX_ACTIVE_CLIENT_KEYS {
        return Err(Error::Conflict(format!(
            "This application already has {MAX_ACTIVE_CLIENT_KEYS} active public keys and certificates, the most allowed. Delete one it no longer uses first."
        )));
    }
    Ok(())
}

/// The application's keys and certificates, soonest expiry first.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id.
pub fn list(conn: &mut DbConn, client_id: &str, now: DateTime<Utc>) -> Result<Vec<ClientKeyInfo>> {
    let application = apps::find_by_client_id(conn, client_id)?;
    let rows: Vec<KeyRow> = client_keys::table
        .filter(client_keys::application_id.eq(&application.id))
        .order((client_keys::expires_at, client_keys::name))
        .select(KeyRow::as_select())
        .load(conn)?;
    let siblings: Vec<SecretLife> = rows.iter().map(KeyRow::life).collect();
    rows.into_iter()
        .map(|row| row.into_info(&siblings, now))
        .collect()
}

/// Deletes one of the application's keys; assertions signed with it fail at once.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id, [`not_found::client_key`] for a
/// key it does not have.
pub fn delete(
    conn: &mut DbConn,
    client_id: &str,
    key_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ClientKeyInfo> {
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        let row: KeyRow = client_keys::table
            .filter(client_keys::id.eq(key_id.trim()))
            .filter(client_keys::application_id.eq(&application.id))
            .select(KeyRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| not_found::client_key(&application.client_id, key_id))?;
        remove(conn, &application, &row, actor, now)?;
        row.into_info(&[], now)
    })
}

fn remove(
    conn: &mut DbConn,
    application: &Application,
    row: &KeyRow,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    diesel::delete(client_keys::table.find(&row.id)).execute(conn)?;
    AuditEvent::success("client_key.delete", actor)
        .organisation(&application.organisation_id)
        .application(&application.id)
        .details(serde_json::json!({
            "key_id": row.id, "name": row.name, "kind": row.kind, "thumbprint": row.thumbprint,
        }))
        .record(conn, now)
}

/// One key as the token endpoint checks an assertion against it.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: String,
    pub kind: ClientKeyKind,
    pub kid: String,
    pub thumbprint: String,
    /// The public JWK, as stored.
    pub public_jwk: String,
    pub expires_at: DateTime<Utc>,
    /// A certificate's SHA-256 thumbprint, which mutual TLS matches; `None` for a public
    /// key (and for a certificate registered before thumbprints were kept).
    pub certificate_sha256: Option<String>,
}

/// An application with its keys, as the token endpoint reads them for `private_key_jwt`.
#[derive(Debug, Clone)]
pub struct KeyedClient {
    pub application: ClientApplication,
    pub grants: Vec<TokenGrant>,
    /// Its keys, expired ones included (the caller tells them apart, for the audit trail).
    pub keys: Vec<StoredKey>,
    /// Where it publishes its keys, if it does.
    pub jwks_uri: Option<String>,
}

impl KeyedClient {
    /// Whether a registered key is named by `kid` (its kid or thumbprint); never without a
    /// kid, since then a key of the `jwks_uri` may have signed.
    pub fn has_key_named(&self, kid: Option<&str>) -> bool {
        kid.is_some_and(|kid| {
            self.keys
                .iter()
                .any(|key| kid == key.kid || kid == key.thumbprint)
        })
    }
}

/// A key as [`keyed_clients`] reads it: id, kind, kid, thumbprint, public JWK, expiry, the
/// certificate's SHA-256 thumbprint, and the application.
type KeyedRow = (
    String,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    Option<String>,
    ClientApplication,
);

/// The applications named by `client_ids` that have keys, a `jwks_uri` or a registered
/// certificate subject (`tls_client_auth`), each with its keys
/// and its API grants, keyed by client_id: three indexed queries for a whole batch of token
/// requests, read fresh for every batch so that a deletion, expiry or disabling applies at
/// once.
///
/// # Errors
/// As [`apps::grants_of`], and [`Error::Internal`] for a stored kind the column's CHECK
/// should have kept out.
pub fn keyed_clients(
    conn: &mut DbConn,
    client_ids: &[&str],
) -> Result<HashMap<String, KeyedClient>> {
    let rows: Vec<KeyedRow> = client_keys::table
        .inner_join(applications::table)
        .filter(applications::client_id.eq_any(client_ids))
        .select((
            client_keys::id,
            client_keys::kind,
            client_keys::kid,
            client_keys::thumbprint,
            client_keys::public_jwk,
            client_keys::expires_at,
            client_keys::certificate_sha256,
            ClientApplication::as_select(),
        ))
        .load(conn)?;
    let published: Vec<(Option<String>, ClientApplication)> = applications::table
        .filter(applications::client_id.eq_any(client_ids))
        .filter(
            applications::jwks_uri
                .is_not_null()
                .or(applications::tls_client_auth_value.is_not_null()),
        )
        .select((applications::jwks_uri, ClientApplication::as_select()))
        .load(conn)?;
    let application_ids = rows.iter().map(|row| row.7.id.as_str()).chain(
        published
            .iter()
            .map(|(_, application)| application.id.as_str()),
    );
    let mut grants = apps::grants_of(conn, application_ids)?;
    let mut clients: HashMap<String, KeyedClient> = HashMap::new();
    for (id, kind, kid, thumbprint, public_jwk, expires_at, certificate_sha256, application) in rows
    {
        let kind = ClientKeyKind::parse(&kind).ok_or_else(|| {
            Error::Internal(format!("client key {id} has the unknown kind {kind:?}"))
        })?;
        let key = StoredKey {
            id,
            kind,
            kid,
            thumbprint,
            public_jwk,
            expires_at: db::utc(expires_at),
            certificate_sha256,
        };
        keyed(&mut clients, &mut grants, application).keys.push(key);
    }
    for (jwks_uri, application) in published {
        keyed(&mut clients, &mut grants, application).jwks_uri = jwks_uri;
    }
    Ok(clients)
}

/// The application's entry among `clients`, made on first sight with its grants.
fn keyed<'a>(
    clients: &'a mut HashMap<String, KeyedClient>,
    grants: &mut HashMap<String, Vec<TokenGrant>>,
    application: ClientApplication,
) -> &'a mut KeyedClient {
    clients
        .entry(application.client_id.clone())
        .or_insert_with(|| KeyedClient {
            grants: grants.get(&application.id).cloned().unwrap_or_default(),
            application,
            keys: Vec::new(),
            jwks_uri: None,
        })
}

/// The [`Lives`] of the given applications' keys and certificates: a key is replaced only by a
/// newer key or certificate, as a secret only by a newer secret.
///
/// # Errors
/// [`Error::Database`] when the database fails.
pub fn lives_of(conn: &mut DbConn, application_ids: &[String]) -> Result<Lives> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = client_keys::table
        .filter(client_keys::application_id.eq_any(application_ids))
        .select((
            client_keys::application_id,
            client_keys::created_at,
            client_keys::expires_at,
        ))
        .load(conn)?;
    Ok(Lives::from_rows(rows))
}

/// Stores when keys were last used; called in batches, not per request.
pub fn record_last_used(conn: &mut DbConn, used: &[(String, DateTime<Utc>)]) -> Result<()> {
    db::write_transaction(conn, |conn| {
        for (key_id, at) in used {
            diesel::update(client_keys::table.find(key_id))
                .set(client_keys::last_used_at.eq(at.naive_utc()))
                .execute(conn)?;
        }
        Ok(())
    })
}
