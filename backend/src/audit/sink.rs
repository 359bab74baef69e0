//! Lets hot paths (the token endpoint) record audit events without waiting for the
//! database: events queue in memory, and the audit writer job stores them in batches. A full
//! queue slows senders down rather than dropping events.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{AuditEvent, AuditRow, insert_rows};
use crate::db::DbConn;
use crate::error::Result;
use crate::telemetry;

const QUEUE_CAPACITY: usize = 65_536;

/// An event waiting in the queue, with the moment it happened.
pub type QueuedEvent = (AuditEvent, DateTime<Utc>);

/// Queues audit events for the writer.
#[derive(Clone)]
pub struct AuditSink {
    queue: mpsc::Sender<QueuedEvent>,
}

impl AuditSink {
    /// A sink, and the other end of its queue for the writer to take events from.
    pub fn new() -> (Self, mpsc::Receiver<QueuedEvent>) {
        let (queue, events) = mpsc::channel(QUEUE_CAPACITY);
        (Self { queue }, events)
    }

    pub async fn record(&self, event: AuditEvent, at: DateTime<Utc>) {
        if self.queue.send((event, at)).await.is_err() {
            metrics::counter!(telemetry::AUDIT_EVENTS_DROPPED).increment(1);
            tracing::error!("the audit writer has stopped; an event could not be queued");
        }
    }

    /// Events queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// Queued events as rows, built once so that retries of a failed write reuse them.
pub struct AuditBatch(Vec<AuditRow>);

impl AuditBatch {
    pub fn new(events: Vec<QueuedEvent>) -> Self {
        Self(
            events
                .into_iter()
                .map(|(event, at)| event.into_row(at))
                .collect(),
        )
    }

    /// Inserts the rows; run it inside a write transaction.
    pub fn insert(&self, conn: &mut DbConn) -> Result<()> {
        insert_rows(conn, &self.0)
    }
}
