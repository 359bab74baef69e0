//! Which APIs and scopes an application may receive tokens for: checking what an admin asks
//! for against each API's scopes, storing it, and reading it back for many applications at once.

use clavis_shared::dto::{Api, ApiGrant, SigningAlgorithm};
use clavis_shared::portal::GrantRequest;
use clavis_shared::validate::ValidationError;
use diesel::prelude::*;
use std::collections::HashMap;

use crate::apis;
use crate::db::DbConn;
use crate::db::schema::{self, application_apis, application_scopes};
use crate::error::{Error, Result};

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

/// An API an application may receive tokens for, with the scopes granted: what the token
/// endpoint issues from, and (without the algorithm) what the portal shows as [`ApiGrant`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub api_code: String,
    pub audience: String,
    /// The scopes granted, in name order.
    pub scopes: Vec<String>,
    /// The API's own algorithm; `None` follows the configured default
    /// ([`crate::keys::Keys::algorithm_for`]).
    pub signing_alg: Option<SigningAlgorithm>,
}

impl From<TokenGrant> for ApiGrant {
    fn from(grant: TokenGrant) -> Self {
        ApiGrant {
            api_code: grant.api_code,
            audience: grant.audience,
            scopes: grant.scopes,
        }
    }
}

/// One granted scope (or an API granted without scopes): application id, API code, audience,
/// signing algorithm, scope.
type GrantRow = (String, String, String, Option<String>, Option<String>);

/// The APIs (in code order) and scopes granted to each of the given applications, keyed by
/// application id; an application with no grant is absent. One indexed query (a row per
/// granted scope) for any number of applications: the portal's listings and the token
/// endpoint's batched credential reads both use it, so the two cannot disagree.
///
/// # Errors
/// [`Error::Database`] when the database fails, [`Error::Internal`] for a signing algorithm
/// the column's CHECK should have kept out.
pub fn grants_of<'a>(
    conn: &mut DbConn,
    application_ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Vec<TokenGrant>>> {
    let ids: Vec<&str> = application_ids.into_iter().collect();
    let rows: Vec<GrantRow> = application_apis::table
        .inner_join(schema::apis::table)
        .left_join(
            application_scopes::table.on(application_scopes::application_id
                .eq(application_apis::application_id)
                .and(application_scopes::api_id.eq(application_apis::api_id))),
        )
        .filter(application_apis::application_id.eq_any(&ids))
        .order((
            application_apis::application_id,
            schema::apis::code,
            application_scopes::scope,
        ))
        .select((
            application_apis::application_id,
            schema::apis::code,
            schema::apis::audience,
            schema::apis::signing_alg,
            application_scopes::scope.nullable(),
        ))
        .load(conn)?;
    let mut grants: HashMap<String, Vec<TokenGrant>> = HashMap::new();
    for (application_id, api_code, audience, signing_alg, scope) in rows {
        let own = grants.entry(application_id).or_default();
        if own.last().is_none_or(|last| last.api_code != api_code) {
            // The column's CHECK admits only the algorithms Clavis knows.
            let signing_alg = signing_alg
                .map(|alg| alg.parse())
                .transpose()
                .map_err(Error::Internal)?;
            own.push(TokenGrant {
                api_code,
                audience,
                scopes: Vec::new(),
                signing_alg,
            });
        }
        if let (Some(grant), Some(scope)) = (own.last_mut(), scope) {
            grant.scopes.push(scope);
        }
    }
    Ok(grants)
}
