//! Applications: an organisation's OAuth clients, each with a permanent client_id and the
//! APIs and scopes it may receive tokens for.
//!
//! Every function here fails with [`Error::Database`] when the
//! database does; the `# Errors` of each name what else it refuses.

pub mod authentication;
mod grants;
pub mod http;

pub use grants::{TokenGrant, grants_of};

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::admin::ApplicationListing;
use clavis_shared::dto::{Api, ApiGrant, Application, Environment, Organisation};
use clavis_shared::paging::{ListQuery, Page, Sort};
use clavis_shared::portal::{CreateApplication, UpdateApplication};
use clavis_shared::validate::{self, ClientId, PartnerAppName, ValidationError};
use diesel::prelude::*;

use crate::access::{Actor, not_found};
use crate::apis;
use crate::audit::AuditEvent;
use crate::db::schema::{application_apis, application_scopes, applications, organisations};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::orgs;
use crate::paging::{self, lower};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = applications)]
struct ApplicationRow {
    id: String,
    organisation_id: String,
    name: String,
    client_id: String,
    description: String,
    environment: String,
    enabled: bool,
    token_lifetime_secs: i32,
    created_at: NaiveDateTime,
    created_by: String,
    tokens_revoked_before: Option<NaiveDateTime>,
    requires_device: bool,
}

impl ApplicationRow {
    fn into_application(self, grants: Vec<ApiGrant>) -> Result<Application> {
        Ok(Application {
            environment: self.environment.parse().map_err(Error::Internal)?,
            id: self.id,
            organisation_id: self.organisation_id,
            name: self.name,
            client_id: self.client_id,
            description: self.description,
            enabled: self.enabled,
            token_lifetime_secs: self.token_lifetime_secs,
            grants,
            created_at: db::utc(self.created_at),
            created_by: self.created_by,
            tokens_revoked_before: self.tokens_revoked_before.map(db::utc),
            requires_device: self.requires_device,
        })
    }
}

/// Creates an application, audited as `application.create`: without a name it gets the
/// conventional `Partner-<CC>-<Org>-<API>` one, and every scope of each API it may call; its
/// environment defaults to sandbox in a sandbox organisation, production elsewhere.
///
/// # Errors
/// [`Error::NotFound`] for an unknown organisation or API, [`Error::Invalid`] for a bad
/// name, client_id, description or lifetime, [`Error::Conflict`] for a name or client_id
/// already taken.
pub fn create(
    conn: &mut DbConn,
    new: &CreateApplication,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Application> {
    db::write_transaction(conn, |conn| {
        let organisation = orgs::find(conn, &new.organisation_id)?;
        let granted = grants::requested_apis(conn, &new.api_codes)?;
        let row = ApplicationRow {
            id: db::new_id(),
            name: application_name(conn, new.name.as_deref(), &organisation, &granted[0])?,
            client_id: unused_client_id(conn, new.client_id.as_deref())?,
            description: validate::description(&new.description)?,
            environment: environment_for(&organisation, new.environment)?.to_string(),
            enabled: true,
            token_lifetime_secs: validate::token_lifetime(
                new.token_lifetime_secs
                    .unwrap_or(validate::DEFAULT_TOKEN_LIFETIME_SECS),
            )?,
            created_at: now.naive_utc(),
            created_by: actor.label(),
            organisation_id: organisation.id,
            tokens_revoked_before: None,
            requires_device: false,
        };
        diesel::insert_into(applications::table)
            .values(&row)
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                format!(
                    "The organisation already has an application named \"{}\".",
                    row.name
                )
            }))?;
        let grants = grants::grant_apis(conn, &row.id, &granted)?;
        AuditEvent::success("application.create", actor)
            .organisation(&row.organisation_id)
            .application(&row.id)
            .details(serde_json::json!({
                "name": row.name, "client_id": row.client_id, "environment": row.environment,
                "apis": new.api_codes,
            }))
            .record(conn, now)?;
        row.into_application(grants)
    })
}

