//! The audit log on the wire: its query, its events, and how an event reads as one sentence
//! (the portal's table and the server's CSV export both use [`summary`], so they agree).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::paging::{search_text, whole_number};
use crate::validate::ValidationError;

/// Every action the audit trail records, with what people call it (the portal's action
/// drop-down). The backend checks that each action it records is listed here.
pub const ACTIONS: &[(&str, &str)] = &[
    ("secret.create", "Secret created"),
    ("secret.delete", "Secret deleted"),
    ("client_key.add", "Public key or certificate added"),
    ("client_key.delete", "Public key or certificate deleted"),
    (
        "application.jwks_uri",
        "Application's jwks_uri set or removed",
    ),
    (
        "application.client_authentication",
        "Application's client authentication changed",
    ),
    ("device.create", "Device added"),
    ("device.enable", "Device enabled"),
    ("device.disable", "Device disabled"),
    ("device_secret.create", "Device secret created"),
    ("device_secret.delete", "Device secret deleted"),
    ("device_certificate.add", "Device certificate added"),
    ("device_certificate.delete", "Device certificate deleted"),
    ("federated.add", "Federated credential added"),
    ("federated.delete", "Federated credential deleted"),
    ("issuer.trust", "Issuer trusted"),
    ("issuer.untrust", "Issuer no longer trusted"),
    ("token.issue", "Access token issued or refused"),
    ("token.revoke", "Access token revoked"),
    ("client.authenticate", "Client authentication refused"),
    ("application.create", "Application created"),
    ("application.update", "Application changed"),
    ("application.enable", "Application enabled"),
    ("application.disable", "Application disabled"),
    ("application.revoke_tokens", "Application's tokens revoked"),
    ("organisation.create", "Organisation created"),
    ("organisation.update", "Organisation changed"),
    ("api.create", "API registered"),
    ("api.update", "API changed"),
    ("role.grant", "Role granted"),
    ("role.revoke", "Role revoked"),
    ("login", "Sign-in"),
    ("logout", "Sign-out"),
    ("reminder.sent", "Expiry reminder sent"),
    ("reminder.undeliverable", "Expiry reminder undeliverable"),
];

/// One entry of the audit trail, with the names of what it is about (looked up when it is
/// read, so renamed organisations and applications show their current names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventView {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// user, client, cli or system.
    pub actor_kind: String,
    /// As recorded: a person's e-mail address, a client_id, `cli:<os user>` or `clavis`.
    pub actor: String,
    /// What people call the actor, when Clavis knows: a person's name, or the name of the
    /// application whose client_id acted.
    #[serde(default)]
    pub actor_name: Option<String>,
    pub action: String,
    pub organisation_id: Option<String>,
    #[serde(default)]
    pub organisation_name: Option<String>,
    /// The application's internal id.
    pub application_id: Option<String>,
    #[serde(default)]
    pub application_name: Option<String>,
    /// The application's client_id, for links to it.
    #[serde(default)]
    pub client_id: Option<String>,
    pub secret_id: Option<String>,
    pub source_address: Option<String>,
    /// success or failure.
    pub outcome: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    /// The event in one sentence ([`summary`]), written by the server, so that the portal
    /// need not carry the wording of every action.
    #[serde(default)]
    pub summary: String,
    /// The details as people read them ([`detail_lines`]), also written by the server.
    #[serde(default)]
    pub detail_lines: Vec<AuditDetailLine>,
}

/// One line of an event's details: the portal's label, and the value in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditDetailLine {
    pub label: String,
    pub text: String,
}

impl AuditEventView {
    /// The view with its [`summary`] and [`detail_lines`] written in.
    pub fn worded(mut self) -> Self {
        self.summary = summary(&self);
        self.detail_lines = detail_lines(&self)
            .into_iter()
            .map(|(label, text)| AuditDetailLine { label, text })
            .collect();
        self
    }
}

/// One page of audit events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub page: u32,
    pub per_page: u32,
    /// Events matching the filter, over all pages.
    pub total: i64,
}

/// Filters of the audit log; every one is optional. The CSV export takes the same
/// (and ignores `page` and `per_page`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub organisation_id: Option<String>,
    /// Events about this application, or by it as an API client.
    pub client_id: Option<String>,
    /// Part of the actor, any case: an e-mail address, a client_id, a person's or an
    /// application's name.
    pub actor: Option<String>,
    /// One of [`ACTIONS`].
    pub action: Option<String>,
    /// Events on or after this day (UTC), `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Events on or before this day (UTC), `YYYY-MM-DD`: the whole day is included.
    pub to: Option<String>,
    /// 1-based; default 1.
    pub page: Option<String>,
    /// 1 to 200; default 50.
    pub per_page: Option<String>,
}

