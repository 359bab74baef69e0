//! The OpenID Connect relying party: discovery, the authorization request (code flow with
//! PKCE S256, state and nonce) and the full verification of the ID token that comes back.

use base64::Engine;
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse, reqwest,
};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use super::LoginSettings;
use clavis_shared::validate;
use secrecy::ExposeSecret;

/// How long the provider's discovery document and keys are reused before being fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The configured identity provider, discovered lazily so Clavis starts even when the
/// provider is briefly down.
pub struct Provider {
    settings: LoginSettings,
    http: reqwest::Client,
    discovered: Mutex<Option<(Instant, ProviderMetadataWithLogout)>>,
}

/// Where to send the browser, and what must be kept (server-side) to finish the login.
pub struct AuthorizationStart {
    pub url: url::Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What a verified ID token says about the person and how they signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// Authentication methods (`amr`), such as pwd, otp, mfa.
    pub amr: Vec<String>,
    /// Authentication context class (`acr`).
    pub acr: Option<String>,
    /// Every claim, for the configured role and organisation claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Optional claims left out because their text holds a control character (see
    /// `screen_claims`), for the audit trail.
    pub ignored_claims: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the identity provider cannot be reached or its discovery document is not valid: {0}")]
    Discovery(String),
    #[error("the identity provider did not accept the authorization code: {0}")]
    CodeExchange(String),
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
}

impl Provider {
    pub fn new(settings: LoginSettings) -> Result<Self, LoginError> {
        // No redirects: following them would let a discovery document point Clavis anywhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LoginError::Discovery(e.to_string()))?;
        Ok(Self {
            settings,
            http,
            discovered: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &LoginSettings {
        &self.settings
    }

    /// Builds the authorization request: PKCE S256, a random state and nonce, the configured
    /// scopes and, when configured, `acr_values` asking for a strong login. A retry after a
    /// refusal asks for a fresh login (`prompt=login`, OpenID Connect Core §3.1.2.1), so the
    /// provider's session cannot answer with the same identity and factors again; after a
    /// missing second factor it asks for the `acr` values Clavis accepts as MFA
    /// (`CLAVIS_OIDC_MFA_ACR`), when there are any.
    pub async fn start(&self, retry: Option<Retry>) -> Result<AuthorizationStart, LoginError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        // `openid` is always sent by the library itself.
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if retry.is_some() {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        let acr_values = match retry {
            Some(Retry::SecondFactor) if !self.settings.mfa_acr.is_empty() => {
                &self.settings.mfa_acr
            }
            _ => &self.settings.acr_values,
        };
        if !acr_values.is_empty() {
            request = request.add_extra_param("acr_values", acr_values.join(" "));
        }
        let (url, state, nonce) = request.url();
        Ok(AuthorizationStart {
            url,
            state: state.into_secret(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.into_secret(),
        })
    }

    /// Exchanges the code and verifies the ID token: signature against the provider's keys,
    /// issuer, audience, expiry and nonce.
    pub async fn finish(
        &self,
        code: String,
        pkce_verifier: String,
        nonce: String,
    ) -> Result<Identity, LoginError> {
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| LoginError::Discovery(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| LoginError::CodeExchange(describe_token_error(&e)))?;
        let id_token = response.id_token().ok_or_else(|| {
            LoginError::InvalidIdToken("the provider's answer holds no ID token".to_owned())
        })?;
        let verified = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(nonce))
            .map_err(|e| LoginError::InvalidIdToken(e.to_string()))?;
        let claims = payload_of(&id_token.to_string())?;
        identity_from(
            verified.issuer().to_string(),
            verified.subject().to_string(),
            claims,
        )
    }

    /// The provider's end-session URL (RP-initiated logout) that returns to the portal, when
    /// the provider has one.
    pub async fn end_session_url(&self) -> Option<String> {
        let metadata = self.metadata().await.ok()?;
        let endpoint = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let back = PostLogoutRedirectUrl::from_url(self.settings.post_logout_redirect_url.clone());
        let url = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.settings.client_id.clone()))
            .set_post_logout_redirect_uri(back)
            .http_get_url();
        Some(url.to_string())
    }

    async fn client(&self) -> Result<Client, LoginError> {
        let metadata = self.metadata().await?;
        let secret = self
            .settings
            .client_secret
            .as_ref()
            .map(|secret| ClientSecret::new(secret.expose_secret().to_owned()));
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            secret,
        )
        .set_redirect_uri(RedirectUrl::from_url(self.settings.redirect_url.clone())))
    }

    /// The discovery document with the provider's keys, fetched at most every few minutes.
    async fn metadata(&self) -> Result<ProviderMetadataWithLogout, LoginError> {
        let mut cached = self.discovered.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| LoginError::Discovery(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| LoginError::Discovery(describe_error_chain(&e)))?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }
}