/// The conventional name for an application of `organisation` calling API `api_code`.
///
/// # Errors
/// [`Error::NotFound`] for an unknown API.
pub fn suggest_name(conn: &mut DbConn, organisation: &str, api_code: &str) -> Result<String> {
    let organisation = orgs::find(conn, organisation)?;
    let api = apis::find_by_code(conn, api_code)?;
    Ok(PartnerAppName::suggest(&organisation.country, &organisation.name, &api.code).to_string())
}

/// Applications, of one organisation (id or name) or of all, by name.
pub fn list(conn: &mut DbConn, organisation: Option<&str>) -> Result<Vec<Application>> {
    let mut query = applications::table
        .select(ApplicationRow::as_select())
        .order(applications::name)
        .into_boxed();
    if let Some(organisation) = organisation {
        let organisation = orgs::find(conn, organisation)?;
        query = query.filter(applications::organisation_id.eq(organisation.id));
    }
    let rows = query.load(conn)?;
    let mut grants = grants::grants_of(conn, rows.iter().map(|row| row.id.as_str()))?;
    rows.into_iter()
        .map(|row| {
            let own = grants.remove(&row.id).unwrap_or_default();
            row.into_application(own.into_iter().map(ApiGrant::from).collect())
        })
        .collect()
}

/// What the applications list sorts by (`?sort=`), the first the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Name,
    Organisation,
    ClientId,
    Environment,
    Enabled,
    Created,
}

/// The sort fields, as `?sort=` names them.
const SORTS: [(&str, SortBy); 6] = [
    ("name", SortBy::Name),
    ("organisation", SortBy::Organisation),
    ("client_id", SortBy::ClientId),
    ("environment", SortBy::Environment),
    ("enabled", SortBy::Enabled),
    ("created", SortBy::Created),
];

/// Applications whose name, client_id or organisation's name contains the search `pattern`
/// (as [`paging`] explains). Each column is asked in its own subquery, which PostgreSQL
/// answers from that column's trigram index once per search, rather than lower-casing three
/// columns of every application.
fn matching(pattern: &str) -> paging::Condition<JoinedApplications> {
    // Subqueries on the tables of the outer query: aliases keep their columns apart.
    let (named, by_client_id, of) = diesel::alias!(
        applications as named_applications,
        applications as client_id_applications,
        organisations as named_organisations
    );
    let named = named
        .filter(paging::contains!(named.field(applications::name), pattern))
        .select(named.field(applications::id));
    let by_client_id = by_client_id
        .filter(paging::contains!(
            by_client_id.field(applications::client_id),
            pattern
        ))
        .select(by_client_id.field(applications::id));
    let of_organisations = of
        .filter(paging::contains!(of.field(organisations::name), pattern))
        .select(of.field(organisations::id));
    Box::new(
        applications::id
            .eq_any(named)
            .or(applications::id.eq_any(by_client_id))
            .or(applications::organisation_id.eq_any(of_organisations)),
    )
}

/// Applications joined with their organisations, as the list reads them.
type JoinedApplications =
    diesel::dsl::InnerJoinQuerySource<applications::table, organisations::table>;

