//! `POST /oauth2/token`: the client credentials grant (RFC 6749 §4.4), issuing JWT access
//! tokens (RFC 9068) for one API (RFC 8707 `resource`, or `audience`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::request::Params;
use super::{OAuthError, OAuthService, authenticate, begin};
use crate::audit::{Actor, AuditEvent};
use crate::db::Database;
use crate::secrets::TokenGrant;

/// The claims of a Clavis access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The client itself: this is a machine-to-machine token.
    pub sub: String,
    pub client_id: String,
    /// The API's audience identifier.
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The organisation that owns the application.
    pub org_id: String,
    /// production or sandbox.
    pub environment: String,
}

/// A token request, one variant per supported grant.
enum TokenRequest {
    ClientCredentials {
        scope: Option<String>,
        /// The API asked for, by `resource` (its audience URI) or `audience` (URI or code).
        target: Option<String>,
    },
}

impl TokenRequest {
    fn parse(params: &Params) -> Result<Self, OAuthError> {
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request(
                "The grant_type parameter is required.",
            )),
            Some("client_credentials") => Ok(Self::ClientCredentials {
                scope: params.get("scope").map(str::to_owned),
                target: target(params)?,
            }),
            Some(other) => Err(OAuthError::unsupported_grant_type(other)),
        }
    }
}

fn target(params: &Params) -> Result<Option<String>, OAuthError> {
    match (params.get("resource"), params.get("audience")) {
        (Some(resource), Some(audience)) if resource != audience => {
            Err(OAuthError::invalid_request(
                "The resource and audience parameters name different APIs; send one of them.",
            ))
        }
        (Some(resource), _) => Ok(Some(resource.to_owned())),
        (None, audience) => Ok(audience.map(str::to_owned)),
    }
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse, OAuthError> {
    let now = Utc::now();
    let (source, params, credentials) = begin(&req, payload, &service).await?;
    let TokenRequest::ClientCredentials { scope, target } = TokenRequest::parse(&params)?;
    let client = authenticate(&service, &db, &credentials, &source, "token", now).await?;
    let actor = Actor::Client {
        client_id: client.application.client_id.clone(),
    };
    let chosen = choose_api(&client.grants, target.as_deref())
        .and_then(|api| Ok((api, choose_scopes(api, scope.as_deref())?)));
    let (api, scopes) = match chosen {
        Ok(chosen) => chosen,
        Err(error) => {
            let event = about_client(AuditEvent::failure("token.issue", &actor), &source, &client)
                .details(
                    serde_json::json!({ "reason": error.code, "description": error.description }),
                );
            service.audit.record(event, now).await;
            return Err(error);
        }
    };
    let lifetime = i64::from(
        client
            .application
            .token_lifetime_secs
            .min(service.max_token_lifetime_secs),
    );
    let claims = AccessTokenClaims {
        iss: service.issuer.clone(),
        sub: client.application.client_id.clone(),
        client_id: client.application.client_id.clone(),
        aud: api.audience.clone(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: now.timestamp() + lifetime,
        jti: new_jti()?,
        scope: scopes.join(" "),
        org_id: client.application.organisation_id.clone(),
        environment: client.application.environment.clone(),
    };
    let algorithm = service.keys.algorithm_for(api.signing_alg);
    let access_token = service
        .keys
        .ring()
        .sign(&claims, algorithm, now)
        .map_err(|error| {
            // Only before key maintenance has caught up with a change made on another instance.
            tracing::error!(%error, api = %api.api_code, "cannot sign an access token");
            let mut unavailable = OAuthError::unavailable(5);
            unavailable.description =
                format!("No {algorithm} signing key is ready yet for this API; retry shortly.");
            unavailable
        })?;
    service.usage.record(&client.secret_id, now);
    record_issue(&service, &actor, &source, &client, &claims, now).await;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime,
            scope: &claims.scope,
        }))
}

