//! `POST /oauth2/token`: the client credentials grant (RFC 6749 §4.4), issuing JWT access
//! tokens (RFC 9068) for one API (RFC 8707 `resource`, or `audience`).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use clavis_shared::validate;
use serde::Serialize;
use std::time::Instant;

use super::access_token::{AccessTokenClaims, Confirmation, revoked_by_kill_switch};
use super::authentication::Credential;
use super::client_auth::AuthenticatedClient;
use super::device;
use super::error::{OAuthError, quoted};
use super::request::Params;
use super::service::{
    ClientRequest, OAuthService, authenticate, prove_device, read_client_request,
};
use crate::access::Actor;
use crate::apps::TokenGrant;
use crate::audit::AuditEvent;
use crate::db::Database;
use crate::telemetry;

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
                scope: scope(params)?,
                target: target(params)?,
            }),
            Some(other) => Err(OAuthError::unsupported_grant_type(other)),
        }
    }
}

/// The `scope` parameter, if it has the syntax of RFC 6749 §3.3: scope names as Clavis
/// accepts them for APIs (printable ASCII other than `"` and `\`), separated by spaces.
/// Anything else, a control character above all, cannot name a granted scope, and is not
/// repeated back in the answer.
fn scope(params: &Params) -> Result<Option<String>, OAuthError> {
    let Some(scope) = params.get("scope") else {
        return Ok(None);
    };
    let malformed = scope
        .split(' ')
        .any(|name| !name.is_empty() && validate::scope(name).is_err());
    if malformed {
        return Err(OAuthError::invalid_scope(
            "The scope parameter may hold only scope names of printable ASCII characters, \
             without quotation marks or backslashes, separated by spaces (RFC 6749 section 3.3).",
        ));
    }
    Ok(Some(scope.to_owned()))
}

/// The API asked for. An identifier with a control character names no API (an audience is
/// a URI, a code is letters and digits), so it is refused without being repeated back.
fn target(params: &Params) -> Result<Option<String>, OAuthError> {
    for name in ["resource", "audience"] {
        if params
            .get(name)
            .is_some_and(validate::has_control_character)
        {
            return Err(OAuthError::invalid_target(format!(
                "The {name} parameter holds a control character; no API's identifier does."
            )));
        }
    }
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

/// The successful token response (RFC 6749 §5.1).
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: String,
    /// Always `Bearer` (RFC 6750).
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: i64,
    /// The granted scopes, space-separated; absent when none were granted.
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
}

