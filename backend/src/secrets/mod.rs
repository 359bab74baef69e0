//! Client secrets: created with a CSPRNG value shown exactly once, stored as an argon2id
//! hash and a three-character hint, listed, and deleted when no longer used.

pub mod hash;
pub mod http;
pub mod value;

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::{
    ClientSecretInfo, EXPIRING_WITHIN_DAYS, NewClientSecret, SecretStatus, SigningAlgorithm,
};
use clavis_shared::portal::ExpiringSecret;
use clavis_shared::reminders::SecretLife;
use clavis_shared::validate::{self, MAX_ACTIVE_SECRETS};
use diesel::prelude::*;
use std::collections::HashMap;

use crate::access::Actor;
use crate::apps;
use crate::audit::AuditEvent;
use crate::db::schema::{apis, application_apis, application_scopes, applications, client_secrets};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use value::ClientSecretValue;

#[derive(Queryable, Selectable)]
#[diesel(table_name = client_secrets)]
struct SecretRow {
    id: String,
    application_id: String,
    name: String,
    hint: String,
    created_at: NaiveDateTime,
    created_by: String,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
}

impl SecretRow {
    fn life(&self) -> SecretLife {
        SecretLife {
            created_at: db::utc(self.created_at),
            expires_at: db::utc(self.expires_at),
        }
    }

    /// As contacts see it; `siblings` (the application's secrets) decide "replaced".
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
        }
    }
}

