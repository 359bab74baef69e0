//! Which reminders are due at a given moment, and to whom: the shared reminder rule applied
//! to the applications' secrets, public keys and certificates, and the devices' secrets, in
//! the database. A credential is replaced only by a newer one of its own kind and holder: a
//! client secret by a secret of the same application, a key by a key or a certificate
//! (issue 18), a device secret by a secret of the same device, a device certificate by a
//! certificate of the same device (issue 19).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use clavis_shared::dto::{Organisation, Role};
use clavis_shared::portal::{Contact, ReminderRecipients};
use clavis_shared::reminders::{EXPIRED_NOTICE_DAYS, EXPIRING_WITHIN_DAYS, SecretLife, Stage};
use diesel::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::db::schema::{
    applications, client_keys, client_secrets, device_certificates, device_secrets, devices,
    organisations, role_assignments, users,
};
use crate::db::{self, DbConn};
use crate::error::Result;
use crate::secrets::{self, Lives};
use clavis_shared::dto::ClientKeyKind;

/// What a reminder is about: it decides the wording, the holder, and what replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An application's client secret.
    ClientSecret,
    /// An application's public key or certificate (`private_key_jwt`, mutual TLS).
    ClientKey(ClientKeyKind),
    /// A device's secret.
    DeviceSecret,
    /// A device's certificate for mutual TLS.
    DeviceCertificate,
}

impl CredentialKind {
    /// Its name in the reminder pass's report: `client_secret`, `client_key`,
    /// `device_secret` or `device_certificate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::ClientKey(_) => "client_key",
            Self::DeviceSecret => "device_secret",
            Self::DeviceCertificate => "device_certificate",
        }
    }

    /// Whether an application, rather than a device, holds it.
    pub fn of_application(self) -> bool {
        matches!(self, Self::ClientSecret | Self::ClientKey(_))
    }
}

/// One credential, a secret or a key, with what a reminder about it says. (The `secret_`
/// names are the reminder ledger's, which records keys by their id too.)
#[derive(Debug, Clone)]
pub struct SecretFacts {
    pub secret_id: String,
    pub secret_name: String,
    /// A secret's first three characters, or the start of a key's thumbprint.
    pub hint: String,
    pub kind: CredentialKind,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// The holder's id in the database: the application's internal id, or the device's id.
    pub holder_id: String,
    /// The application's or the device's name.
    pub holder_name: String,
    /// What the holder is known by outside Clavis: the application's client_id, or the
    /// device's id.
    pub holder_public_id: String,
    /// Whether the application or device is enabled: a disabled one gets no reminders.
    pub holder_enabled: bool,
    pub organisation_id: String,
    pub organisation_name: String,
    pub notification_email: Option<String>,
}

/// What every credential row reads of its organisation: whom its reminders concern.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organisations)]
struct OrganisationPart {
    id: String,
    name: String,
    notification_email: Option<String>,
}

/// A secret's row with its application and organisation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = client_secrets)]
struct SecretRow {
    id: String,
    name: String,
    hint: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    #[diesel(select_expression = applications::id)]
    holder_id: String,
    #[diesel(select_expression = applications::name)]
    holder_name: String,
    #[diesel(select_expression = applications::client_id)]
    holder_public_id: String,
    #[diesel(select_expression = applications::enabled)]
    holder_enabled: bool,
    #[diesel(embed)]
    organisation: OrganisationPart,
}

/// A key's row with its application and organisation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = client_keys)]
struct KeyRow {
    id: String,
    name: String,
    kind: String,
    thumbprint: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    #[diesel(select_expression = applications::id)]
    holder_id: String,
    #[diesel(select_expression = applications::name)]
    holder_name: String,
    #[diesel(select_expression = applications::client_id)]
    holder_public_id: String,
    #[diesel(select_expression = applications::enabled)]
    holder_enabled: bool,
    #[diesel(embed)]
    organisation: OrganisationPart,
}

/// A device secret's row with its device and organisation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = device_secrets)]
struct DeviceSecretRow {
    id: String,
    name: String,
    hint: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    #[diesel(select_expression = devices::id)]
    device_id: String,
    #[diesel(select_expression = devices::name)]
    device_name: String,
    #[diesel(select_expression = devices::enabled)]
    device_enabled: bool,
    #[diesel(embed)]
    organisation: OrganisationPart,
}