/// What the token metrics are labelled with, learnt as the request is read: `none` until
/// the request got that far.
struct Observed {
    auth_method: &'static str,
    grant_type: &'static str,
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<OAuthService>,
    db: web::Data<Database>,
) -> Result<HttpResponse, OAuthError> {
    let started = Instant::now();
    let mut observed = Observed {
        auth_method: "none",
        grant_type: "none",
    };
    let answer = issue(&req, payload, &service, &db, &mut observed).await;
    let outcome = match &answer {
        Ok(_) => "issued",
        Err(error) => error.code.as_str(),
    };
    metrics::counter!(
        telemetry::TOKEN_REQUESTS,
        "outcome" => outcome,
        "auth_method" => observed.auth_method,
        "grant_type" => observed.grant_type
    )
    .increment(1);
    metrics::histogram!(telemetry::TOKEN_REQUEST_DURATION, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    answer
}

async fn issue(
    req: &HttpRequest,
    payload: web::Payload,
    service: &OAuthService,
    db: &Database,
    observed: &mut Observed,
) -> Result<HttpResponse, OAuthError> {
    let now = Utc::now();
    let ClientRequest {
        origin,
        params,
        presented,
        certificate_sha256,
    } = read_client_request(req, payload, service).await?;
    observed.auth_method = presented.method().as_str();
    observed.grant_type = match params.get("grant_type") {
        Some("client_credentials") => "client_credentials",
        Some(_) => "unsupported",
        None => "none",
    };
    let TokenRequest::ClientCredentials { scope, target } = TokenRequest::parse(&params)?;
    // A device header is read beside the client's credentials, not after them: waiting for a
    // second batch of reads would cost every device-bound token a round trip (issue 19's
    // speed target (i)). Whether it matters, and a malformed header's 400, is decided only
    // once the client is known to require a device.
    let device_header = device::presented_device(req);
    let device_read = async {
        match &device_header {
            Ok(Some(presented)) => service.authenticator.fetch_device_secret(presented).await,
            _ => Ok(None),
        }
    };
    let (client, fetched) = futures_util::future::join(
        authenticate(service, db, &presented, origin.address, "token", now),
        device_read,
    )
    .await;
    let client = client?;
    let device = match client.application.requires_device {
        true => Some(
            prove_device(
                service,
                db,
                &client,
                device_header?,
                fetched?,
                certificate_sha256.as_deref(),
                origin.address,
                now,
            )
            .await?,
        ),
        false => None,
    };
    let device_certificate = device
        .as_ref()
        .and_then(|device| device.certificate_sha256.clone());
    let source = origin.address.to_string();
    let now = after_kill_switch(client.application.tokens_revoked_before, now).await;
    let actor = Actor::Client {
        client_id: client.application.client_id.clone(),
    };
    let chosen = confirmation(&client, device_certificate, certificate_sha256).and_then(|cnf| {
        let api = choose_api(&client.grants, target.as_deref())?;
        Ok((api, choose_scopes(api, scope.as_deref())?, cnf))
    });
    let (api, scopes, cnf) = match chosen {
        Ok(chosen) => chosen,
        Err(error) => {
            let event = about_client(AuditEvent::failure("token.issue", &actor), &source, &client)
                .details(serde_json::json!({
                    "reason": error.code, "description": error.description,
                    "credential": client.credential.described(),
                }));
            service.audit.record(event, now).await;
            return Err(error);
        }
    };
    let lifetime = lifetime_of(&client, service.settings.max_lifetime_secs, now);
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
        client_secret_id: client.credential.secret_id().map(str::to_owned),
        client_key_id: match &client.credential {
            Credential::Key { id, .. } => Some(id.clone()),
            _ => None,
        },
        client_jwks_uri: match &client.credential {
            Credential::JwksUri { url, .. } => Some(url.clone()),
            _ => None,
        },
        client_federated_credential_id: match &client.credential {
            Credential::Federated { id, .. } => Some(id.clone()),
            _ => None,
        },
        cnf,
        device_id: device.as_ref().map(|device| device.device_id.clone()),
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
    service.usage.record(&client.credential, now);
    if let Some(device) = &device {
        service.usage.record(&device.credential, now);
    }
    record_issue(service, &actor, &source, &client, &claims, now).await;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: &claims.scope,
    }))
}

/// What binds the token (RFC 8705 §3): the certificate the client authenticated with; else
/// the certificate a device proved itself with (issue 19); else, for an application that
/// requires bound tokens, the certificate presented over mutual TLS beside another
/// credential; else nothing.
///
/// # Errors
/// `400 invalid_request` when the application requires bound tokens and no certificate came.
fn confirmation(
    client: &AuthenticatedClient,
    device_sha256: Option<String>,
    presented_sha256: Option<String>,
) -> Result<Option<Confirmation>, OAuthError> {
    let required = client.application.require_bound_tokens;
    let bound_to = match (&client.certificate_sha256, device_sha256, presented_sha256) {
        (Some(authenticated), _, _) => Some(authenticated.clone()),
        (None, Some(device), _) => Some(device),
        (None, None, Some(presented)) if required => Some(presented),
        (None, None, _) if required => {
            return Err(OAuthError::invalid_request(
                "This application requires certificate-bound tokens (RFC 8705 section 3): \
                 send the token request over mutual TLS, presenting the client certificate \
                 the token is to be bound to.",
            ));
        }
        (None, None, _) => None,
    };
    Ok(bound_to.map(|x5t_s256| Confirmation { x5t_s256 }))
}

/// The token's lifetime in seconds: the application's, within the server's maximum, and
/// never past the credential's own end (a federated token's `exp`), which the
/// authenticator checked lies ahead.
fn lifetime_of(client: &AuthenticatedClient, max_lifetime_secs: i32, now: DateTime<Utc>) -> i64 {
    let configured = i64::from(
        client
            .application
            .token_lifetime_secs
            .min(max_lifetime_secs),
    );
    client.valid_until.map_or(configured, |until| {
        configured.min((until - now).num_seconds().max(1))
    })
}

