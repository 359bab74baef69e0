//! The append-only audit trail: who did what, to which organisation, application or secret.

mod sink;

pub use sink::AuditSink;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::{DbConn, schema::audit_events};
use crate::error::Result;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the `clavis` command line, named by their OS account.
    Cli { os_user: String },
    /// A person signed in to the portal.
    User { id: String, email: String },
    /// An API client authenticating with its credentials.
    Client { client_id: String },
    /// Clavis itself (scheduled jobs).
    System,
}

impl Actor {
    /// The operator running this process's CLI command.
    pub fn cli() -> Self {
        let os_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        Self::Cli { os_user }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Cli { .. } => "cli",
            Self::User { .. } => "user",
            Self::Client { .. } => "client",
            Self::System => "system",
        }
    }

    /// How the actor is shown to people, e.g. in "created by".
    pub fn label(&self) -> String {
        match self {
            Self::Cli { os_user } => format!("cli:{os_user}"),
            Self::User { email, .. } => email.clone(),
            Self::Client { client_id } => client_id.clone(),
            Self::System => "clavis".to_owned(),
        }
    }
}

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
        diesel::insert_into(audit_events::table)
            .values((
                audit_events::occurred_at.eq(now.naive_utc()),
                audit_events::actor_kind.eq(self.actor.kind()),
                audit_events::actor.eq(self.actor.label()),
                audit_events::action.eq(self.action),
                audit_events::organisation_id.eq(self.organisation_id),
                audit_events::application_id.eq(self.application_id),
                audit_events::secret_id.eq(self.secret_id),
                audit_events::source_address.eq(self.source_address),
                audit_events::outcome.eq(if self.success { "success" } else { "failure" }),
                audit_events::details.eq(self.details.to_string()),
            ))
            .execute(conn)?;
        Ok(())
    }
}
