//! The reminder e-mail: a plain-text and an HTML part that say which secret of which
//! application expires when, what to do, and where in the portal to do it.

use chrono::{DateTime, Utc};
use clavis_shared::reminders::{Stage, days_until};
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::plan::SecretFacts;
use crate::db;
use crate::error::{Error, Result};
use crate::site::escape_html;

/// Everything one reminder says.
pub struct Reminder<'a> {
    pub secret: &'a SecretFacts,
    pub stage: Stage,
    /// The portal's public URL, without a trailing slash.
    pub portal_url: &'a str,
    pub now: DateTime<Utc>,
}

impl Reminder<'_> {
    fn expires_at(&self) -> DateTime<Utc> {
        db::utc(self.secret.expires_at)
    }

    /// The application's page in the portal, where the secret is rotated.
    pub fn link(&self) -> String {
        format!("{}/applications/{}", self.portal_url, self.secret.client_id)
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

    pub fn subject(&self) -> String {
        format!(
            "Client secret \"{}\" of {} {}",
            self.secret.secret_name,
            self.secret.application_name,
            self.when()
        )
    }

    fn expiry(&self) -> String {
        self.expires_at()
            .format("%A %-d %B %Y at %H:%M UTC")
            .to_string()
    }

    fn consequence(&self) -> &'static str {
        if self.stage == Stage::Expired {
            "Requests for access tokens with this secret are refused now."
        } else {
            "After that, requests for access tokens with this secret will be refused."
        }
    }

    pub fn text(&self) -> String {
        let s = self.secret;
        format!(
            "Hello,\n\n\
             The client secret \"{name}\" (starting with {hint}) of the application {app} \
             {when}.\n\n\
             Application: {app}\n\
             Organisation: {org}\n\
             client_id: {client_id}\n\
             Secret: {name} (hint {hint})\n\
             Expires: {expiry}\n\n\
             {consequence}\n\n\
             To rotate it without interruption:\n\
             1. Create a new secret on the application's page: {link}\n\
             2. Switch your integration to the new secret.\n\
             3. Delete the old secret.\n\n\
             These reminders stop once the application has a newer secret that expires later, \
             or the old one is deleted.\n\n\
             You receive this as a contact for the credentials of {org} in Clavis.\n",
            name = s.secret_name,
            hint = s.hint,
            app = s.application_name,
            org = s.organisation_name,
            client_id = s.client_id,
            when = self.when(),
            expiry = self.expiry(),
            consequence = self.consequence(),
            link = self.link(),
        )
    }

    pub fn html(&self) -> String {
        let s = self.secret;
        let (name, hint, app, org) = (
            escape_html(&s.secret_name),
            escape_html(&s.hint),
            escape_html(&s.application_name),
            escape_html(&s.organisation_name),
        );
        let link = escape_html(&self.link());
        format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; line-height: 1.5\">\n\
             <p>Hello,</p>\n\
             <p>The client secret <strong>{name}</strong> of the application <strong>{app}</strong> \
             {when}.</p>\n\
             <table>\n\
             <tr><th align=\"left\">Application</th><td>{app}</td></tr>\n\
             <tr><th align=\"left\">Organisation</th><td>{org}</td></tr>\n\
             <tr><th align=\"left\">client_id</th><td><code>{client_id}</code></td></tr>\n\
             <tr><th align=\"left\">Secret</th><td>{name} (hint <code>{hint}</code>)</td></tr>\n\
             <tr><th align=\"left\">Expires</th><td>{expiry}</td></tr>\n\
             </table>\n\
             <p>{consequence}</p>\n\
             <p>To rotate it without interruption:</p>\n\
             <ol>\n<li>Create a new secret on the <a href=\"{link}\">application's page</a>.</li>\n\
             <li>Switch your integration to the new secret.</li>\n\
             <li>Delete the old secret.</li>\n</ol>\n\
             <p>These reminders stop once the application has a newer secret that expires later, \
             or the old one is deleted.</p>\n\
             <p style=\"color: #555\">You receive this as a contact for the credentials of {org} in \
             Clavis.</p>\n</body></html>\n",
            client_id = escape_html(&s.client_id),
            when = self.when(),
            expiry = self.expiry(),
            consequence = self.consequence(),
        )
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
                    .singlepart(part(ContentType::TEXT_PLAIN, self.text()))
                    .singlepart(part(ContentType::TEXT_HTML, self.html())),
            )
            .map_err(|e| Error::Internal(format!("cannot build the reminder e-mail: {e}")))
    }
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

    fn facts() -> SecretFacts {
        SecretFacts {
            secret_id: "s1".into(),
            secret_name: "prod <2026>".into(),
            hint: "Xy7".into(),
            created_at: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .unwrap()
                .naive_utc(),
            expires_at: Utc
                .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
                .unwrap()
                .naive_utc(),
            application_id: "a1".into(),
            application_name: "Partner-NL-Acme-SMC".into(),
            client_id: "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f".into(),
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
            portal_url: "https://clavis.example.org",
            now: Utc.with_ymd_and_hms(2026, 12, 24, 6, 0, 0).unwrap(),
        };
        assert_eq!(
            reminder.subject(),
            "Client secret \"prod <2026>\" of Partner-NL-Acme-SMC expires in 7 days"
        );
        let text = reminder.text();
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
        let html = reminder.html();
        assert!(html.contains("prod &lt;2026&gt;") && html.contains("Acme &amp; Co"));
        assert!(!html.contains("<2026>"));
        let expired = Reminder {
            stage: Stage::Expired,
            now: Utc.with_ymd_and_hms(2027, 1, 1, 6, 0, 0).unwrap(),
            ..reminder
        };
        assert!(expired.subject().ends_with("has expired"));
        assert!(expired.text().contains("are refused now"));
    }
}