impl From<DeviceSecretRow> for SecretFacts {
    fn from(row: DeviceSecretRow) -> Self {
        Self {
            secret_id: row.id,
            secret_name: row.name,
            hint: row.hint,
            kind: CredentialKind::DeviceSecret,
            created_at: row.created_at,
            expires_at: row.expires_at,
            holder_id: row.device_id.clone(),
            holder_name: row.device_name,
            holder_public_id: row.device_id,
            holder_enabled: row.device_enabled,
            organisation_id: row.organisation.id,
            organisation_name: row.organisation.name,
            notification_email: row.organisation.notification_email,
        }
    }
}

/// A device certificate's row with its device and organisation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = device_certificates)]
struct DeviceCertificateRow {
    id: String,
    name: String,
    certificate_sha256: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    #[diesel(select_expression = devices::id)]
    device_id: String,
    #[diesel(select_expression = devices::name)]
    device_name: String,
    #[diesel(select_expression = devices::enabled)]
    device_enabled: bool,
    #[diesel(embed)]
    organisation: OrganisationPart,
}

impl From<DeviceCertificateRow> for SecretFacts {
    fn from(row: DeviceCertificateRow) -> Self {
        Self {
            secret_id: row.id,
            secret_name: row.name,
            hint: row
                .certificate_sha256
                .chars()
                .take(THUMBPRINT_HINT_CHARS)
                .collect(),
            kind: CredentialKind::DeviceCertificate,
            created_at: row.created_at,
            expires_at: row.expires_at,
            holder_id: row.device_id.clone(),
            holder_name: row.device_name,
            holder_public_id: row.device_id,
            holder_enabled: row.device_enabled,
            organisation_id: row.organisation.id,
            organisation_name: row.organisation.name,
            notification_email: row.organisation.notification_email,
        }
    }
}

/// Characters of a key's thumbprint a reminder shows, as the portal does.
const THUMBPRINT_HINT_CHARS: usize = 8;

impl From<SecretRow> for SecretFacts {
    fn from(row: SecretRow) -> Self {
        Self {
            secret_id: row.id,
            secret_name: row.name,
            hint: row.hint,
            kind: CredentialKind::ClientSecret,
            created_at: row.created_at,
            expires_at: row.expires_at,
            holder_id: row.holder_id,
            holder_name: row.holder_name,
            holder_public_id: row.holder_public_id,
            holder_enabled: row.holder_enabled,
            organisation_id: row.organisation.id,
            organisation_name: row.organisation.name,
            notification_email: row.organisation.notification_email,
        }
    }
}

impl From<KeyRow> for SecretFacts {
    fn from(row: KeyRow) -> Self {
        Self {
            secret_id: row.id,
            secret_name: row.name,
            hint: row.thumbprint.chars().take(THUMBPRINT_HINT_CHARS).collect(),
            // The column's CHECK allows only the three kinds.
            kind: CredentialKind::ClientKey(
                ClientKeyKind::parse(&row.kind).unwrap_or(ClientKeyKind::PublicKey),
            ),
            created_at: row.created_at,
            expires_at: row.expires_at,
            holder_id: row.holder_id,
            holder_name: row.holder_name,
            holder_public_id: row.holder_public_id,
            holder_enabled: row.holder_enabled,
            organisation_id: row.organisation.id,
            organisation_name: row.organisation.name,
            notification_email: row.organisation.notification_email,
        }
    }
}

impl SecretFacts {
    pub fn life(&self) -> SecretLife {
        SecretLife {
            created_at: db::utc(self.created_at),
            expires_at: db::utc(self.expires_at),
        }
    }
}

/// A reminder due now for one secret, and everyone it goes to.
#[derive(Debug, Clone)]
pub struct DueReminder {
    pub secret: SecretFacts,
    pub stage: Stage,
    pub recipients: Vec<String>,
}

/// The credentials of one table (`$credentials`, held by `$holders`) that expire between
/// `$earliest` and `$latest`, of enabled holders, soonest first, as [`SecretFacts`] read
/// through `$row`: one query for every kind, written once (the tables differ in type).
macro_rules! expiring_between {
    ($conn:expr, $credentials:ident, $holders:ident, $row:ty, $earliest:expr, $latest:expr) => {
        $credentials::table
            .inner_join($holders::table.inner_join(organisations::table))
            .filter($credentials::expires_at.gt($earliest))
            .filter($credentials::expires_at.lt($latest))
            .filter($holders::enabled.eq(true))
            .order(($credentials::expires_at, $credentials::id))
            .select(<$row>::as_select())
            .load::<$row>($conn)?
            .into_iter()
            .map(SecretFacts::from)
            .collect::<Vec<SecretFacts>>()
    };
}