/// The most events one page holds.
pub const MAX_PER_PAGE: i64 = 200;
/// Events per page when the query does not say.
pub const DEFAULT_PER_PAGE: i64 = 50;

/// An [`AuditQuery`]'s values, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedAuditQuery {
    /// Part of the actor, trimmed as typed; `None` when empty.
    pub actor: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub page: u32,
    pub per_page: u32,
}

impl AuditQuery {
    /// Reads the values that are not free text.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the parameter: a day that is not `YYYY-MM-DD` or does
    /// not exist (`from`, `to`), a range that ends before it starts (`to`), a page that is
    /// not a whole number of at least 1, a per_page outside 1 to 200, an actor over 200
    /// characters or with control characters.
    pub fn check(&self) -> Result<CheckedAuditQuery, ValidationError> {
        let from = day("from", self.from.as_deref().unwrap_or_default())?;
        let to = day("to", self.to.as_deref().unwrap_or_default())?;
        date_range(from, to)?;
        let page = whole_number("page", self.page.as_deref(), 1, i64::from(u32::MAX), 1)?;
        let per_page = whole_number(
            "per_page",
            self.per_page.as_deref(),
            1,
            MAX_PER_PAGE,
            DEFAULT_PER_PAGE,
        )?;
        Ok(CheckedAuditQuery {
            actor: search_text("actor", self.actor.as_deref())?,
            from,
            to,
            page: u32::try_from(page).unwrap_or(u32::MAX),
            per_page: u32::try_from(per_page).unwrap_or(1),
        })
    }
}

/// A day written `YYYY-MM-DD` (blank: `None`), for `field`.
///
/// # Errors
/// A [`ValidationError`] on `field` saying whether the form is wrong or the day does not
/// exist (2026-02-30).
pub fn day(field: &'static str, text: &str) -> Result<Option<NaiveDate>, ValidationError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parts: Vec<&str> = text.split('-').collect();
    let well_formed = matches!(parts.as_slice(), [y, m, d]
        if y.len() == 4 && m.len() == 2 && d.len() == 2
            && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())));
    if !well_formed {
        return Err(ValidationError::new(
            field,
            format!("Write the \"{field}\" day as YYYY-MM-DD, such as 2026-03-31, not \"{text}\"."),
        ));
    }
    let number = |part: &str| part.parse::<u32>().unwrap_or_default();
    NaiveDate::from_ymd_opt(
        i32::try_from(number(parts[0])).unwrap_or_default(),
        number(parts[1]),
        number(parts[2]),
    )
    .map(Some)
    .ok_or_else(|| {
        ValidationError::new(
            field,
            format!("There is no day {text}: check the month and the day of the \"{field}\" date."),
        )
    })
}

/// The days to show, checked: `from` may not come after `to` (field `to`).
pub fn date_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), ValidationError> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(ValidationError::new(
            "to",
            format!(
                "The range starts on {from}, after it ends on {to}: choose a \"to\" day on or after the \"from\" day."
            ),
        )),
        _ => Ok(()),
    }
}