/// Creates a secret for the application `client_id`; the returned value is never stored.
pub fn create(
    conn: &mut DbConn,
    client_id: &str,
    name: &str,
    expires_at: DateTime<Utc>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<NewClientSecret> {
    let name = validate::secret_name(name)?;
    let expires_at = validate::secret_expiry(expires_at, now)?;
    let id = uuid::Uuid::new_v4();
    let value = ClientSecretValue::generate(id);
    // Hash before the transaction: argon2id takes milliseconds and needs no lock.
    let secret_hash = hash::hash(&value)?;
    let id = id.to_string();
    db::write_transaction(conn, |conn| {
        lock_secrets_of(conn, client_id)?;
        let application = apps::find_by_client_id(conn, client_id)?;
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
            ))
            .execute(conn)?;
        AuditEvent::success("secret.create", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .secret(&id)
            .details(serde_json::json!({
                "name": name, "hint": value.hint(), "expires_at": expires_at,
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
    };
    Ok(NewClientSecret {
        info,
        value: value.expose().to_owned(),
    })
}

/// The application's secrets, soonest expiry first.
pub fn list(
    conn: &mut DbConn,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<ClientSecretInfo>> {
    let application = apps::find_by_client_id(conn, client_id)?;
    let rows = client_secrets::table
        .filter(client_secrets::application_id.eq(&application.id))
        .order((client_secrets::expires_at, client_secrets::name))
        .select(SecretRow::as_select())
        .load(conn)?;
    let siblings: Vec<SecretLife> = rows.iter().map(SecretRow::life).collect();
    Ok(rows
        .into_iter()
        .map(|row| row.into_info(&siblings, now))
        .collect())
}

/// How many active secrets each application has, and when the first of them expires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActiveSecrets {
    pub count: i64,
    pub soonest_expiry: Option<DateTime<Utc>>,
}

/// [`ActiveSecrets`] of each of the given applications, keyed by application id.
pub fn active_by_application(
    conn: &mut DbConn,
    application_ids: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<String, ActiveSecrets>> {
    let rows: Vec<(String, NaiveDateTime)> = client_secrets::table
        .filter(client_secrets::application_id.eq_any(application_ids))
        .filter(client_secrets::expires_at.gt(now.naive_utc()))
        .select((client_secrets::application_id, client_secrets::expires_at))
        .load(conn)?;
    let mut active: HashMap<String, ActiveSecrets> = HashMap::new();
    for (application_id, expires_at) in rows {
        let entry = active.entry(application_id).or_default();
        entry.count += 1;
        let expires_at = db::utc(expires_at);
        entry.soonest_expiry = Some(
            entry
                .soonest_expiry
                .map_or(expires_at, |s| s.min(expires_at)),
        );
    }
    Ok(active)
}

/// The creation and expiry of every secret of some applications: what deciding whether a
/// secret was replaced needs.
pub struct Lives(HashMap<String, Vec<SecretLife>>);

impl Lives {
    /// The secrets of one application (none if it was not asked about).
    pub fn of(&self, application_id: &str) -> &[SecretLife] {
        self.0.get(application_id).map_or(&[], Vec::as_slice)
    }
}

pub fn lives_of(conn: &mut DbConn, application_ids: &[String]) -> Result<Lives> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = client_secrets::table
        .filter(client_secrets::application_id.eq_any(application_ids))
        .select((
            client_secrets::application_id,
            client_secrets::created_at,
            client_secrets::expires_at,
        ))
        .load(conn)?;
    let mut lives: HashMap<String, Vec<SecretLife>> = HashMap::new();
    for (application_id, created_at, expires_at) in rows {
        lives.entry(application_id).or_default().push(SecretLife {
            created_at: db::utc(created_at),
            expires_at: db::utc(expires_at),
        });
    }
    Ok(Lives(lives))
}

/// Secrets whose expiry reminders have started (six weeks or less left) and that were not
/// replaced yet, soonest first: of the given organisations, or of all when `organisations`
/// is `None`. The same rule decides which reminder e-mails go out.
pub fn expiring(
    conn: &mut DbConn,
    organisations: Option<&[String]>,
    now: DateTime<Utc>,
) -> Result<Vec<ExpiringSecret>> {
    // A bound for the index; the calendar-day rule below decides exactly.
    let horizon = now + chrono::Duration::days(EXPIRING_WITHIN_DAYS + 1);
    let mut query = client_secrets::table
        .inner_join(applications::table)
        .filter(client_secrets::expires_at.gt(now.naive_utc()))
        .filter(client_secrets::expires_at.le(horizon.naive_utc()))
        .order((client_secrets::expires_at, applications::name))
        .select((
            SecretRow::as_select(),
            applications::name,
            applications::client_id,
            applications::organisation_id,
        ))
        .into_boxed();
    if let Some(organisations) = organisations {
        query = query.filter(applications::organisation_id.eq_any(organisations));
    }
    let rows: Vec<(SecretRow, String, String, String)> = query.load(conn)?;
    let application_ids: Vec<String> = rows
        .iter()
        .map(|row| row.0.application_id.clone())
        .collect();
    let lives = lives_of(conn, &application_ids)?;
    Ok(rows
        .into_iter()
        .filter_map(|(row, application_name, client_id, organisation_id)| {
            let siblings = lives.of(&row.application_id);
            let secret = row.into_info(siblings, now);
            (secret.status == SecretStatus::Expiring).then_some(ExpiringSecret {
                secret,
                application_name,
                client_id,
                organisation_id,
            })
        })
        .collect())
}

/// Deletes one of the application's secrets; it stops working at once.
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
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "Application {} has no secret with the id \"{}\".",
                    application.client_id,
                    secret_id.trim()
                ))
            })?;
        diesel::delete(client_secrets::table.find(&row.id)).execute(conn)?;
        AuditEvent::success("secret.delete", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .secret(&row.id)
            .details(serde_json::json!({ "name": row.name, "hint": row.hint }))
            .record(conn, now)?;
        Ok(row.into_info(&[], now))
    })
}

/// Takes the application's row lock before counting, so concurrent creations on PostgreSQL
/// cannot both pass the quota check (on SQLite the write transaction already serialises them).
fn lock_secrets_of(conn: &mut DbConn, client_id: &str) -> Result<()> {
    diesel::update(
        applications::table.filter(applications::client_id.eq(client_id.trim().to_lowercase())),
    )
    .set(applications::enabled.eq(applications::enabled))
    .execute(conn)?;
    Ok(())
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

/// What client authentication needs about one secret, its application and what that
/// application may receive.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    pub secret_id: String,
    pub secret_hash: String,
    pub expires_at: DateTime<Utc>,
    pub application: ClientApplication,
    pub grants: Vec<TokenGrant>,
}

