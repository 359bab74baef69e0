//! The OpenID Connect issuers admins trust for federated credentials: trusted only once
//! their discovery document and keys can be fetched, listed for everyone who adds a
//! credential, and untrusted only when no credential names them any more. Each change is
//! audited in its own transaction.
//!
//! Every function here fails with [`Error::Database`] when the database does; the
//! `# Errors` of each name what else it refuses.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::TrustedIssuerInfo;
use clavis_shared::validate::{self, ValidationError};
use diesel::prelude::*;

use crate::access::Actor;
use crate::audit::AuditEvent;
use crate::db::schema::{federated_credentials, trusted_issuers};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::key_sets::{KeySource, RemoteKeySets};

/// Longest issuer identifier accepted, in characters.
const MAX_ISSUER_CHARS: usize = 255;

#[derive(Queryable, Selectable)]
#[diesel(table_name = trusted_issuers)]
struct IssuerRow {
    id: String,
    issuer: String,
    name: String,
    created_at: NaiveDateTime,
    created_by: String,
}

impl IssuerRow {
    fn into_info(self, credentials: i64) -> TrustedIssuerInfo {
        TrustedIssuerInfo {
            id: self.id,
            issuer: self.issuer,
            name: self.name,
            created_at: db::utc(self.created_at),
            created_by: self.created_by,
            credentials,
        }
    }
}

/// An issuer identifier (OpenID Connect Discovery 1.0 §2): an https URL without query,
/// fragment or user name, at most [`MAX_ISSUER_CHARS`] characters. Returned trimmed but
/// otherwise exactly as given, since tokens must carry it byte for byte in `iss`.
///
/// # Errors
/// [`ValidationError`] on `issuer` saying which rule the text breaks.
pub fn issuer_identifier(text: &str) -> std::result::Result<String, ValidationError> {
    let text = text.trim();
    let refuse = |why: &str| ValidationError::new("issuer", why.to_owned());
    if text.is_empty() {
        return Err(refuse(
            "Give the issuer's URL, such as https://token.actions.githubusercontent.com.",
        ));
    }
    if text.chars().count() > MAX_ISSUER_CHARS || validate::has_control_character(text) {
        return Err(refuse(
            "The issuer must be a URL of at most 255 characters, without control characters.",
        ));
    }
    let url = url::Url::parse(text).map_err(|_| {
        refuse("This is not a URL: an issuer looks like https://oidc.example.org/cluster-1.")
    })?;
    if url.scheme() != "https" {
        return Err(refuse(
            "The issuer must be an https URL: its keys are fetched from it, and only HTTPS proves where they came from.",
        ));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(refuse(
            "An issuer identifier has no query (?…), fragment (#…), user name or password (OpenID Connect Discovery 1.0 section 2).",
        ));
    }
    // Tokens carry the identifier byte for byte: one that a URL parser would rewrite (a
    // space, a dot segment, an upper-case host) could never match what is fetched.
    let normal = url.as_str();
    if normal != text && normal != format!("{text}/") {
        return Err(refuse(&format!(
            "Write the issuer in its normal form, {normal}, exactly as its tokens carry it in iss."
        )));
    }
    Ok(text.to_owned())
}

/// Fetches the discovery document and keys of `issuer` now, so that an admin learns at
/// once whether Clavis can use it.
///
/// # Errors
/// [`Error::Invalid`] on `issuer` saying why the discovery document or keys cannot be had,
/// or that the issuer publishes no key Clavis accepts.
pub async fn check_discovery(remote: &RemoteKeySets, issuer: &str) -> Result<()> {
    let refuse = |why: String| Error::Invalid(ValidationError::new("issuer", why));
    match remote
        .fetch_now(&KeySource::Issuer(issuer.to_owned()))
        .await
    {
        Ok(0) => Err(refuse(format!(
            "{issuer} publishes no signing key Clavis accepts (RSA of 2048 bits or more, EC P-256 or P-384, or Ed25519)."
        ))),
        Ok(_) => Ok(()),
        Err(error) => Err(refuse(format!(
            "Clavis cannot use this issuer's discovery: {error:#}."
        ))),
    }
}

