//! The portal's own rules, free of the browser so they are unit-tested on the host: expiry
//! presets, how expiry is described, and validation messages before anything is sent.

use chrono::{DateTime, Datelike, Months, NaiveDate, Timelike, Utc};
use clavis_shared::dto::SecretStatus;
use clavis_shared::validate;

/// The expiry choices offered when creating a secret, after the 90-day one ([`PRESET_DAYS`]),
/// which takes the place of a 3-month choice: the two fell on nearly the same date.
pub const PRESET_MONTHS: [u32; 2] = [6, 12];

/// The expiry choice counted in days (issue 16: a 90-day rotation is common practice).
pub const PRESET_DAYS: u32 = 90;

/// The expiry date a preset of `days` gives, never beyond the latest allowed date.
pub fn preset_days_date(now: DateTime<Utc>, days: u32) -> NaiveDate {
    let latest = validate::latest_expiry_date(now);
    (now.date_naive() + chrono::Days::new(u64::from(days))).min(latest)
}

/// Secrets that count towards the limit of [`validate::MAX_ACTIVE_SECRETS`]: every one that
/// has not expired, replaced ones included (the server counts the same way).
pub fn counted_secrets(statuses: impl IntoIterator<Item = SecretStatus>) -> i64 {
    statuses
        .into_iter()
        .filter(|status| *status != SecretStatus::Expired)
        .fold(0, |count, _| count + 1)
}

/// "3 of 10 unexpired secrets": Replaced ones still work, so they count too.
pub fn secret_count_label(counted: i64) -> String {
    format!(
        "{counted} of {} unexpired secrets",
        validate::MAX_ACTIVE_SECRETS
    )
}

/// What a secret's description field says is wrong, in the words the form shows.
pub fn description_error(description: &str) -> Option<String> {
    validate::secret_description(description)
        .err()
        .map(|invalid| invalid.message)
}

/// The expiry date a preset of `months` gives, never beyond the latest allowed date.
pub fn preset_date(now: DateTime<Utc>, months: u32) -> NaiveDate {
    let latest = validate::latest_expiry_date(now);
    (now.date_naive() + Months::new(months)).min(latest)
}

/// The latest date the date picker allows.
pub fn latest_date(now: DateTime<Utc>) -> NaiveDate {
    validate::latest_expiry_date(now)
}

/// What is wrong with a chosen expiry date, in the words the form shows.
pub fn expiry_error(date: Option<NaiveDate>, now: DateTime<Utc>) -> Option<String> {
    let Some(date) = date else {
        // Only a typed date can be missing: each preset is a date.
        return Some("That is not a date: write one that exists, as YYYY-MM-DD.".to_owned());
    };
    validate::secret_expiry(validate::expiry_at_end_of(date), now)
        .err()
        .map(|invalid| invalid.message)
}

/// Whether pasted key text is a certificate (which brings its own expiry).
pub use clavis_shared::validate::is_certificate;

/// What is wrong with pasted key text that can be told before sending it: nothing pasted,
/// or a private key, which must never be sent.
pub fn key_error(text: &str) -> Option<String> {
    validate::pasted_key(text)
        .err()
        .map(|invalid| invalid.message)
}

/// What is wrong with a secret's name, in the words the form shows.
pub fn name_error(name: &str) -> Option<String> {
    validate::secret_name(name)
        .err()
        .map(|invalid| invalid.message)
}

/// Calendar days (UTC) until `at`: the count the reminder e-mails use.
pub use clavis_shared::reminders::days_until;

/// "in 12 days", "tomorrow", "today", "1 day ago", "expired 3 days ago".
pub fn expiry_phrase(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let days = days_until(expires_at, now);
    match (expires_at <= now, days) {
        (true, 0) => "expired today".to_owned(),
        (true, -1) => "expired yesterday".to_owned(),
        (true, days) => format!("expired {} days ago", -days),
        (false, 0) => "today".to_owned(),
        (false, 1) => "tomorrow".to_owned(),
        (false, days) => format!("in {days} days"),
    }
}

/// The status badge's text and CSS class, for the status the server decided with the same
/// rule as the reminder e-mails.
pub fn status_badge(status: SecretStatus) -> (&'static str, &'static str) {
    match status {
        SecretStatus::Active => ("Active", "badge ok"),
        SecretStatus::Expiring => ("Expiring", "badge warn"),
        SecretStatus::Replaced => ("Replaced", "badge"),
        SecretStatus::Expired => ("Expired", "badge bad"),
    }
}

/// How a hint is shown: the first three characters and an ellipsis.
pub fn hint_display(hint: &str) -> String {
    format!("{hint}…")
}

// Dates are formatted by hand: chrono's formatter would add tens of kilobytes to the WASM.
pub fn date(at: DateTime<Utc>) -> String {
    date_only(at.date_naive())
}

