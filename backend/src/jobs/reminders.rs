//! Sends the expiry reminders: a pass every `reminder_interval`, when an SMTP server is
//! configured. A failed pass is logged and retried at the next one. Stopping does not wait
//! for another pass: the ledger keeps what is due for the next instance.

use tokio::time::MissedTickBehavior;

use super::{Background, Run};
use crate::db::{self, Database};
use crate::error::Result;
use crate::notify::{Mailer, Mode, Notifier, SmtpSettings};
use crate::public_url::PublicUrls;

/// Starts the reminders every `interval`, or warns that they are off when no SMTP server is
/// configured (`smtp` is `None`). Fails when the SMTP settings cannot make a mailer.
pub fn start(
    background: &mut Background,
    smtp: Option<&SmtpSettings>,
    interval: std::time::Duration,
    urls: PublicUrls,
    db: Database,
) -> Result<()> {
    let Some(smtp) = smtp else {
        tracing::warn!(
            "expiry reminders are off: no SMTP server is configured (CLAVIS_SMTP_HOST, CLAVIS_SMTP_FROM)"
        );
        return Ok(());
    };
    let notifier = Notifier::new(Some(Mailer::new(smtp)?), urls);
    // A pass can take minutes: passes missed meanwhile are not made up in a burst.
    let missed = MissedTickBehavior::Delay;
    background.every(interval, missed, async move |run| {
        if run == Run::Last {
            return;
        }
        let (notifier, db) = (notifier.clone(), db.clone());
        let pass =
            actix_web::web::block(move || notifier.run_pass(&db, db::now(), Mode::Send)).await;
        match pass {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "the expiry reminder pass failed; will retry")
            }
            Err(_) => tracing::error!("the expiry reminder pass was cancelled"),
        }
    });
    Ok(())
}
