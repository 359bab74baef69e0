//! Reading the audit trail back: filtered, newest first, a page at a time (the portal) or
//! in chunks (the CSV export), each event with the names of what it is about.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use clavis_shared::audit::{self as wire, AuditEventView, AuditPage, AuditQuery};
use clavis_shared::validate::ClientId;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::access::{Access, not_found};
use crate::db::schema::{applications, audit_actors, audit_events, organisations, users};
use crate::db::{self, DbConn};
use crate::error::Result;
use crate::paging::{self, Condition};
use clavis_shared::paging::contains_pattern;

type Backend = <DbConn as diesel::Connection>::Backend;

/// The most actor values an actor search hands on as lists; beyond it, the events are
/// matched against the lookups themselves (same result, no limit on bound parameters).
const MAX_LISTED_ACTORS: usize = 1_000;

/// A query checked and resolved against what the person may see: build it with
/// [`Filter::new`], then read [`page`]s or [`chunk`]s of it.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The organisations whose events the person may see; `None`: every event (admins).
    visible: Option<Vec<String>>,
    organisation_id: Option<String>,
    /// The application's internal id and its client_id.
    application: Option<(String, String)>,
    /// The actors an actor search keeps.
    actor: Option<ActorMatch>,
    action: Option<&'static str>,
    from: Option<NaiveDateTime>,
    before: Option<NaiveDateTime>,
    /// The page asked for and its size.
    page: u32,
    per_page: u32,
}

impl Filter {
    /// Checks the query ([`AuditQuery::check`]: 422 naming the parameter): the action is a
    /// known one (422 on `action`), the organisation and application are ones the person may
    /// see (404, worded as for one that does not exist).
    pub fn new(conn: &mut DbConn, query: &AuditQuery, access: &Access) -> Result<Self> {
        let checked = query.check()?;
        let action = match non_blank(&query.action) {
            Some(action) => Some(wire::known_action(action)?),
            None => None,
        };
        let organisation_id = non_blank(&query.organisation_id).map(str::to_owned);
        if let Some(organisation_id) = &organisation_id {
            access.require_view_organisation(organisation_id)?;
            // Admins may see every organisation: one that does not exist is still a 404.
            let known = organisations::table
                .filter(organisations::id.eq(organisation_id))
                .count()
                .get_result::<i64>(conn)?;
            if known == 0 {
                return Err(not_found::organisation(organisation_id));
            }
        }
        let application = match non_blank(&query.client_id) {
            Some(client_id) => Some(application(conn, client_id, access)?),
            None => None,
        };
        let actor = match &checked.actor {
            Some(actor) => {
                let pattern = contains_pattern(&paging::fold(conn, &wire::searched_actor(actor)));
                Some(ActorMatch::find(conn, pattern)?)
            }
            None => None,
        };
        Ok(Self {
            visible: access.visible_organisations(),
            organisation_id,
            application,
            actor,
            action,
            from: checked.from.map(start_of),
            before: checked.to.and_then(|to| to.succ_opt()).map(start_of),
            page: checked.page,
            per_page: checked.per_page,
        })
    }

    fn boxed(&self) -> audit_events::BoxedQuery<'_, Backend> {
        let mut query = audit_events::table.into_boxed();
        if let Some(organisations) = &self.visible {
            query = query.filter(audit_events::organisation_id.eq_any(organisations));
        }
        if let Some(organisation_id) = &self.organisation_id {
            query = query.filter(audit_events::organisation_id.eq(organisation_id));
        }
        if let Some((id, client_id)) = &self.application {
            // About the application, or by it as an API client (its refused authentications).
            query = query.filter(
                audit_events::application_id
                    .eq(id)
                    .or(audit_events::actor_kind
                        .eq("client")
                        .and(audit_events::actor.eq(client_id))),
            );
        }
        match &self.actor {
            None => {}
            Some(ActorMatch::Listed {
                actors,
                clients,
                people,
            }) => {
                // Only the lists that hold values: an empty one would be an OR arm that no
                // index answers, and SQLite would then read every event.
                let mut arms: Vec<Condition<audit_events::table>> = Vec::new();
                if !actors.is_empty() {
                    arms.push(Box::new(audit_events::actor.eq_any(actors.clone())));
                }
                if !clients.is_empty() {
                    arms.push(Box::new(
                        audit_events::actor_kind
                            .eq("client")
                            .and(audit_events::actor.eq_any(clients.clone())),
                    ));
                }
                if !people.is_empty() {
                    arms.push(Box::new(
                        audit_events::actor_kind
                            .eq("user")
                            .and(audit_events::actor.eq_any(people.clone())),
                    ));
                }
                query = query.filter(
                    arms.into_iter()
                        .reduce(|either, or| Box::new(either.or(or)))
                        .unwrap_or_else(|| Box::new(diesel::dsl::sql::<Bool>("1 = 0"))),
                );
            }
            Some(ActorMatch::Pattern(pattern)) => {
                query = query.filter(
                    audit_events::actor
                        .eq_any(matching_actors!(pattern))
                        .or(audit_events::actor_kind
                            .eq("client")
                            .and(audit_events::actor.eq_any(named_clients!(pattern))))
                        .or(audit_events::actor_kind
                            .eq("user")
                            .and(audit_events::actor.eq_any(named_people!(pattern)))),
                );
            }
        }
        if let Some(action) = self.action {
            query = query.filter(audit_events::action.eq(action));
        }
        if let Some(from) = self.from {
            query = query.filter(audit_events::occurred_at.ge(from));
        }
        if let Some(before) = self.before {
            query = query.filter(audit_events::occurred_at.lt(before));
        }
        query
    }
}

