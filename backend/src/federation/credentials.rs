//! Applications' federated credentials: add, list and delete, audited in the same
//! transaction; and what the token endpoint reads of them, in batches.
//!
//! Every function here fails with [`Error::Database`] when the database does; the
//! `# Errors` of each name what else it refuses.

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::FederatedCredentialInfo;
use clavis_shared::portal::AddFederatedCredential;
use clavis_shared::validate::{self, MAX_FEDERATED_CREDENTIALS};
use diesel::prelude::*;
use std::collections::HashMap;

use super::issuers;
use crate::access::Actor;
use crate::apps::{self, TokenGrant};
use crate::audit::AuditEvent;
use crate::db::schema::{applications, federated_credentials, trusted_issuers};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::secrets::ClientApplication;

/// A stored credential with its issuer, as the portal reads it (from the two tables
/// joined).
#[derive(Queryable, Selectable)]
#[diesel(table_name = federated_credentials)]
struct CredentialRow {
    id: String,
    name: String,
    #[diesel(select_expression = trusted_issuers::issuer)]
    #[diesel(select_expression_type = trusted_issuers::issuer)]
    issuer: String,
    #[diesel(select_expression = trusted_issuers::name)]
    #[diesel(select_expression_type = trusted_issuers::name)]
    issuer_name: String,
    subject: String,
    audience: String,
    created_at: NaiveDateTime,
    created_by: String,
    last_used_at: Option<NaiveDateTime>,
}

impl From<CredentialRow> for FederatedCredentialInfo {
    fn from(row: CredentialRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            issuer: row.issuer,
            issuer_name: row.issuer_name,
            subject: row.subject,
            audience: row.audience,
            created_at: db::utc(row.created_at),
            created_by: row.created_by,
            last_used_at: row.last_used_at.map(db::utc),
        }
    }
}

/// Lets tokens from a trusted issuer with exactly `added.subject` and `added.audience`
/// (`default_audience`, Clavis's issuer identifier, when left out) prove the application
/// `client_id`.
///
/// # Errors
/// [`crate::access::not_found::application`] for an unknown client_id; [`Error::Invalid`]
/// for a bad name, subject or audience, or an issuer that is not trusted;
/// [`Error::Conflict`] when the application already accepts this subject from this issuer,
/// or has [`MAX_FEDERATED_CREDENTIALS`] already.
pub fn add(
    conn: &mut DbConn,
    client_id: &str,
    added: &AddFederatedCredential,
    default_audience: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<FederatedCredentialInfo> {
    let name = validate::credential_name(&added.name)?;
    let subject = validate::federated_subject(&added.subject)?;
    let audience = validate::federated_audience(
        added
            .audience
            .as_deref()
            .filter(|audience| !audience.trim().is_empty())
            .unwrap_or(default_audience),
    )?;
    let id = uuid::Uuid::new_v4().to_string();
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        let (issuer_id, issuer) = issuers::trusted(conn, &added.issuer)?;
        apps::lock_credentials_of(conn, &application.client_id)?;
        ensure_room_for(conn, &application.id, &issuer_id, &issuer, &subject)?;
        diesel::insert_into(federated_credentials::table)
            .values((
                federated_credentials::id.eq(&id),
                federated_credentials::application_id.eq(&application.id),
                federated_credentials::issuer_id.eq(&issuer_id),
                federated_credentials::name.eq(&name),
                federated_credentials::subject.eq(&subject),
                federated_credentials::audience.eq(&audience),
                federated_credentials::created_at.eq(now.naive_utc()),
                federated_credentials::created_by.eq(actor.label()),
            ))
            .execute(conn)?;
        AuditEvent::success("federated.add", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .details(serde_json::json!({
                "federated_credential_id": id, "name": name, "issuer": issuer,
                "subject": subject, "audience": audience,
            }))
            .record(conn, now)?;
        Ok(find(conn, &application.id, &id)?.into())
    })
}

fn ensure_room_for(
    conn: &mut DbConn,
    application_id: &str,
    issuer_id: &str,
    issuer: &str,
    subject: &str,
) -> Result<()> {
    let of_application = federated_credentials::table
        .filter(federated_credentials::application_id.eq(application_id));
    let same: Option<String> = of_application
        .filter(federated_credentials::issuer_id.eq(issuer_id))
        .filter(federated_credentials::subject.eq(subject))
        .select(federated_credentials::name)
        .first(conn)
        .optional()?;
    if let Some(name) = same {
        return Err(Error::Conflict(format!(
            "This application already accepts {subject} from {issuer}, as \"{name}\"."
        )));
    }
    let count: i64 = of_application.count().get_result(conn)?;
    if count >= MAX_FEDERATED_CREDENTIALS {
        return Err(Error::Conflict(format!(
            "This application already has {MAX_FEDERATED_CREDENTIALS} federated credentials, the most allowed. Delete one it no longer uses first."
        )));
    }
    Ok(())
}

