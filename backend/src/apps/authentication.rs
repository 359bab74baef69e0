//! How an application may prove itself at the token endpoint (issue 19): the methods it
//! accepts, what a CA-issued certificate must name (`tls_client_auth`, RFC 8705 §2.1.2),
//! and whether its tokens must be certificate-bound (RFC 8705 §3). The token endpoint reads
//! these with the application ([`crate::secrets::ClientApplication`]) on every request.

use chrono::{DateTime, Utc};
use clavis_shared::client_auth::{
    CertificateSubject, ClientAuthMethod, SetClientAuthentication, SubjectField,
};
use clavis_shared::validate::ValidationError;
use diesel::prelude::*;

use crate::access::Actor;
use crate::audit::AuditEvent;
use crate::db::schema::applications;
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::tls::{MutualTlsReach, subject};

/// The stored columns: methods, subject field, subject value, bound tokens required.
type StoredSettings = (Option<String>, Option<String>, Option<String>, bool);

/// The application's client authentication settings.
///
/// # Errors
/// [`crate::access::not_found::application`] for an unknown client_id; [`Error::Internal`]
/// for a stored method or field the writer here would never store.
pub fn settings_of(conn: &mut DbConn, client_id: &str) -> Result<SetClientAuthentication> {
    let application = super::find_by_client_id(conn, client_id)?;
    let stored: StoredSettings = applications::table
        .find(&application.id)
        .select((
            applications::auth_methods,
            applications::tls_client_auth_field,
            applications::tls_client_auth_value,
            applications::require_bound_tokens,
        ))
        .first(conn)?;
    from_stored(stored)
}

/// Refuses what only works with client certificates, where none reach Clavis: the
/// application would get no token at all.
fn refuse_without_certificates(settings: &SetClientAuthentication) -> Result<()> {
    let needs_certificates = |method: &ClientAuthMethod| {
        matches!(
            method,
            ClientAuthMethod::SelfSignedTlsClientAuth | ClientAuthMethod::TlsClientAuth
        )
    };
    let only_certificates = settings
        .auth_methods
        .as_ref()
        .is_some_and(|methods| methods.iter().all(needs_certificates));
    let refused = if settings.require_bound_tokens {
        Some(("require_bound_tokens", "Certificate-bound tokens"))
    } else if only_certificates {
        Some(("auth_methods", "Accepting certificate methods only"))
    } else {
        None
    };
    match refused {
        Some((field, what)) => Err(ValidationError::new(
            field,
            format!(
                "{what} would stop the application getting tokens: no client certificate reaches this Clavis (it serves no HTTPS itself, and no proxy sends Client-Cert). Ask a platform admin to set up mutual TLS first."
            ),
        )
        .into()),
        None => Ok(()),
    }
}

fn from_stored(
    (methods, field, value, require_bound_tokens): StoredSettings,
) -> Result<SetClientAuthentication> {
    let unknown = |what: &str| Error::Internal(format!("unknown stored {what}"));
    let auth_methods = methods
        .map(|methods| {
            methods
                .split(' ')
                .map(|method| ClientAuthMethod::parse(method).ok_or_else(|| unknown(method)))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let tls_client_auth = match (field, value) {
        (Some(field), Some(value)) => Some(CertificateSubject {
            field: SubjectField::parse(&field).ok_or_else(|| unknown(&field))?,
            value,
        }),
        _ => None,
    };
    Ok(SetClientAuthentication {
        auth_methods,
        tls_client_auth,
        require_bound_tokens,
    })
}

/// Replaces the application's client authentication settings, audited as
/// `application.client_authentication`; answers them as stored. They apply to the next
/// token request.
///
/// # Errors
/// [`crate::access::not_found::application`] for an unknown client_id; [`Error::Invalid`]
/// for settings [`SetClientAuthentication::checked`] refuses, a subject DN that is not
/// RFC 4514, or settings that would lock the application out because no client certificate
/// reaches this Clavis (`reach`).
pub fn set_settings(
    conn: &mut DbConn,
    client_id: &str,
    settings: SetClientAuthentication,
    reach: MutualTlsReach,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<SetClientAuthentication> {
    let settings = settings.checked()?;
    if !reach.sees_certificates {
        refuse_without_certificates(&settings)?;
    }
    if let Some(registered) = &settings.tls_client_auth
        && registered.field == SubjectField::SubjectDn
    {
        subject::canonical_dn(&registered.value)?;
    }
    let methods = settings.auth_methods.as_ref().map(|methods| {
        methods
            .iter()
            .map(|method| method.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let (field, value) = settings
        .tls_client_auth
        .as_ref()
        .map(|registered| (registered.field.as_str(), registered.value.as_str()))
        .unzip();
    db::write_transaction(conn, |conn| {
        let application = super::find_by_client_id(conn, client_id)?;
        diesel::update(applications::table.find(&application.id))
            .set((
                applications::auth_methods.eq(&methods),
                applications::tls_client_auth_field.eq(field),
                applications::tls_client_auth_value.eq(value),
                applications::require_bound_tokens.eq(settings.require_bound_tokens),
            ))
            .execute(conn)?;
        AuditEvent::success("application.client_authentication", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .details(serde_json::to_value(&settings).map_err(|error| {
                Error::Internal(format!("client authentication settings: {error}"))
            })?)
            .record(conn, now)?;
        Ok(settings.clone())
    })
}
