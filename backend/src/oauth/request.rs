//! Reading an OAuth request: a form-encoded POST body (never the query string), each
//! parameter at most once, and the client's credentials by exactly one method.
//!
//! A client_id with a control character (U+0000 to U+001F, U+007F to U+009F) is refused here,
//! as `invalid_client`, before anything looks it up: Clavis never issues such an id, and
//! PostgreSQL cannot even compare text holding U+0000, so the answer must not depend on the
//! database, and such a request must not take a connection.

use actix_web::HttpRequest;
use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use secrecy::SecretString;
use std::collections::HashMap;
use std::fmt;
use zeroize::Zeroizing;

use super::assertion::{JWT_BEARER, unverified_names};
use super::error::{OAuthError, quoted};
use super::mtls::ClientCertificate;
use clavis_shared::validate;

/// Larger bodies are refused: a token request is a few hundred bytes.
const MAX_BODY_BYTES: usize = 8 * 1024;
/// Longest client_id accepted; anything longer cannot be one of ours.
const MAX_CLIENT_ID_CHARS: usize = 255;

/// The request's form parameters. Empty values count as absent (RFC 6749 §3.1).
pub struct Params(HashMap<String, Zeroizing<String>>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|value| value.as_str())
    }
}

impl fmt::Debug for Params {
    /// Names only: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Reads and checks the form body.
pub async fn read_form(req: &HttpRequest, mut payload: web::Payload) -> Result<Params, OAuthError> {
    if !req.query_string().is_empty() {
        return Err(OAuthError::invalid_request(
            "Send the parameters in the request body (application/x-www-form-urlencoded), never in the URL.",
        ));
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if !content_type
        .is_some_and(|mime| mime.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    {
        return Err(OAuthError::invalid_request(
            "The request body must be application/x-www-form-urlencoded.",
        ));
    }
    let mut body = Zeroizing::new(Vec::new());
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| OAuthError::invalid_request("The request body could not be read."))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(OAuthError::invalid_request(format!(
                "The request body is larger than {MAX_BODY_BYTES} bytes."
            )));
        }
        body.extend_from_slice(&chunk);
    }
    parse_form(&body)
}

fn parse_form(body: &[u8]) -> Result<Params, OAuthError> {
    if std::str::from_utf8(body).is_err() {
        return Err(OAuthError::invalid_request(
            "The request body is not valid UTF-8.",
        ));
    }
    let mut params = HashMap::new();
    let mut seen = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if seen.contains(&name) {
            return Err(OAuthError::invalid_request(format!(
                "The parameter {} is repeated.",
                quoted(&name)
            )));
        }
        seen.push(name.clone());
        if !value.is_empty() {
            params.insert(name.into_owned(), Zeroizing::new(value.into_owned()));
        }
    }
    Ok(params.into())
}

impl From<HashMap<String, Zeroizing<String>>> for Params {
    fn from(map: HashMap<String, Zeroizing<String>>) -> Self {
        Self(map)
    }
}

/// How the client authenticated (RFC 6749 §2.3.1, RFC 7523 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// A token from a trusted issuer, under a federated credential. Sent as a jwt-bearer
    /// client assertion like `private_key_jwt`, so not a method clients register; named
    /// here (as Keycloak names its `federated-jwt` authenticator) so that the audit trail and
    /// the metrics tell the two apart.
    FederatedJwt,
    /// A client certificate over mutual TLS (RFC 8705 §2): registered to the client
    /// (`self_signed_tls_client_auth`) or issued by a configured CA (`tls_client_auth`),
    /// which only the certificate's check tells apart.
    MutualTls,
}

impl AuthMethod {
    /// The method's registered name (RFC 7591 §2, `token_endpoint_auth_method`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::FederatedJwt => "federated_jwt",
            Self::MutualTls => "mutual_tls",
        }
    }
}

/// A client assertion (RFC 7521 §4.2) and the client it names. `Debug` never shows the
/// assertion: until it expires, it is as good as a secret.
pub struct ClientAssertion {
    pub client_id: String,
    pub assertion: Zeroizing<String>,
    /// The `iss` of a federated assertion (unverified): an https URL, never a client_id.
    /// `None` for `private_key_jwt`, whose `iss` is the client itself.
    pub federated_issuer: Option<String>,
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("client_id", &self.client_id)
            .field("federated_issuer", &self.federated_issuer)
            .finish_non_exhaustive()
    }
}

