//! APIs: the resource servers that access tokens are issued for, and the scopes each defines.
//!
//! Every function here fails with [`Error::Database`] when the
//! database does; the `# Errors` of each name what else it refuses.

pub mod http;

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::Api;
use clavis_shared::paging::{ListQuery, Page};
use clavis_shared::portal::{CreateApi, UpdateApi};
use clavis_shared::validate::{self, ClientId, ValidationError};
use diesel::prelude::*;
use std::collections::HashMap;

use crate::access::{Actor, not_found};
use crate::audit::AuditEvent;
use crate::db::{
    self, DbConn,
    schema::{api_resource_servers, api_scopes, apis, application_scopes, applications},
};
use crate::error::{Error, Result};
use crate::paging::{self, lower};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = apis)]
struct ApiRow {
    id: String,
    code: String,
    name: String,
    audience: String,
    created_at: NaiveDateTime,
    signing_alg: Option<String>,
}

impl ApiRow {
    fn into_api(self, scopes: Vec<String>, resource_servers: Vec<String>) -> Result<Api> {
        // The column's CHECK admits only the algorithms Clavis knows.
        let signing_alg = self
            .signing_alg
            .map(|alg| alg.parse())
            .transpose()
            .map_err(Error::Internal)?;
        Ok(Api {
            id: self.id,
            code: self.code,
            name: self.name,
            audience: self.audience,
            scopes,
            resource_servers,
            created_at: db::utc(self.created_at),
            signing_alg,
        })
    }
}

