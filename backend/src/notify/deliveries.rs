//! The reminder ledger: one row per (secret, stage, recipient), inserted once under the
//! reminder job lock and then claimed by exactly one instance for each attempt to send it.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use clavis_shared::portal::FailingAddress;
use clavis_shared::reminders::Stage;
use diesel::prelude::*;
use std::collections::HashMap;

use super::plan::DueReminder;
use crate::audit::AuditEvent;
use crate::db::schema::{organisations, reminder_deliveries as rd};
use crate::db::{self, DbConn};
use crate::error::Result;

/// The job lock that serialises planning across instances.
const JOB: &str = "expiry_reminders";

/// A claim older than this is taken to be from an instance that died mid-send.
const CLAIM_LEASE: Duration = Duration::minutes(10);

/// After this many failed attempts an address counts as failing: audited and shown to admins.
pub const FAILING_AFTER_ATTEMPTS: i32 = 3;

/// A reminder still undelivered this long after it was planned is given up.
const GIVE_UP_AFTER: Duration = Duration::days(7);

/// Where a reminder is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Sending,
    Sent,
    Failed,
    Superseded,
    Cancelled,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Superseded => "superseded",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A reminder this instance has claimed and must now try to send.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub secret_id: String,
    pub stage: String,
    pub recipient: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    claimed_at: NaiveDateTime,
}

/// Records every due reminder once (the unique key makes a second insert impossible), and
/// supersedes older reminders of the same secret to the same person that never went out:
/// people get the current news, not a backlog. Returns how many were new.
pub fn record(conn: &mut DbConn, due: &[DueReminder], now: DateTime<Utc>) -> Result<usize> {
    db::with_job_lock(conn, JOB, now, |conn| {
        let known = recorded(conn, due)?;
        let mut recorded = 0;
        for reminder in due {
            let stage = reminder.stage.to_string();
            for recipient in &reminder.recipients {
                let key = (
                    reminder.secret.secret_id.clone(),
                    stage.clone(),
                    recipient.clone(),
                );
                if known.contains_key(&key) {
                    continue;
                }
                insert(conn, reminder, recipient, now)?;
                supersede_earlier(conn, &reminder.secret.secret_id, recipient, reminder.stage)?;
                recorded += 1;
            }
        }
        Ok(recorded)
    })
}

/// (secret id, stage, recipient) → status of every reminder recorded for the given
/// reminders' secrets: one query, however many are due.
pub fn recorded(
    conn: &mut DbConn,
    due: &[DueReminder],
) -> Result<HashMap<(String, String, String), String>> {
    let secret_ids: Vec<&str> = due.iter().map(|r| r.secret.secret_id.as_str()).collect();
    let rows: Vec<(String, String, String, String)> = rd::table
        .filter(rd::secret_id.eq_any(secret_ids))
        .select((rd::secret_id, rd::stage, rd::recipient, rd::status))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(secret_id, stage, recipient, status)| ((secret_id, stage, recipient), status))
        .collect())
}

