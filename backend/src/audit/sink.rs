//! Writes audit events from hot paths (the token endpoint) without making them wait: events
//! queue in memory and a background task stores them in batches. A full queue slows senders
//! down rather than dropping events; a failed write is retried; stopping drains the queue.

use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use super::{AuditEvent, AuditRow, insert_rows};
use crate::db::Database;
use std::sync::Arc;

const QUEUE_CAPACITY: usize = 65_536;
const BATCH: usize = 5_000;
/// The writer wakes this often rather than per event: thousands of tokens a second then
/// cost a few multi-row inserts, not thousands of thread wake-ups.
const WRITE_EVERY: Duration = Duration::from_millis(100);

/// Queues audit events for the writer task.
#[derive(Clone)]
pub struct AuditSink {
    queue: mpsc::Sender<(AuditEvent, DateTime<Utc>)>,
}

impl AuditSink {
    /// Starts the writer; it finishes after `stop` turns true and the queue is written.
    pub fn start(
        db: Database,
        stop: watch::Receiver<bool>,
    ) -> (Self, actix_web::rt::task::JoinHandle<()>) {
        let (queue, events) = mpsc::channel(QUEUE_CAPACITY);
        let writer = actix_web::rt::spawn(write_batches(db, events, stop));
        (Self { queue }, writer)
    }

    pub async fn record(&self, event: AuditEvent, at: DateTime<Utc>) {
        if self.queue.send((event, at)).await.is_err() {
            tracing::error!("the audit writer has stopped; an event could not be queued");
        }
    }
}

async fn write_batches(
    db: Database,
    mut events: mpsc::Receiver<(AuditEvent, DateTime<Utc>)>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(WRITE_EVERY);
    loop {
        let stopping = tokio::select! {
            _ = ticks.tick() => false,
            _ = stop.changed() => true,
        };
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
        if stopping {
            return;
        }
    }
}

/// Stores one batch, retrying with backoff until the database takes it. The rows are built
/// once and shared by every attempt.
async fn store(db: &Database, batch: Vec<(AuditEvent, DateTime<Utc>)>) {
    let rows: Arc<Vec<AuditRow>> = Arc::new(
        batch
            .into_iter()
            .map(|(event, at)| event.into_row(at))
            .collect(),
    );
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = Arc::clone(&rows);
        let stored = db
            .run(move |conn| crate::db::write_transaction(conn, |conn| insert_rows(conn, &attempt)))
            .await;
        match stored {
            Ok(()) => return,
            Err(error) => {
                tracing::error!(%error, events = rows.len(), "cannot store audit events; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}
