//! Applications: an organisation's OAuth clients, each with a permanent client_id and the
//! APIs and scopes it may receive tokens for.

pub mod http;

use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::dto::{Api, ApiGrant, Application, Environment, Organisation};
use clavis_shared::portal::{CreateApplication, GrantRequest, UpdateApplication};
use clavis_shared::validate::{self, ClientId, PartnerAppName, ValidationError};
use diesel::prelude::*;
use std::collections::HashMap;

use crate::access::{Actor, not_found};
use crate::apis;
use crate::audit::AuditEvent;
use crate::db::schema::{self, application_apis, application_scopes, applications};
use crate::db::{self, DbConn};
use crate::error::{Error, Result};
use crate::orgs;

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
        })
    }
}

/// Creates an application, audited as `application.create`: without a name it gets the
/// conventional `Partner-<CC>-<Org>-<API>` one, and every scope of each API it may call; its
/// environment defaults to sandbox in a sandbox organisation, production elsewhere.
///
/// # Errors
/// [`Error::NotFound`] for an unknown organisation or API, [`Error::Validation`] for a bad
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
        let granted = requested_apis(conn, &new.api_codes)?;
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
        let grants = grant_apis(conn, &row.id, &granted)?;
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
    let mut grants = grants_of(conn, rows.iter().map(|row| row.id.as_str()))?;
    rows.into_iter()
        .map(|row| {
            let own = grants.remove(&row.id).unwrap_or_default();
            row.into_application(own)
        })
        .collect()
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
    let grants = grants_of(conn, [row.id.as_str()])?
        .remove(&row.id)
        .unwrap_or_default();
    row.into_application(grants)
}

/// Enables or disables an application; a disabled one gets no tokens.
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
/// [`Error::NotFound`] for an unknown application or API, [`Error::Validation`] for a bad
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
            let granted = granted_scopes(conn, grants)?;
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
            application.grants = grant_apis(conn, &application.id, &granted)?;
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
        diesel::update(applications::table.find(&application.id))
            .set((
                applications::name.eq(&application.name),
                applications::description.eq(&application.description),
                applications::enabled.eq(application.enabled),
                applications::token_lifetime_secs.eq(application.token_lifetime_secs),
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
            }))
            .record(conn, now)?;
        Ok(application)
    })
}

/// Checks requested grants against each API's scopes; the APIs with only those scopes.
fn granted_scopes(conn: &mut DbConn, grants: &[GrantRequest]) -> Result<Vec<Api>> {
    let mut granted: Vec<Api> = Vec::new();
    for GrantRequest { api_code, scopes } in grants {
        let mut api = apis::find_by_code(conn, api_code)?;
        if granted.iter().any(|known| known.id == api.id) {
            return Err(ValidationError::new(
                "grants",
                format!("The API {} is listed twice.", api.code),
            )
            .into());
        }
        if let Some(unknown) = scopes.iter().find(|scope| !api.scopes.contains(scope)) {
            return Err(ValidationError::new(
                "grants",
                format!(
                    "The API {} has no scope \"{unknown}\"; its scopes are: {}.",
                    api.code,
                    api.scopes.join(", ")
                ),
            )
            .into());
        }
        api.scopes.retain(|scope| scopes.contains(scope));
        granted.push(api);
    }
    if granted.is_empty() {
        return Err(ValidationError::new(
            "grants",
            "An application needs at least one API it may call.",
        )
        .into());
    }
    Ok(granted)
}

/// The APIs and scopes one application may receive tokens for.
pub fn grants_for(conn: &mut DbConn, application_id: &str) -> Result<Vec<ApiGrant>> {
    Ok(grants_of(conn, [application_id])?
        .remove(application_id)
        .unwrap_or_default())
}

/// Whether any application has this client_id.
pub fn client_id_exists(conn: &mut DbConn, client_id: &str) -> Result<bool> {
    let count: i64 = applications::table
        .filter(applications::client_id.eq(client_id))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

fn requested_apis(conn: &mut DbConn, codes: &[String]) -> Result<Vec<Api>> {
    let mut granted: Vec<Api> = Vec::new();
    for code in codes {
        let api = apis::find_by_code(conn, code)?;
        if !granted.iter().any(|known| known.id == api.id) {
            granted.push(api);
        }
    }
    if granted.is_empty() {
        return Err(ValidationError::new(
            "apis",
            "Name at least one API the application may call.",
        )
        .into());
    }
    Ok(granted)
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

fn grant_apis(conn: &mut DbConn, application_id: &str, granted: &[Api]) -> Result<Vec<ApiGrant>> {
    for api in granted {
        diesel::insert_into(application_apis::table)
            .values((
                application_apis::application_id.eq(application_id),
                application_apis::api_id.eq(&api.id),
            ))
            .execute(conn)?;
        for scope in &api.scopes {
            diesel::insert_into(application_scopes::table)
                .values((
                    application_scopes::application_id.eq(application_id),
                    application_scopes::api_id.eq(&api.id),
                    application_scopes::scope.eq(scope),
                ))
                .execute(conn)?;
        }
    }
    Ok(granted
        .iter()
        .map(|api| ApiGrant {
            api_code: api.code.clone(),
            audience: api.audience.clone(),
            scopes: api.scopes.clone(),
        })
        .collect())
}

/// The APIs and scopes granted to each of the given applications, keyed by application id.
fn grants_of<'a>(
    conn: &mut DbConn,
    application_ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Vec<ApiGrant>>> {
    let ids: Vec<&str> = application_ids.into_iter().collect();
    let granted: Vec<(String, String, String, String)> = application_apis::table
        .inner_join(schema::apis::table)
        .filter(application_apis::application_id.eq_any(&ids))
        .order(schema::apis::code)
        .select((
            application_apis::application_id,
            schema::apis::id,
            schema::apis::code,
            schema::apis::audience,
        ))
        .load(conn)?;
    let scopes: Vec<(String, String, String)> = application_scopes::table
        .filter(application_scopes::application_id.eq_any(&ids))
        .order(application_scopes::scope)
        .select((
            application_scopes::application_id,
            application_scopes::api_id,
            application_scopes::scope,
        ))
        .load(conn)?;
    let mut grants: HashMap<String, Vec<ApiGrant>> = HashMap::new();
    for (application_id, api_id, api_code, audience) in granted {
        let scopes = scopes
            .iter()
            .filter(|(app, api, _)| *app == application_id && *api == api_id)
            .map(|(_, _, scope)| scope.clone())
            .collect();
        grants.entry(application_id).or_default().push(ApiGrant {
            api_code,
            audience,
            scopes,
        });
    }
    Ok(grants)
}
