//! Expiry reminders by e-mail: at 42, 21 and 7 days before a secret expires, then daily,
//! then one final notice; until the secret is replaced or deleted. The same for an
//! application's keys and certificates, and for a device's secrets.
//!
//! A pass (every few minutes inside `clavis serve`, or `clavis notify run-once`) first
//! records each due reminder in the ledger under a unique key, then claims and sends what is
//! waiting. The ledger makes every reminder go out once across instances and restarts, and
//! keeps a failed one until it gets through.

mod deliveries;
pub mod http;
mod mail;
mod plan;
mod smtp;

use chrono::{DateTime, SubsecRound, Utc};
use clavis_shared::reminders::Stage;
use plan::CredentialKind;
use serde::Serialize;
use std::time::{Duration, Instant};

pub use deliveries::{FAILING_AFTER_ATTEMPTS, failing_addresses, pending_count};
pub use smtp::{Mailer, SmtpSettings, SmtpTls};

use crate::access::Actor;
use crate::audit::AuditEvent;
use crate::db::{self, Database};
use crate::error::{Error, Result};
use crate::public_url::PublicUrls;
use crate::telemetry;
use deliveries::{AfterFailure, Claimed};
use mail::Reminder;

/// How long one pass keeps sending; the next pass takes the rest. Well inside the claim
/// lease, since every claim of a pass is stamped with the pass's moment.
const SENDING_BUDGET: Duration = Duration::from_secs(120);

/// What a pass needs besides the database.
#[derive(Clone)]
pub struct Notifier {
    /// `None` when no SMTP server is configured: only dry runs are possible.
    mailer: Option<Mailer>,
    /// The portal's public URLs, for the links in the mails.
    urls: PublicUrls,
}

/// Whether a pass sends, or only shows what it would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Send,
    DryRun,
}

/// One reminder due in a pass, to one person.
#[derive(Debug, Clone, Serialize)]
pub struct DueEntry {
    pub recipient: String,
    pub organisation: String,
    /// The application or device that holds the credential: its name.
    pub holder: String,
    /// `application` or `device`.
    pub holder_kind: &'static str,
    /// The application's client_id, or the device's id.
    pub holder_id: String,
    /// `client_secret`, `client_key`, `device_secret` or `device_certificate`.
    pub credential_kind: &'static str,
    pub secret_id: String,
    pub secret_name: String,
    pub stage: String,
    pub expires_at: DateTime<Utc>,
    /// `new` if this pass is the first to find it due, else its state in the ledger.
    pub state: String,
}

/// One attempt to send, and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryAttempt {
    pub recipient: String,
    pub secret_id: String,
    pub stage: String,
    /// sent, retrying, failed or cancelled.
    pub outcome: &'static str,
    pub detail: Option<String>,
}

/// What a pass found due and what it tried to send.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassReport {
    pub due: Vec<DueEntry>,
    pub attempts: Vec<DeliveryAttempt>,
}

impl Notifier {
    /// `urls` give the portal's links in the messages.
    pub fn new(mailer: Option<Mailer>, urls: PublicUrls) -> Self {
        Self { mailer, urls }
    }

    /// One pass at `now`: record what is due, then send what is waiting (unless a dry run).
    /// Blocking: run it off the async executor.
    pub fn run_pass(&self, db: &Database, now: DateTime<Utc>, mode: Mode) -> Result<PassReport> {
        // Claims are matched by their timestamp: keep it to what both databases store.
        let now = now.trunc_subsecs(6);
        let mut conn = db.conn()?;
        let due = plan::due_reminders(&mut conn, now)?;
        if mode == Mode::DryRun {
            return Ok(PassReport {
                due: describe(&mut conn, &due)?,
                attempts: Vec::new(),
            });
        }
        let Some(mailer) = &self.mailer else {
            return Err(Error::Unavailable(
                "No SMTP server is configured: set CLAVIS_SMTP_HOST and CLAVIS_SMTP_FROM, or use --dry-run to preview.".to_owned(),
            ));
        };
        let described = describe(&mut conn, &due)?;
        deliveries::record(&mut conn, &due, now)?;
        let started = Instant::now();
        let mut attempts = Vec::new();
        while started.elapsed() < SENDING_BUDGET {
            let Some(claimed) = deliveries::claim_next(&mut conn, now)? else {
                break;
            };
            attempts.push(self.deliver(&mut conn, mailer, &claimed, now)?);
        }
        Ok(PassReport {
            due: described,
            attempts,
        })
    }