/// `YYYY-MM-DD`, as date pickers take it.
pub fn date_only(day: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
}

pub fn date_time(at: DateTime<Utc>) -> String {
    format!("{} {:02}:{:02} UTC", date(at), at.hour(), at.minute())
}

/// A date picker's value (`YYYY-MM-DD`).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.trim().splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// A server error's message with its request id (`X-Request-Id`), for the person to quote
/// when they report it: operators find the request's log lines by it.
pub fn with_reference(message: String, request_id: Option<&str>) -> String {
    match request_id {
        Some(id) => {
            format!("{message} If it keeps happening, quote reference {id} when you report it.")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_server_error_names_its_request_id() {
        assert_eq!(
            with_reference("Something went wrong.".into(), Some("4bf92f35")),
            "Something went wrong. If it keeps happening, quote reference 4bf92f35 when you report it."
        );
        assert_eq!(with_reference("Not found.".into(), None), "Not found.");
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn presets_count_months_from_today_and_stop_at_one_year() {
        let now = at(2026, 11, 23, 10);
        assert_eq!(
            preset_date(now, 6),
            NaiveDate::from_ymd_opt(2027, 5, 23).unwrap()
        );
        assert_eq!(preset_date(now, 12), latest_date(now));
        assert_eq!(preset_date(now, 24), latest_date(now));
        // Month ends clamp rather than spill into the next month.
        let end = at(2026, 8, 31, 9);
        assert_eq!(
            preset_date(end, 6),
            NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
        );
    }

    #[test]
    fn the_day_preset_counts_days_and_the_limit_counts_unexpired_secrets() {
        let now = at(2026, 11, 23, 10);
        assert_eq!(
            preset_days_date(now, PRESET_DAYS),
            NaiveDate::from_ymd_opt(2027, 2, 21).unwrap()
        );
        assert_eq!(preset_days_date(now, 400), latest_date(now));
        use SecretStatus::*;
        assert_eq!(counted_secrets([Active, Replaced, Expiring, Expired]), 3);
        assert_eq!(secret_count_label(10), "10 of 10 unexpired secrets");
        assert_eq!(description_error(""), None);
        assert!(description_error(&"x".repeat(201)).is_some());
    }

    #[test]
    fn expiry_dates_must_be_today_or_later_and_within_a_year() {
        let now = at(2026, 11, 23, 10);
        assert_eq!(expiry_error(Some(now.date_naive()), now), None);
        assert_eq!(expiry_error(Some(latest_date(now)), now), None);
        let past = expiry_error(Some(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()), now);
        assert!(past.unwrap().contains("future"));
        let far = expiry_error(latest_date(now).succ_opt(), now).unwrap();
        assert!(far.contains("one year"), "{far}");
        assert!(expiry_error(None, now).unwrap().contains("not a date"));
    }

    #[test]
    fn names_are_checked_with_the_shared_rules() {
        assert_eq!(name_error("deploy 2026"), None);
        assert!(name_error("   ").is_some());
        assert!(name_error(&"x".repeat(500)).is_some());
    }

    #[test]
    fn expiry_is_described_in_days() {
        let now = at(2026, 11, 23, 10);
        assert_eq!(expiry_phrase(at(2026, 12, 5, 0), now), "in 12 days");
        assert_eq!(expiry_phrase(at(2026, 11, 24, 9), now), "tomorrow");
        assert_eq!(expiry_phrase(at(2026, 11, 23, 23), now), "today");
        assert_eq!(expiry_phrase(at(2026, 11, 23, 9), now), "expired today");
        assert_eq!(expiry_phrase(at(2026, 11, 22, 9), now), "expired yesterday");
        assert_eq!(
            expiry_phrase(at(2026, 11, 20, 9), now),
            "expired 3 days ago"
        );
    }

    #[test]
    fn badges_follow_the_six_week_rule() {
        let now = at(2026, 11, 23, 10);
        let badge = |expires_at| status_badge(SecretStatus::of(expires_at, now)).0;
        assert_eq!(badge(now + chrono::Duration::days(43)), "Active");
        assert_eq!(badge(now + chrono::Duration::days(42)), "Expiring");
        assert_eq!(badge(now), "Expired");
        assert_eq!(status_badge(SecretStatus::Replaced), ("Replaced", "badge"));
    }

    #[test]
    fn hints_and_names_are_shown_as_agreed() {
        assert_eq!(hint_display("k3P"), "k3P…");
        assert_eq!(date_time(at(2026, 11, 23, 10)), "2026-11-23 10:00 UTC");
        assert_eq!(date(at(2027, 2, 3, 0)), "2027-02-03");
        assert_eq!(
            parse_date("2027-02-03"),
            NaiveDate::from_ymd_opt(2027, 2, 3)
        );
        assert_eq!(parse_date("2027-02-30"), None);
        assert_eq!(parse_date("tomorrow"), None);
    }
}
