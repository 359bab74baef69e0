//! What the OAuth endpoints share: the service's state, and the steps every endpoint starts
//! with (transport check, form, client credentials, client authentication).

use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use std::net::IpAddr;

use super::assertion::unverified_names;
use super::authentication::AuthFailure;
use super::client_auth::{AuthenticatedClient, ClientAuthenticator, Outcome};
use super::device::{DeviceCredentials, ProvenDevice};
use super::error::OAuthError;
use super::mtls;
use super::request::{self, Params, Presented};
use super::settings::TokenSettings;
use super::usage::LastUsed;
use crate::access::Actor;
use crate::audit::{AuditEvent, AuditSink};
use crate::client_keys::public_key::certificate_sha256;
use crate::db::Database;
use crate::devices::StoredDeviceSecret;
use crate::forwarded::ClientOrigin;
use crate::keys::Keys;
use crate::public_url::PublicUrls;
use clavis_shared::validate;

/// What the OAuth endpoints share.
pub struct OAuthService {
    /// The `iss` of every token.
    pub issuer: String,
    /// Where clients reach the endpoints.
    pub urls: PublicUrls,
    /// Where clients reach them with mutual TLS, if another host (`CLAVIS_MTLS_PUBLIC_URL`).
    pub mtls_urls: Option<PublicUrls>,
    /// Token lifetimes and the limits of the client authentication throttle.
    pub settings: TokenSettings,
    /// Refuse client credentials that crossed a network over plain HTTP: set when Clavis
    /// serves HTTPS itself or sits behind trusted proxies, so HTTPS is what clients have.
    pub https_only: bool,
    /// The trusted proxies send the client's certificate in `Client-Cert`
    /// (`CLAVIS_PROXY_CLIENT_CERT`; see [`super::mtls`]).
    pub proxy_client_cert: bool,
    /// Whether client certificates can reach Clavis (mutual TLS, RFC 8705 §2): through its
    /// own TLS handshakes, or from proxies that send `Client-Cert`.
    pub sees_client_certificates: bool,
    pub keys: web::Data<Keys>,
    pub authenticator: ClientAuthenticator,
    pub usage: LastUsed,
    pub audit: AuditSink,
}

/// What a client sent: where from, the form, and the credential it presented.
pub struct ClientRequest {
    pub origin: ClientOrigin,
    pub params: Params,
    pub presented: Presented,
    /// The SHA-256 thumbprint of the client certificate of mutual TLS, if one came, to bind
    /// tokens to (RFC 8705 §3) whatever the client authenticated with.
    pub certificate_sha256: Option<String>,
}

/// The common start of every OAuth endpoint: refuse credentials sent over plain HTTP from
/// another machine, read the form, find the client's credentials. Throttling comes later,
/// in [`ClientAuthenticator::authenticate`], once a proven secret can be told apart.
pub async fn read_client_request(
    req: &HttpRequest,
    payload: web::Payload,
    service: &OAuthService,
) -> Result<ClientRequest, OAuthError> {
    let origin = ClientOrigin::of(req);
    if service.https_only && !origin.is_private_channel() {
        return Err(OAuthError::insecure_transport());
    }
    let certificate = mtls::presented_certificate(req, service.proxy_client_cert)?;
    let certificate_sha256 = certificate
        .as_ref()
        .map(|certificate| certificate_sha256(&certificate.der));
    let params = request::read_form(req, payload).await?;
    let presented = request::presented(req, &params, certificate)?;
    Ok(ClientRequest {
        origin,
        params,
        presented,
        certificate_sha256,
    })
}

/// A request about a token (introspection, revocation): the client authenticated, and the
/// `token` parameter it asks about.
pub struct TokenQuery {
    pub source: String,
    pub client: AuthenticatedClient,
    pub token: zeroize::Zeroizing<String>,
}

pub async fn token_query(
    req: &HttpRequest,
    payload: web::Payload,
    service: &OAuthService,
    db: &Database,
    endpoint: &'static str,
    now: DateTime<Utc>,
) -> Result<TokenQuery, OAuthError> {
    let ClientRequest {
        origin,
        params,
        presented,
        ..
    } = read_client_request(req, payload, service).await?;
    let client = authenticate(service, db, &presented, origin.address, endpoint, now).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The token parameter is required."))?;
    Ok(TokenQuery {
        source: origin.address.to_string(),
        client,
        token: zeroize::Zeroizing::new(token.to_owned()),
    })
}

