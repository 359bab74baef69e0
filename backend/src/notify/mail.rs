//! The reminder e-mail: a plain-text and an HTML part that say which secret (or public key,
//! or certificate) of which application or device expires when, what to do, and where in
//! the portal to do it.

use askama::Template;
use chrono::{DateTime, Utc};
use clavis_shared::reminders::{Stage, days_until};
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::plan::{CredentialKind, SecretFacts};
use crate::db;
use crate::error::{Error, Result};
use crate::public_url::PublicUrls;

/// Everything one reminder says.
pub struct Reminder<'a> {
    pub secret: &'a SecretFacts,
    pub stage: Stage,
    /// The portal's public URLs.
    pub urls: &'a PublicUrls,
    pub now: DateTime<Utc>,
}

impl Reminder<'_> {
    fn expires_at(&self) -> DateTime<Utc> {
        db::utc(self.secret.expires_at)
    }

    /// The application's or the device's page in the portal, where the secret is rotated.
    pub fn link(&self) -> String {
        let id = &self.secret.holder_public_id;
        if self.secret.kind.of_application() {
            self.urls.application_page(id)
        } else {
            self.urls.device_page(id)
        }
    }

    /// What holds the credential: `application` or `device`.
    fn holder(&self) -> &'static str {
        if self.secret.kind.of_application() {
            "application"
        } else {
            "device"
        }
    }

    /// What holds the credential, capitalised: `Application` or `Device`.
    fn holder_title(&self) -> &'static str {
        if self.secret.kind.of_application() {
            "Application"
        } else {
            "Device"
        }
    }

    /// The holder's public id as the portal labels it: `client_id` or `device_id`.
    fn holder_id_label(&self) -> &'static str {
        if self.secret.kind.of_application() {
            "client_id"
        } else {
            "device_id"
        }
    }

    /// "in 7 days", "tomorrow", "today"; for an expired secret, "expired".
    fn when(&self) -> String {
        if self.expires_at() <= self.now {
            return "has expired".to_owned();
        }
        match days_until(self.expires_at(), self.now) {
            0 => "expires today".to_owned(),
            1 => "expires tomorrow".to_owned(),
            days => format!("expires in {days} days"),
        }
    }

    /// What the credential is: `client secret`, `device secret`, `device certificate`,
    /// `certificate`, `public key` or `JWK`.
    fn noun(&self) -> &'static str {
        match self.secret.kind {
            CredentialKind::ClientSecret => "client secret",
            CredentialKind::ClientKey(kind) => kind.noun(),
            CredentialKind::DeviceSecret => "device secret",
            CredentialKind::DeviceCertificate => "device certificate",
        }
    }

    /// How the e-mail calls it for short: `secret`, `key` or `certificate`.
    fn short(&self) -> &'static str {
        match self.secret.kind {
            CredentialKind::ClientKey(_) => "key",
            CredentialKind::DeviceCertificate => "certificate",
            CredentialKind::ClientSecret | CredentialKind::DeviceSecret => "secret",
        }
    }

    /// How people tell it apart: "starting with Xy7", or "thumbprint starting with AbCdEfGh".
    fn starting_with(&self) -> String {
        match self.secret.kind {
            CredentialKind::ClientKey(_) | CredentialKind::DeviceCertificate => {
                format!("thumbprint starting with {}", self.secret.hint)
            }
            CredentialKind::ClientSecret | CredentialKind::DeviceSecret => {
                format!("starting with {}", self.secret.hint)
            }
        }
    }

    /// The first step of a rotation, without its link.
    fn first_step(&self) -> &'static str {
        match self.secret.kind {
            CredentialKind::ClientKey(_) => "Add a new key or certificate",
            CredentialKind::DeviceCertificate => "Add a new certificate",
            CredentialKind::ClientSecret | CredentialKind::DeviceSecret => "Create a new secret",
        }
    }

    /// What replaces it, and so stops the reminders.
    fn newer(&self) -> &'static str {
        match self.secret.kind {
            CredentialKind::ClientKey(_) => "a newer key or certificate",
            CredentialKind::DeviceCertificate => "a newer certificate",
            CredentialKind::ClientSecret | CredentialKind::DeviceSecret => "a newer secret",
        }
    }

    pub fn subject(&self) -> String {
        let noun = self.noun();
        let capitalised = noun[..1].to_uppercase() + &noun[1..];
        format!(
            "{capitalised} \"{}\" of {} {}",
            self.secret.secret_name,
            self.secret.holder_name,
            self.when()
        )
    }

    fn expiry(&self) -> String {
        self.expires_at()
            .format("%A %-d %B %Y at %H:%M UTC")
            .to_string()
    }

    fn consequence(&self) -> String {
        let short = self.short();
        if self.stage == Stage::Expired {
            format!("Requests for access tokens with this {short} are refused now.")
        } else {
            format!("After that, requests for access tokens with this {short} will be refused.")
        }
    }

    /// The plain-text part (`templates/reminder.txt`).
    pub fn text(&self) -> Result<String> {
        render(&TextPart { reminder: self })
    }

    /// The HTML part (`templates/reminder.html`), every value in it escaped.
    pub fn html(&self) -> Result<String> {
        render(&HtmlPart { reminder: self })
    }

    /// The message to `recipient`. Its Message-ID is derived from the delivery, so in the rare
    /// case a send is repeated (an instance died between the server's "OK" and recording it)
    /// mail systems can recognise the copy.
    pub fn message(&self, from: &Mailbox, recipient: &str, delivery_id: &str) -> Result<Message> {
        let to: Mailbox = recipient.parse().map_err(|e| {
            Error::Internal(format!("\"{recipient}\" is not an e-mail address: {e}"))
        })?;
        let domain = from.email.domain().to_owned();
        Message::builder()
            .from(from.clone())
            .to(to)
            .subject(self.subject())
            .message_id(Some(format!("<reminder-{delivery_id}@{domain}>")))
            .multipart(
                MultiPart::alternative()
                    .singlepart(part(ContentType::TEXT_PLAIN, self.text()?))
                    .singlepart(part(ContentType::TEXT_HTML, self.html()?)),
            )
            .map_err(|e| Error::Internal(format!("cannot build the reminder e-mail: {e}")))
    }
}

