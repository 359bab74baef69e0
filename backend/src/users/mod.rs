//! People and their roles. A person can be designated (by e-mail or OIDC subject) before
//! their first login; the login attaches the record when the ID token matches.
//!
//! Every function here fails with [`Error::Database`] when the
//! database does; the `# Errors` of each name what else it refuses.

pub mod http;

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::admin::{PeopleFilter, Person as PersonView, PersonRole};
use clavis_shared::dto::{Role, RoleAssignment};
use clavis_shared::paging::{ListQuery, Page};
use clavis_shared::validate::{self, ValidationError};
use diesel::prelude::*;

use crate::access::{Actor, User, not_found};
use crate::audit::AuditEvent;
use crate::db::{self, DbConn, schema::organisations, schema::role_assignments, schema::users};
use crate::error::{Error, Result};
use crate::orgs;
use crate::paging::{self, lower};

/// How an admin names the person a role is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    Email(String),
    /// The `sub` claim the OpenID Connect provider gives the person.
    Subject(String),
}

impl Person {
    fn normalised(&self) -> Result<Self> {
        match self {
            Self::Email(email) => Ok(Self::Email(validate::email(email)?)),
            Self::Subject(subject) => Ok(Self::Subject(validate::subject(subject)?)),
        }
    }
}

impl std::fmt::Display for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Email(email) => write!(f, "{email}"),
            Self::Subject(subject) => write!(f, "subject {subject}"),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = role_assignments)]
struct AssignmentRow {
    id: String,
    user_id: String,
    role: String,
    organisation_id: Option<String>,
    granted_at: NaiveDateTime,
    granted_by: String,
}

impl AssignmentRow {
    fn into_assignment(
        self,
        email: Option<String>,
        subject: Option<String>,
    ) -> Result<RoleAssignment> {
        Ok(RoleAssignment {
            role: self.role.parse().map_err(Error::Internal)?,
            id: self.id,
            organisation_id: self.organisation_id,
            user_id: self.user_id,
            email,
            subject,
            granted_at: db::utc(self.granted_at),
            granted_by: self.granted_by,
        })
    }
}

/// Gives `person` a role: admin platform-wide, or another role within `organisation`.
///
/// # Errors
/// [`Error::Invalid`] for a bad e-mail or subject, or a role that needs an
/// organisation given without one (or the reverse); [`Error::NotFound`] for an unknown
/// organisation; [`Error::Conflict`] when the person already has that role there.
pub fn grant(
    conn: &mut DbConn,
    person: &Person,
    role: Role,
    organisation: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<RoleAssignment> {
    let person = person.normalised()?;
    db::write_transaction(conn, |conn| {
        let organisation_id = match (role.is_per_organisation(), organisation) {
            (true, Some(organisation)) => Some(orgs::find(conn, organisation)?.id),
            (true, None) => {
                return Err(ValidationError::new(
                    "organisation",
                    format!("The {role} role applies to one organisation: name the organisation."),
                )
                .into());
            }
            (false, Some(_)) => {
                return Err(ValidationError::new(
                    "organisation",
                    "The admin role is platform-wide: do not name an organisation.",
                )
                .into());
            }
            (false, None) => None,
        };
        let (user_id, email, subject) = find_or_designate(conn, &person, now)?;
        let row = AssignmentRow {
            id: db::new_id(),
            user_id,
            role: role.as_str().to_owned(),
            organisation_id,
            granted_at: now.naive_utc(),
            granted_by: actor.label(),
        };
        diesel::insert_into(role_assignments::table)
            .values((
                role_assignments::id.eq(&row.id),
                role_assignments::user_id.eq(&row.user_id),
                role_assignments::role.eq(&row.role),
                role_assignments::organisation_id.eq(&row.organisation_id),
                role_assignments::granted_at.eq(row.granted_at),
                role_assignments::granted_by.eq(&row.granted_by),
            ))
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                format!("{person} already has the {role} role there.")
            }))?;
        let mut event = AuditEvent::success("role.grant", actor).details(serde_json::json!({
            "assignment_id": row.id, "user_id": row.user_id, "role": row.role,
            "email": email, "subject": subject,
        }));
        if let Some(organisation_id) = &row.organisation_id {
            event = event.organisation(organisation_id);
        }
        event.record(conn, now)?;
        row.into_assignment(email, subject)
    })
}

/// Every role assignment, with the person it is for.
pub fn list(conn: &mut DbConn) -> Result<Vec<RoleAssignment>> {
    let rows: Vec<(AssignmentRow, Option<String>, Option<String>)> = role_assignments::table
        .inner_join(users::table)
        .order((users::email, role_assignments::role))
        .select((AssignmentRow::as_select(), users::email, users::subject))
        .load(conn)?;
    rows.into_iter()
        .map(|(row, email, subject)| row.into_assignment(email, subject))
        .collect()
}