/// One page of applications with their organisation's name: of one organisation (its id)
/// or of all, searched by name, client_id and organisation name, sorted and paged by the
/// database.
///
/// # Errors
/// [`Error::Invalid`] for a bad page, per_page, sort or search (see [`ListQuery::check`]),
/// [`not_found::organisation`] for an unknown organisation.
pub fn page(
    conn: &mut DbConn,
    query: &ListQuery,
    organisation: Option<&str>,
) -> Result<Page<ApplicationListing>> {
    let checked = query.check(&SORTS)?;
    let organisation = organisation
        .map(|id| orgs::find_by_id(conn, id).map(|o| o.id))
        .transpose()?;
    let pattern = checked.like_pattern(|text| paging::fold(conn, text));
    let filtered = || {
        let mut found = applications::table
            .inner_join(organisations::table)
            .into_boxed();
        if let Some(pattern) = &pattern {
            found = found.filter(matching(pattern));
        }
        if let Some(id) = &organisation {
            found = found.filter(applications::organisation_id.eq(id.clone()));
        }
        found
    };
    // The page's ids first, then its rows: sorting (key, id) pairs rather than whole joined
    // rows keeps the sort small, and the default order needs no join at all.
    let (ids, total): (Vec<String>, i64) = if pattern.is_some() {
        // A search reads every application anyway: one pass gives the matches in order and
        // their number.
        let matches: Vec<String> = sorted_ids(filtered(), checked.sort)
            .select(applications::id)
            .load(conn)?;
        let total = i64::try_from(matches.len()).unwrap_or(i64::MAX);
        let skip = usize::try_from(checked.offset()).unwrap_or(usize::MAX);
        let take = usize::try_from(checked.per_page).unwrap_or(usize::MAX);
        (matches.into_iter().skip(skip).take(take).collect(), total)
    } else {
        // Every application has its organisation, so without a search (which reads the
        // organisation's name) neither the count nor the default order needs the join.
        let mut own = applications::table.into_boxed();
        if let Some(id) = &organisation {
            own = own.filter(applications::organisation_id.eq(id.clone()));
        }
        let total: i64 = own.count().get_result(conn)?;
        let ids = if checked.sort.field == SortBy::Name {
            // By the index applications_name_order.
            let mut own = applications::table.into_boxed();
            if let Some(id) = &organisation {
                own = own.filter(applications::organisation_id.eq(id.clone()));
            }
            let by_name = if checked.sort.descending {
                own.order(lower(applications::name).desc())
            } else {
                own.order(lower(applications::name).asc())
            };
            by_name
                .then_order_by(applications::id)
                .select(applications::id)
                .limit(checked.per_page)
                .offset(checked.offset())
                .load(conn)?
        } else {
            sorted_ids(filtered(), checked.sort)
                .select(applications::id)
                .limit(checked.per_page)
                .offset(checked.offset())
                .load(conn)?
        };
        (ids, total)
    };
    let mut rows: Vec<(ApplicationRow, String)> = applications::table
        .inner_join(organisations::table)
        .filter(applications::id.eq_any(&ids))
        .select((ApplicationRow::as_select(), organisations::name))
        .load(conn)?;
    rows.sort_by_key(|(row, _)| ids.iter().position(|id| *id == row.id));
    let mut grants = grants::grants_of(conn, rows.iter().map(|(row, _)| row.id.as_str()))?;
    let items = rows
        .into_iter()
        .map(|(row, organisation_name)| {
            let own = grants.remove(&row.id).unwrap_or_default();
            Ok(ApplicationListing {
                application: row.into_application(own.into_iter().map(ApiGrant::from).collect())?,
                organisation_name,
            })
        })
        .collect::<Result<_>>()?;
    Ok(checked.page_of(items, total))
}

type Listed<'a> = diesel::dsl::IntoBoxed<
    'a,
    diesel::dsl::InnerJoin<applications::table, organisations::table>,
    paging::Db,
>;