#[derive(Template)]
#[template(path = "reminder.txt")]
struct TextPart<'a> {
    reminder: &'a Reminder<'a>,
}

#[derive(Template)]
#[template(path = "reminder.html")]
struct HtmlPart<'a> {
    reminder: &'a Reminder<'a>,
}

fn render(part: &impl Template) -> Result<String> {
    part.render()
        .map_err(|e| Error::Internal(format!("cannot write the reminder e-mail: {e}")))
}

fn part(kind: ContentType, body: String) -> SinglePart {
    SinglePart::builder()
        .header(kind)
        .header(ContentTransferEncoding::QuotedPrintable)
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use clavis_shared::dto::ClientKeyKind;

    fn facts() -> SecretFacts {
        SecretFacts {
            secret_id: "s1".into(),
            secret_name: "prod <2026>".into(),
            hint: "Xy7".into(),
            kind: CredentialKind::ClientSecret,
            created_at: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .unwrap()
                .naive_utc(),
            expires_at: Utc
                .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
                .unwrap()
                .naive_utc(),
            holder_id: "a1".into(),
            holder_name: "Partner-NL-Acme-SMC".into(),
            holder_public_id: "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f".into(),
            holder_enabled: true,
            organisation_id: "o1".into(),
            organisation_name: "Acme & Co".into(),
            notification_email: None,
        }
    }

    #[test]
    fn the_mail_names_everything_and_escapes_html() {
        let secret = facts();
        let reminder = Reminder {
            secret: &secret,
            stage: Stage::DaysLeft(7),
            urls: &PublicUrls::new(&"https://clavis.example.org".parse().unwrap()),
            now: Utc.with_ymd_and_hms(2026, 12, 24, 6, 0, 0).unwrap(),
        };
        assert_eq!(
            reminder.subject(),
            "Client secret \"prod <2026>\" of Partner-NL-Acme-SMC expires in 7 days"
        );
        let text = reminder.text().unwrap();
        for needle in [
            "prod <2026>",
            "Xy7",
            "Partner-NL-Acme-SMC",
            "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
            "Thursday 31 December 2026 at 23:59 UTC",
            "https://clavis.example.org/applications/6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        let html = reminder.html().unwrap();
        assert!(html.contains("prod &lt;2026&gt;") && html.contains("Acme &amp; Co"));
        assert!(!html.contains("<2026>"));
        let expired = Reminder {
            stage: Stage::Expired,
            now: Utc.with_ymd_and_hms(2027, 1, 1, 6, 0, 0).unwrap(),
            ..reminder
        };
        assert!(expired.subject().ends_with("has expired"));
        assert!(expired.text().unwrap().contains("are refused now"));
    }

    #[test]
    fn a_key_reminder_names_a_key_and_how_to_replace_it() {
        let key = SecretFacts {
            hint: "NzbLsXh8".into(),
            kind: CredentialKind::ClientKey(ClientKeyKind::Certificate),
            ..facts()
        };
        let reminder = Reminder {
            secret: &key,
            stage: Stage::DaysLeft(21),
            urls: &PublicUrls::new(&"https://clavis.example.org".parse().unwrap()),
            now: Utc.with_ymd_and_hms(2026, 12, 10, 6, 0, 0).unwrap(),
        };
        assert!(
            reminder
                .subject()
                .starts_with("Certificate \"prod <2026>\"")
        );
        let text = reminder.text().unwrap();
        for needle in [
            "The certificate \"prod <2026>\" (thumbprint starting with NzbLsXh8)",
            "Add a new key or certificate",
            "with this key will be refused",
            "a newer key or certificate",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(!text.contains("secret"), "{text}");
        assert!(
            reminder
                .html()
                .unwrap()
                .contains("Add a new key or certificate")
        );
    }

    #[test]
    fn a_device_secret_reminder_names_the_device_and_links_to_its_page() {
        let device_id = "0b7d6c5e-2f1a-4e3d-9c8b-7a6f5e4d3c2b";
        let secret = SecretFacts {
            kind: CredentialKind::DeviceSecret,
            holder_id: device_id.into(),
            holder_name: "ward-3-node".into(),
            holder_public_id: device_id.into(),
            ..facts()
        };
        let reminder = Reminder {
            secret: &secret,
            stage: Stage::DaysLeft(7),
            urls: &PublicUrls::new(&"https://clavis.example.org".parse().unwrap()),
            now: Utc.with_ymd_and_hms(2026, 12, 24, 6, 0, 0).unwrap(),
        };
        assert_eq!(
            reminder.subject(),
            "Device secret \"prod <2026>\" of ward-3-node expires in 7 days"
        );
        let text = reminder.text().unwrap();
        for needle in [
            "The device secret \"prod <2026>\" (starting with Xy7) of the device ward-3-node",
            "Device: ward-3-node",
            &format!("device_id: {device_id}"),
            &format!("on the device's page: https://clavis.example.org/devices/{device_id}"),
            "once the device has a newer secret",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(
            !text.contains("application") && !text.contains("client_id"),
            "{text}"
        );
        let html = reminder.html().unwrap();
        assert!(html.contains(&format!("https://clavis.example.org/devices/{device_id}")));
        assert!(!html.contains("application"), "{html}");

        let certificate = SecretFacts {
            kind: CredentialKind::DeviceCertificate,
            hint: "NzbLsXh8".into(),
            ..secret.clone()
        };
        let reminder = Reminder {
            secret: &certificate,
            ..reminder
        };
        let text = reminder.text().unwrap();
        for needle in [
            "The device certificate \"prod <2026>\" (thumbprint starting with NzbLsXh8) of the device ward-3-node",
            "Add a new certificate on the device's page",
            "with this certificate will be refused",
            "once the device has a newer certificate",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