/// A client_id and the certificate presented over mutual TLS to prove it (RFC 8705 §2).
#[derive(Debug)]
pub struct CertificateCredentials {
    pub client_id: String,
    pub certificate: ClientCertificate,
}

/// What a client presented to prove itself: a secret, an assertion, or a certificate.
#[derive(Debug)]
pub enum Presented {
    Secret(ClientCredentials),
    Assertion(ClientAssertion),
    Certificate(CertificateCredentials),
}

impl Presented {
    pub fn client_id(&self) -> &str {
        match self {
            Self::Secret(credentials) => &credentials.client_id,
            Self::Assertion(assertion) => &assertion.client_id,
            Self::Certificate(credentials) => &credentials.client_id,
        }
    }

    pub const fn method(&self) -> AuthMethod {
        match self {
            Self::Secret(credentials) => credentials.method,
            Self::Assertion(assertion) if assertion.federated_issuer.is_some() => {
                AuthMethod::FederatedJwt
            }
            Self::Assertion(_) => AuthMethod::PrivateKeyJwt,
            Self::Certificate(_) => AuthMethod::MutualTls,
        }
    }
}

/// The client's credentials by exactly one method: a `client_assertion`, HTTP Basic, a
/// `client_secret` in the body, or else the client `certificate` of mutual TLS, if one was
/// presented ([`super::mtls`]). A certificate presented beside a secret or an assertion
/// does not authenticate the client.
pub fn presented(
    req: &HttpRequest,
    params: &Params,
    certificate: Option<ClientCertificate>,
) -> Result<Presented, OAuthError> {
    let assertion_type = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    if assertion_type.is_none() && assertion.is_none() {
        let secret_sent =
            req.headers().contains_key("authorization") || params.get("client_secret").is_some();
        return match certificate {
            Some(certificate) if !secret_sent => {
                certificate_credentials(params, certificate).map(Presented::Certificate)
            }
            _ => client_credentials(req, params).map(Presented::Secret),
        };
    }
    if req.headers().contains_key("authorization") || params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "Use one client authentication method: a client_assertion, or a client secret, not both.",
        ));
    }
    if assertion_type != Some(JWT_BEARER) {
        return Err(OAuthError::invalid_request(format!(
            "The client_assertion_type must be {JWT_BEARER}, with the signed JWT in client_assertion."
        )));
    }
    let assertion = assertion.ok_or_else(|| {
        OAuthError::invalid_request(
            "The client_assertion parameter is required with client_assertion_type.",
        )
    })?;
    let named = unverified_names(assertion);
    let federated_issuer = named
        .iss
        .filter(|iss| iss.starts_with("https://") && Some(iss) != named.sub.as_ref());
    let client_id = match (params.get("client_id"), &federated_issuer) {
        (Some(client_id), _) => Some(client_id.to_owned()),
        (None, None) => named.sub,
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Send the client_id parameter with a federated assertion: its sub names the workload, not the application.",
            ));
        }
    }
    .filter(|client_id| is_plausible_client_id(client_id))
    .ok_or_else(|| OAuthError::invalid_client(false))?;
    Ok(Presented::Assertion(ClientAssertion {
        client_id,
        assertion: Zeroizing::new(assertion.to_owned()),
        federated_issuer,
    }))
}

/// Mutual TLS: the `client_id` parameter names the client (RFC 8705 §2).
fn certificate_credentials(
    params: &Params,
    certificate: ClientCertificate,
) -> Result<CertificateCredentials, OAuthError> {
    let client_id = params.get("client_id").ok_or_else(|| {
        OAuthError::invalid_request(
            "Send the client_id parameter with a client certificate: the certificate alone does not name the application (RFC 8705 section 2).",
        )
    })?;
    if !is_plausible_client_id(client_id) {
        return Err(OAuthError::invalid_client(false));
    }
    Ok(CertificateCredentials {
        client_id: client_id.to_owned(),
        certificate,
    })
}

/// A client_id Clavis could have issued: see the module's notes on control characters.
fn is_plausible_client_id(client_id: &str) -> bool {
    !client_id.is_empty()
        && client_id.chars().count() <= MAX_CLIENT_ID_CHARS
        && !validate::has_control_character(client_id)
}

/// A client_id and the secret presented with it. `Debug` never shows the secret.
#[derive(Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: SecretString,
    pub method: AuthMethod,
}

