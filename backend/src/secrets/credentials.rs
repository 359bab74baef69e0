//! What the token endpoint reads about secrets: each secret with its application and that
//! application's API grants, read in batches; and the last-used times it writes back.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::client_auth::{CertificateSubject, ClientAuthMethod, SubjectField};
use diesel::prelude::*;
use std::collections::HashMap;

use super::hash::SecretHash;
use crate::apps::{self, TokenGrant};
use crate::db::schema::{applications, client_secrets};
use crate::db::{self, DbConn};
use crate::error::Result;

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

/// An application as the token endpoint sees it (`ClientApplication::as_select()` reads it
/// in any query that joins `applications`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = applications)]
pub struct ClientApplication {
    pub id: String,
    pub client_id: String,
    pub organisation_id: String,
    pub environment: String,
    pub enabled: bool,
    pub token_lifetime_secs: i32,
    /// The kill switch's moment (UTC): tokens issued until then are inactive.
    pub tokens_revoked_before: Option<NaiveDateTime>,
    /// The methods it accepts ([`ClientAuthMethod`] names, space-separated); `None` accepts
    /// every method it has credentials for.
    pub auth_methods: Option<String>,
    /// What a CA-issued certificate must name (`tls_client_auth`): the field's RFC 8705
    /// §2.1.2 name and the value, both or neither.
    pub tls_client_auth_field: Option<String>,
    pub tls_client_auth_value: Option<String>,
    /// Tokens only over mutual TLS, bound to the certificate (RFC 8705 §3).
    pub require_bound_tokens: bool,
    /// Token requests must also prove a device of its organisation (issue 19).
    pub requires_device: bool,
}

impl ClientApplication {
    /// Whether it accepts `method`: one it lists, or any when it lists none (the methods it
    /// has no credentials for then fail for want of them).
    pub fn accepts(&self, method: ClientAuthMethod) -> bool {
        self.auth_methods
            .as_deref()
            .is_none_or(|methods| methods.split(' ').any(|listed| listed == method.as_str()))
    }

    /// What a CA-issued certificate must name to prove it, if it registered that.
    pub fn tls_client_auth(&self) -> Option<CertificateSubject> {
        let field = SubjectField::parse(self.tls_client_auth_field.as_deref()?)?;
        Some(CertificateSubject {
            field,
            value: self.tls_client_auth_value.clone()?,
        })
    }
}

/// The secrets named by `secret_ids` that exist, each with its application and that
/// application's API grants ([`apps::grants_of`]): two indexed queries for a whole batch of
/// token requests, read fresh for every batch so a deletion, expiry or disabling applies at
/// once on every instance. The caller checks that each belongs to the client asking.
///
/// # Errors
/// As [`apps::grants_of`].
pub fn credentials(
    conn: &mut DbConn,
    secret_ids: &[&str],
) -> Result<HashMap<String, StoredCredential>> {
    let rows: Vec<(String, SecretHash, NaiveDateTime, ClientApplication)> = client_secrets::table
        .inner_join(applications::table)
        .filter(client_secrets::id.eq_any(secret_ids))
        .select((
            client_secrets::id,
            client_secrets::secret_hash,
            client_secrets::expires_at,
            ClientApplication::as_select(),
        ))
        .load(conn)?;
    let grants = apps::grants_of(conn, rows.iter().map(|row| row.3.id.as_str()))?;
    Ok(rows
        .into_iter()
        .map(|(secret_id, secret_hash, expires_at, application)| {
            // Secrets of one application in one batch share its grants.
            let own = grants.get(&application.id).cloned().unwrap_or_default();
            let credential = StoredCredential {
                secret_id: secret_id.clone(),
                secret_hash,
                expires_at: db::utc(expires_at),
                application,
                grants: own,
            };
            (secret_id, credential)
        })
        .collect())
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