/// Registers an API, audited as `api.create`. Its signing algorithm is `new.signing_alg`,
/// which the caller resolves first ([`crate::keys::Keys::algorithm_for`], so the configured
/// default applies; `None` here means ES256) and gives a key ([`crate::keys::Keys::prepare`]).
///
/// # Errors
/// [`Error::Invalid`] for a bad code, name, audience, scope or resource server;
/// [`Error::Conflict`] when the code or audience is taken.
pub fn create(
    conn: &mut DbConn,
    new: &CreateApi,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Api> {
    let signing_alg = new.signing_alg.unwrap_or_default();
    let row = ApiRow {
        id: db::new_id(),
        code: validate::api_code(&new.code)?,
        name: validate::api_name(&new.name)?,
        audience: validate::audience(&new.audience)?,
        created_at: now.naive_utc(),
        signing_alg: Some(signing_alg.as_str().to_owned()),
    };
    let scopes = validate::scopes(&new.scopes)?;
    let resource_servers = db::write_transaction(conn, |conn| {
        diesel::insert_into(apis::table)
            .values(&row)
            .execute(conn)
            .map_err(Error::on_duplicate(|| {
                format!(
                    "An API with code {} or audience {} already exists.",
                    row.code, row.audience
                )
            }))?;
        for scope in &scopes {
            diesel::insert_into(api_scopes::table)
                .values((api_scopes::api_id.eq(&row.id), api_scopes::name.eq(scope)))
                .execute(conn)?;
        }
        let resource_servers = replace_resource_servers(conn, &row.id, &new.resource_servers)?;
        AuditEvent::success("api.create", actor)
            .details(serde_json::json!({
                "api_id": row.id, "code": row.code, "audience": row.audience, "scopes": scopes,
                "resource_servers": resource_servers,
                "signing_alg": signing_alg,
            }))
            .record(conn, now)?;
        Ok(resource_servers)
    })?;
    row.into_api(scopes, resource_servers)
}

pub fn list(conn: &mut DbConn) -> Result<Vec<Api>> {
    let rows = apis::table
        .order(apis::code)
        .select(ApiRow::as_select())
        .load(conn)?;
    let mut scopes = scopes_by_api(conn)?;
    let mut resource_servers = resource_servers_by_api(conn, None)?;
    rows.into_iter()
        .map(|row| {
            let own = scopes.remove(&row.id).unwrap_or_default();
            let servers = resource_servers.remove(&row.id).unwrap_or_default();
            row.into_api(own, servers)
        })
        .collect()
}

/// What the APIs list sorts by (`?sort=`), the first the default.
#[derive(Debug, Clone, Copy)]
enum SortBy {
    Code,
    Name,
    Audience,
    Created,
}

/// The sort fields, as `?sort=` names them.
const SORTS: [(&str, SortBy); 4] = [
    ("code", SortBy::Code),
    ("name", SortBy::Name),
    ("audience", SortBy::Audience),
    ("created", SortBy::Created),
];

/// One page of APIs with their scopes and resource servers: searched by code, name and
/// audience, sorted and paged by the database.
///
/// # Errors
/// [`Error::Invalid`] for a bad page, per_page, sort or search (see [`ListQuery::check`]).
pub fn page(conn: &mut DbConn, query: &ListQuery) -> Result<Page<Api>> {
    let checked = query.check(&SORTS)?;
    let pattern = checked.like_pattern(|text| paging::fold(conn, text));
    let filtered = || {
        let mut found = apis::table.into_boxed();
        if let Some(pattern) = &pattern {
            found = found.filter(paging::any_contains(
                vec![
                    Box::new(apis::code),
                    Box::new(apis::name),
                    Box::new(apis::audience),
                ],
                pattern,
            ));
        }
        found
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let sorted = match (checked.sort.field, checked.sort.descending) {
        (SortBy::Code, false) => filtered().order(apis::code.asc()),
        (SortBy::Code, true) => filtered().order(apis::code.desc()),
        (SortBy::Name, false) => filtered().order(lower(apis::name).asc()),
        (SortBy::Name, true) => filtered().order(lower(apis::name).desc()),
        (SortBy::Audience, false) => filtered().order(apis::audience.asc()),
        (SortBy::Audience, true) => filtered().order(apis::audience.desc()),
        (SortBy::Created, false) => filtered().order(apis::created_at.asc()),
        (SortBy::Created, true) => filtered().order(apis::created_at.desc()),
    };
    let rows = sorted
        .then_order_by(apis::id)
        .select(ApiRow::as_select())
        .limit(checked.per_page)
        .offset(checked.offset())
        .load(conn)?;
    let mut scopes = scopes_by_api(conn)?;
    let mut resource_servers = resource_servers_by_api(conn, None)?;
    let items = rows
        .into_iter()
        .map(|row| {
            let own = scopes.remove(&row.id).unwrap_or_default();
            let servers = resource_servers.remove(&row.id).unwrap_or_default();
            row.into_api(own, servers)
        })
        .collect::<Result<_>>()?;
    Ok(checked.page_of(items, total))
}

/// An API by its code, in any letter case.
///
/// # Errors
/// [`not_found::api`] when none has the code.
pub fn find_by_code(conn: &mut DbConn, code: &str) -> Result<Api> {
    let row = apis::table
        .filter(apis::code.eq(code.trim().to_ascii_uppercase()))
        .select(ApiRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found::api(code))?;
    let scopes = api_scopes::table
        .filter(api_scopes::api_id.eq(&row.id))
        .order(api_scopes::name)
        .select(api_scopes::name)
        .load(conn)?;
    let resource_servers = resource_servers_by_api(conn, Some(&row.id))?
        .remove(&row.id)
        .unwrap_or_default();
    row.into_api(scopes, resource_servers)
}

/// Applies `changes` to the API `code` in one transaction, audited as `api.update`; each
/// field left `None` stays as it is. `scopes` is the complete new list (a scope an
/// application still holds cannot be removed), `resource_servers` the complete new list of
/// client_ids, and a new `signing_alg` must already have a key
/// ([`crate::keys::Keys::prepare`]).
///
/// # Errors
/// [`Error::NotFound`] for an unknown code, [`Error::Invalid`] for a bad name, scope or
/// resource server, [`Error::Conflict`] for a scope still held.
pub fn update(
    conn: &mut DbConn,
    code: &str,
    changes: &UpdateApi,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Api> {
    let UpdateApi {
        name,
        scopes,
        resource_servers,
        signing_alg,
    } = changes;
    let signing_alg = *signing_alg;
    let name = name.as_deref().map(validate::api_name).transpose()?;
    let scopes = scopes.as_deref().map(validate::scopes).transpose()?;
    db::write_transaction(conn, |conn| {
        let mut api = find_by_code(conn, code)?;
        if let Some(name) = &name {
            diesel::update(apis::table.find(&api.id))
                .set(apis::name.eq(name))
                .execute(conn)?;
            api.name = name.clone();
        }
        if let Some(scopes) = &scopes {
            replace_scopes(conn, &api, scopes)?;
            api.scopes = scopes.clone();
            api.scopes.sort();
        }
        if let Some(client_ids) = resource_servers {
            api.resource_servers = replace_resource_servers(conn, &api.id, client_ids)?;
        }
        if let Some(signing_alg) = signing_alg {
            diesel::update(apis::table.find(&api.id))
                .set(apis::signing_alg.eq(signing_alg.as_str()))
                .execute(conn)?;
            api.signing_alg = Some(signing_alg);
        }
        AuditEvent::success("api.update", actor)
            .details(serde_json::json!({
                "api_id": api.id, "code": api.code, "name": name, "scopes": scopes,
                "resource_servers": resource_servers.as_ref().map(|_| &api.resource_servers),
                "signing_alg": signing_alg,
            }))
            .record(conn, now)?;
        Ok(api)
    })
}

fn replace_scopes(conn: &mut DbConn, api: &Api, scopes: &[String]) -> Result<()> {
    let removed: Vec<&String> = api.scopes.iter().filter(|s| !scopes.contains(s)).collect();
    let still_granted: Vec<String> = application_scopes::table
        .filter(application_scopes::api_id.eq(&api.id))
        .filter(application_scopes::scope.eq_any(&removed))
        .select(application_scopes::scope)
        .distinct()
        .load(conn)?;
    if !still_granted.is_empty() {
        return Err(Error::Conflict(format!(
            "Applications still hold the scope(s) {} of {}: take them away from those applications first.",
            still_granted.join(", "),
            api.code
        )));
    }
    diesel::delete(
        api_scopes::table
            .filter(api_scopes::api_id.eq(&api.id))
            .filter(api_scopes::name.eq_any(&removed)),
    )
    .execute(conn)?;
    for scope in scopes.iter().filter(|s| !api.scopes.contains(s)) {
        diesel::insert_into(api_scopes::table)
            .values((api_scopes::api_id.eq(&api.id), api_scopes::name.eq(scope)))
            .execute(conn)?;
    }
    Ok(())
}

/// The codes of every registered API.
pub fn codes(conn: &mut DbConn) -> Result<Vec<String>> {
    Ok(apis::table
        .order(apis::code)
        .select(apis::code)
        .load(conn)?)
}

/// Makes exactly the applications named by `client_ids` the resource servers of the API
/// `api_id`: the only applications besides a token's own client that introspection answers
/// about this API's tokens (RFC 7662 §4). Returns the registered client_ids, sorted.
fn replace_resource_servers(
    conn: &mut DbConn,
    api_id: &str,
    client_ids: &[String],
) -> Result<Vec<String>> {
    let (application_ids, client_ids) = registered_applications(conn, client_ids)?;
    diesel::delete(api_resource_servers::table.filter(api_resource_servers::api_id.eq(api_id)))
        .execute(conn)?;
    for application_id in &application_ids {
        diesel::insert_into(api_resource_servers::table)
            .values((
                api_resource_servers::api_id.eq(api_id),
                api_resource_servers::application_id.eq(application_id),
            ))
            .execute(conn)?;
    }
    Ok(client_ids)
}

/// The ids of the applications `client_ids` name (GUIDs in any form), and their client_ids
/// sorted without repeats; a validation error (422) names the first malformed or unknown one.
fn registered_applications(
    conn: &mut DbConn,
    client_ids: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let invalid = |message: String| ValidationError::new("resource_servers", message);
    let mut wanted = client_ids
        .iter()
        .map(|id| {
            ClientId::parse(id)
                .map(String::from)
                .map_err(|e| invalid(e.message))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    wanted.sort();
    wanted.dedup();
    let found: Vec<(String, String)> = applications::table
        .filter(applications::client_id.eq_any(&wanted))
        .select((applications::id, applications::client_id))
        .load(conn)?;
    if let Some(unknown) = wanted
        .iter()
        .find(|id| !found.iter().any(|(_, known)| known == *id))
    {
        return Err(invalid(format!(
            "No application has the client_id \"{unknown}\": a resource server must be a registered application."
        ))
        .into());
    }
    Ok((found.into_iter().map(|(id, _)| id).collect(), wanted))
}

/// The client_ids of the resource servers of one API (`Some(id)`) or of every API, sorted,
/// keyed by API id.
fn resource_servers_by_api(
    conn: &mut DbConn,
    api_id: Option<&str>,
) -> Result<HashMap<String, Vec<String>>> {
    let mut query = api_resource_servers::table
        .inner_join(applications::table)
        .order((api_resource_servers::api_id, applications::client_id))
        .select((api_resource_servers::api_id, applications::client_id))
        .into_boxed();
    if let Some(api_id) = api_id {
        query = query.filter(api_resource_servers::api_id.eq(api_id.to_owned()));
    }
    let mut grouped: HashMap<String, Vec<String>> = HashMap::new();
    for (api_id, client_id) in query.load::<(String, String)>(conn)? {
        grouped.entry(api_id).or_default().push(client_id);
    }
    Ok(grouped)
}

fn scopes_by_api(conn: &mut DbConn) -> Result<HashMap<String, Vec<String>>> {
    let pairs: Vec<(String, String)> = api_scopes::table
        .order((api_scopes::api_id, api_scopes::name))
        .select((api_scopes::api_id, api_scopes::name))
        .load(conn)?;
    let mut grouped: HashMap<String, Vec<String>> = HashMap::new();
    for (api_id, scope) in pairs {
        grouped.entry(api_id).or_default().push(scope);
    }
    Ok(grouped)
}
