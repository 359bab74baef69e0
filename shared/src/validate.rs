//! Validation rules for everything a person types into Clavis.
//!
//! The backend enforces these for the CLI and the HTTP API; the frontend runs the same
//! functions to explain a mistake before the request is sent.

use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};
use thiserror::Error;

/// An application may hold at most this many unexpired secrets at once.
pub const MAX_ACTIVE_SECRETS: i64 = 10;
/// Longest name of an organisation, API or application, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest secret name, in characters.
pub const MAX_SECRET_NAME_CHARS: usize = 64;
/// Longest application description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest description of a client secret, in characters: one line.
pub const MAX_SECRET_DESCRIPTION_CHARS: usize = 200;
/// A secret may expire at most this many months ahead.
pub const MAX_SECRET_LIFETIME_MONTHS: u32 = 12;
/// An application may hold at most this many unexpired public keys and certificates at once
/// (issue 18, like Entra's certificates).
pub const MAX_ACTIVE_CLIENT_KEYS: i64 = 10;
/// The most federated credentials an application may have.
pub const MAX_FEDERATED_CREDENTIALS: i64 = 10;
/// Longest federated subject or audience accepted, in characters.
pub const MAX_FEDERATED_CLAIM_CHARS: usize = 255;
/// A certificate may be registered only while it expires at most this many months ahead.
pub const MAX_CERTIFICATE_LIFETIME_MONTHS: u32 = 24;
/// Bounds of an application's access-token lifetime, in seconds (5 minutes to 24 hours).
pub const TOKEN_LIFETIME_SECS: std::ops::RangeInclusive<i32> = 300..=86_400;
/// Access-token lifetime of a new application unless one is given: one hour.
pub const DEFAULT_TOKEN_LIFETIME_SECS: i32 = 3_600;
/// Prefix that marks an application name as following the naming convention.
pub const PARTNER_PREFIX: &str = "Partner";

/// Input that breaks a rule: which field, and a sentence saying what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

type Checked<T> = Result<T, ValidationError>;

/// The characters no name, identifier or code in Clavis may hold, as people read them in a
/// message: Unicode's control characters (category Cc).
pub const CONTROL_CHARACTERS: &str = "control characters (U+0000 to U+001F, U+007F to U+009F)";

/// Whether `text` holds a control character (Unicode category Cc: C0, DEL and C1). Such
/// text is never a valid name or identifier, and its U+0000 cannot even be stored by
/// PostgreSQL.
pub fn has_control_character(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A display name: trimmed, non-empty, at most `max` characters, no control characters.
fn display_name(field: &'static str, what: &str, value: &str, max: usize) -> Checked<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(
            field,
            format!("{what} must not be empty."),
        ));
    }
    if trimmed.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("{what} must be at most {max} characters long."),
        ));
    }
    if has_control_character(trimmed) {
        return Err(ValidationError::new(
            field,
            format!("{what} must not contain {CONTROL_CHARACTERS}, such as tabs or line breaks."),
        ));
    }
    Ok(trimmed.to_owned())
}

pub fn organisation_name(value: &str) -> Checked<String> {
    display_name("name", "The organisation name", value, MAX_NAME_CHARS)
}

/// A device's name, as people tell devices apart in lists, the audit trail and reminders:
/// a display name that holds no invisible character either (a direction override or a
/// zero-width space would make two names look alike, or reverse the sentence it is in).
pub fn device_name(value: &str) -> Checked<String> {
    let checked = display_name("name", "A device's name", value, MAX_NAME_CHARS)?;
    if checked.chars().any(is_invisible) {
        return Err(ValidationError::new(
            "name",
            "A device's name holds an invisible character (such as a zero-width space or a direction mark): type it again.",
        ));
    }
    Ok(checked)
}

pub fn api_name(value: &str) -> Checked<String> {
    display_name("name", "The API name", value, MAX_NAME_CHARS)
}

pub fn secret_name(value: &str) -> Checked<String> {
    display_name("name", "The secret name", value, MAX_SECRET_NAME_CHARS)
}

/// The name of a public key, certificate or federated credential: as a secret's name.
pub fn credential_name(value: &str) -> Checked<String> {
    display_name("name", "The name", value, MAX_SECRET_NAME_CHARS)
}