/// `found` in the list's order: the sort asked for, then name (when that is not the sort),
/// then id. By name, ties go by id alone: the order applications_name_order holds (a second
/// lower(name) would keep SQLite from reading that index in order).
fn sorted_ids(found: Listed<'_>, sort: Sort<SortBy>) -> Listed<'_> {
    let sorted = match (sort.field, sort.descending) {
        (SortBy::Name, false) => found.order(lower(applications::name).asc()),
        (SortBy::Name, true) => found.order(lower(applications::name).desc()),
        (SortBy::Organisation, false) => found.order(lower(organisations::name).asc()),
        (SortBy::Organisation, true) => found.order(lower(organisations::name).desc()),
        (SortBy::ClientId, false) => found.order(applications::client_id.asc()),
        (SortBy::ClientId, true) => found.order(applications::client_id.desc()),
        (SortBy::Environment, false) => found.order(applications::environment.asc()),
        (SortBy::Environment, true) => found.order(applications::environment.desc()),
        (SortBy::Enabled, false) => found.order(applications::enabled.asc()),
        (SortBy::Enabled, true) => found.order(applications::enabled.desc()),
        (SortBy::Created, false) => found.order(applications::created_at.asc()),
        (SortBy::Created, true) => found.order(applications::created_at.desc()),
    };
    let sorted = if sort.field == SortBy::Name {
        sorted
    } else {
        sorted.then_order_by(lower(applications::name))
    };
    sorted.then_order_by(applications::id)
}

/// Takes the application's row lock before counting its secrets or keys, so concurrent creations on PostgreSQL
/// cannot both pass the quota check (on SQLite the write transaction already serialises them).
/// `client_id` is as stored.
///
/// # Errors
/// [`Error::Database`] when the database fails.
pub fn lock_credentials_of(conn: &mut DbConn, client_id: &str) -> Result<()> {
    diesel::update(applications::table.filter(applications::client_id.eq(client_id)))
        .set(applications::enabled.eq(applications::enabled))
        .execute(conn)?;
    Ok(())
}

/// The application with this client_id, written in any GUID form ([`ClientId`]).
///
/// # Errors
/// [`not_found::application`] when there is none, or the text is not a GUID at all.
pub fn find_by_client_id(conn: &mut DbConn, client_id: &str) -> Result<Application> {
    let Ok(normalised) = ClientId::parse(client_id) else {
        return Err(not_found::application(client_id));
    };
    let row = applications::table
        .filter(applications::client_id.eq(normalised.as_str()))
        .select(ApplicationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found::application(client_id))?;
    let grants = grants::grants_of(conn, [row.id.as_str()])?
        .remove(&row.id)
        .unwrap_or_default();
    row.into_application(grants.into_iter().map(ApiGrant::from).collect())
}

/// Enables or disables an application; a disabled one gets no tokens.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id.
pub fn set_enabled(
    conn: &mut DbConn,
    client_id: &str,
    enabled: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Application> {
    db::write_transaction(conn, |conn| {
        let mut application = find_by_client_id(conn, client_id)?;
        diesel::update(applications::table.find(&application.id))
            .set(applications::enabled.eq(enabled))
            .execute(conn)?;
        let action = if enabled {
            "application.enable"
        } else {
            "application.disable"
        };
        AuditEvent::success(action, actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .record(conn, now)?;
        application.enabled = enabled;
        Ok(application)
    })
}

/// The kill switch: every token of the application issued until `now` becomes inactive in
/// introspection at once, on every instance (the moment is stored with the application).
/// Tokens carry `iat` in whole seconds, so tokens issued in the same second as `now` count as
/// issued before it; the token endpoint issues none in that second (see `oauth::token`).
/// A later switch never moves the moment back, even if this instance's clock is behind.
///
/// # Errors
/// [`not_found::application`] for an unknown client_id.
pub fn revoke_tokens(
    conn: &mut DbConn,
    client_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Application> {
    db::write_transaction(conn, |conn| {
        let mut application = find_by_client_id(conn, client_id)?;
        let revoked_before = application
            .tokens_revoked_before
            .map_or(now, |earlier| earlier.max(now));
        diesel::update(applications::table.find(&application.id))
            .set(applications::tokens_revoked_before.eq(revoked_before.naive_utc()))
            .execute(conn)?;
        AuditEvent::success("application.revoke_tokens", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .details(serde_json::json!({ "revoked_before": revoked_before }))
            .record(conn, now)?;
        application.tokens_revoked_before = Some(revoked_before);
        Ok(application)
    })
}

/// Applies `changes` to the application, audited as `application.update`; each field left
/// `None` stays as it is, and `grants`, when given, replaces every API and scope it holds.
///
/// # Errors
/// [`Error::NotFound`] for an unknown application or API, [`Error::Invalid`] for a bad
/// field or a scope the API does not define, [`Error::Conflict`] for a name already taken.
pub fn update(
    conn: &mut DbConn,
    client_id: &str,
    changes: &UpdateApplication,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Application> {
    let description = changes
        .description
        .as_deref()
        .map(validate::description)
        .transpose()?;
    let lifetime = changes
        .token_lifetime_secs
        .map(validate::token_lifetime)
        .transpose()?;
    db::write_transaction(conn, |conn| {
        let mut application = find_by_client_id(conn, client_id)?;
        if let Some(grants) = &changes.grants {
            let granted = grants::granted_scopes(conn, grants)?;
            diesel::delete(
                application_scopes::table
                    .filter(application_scopes::application_id.eq(&application.id)),
            )
            .execute(conn)?;
            diesel::delete(
                application_apis::table
                    .filter(application_apis::application_id.eq(&application.id)),
            )
            .execute(conn)?;
            application.grants = grants::grant_apis(conn, &application.id, &granted)?;
        }
        if let Some(name) = &changes.name {
            let organisation = orgs::find_by_id(conn, &application.organisation_id)?;
            let first_code = application.grants.first().map(|g| g.api_code.clone());
            let first_api = apis::find_by_code(conn, first_code.as_deref().unwrap_or_default())?;
            application.name = application_name(conn, Some(name), &organisation, &first_api)?;
        }
        application.description = description.clone().unwrap_or(application.description);
        application.enabled = changes.enabled.unwrap_or(application.enabled);
        application.token_lifetime_secs = lifetime.unwrap_or(application.token_lifetime_secs);
        application.requires_device = changes
            .requires_device
            .unwrap_or(application.requires_device);
        diesel::update(applications::table.find(&application.id))
            .set((
                applications::name.eq(&application.name),
                applications::description.eq(&application.description),
                applications::enabled.eq(application.enabled),
                applications::token_lifetime_secs.eq(application.token_lifetime_secs),
                applications::requires_device.eq(application.requires_device),
            ))
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                format!(
                    "The organisation already has an application named \"{}\".",
                    application.name
                )
            }))?;
        AuditEvent::success("application.update", actor)
            .organisation(&application.organisation_id)
            .application(&application.id)
            .details(serde_json::json!({
                "name": changes.name, "description": description, "enabled": changes.enabled,
                "token_lifetime_secs": lifetime, "grants": application.grants,
                "requires_device": changes.requires_device,
            }))
            .record(conn, now)?;
        Ok(application)
    })
}

/// Whether any application has this client_id.
pub fn client_id_exists(conn: &mut DbConn, client_id: &str) -> Result<bool> {
    let count: i64 = applications::table
        .filter(applications::client_id.eq(client_id))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

fn application_name(
    conn: &mut DbConn,
    requested: Option<&str>,
    organisation: &Organisation,
    first_api: &Api,
) -> Result<String> {
    let Some(requested) = requested else {
        return Ok(PartnerAppName::suggest(
            &organisation.country,
            &organisation.name,
            &first_api.code,
        )
        .to_string());
    };
    let known_codes = apis::codes(conn)?;
    let checked = validate::application_name(requested, &organisation.country, |code| {
        known_codes.iter().any(|known| known == code)
    });
    checked.map_err(|mut invalid| {
        let suggestion =
            PartnerAppName::suggest(&organisation.country, &organisation.name, &first_api.code);
        invalid.message = format!("{} Suggested name: {suggestion}", invalid.message);
        invalid.into()
    })
}

fn unused_client_id(conn: &mut DbConn, requested: Option<&str>) -> Result<String> {
    let Some(requested) = requested else {
        return Ok(db::new_id());
    };
    let client_id = ClientId::parse(requested)?;
    if client_id_exists(conn, client_id.as_str())? {
        return Err(Error::Conflict(format!(
            "The client_id {client_id} already belongs to another application."
        )));
    }
    Ok(client_id.into())
}

/// A sandbox organisation only has sandbox applications.
fn environment_for(
    organisation: &Organisation,
    requested: Option<Environment>,
) -> Result<Environment> {
    match (organisation.sandbox, requested) {
        (true, Some(Environment::Production)) => Err(ValidationError::new(
            "environment",
            format!(
                "\"{}\" is a sandbox organisation: its applications must use the sandbox environment.",
                organisation.name
            ),
        )
        .into()),
        (true, _) => Ok(Environment::Sandbox),
        (false, requested) => Ok(requested.unwrap_or(Environment::Production)),
    }
}