/// The application's federated credentials, by name.
///
/// # Errors
/// [`crate::access::not_found::application`] for an unknown client_id.
pub fn list(conn: &mut DbConn, client_id: &str) -> Result<Vec<FederatedCredentialInfo>> {
    let application = apps::find_by_client_id(conn, client_id)?;
    Ok(federated_credentials::table
        .inner_join(trusted_issuers::table)
        .select(CredentialRow::as_select())
        .filter(federated_credentials::application_id.eq(&application.id))
        .order((
            federated_credentials::name,
            federated_credentials::created_at,
        ))
        .load::<CredentialRow>(conn)?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Deletes one of the application's federated credentials; its tokens are refused at once.
///
/// # Errors
/// [`crate::access::not_found::application`] for an unknown client_id, [`Error::NotFound`]
/// for a credential it does not have.
pub fn delete(
    conn: &mut DbConn,
    client_id: &str,
    credential_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<FederatedCredentialInfo> {
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        let row = find(conn, &application.id, credential_id.trim())?;
        diesel::delete(federated_credentials::table.find(&row.id)).execute(conn)?;
        AuditEvent::success("federated.delete", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .details(serde_json::json!({
                "federated_credential_id": row.id, "name": row.name, "issuer": row.issuer,
                "subject": row.subject,
            }))
            .record(conn, now)?;
        Ok(row.into())
    })
}

fn find(conn: &mut DbConn, application_id: &str, credential_id: &str) -> Result<CredentialRow> {
    federated_credentials::table
        .inner_join(trusted_issuers::table)
        .select(CredentialRow::as_select())
        .filter(federated_credentials::application_id.eq(application_id))
        .filter(federated_credentials::id.eq(credential_id))
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "This application has no federated credential with the id \"{credential_id}\"."
            ))
        })
}

/// One federated credential as the token endpoint checks a token against it.
#[derive(Debug, Clone)]
pub struct StoredFederated {
    pub id: String,
    /// The trusted issuer's identifier, which the token's `iss` must equal.
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

/// An application with its federated credentials, as the token endpoint reads them.
#[derive(Debug, Clone)]
pub struct FederatedClient {
    pub application: ClientApplication,
    pub grants: Vec<TokenGrant>,
    pub credentials: Vec<StoredFederated>,
}

/// The applications named by `client_ids` that have federated credentials, each with its
/// credentials and its API grants, keyed by client_id: two indexed queries for a whole
/// batch of token requests, read fresh for every batch so that a deletion or disabling
/// applies at once.
pub fn federated_clients(
    conn: &mut DbConn,
    client_ids: &[&str],
) -> Result<HashMap<String, FederatedClient>> {
    let rows: Vec<(String, String, String, String, ClientApplication)> =
        federated_credentials::table
            .inner_join(trusted_issuers::table)
            .inner_join(applications::table)
            .filter(applications::client_id.eq_any(client_ids))
            .select((
                federated_credentials::id,
                trusted_issuers::issuer,
                federated_credentials::subject,
                federated_credentials::audience,
                ClientApplication::as_select(),
            ))
            .load(conn)?;
    let mut grants = apps::grants_of(conn, rows.iter().map(|row| row.4.id.as_str()))?;
    let mut clients: HashMap<String, FederatedClient> = HashMap::new();
    for (id, issuer, subject, audience, application) in rows {
        clients
            .entry(application.client_id.clone())
            .or_insert_with(|| FederatedClient {
                grants: grants.remove(&application.id).unwrap_or_default(),
                application,
                credentials: Vec::new(),
            })
            .credentials
            .push(StoredFederated {
                id,
                issuer,
                subject,
                audience,
            });
    }
    Ok(clients)
}

/// Notes when each credential was last used (gathered by the token endpoint).
pub fn record_last_used(conn: &mut DbConn, used: &[(String, DateTime<Utc>)]) -> Result<()> {
    db::write_transaction(conn, |conn| {
        for (credential_id, at) in used {
            diesel::update(federated_credentials::table.find(credential_id))
                .set(federated_credentials::last_used_at.eq(at.naive_utc()))
                .execute(conn)?;
        }
        Ok(())
    })
}
