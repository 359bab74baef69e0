//! Which APIs and scopes an application may receive tokens for: checking what an admin asks
//! for against each API's scopes, storing it, and reading it back for many applications at once.

use clavis_shared::dto::{Api, ApiGrant};
use clavis_shared::portal::GrantRequest;
use clavis_shared::validate::ValidationError;
use diesel::prelude::*;
use std::collections::HashMap;

use crate::apis;
use crate::db::DbConn;
use crate::db::schema::{self, application_apis, application_scopes};
use crate::error::Result;

/// Checks requested grants against each API's scopes; the APIs with only those scopes.
pub fn granted_scopes(conn: &mut DbConn, grants: &[GrantRequest]) -> Result<Vec<Api>> {
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

/// The APIs named by `codes` (repeats dropped), each with every scope it defines: what a new
/// application is granted.
pub fn requested_apis(conn: &mut DbConn, codes: &[String]) -> Result<Vec<Api>> {
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

/// Stores `granted` (each API with the scopes it keeps) for the application; what it now holds.
pub fn grant_apis(
    conn: &mut DbConn,
    application_id: &str,
    granted: &[Api],
) -> Result<Vec<ApiGrant>> {
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
pub fn grants_of<'a>(
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
