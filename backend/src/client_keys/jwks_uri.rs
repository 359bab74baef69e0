//! An application's `jwks_uri` (RFC 7591 §2): where it publishes the keys it signs client
//! assertions with, instead of registering each. Only https URLs on the hosts the
//! configuration allows (`jwks_uri_hosts`) are accepted: Clavis fetches what this names, so
//! it must not become a way to make Clavis call arbitrary addresses.

use chrono::{DateTime, Utc};
use clavis_shared::validate::ValidationError;
use diesel::prelude::*;

use crate::access::Actor;
use crate::apps;
use crate::audit::AuditEvent;
use crate::db::schema::applications;
use crate::db::{self, DbConn};
use crate::error::Result;

/// The longest `jwks_uri` accepted, in characters.
const MAX_URL_CHARS: usize = 2_000;

/// Which hosts a `jwks_uri` may name.
#[derive(Debug, Clone, Default)]
pub struct JwksUriPolicy {
    /// Lower-case host names, matched exactly.
    pub allowed_hosts: Vec<String>,
}

impl JwksUriPolicy {
    /// `text` as a `jwks_uri` Clavis may fetch: an https URL without user name, password or
    /// fragment, on an allowed host.
    ///
    /// # Errors
    /// A [`ValidationError`] on the field `jwks_uri` saying which rule it breaks.
    pub fn check(&self, text: &str) -> std::result::Result<String, ValidationError> {
        let invalid = |message: String| ValidationError::new("jwks_uri", message);
        let text = text.trim();
        if text.chars().count() > MAX_URL_CHARS {
            return Err(invalid(format!(
                "The jwks_uri is longer than {MAX_URL_CHARS} characters."
            )));
        }
        let url = url::Url::parse(text).map_err(|_| {
            invalid(
                "The jwks_uri is not a URL, such as https://keys.example.com/jwks.json.".to_owned(),
            )
        })?;
        if url.scheme() != "https" {
            return Err(invalid("The jwks_uri must be an https URL.".to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "The jwks_uri must not hold a user name, a password or a fragment (#…).".to_owned(),
            ));
        }
        let host = url.host_str().unwrap_or_default().to_lowercase();
        if !self.allowed_hosts.contains(&host) {
            return Err(invalid(if self.allowed_hosts.is_empty() {
                "This Clavis accepts no jwks_uri yet: a platform admin must first allow its host (jwks_uri_hosts). Register your keys one by one instead.".to_owned()
            } else {
                format!(
                    "The host {host} is not one a jwks_uri may name here. Allowed: {}. Ask a platform admin to allow another.",
                    self.allowed_hosts.join(", ")
                )
            }));
        }
        Ok(url.to_string())
    }
}

/// The application's `jwks_uri`, if it has one.
///
/// # Errors
/// [`crate::access::not_found::application`] for an unknown client_id.
pub fn jwks_uri_of(conn: &mut DbConn, client_id: &str) -> Result<Option<String>> {
    let application = apps::find_by_client_id(conn, client_id)?;
    Ok(applications::table
        .find(&application.id)
        .select(applications::jwks_uri)
        .first(conn)?)
}

/// Sets (or, with `None`, removes) the application's `jwks_uri`, audited; answers the value
/// now stored.
///
/// # Errors
/// [`crate::access::not_found::application`] for an unknown client_id, [`crate::error::Error::Invalid`]
/// for a URL the `policy` refuses.
pub fn set_jwks_uri(
    conn: &mut DbConn,
    client_id: &str,
    jwks_uri: Option<&str>,
    policy: &JwksUriPolicy,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let checked = jwks_uri
        .filter(|text| !text.trim().is_empty())
        .map(|text| policy.check(text))
        .transpose()?;
    db::write_transaction(conn, |conn| {
        let application = apps::find_by_client_id(conn, client_id)?;
        diesel::update(applications::table.find(&application.id))
            .set(applications::jwks_uri.eq(&checked))
            .execute(conn)?;
        AuditEvent::success("application.jwks_uri", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .details(serde_json::json!({ "jwks_uri": checked }))
            .record(conn, now)?;
        Ok(checked.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_on_allowed_hosts_pass() {
        let policy = JwksUriPolicy {
            allowed_hosts: vec!["keys.acme.test".to_owned()],
        };
        assert_eq!(
            policy.check(" https://KEYS.acme.test/jwks.json ").unwrap(),
            "https://keys.acme.test/jwks.json"
        );
        for (url, expected) in [
            ("http://keys.acme.test/jwks.json", "https URL"),
            ("https://evil.test/jwks.json", "Allowed: keys.acme.test"),
            ("https://user:pw@keys.acme.test/", "user name"),
            ("https://keys.acme.test/#x", "fragment"),
            ("keys.acme.test", "not a URL"),
        ] {
            let refused = policy.check(url).unwrap_err().message;
            assert!(refused.contains(expected), "{url}: {refused}");
        }
        let none = JwksUriPolicy::default()
            .check("https://keys.acme.test/")
            .unwrap_err();
        assert!(
            none.message.contains("accepts no jwks_uri yet"),
            "{}",
            none.message
        );
    }
}