/// The action checked against [`ACTIONS`] (field `action`).
pub fn known_action(action: &str) -> Result<&'static str, ValidationError> {
    ACTIONS
        .iter()
        .find(|(code, _)| *code == action.trim())
        .map(|(code, _)| *code)
        .ok_or_else(|| {
            ValidationError::new(
                "action",
                format!(
                    "There is no action \"{}\". Choose one of: {}.",
                    action.trim(),
                    ACTIONS
                        .iter()
                        .map(|(code, _)| *code)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// Who acted, as people read it: a person's name (else their e-mail address), the
/// application acting as an API client (else its client_id), an operator at the command line,
/// or Clavis itself.
pub fn actor_label(event: &AuditEventView) -> String {
    match (event.actor_kind.as_str(), &event.actor_name) {
        (_, Some(name)) => name.clone(),
        ("client", None) => format!("Client {}", event.actor),
        _ => recorded_actor(&event.actor),
    }
}

/// A recorded actor as people read it: `cli:<os user>` is "<os user> (command line)",
/// `system` is "Clavis", an e-mail address stays as it is. Used wherever a "created by" or
/// "granted by" is shown, so one actor has one name across the portal.
pub fn recorded_actor(actor: &str) -> String {
    match actor.strip_prefix("cli:") {
        Some(account) => format!("{account} (command line)"),
        None if actor == "system" || actor == "clavis" => "Clavis".to_owned(),
        None => actor.to_owned(),
    }
}

/// The recorded actor to search for when a person types a name as [`recorded_actor`] shows
/// it: "root (command line)" is `cli:root`; other text as it is.
pub fn searched_actor(typed: &str) -> String {
    let typed = typed.trim();
    match typed.strip_suffix("(command line)") {
        Some(account) => format!("cli:{}", account.trim_end()),
        None => typed.to_owned(),
    }
}

/// Why something was refused, in words, from the reason code the audit trail records
/// (`oauth::client_auth::AuthFailure`, the sign-in refusals); unknown codes read as words.
pub fn reason_text(code: &str) -> String {
    match code {
        "unknown_client" => "no application has this client_id",
        "malformed_secret" => "the secret is not in Clavis's format",
        "unknown_secret" | "wrong_secret" => "the secret is wrong",
        "expired_secret" => "the secret has expired",
        "disabled_application" => "the application is disabled",
        "malformed_assertion" => "the client assertion is not a signed JWT",
        "unknown_key" => "no registered key matches the client assertion",
        "wrong_algorithm" => "the client assertion's algorithm does not fit the key",
        "bad_signature" => "the client assertion's signature is wrong",
        "expired_assertion" => "the client assertion has expired",
        "assertion_not_yet_valid" => "the client assertion is not valid yet",
        "assertion_too_long_lived" => "the client assertion lives longer than 5 minutes",
        "wrong_audience" => "the client assertion is addressed to another server",
        "wrong_issuer" => "the client assertion's iss or sub is not the client_id",
        "missing_claim" => "the client assertion lacks exp, iss, sub, aud or jti",
        "replayed_assertion" => "the client assertion was used before",
        "expired_key" => "the key that signed the client assertion has expired",
        "untrusted_issuer" => "no federated credential of the client trusts the token's issuer",
        "wrong_subject" => "no federated credential of the client accepts the token's subject",
        "key_set_unavailable" => "the keys could not be fetched from the jwks_uri or issuer",
        "federated_too_long_lived" => "the federated token lives longer than an hour",
        "unknown_certificate" => "no registered certificate matches the client certificate",
        "certificate_not_yet_valid" => "the client certificate is not valid yet",
        "certificate_expired" => {
            "the client certificate, or a CA certificate of its chain, has expired"
        }
        "untrusted_certificate" => "the client certificate was not issued by a configured CA",
        "wrong_certificate_subject" => {
            "the client certificate does not name the registered subject DN or SAN"
        }
        "wrong_certificate_purpose" => {
            "the client certificate is not for client authentication (its extended key usage)"
        }
        "device_required" => "the application requires a device, and none was sent",
        "unknown_device" => "no device has this id, or the device secret is not in Clavis's format",
        "wrong_device_secret" => "the device secret is wrong",
        "expired_device_secret" => "the device secret has expired",
        "disabled_device" => "the device is disabled",
        "device_of_another_organisation" => "the device belongs to another organisation",
        "unknown_device_certificate" => "no device has the client certificate presented",
        "expired_device_certificate" => "the device's certificate has expired",
        "method_not_allowed" => "the application does not accept this authentication method",
        "mfa_required" => "no second factor was used",
        "no_role" => "the person has no role in Clavis",
        other => return other.replace('_', " "),
    }
    .to_owned()
}

/// A key kind as stored (`certificate`, `public_key`, `jwk`), as a sentence names it.
fn key_kind(kind: &str) -> &'static str {
    crate::dto::ClientKeyKind::parse(kind).map_or("key", crate::dto::ClientKeyKind::noun)
}

/// An event's details as (label, value) lines for people: known keys get their portal names
/// ("hint" is "Starts with"), lists read "a, b", and reason codes read as words.
pub fn detail_lines(event: &AuditEventView) -> Vec<(String, String)> {
    let Some(details) = event.details.as_object() else {
        return Vec::new();
    };
    details
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) if key == "reason" => reason_text(text),
                serde_json::Value::String(text) if key.ends_with("_by") => recorded_actor(text),
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            (detail_label(key), text)
        })
        .collect()
}