/// What the people list sorts by (`?sort=`), the first the default.
#[derive(Debug, Clone, Copy)]
enum SortBy {
    Email,
    Name,
    LastSignIn,
    Created,
}

/// The sort fields, as `?sort=` names them.
const SORTS: [(&str, SortBy); 4] = [
    ("email", SortBy::Email),
    ("name", SortBy::Name),
    ("last_sign_in", SortBy::LastSignIn),
    ("created", SortBy::Created),
];

/// One page of people with their roles and last sign-in: searched by e-mail, name and
/// subject, filtered by organisation and role (people with such a role assignment),
/// sorted and paged by the database. People without an e-mail, name or sign-in come last
/// whichever way the list is sorted, on both databases.
///
/// # Errors
/// [`Error::Invalid`] for a bad page, per_page, sort, search or role (see
/// [`ListQuery::check`]); [`not_found::organisation`] for an unknown organisation.
pub fn people(
    conn: &mut DbConn,
    query: &ListQuery,
    filter: &PeopleFilter,
) -> Result<Page<PersonView>> {
    let checked = query.check(&SORTS)?;
    let role = filter
        .role
        .as_deref()
        .filter(|role| !role.is_empty())
        .map(|role| {
            role.parse::<Role>()
                .map_err(|message| ValidationError::new("role", message))
        })
        .transpose()?;
    let organisation = filter
        .organisation
        .as_deref()
        .filter(|id| !id.is_empty())
        .map(|id| orgs::find_by_id(conn, id).map(|o| o.id))
        .transpose()?;
    let pattern = checked.like_pattern(|text| paging::fold(conn, text));
    let filtered = || {
        let mut found = users::table.into_boxed();
        if let Some(pattern) = &pattern {
            // Each column in its own subquery, which PostgreSQL answers from that column's
            // trigram index, rather than lower-casing three columns of every person. Aliases
            // keep the subqueries' columns apart from the outer query's.
            let (by_email, by_name, by_subject) = diesel::alias!(
                users as email_users,
                users as named_users,
                users as subject_users
            );
            let by_email = by_email
                .filter(paging::contains!(
                    by_email.field(users::email).assume_not_null(),
                    pattern
                ))
                .select(by_email.field(users::id));
            let by_name = by_name
                .filter(paging::contains!(
                    by_name.field(users::display_name).assume_not_null(),
                    pattern
                ))
                .select(by_name.field(users::id));
            let by_subject = by_subject
                .filter(paging::contains!(
                    by_subject.field(users::subject).assume_not_null(),
                    pattern
                ))
                .select(by_subject.field(users::id));
            found = found.filter(
                users::id
                    .eq_any(by_email)
                    .or(users::id.eq_any(by_name))
                    .or(users::id.eq_any(by_subject)),
            );
        }
        // Each combination is its own query: a boxed subquery would tie it to one database.
        let holders = role_assignments::table.select(role_assignments::user_id);
        let holding: Option<paging::Condition<users::table>> = match (role, &organisation) {
            (None, None) => None,
            (Some(role), None) => Some(Box::new(
                users::id.eq_any(holders.filter(role_assignments::role.eq(role.as_str()))),
            )),
            (None, Some(id)) => Some(Box::new(
                users::id.eq_any(holders.filter(role_assignments::organisation_id.eq(id.clone()))),
            )),
            (Some(role), Some(id)) => Some(Box::new(
                users::id.eq_any(
                    holders
                        .filter(role_assignments::role.eq(role.as_str()))
                        .filter(role_assignments::organisation_id.eq(id.clone())),
                ),
            )),
        };
        if let Some(holding) = holding {
            found = found.filter(holding);
        }
        found
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let descending = checked.sort.descending;
    let sorted = match checked.sort.field {
        SortBy::Email => {
            let by = filtered().order(users::email.is_null());
            let email = lower(users::email.assume_not_null());
            if descending {
                by.then_order_by(email.desc())
            } else {
                by.then_order_by(email.asc())
            }
        }
        SortBy::Name => {
            let by = filtered().order(users::display_name.is_null());
            let name = lower(users::display_name.assume_not_null());
            if descending {
                by.then_order_by(name.desc())
            } else {
                by.then_order_by(name.asc())
            }
        }
        SortBy::LastSignIn => {
            let by = filtered().order(users::last_login_at.is_null());
            if descending {
                by.then_order_by(users::last_login_at.desc())
            } else {
                by.then_order_by(users::last_login_at.asc())
            }
        }
        SortBy::Created if descending => filtered().order(users::created_at.desc()),
        SortBy::Created => filtered().order(users::created_at.asc()),
    };
    type UserRow = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<UserRow> = sorted
        .then_order_by(users::id)
        .select((
            users::id,
            users::email,
            users::subject,
            users::display_name,
            users::last_login_at,
        ))
        .limit(checked.per_page)
        .offset(checked.offset())
        .load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|row| row.0.as_str()).collect();
    let assignments: Vec<(AssignmentRow, Option<String>)> = role_assignments::table
        .left_join(
            organisations::table
                .on(role_assignments::organisation_id.eq(organisations::id.nullable())),
        )
        .filter(role_assignments::user_id.eq_any(&ids))
        .order((role_assignments::user_id, role_assignments::granted_at))
        .select((AssignmentRow::as_select(), organisations::name.nullable()))
        .load(conn)?;
    let items = rows
        .into_iter()
        .map(|(id, email, subject, name, last_login_at)| {
            let roles = assignments
                .iter()
                .filter(|(row, _)| row.user_id == id)
                .map(|(row, organisation_name)| {
                    Ok(PersonRole {
                        id: row.id.clone(),
                        role: row.role.parse().map_err(Error::Internal)?,
                        organisation_id: row.organisation_id.clone(),
                        organisation_name: organisation_name.clone(),
                        granted_at: db::utc(row.granted_at),
                        granted_by: row.granted_by.clone(),
                    })
                })
                .collect::<Result<_>>()?;
            Ok(PersonView {
                id,
                email,
                subject,
                name,
                last_sign_in_at: last_login_at.map(db::utc),
                roles,
            })
        })
        .collect::<Result<_>>()?;
    Ok(checked.page_of(items, total))
}