fn insert(
    conn: &mut DbConn,
    reminder: &DueReminder,
    recipient: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    diesel::insert_into(rd::table)
        .values((
            rd::id.eq(db::new_id()),
            rd::secret_id.eq(&reminder.secret.secret_id),
            rd::holder_id.eq(&reminder.secret.holder_id),
            rd::organisation_id.eq(&reminder.secret.organisation_id),
            rd::stage.eq(reminder.stage.to_string()),
            rd::stage_order.eq(reminder.stage.order() as i32),
            rd::recipient.eq(recipient),
            rd::status.eq(Status::Pending.as_str()),
            rd::next_attempt_at.eq(now.naive_utc()),
            rd::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

fn supersede_earlier(
    conn: &mut DbConn,
    secret_id: &str,
    recipient: &str,
    stage: Stage,
) -> Result<()> {
    diesel::update(
        rd::table
            .filter(rd::secret_id.eq(secret_id))
            .filter(rd::recipient.eq(recipient))
            .filter(rd::status.eq(Status::Pending.as_str()))
            .filter(rd::stage_order.lt(stage.order() as i32)),
    )
    .set((
        rd::status.eq(Status::Superseded.as_str()),
        rd::last_error.eq(format!(
            "a later reminder ({stage}) was due before this one was delivered"
        )),
    ))
    .execute(conn)?;
    Ok(())
}

type CandidateRow = (
    String,
    String,
    String,
    String,
    i32,
    NaiveDateTime,
    String,
    Option<NaiveDateTime>,
);

/// Reminders planned and not yet sent, given up or cancelled: waiting for their (next)
/// attempt, or being sent right now.
pub fn pending_count(conn: &mut DbConn) -> Result<i64> {
    Ok(rd::table
        .filter(rd::status.eq_any([Status::Pending.as_str(), Status::Sending.as_str()]))
        .count()
        .get_result(conn)?)
}

/// Claims the next reminder due for an attempt: a waiting one whose time has come, or one
/// another instance claimed but never finished. The claim is a compare-and-set on the row,
/// so when instances race for a reminder exactly one of them gets it. Claimed one at a time,
/// just before sending, so a claim never waits behind other sends and goes stale.
pub fn claim_next(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Option<Claimed>> {
    let stale = (now - CLAIM_LEASE).naive_utc();
    loop {
        let candidates: Vec<CandidateRow> = rd::table
            .filter(
                rd::status
                    .eq(Status::Pending.as_str())
                    .and(rd::next_attempt_at.le(now.naive_utc()))
                    .or(rd::status
                        .eq(Status::Sending.as_str())
                        .and(rd::claimed_at.le(stale))),
            )
            .order(rd::next_attempt_at)
            .limit(8)
            .select((
                rd::id,
                rd::secret_id,
                rd::stage,
                rd::recipient,
                rd::attempts,
                rd::created_at,
                rd::status,
                rd::claimed_at,
            ))
            .load(conn)?;
        if candidates.is_empty() {
            return Ok(None);
        }
        for candidate in candidates {
            if let Some(claimed) = try_claim(conn, candidate, now)? {
                return Ok(Some(claimed));
            }
        }
        // Other instances took every candidate meanwhile: look again.
    }
}

fn try_claim(
    conn: &mut DbConn,
    (id, secret_id, stage, recipient, attempts, created_at, status, claimed_at): CandidateRow,
    now: DateTime<Utc>,
) -> Result<Option<Claimed>> {
    let claim = now.naive_utc();
    let target = rd::table.find(&id).filter(rd::status.eq(&status));
    let won = if status == Status::Sending.as_str() {
        diesel::update(target.filter(rd::claimed_at.eq(claimed_at)))
            .set(rd::claimed_at.eq(claim))
            .execute(conn)?
    } else {
        diesel::update(target)
            .set((
                rd::status.eq(Status::Sending.as_str()),
                rd::claimed_at.eq(claim),
            ))
            .execute(conn)?
    };
    Ok((won == 1).then(|| Claimed {
        id,
        secret_id,
        stage,
        recipient,
        attempts,
        created_at: db::utc(created_at),
        claimed_at: claim,
    }))
}

/// Whether this instance still holds its claim (no other instance took the row over as
/// stale in the meantime).
fn still_ours(conn: &mut DbConn, claimed: &Claimed) -> Result<bool> {
    let held: i64 = rd::table
        .find(&claimed.id)
        .filter(rd::status.eq(Status::Sending.as_str()))
        .filter(rd::claimed_at.eq(claimed.claimed_at))
        .count()
        .get_result(conn)?;
    Ok(held == 1)
}

/// Marks a claimed reminder sent, with its audit event, in one transaction.
pub fn mark_sent(
    conn: &mut DbConn,
    claimed: &Claimed,
    event: AuditEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    db::write_transaction(conn, |conn| {
        if !still_ours(conn, claimed)? {
            return Ok(());
        }
        diesel::update(rd::table.find(&claimed.id))
            .set((
                rd::status.eq(Status::Sent.as_str()),
                rd::attempts.eq(claimed.attempts + 1),
                rd::last_attempt_at.eq(now.naive_utc()),
                rd::sent_at.eq(now.naive_utc()),
                rd::last_error.eq(None::<String>),
            ))
            .execute(conn)?;
        event.record(conn, now)
    })
}

/// Marks a claimed reminder as no longer needed, saying why.
pub fn mark_cancelled(conn: &mut DbConn, claimed: &Claimed, reason: &str) -> Result<()> {
    diesel::update(
        rd::table
            .find(&claimed.id)
            .filter(rd::claimed_at.eq(claimed.claimed_at)),
    )
    .set((
        rd::status.eq(Status::Cancelled.as_str()),
        rd::last_error.eq(reason),
    ))
    .execute(conn)?;
    Ok(())
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Tried again at this time.
    Retry(DateTime<Utc>),
    /// Given up: the server refused the address for good, or it stayed undeliverable too long.
    GaveUp,
}

/// Records a failed attempt: the next try after an exponential backoff (1 minute doubling
/// to at most an hour), or giving up after repeated permanent refusals or a week. When the
/// address has now failed [`FAILING_AFTER_ATTEMPTS`] times, `failing` is recorded as an
/// audit event in the same transaction.
pub fn mark_failed(
    conn: &mut DbConn,
    claimed: &Claimed,
    permanent: bool,
    error: &str,
    failing: AuditEvent,
    now: DateTime<Utc>,
) -> Result<AfterFailure> {
    let attempts = claimed.attempts + 1;
    let give_up = (permanent && attempts >= FAILING_AFTER_ATTEMPTS)
        || now - claimed.created_at >= GIVE_UP_AFTER;
    let after = if give_up {
        AfterFailure::GaveUp
    } else {
        let backoff = Duration::minutes(1 << (attempts - 1).clamp(0, 6)).min(Duration::hours(1));
        AfterFailure::Retry(now + backoff)
    };
    db::write_transaction(conn, |conn| {
        if !still_ours(conn, claimed)? {
            return Ok(after);
        }
        let (status, next) = match after {
            AfterFailure::GaveUp => (Status::Failed, now),
            AfterFailure::Retry(next) => (Status::Pending, next),
        };
        diesel::update(rd::table.find(&claimed.id))
            .set((
                rd::status.eq(status.as_str()),
                rd::attempts.eq(attempts),
                rd::last_attempt_at.eq(now.naive_utc()),
                rd::next_attempt_at.eq(next.naive_utc()),
                rd::last_error.eq(error),
            ))
            .execute(conn)?;
        if attempts == FAILING_AFTER_ATTEMPTS || (give_up && attempts < FAILING_AFTER_ATTEMPTS) {
            failing.record(conn, now)?;
        }
        Ok(after)
    })
}

type FailingRow = (
    String,
    String,
    i32,
    Option<NaiveDateTime>,
    Option<String>,
    String,
);

/// Addresses that reminders keep failing to reach (within `window`), each with its
/// organisation, how many reminders are stuck, and the last error; an address drops off once
/// a later reminder to it gets through.
pub fn failing_addresses(
    conn: &mut DbConn,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<FailingAddress>> {
    let since = (now - window).naive_utc();
    let rows: Vec<FailingRow> = rd::table
        .inner_join(organisations::table.on(organisations::id.eq(rd::organisation_id)))
        .filter(rd::attempts.ge(FAILING_AFTER_ATTEMPTS))
        .filter(rd::status.eq_any([
            Status::Pending.as_str(),
            Status::Sending.as_str(),
            Status::Failed.as_str(),
        ]))
        .filter(rd::last_attempt_at.ge(since))
        .select((
            rd::recipient,
            rd::organisation_id,
            rd::attempts,
            rd::last_attempt_at,
            rd::last_error,
            organisations::name,
        ))
        .order(rd::last_attempt_at.desc())
        .load(conn)?;
    let recipients: Vec<String> = rows.iter().map(|row| row.0.clone()).collect();
    let delivered: HashMap<String, NaiveDateTime> = rd::table
        .filter(rd::recipient.eq_any(&recipients))
        .filter(rd::status.eq(Status::Sent.as_str()))
        .group_by(rd::recipient)
        .select((rd::recipient, diesel::dsl::max(rd::sent_at)))
        .load::<(String, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .filter_map(|(recipient, sent)| sent.map(|sent| (recipient, sent)))
        .collect();
    let mut failing: Vec<FailingAddress> = Vec::new();
    for (recipient, organisation_id, _attempts, last_attempt, last_error, organisation_name) in rows
    {
        let Some(last_attempt) = last_attempt else {
            continue;
        };
        if delivered
            .get(&recipient)
            .is_some_and(|sent| *sent > last_attempt)
        {
            continue;
        }
        match failing
            .iter_mut()
            .find(|f| f.recipient == recipient && f.organisation_id == organisation_id)
        {
            Some(known) => known.undelivered += 1,
            None => failing.push(FailingAddress {
                recipient,
                organisation_id,
                organisation_name,
                undelivered: 1,
                last_error: last_error.unwrap_or_default(),
                last_attempt_at: db::utc(last_attempt),
            }),
        }
    }
    Ok(failing)
}