/// The exact `sub` a federated credential accepts, such as
/// `system:serviceaccount:billing:exporter` or `repo:acme/billing:ref:refs/heads/main`.
/// Wildcards are refused: a pattern would let workloads nobody named prove the application
/// (as Entra's federated identity credentials rule).
pub fn federated_subject(value: &str) -> Checked<String> {
    federated_claim(
        "subject",
        "The subject",
        "such as system:serviceaccount:billing:exporter",
        value,
    )
}

/// Whether `c` is an invisible format character (zero-width spaces and joiners, direction
/// marks and overrides, the byte order mark, the soft hyphen): text holding one looks the
/// same as text without it, so two credentials could look alike and differ.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}

/// The `aud` a federated credential's tokens must carry.
pub fn federated_audience(value: &str) -> Checked<String> {
    federated_claim(
        "audience",
        "The audience",
        "such as https://clavis.example.org",
        value,
    )
}

fn federated_claim(field: &'static str, what: &str, example: &str, value: &str) -> Checked<String> {
    let checked = display_name(field, what, value, MAX_FEDERATED_CLAIM_CHARS)?;
    if checked.chars().any(is_invisible) {
        return Err(ValidationError::new(
            field,
            format!(
                "{what} holds an invisible character (such as a zero-width space): type it again, {example}."
            ),
        ));
    }
    if checked.contains('*') {
        return Err(ValidationError::new(
            field,
            format!("{what} must be given exactly, {example}: wildcards (*) are not allowed."),
        ));
    }
    Ok(checked)
}

/// A certificate's expiry (its `notAfter`) must lie in the future and at most
/// [`MAX_CERTIFICATE_LIFETIME_MONTHS`] ahead.
pub fn certificate_expiry(not_after: DateTime<Utc>, now: DateTime<Utc>) -> Checked<DateTime<Utc>> {
    if not_after <= now {
        return Err(ValidationError::new(
            "key",
            format!(
                "This certificate expired on {}; upload a current one.",
                not_after.date_naive()
            ),
        ));
    }
    let latest = now.date_naive() + Months::new(MAX_CERTIFICATE_LIFETIME_MONTHS);
    if not_after.date_naive() > latest {
        return Err(ValidationError::new(
            "key",
            format!(
                "This certificate is valid until {}, more than two years ahead. Clavis accepts certificates that expire by {latest}, so that they are replaced in time.",
                not_after.date_naive()
            ),
        ));
    }
    Ok(not_after)
}

/// Members only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_JWK_MEMBERS: [&str; 9] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

/// Whether pasted key text is a certificate, whose expiry is its own.
pub fn is_certificate(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN CERTIFICATE-----")
}

/// What can be told of a pasted key before anything reads it as a key: that nothing was
/// pasted, or that it is a private key (PEM `… PRIVATE KEY`, or a JWK with private or
/// symmetric members), which must never be sent or stored. The portal checks this before
/// sending; the server checks it again before parsing.
pub fn pasted_key(text: &str) -> Checked<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ValidationError::new(
            "key",
            "Paste a PEM certificate, a PEM public key or a JWK.",
        ));
    }
    let private_jwk = text.starts_with('{')
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text).is_ok_and(
            |members| {
                PRIVATE_JWK_MEMBERS
                    .iter()
                    .any(|name| members.contains_key(*name))
            },
        );
    if text.contains("PRIVATE KEY") || private_jwk {
        return Err(ValidationError::new(
            "key",
            "This is a private key, and it was not stored. A private key must never leave your own systems: paste its certificate or public key instead. If this key was shared with anyone, replace it.",
        ));
    }
    Ok(())
}

/// The operator a CLI command is recorded for (`--actor`): as a display name, at most 64
/// characters.
pub fn actor_name(value: &str) -> Checked<String> {
    display_name("actor", "The actor name", value, 64)
}

