//! The append-only audit trail: who did what, to which organisation, application or secret.

pub mod http;
mod query;
mod sink;

pub use sink::{AuditBatch, AuditSink, QueuedEvent};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::access::Actor;
use crate::db::{DbConn, schema::audit_events};
use crate::error::Result;

/// One entry of the trail; build it, then [`AuditEvent::record`] it in the same
/// transaction as the change it describes.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    action: &'static str,
    actor: Actor,
    success: bool,
    organisation_id: Option<String>,
    application_id: Option<String>,
    secret_id: Option<String>,
    source_address: Option<String>,
    details: serde_json::Value,
}

impl AuditEvent {
    pub fn success(action: &'static str, actor: &Actor) -> Self {
        Self {
            action,
            actor: actor.clone(),
            success: true,
            organisation_id: None,
            application_id: None,
            secret_id: None,
            source_address: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// An attempt that was refused; `details` should say the real reason.
    pub fn failure(action: &'static str, actor: &Actor) -> Self {
        Self {
            success: false,
            ..Self::success(action, actor)
        }
    }

    pub fn source_address(mut self, address: &str) -> Self {
        self.source_address = Some(address.to_owned());
        self
    }

    pub fn organisation(mut self, id: &str) -> Self {
        self.organisation_id = Some(id.to_owned());
        self
    }

    pub fn application(mut self, id: &str) -> Self {
        self.application_id = Some(id.to_owned());
        self
    }

    pub fn secret(mut self, id: &str) -> Self {
        self.secret_id = Some(id.to_owned());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    pub fn record(self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<()> {
        insert_rows(conn, &[self.into_row(now)])
    }

    fn into_row(self, now: DateTime<Utc>) -> AuditRow {
        AuditRow {
            occurred_at: now.naive_utc(),
            actor_kind: self.actor.kind(),
            actor: self.actor.label(),
            action: self.action,
            organisation_id: self.organisation_id,
            application_id: self.application_id,
            secret_id: self.secret_id,
            source_address: self.source_address,
            outcome: if self.success { "success" } else { "failure" },
            details: self.details.to_string(),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
#[diesel(treat_none_as_default_value = false)]
struct AuditRow {
    occurred_at: chrono::NaiveDateTime,
    actor_kind: &'static str,
    actor: String,
    action: &'static str,
    organisation_id: Option<String>,
    application_id: Option<String>,
    secret_id: Option<String>,
    source_address: Option<String>,
    outcome: &'static str,
    details: String,
}

/// Stores rows in bulk (one event, or a batch of the token endpoint's audit sink).
fn insert_rows(conn: &mut DbConn, rows: &[AuditRow]) -> Result<()> {
    // Bulk writes are backend-specific (the multi-backend connection has neither):
    // PostgreSQL takes the batch as one binary COPY, SQLite as multi-row inserts that stay
    // well below its limit of bound parameters per statement.
    match conn {
        DbConn::Postgres(conn) => {
            diesel::copy_from(audit_events::table)
                .from_insertable(rows)
                .execute(conn)?;
        }
        DbConn::Sqlite(conn) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(audit_events::table)
                    .values(chunk)
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clavis_shared::audit::ACTIONS;
    use std::path::Path;

    fn sources(dir: &Path, found: &mut String) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push_str(&std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }

    /// The portal's action drop-down and the summaries cover what is recorded: every action
    /// written as a literal in `AuditEvent::success(`/`failure(` is listed, and every listed
    /// action is a literal somewhere in the backend.
    #[test]
    fn the_known_actions_are_the_recorded_ones() {
        let mut code = String::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut code,
        );
        for outcome in ["success(", "failure("] {
            // Put together here, so that this test's own text is not taken for a call.
            let opening = format!("AuditEvent::{outcome}");
            for (at, _) in code.match_indices(&opening) {
                let rest = code[at + opening.len()..].trim_start();
                if let Some(literal) = rest.strip_prefix('"') {
                    let action = &literal[..literal.find('"').expect("closing quote")];
                    assert!(
                        ACTIONS.iter().any(|(known, _)| *known == action),
                        "{action} is recorded but missing from clavis_shared::audit::ACTIONS"
                    );
                }
            }
        }
        for (action, _) in ACTIONS {
            assert!(
                code.contains(&format!("\"{action}\"")),
                "{action} is listed but never recorded"
            );
        }
    }
}
