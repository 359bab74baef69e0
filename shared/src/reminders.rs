//! When a secret's designated contacts are reminded that it expires. One rule for the e-mails,
//! the dashboard's expiring panel and the status badges, so they never disagree.
//!
//! Days are counted in calendar days (UTC): a secret that expires at 23:59:59 on the 31st has
//! 7 days left all through the 24th. Reminders go out at 42, 21 and 7 days left, then daily
//! (6 … 1, and 0: "expires today"), then one final notice once it has expired.

use chrono::{DateTime, Duration, Utc};
use std::fmt;
use std::str::FromStr;

/// The early reminders, in days left; daily reminders follow the last of them.
pub const EARLY_REMINDER_DAYS: [i64; 3] = [42, 21, 7];

/// A secret with at most this many days left is "expiring": its first reminder is due.
pub const EXPIRING_WITHIN_DAYS: i64 = EARLY_REMINDER_DAYS[0];

/// The final notice is sent only within this many days of the expiry, so secrets that
/// expired long ago (before reminders were set up, say) do not all send one at once.
pub const EXPIRED_NOTICE_DAYS: i64 = 7;

/// Whole calendar days (UTC) from `now` until `at`; negative once that day has passed.
pub fn days_until(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (at.date_naive() - now.date_naive()).num_days()
}

/// Whether a secret counts as expiring (not expired, first reminder due).
pub fn is_expiring(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expires_at > now && days_until(expires_at, now) <= EXPIRING_WITHIN_DAYS
}

/// One reminder in a secret's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Sent when this many calendar days are left (42, 21, 7, then 6 down to 0).
    DaysLeft(i64),
    /// The final notice, after the secret has expired.
    Expired,
}

impl Stage {
    /// The reminder due at `now` for a secret created at `created_at` that expires at
    /// `expires_at`, or none. Only the latest stage reached counts (a stage that was missed,
    /// while Clavis was down say, is not sent late), and a stage counts only if the secret
    /// existed before its day began: a secret created with 30 days to live gets no
    /// "42 days left" mail.
    pub fn due(
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        if expires_at <= now {
            let recently = now - expires_at < Duration::days(EXPIRED_NOTICE_DAYS);
            return recently.then_some(Self::Expired);
        }
        let left = days_until(expires_at, now);
        let threshold = if left <= *EARLY_REMINDER_DAYS.last()? {
            left
        } else {
            *EARLY_REMINDER_DAYS
                .iter()
                .rev()
                .find(|days| left <= **days)?
        };
        let existed_before_stage_day = days_until(expires_at, created_at) > threshold;
        existed_before_stage_day.then_some(Self::DaysLeft(threshold))
    }

    /// Stages of one secret in the order they are sent: a later stage supersedes an earlier
    /// one that is still waiting to be delivered.
    pub fn order(self) -> i64 {
        match self {
            Self::DaysLeft(days) => -days,
            Self::Expired => 1,
        }
    }
}

/// Stored and shown as `d42`, `d7`, `d0`, `expired`.
impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DaysLeft(days) => write!(f, "d{days}"),
            Self::Expired => f.write_str("expired"),
        }
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "expired" {
            return Ok(Self::Expired);
        }
        text.strip_prefix('d')
            .and_then(|days| days.parse().ok())
            .filter(|days| (0..=EXPIRING_WITHIN_DAYS).contains(days))
            .map(Self::DaysLeft)
            .ok_or_else(|| format!("\"{text}\" is not a reminder stage"))
    }
}