    /// Sends one claimed reminder, unless its secret was deleted or replaced meanwhile.
    fn deliver(
        &self,
        conn: &mut db::DbConn,
        mailer: &Mailer,
        claimed: &Claimed,
        now: DateTime<Utc>,
    ) -> Result<DeliveryAttempt> {
        let attempt = |outcome, detail: Option<String>| DeliveryAttempt {
            recipient: claimed.recipient.clone(),
            secret_id: claimed.secret_id.clone(),
            stage: claimed.stage.clone(),
            outcome,
            detail,
        };
        let secret = match plan::still_current(conn, &claimed.secret_id, now)? {
            Ok(secret) => secret,
            Err(reason) => {
                deliveries::mark_cancelled(conn, claimed, reason)?;
                return Ok(attempt("cancelled", Some(reason.to_owned())));
            }
        };
        let stage: Stage = claimed.stage.parse().map_err(Error::Internal)?;
        let reminder = Reminder {
            secret: &secret,
            stage,
            urls: &self.urls,
            now,
        };
        // The audit trail's secret column names secrets only; a key is named by the subject
        // recorded in the details.
        let about_secret = |event: AuditEvent| {
            let event = event.organisation(&secret.organisation_id);
            match secret.kind {
                CredentialKind::ClientSecret => event
                    .application(&secret.holder_id)
                    .secret(&secret.secret_id),
                CredentialKind::ClientKey(_) => event.application(&secret.holder_id),
                CredentialKind::DeviceSecret => event.secret(&secret.secret_id),
                CredentialKind::DeviceCertificate => event,
            }
        };
        // A device has no column of its own in the audit trail: its id goes in the details.
        let device_id = (!secret.kind.of_application()).then_some(&secret.holder_public_id);
        let message = reminder.message(&mailer.from, &claimed.recipient, &claimed.id)?;
        match mailer.send(&message) {
            Ok(()) => {
                let sent = about_secret(AuditEvent::success("reminder.sent", &Actor::System))
                    .details(serde_json::json!({
                        "recipient": claimed.recipient, "stage": claimed.stage,
                        "subject": reminder.subject(), "device_id": device_id,
                    }));
                deliveries::mark_sent(conn, claimed, sent, now)?;
                metrics::counter!(telemetry::REMINDERS_SENT).increment(1);
                tracing::info!(recipient = %claimed.recipient, stage = %claimed.stage, "sent an expiry reminder");
                Ok(attempt("sent", None))
            }
            Err(failure) => {
                let failing = about_secret(AuditEvent::failure(
                    "reminder.undeliverable",
                    &Actor::System,
                ))
                .details(serde_json::json!({
                    "recipient": claimed.recipient, "stage": claimed.stage,
                    "attempts": claimed.attempts + 1, "error": failure.reason,
                    "device_id": device_id,
                }));
                let after = deliveries::mark_failed(
                    conn,
                    claimed,
                    failure.permanent,
                    &failure.reason,
                    failing,
                    now,
                )?;
                tracing::warn!(recipient = %claimed.recipient, error = %failure.reason, "an expiry reminder was not delivered");
                let next = match after {
                    AfterFailure::Retry(_) => "retry",
                    AfterFailure::GaveUp => "give_up",
                };
                metrics::counter!(telemetry::REMINDERS_FAILED, "after" => next).increment(1);
                Ok(match after {
                    AfterFailure::Retry(next) => attempt(
                        "retrying",
                        Some(format!("{}; next try {next}", failure.reason)),
                    ),
                    AfterFailure::GaveUp => attempt("failed", Some(failure.reason)),
                })
            }
        }
    }
}

/// Each due reminder per recipient, with its state in the ledger (`new` when not recorded).
fn describe(conn: &mut db::DbConn, due: &[plan::DueReminder]) -> Result<Vec<DueEntry>> {
    let recorded = deliveries::recorded(conn, due)?;
    let mut entries = Vec::new();
    for reminder in due {
        let s = &reminder.secret;
        for recipient in &reminder.recipients {
            let stage = reminder.stage.to_string();
            let key = (s.secret_id.clone(), stage.clone(), recipient.clone());
            entries.push(DueEntry {
                recipient: recipient.clone(),
                organisation: s.organisation_name.clone(),
                holder: s.holder_name.clone(),
                holder_kind: if s.kind.of_application() {
                    "application"
                } else {
                    "device"
                },
                holder_id: s.holder_public_id.clone(),
                credential_kind: s.kind.as_str(),
                secret_id: s.secret_id.clone(),
                secret_name: s.secret_name.clone(),
                expires_at: db::utc(s.expires_at),
                state: recorded
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| "new".to_owned()),
                stage,
            });
        }
    }
    Ok(entries)
}