/// The claims of an ID token whose signature was already verified.
fn payload_of(compact: &str) -> Result<serde_json::Map<String, serde_json::Value>, LoginError> {
    let invalid = || LoginError::InvalidIdToken("its claims are not a JSON object".to_owned());
    let payload = compact.split('.').nth(1).ok_or_else(invalid)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

/// Why a sign-in starts again after a refusal (`GET /auth/login?retry=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// With another account, or the same one signed in afresh.
    Account,
    /// After a sign-in without a second factor: a fresh login asking for one.
    SecondFactor,
}

/// The identity in verified claims. A `sub` with a control character refuses the sign-in:
/// it is the key of the person's record, and no provider Clavis supports issues one.
fn identity_from(
    issuer: String,
    subject: String,
    mut claims: serde_json::Map<String, serde_json::Value>,
) -> Result<Identity, LoginError> {
    if validate::has_control_character(&subject) {
        return Err(LoginError::InvalidIdToken(format!(
            "its sub claim holds {}",
            validate::CONTROL_CHARACTERS
        )));
    }
    let ignored_claims = screen_claims(&mut claims);
    if !ignored_claims.is_empty() {
        tracing::warn!(
            ?ignored_claims,
            "an ID token's claims hold control characters; they were ignored"
        );
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };
    Ok(Identity {
        issuer,
        subject,
        email: text("email"),
        email_verified: claims.get("email_verified").and_then(|v| v.as_bool()) == Some(true),
        name: text("name"),
        amr: strings(claims.get("amr")),
        acr: text("acr"),
        ignored_claims,
        claims,
    })
}

/// Removes every claim whose text (a string, or a string in a list) holds a control
/// character, and returns their names. Such text cannot be stored (PostgreSQL refuses
/// U+0000) nor shown; ignoring an optional claim (name, e-mail, amr, acr, a role or an
/// organisation) can only take away access, never grant it.
fn screen_claims(claims: &mut serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let unreadable = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => validate::has_control_character(text),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(serde_json::Value::as_str)
            .any(validate::has_control_character),
        _ => false,
    };
    let mut ignored: Vec<String> = claims
        .iter()
        .filter(|(_, value)| unreadable(value))
        .map(|(name, _)| name.clone())
        .collect();
    ignored.sort();
    for name in &ignored {
        claims.remove(name);
    }
    ignored
}

/// A claim that is a list of strings, or a single string.
pub fn strings(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn describe_token_error<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse>(
    error: &openidconnect::RequestTokenError<RE, T>,
) -> String {
    match error {
        openidconnect::RequestTokenError::ServerResponse(response) => {
            serde_json::to_string(response).unwrap_or_else(|_| "an error response".to_owned())
        }
        other => describe_error_chain(other),
    }
}

fn describe_error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn optional_claims_with_control_characters_are_ignored() {
        let identity = identity_from(
            "https://idp.example.org".into(),
            "ann".into(),
            claims(json!({
                "email": "ann\u{0}@example.org", "email_verified": true, "name": "Ann\u{1b}[31m",
                "amr": ["pwd", "otp\u{0}"], "acr": "urn:mfa", "organisation": "Acme\u{0}",
                "roles": ["credential_management"],
            })),
        )
        .unwrap();
        assert_eq!(identity.email, None);
        assert_eq!(identity.name, None);
        assert!(identity.amr.is_empty());
        assert_eq!(identity.acr.as_deref(), Some("urn:mfa"));
        assert!(!identity.claims.contains_key("organisation"));
        assert!(identity.claims.contains_key("roles"));
        assert_eq!(
            identity.ignored_claims,
            ["amr", "email", "name", "organisation"]
        );
    }

    #[test]
    fn a_subject_with_a_control_character_is_refused() {
        let refused = identity_from(
            "https://idp.example.org".into(),
            "ann\u{0}".into(),
            claims(json!({})),
        );
        assert!(matches!(refused, Err(LoginError::InvalidIdToken(_))));
    }
}
