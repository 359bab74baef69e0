//! Reading the audit trail back: filtered, newest first, a page at a time.

use chrono::NaiveDateTime;
use clavis_shared::portal::{AuditEventView, AuditPage, AuditQuery};
use clavis_shared::validate::ValidationError;
use diesel::prelude::*;

use crate::db::{self, DbConn, schema::audit_events};
use crate::error::Result;

type Backend = <DbConn as diesel::Connection>::Backend;

const MAX_PER_PAGE: u32 = 200;
const DEFAULT_PER_PAGE: u32 = 50;

/// One page of the events the filter matches (the API's own query type, so the two cannot
/// drift apart); `organisations` limits them to those organisations' events (`None`: every
/// event).
pub fn query(
    conn: &mut DbConn,
    filter: &AuditQuery,
    organisations: Option<&[String]>,
) -> Result<AuditPage> {
    let page = filter.page.unwrap_or(1);
    let per_page = filter.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if page == 0 || !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ValidationError::new(
            "page",
            format!("Pages start at 1 and hold 1 to {MAX_PER_PAGE} events."),
        )
        .into());
    }
    let total: i64 = filtered(filter, organisations).count().get_result(conn)?;
    let rows: Vec<EventRow> = filtered(filter, organisations)
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(i64::from(per_page))
        .offset(i64::from(page - 1) * i64::from(per_page))
        .select(EventRow::as_select())
        .load(conn)?;
    Ok(AuditPage {
        events: rows.into_iter().map(EventRow::into_view).collect(),
        page,
        per_page,
        total,
    })
}

fn filtered<'a>(
    filter: &'a AuditQuery,
    organisations: Option<&'a [String]>,
) -> audit_events::BoxedQuery<'a, Backend> {
    let mut query = audit_events::table.into_boxed();
    if let Some(organisations) = organisations {
        query = query.filter(audit_events::organisation_id.eq_any(organisations));
    }
    if let Some(organisation_id) = &filter.organisation_id {
        query = query.filter(audit_events::organisation_id.eq(organisation_id));
    }
    if let Some(application_id) = &filter.application_id {
        query = query.filter(audit_events::application_id.eq(application_id));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::actor.eq(actor.trim()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.trim()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(from.naive_utc()));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::occurred_at.lt(to.naive_utc()));
    }
    query
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct EventRow {
    id: i64,
    occurred_at: NaiveDateTime,
    actor_kind: String,
    actor: String,
    action: String,
    organisation_id: Option<String>,
    application_id: Option<String>,
    secret_id: Option<String>,
    source_address: Option<String>,
    outcome: String,
    details: String,
}

impl EventRow {
    fn into_view(self) -> AuditEventView {
        AuditEventView {
            id: self.id,
            occurred_at: db::utc(self.occurred_at),
            actor_kind: self.actor_kind,
            actor: self.actor,
            action: self.action,
            organisation_id: self.organisation_id,
            application_id: self.application_id,
            secret_id: self.secret_id,
            source_address: self.source_address,
            outcome: self.outcome,
            details: serde_json::from_str(&self.details).unwrap_or(serde_json::Value::Null),
        }
    }
}