/// Takes a role away again.
///
/// # Errors
/// [`not_found::role_assignment`] for an unknown id; [`Error::Conflict`] for the last admin
/// role, which would leave nobody able to manage Clavis except through the CLI.
pub fn revoke(
    conn: &mut DbConn,
    assignment_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<RoleAssignment> {
    db::write_transaction(conn, |conn| {
        let (row, email, subject) = role_assignments::table
            .inner_join(users::table)
            .filter(role_assignments::id.eq(assignment_id.trim()))
            .select((AssignmentRow::as_select(), users::email, users::subject))
            .first::<(AssignmentRow, Option<String>, Option<String>)>(conn)
            .optional()?
            .ok_or_else(|| not_found::role_assignment(assignment_id))?;
        if row.role == Role::Admin.as_str() {
            keep_an_admin(conn, &row.id)?;
        }
        diesel::delete(role_assignments::table.find(&row.id)).execute(conn)?;
        let mut event = AuditEvent::success("role.revoke", actor).details(serde_json::json!({
            "assignment_id": row.id, "user_id": row.user_id, "role": row.role,
            "email": email, "subject": subject,
        }));
        if let Some(organisation_id) = &row.organisation_id {
            event = event.organisation(organisation_id);
        }
        event.record(conn, now)?;
        row.into_assignment(email, subject)
    })
}

/// Refuses to remove the admin assignment `removed` when no other admin assignment exists.
/// Two admins removing each other at once must not both succeed: on PostgreSQL the admin
/// assignments are locked (`FOR UPDATE`) until the transaction ends; SQLite's write
/// transaction already excludes every other writer.
fn keep_an_admin(conn: &mut DbConn, removed: &str) -> Result<()> {
    let admins = role_assignments::table
        .filter(role_assignments::role.eq(Role::Admin.as_str()))
        .select(role_assignments::id);
    let ids: Vec<String> = match conn {
        DbConn::Postgres(pg) => admins.for_update().load(pg)?,
        DbConn::Sqlite(sqlite) => admins.load(sqlite)?,
    };
    if ids.iter().any(|id| id != removed) {
        return Ok(());
    }
    Err(Error::Conflict(
        "This is the last admin role: removing it would leave nobody who can manage Clavis. \
         Grant the admin role to someone else first."
            .to_owned(),
    ))
}

/// The user the person names, or a new designated record that their first login claims.
fn find_or_designate(
    conn: &mut DbConn,
    person: &Person,
    now: DateTime<Utc>,
) -> Result<(String, Option<String>, Option<String>)> {
    let mut query = users::table
        .select((users::id, users::email, users::subject))
        .order(users::created_at)
        .into_boxed();
    query = match person {
        Person::Email(email) => query.filter(users::email.eq(email)),
        Person::Subject(subject) => query.filter(users::subject.eq(subject)),
    };
    if let Some(found) = query.first(conn).optional()? {
        return Ok(found);
    }
    let (email, subject) = match person {
        Person::Email(email) => (Some(email.clone()), None),
        Person::Subject(subject) => (None, Some(subject.clone())),
    };
    let id = db::new_id();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::email.eq(&email),
            users::subject.eq(&subject),
            users::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok((id, email, subject))
}

/// Who a verified ID token says signed in.
#[derive(Debug, Clone)]
pub struct LoginIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Creates or updates the person's record at sign-in. Their record is found by issuer and
/// subject; else a designation by subject, or by e-mail when the provider verified it, is
/// claimed (so roles granted before the first login attach); else a new record is made.
/// Configured bootstrap admins (by e-mail or subject) get the admin role.
pub fn record_login(
    conn: &mut DbConn,
    identity: &LoginIdentity,
    bootstrap_admins: &[String],
    now: DateTime<Utc>,
) -> Result<User> {
    let verified_email = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .and_then(|email| validate::email(email).ok());
    db::write_transaction(conn, |conn| {
        let id = match existing_user(conn, identity, verified_email.as_deref())? {
            Some(id) => id,
            None => {
                let id = db::new_id();
                diesel::insert_into(users::table)
                    .values((users::id.eq(&id), users::created_at.eq(now.naive_utc())))
                    .execute(conn)?;
                id
            }
        };
        diesel::update(users::table.find(&id))
            .set((
                users::issuer.eq(&identity.issuer),
                users::subject.eq(&identity.subject),
                users::display_name.eq(&identity.name),
                users::last_login_at.eq(now.naive_utc()),
            ))
            .execute(conn)?;
        // Only an address the provider verified is stored: grants by e-mail match on it.
        if let Some(email) = &verified_email {
            diesel::update(users::table.find(&id))
                .set(users::email.eq(email))
                .execute(conn)?;
        }
        let email: Option<String> = users::table.find(&id).select(users::email).first(conn)?;
        let bootstrap = bootstrap_admins.iter().any(|admin| {
            *admin == identity.subject
                || verified_email
                    .as_deref()
                    .is_some_and(|email| admin.eq_ignore_ascii_case(email))
        });
        if bootstrap {
            ensure_admin(conn, &id, now)?;
        }
        Ok(User {
            id,
            email,
            name: identity.name.clone(),
        })
    })
}

/// The record this identity signs in to, if there is one.
fn existing_user(
    conn: &mut DbConn,
    identity: &LoginIdentity,
    verified_email: Option<&str>,
) -> Result<Option<String>> {
    let signed_in_before = users::table
        .filter(users::issuer.eq(&identity.issuer))
        .filter(users::subject.eq(&identity.subject))
        .select(users::id)
        .first::<String>(conn)
        .optional()?;
    if signed_in_before.is_some() {
        return Ok(signed_in_before);
    }
    let designated = users::table
        .filter(users::issuer.is_null())
        .order(users::created_at);
    let by_subject = designated
        .filter(users::subject.eq(&identity.subject))
        .select(users::id)
        .first::<String>(conn)
        .optional()?;
    if by_subject.is_some() {
        return Ok(by_subject);
    }
    let Some(email) = verified_email else {
        return Ok(None);
    };
    Ok(designated
        .filter(users::email.eq(email))
        .select(users::id)
        .first::<String>(conn)
        .optional()?)
}

/// Makes the user an admin unless they already are (a configured bootstrap admin).
fn ensure_admin(conn: &mut DbConn, user_id: &str, now: DateTime<Utc>) -> Result<()> {
    let already: i64 = role_assignments::table
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)?;
    if already > 0 {
        return Ok(());
    }
    let id = db::new_id();
    diesel::insert_into(role_assignments::table)
        .values((
            role_assignments::id.eq(&id),
            role_assignments::user_id.eq(user_id),
            role_assignments::role.eq(Role::Admin.as_str()),
            role_assignments::granted_at.eq(now.naive_utc()),
            role_assignments::granted_by.eq(Actor::System.label()),
        ))
        .execute(conn)?;
    AuditEvent::success("role.grant", &Actor::System)
        .details(serde_json::json!({
            "assignment_id": id, "user_id": user_id, "role": Role::Admin.as_str(),
            "reason": "bootstrap_admins",
        }))
        .record(conn, now)
}

/// Keeps the role the user's ID token claimed at this sign-in (or none), so expiry reminders
/// reach credential managers whose role comes from the identity provider.
pub fn remember_claimed_role(
    conn: &mut DbConn,
    user_id: &str,
    claimed: Option<(Role, &str)>,
) -> Result<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::claimed_role.eq(claimed.map(|(role, _)| role.as_str())),
            users::claimed_organisation_id.eq(claimed.map(|(_, organisation)| organisation)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user's stored e-mail address.
pub fn email_of(conn: &mut DbConn, user_id: &str) -> Result<Option<String>> {
    Ok(users::table
        .find(user_id)
        .select(users::email)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}