/// The credential of one table (`$credentials`, held by `$holders`) with the id `$id`, if
/// there is one, as [`SecretFacts`] read through `$row`.
macro_rules! credential_by_id {
    ($conn:expr, $credentials:ident, $holders:ident, $row:ty, $id:expr) => {
        $credentials::table
            .inner_join($holders::table.inner_join(organisations::table))
            .filter($credentials::id.eq($id))
            .select(<$row>::as_select())
            .first::<$row>($conn)
            .optional()?
            .map(SecretFacts::from)
    };
}

/// Every reminder due at `now`. Credentials of disabled applications and devices are left
/// out: they stopped working already, by a person's decision, so a rotation reminder would
/// mislead.
pub fn due_reminders(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<DueReminder>> {
    // Bounds for the index; Stage::due decides exactly.
    let earliest = now - Duration::days(EXPIRED_NOTICE_DAYS);
    let latest = now + Duration::days(EXPIRING_WITHIN_DAYS + 1);
    let (earliest, latest) = (earliest.naive_utc(), latest.naive_utc());
    let secrets = expiring_between!(
        conn,
        client_secrets,
        applications,
        SecretRow,
        earliest,
        latest
    );
    let keys = expiring_between!(conn, client_keys, applications, KeyRow, earliest, latest);
    let device_secrets = expiring_between!(
        conn,
        device_secrets,
        devices,
        DeviceSecretRow,
        earliest,
        latest
    );
    let device_certificates = expiring_between!(
        conn,
        device_certificates,
        devices,
        DeviceCertificateRow,
        earliest,
        latest
    );
    let mut due = not_replaced(conn, secrets, now)?;
    due.extend(not_replaced(conn, keys, now)?);
    due.extend(not_replaced(conn, device_secrets, now)?);
    due.extend(not_replaced(conn, device_certificates, now)?);
    let organisation_ids: Vec<String> =
        due.iter().map(|(s, _)| s.organisation_id.clone()).collect();
    let managers = credential_managers(conn, &organisation_ids, now)?;
    Ok(due
        .into_iter()
        .map(|(secret, stage)| {
            let mut recipients: BTreeSet<String> = managers
                .get(&secret.organisation_id)
                .map(|by_email| by_email.keys().cloned().collect())
                .unwrap_or_default();
            recipients.extend(secret.notification_email.clone());
            DueReminder {
                secret,
                stage,
                recipients: recipients.into_iter().collect(),
            }
        })
        .filter(|reminder| !reminder.recipients.is_empty())
        .collect())
}

/// The credentials (all of one kind) that a newer one of their kind has not replaced, each
/// with the reminder due for it now, if any.
fn not_replaced(
    conn: &mut DbConn,
    candidates: Vec<SecretFacts>,
    now: DateTime<Utc>,
) -> Result<Vec<(SecretFacts, Stage)>> {
    let Some(first) = candidates.first() else {
        return Ok(Vec::new());
    };
    let holder_ids: Vec<String> = candidates.iter().map(|c| c.holder_id.clone()).collect();
    let lives = lives_of_kind(conn, first.kind, &holder_ids)?;
    Ok(candidates
        .into_iter()
        .filter_map(|credential| {
            let life = credential.life();
            if life.is_replaced_among(lives.of(&credential.holder_id), now) {
                return None;
            }
            Stage::due(life.created_at, life.expires_at, now).map(|stage| (credential, stage))
        })
        .collect())
}

/// The lives of every credential of `kind` that the holders have: what decides whether a
/// newer one replaced one of them.
fn lives_of_kind(conn: &mut DbConn, kind: CredentialKind, holder_ids: &[String]) -> Result<Lives> {
    match kind {
        CredentialKind::ClientSecret => secrets::lives_of(conn, holder_ids),
        CredentialKind::ClientKey(_) => crate::client_keys::lives_of(conn, holder_ids),
        CredentialKind::DeviceSecret => crate::devices::lives_of(conn, holder_ids),
        CredentialKind::DeviceCertificate => {
            crate::devices::certificates::lives_of(conn, holder_ids)
        }
    }
}

/// The secret or key and its context, if it still exists, was not replaced and its holder
/// is enabled: checked again just before a reminder about it is sent.
pub fn still_current(
    conn: &mut DbConn,
    credential_id: &str,
    now: DateTime<Utc>,
) -> Result<Result<SecretFacts, &'static str>> {
    // Ids are GUIDs, unique across the tables: the first table that has it is the one.
    let mut found = credential_by_id!(conn, client_secrets, applications, SecretRow, credential_id);
    if found.is_none() {
        found = credential_by_id!(conn, client_keys, applications, KeyRow, credential_id);
    }
    if found.is_none() {
        found = credential_by_id!(
            conn,
            device_secrets,
            devices,
            DeviceSecretRow,
            credential_id
        );
    }
    if found.is_none() {
        found = credential_by_id!(
            conn,
            device_certificates,
            devices,
            DeviceCertificateRow,
            credential_id
        );
    }
    let Some(credential) = found else {
        return Ok(Err("the credential was deleted"));
    };
    if !credential.holder_enabled {
        return Ok(Err(if credential.kind.of_application() {
            "the application was disabled"
        } else {
            "the device was disabled"
        }));
    }
    let lives = lives_of_kind(
        conn,
        credential.kind,
        std::slice::from_ref(&credential.holder_id),
    )?;
    if credential
        .life()
        .is_replaced_among(lives.of(&credential.holder_id), now)
    {
        return Ok(Err("the credential was replaced by a newer one"));
    }
    Ok(Ok(credential))
}

