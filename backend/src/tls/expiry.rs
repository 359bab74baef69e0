//! Warnings about a certificate that has expired or is about to: clients refuse an expired
//! certificate, so the operator hears about it in time to renew.

use chrono::{DateTime, Duration, Utc};
use std::path::Path;

/// A certificate that expires within this long draws a warning (the 14 days; Let's
/// Encrypt renews at 30 days left, so a warning means renewal has failed for two weeks).
pub const WARN_BEFORE: Duration = Duration::days(14);

/// What the operator should hear about a certificate expiring at `not_after`, seen at `now`;
/// `None` when it is valid for longer than [`WARN_BEFORE`].
pub fn warning(cert_file: &Path, not_after: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
    let file = cert_file.display();
    let date = not_after.format("%Y-%m-%d %H:%M UTC");
    if not_after <= now {
        return Some(format!(
            "the TLS certificate in {file} (CLAVIS_TLS_CERT_FILE) expired on {date}: \
             clients refuse it; renew it"
        ));
    }
    let left = not_after - now;
    (left <= WARN_BEFORE).then(|| {
        format!(
            "the TLS certificate in {file} (CLAVIS_TLS_CERT_FILE) expires on {date}, in {} \
             days: renew it",
            left.num_days()
        )
    })
}

/// Logs the warning, if any.
pub fn warn_if_due(cert_file: &Path, not_after: DateTime<Utc>, now: DateTime<Utc>) {
    if let Some(warning) = warning(cert_file, not_after, now) {
        tracing::warn!(not_after = %not_after, "{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_within_fourteen_days_and_after_expiry_only() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T06:00:00Z")
            .unwrap()
            .to_utc();
        let file = Path::new("/etc/clavis/cert.pem");
        assert_eq!(warning(file, now + Duration::days(15), now), None);
        assert_eq!(
            warning(file, now + Duration::days(14), now).as_deref(),
            Some(
                "the TLS certificate in /etc/clavis/cert.pem (CLAVIS_TLS_CERT_FILE) expires on \
                 2026-12-14 06:00 UTC, in 14 days: renew it"
            )
        );
        assert_eq!(
            warning(file, now - Duration::hours(1), now).as_deref(),
            Some(
                "the TLS certificate in /etc/clavis/cert.pem (CLAVIS_TLS_CERT_FILE) expired on \
                 2026-11-30 05:00 UTC: clients refuse it; renew it"
            )
        );
    }
}
