//! Which reminders are due at a given moment, and to whom: the shared reminder rule applied
//! to the secrets, and the public keys and certificates, in the database. A credential is
//! replaced only by a newer one of its own kind: a secret by a secret, a key by a key or a
//! certificate (issue 18).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use clavis_shared::dto::{Organisation, Role};
use clavis_shared::portal::{Contact, ReminderRecipients};
use clavis_shared::reminders::{EXPIRED_NOTICE_DAYS, EXPIRING_WITHIN_DAYS, SecretLife, Stage};
use diesel::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::db::schema::{
    applications, client_keys, client_secrets, organisations, role_assignments, users,
};
use crate::db::{self, DbConn};
use crate::error::Result;
use crate::secrets::{self, Lives};
use clavis_shared::dto::ClientKeyKind;

/// One credential, a secret or a key, with what a reminder about it says. (The `secret_`
/// names are the reminder ledger's, which records keys by their id too.)
#[derive(Debug, Clone)]
pub struct SecretFacts {
    pub secret_id: String,
    pub secret_name: String,
    /// A secret's first three characters, or the start of a key's thumbprint.
    pub hint: String,
    /// `None` for a client secret; the kind of a public key or certificate.
    pub key_kind: Option<ClientKeyKind>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub application_id: String,
    pub application_name: String,
    pub client_id: String,
    pub organisation_id: String,
    pub organisation_name: String,
    pub notification_email: Option<String>,
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
    application_id: String,
    #[diesel(select_expression = applications::name)]
    application_name: String,
    #[diesel(select_expression = applications::client_id)]
    client_id: String,
    #[diesel(select_expression = organisations::id)]
    organisation_id: String,
    #[diesel(select_expression = organisations::name)]
    organisation_name: String,
    #[diesel(select_expression = organisations::notification_email)]
    notification_email: Option<String>,
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
    application_id: String,
    #[diesel(select_expression = applications::name)]
    application_name: String,
    #[diesel(select_expression = applications::client_id)]
    client_id: String,
    #[diesel(select_expression = organisations::id)]
    organisation_id: String,
    #[diesel(select_expression = organisations::name)]
    organisation_name: String,
    #[diesel(select_expression = organisations::notification_email)]
    notification_email: Option<String>,
}

/// Characters of a key's thumbprint a reminder shows, as the portal does.
const THUMBPRINT_HINT_CHARS: usize = 8;

impl From<SecretRow> for SecretFacts {
    fn from(row: SecretRow) -> Self {
        Self {
            secret_id: row.id,
            secret_name: row.name,
            hint: row.hint,
            key_kind: None,
            created_at: row.created_at,
            expires_at: row.expires_at,
            application_id: row.application_id,
            application_name: row.application_name,
            client_id: row.client_id,
            organisation_id: row.organisation_id,
            organisation_name: row.organisation_name,
            notification_email: row.notification_email,
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
            key_kind: Some(ClientKeyKind::parse(&row.kind).unwrap_or(ClientKeyKind::PublicKey)),
            created_at: row.created_at,
            expires_at: row.expires_at,
            application_id: row.application_id,
            application_name: row.application_name,
            client_id: row.client_id,
            organisation_id: row.organisation_id,
            organisation_name: row.organisation_name,
            notification_email: row.notification_email,
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

/// Every reminder due at `now`. Secrets of disabled applications are left out: their
/// tokens stopped already, by an admin's decision, so a rotation reminder would mislead.
pub fn due_reminders(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<DueReminder>> {
    // Bounds for the index; Stage::due decides exactly.
    let earliest = now - Duration::days(EXPIRED_NOTICE_DAYS);
    let latest = now + Duration::days(EXPIRING_WITHIN_DAYS + 1);
    let secrets: Vec<SecretFacts> = client_secrets::table
        .inner_join(applications::table.inner_join(organisations::table))
        .filter(client_secrets::expires_at.gt(earliest.naive_utc()))
        .filter(client_secrets::expires_at.lt(latest.naive_utc()))
        .filter(applications::enabled.eq(true))
        .order((client_secrets::expires_at, client_secrets::id))
        .select(SecretRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SecretFacts::from)
        .collect();
    let keys: Vec<SecretFacts> = client_keys::table
        .inner_join(applications::table.inner_join(organisations::table))
        .filter(client_keys::expires_at.gt(earliest.naive_utc()))
        .filter(client_keys::expires_at.lt(latest.naive_utc()))
        .filter(applications::enabled.eq(true))
        .order((client_keys::expires_at, client_keys::id))
        .select(KeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SecretFacts::from)
        .collect();
    let mut due = not_replaced(conn, secrets, now)?;
    due.extend(not_replaced(conn, keys, now)?);
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
    let application_ids: Vec<String> = candidates
        .iter()
        .map(|c| c.application_id.clone())
        .collect();
    let lives = lives_of_kind(conn, first.key_kind.is_some(), &application_ids)?;
    Ok(candidates
        .into_iter()
        .filter_map(|credential| {
            let life = credential.life();
            if life.is_replaced_among(lives.of(&credential.application_id), now) {
                return None;
            }
            Stage::due(life.created_at, life.expires_at, now).map(|stage| (credential, stage))
        })
        .collect())
}

fn lives_of_kind(conn: &mut DbConn, keys: bool, application_ids: &[String]) -> Result<Lives> {
    if keys {
        crate::client_keys::lives_of(conn, application_ids)
    } else {
        secrets::lives_of(conn, application_ids)
    }
}

/// The secret or key and its context, if it still exists and was not replaced: checked
/// again just before a reminder about it is sent.
pub fn still_current(
    conn: &mut DbConn,
    credential_id: &str,
    now: DateTime<Utc>,
) -> Result<Result<SecretFacts, &'static str>> {
    let secret: Option<SecretRow> = client_secrets::table
        .inner_join(applications::table.inner_join(organisations::table))
        .filter(client_secrets::id.eq(credential_id))
        .select(SecretRow::as_select())
        .first(conn)
        .optional()?;
    let found = match secret {
        Some(secret) => Some(SecretFacts::from(secret)),
        None => client_keys::table
            .inner_join(applications::table.inner_join(organisations::table))
            .filter(client_keys::id.eq(credential_id))
            .select(KeyRow::as_select())
            .first(conn)
            .optional()?
            .map(SecretFacts::from),
    };
    let Some(credential) = found else {
        return Ok(Err("the credential was deleted"));
    };
    let lives = lives_of_kind(
        conn,
        credential.key_kind.is_some(),
        std::slice::from_ref(&credential.application_id),
    )?;
    if credential
        .life()
        .is_replaced_among(lives.of(&credential.application_id), now)
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