/// What an actor search keeps: events whose actor (as recorded) contains the text, events
/// by an API client whose application's name contains it, and events by a person whose name
/// contains it (what people see as the actor), in any letter case (as `paging` explains).
///
/// The recorded actors are searched in `audit_actors` (each actor once, a few thousand
/// values) rather than in every event; the events are then found by the actor index.
#[derive(Debug, Clone)]
enum ActorMatch {
    /// The matching values, looked up once: recorded actors, client_ids, e-mail addresses.
    Listed {
        actors: Vec<String>,
        clients: Vec<String>,
        people: Vec<String>,
    },
    /// Too many values to list ([`MAX_LISTED_ACTORS`]): the same lookups as subqueries, by
    /// this LIKE pattern (lower case).
    Pattern(String),
}

impl ActorMatch {
    fn find(conn: &mut DbConn, pattern: String) -> Result<Self> {
        let limit = MAX_LISTED_ACTORS as i64 + 1;
        let actors: Vec<String> = matching_actors!(&pattern).limit(limit).load(conn)?;
        let clients: Vec<String> = named_clients!(&pattern).limit(limit).load(conn)?;
        let people: Vec<String> = named_people!(&pattern).limit(limit).load(conn)?;
        if actors.len() + clients.len() + people.len() > MAX_LISTED_ACTORS {
            return Ok(Self::Pattern(pattern));
        }
        Ok(Self::Listed {
            actors,
            clients,
            people,
        })
    }
}

// The three lookups of an actor search, as macros: a boxed subquery would tie the query to
// one database, so each use gets its own unboxed one.

/// Recorded actors containing the pattern.
macro_rules! matching_actors {
    ($pattern:expr) => {
        audit_actors::table
            .filter($crate::paging::contains!(audit_actors::actor, $pattern))
            .select(audit_actors::actor)
    };
}

/// The client_ids of applications whose name contains the pattern.
macro_rules! named_clients {
    ($pattern:expr) => {
        applications::table
            .filter($crate::paging::contains!(applications::name, $pattern))
            .select(applications::client_id)
    };
}

/// The e-mail addresses of people whose name contains the pattern.
macro_rules! named_people {
    ($pattern:expr) => {
        users::table
            .filter($crate::paging::contains!(
                users::display_name.assume_not_null(),
                $pattern
            ))
            .select(users::email.assume_not_null())
    };
}
use {matching_actors, named_clients, named_people};

/// Where a [`chunk`] left off: the last event's time and id (events are ordered by both).
pub type Position = (NaiveDateTime, i64);

/// One page of the events the filter matches (the page its query asked for), with the
/// number over all pages.
pub fn page(conn: &mut DbConn, filter: &Filter) -> Result<AuditPage> {
    let (page, per_page) = (filter.page, filter.per_page);
    let total: i64 = filter.boxed().count().get_result(conn)?;
    // The page's ids first, then its events: the ids come from an index alone (each audit
    // index ends in occurred_at and id), where reading whole events to sort them would
    // fetch every match.
    let ids: Vec<i64> = filter
        .boxed()
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(i64::from(per_page))
        .offset(i64::from(page - 1) * i64::from(per_page))
        .select(audit_events::id)
        .load(conn)?;
    let rows: Vec<EventRow> = audit_events::table
        .filter(audit_events::id.eq_any(&ids))
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .select(EventRow::as_select())
        .load(conn)?;
    Ok(AuditPage {
        events: named(conn, rows)?,
        page,
        per_page,
        total,
    })
}