/// An API an application may receive tokens for, as the token endpoint needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub api_code: String,
    pub audience: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The API's own algorithm; `None` follows the configured default
    /// ([`crate::keys::Keys::algorithm_for`]).
    pub signing_alg: Option<SigningAlgorithm>,
}

/// An application as the token endpoint sees it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ClientApplication {
    pub id: String,
    pub client_id: String,
    pub organisation_id: String,
    pub environment: String,
    pub enabled: bool,
    pub token_lifetime_secs: i32,
    /// The kill switch's moment (UTC): tokens issued until then are inactive.
    pub tokens_revoked_before: Option<NaiveDateTime>,
}

type CredentialRow = (
    String,
    String,
    NaiveDateTime,
    ClientApplication,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The secrets named by `secret_ids` that exist, each with its application and that
/// application's API grants: one indexed query (a row per granted scope) for a whole batch of
/// token requests, read fresh for every batch so a deletion, expiry or disabling applies at
/// once on every instance. The caller checks that each belongs to the client asking.
pub fn credentials(
    conn: &mut DbConn,
    secret_ids: &[&str],
) -> Result<HashMap<String, StoredCredential>> {
    let rows: Vec<CredentialRow> = client_secrets::table
        .inner_join(applications::table)
        .left_join(
            application_apis::table.on(application_apis::application_id.eq(applications::id)),
        )
        .left_join(apis::table.on(apis::id.eq(application_apis::api_id)))
        .left_join(
            application_scopes::table.on(application_scopes::application_id
                .eq(application_apis::application_id)
                .and(application_scopes::api_id.eq(application_apis::api_id))),
        )
        .filter(client_secrets::id.eq_any(secret_ids))
        .order((client_secrets::id, apis::code, application_scopes::scope))
        .select((
            client_secrets::id,
            client_secrets::secret_hash,
            client_secrets::expires_at,
            (
                applications::id,
                applications::client_id,
                applications::organisation_id,
                applications::environment,
                applications::enabled,
                applications::token_lifetime_secs,
                applications::tokens_revoked_before,
            ),
            apis::code.nullable(),
            apis::audience.nullable(),
            apis::signing_alg.nullable(),
            application_scopes::scope.nullable(),
        ))
        .load(conn)?;
    let mut found: HashMap<String, StoredCredential> = HashMap::new();
    for (secret_id, secret_hash, expires_at, application, code, audience, signing_alg, scope) in
        rows
    {
        let credential = found
            .entry(secret_id.clone())
            .or_insert_with(|| StoredCredential {
                secret_id,
                secret_hash,
                expires_at: db::utc(expires_at),
                application,
                grants: Vec::new(),
            });
        let (Some(api_code), Some(audience)) = (code, audience) else {
            continue;
        };
        let grants = &mut credential.grants;
        if grants.last().is_none_or(|last| last.api_code != api_code) {
            // The column's CHECK admits only the algorithms Clavis knows.
            let signing_alg = signing_alg
                .map(|alg| alg.parse())
                .transpose()
                .map_err(Error::Internal)?;
            grants.push(TokenGrant {
                api_code,
                audience,
                scopes: Vec::new(),
                signing_alg,
            });
        }
        if let (Some(grant), Some(scope)) = (grants.last_mut(), scope) {
            grant.scopes.push(scope);
        }
    }
    Ok(found)
}

/// Stores when secrets were last used; called in batches, not per request.
pub fn record_last_used(conn: &mut DbConn, used: &[(String, DateTime<Utc>)]) -> Result<()> {
    db::write_transaction(conn, |conn| {
        for (secret_id, at) in used {
            diesel::update(client_secrets::table.find(secret_id))
                .set(client_secrets::last_used_at.eq(at.naive_utc()))
                .execute(conn)?;
        }
        Ok(())
    })
}
