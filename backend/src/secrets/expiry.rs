//! Which secrets are expiring: the state of each application's secrets for the portal's
//! lists and dashboard, and the rule, shared with the reminders, that a secret is expiring
//! until it is replaced.
//!
//! Every function here fails with
//! [`Error::Database`](crate::error::Error::Database) when the database does; the `# Errors`
//! of each name what else it refuses.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::{EXPIRING_WITHIN_DAYS, SecretStatus};
use clavis_shared::portal::ExpiringSecret;
use clavis_shared::reminders::SecretLife;
use diesel::prelude::*;
use std::collections::HashMap;

use super::store::SecretRow;
use crate::db::schema::{applications, client_secrets};
use crate::db::{self, DbConn};
use crate::error::Result;

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

/// The creation and expiry of every secret (or every key) of some applications: what
/// deciding whether one was replaced needs.
pub struct Lives(HashMap<String, Vec<SecretLife>>);

impl Lives {
    /// The secrets of one application (none if it was not asked about).
    pub fn of(&self, application_id: &str) -> &[SecretLife] {
        self.0.get(application_id).map_or(&[], Vec::as_slice)
    }
}

impl Lives {
    /// From (application id, created at, expires at) rows, one per credential.
    pub fn from_rows(rows: Vec<(String, NaiveDateTime, NaiveDateTime)>) -> Self {
        let mut lives: HashMap<String, Vec<SecretLife>> = HashMap::new();
        for (application_id, created_at, expires_at) in rows {
            lives.entry(application_id).or_default().push(SecretLife {
                created_at: db::utc(created_at),
                expires_at: db::utc(expires_at),
            });
        }
        Self(lives)
    }
}

/// The [`Lives`] of the given applications' secrets.
pub fn lives_of(conn: &mut DbConn, application_ids: &[String]) -> Result<Lives> {
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = client_secrets::table
        .filter(client_secrets::application_id.eq_any(application_ids))
        .select((
            client_secrets::application_id,
            client_secrets::created_at,
            client_secrets::expires_at,
        ))
        .load(conn)?;
    Ok(Lives::from_rows(rows))
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
