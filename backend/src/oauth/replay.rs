//! The record of client assertions' `jti`s: each is accepted once per client while its
//! assertion is valid, on every instance (RFC 7523 §3, item 7), because the record is a row
//! in the shared database under the unique key (client_id, jti).
//!
//! A statement per assertion would cost a write, a round trip and two thread hops per token.
//! As the credential readers do for reads ([`super::lookup`]), requests queue for one writer
//! thread with its own connection, which inserts every waiting `jti` with one
//! `INSERT … ON CONFLICT DO NOTHING RETURNING` and answers each request from the rows that
//! came back: a row that did not come back was there before, so its assertion is a replay.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, Sender};
use tokio::sync::oneshot;

use crate::db::schema::client_assertion_jtis;
use crate::db::{DbConn, DbTarget};
use crate::error::{Error, Result};
use crate::telemetry;

/// The most `jti`s one statement inserts (3 parameters each, well inside SQLite's limit).
const MAX_BATCH: usize = 256;

struct Request {
    client_id: String,
    jti: String,
    expires_at: DateTime<Utc>,
    reply: oneshot::Sender<Result<bool>>,
}

/// Hands `jti`s to the writer thread, which stops when this is dropped.
pub struct JtiLedger {
    queue: Sender<Request>,
}

impl JtiLedger {
    /// Starts the writer; it connects to `target` when the first assertion comes.
    pub fn start(target: &DbTarget) -> Self {
        let (queue, requests) = mpsc::channel();
        let target = target.clone();
        std::thread::Builder::new()
            .name("jti-writer".to_owned())
            .spawn(move || write_batches(&target, &requests))
            .expect("the operating system can start a thread");
        Self { queue }
    }

    /// Records `jti` for `client_id` until `expires_at`: `true` if it is new, `false` if it
    /// was recorded before (a replay).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the database cannot be written: the assertion is then
    /// neither accepted nor counted as a replay.
    pub async fn first_use(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            client_id: client_id.to_owned(),
            jti: jti.to_owned(),
            expires_at,
            reply,
        };
        let stopped = || Error::Unavailable("the jti writer has stopped".to_owned());
        self.queue.send(request).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer thread: records batches until the ledger is dropped.
fn write_batches(target: &DbTarget, requests: &Receiver<Request>) {
    let mut conn = None;
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        batch.extend(requests.try_iter().take(MAX_BATCH - 1));
        metrics::histogram!(telemetry::JTI_BATCH_SIZE).record(batch.len() as f64);
        let inserted = insert(&mut conn, target, &batch);
        answer(batch, inserted);
    }
}

/// One statement for the batch. Unlike a read it is not retried on a lost connection: the
/// insert may have been committed, and a retry would call every assertion a replay.
fn insert(
    conn: &mut Option<DbConn>,
    target: &DbTarget,
    batch: &[Request],
) -> Result<HashSet<(String, String)>> {
    let connection = match conn {
        Some(connection) => connection,
        None => conn.insert(target.connect().map_err(|error| {
            Error::Unavailable(format!("cannot connect to the {target}: {error}"))
        })?),
    };
    let rows: Vec<_> = batch
        .iter()
        .map(|request| {
            (
                client_assertion_jtis::client_id.eq(&request.client_id),
                client_assertion_jtis::jti.eq(&request.jti),
                client_assertion_jtis::expires_at.eq(request.expires_at.naive_utc()),
            )
        })
        .collect();
    let statement = diesel::insert_into(client_assertion_jtis::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning((client_assertion_jtis::client_id, client_assertion_jtis::jti));
    // ON CONFLICT and RETURNING are each database's own syntax, so the statement runs on the
    // concrete connection rather than through the multi-backend one.
    let inserted: Result<Vec<(String, String)>> = match connection {
        DbConn::Postgres(pg) => statement.get_results(pg).map_err(Error::from),
        DbConn::Sqlite(sqlite) => statement.get_results(sqlite).map_err(Error::from),
    };
    if inserted.as_ref().is_err_and(Error::is_lost_connection) {
        *conn = None;
    }
    Ok(inserted?.into_iter().collect())
}

/// Tells each request whether its `jti` was new. Two requests of one batch with the same
/// `jti` share one inserted row: the first in the queue gets it, the other is a replay.
fn answer(batch: Vec<Request>, inserted: Result<HashSet<(String, String)>>) {
    match inserted {
        Ok(mut inserted) => {
            for request in batch {
                let new = inserted.remove(&(request.client_id, request.jti));
                // The requester may have gone: nothing to tell.
                let _ = request.reply.send(Ok(new));
            }
        }
        Err(error) => {
            tracing::error!(%error, requests = batch.len(), "cannot record client assertion jtis");
            for request in batch {
                let _ = request.reply.send(Err(Error::Unavailable(
                    "the assertion cannot be checked for replay right now".to_owned(),
                )));
            }
        }
    }
}

/// Forgets the `jti`s of assertions that have expired: they cannot be replayed anyway.
///
/// # Errors
/// [`Error::Database`] when the database fails.
pub fn prune_jtis(conn: &mut DbConn, now: DateTime<Utc>) -> Result<()> {
    diesel::delete(
        client_assertion_jtis::table.filter(client_assertion_jtis::expires_at.le(now.naive_utc())),
    )
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_twice_in_one_batch_is_new_once() {
        let request = |jti: &str| {
            let (reply, answer) = oneshot::channel();
            let request = Request {
                client_id: "c".to_owned(),
                jti: jti.to_owned(),
                expires_at: Utc::now(),
                reply,
            };
            (request, answer)
        };
        let (first, mut first_answer) = request("j1");
        let (again, mut again_answer) = request("j1");
        let (seen, mut seen_answer) = request("j0");
        let inserted = HashSet::from([("c".to_owned(), "j1".to_owned())]);
        answer(vec![first, again, seen], Ok(inserted));
        assert!(first_answer.try_recv().unwrap().unwrap());
        assert!(!again_answer.try_recv().unwrap().unwrap());
        assert!(!seen_answer.try_recv().unwrap().unwrap());
    }
}