/// The credentials from the Authorization header or the body, refusing a request that
/// uses both or neither.
fn client_credentials(req: &HttpRequest, params: &Params) -> Result<ClientCredentials, OAuthError> {
    let header = req.headers().get("authorization");
    let body_secret = params.get("client_secret");
    let credentials = match (header, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method: HTTP Basic or client_secret in the body, not both.",
            ));
        }
        (Some(header), None) => {
            let basic = header
                .to_str()
                .ok()
                .and_then(basic_credentials)
                .ok_or_else(|| {
                    OAuthError::invalid_request(
                        "The Authorization header is not valid HTTP Basic credentials.",
                    )
                })?;
            if params
                .get("client_id")
                .is_some_and(|body_id| body_id != basic.client_id)
            {
                return Err(OAuthError::invalid_request(
                    "The client_id in the body differs from the one in the Authorization header.",
                ));
            }
            basic
        }
        (None, Some(secret)) => ClientCredentials {
            client_id: params.get("client_id").unwrap_or_default().to_owned(),
            secret: SecretString::from(secret),
            method: AuthMethod::ClientSecretPost,
        },
        (None, None) => return Err(OAuthError::invalid_client(false)),
    };
    if !is_plausible_client_id(&credentials.client_id) {
        return Err(OAuthError::invalid_client(
            credentials.method == AuthMethod::ClientSecretBasic,
        ));
    }
    Ok(credentials)
}

/// `Basic base64(urlencode(client_id) ":" urlencode(secret))`.
pub(super) fn basic_credentials(header: &str) -> Option<ClientCredentials> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    let text = std::str::from_utf8(&decoded).ok()?;
    let (client_id, secret) = text.split_once(':')?;
    // Copied out of a buffer wiped on drop: turned into a `SecretString` directly, a decoded
    // value with spare capacity would move and leave an unwiped copy behind.
    let secret = Zeroizing::new(form_decode(secret)?);
    Some(ClientCredentials {
        client_id: form_decode(client_id)?.to_string(),
        secret: SecretString::from(secret.as_str()),
        method: AuthMethod::ClientSecretBasic,
    })
}

fn form_decode(part: &str) -> Option<String> {
    let spaced = Zeroizing::new(part.replace('+', " "));
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use secrecy::ExposeSecret;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        let err = parse_form(b"grant_type=client_credentials&scope=a&scope=b").unwrap_err();
        assert_eq!(err.description, "The parameter 'scope' is repeated.");
        let params = parse_form(b"grant_type=client_credentials&scope=").unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("grant_type"), Some("client_credentials"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret+x"));
        let req = TestRequest::default()
            .insert_header(("Authorization", header))
            .to_http_request();
        let credentials = client_credentials(&req, &Params(HashMap::new())).unwrap();
        assert_eq!(credentials.client_id, "my client");
        assert_eq!(credentials.secret.expose_secret(), "s:cret x");
        assert!(credentials.method == AuthMethod::ClientSecretBasic);
        assert!(!format!("{credentials:?}").contains("s:cret"));
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("id:secret"));
        let req = TestRequest::default()
            .insert_header(("Authorization", header))
            .to_http_request();
        let params = parse_form(b"client_secret=other").unwrap();
        assert_eq!(
            client_credentials(&req, &params).unwrap_err().code,
            super::super::error::ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_client_id_with_a_control_character_is_an_unknown_client() {
        for client_id in ["x%00y", "x%01y", "x%7Fy", "x%C2%85y"] {
            let header = format!("Basic {}", STANDARD.encode(format!("{client_id}:secret")));
            let req = TestRequest::default()
                .insert_header(("Authorization", header))
                .to_http_request();
            let refused = client_credentials(&req, &Params(HashMap::new())).unwrap_err();
            assert_eq!(refused.code, super::super::error::ErrorCode::InvalidClient);

            let body = format!("client_id={client_id}&client_secret=secret");
            let params = parse_form(body.as_bytes()).unwrap();
            let req = TestRequest::default().to_http_request();
            let refused = client_credentials(&req, &params).unwrap_err();
            assert_eq!(refused.code, super::super::error::ErrorCode::InvalidClient);
        }
    }

    #[test]
    fn params_debug_shows_names_only() {
        let params = parse_form(b"client_secret=hunter2").unwrap();
        assert!(!format!("{params:?}").contains("hunter2"));
    }
}
