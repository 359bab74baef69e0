//! Stores the audit events that hot paths (the token endpoint) queue in an [`AuditSink`], in
//! batches. It is a timer, not a reader waiting on the queue: it wakes every 100 ms and
//! writes whatever has queued, so thousands of tokens a second cost a few multi-row inserts,
//! not thousands of thread wake-ups. A failed write is retried; stopping writes what is left.

use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

use super::Background;
use crate::audit::{AuditBatch, AuditSink, QueuedEvent};
use crate::db::{self, Database};

const BATCH: usize = 5_000;
const WRITE_EVERY: Duration = Duration::from_millis(100);

/// Starts the writer and returns the sink that queues events for it.
pub fn start(background: &mut Background, db: Database) -> AuditSink {
    let (sink, mut events) = AuditSink::new();
    background.every(WRITE_EVERY, MissedTickBehavior::Burst, async move |_| {
        let mut batch = Vec::new();
        while let Ok(event) = events.try_recv() {
            batch.push(event);
            if batch.len() == BATCH {
                store(&db, std::mem::take(&mut batch)).await;
            }
        }
        if !batch.is_empty() {
            store(&db, batch).await;
        }
    });
    sink
}

/// Stores one batch, retrying with backoff until the database takes it. The rows are built
/// once and shared by every attempt.
async fn store(db: &Database, events: Vec<QueuedEvent>) {
    let count = events.len();
    let batch = Arc::new(AuditBatch::new(events));
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = Arc::clone(&batch);
        let stored = db
            .run(move |conn| db::write_transaction(conn, |conn| attempt.insert(conn)))
            .await;
        match stored {
            Ok(()) => return,
            Err(error) => {
                tracing::error!(%error, events = count, "cannot store audit events; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}