async fn record_issue(
    service: &OAuthService,
    actor: &Actor,
    source: &str,
    client: &super::AuthenticatedClient,
    claims: &AccessTokenClaims,
    now: DateTime<Utc>,
) {
    let event = about_client(AuditEvent::success("token.issue", actor), source, client).details(serde_json::json!({
            "jti": claims.jti, "audience": claims.aud, "scope": claims.scope, "expires_at": claims.exp,
        }));
    service.audit.record(event, now).await;
}

/// Ties an audit event to the request's address and the client's organisation,
/// application and secret.
fn about_client(
    event: AuditEvent,
    source: &str,
    client: &super::AuthenticatedClient,
) -> AuditEvent {
    event
        .source_address(source)
        .organisation(&client.application.organisation_id)
        .application(&client.application.id)
        .secret(&client.secret_id)
}

/// A random (v4) UUID for the token's `jti`, from aws-lc's user-space DRBG rather than a
/// system call per token.
fn new_jti() -> Result<String, OAuthError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OAuthError::unavailable(1))?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string())
}

/// The API the token is for: the one named, or the only one the client may call.
fn choose_api<'a>(
    grants: &'a [TokenGrant],
    target: Option<&str>,
) -> Result<&'a TokenGrant, OAuthError> {
    match target {
        Some(target) => grants
            .iter()
            .find(|grant| grant.audience == target || grant.api_code.eq_ignore_ascii_case(target))
            .ok_or_else(|| {
                OAuthError::invalid_target(format!(
                    "This client may not obtain tokens for \"{target}\"."
                ))
            }),
        None => match grants {
            [only] => Ok(only),
            [] => Err(OAuthError::unauthorized_client(
                "This client is not allowed to call any API.",
            )),
            _ => Err(OAuthError::invalid_request(
                "This client may call several APIs: name one with the resource parameter (its audience URI).",
            )),
        },
    }
}

/// The scopes requested (each must be granted), or every granted scope when none were.
fn choose_scopes(api: &TokenGrant, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(api.scopes.clone());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !api.scopes.iter().any(|granted| granted == scope) {
            return Err(OAuthError::invalid_scope(format!(
                "The scope \"{scope}\" is not granted to this client for {}.",
                api.audience
            )));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(code: &str, scopes: &[&str]) -> TokenGrant {
        TokenGrant {
            api_code: code.into(),
            audience: format!("https://api.example.org/{}", code.to_lowercase()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            signing_alg: None,
        }
    }

    #[test]
    fn single_api_is_the_default_and_targets_pick_one() {
        let one = [grant("SMC", &["read"])];
        assert_eq!(choose_api(&one, None).unwrap().api_code, "SMC");
        let two = [grant("SMC", &["read"]), grant("DM", &[])];
        assert_eq!(
            choose_api(&two, None).unwrap_err().code,
            super::super::ErrorCode::InvalidRequest
        );
        assert_eq!(
            choose_api(&two, Some("https://api.example.org/dm"))
                .unwrap()
                .api_code,
            "DM"
        );
        assert_eq!(choose_api(&two, Some("dm")).unwrap().api_code, "DM");
        assert_eq!(
            choose_api(&two, Some("https://elsewhere"))
                .unwrap_err()
                .code,
            super::super::ErrorCode::InvalidTarget
        );
        assert_eq!(
            choose_api(&[], None).unwrap_err().code,
            super::super::ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn token_ids_are_random_v4_uuids() {
        let (a, b) = (new_jti().unwrap(), new_jti().unwrap());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    #[test]
    fn scopes_must_be_granted() {
        let api = grant("SMC", &["read", "write"]);
        assert_eq!(choose_scopes(&api, None).unwrap(), vec!["read", "write"]);
        assert_eq!(
            choose_scopes(&api, Some("write write")).unwrap(),
            vec!["write"]
        );
        assert_eq!(
            choose_scopes(&api, Some("read admin")).unwrap_err().code,
            super::super::ErrorCode::InvalidScope
        );
    }
}