/// Trusts `issuer` (already checked by [`issuer_identifier`] and [`check_discovery`])
/// under `name`, or its host when no name is given.
///
/// # Errors
/// [`Error::Invalid`] for a bad name; [`Error::Conflict`] when the issuer is already trusted.
pub fn trust(
    conn: &mut DbConn,
    issuer: &str,
    name: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<TrustedIssuerInfo> {
    let host = url::Url::parse(issuer)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| issuer.to_owned());
    let host: String = host.chars().take(validate::MAX_SECRET_NAME_CHARS).collect();
    let name = validate::credential_name(name.unwrap_or(&host))?;
    let id = uuid::Uuid::new_v4().to_string();
    db::write_transaction(conn, |conn| {
        if find(conn, issuer)?.is_some() {
            return Err(Error::Conflict(format!("{issuer} is already trusted.")));
        }
        diesel::insert_into(trusted_issuers::table)
            .values((
                trusted_issuers::id.eq(&id),
                trusted_issuers::issuer.eq(issuer),
                trusted_issuers::name.eq(&name),
                trusted_issuers::created_at.eq(now.naive_utc()),
                trusted_issuers::created_by.eq(actor.label()),
            ))
            .execute(conn)?;
        AuditEvent::success("issuer.trust", actor)
            .details(serde_json::json!({ "issuer_id": id, "issuer": issuer, "name": name }))
            .record(conn, now)
    })?;
    Ok(TrustedIssuerInfo {
        id,
        issuer: issuer.to_owned(),
        name,
        created_at: now,
        created_by: actor.label(),
        credentials: 0,
    })
}

/// Every trusted issuer, by name, with how many credentials name it.
pub fn list_issuers(conn: &mut DbConn) -> Result<Vec<TrustedIssuerInfo>> {
    let rows: Vec<IssuerRow> = trusted_issuers::table
        .order((trusted_issuers::name, trusted_issuers::issuer))
        .select(IssuerRow::as_select())
        .load(conn)?;
    let counts: std::collections::HashMap<String, i64> = federated_credentials::table
        .group_by(federated_credentials::issuer_id)
        .select((federated_credentials::issuer_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let used = counts.get(&row.id).copied().unwrap_or_default();
            row.into_info(used)
        })
        .collect())
}

/// Stops trusting `issuer` (its identifier or its id).
///
/// # Errors
/// [`Error::NotFound`] when no such issuer is trusted; [`Error::Conflict`] while federated
/// credentials name it, saying how many: they are deleted first, by the people who manage
/// them, so that no workload loses access unannounced.
pub fn untrust(
    conn: &mut DbConn,
    issuer: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<TrustedIssuerInfo> {
    let issuer = issuer.trim();
    db::write_transaction(conn, |conn| {
        let row = find(conn, issuer)?
            .ok_or_else(|| Error::NotFound(format!("No trusted issuer is {issuer:?}.")))?;
        let used: i64 = federated_credentials::table
            .filter(federated_credentials::issuer_id.eq(&row.id))
            .count()
            .get_result(conn)?;
        if used > 0 {
            return Err(Error::Conflict(format!(
                "{used} federated credential(s) still trust {}. Delete them from their applications first.",
                row.issuer
            )));
        }
        diesel::delete(trusted_issuers::table.find(&row.id)).execute(conn)?;
        AuditEvent::success("issuer.untrust", actor)
            .details(
                serde_json::json!({ "issuer_id": row.id, "issuer": row.issuer, "name": row.name }),
            )
            .record(conn, now)?;
        Ok(row.into_info(0))
    })
}

/// The trusted issuer with this identifier or id.
fn find(conn: &mut DbConn, issuer: &str) -> Result<Option<IssuerRow>> {
    Ok(trusted_issuers::table
        .filter(
            trusted_issuers::issuer
                .eq(issuer)
                .or(trusted_issuers::id.eq(issuer)),
        )
        .select(IssuerRow::as_select())
        .first(conn)
        .optional()?)
}

/// The trusted issuer's id and identifier, for a credential that names it.
///
/// # Errors
/// [`Error::Invalid`] on `issuer` when no such issuer is trusted.
pub(super) fn trusted(conn: &mut DbConn, issuer: &str) -> Result<(String, String)> {
    let row = find(conn, issuer.trim())?.ok_or_else(|| {
        Error::Invalid(ValidationError::new(
            "issuer",
            format!(
                "{:?} is not a trusted issuer. An admin trusts issuers first (clavis issuer trust, or the admin pages).",
                issuer.trim()
            ),
        ))
    })?;
    Ok((row.id, row.issuer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_identifiers_are_https_urls_kept_as_given() {
        assert_eq!(
            issuer_identifier(" https://oidc.example.org/cluster-1 ").unwrap(),
            "https://oidc.example.org/cluster-1"
        );
        assert_eq!(
            issuer_identifier("https://oidc.example.org").unwrap(),
            "https://oidc.example.org"
        );
        for bad in [
            "",
            "http://oidc.example.org",
            "oidc.example.org",
            "https://oidc.example.org/?tenant=1",
            "https://oidc.example.org/#x",
            "https://user@oidc.example.org",
            "https://oidc.example.org/\u{7}",
            "https://:password@oidc.example.org",
            "https://oidc.example.org/a b",
            "https://oidc.example.org/a/../b",
            "https://OIDC.example.org",
        ] {
            assert!(issuer_identifier(bad).is_err(), "{bad:?}");
        }
    }
}