/// A client secret's optional description: trimmed, empty allowed, one line of at most
/// [`MAX_SECRET_DESCRIPTION_CHARS`] characters without control characters.
pub fn secret_description(value: &str) -> Checked<String> {
    if value.trim().is_empty() {
        return Ok(String::new());
    }
    display_name(
        "description",
        "The secret's description",
        value,
        MAX_SECRET_DESCRIPTION_CHARS,
    )
}

/// An application's description: free text of several lines, so line breaks (LF, CR) are
/// the only control characters it may hold.
pub fn description(value: &str) -> Checked<String> {
    let trimmed = value.trim();
    if trimmed.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ValidationError::new(
            "description",
            format!("The description must be at most {MAX_DESCRIPTION_CHARS} characters long."),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(ValidationError::new(
            "description",
            format!(
                "The description must not contain {CONTROL_CHARACTERS} other than line breaks, such as tabs."
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An ISO 3166-1 alpha-2 country code, returned in upper case.
pub fn country_code(value: &str) -> Checked<String> {
    let code = value.trim().to_ascii_uppercase();
    let valid = code.len() == 2 && isocountry::CountryCode::for_alpha2(&code).is_ok();
    if !valid {
        return Err(ValidationError::new(
            "country",
            format!(
                "\"{}\" is not an ISO 3166-1 alpha-2 country code (for example NL, DE or BE).",
                value.trim()
            ),
        ));
    }
    Ok(code)
}

/// An API's short code such as `DM` or `SMC`: 2 to 10 upper-case letters or digits.
pub fn api_code(value: &str) -> Checked<String> {
    let code = value.trim().to_ascii_uppercase();
    let valid = (2..=10).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !valid {
        return Err(ValidationError::new(
            "code",
            format!(
                "\"{}\" is not a valid API code: use 2 to 10 letters or digits, starting with a letter (for example SMC).",
                value.trim()
            ),
        ));
    }
    Ok(code)
}

/// An API's audience identifier: an absolute URI such as `https://api.example.org/smc`.
pub fn audience(value: &str) -> Checked<String> {
    let uri = value.trim();
    let scheme_end = uri.find(':').unwrap_or(0);
    let scheme = &uri[..scheme_end];
    let valid = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && uri.len() > scheme_end + 1
        && uri.len() <= 255
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(ValidationError::new(
            "audience",
            format!(
                "\"{uri}\" is not an absolute URI: the audience must look like https://api.example.org/smc."
            ),
        ));
    }
    Ok(uri.to_owned())
}

/// One OAuth scope token (RFC 6749 §3.3): printable ASCII without space, `"` or `\`.
pub fn scope(value: &str) -> Checked<String> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
    if !valid {
        return Err(ValidationError::new(
            "scopes",
            format!(
                "\"{value}\" is not a valid scope: use up to 64 printable characters without spaces, quotes or backslashes."
            ),
        ));
    }
    Ok(value.to_owned())
}

/// An API's scopes: each a [`scope`] token, without duplicates, in the order given. A list
/// travels as a list end to end, so an entry holding a space is refused, never split.
pub fn scopes(list: &[String]) -> Checked<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for token in list {
        let token = scope(token)?;
        if !scopes.contains(&token) {
            scopes.push(token);
        }
    }
    Ok(scopes)
}

/// An e-mail address, trimmed and in lower case so that lookups match however it was typed.
pub fn email(value: &str) -> Checked<String> {
    let address = value.trim().to_lowercase();
    let valid = match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }
        None => false,
    } && address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(ValidationError::new(
            "email",
            format!("\"{}\" is not an e-mail address.", value.trim()),
        ));
    }
    Ok(address)
}

/// An organisation's optional reminder address: empty means none.
pub fn notification_email(value: &str) -> Checked<Option<String>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    email(value).map(Some).map_err(|invalid| ValidationError {
        field: "notification_email",
        ..invalid
    })
}

/// A person's subject (`sub`) at the identity provider, as an admin designates it: trimmed,
/// 1 to 255 characters (OpenID Connect Core §2: it "MUST NOT exceed 255 ASCII characters"),
/// and no control characters, which no provider issues and sign-in refuses too.
pub fn subject(value: &str) -> Checked<String> {
    let subject = value.trim();
    if subject.is_empty() || subject.len() > 255 {
        return Err(ValidationError::new(
            "subject",
            "The subject must be 1 to 255 characters, as the identity provider issues it.",
        ));
    }
    if has_control_character(subject) {
        return Err(ValidationError::new(
            "subject",
            format!("The subject may not hold {CONTROL_CHARACTERS}."),
        ));
    }
    Ok(subject.to_owned())
}

