//! When each secret was last used, gathered in memory and written in batches, so the token
//! endpoint does no database write per request.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

use crate::db::Database;
use crate::error::Result;
use crate::secrets;

#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl LastUsed {
    pub fn record(&self, secret_id: &str, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let latest = pending.entry(secret_id.to_owned()).or_insert(at);
        *latest = (*latest).max(at);
    }

    /// Writes what was gathered; on failure it is kept for the next flush.
    pub async fn flush(&self, db: &Database) -> Result<()> {
        let batch: Vec<(String, DateTime<Utc>)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let written = batch.clone();
        if let Err(error) = db
            .run(move |conn| secrets::record_last_used(conn, &written))
            .await
        {
            for (secret_id, at) in batch {
                self.record(&secret_id, at);
            }
            return Err(error);
        }
        Ok(())
    }
}
