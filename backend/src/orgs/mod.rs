//! Organisations: the partners that own applications.
//!
//! Every function here fails with [`Error::Database`] when the
//! database does; the `# Errors` of each name what else it refuses.

pub mod http;

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::Organisation;
use clavis_shared::paging::{ListQuery, Page};
use clavis_shared::portal::{CreateOrganisation, UpdateOrganisation};
use clavis_shared::validate;
use diesel::prelude::*;

use crate::access::{Actor, not_found};
use crate::audit::AuditEvent;
use crate::db::{self, DbConn, schema::applications, schema::organisations};
use crate::error::{Error, Result};
use crate::paging::{self, lower};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = organisations)]
struct OrganisationRow {
    id: String,
    name: String,
    country: String,
    sandbox: bool,
    created_at: NaiveDateTime,
    notification_email: Option<String>,
}

impl From<OrganisationRow> for Organisation {
    fn from(row: OrganisationRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            country: row.country,
            sandbox: row.sandbox,
            created_at: db::utc(row.created_at),
            notification_email: row.notification_email,
        }
    }
}

/// # Errors
/// [`Error::Invalid`] for a bad name, country or mailbox, [`Error::Conflict`]
/// when the name is taken.
pub fn create(
    conn: &mut DbConn,
    new: &CreateOrganisation,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Organisation> {
    let row = OrganisationRow {
        id: db::new_id(),
        name: validate::organisation_name(&new.name)?,
        country: validate::country_code(&new.country)?,
        sandbox: new.sandbox,
        created_at: now.naive_utc(),
        notification_email: validate::notification_email(
            new.notification_email.as_deref().unwrap_or_default(),
        )?,
    };
    db::write_transaction(conn, |conn| {
        diesel::insert_into(organisations::table)
            .values(&row)
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                format!("An organisation named \"{}\" already exists.", row.name)
            }))?;
        AuditEvent::success("organisation.create", actor)
            .organisation(&row.id)
            .details(serde_json::json!({
                "name": row.name, "country": row.country, "sandbox": row.sandbox,
                "notification_email": row.notification_email,
            }))
            .record(conn, now)
    })?;
    Ok(row.into())
}

/// # Errors
/// [`Error::NotFound`] for an unknown id, [`Error::Invalid`] for a bad field or a
/// sandbox flag its production applications forbid, [`Error::Conflict`] when the name is taken.
pub fn update(
    conn: &mut DbConn,
    id: &str,
    changes: &UpdateOrganisation,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Organisation> {
    let name = changes
        .name
        .as_deref()
        .map(validate::organisation_name)
        .transpose()?;
    let country = changes
        .country
        .as_deref()
        .map(validate::country_code)
        .transpose()?;
    let notification_email = changes
        .notification_email
        .as_deref()
        .map(validate::notification_email)
        .transpose()?;
    db::write_transaction(conn, |conn| {
        let mut organisation = find_by_id(conn, id)?;
        if changes.sandbox == Some(true) && !organisation.sandbox {
            ensure_no_production_applications(conn, &organisation)?;
        }
        organisation.name = name.clone().unwrap_or(organisation.name);
        organisation.country = country.clone().unwrap_or(organisation.country);
        organisation.sandbox = changes.sandbox.unwrap_or(organisation.sandbox);
        if let Some(address) = &notification_email {
            organisation.notification_email = address.clone();
        }
        diesel::update(organisations::table.find(&organisation.id))
            .set((
                organisations::name.eq(&organisation.name),
                organisations::country.eq(&organisation.country),
                organisations::sandbox.eq(organisation.sandbox),
                organisations::notification_email.eq(&organisation.notification_email),
            ))
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                format!(
                    "An organisation named \"{}\" already exists.",
                    organisation.name
                )
            }))?;
        AuditEvent::success("organisation.update", actor)
            .organisation(&organisation.id)
            .details(serde_json::json!({
                "name": name, "country": country, "sandbox": changes.sandbox,
                "notification_email": notification_email,
            }))
            .record(conn, now)?;
        Ok(organisation)
    })
}