/// The label of a details key: the portal's word where it has one, else the key in words.
fn detail_label(key: &str) -> String {
    let label = match key {
        "hint" => "Starts with",
        "scope" | "scopes" => "Scopes",
        "aud" | "audience" => "Audience",
        "jti" => "Token id",
        "revoked_before" => "Issued until",
        other => {
            let words = other.replace('_', " ");
            let mut chars = words.chars();
            return chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
        }
    };
    label.to_owned()
}

/// The event in one sentence, e.g. "Mia Manager created the secret “prod” (abc…) for
/// Partner-NL-Acme-SMC". Actions it does not know read "<actor>: <action>".
pub fn summary(event: &AuditEventView) -> String {
    let who = actor_label(event);
    let detail = |key: &str| -> String {
        match event.details.get(key) {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    let application = event
        .application_name
        .clone()
        .or_else(|| event.client_id.clone())
        .unwrap_or_else(|| "an application".to_owned());
    let organisation = event
        .organisation_name
        .clone()
        .unwrap_or_else(|| "an organisation".to_owned());
    let secret = || {
        let hint = detail("hint");
        if hint.is_empty() {
            format!("“{}”", detail("name"))
        } else {
            format!("“{}” ({hint}…)", detail("name"))
        }
    };
    let failed = event.outcome != "success";
    let role = || detail("role").replace('_', " ");
    let person = || {
        let email = detail("email");
        if email.is_empty() {
            detail("subject")
        } else {
            email
        }
    };
    // Events recorded before the device's name was in them name it by its id.
    let device = || match detail("device") {
        name if name.is_empty() => detail("device_id"),
        name => format!("“{name}”"),
    };
    match event.action.as_str() {
        "secret.create" => format!("{who} created the secret {} for {application}", secret()),
        "secret.delete" => format!("{who} deleted the secret {} of {application}", secret()),
        "client_key.add" => format!(
            "{who} added the {} “{}” ({}…) to {application}",
            key_kind(&detail("kind")),
            detail("name"),
            detail("thumbprint").chars().take(8).collect::<String>()
        ),
        "application.jwks_uri" if detail("jwks_uri").is_empty() => {
            format!("{who} removed the jwks_uri of {application}")
        }
        "application.jwks_uri" => format!(
            "{who} set the jwks_uri of {application} to {}",
            detail("jwks_uri")
        ),
        "client_key.delete" => format!(
            "{who} deleted the {} “{}” of {application}",
            key_kind(&detail("kind")),
            detail("name")
        ),
        "application.client_authentication" => {
            format!("{who} changed how {application} authenticates")
        }
        "device.create" => format!(
            "{who} added the device “{}” to {organisation}",
            detail("name")
        ),
        "device.enable" => format!("{who} enabled the device “{}”", detail("name")),
        "device.disable" => format!("{who} disabled the device “{}”", detail("name")),
        "device_secret.create" => format!(
            "{who} created the device secret “{}” ({}…) for the device {}",
            detail("name"),
            detail("hint"),
            device()
        ),
        "device_secret.delete" => format!(
            "{who} deleted the device secret “{}” of the device {}",
            detail("name"),
            device()
        ),
        "device_certificate.add" => format!(
            "{who} registered the certificate “{}” ({}) to the device {}",
            detail("name"),
            detail("subject"),
            device()
        ),
        "device_certificate.delete" => format!(
            "{who} deleted the certificate “{}” of the device {}",
            detail("name"),
            device()
        ),
        "federated.add" => format!(
            "{who} let {} tokens for {} prove {application} (“{}”)",
            detail("issuer"),
            detail("subject"),
            detail("name")
        ),
        "federated.delete" => format!(
            "{who} deleted the federated credential “{}” of {application}",
            detail("name")
        ),
        "issuer.trust" => format!("{who} trusted the issuer {}", detail("issuer")),
        "issuer.untrust" => format!("{who} stopped trusting the issuer {}", detail("issuer")),
        "token.issue" if failed => format!(
            "{who} was refused an access token: {}",
            non_empty(detail("description"), reason_text(&detail("reason")))
        ),
        "token.issue" => format!(
            "{who} got an access token for {} (scope: {})",
            detail("audience"),
            non_empty(detail("scope"), "none".to_owned())
        ),
        "token.revoke" => format!("{who} revoked one of its access tokens"),
        "client.authenticate" => format!(
            "{who} failed to authenticate at the {} endpoint: {}",
            detail("endpoint"),
            reason_text(&detail("reason"))
        ),
        "application.create" => format!("{who} created the application {application}"),
        "application.update" => format!("{who} changed the application {application}"),
        "application.enable" => format!("{who} enabled the application {application}"),
        "application.disable" => format!("{who} disabled the application {application}"),
        "application.revoke_tokens" => format!(
            "{who} revoked every token of {application} issued until {}",
            moment(&detail("revoked_before"))
        ),
        "organisation.create" => format!("{who} created the organisation {organisation}"),
        "organisation.update" => format!("{who} changed the organisation {organisation}"),
        "api.create" => format!("{who} registered the API {}", detail("code")),
        "api.update" => format!("{who} changed the API {}", detail("code")),
        "role.grant" if event.organisation_id.is_some() => {
            format!("{who} made {} a {} of {organisation}", person(), role())
        }
        "role.grant" if detail("reason") == "bootstrap_admins" => {
            format!("{who} made a configured person an {} at start-up", role())
        }
        "role.grant" => format!("{who} made {} an {}", person(), role()),
        "role.revoke" if event.organisation_id.is_some() => {
            format!("{who} removed {} as {} of {organisation}", person(), role())
        }
        "role.revoke" => format!("{who} removed {} as {}", person(), role()),
        "login" if failed => format!(
            "{who} was refused sign-in: {}",
            reason_text(&detail("reason"))
        ),
        "login" => format!("{who} signed in"),
        "logout" => format!("{who} signed out"),
        "reminder.sent" => format!(
            "{who} sent the {} expiry reminder of a secret of {application} to {}",
            detail("stage"),
            detail("recipient")
        ),
        "reminder.undeliverable" => format!(
            "The {} expiry reminder of a secret of {application} could not reach {}: {}",
            detail("stage"),
            detail("recipient"),
            detail("error")
        ),
        action => format!("{who}: {action}"),
    }
}

/// An RFC 3339 moment as the portal writes moments, "2026-11-30 17:09 UTC"; other text as it is.
fn moment(text: &str) -> String {
    DateTime::parse_from_rfc3339(text).map_or_else(
        |_| text.to_owned(),
        |at| {
            at.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        },
    )
}

fn non_empty(text: String, otherwise: String) -> String {
    if text.is_empty() { otherwise } else { text }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_actor_is_found_by_the_name_the_log_shows() {
        use super::{recorded_actor, searched_actor};
        for recorded in ["cli:root", "mia@acme.test"] {
            assert_eq!(searched_actor(&recorded_actor(recorded)), recorded);
        }
        assert_eq!(searched_actor("root"), "root");
    }

    #[test]
    fn audit_queries_name_the_value_that_is_wrong() {
        use super::AuditQuery;
        let with = |name: &str, value: &str| {
            let mut query = AuditQuery::default();
            let value = Some(value.to_owned());
            match name {
                "from" => query.from = value,
                "to" => query.to = value,
                "page" => query.page = value,
                "per_page" => query.per_page = value,
                _ => query.actor = value,
            }
            query.check()
        };
        for (name, value, says) in [
            ("from", "2026-13-01", "There is no day 2026-13-01"),
            ("to", "2026-02-30", "There is no day 2026-02-30"),
            ("from", "yesterday", "as YYYY-MM-DD"),
            ("from", "2026-11-30T00:00:00Z", "as YYYY-MM-DD"),
            ("page", "-1", "page must be a whole number from 1"),
            ("page", "4294967296", "page must be a whole number from 1"),
            (
                "per_page",
                "0",
                "per_page must be a whole number from 1 to 200",
            ),
            (
                "per_page",
                "201",
                "per_page must be a whole number from 1 to 200",
            ),
            ("actor", &"a".repeat(201), "at most 200 characters"),
        ] {
            let error = with(name, value).unwrap_err();
            assert_eq!(error.field, name, "{value}");
            assert!(error.message.contains(says), "{value}: {error}");
        }
        let fine = AuditQuery {
            from: Some("2026-02-28".into()),
            to: Some(" 2026-03-01 ".into()),
            page: Some("2".into()),
            actor: Some(" Mia ".into()),
            ..AuditQuery::default()
        }
        .check()
        .unwrap();
        assert_eq!(
            fine.to.map(|d| d.to_string()).as_deref(),
            Some("2026-03-01")
        );
        assert_eq!((fine.page, fine.per_page), (2, 50));
        assert_eq!(fine.actor.as_deref(), Some("Mia"));
    }

    use super::*;

    fn event(action: &str, details: serde_json::Value) -> AuditEventView {
        AuditEventView {
            id: 1,
            occurred_at: DateTime::default(),
            actor_kind: "user".to_owned(),
            actor: "mia.manager@acme.test".to_owned(),
            actor_name: Some("Mia Manager".to_owned()),
            action: action.to_owned(),
            organisation_id: Some("o1".to_owned()),
            organisation_name: Some("Acme".to_owned()),
            application_id: Some("a1".to_owned()),
            application_name: Some("Partner-NL-Acme-SMC".to_owned()),
            client_id: Some("c1".to_owned()),
            secret_id: Some("s1".to_owned()),
            source_address: None,
            outcome: "success".to_owned(),
            details,
            summary: String::new(),
            detail_lines: Vec::new(),
        }
    }

    #[test]
    fn a_created_secret_reads_as_a_sentence() {
        let created = event(
            "secret.create",
            serde_json::json!({"name": "prod", "hint": "abc", "expires_at": "2027-01-01T00:00:00Z"}),
        );
        assert_eq!(
            summary(&created),
            "Mia Manager created the secret “prod” (abc…) for Partner-NL-Acme-SMC"
        );
    }

    #[test]
    fn actors_without_a_name_read_as_what_they_are() {
        let mut cli = event("organisation.create", serde_json::json!({}));
        cli.actor_kind = "cli".to_owned();
        cli.actor = "cli:ops".to_owned();
        cli.actor_name = None;
        assert_eq!(
            summary(&cli),
            "ops (command line) created the organisation Acme"
        );
        let mut client = event(
            "token.issue",
            serde_json::json!({"audience": "https://api", "scope": "a b"}),
        );
        client.actor_kind = "client".to_owned();
        client.actor = "c1".to_owned();
        assert_eq!(
            summary(&client),
            "Mia Manager got an access token for https://api (scope: a b)"
        );
        client.actor_name = None;
        assert_eq!(actor_label(&client), "Client c1");
    }

    #[test]
    fn details_and_reasons_read_as_words() {
        let deleted = event(
            "secret.delete",
            serde_json::json!({"name": "rotation 29", "hint": "RdH", "scopes": ["a", "b"], "created_by": "cli:root", "gone": null}),
        );
        assert_eq!(
            detail_lines(&deleted),
            [
                ("Created by".to_owned(), "root (command line)".to_owned()),
                ("Starts with".to_owned(), "RdH".to_owned()),
                ("Name".to_owned(), "rotation 29".to_owned()),
                ("Scopes".to_owned(), "a, b".to_owned()),
            ]
        );
        let mut refused = event(
            "client.authenticate",
            serde_json::json!({"endpoint": "token", "reason": "wrong_secret"}),
        );
        refused.outcome = "failure".to_owned();
        assert_eq!(
            summary(&refused),
            "Mia Manager failed to authenticate at the token endpoint: the secret is wrong"
        );
        assert_eq!(reason_text("mfa_required"), "no second factor was used");
        assert_eq!(reason_text("something_new"), "something new");
        let revoked = event(
            "application.revoke_tokens",
            serde_json::json!({"revoked_before": "2026-11-30T17:09:21.720692Z"}),
        );
        assert!(summary(&revoked).ends_with("issued until 2026-11-30 17:09 UTC"));
        assert_eq!(recorded_actor("system"), "Clavis");
        assert_eq!(recorded_actor("ada@clavis.test"), "ada@clavis.test");
    }

    #[test]
    fn every_known_action_has_its_own_sentence() {
        for (action, _) in ACTIONS {
            let text = summary(&event(action, serde_json::json!({})));
            assert!(!text.ends_with(&format!(": {action}")), "{action}: {text}");
        }
        assert_eq!(
            summary(&event("something.new", serde_json::json!({}))),
            "Mia Manager: something.new"
        );
    }

    #[test]
    fn a_range_ending_before_it_starts_is_refused() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d);
        assert!(date_range(day(1), day(1)).is_ok());
        assert!(date_range(day(1), None).is_ok());
        let refused = date_range(day(5), day(1)).expect_err("refused");
        assert_eq!(refused.field, "to");
        assert!(
            refused.message.contains("2026-12-05"),
            "{}",
            refused.message
        );
        assert_eq!(known_action(" login ").ok(), Some("login"));
        assert_eq!(known_action("nope").expect_err("unknown").field, "action");
    }
}