/// A role claimed by an ID token counts for reminders this long after the sign-in that
/// claimed it: someone who left stops getting them once they no longer sign in.
const CLAIMED_ROLE_VALIDITY: Duration = Duration::days(90);

/// Each organisation's credential managers, by lower-cased e-mail address with their name
/// when known: those assigned in Clavis (including people designated by e-mail who have not
/// signed in yet) and those whose ID token claimed the role at a recent sign-in. They get the
/// organisation's expiry reminders.
pub fn credential_managers(
    conn: &mut DbConn,
    organisation_ids: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<String, BTreeMap<String, Option<String>>>> {
    type Row = (Option<String>, Option<String>, Option<String>);
    let manager = Role::CredentialManager.as_str();
    let mut rows: Vec<Row> = role_assignments::table
        .inner_join(users::table)
        .filter(role_assignments::role.eq(manager))
        .filter(role_assignments::organisation_id.eq_any(organisation_ids))
        .filter(users::email.is_not_null())
        .select((
            role_assignments::organisation_id,
            users::email,
            users::display_name,
        ))
        .load(conn)?;
    rows.extend(
        users::table
            .filter(users::claimed_role.eq(manager))
            .filter(users::claimed_organisation_id.eq_any(organisation_ids))
            .filter(users::last_login_at.ge((now - CLAIMED_ROLE_VALIDITY).naive_utc()))
            .filter(users::email.is_not_null())
            .select((
                users::claimed_organisation_id,
                users::email,
                users::display_name,
            ))
            .load::<Row>(conn)?,
    );
    let mut managers: HashMap<String, BTreeMap<String, Option<String>>> = HashMap::new();
    for (organisation_id, email, name) in rows {
        if let (Some(organisation_id), Some(email)) = (organisation_id, email) {
            let known = managers
                .entry(organisation_id)
                .or_default()
                .entry(email.to_lowercase())
                .or_default();
            if known.is_none() {
                *known = name;
            }
        }
    }
    Ok(managers)
}

/// Who `organisation`'s expiry reminders go to: its credential managers, sorted by e-mail
/// address, and its shared mailbox; `sent` says whether reminders go out at all.
///
/// # Errors
/// When the database fails.
pub fn recipients_of(
    conn: &mut DbConn,
    organisation: &Organisation,
    sent: bool,
    now: DateTime<Utc>,
) -> Result<ReminderRecipients> {
    let mut managers = credential_managers(conn, std::slice::from_ref(&organisation.id), now)?;
    let credential_managers = managers
        .remove(&organisation.id)
        .unwrap_or_default()
        .into_iter()
        .map(|(email, name)| Contact { email, name })
        .collect();
    Ok(ReminderRecipients {
        organisation_id: organisation.id.clone(),
        credential_managers,
        notification_email: organisation.notification_email.clone(),
        reminders_sent: sent,
    })
}