/// Authenticates the client by the credential it presented; a refusal is audited with its
/// real reason and method, and answered with the same `invalid_client` whatever the reason.
pub async fn authenticate(
    service: &OAuthService,
    db: &Database,
    presented: &Presented,
    source: IpAddr,
    endpoint: &'static str,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, OAuthError> {
    let authenticator = &service.authenticator;
    let outcome = match presented {
        Presented::Secret(credentials) => {
            authenticator
                .authenticate(db, credentials, source, now)
                .await?
        }
        Presented::Assertion(assertion) => {
            authenticator
                .authenticate_assertion(db, assertion, source, now)
                .await?
        }
        Presented::Certificate(credentials) => {
            authenticator
                .authenticate_certificate(db, credentials, source, now)
                .await?
        }
    };
    match outcome {
        Outcome::Authenticated(client) => Ok(*client),
        Outcome::Refused { refusal, error } => {
            let actor = Actor::Client {
                client_id: presented.client_id().to_owned(),
            };
            let mut details = serde_json::json!({
                "endpoint": endpoint, "reason": refusal.as_str(),
                "auth_method": presented.method().as_str(),
            });
            if let Presented::Assertion(assertion) = presented
                && let Some(issuer) = &assertion.federated_issuer
            {
                // Unverified, as the refusal says: what the token claimed to be, so that
                // whoever reads the trail can compare it with the credentials.
                details["issuer"] = issuer.as_str().into();
                let subject = unverified_names(&assertion.assertion).sub;
                details["subject"] = subject
                    .map(|sub| sub.chars().take(255).collect::<String>())
                    .into();
            }
            if let Presented::Certificate(credentials) = presented {
                // Public: which certificate came, to compare with what is registered.
                let der = &credentials.certificate.der;
                details["certificate_sha256"] = certificate_sha256(der).into();
                if let Some((subject, issuer)) = crate::tls::subject::subject_and_issuer(der) {
                    details["certificate_subject"] = subject.into();
                    details["certificate_issuer"] = issuer.into();
                }
            }
            let event = AuditEvent::failure("client.authenticate", &actor)
                .source_address(&source.to_string())
                .details(details);
            service.audit.record(event, now).await;
            Err(error)
        }
    }
}

/// The device a token request proves for an application that requires one (issue 19,
/// part 3). A refusal is audited as `client.authenticate` with the device's reason and id,
/// and answered with the same `invalid_client` as a client's.
///
/// The device proves itself with `X-Device-Authorization` (`presented`, read by
/// [`super::device::presented_device`], with `fetched`, its stored secret if
/// [`super::client_auth::ClientAuthenticator::fetch_device_secret`] found one), or without it
/// by the client certificate of the connection (`certificate_sha256`) when that is a device's
/// and not what the client authenticated with.
///
/// # Errors
/// `400 invalid_request` for a malformed `X-Device-Authorization`; `401 invalid_client` for a
/// device missing, unknown, disabled, of another organisation, or with a wrong or expired
/// secret or certificate; `429` when the device's or the source's guesses are used up.
#[allow(clippy::too_many_arguments)] // each is one fact of the request; a struct would only rename them
pub async fn prove_device(
    service: &OAuthService,
    db: &Database,
    client: &AuthenticatedClient,
    presented: Option<DeviceCredentials>,
    fetched: Option<StoredDeviceSecret>,
    certificate_sha256: Option<&str>,
    source: IpAddr,
    now: DateTime<Utc>,
) -> Result<ProvenDevice, OAuthError> {
    let organisation_id = &client.application.organisation_id;
    let authenticator = &service.authenticator;
    // A certificate the client authenticated with is the client's, not a device's.
    let device_certificate = certificate_sha256.filter(|_| client.certificate_sha256.is_none());
    let outcome = match (&presented, device_certificate) {
        (Some(device), _) => {
            authenticator
                .authenticate_device(db, device, fetched, organisation_id, source, now)
                .await?
        }
        (None, Some(thumbprint)) => {
            authenticator
                .authenticate_device_certificate(db, thumbprint, organisation_id, now)
                .await?
        }
        (None, None) => Err(AuthFailure::DeviceRequired),
    };
    let refusal = match outcome {
        Ok(proven) => return Ok(proven),
        Err(refusal) => refusal,
    };
    let actor = Actor::Client {
        client_id: client.application.client_id.clone(),
    };
    // Unverified when refused, and cut short: what the client sent, to compare with the
    // organisation's devices.
    let device_id = presented.as_ref().map(|device| {
        if validate::has_control_character(&device.device_id) {
            "(not shown: it holds control characters)".to_owned()
        } else {
            device.device_id.chars().take(100).collect::<String>()
        }
    });
    let event = AuditEvent::failure("client.authenticate", &actor)
        .organisation(&client.application.organisation_id)
        .application(&client.application.id)
        .source_address(&source.to_string())
        .details(serde_json::json!({
            "endpoint": "token", "reason": refusal.as_str(), "device_id": device_id,
            "certificate_sha256": device_certificate.filter(|_| presented.is_none()),
        }));
    service.audit.record(event, now).await;
    // The client has proven itself: telling it what is missing gives nothing away.
    let mut refused = OAuthError::invalid_client(false);
    refused.description = "This application requires a device, and none was proven: send \
        X-Device-Authorization with the id and a current secret of an enabled device of its \
        organisation, or present that device's certificate over mutual TLS."
        .to_owned();
    Err(refused)
}
