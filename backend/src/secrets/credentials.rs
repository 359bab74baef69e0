//! What the token endpoint reads about secrets: each secret with its application and that
//! application's API grants, read in batches; and the last-used times it writes back.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::SigningAlgorithm;
use diesel::prelude::*;
use std::collections::HashMap;

use super::hash::SecretHash;
use crate::db::schema::{apis, application_apis, application_scopes, applications, client_secrets};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};

/// What client authentication needs about one secret, its application and what that
/// application may receive.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    pub secret_id: String,
    pub secret_hash: SecretHash,
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
    SecretHash,
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