/// The facts about one secret that decide whether it was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretLife {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl SecretLife {
    /// Replaced: a sibling (another secret of the same application) created after this one
    /// is still active and expires later. A deleted secret is gone altogether, so it needs
    /// no rule here.
    pub fn is_replaced_among(&self, siblings: &[SecretLife], now: DateTime<Utc>) -> bool {
        siblings.iter().any(|other| {
            other.created_at > self.created_at
                && other.expires_at > self.expires_at
                && other.expires_at > now
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn stages_follow_the_calendar_days_left() {
        let created = at(2026, 1, 1, 9);
        let expires = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let due = |now| Stage::due(created, expires, now);
        assert_eq!(due(at(2026, 11, 18, 12)), None, "43 days left");
        assert_eq!(due(at(2026, 11, 19, 0)), Some(Stage::DaysLeft(42)));
        assert_eq!(
            due(at(2026, 12, 9, 12)),
            Some(Stage::DaysLeft(42)),
            "22 days left"
        );
        assert_eq!(due(at(2026, 12, 10, 12)), Some(Stage::DaysLeft(21)));
        assert_eq!(
            due(at(2026, 12, 23, 12)),
            Some(Stage::DaysLeft(21)),
            "8 days left"
        );
        assert_eq!(due(at(2026, 12, 24, 12)), Some(Stage::DaysLeft(7)));
        assert_eq!(due(at(2026, 12, 30, 12)), Some(Stage::DaysLeft(1)));
        assert_eq!(due(at(2026, 12, 31, 23)), Some(Stage::DaysLeft(0)));
        assert_eq!(due(at(2027, 1, 1, 0)), Some(Stage::Expired));
        assert_eq!(due(at(2027, 1, 7, 23)), Some(Stage::Expired));
        assert_eq!(due(at(2027, 1, 8, 1)), None, "long expired");
    }

    #[test]
    fn a_stage_needs_the_secret_to_exist_before_its_day() {
        let expires = at(2026, 12, 31, 12);
        assert_eq!(
            Stage::due(at(2026, 12, 1, 9), expires, at(2026, 12, 1, 10)),
            None
        );
        assert_eq!(
            Stage::due(at(2026, 12, 1, 9), expires, at(2026, 12, 10, 10)),
            Some(Stage::DaysLeft(21))
        );
        assert_eq!(
            Stage::due(at(2026, 12, 24, 9), expires, at(2026, 12, 24, 10)),
            None
        );
        assert_eq!(
            Stage::due(at(2026, 12, 24, 9), expires, at(2026, 12, 25, 10)),
            Some(Stage::DaysLeft(6))
        );
    }

    #[test]
    fn stages_read_back_and_order() {
        for stage in [Stage::DaysLeft(42), Stage::DaysLeft(0), Stage::Expired] {
            assert_eq!(stage.to_string().parse::<Stage>(), Ok(stage));
        }
        assert!("d43".parse::<Stage>().is_err());
        assert!("soon".parse::<Stage>().is_err());
        assert!(Stage::DaysLeft(42).order() < Stage::DaysLeft(21).order());
        assert!(Stage::DaysLeft(0).order() < Stage::Expired.order());
    }

    #[test]
    fn a_newer_secret_that_lasts_longer_replaces() {
        let old = SecretLife {
            created_at: at(2026, 1, 1, 0),
            expires_at: at(2026, 12, 31, 0),
        };
        let now = at(2026, 12, 20, 0);
        let newer_longer = SecretLife {
            created_at: at(2026, 12, 19, 0),
            expires_at: at(2027, 6, 1, 0),
        };
        let newer_shorter = SecretLife {
            created_at: at(2026, 12, 19, 0),
            expires_at: at(2026, 12, 25, 0),
        };
        let older_longer = SecretLife {
            created_at: at(2025, 1, 1, 0),
            expires_at: at(2027, 1, 1, 0),
        };
        assert!(old.is_replaced_among(&[newer_longer], now));
        assert!(!old.is_replaced_among(&[newer_shorter, older_longer], now));
        assert!(!old.is_replaced_among(&[], now));
        assert!(!is_expiring(old.expires_at, at(2026, 11, 18, 0)));
        assert!(is_expiring(old.expires_at, at(2026, 11, 19, 0)));
        assert!(!is_expiring(old.expires_at, old.expires_at));
    }
}