async fn record_issue(
    service: &OAuthService,
    actor: &Actor,
    source: &str,
    client: &AuthenticatedClient,
    claims: &AccessTokenClaims,
    now: DateTime<Utc>,
) {
    let event = about_client(AuditEvent::success("token.issue", actor), source, client).details(serde_json::json!({
            "jti": claims.jti, "audience": claims.aud, "scope": claims.scope, "expires_at": claims.exp,
            "credential": client.credential.described(), "cnf": claims.cnf,
            "device_id": claims.device_id,
        }));
    service.audit.record(event, now).await;
}

/// The moment to issue a token at: `now`, unless the application's kill switch was used in
/// or after `now`'s second. Then the start of the second after the switch's, waited for (at
/// most a second; clocks of several instances must agree), so that a token requested after
/// the switch is not born revoked.
async fn after_kill_switch(
    tokens_revoked_before: Option<NaiveDateTime>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let Some(moment) = tokens_revoked_before else {
        return now;
    };
    if !revoked_by_kill_switch(now.timestamp(), Some(moment)) {
        return now;
    }
    let allowed_from = moment.and_utc().timestamp() + 1;
    let wait = DateTime::from_timestamp(allowed_from, 0)
        .and_then(|from| (from - Utc::now()).to_std().ok())
        .unwrap_or_default()
        .min(std::time::Duration::from_secs(1));
    actix_web::rt::time::sleep(wait).await;
    Utc::now()
}

/// Ties an audit event to the request's address and the client's organisation,
/// application and secret (every event names the credential in its details).
fn about_client(event: AuditEvent, source: &str, client: &AuthenticatedClient) -> AuditEvent {
    let event = event
        .source_address(source)
        .organisation(&client.application.organisation_id)
        .application(&client.application.id);
    match client.credential.secret_id() {
        Some(secret_id) => event.secret(secret_id),
        None => event,
    }
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
                    "This client may not obtain tokens for {}.",
                    quoted(target)
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
    // `*` asks for every scope granted, as SanteDB clients do; unless an API defines a scope
    // named `*`, which then means itself.
    let everything =
        |requested: &str| requested.trim() == "*" && !api.scopes.iter().any(|scope| scope == "*");
    let Some(requested) = requested.filter(|requested| !everything(requested)) else {
        return Ok(api.scopes.clone());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !api.scopes.iter().any(|granted| granted == scope) {
            return Err(OAuthError::invalid_scope(format!(
                "The scope {} is not granted to this client for {}.",
                quoted(scope),
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
            super::super::error::ErrorCode::InvalidRequest
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
            super::super::error::ErrorCode::InvalidTarget
        );
        assert_eq!(
            choose_api(&[], None).unwrap_err().code,
            super::super::error::ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn token_ids_are_random_v4_uuids() {
        let (a, b) = (new_jti().unwrap(), new_jti().unwrap());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    fn params(body: &str) -> Params {
        form_urlencoded::parse(body.as_bytes())
            .map(|(name, value)| {
                (
                    name.into_owned(),
                    zeroize::Zeroizing::new(value.into_owned()),
                )
            })
            .collect::<std::collections::HashMap<_, _>>()
            .into()
    }

    #[test]
    fn scopes_and_targets_with_control_characters_are_refused_unrepeated() {
        for scope in ["read%00", "read%09write", "read%7F", "caf%C3%A9"] {
            let refused = TokenRequest::parse(&params(&format!(
                "grant_type=client_credentials&scope={scope}"
            )))
            .err()
            .unwrap();
            assert_eq!(refused.code, super::super::error::ErrorCode::InvalidScope);
            assert!(
                !refused.description.contains("read"),
                "{}",
                refused.description
            );
        }
        for target in ["resource=https://a%00b", "audience=S%01MC"] {
            let refused =
                TokenRequest::parse(&params(&format!("grant_type=client_credentials&{target}")))
                    .err()
                    .unwrap();
            assert_eq!(refused.code, super::super::error::ErrorCode::InvalidTarget);
            assert!(!refused.description.contains('\0'));
        }
        assert!(
            TokenRequest::parse(&params(
                "grant_type=client_credentials&scope=manifest.read%20manifest.write"
            ))
            .is_ok()
        );
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
            super::super::error::ErrorCode::InvalidScope
        );
    }
}