/// A sandbox organisation has only sandbox applications, so one with production
/// applications cannot become a sandbox.
fn ensure_no_production_applications(conn: &mut DbConn, organisation: &Organisation) -> Result<()> {
    let production: i64 = applications::table
        .filter(applications::organisation_id.eq(&organisation.id))
        .filter(applications::environment.eq("production"))
        .count()
        .get_result(conn)?;
    if production > 0 {
        return Err(validate::ValidationError::new(
            "sandbox",
            format!(
                "\"{}\" has {production} production application(s), so it cannot become a sandbox organisation.",
                organisation.name
            ),
        )
        .into());
    }
    Ok(())
}

/// An organisation by its id only (the API's addressing).
///
/// # Errors
/// [`not_found::organisation`] when none has the id.
pub fn find_by_id(conn: &mut DbConn, id: &str) -> Result<Organisation> {
    organisations::table
        .find(id)
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into)
        .ok_or_else(|| not_found::organisation(id))
}

pub fn list(conn: &mut DbConn) -> Result<Vec<Organisation>> {
    let rows = organisations::table
        .order(lower(organisations::name))
        .select(OrganisationRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// What the organisations list sorts by (`?sort=`), the first the default.
#[derive(Debug, Clone, Copy)]
enum SortBy {
    Name,
    Country,
    Created,
}

/// The sort fields, as `?sort=` names them.
const SORTS: [(&str, SortBy); 3] = [
    ("name", SortBy::Name),
    ("country", SortBy::Country),
    ("created", SortBy::Created),
];

/// One page of organisations: searched by name, country and reminder mailbox, sorted and
/// paged by the database. `visible` limits it to those ids (a contact's own organisations);
/// `None` is every organisation (admins).
///
/// # Errors
/// [`Error::Invalid`] for a bad page, per_page, sort or search (see [`ListQuery::check`]).
pub fn page(
    conn: &mut DbConn,
    query: &ListQuery,
    visible: Option<&[String]>,
) -> Result<Page<Organisation>> {
    let checked = query.check(&SORTS)?;
    let pattern = checked.like_pattern(|text| paging::fold(conn, text));
    let filtered = || {
        let mut found = organisations::table.into_boxed();
        if let Some(pattern) = &pattern {
            found = found.filter(paging::any_contains(
                vec![
                    Box::new(organisations::name),
                    Box::new(organisations::country),
                    Box::new(organisations::notification_email.assume_not_null()),
                ],
                pattern,
            ));
        }
        if let Some(ids) = visible {
            found = found.filter(organisations::id.eq_any(ids.to_vec()));
        }
        found
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let sorted = match (checked.sort.field, checked.sort.descending) {
        (SortBy::Name, false) => filtered().order(lower(organisations::name).asc()),
        (SortBy::Name, true) => filtered().order(lower(organisations::name).desc()),
        (SortBy::Country, false) => filtered().order(organisations::country.asc()),
        (SortBy::Country, true) => filtered().order(organisations::country.desc()),
        (SortBy::Created, false) => filtered().order(organisations::created_at.asc()),
        (SortBy::Created, true) => filtered().order(organisations::created_at.desc()),
    };
    let rows = sorted
        .then_order_by(organisations::id)
        .select(OrganisationRow::as_select())
        .limit(checked.per_page)
        .offset(checked.offset())
        .load(conn)?;
    Ok(checked.page_of(rows.into_iter().map(Into::into).collect(), total))
}

/// An organisation by its id or its name (names compare case-insensitively).
///
/// # Errors
/// [`Error::NotFound`] when none has the id or name.
pub fn find(conn: &mut DbConn, id_or_name: &str) -> Result<Organisation> {
    organisations::table
        .filter(
            organisations::id
                .eq(id_or_name)
                .or(lower(organisations::name).eq(id_or_name.trim().to_lowercase())),
        )
        .select(OrganisationRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "No organisation has the id or name \"{id_or_name}\"."
            ))
        })
}