/// An application's client_id (RFC 6749 §2.2): a GUID, kept and compared in one form,
/// lower-case and hyphenated, however a person wrote it (upper case, braces, no hyphens,
/// `urn:uuid:`). The one rule every lookup and every new client_id goes through.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// # Errors
    /// A validation error on `client_id` that names the value, when it is not a GUID.
    pub fn parse(value: &str) -> Checked<Self> {
        uuid::Uuid::try_parse(value.trim())
            .map(|id| Self(id.hyphenated().to_string()))
            .map_err(|_| {
                ValidationError::new(
                    "client_id",
                    format!(
                        "\"{}\" is not a GUID: use the form 6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f.",
                        value.trim()
                    ),
                )
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ClientId> for String {
    fn from(client_id: ClientId) -> Self {
        client_id.0
    }
}

pub fn token_lifetime(seconds: i32) -> Checked<i32> {
    if !TOKEN_LIFETIME_SECS.contains(&seconds) {
        return Err(ValidationError::new(
            "token_lifetime",
            format!(
                "The access-token lifetime must be between {} and {} seconds (5 minutes to 24 hours).",
                TOKEN_LIFETIME_SECS.start(),
                TOKEN_LIFETIME_SECS.end()
            ),
        ));
    }
    Ok(seconds)
}

/// The last calendar day (UTC) on which a secret created at `now` may still be valid.
pub fn latest_expiry_date(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive() + Months::new(MAX_SECRET_LIFETIME_MONTHS)
}

/// When a secret chosen to expire "on" a date stops working: the end of that day, UTC.
pub fn expiry_at_end_of(date: NaiveDate) -> DateTime<Utc> {
    let last_second = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    date.and_time(last_second).and_utc()
}

/// A secret's expiry must lie in the future and at most one year ahead.
pub fn secret_expiry(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Checked<DateTime<Utc>> {
    if expires_at <= now {
        return Err(ValidationError::new(
            "expires_at",
            "The expiry must be in the future.",
        ));
    }
    let latest = latest_expiry_date(now);
    if expires_at.date_naive() > latest {
        return Err(ValidationError::new(
            "expires_at",
            format!("The expiry may be at most one year ahead, on {latest} at the latest."),
        ));
    }
    Ok(expires_at)
}

/// An application name that follows the convention `Partner-<CC>-<Org>-<API>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerAppName {
    pub country: String,
    pub organisation: String,
    pub api: String,
}

impl PartnerAppName {
    /// The conventional name for an organisation and an API: the organisation's name
    /// reduced to letters and digits, for example `Partner-NL-Acme-SMC`.
    pub fn suggest(country: &str, organisation_name: &str, api_code: &str) -> Self {
        let organisation = organisation_name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(capitalise)
            .collect();
        Self {
            country: country.to_owned(),
            organisation,
            api: api_code.to_owned(),
        }
    }

    /// `None` for a name that does not claim the convention (does not start with `Partner-`).
    pub fn parse(name: &str) -> Option<Checked<Self>> {
        let rest = name.strip_prefix(PARTNER_PREFIX)?.strip_prefix('-')?;
        let parts: Vec<&str> = rest.split('-').collect();
        let [country, organisation, api] = parts.as_slice() else {
            return Some(Err(Self::malformed(name)));
        };
        let valid = country.len() == 2
            && !organisation.is_empty()
            && organisation.chars().all(char::is_alphanumeric)
            && !api.is_empty();
        if !valid {
            return Some(Err(Self::malformed(name)));
        }
        Some(Ok(Self {
            country: (*country).to_owned(),
            organisation: (*organisation).to_owned(),
            api: (*api).to_owned(),
        }))
    }

    fn malformed(name: &str) -> ValidationError {
        ValidationError::new(
            "name",
            format!(
                "\"{name}\" starts with \"{PARTNER_PREFIX}-\" but does not follow the convention Partner-<country code>-<organisation>-<API code>, for example Partner-NL-Acme-SMC."
            ),
        )
    }
}

impl std::fmt::Display for PartnerAppName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PARTNER_PREFIX}-{}-{}-{}",
            self.country, self.organisation, self.api
        )
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An application name: a display name, and when it claims the `Partner-` convention, its
/// country must be the organisation's and its API code one that exists.
pub fn application_name(
    value: &str,
    organisation_country: &str,
    api_exists: impl Fn(&str) -> bool,
) -> Checked<String> {
    let name = display_name("name", "The application name", value, MAX_NAME_CHARS)?;
    let Some(parsed) = PartnerAppName::parse(&name) else {
        return Ok(name);
    };
    let parsed = parsed?;
    if parsed.country != organisation_country {
        return Err(ValidationError::new(
            "name",
            format!(
                "\"{name}\" names country {} but the organisation is in {organisation_country}.",
                parsed.country
            ),
        ));
    }
    if !api_exists(&parsed.api) {
        return Err(ValidationError::new(
            "name",
            format!(
                "\"{name}\" names API {} but no API has that code.",
                parsed.api
            ),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_device_name_holds_nothing_invisible() {
        assert_eq!(device_name("  ward-3-node ").unwrap(), "ward-3-node");
        assert_eq!(device_name("Zürich Süd").unwrap(), "Zürich Süd");
        for bad in [
            "rtl\u{202E}evil",
            "ward-1\u{200B}",
            "\u{FEFF}node",
            " ",
            "a\tb",
        ] {
            assert_eq!(device_name(bad).unwrap_err().field, "name", "{bad:?}");
        }
        assert!(device_name(&"x".repeat(101)).is_err());
    }
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(secret_name("  ci deploy ").unwrap(), "ci deploy");
        assert_eq!(
            secret_name("   ").unwrap_err().message,
            "The secret name must not be empty."
        );
        assert!(secret_name(&"x".repeat(64)).is_ok());
        assert!(secret_name(&"x".repeat(65)).is_err());
        assert_eq!(secret_description("  ").unwrap(), "");
        assert_eq!(
            secret_description(" CI of billing ").unwrap(),
            "CI of billing"
        );
        assert!(secret_description(&"x".repeat(200)).is_ok());
        let long = secret_description(&"x".repeat(201)).unwrap_err();
        assert_eq!(long.field, "description");
        assert!(long.message.contains("at most 200 characters"), "{long}");
        assert!(organisation_name("Acme\nCorp").is_err());
    }

    #[test]
    fn subjects_are_what_a_provider_issues() {
        assert_eq!(subject("  248289761001 ").unwrap(), "248289761001");
        assert!(subject(&"s".repeat(255)).is_ok());
        assert!(subject(&"s".repeat(256)).is_err());
        assert!(subject("  ").is_err());
        let refused = subject("2482\u{1b}89").unwrap_err();
        assert_eq!(refused.field, "subject");
        assert!(
            refused.message.contains("control characters"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn control_characters_are_refused_with_their_class_named() {
        for text in [
            "Acme\0Corp",
            "Acme\u{1}",
            "Acme\u{7f}",
            "Acme\u{9f}Corp",
            "a\tb",
        ] {
            let refused = organisation_name(text).unwrap_err();
            assert_eq!(refused.field, "name");
            assert_eq!(
                refused.message,
                "The organisation name must not contain control characters (U+0000 to U+001F, \
                 U+007F to U+009F), such as tabs or line breaks."
            );
        }
        assert_eq!(
            description("first line\r\nsecond line").unwrap(),
            "first line\r\nsecond line"
        );
        let refused = description("tab\there").unwrap_err();
        assert_eq!(refused.field, "description");
        assert!(refused.message.contains("other than line breaks"));
        assert!(description("nul\0").is_err());
        assert!(has_control_character("\u{7f}"));
        assert!(!has_control_character("Ünïcödé ✓"));
    }

    #[test]
    fn country_codes_follow_iso_3166() {
        assert_eq!(country_code("nl").unwrap(), "NL");
        assert_eq!(country_code("XX").unwrap_err().field, "country");
        assert!(country_code("NLD").is_err());
    }

    #[test]
    fn api_codes_and_scopes() {
        assert_eq!(api_code("smc").unwrap(), "SMC");
        assert!(api_code("S").is_err());
        assert!(api_code("SM-C").is_err());
        assert!(api_code("1SM").is_err());
        let list = |scopes: &[&str]| scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            scopes(&list(&["read", "write", "read"])).unwrap(),
            vec!["read", "write"]
        );
        assert!(scope("a\"b").is_err());
        assert!(scopes(&list(&["ok", "bad\\one"])).is_err());
        assert!(
            scopes(&list(&["a b"])).is_err(),
            "never split into two scopes"
        );
    }

    #[test]
    fn audiences_are_absolute_uris() {
        assert!(audience("https://api.example.org/smc").is_ok());
        assert!(audience("urn:example:smc").is_ok());
        assert!(audience("api.example.org").is_err());
        assert!(audience("https://api example").is_err());
        assert!(audience(":nothing").is_err());
    }

    #[test]
    fn emails_and_client_ids_are_normalised() {
        assert_eq!(email(" Ann@Example.ORG ").unwrap(), "ann@example.org");
        assert!(email("ann.example.org").is_err());
        assert!(email("ann@localhost").is_err());
        assert_eq!(
            ClientId::parse("{6F1C2D3E-4B5A-4C7D-8E9F-0A1B2C3D4E5F}")
                .unwrap()
                .as_str(),
            "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
        );
        assert!(ClientId::parse("not-a-guid").is_err());
        assert_eq!(notification_email("  "), Ok(None));
        assert_eq!(
            notification_email("Team@Acme.example").unwrap().as_deref(),
            Some("team@acme.example")
        );
        assert_eq!(
            notification_email("team").unwrap_err().field,
            "notification_email"
        );
    }

    #[test]
    fn token_lifetime_is_bounded() {
        assert!(token_lifetime(3600).is_ok());
        assert!(token_lifetime(299).is_err());
        assert!(token_lifetime(86_401).is_err());
    }

    #[test]
    fn expiry_must_be_future_and_within_a_year() {
        let now = at(2026, 11, 22);
        assert!(secret_expiry(at(2027, 5, 22), now).is_ok());
        assert!(secret_expiry(expiry_at_end_of(latest_expiry_date(now)), now).is_ok());
        assert_eq!(
            latest_expiry_date(now),
            NaiveDate::from_ymd_opt(2027, 11, 22).unwrap()
        );
        let too_late = secret_expiry(at(2027, 11, 23), now).unwrap_err();
        assert_eq!(
            too_late.message,
            "The expiry may be at most one year ahead, on 2027-11-22 at the latest."
        );
        assert!(secret_expiry(now, now).is_err());
        assert!(secret_expiry(at(2026, 1, 1), now).is_err());
    }

    #[test]
    fn leap_day_expiry_limit_clamps_to_month_end() {
        assert_eq!(
            latest_expiry_date(at(2028, 2, 29)),
            NaiveDate::from_ymd_opt(2029, 2, 28).unwrap()
        );
    }

    #[test]
    fn partner_names_are_suggested_and_checked() {
        let suggested = PartnerAppName::suggest("NL", "acme logistics B.V.", "SMC");
        assert_eq!(suggested.to_string(), "Partner-NL-AcmeLogisticsBV-SMC");
        let known = |code: &str| code == "SMC";
        assert!(application_name("Partner-NL-Acme-SMC", "NL", known).is_ok());
        assert!(application_name("Internal reporting", "NL", known).is_ok());
        let wrong_country = application_name("Partner-DE-Acme-SMC", "NL", known).unwrap_err();
        assert_eq!(
            wrong_country.message,
            "\"Partner-DE-Acme-SMC\" names country DE but the organisation is in NL."
        );
        assert!(application_name("Partner-NL-Acme-XYZ", "NL", known).is_err());
        assert!(application_name("Partner-NL-Acme", "NL", known).is_err());
        assert!(application_name("Partner-NL-Ac me-SMC", "NL", known).is_err());
    }
}