/// Up to `size` events after `after` (from the newest when `None`), newest first: reading
/// on from the last one's [`Position`] goes through every match once, however many there
/// are, each chunk by the index rather than by an ever larger offset.
pub fn chunk(
    conn: &mut DbConn,
    filter: &Filter,
    after: Option<Position>,
    size: i64,
) -> Result<Vec<AuditEventView>> {
    let mut query = filter.boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            audit_events::occurred_at
                .lt(at)
                .or(audit_events::occurred_at
                    .eq(at)
                    .and(audit_events::id.lt(id))),
        );
    }
    let rows: Vec<EventRow> = query
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(size)
        .select(EventRow::as_select())
        .load(conn)?;
    named(conn, rows)
}

/// The position of an event, to read on after it.
pub fn position_of(event: &AuditEventView) -> Position {
    (event.occurred_at.naive_utc(), event.id)
}

fn non_blank(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

fn start_of(day: NaiveDate) -> NaiveDateTime {
    day.and_time(chrono::NaiveTime::MIN)
}

/// The application a `client_id` filter names, if the person may see it: (id, client_id).
fn application(conn: &mut DbConn, client_id: &str, access: &Access) -> Result<(String, String)> {
    let normalised = ClientId::parse(client_id).map_err(|_| not_found::application(client_id))?;
    let (id, organisation_id): (String, String) = applications::table
        .filter(applications::client_id.eq(normalised.as_str()))
        .select((applications::id, applications::organisation_id))
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found::application(client_id))?;
    if access.role_in(&organisation_id).is_none() {
        return Err(not_found::application(client_id));
    }
    Ok((id, normalised.as_str().to_owned()))
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

/// The rows as views, with the names of their organisations, applications and actors, read
/// in one query per kind of name for the whole set.
fn named(conn: &mut DbConn, rows: Vec<EventRow>) -> Result<Vec<AuditEventView>> {
    let wanted = |pick: fn(&EventRow) -> Option<&str>| -> Vec<String> {
        let mut ids: Vec<String> = rows.iter().filter_map(pick).map(str::to_owned).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let organisation_ids = wanted(|row| row.organisation_id.as_deref());
    let application_ids = wanted(|row| row.application_id.as_deref());
    let client_ids = wanted(|row| (row.actor_kind == "client").then_some(row.actor.as_str()));
    let emails = wanted(|row| (row.actor_kind == "user").then_some(row.actor.as_str()));

    let organisations: HashMap<String, String> = organisations::table
        .filter(organisations::id.eq_any(&organisation_ids))
        .select((organisations::id, organisations::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let applications_by_id: HashMap<String, (String, String)> = applications::table
        .filter(applications::id.eq_any(&application_ids))
        .select((
            applications::id,
            applications::name,
            applications::client_id,
        ))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, client_id)| (id, (name, client_id)))
        .collect();
    let clients: HashMap<String, String> = applications::table
        .filter(applications::client_id.eq_any(&client_ids))
        .select((applications::client_id, applications::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let people: HashMap<String, String> = users::table
        .filter(users::email.eq_any(&emails))
        .filter(users::display_name.is_not_null())
        .select((
            users::email.assume_not_null(),
            users::display_name.assume_not_null(),
        ))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();

    Ok(rows
        .into_iter()
        .map(|row| {
            let application = row
                .application_id
                .as_ref()
                .and_then(|id| applications_by_id.get(id));
            let actor_name = match row.actor_kind.as_str() {
                "client" => clients.get(&row.actor).cloned(),
                "user" => people.get(&row.actor).cloned(),
                _ => None,
            };
            AuditEventView {
                id: row.id,
                occurred_at: db::utc(row.occurred_at),
                actor_name,
                organisation_name: row
                    .organisation_id
                    .as_ref()
                    .and_then(|id| organisations.get(id).cloned()),
                application_name: application.map(|(name, _)| name.clone()),
                client_id: application.map(|(_, client_id)| client_id.clone()),
                actor_kind: row.actor_kind,
                actor: row.actor,
                action: row.action,
                organisation_id: row.organisation_id,
                application_id: row.application_id,
                secret_id: row.secret_id,
                source_address: row.source_address,
                outcome: row.outcome,
                details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
                summary: String::new(),
                detail_lines: Vec::new(),
            }
            .worded()
        })
        .collect())
}
