//! Settings: defaults, then an optional TOML file, then `CLAVIS_*` environment variables.
//! Unknown keys are an error, and every check names the setting it is about.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::db::DbTarget;
use crate::keys::{KeySettings, MasterKeySource, SigningAlgorithm};
use crate::logging::LogFormat;
use crate::login::{LoginSettings, RoleClaim};
use crate::notify::{SmtpSettings, SmtpTls};
use crate::oauth::TokenSettings;
use crate::session::SessionSettings;
use crate::tls::TlsSettings;

/// Names the config file when `--config` is not given.
pub const CONFIG_FILE_VAR: &str = "CLAVIS_CONFIG";

/// The settings as written by the operator, before validation. Serialized only to hand figment
/// the defaults: the secret settings (`SecretString`, none by default) are skipped there,
/// since `secrecy` never writes a secret out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: PathBuf,
    database_url: Option<String>,
    database_pool_size: u32,
    listen: String,
    metrics_listen: Option<String>,
    public_url: Option<String>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    trusted_proxies: String,
    proxy_client_cert: bool,
    mtls_ca_file: Option<PathBuf>,
    mtls_public_url: Option<String>,
    insecure_http: bool,
    frontend_dir: PathBuf,
    log_format: LogFormat,
    log_level: String,
    issuer: Option<String>,
    token_signing_alg: SigningAlgorithm,
    #[serde(skip_serializing)]
    master_key: Option<SecretString>,
    master_key_file: Option<PathBuf>,
    key_rotation_days: u32,
    key_publish_lead_secs: u64,
    max_token_lifetime_secs: i32,
    token_failure_limit: u32,
    token_failure_window_secs: u64,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    #[serde(skip_serializing)]
    oidc_client_secret: Option<SecretString>,
    oidc_redirect_url: Option<String>,
    oidc_scopes: String,
    oidc_mfa_amr: String,
    oidc_mfa_acr: String,
    oidc_acr_values: String,
    oidc_role_claim: Option<String>,
    oidc_role_claim_manager: String,
    oidc_role_claim_viewer: String,
    oidc_organisation_claim: Option<String>,
    support_contact: Option<String>,
    session_idle_timeout_secs: u64,
    session_lifetime_secs: u64,
    bootstrap_admins: String,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_tls: SmtpTls,
    smtp_username: Option<String>,
    #[serde(skip_serializing)]
    smtp_password: Option<SecretString>,
    smtp_from: Option<String>,
    reminder_interval_secs: u64,
    jwks_uri_hosts: String,
    outbound_ca_file: Option<PathBuf>,
    key_set_refetch_secs: u64,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_pool_size: 10,
            listen: "127.0.0.1:8080".to_owned(),
            metrics_listen: None,
            public_url: None,
            tls_cert_file: None,
            tls_key_file: None,
            trusted_proxies: String::new(),
            proxy_client_cert: false,
            mtls_ca_file: None,
            mtls_public_url: None,
            insecure_http: false,
            frontend_dir: PathBuf::from("frontend/dist"),
            log_format: LogFormat::Human,
            log_level: "info".to_owned(),
            issuer: None,
            token_signing_alg: SigningAlgorithm::Es256,
            master_key: None,
            master_key_file: None,
            key_rotation_days: 90,
            key_publish_lead_secs: 600,
            max_token_lifetime_secs: 86_400,
            token_failure_limit: 10,
            token_failure_window_secs: 60,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_redirect_url: None,
            oidc_scopes: "openid email profile".to_owned(),
            oidc_mfa_amr: "mfa".to_owned(),
            oidc_mfa_acr: String::new(),
            oidc_acr_values: String::new(),
            oidc_role_claim: None,
            oidc_role_claim_manager: "credential_management".to_owned(),
            oidc_role_claim_viewer: String::new(),
            oidc_organisation_claim: None,
            support_contact: None,
            session_idle_timeout_secs: 30 * 60,
            session_lifetime_secs: 12 * 3600,
            bootstrap_admins: String::new(),
            smtp_host: None,
            smtp_port: None,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_from: None,
            reminder_interval_secs: 300,
            jwks_uri_hosts: String::new(),
            outbound_ca_file: None,
            key_set_refetch_secs: 60,
        }
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Clavis keeps its files (the embedded database by default).
    pub data_dir: PathBuf,
    pub database: DbTarget,
    pub database_pool_size: u32,
    pub listen: SocketAddr,
    /// Where the Prometheus metrics are served (`GET /metrics`), apart from `listen` so that
    /// only the monitoring network reaches them; `None` (the default) records no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// The URL people and API clients use to reach Clavis, without a trailing slash.
    pub public_url: url::Url,
    /// HTTPS served by Clavis itself; `None` serves plain HTTP (loopback, or behind a proxy).
    pub tls: Option<TlsSettings>,
    /// Peers whose `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` headers are believed
    /// (RFC 7239); empty trusts no one, and the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The trusted proxies terminate mutual TLS and send the client's certificate in
    /// `Client-Cert` (RFC 9440), replacing any the client sent: only then is it read.
    pub proxy_client_cert: bool,
    /// The CA certificates (PEM) that issue client certificates for `tls_client_auth`
    /// (RFC 8705 §2.1); `None` accepts no CA-issued certificate.
    pub mtls_ca_file: Option<PathBuf>,
    /// Where clients reach the OAuth endpoints with mutual TLS, when that is another host
    /// than the public URL (a proxy that asks for certificates, so browsers on the portal's
    /// host never see a certificate prompt): published as `mtls_endpoint_aliases`
    /// (RFC 8705 §5).
    pub mtls_public_url: Option<url::Url>,
    /// The portal's built files (trunk's output).
    pub frontend_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_level: String,
    /// The `iss` of every access token and the issuer in the discovery documents.
    pub issuer: String,
    pub token: TokenSettings,
    pub keys: KeySettings,
    /// Portal sign-in through the organisation's OpenID Connect provider; `None` when no
    /// provider is configured (the portal then explains that sign-in is not set up).
    pub login: Option<LoginSettings>,
    pub sessions: SessionSettings,
    /// E-mail addresses or OIDC subjects that are made platform admins when they sign in.
    pub bootstrap_admins: Vec<String>,
    /// Where expiry reminders are sent from; `None` turns reminders off.
    pub smtp: Option<SmtpSettings>,
    /// How often a running instance looks for reminders to send.
    pub reminder_interval: std::time::Duration,
    /// Hosts an application's `jwks_uri` may name (lower-case names, exact match); none
    /// allows no `jwks_uri` at all.
    pub jwks_uri_hosts: Vec<String>,
    /// An extra CA (PEM) that Clavis trusts when it fetches an application's `jwks_uri`,
    /// besides the system's roots: for partners behind a private PKI, and the tests.
    pub outbound_ca_file: Option<PathBuf>,
    /// The least time between two fetches of one key set when assertions name a `kid` it
    /// lacks (default one minute).
    pub key_set_refetch: std::time::Duration,
}

/// A setting that is missing, unknown or wrong; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads the settings from `file` (if any) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "the config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("CLAVIS_").ignore(&["config", "actor"]));
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError(describe_figment_error(e)))?;
        raw.validate()
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let listen = parse_listen("listen (CLAVIS_LISTEN)", &self.listen)?;
        let metrics_listen = self
            .metrics_listen
            .as_deref()
            .map(|text| parse_listen("metrics_listen (CLAVIS_METRICS_LISTEN)", text))
            .transpose()?;
        if metrics_listen == Some(listen) {
            return Err(ConfigError(format!(
                "metrics_listen (CLAVIS_METRICS_LISTEN) {listen} is the address Clavis serves \
                 its API on (CLAVIS_LISTEN); the metrics need a port of their own, such as \
                 127.0.0.1:9464"
            )));
        }
        let tls = self.tls_settings()?;
        let trusted_proxies = parse_trusted_proxies(&self.trusted_proxies)?;
        if self.proxy_client_cert && trusted_proxies.is_empty() {
            return Err(ConfigError(
                "proxy_client_cert (CLAVIS_PROXY_CLIENT_CERT=true) needs the proxies that send Client-Cert in trusted_proxies (CLAVIS_TRUSTED_PROXIES), which is empty"
                    .to_owned(),
            ));
        }
        if self.mtls_ca_file.is_some() && tls.is_none() && !self.proxy_client_cert {
            return Err(ConfigError(
                "mtls_ca_file (CLAVIS_MTLS_CA_FILE) is set, but no client certificate can reach \
                 Clavis: serve HTTPS (CLAVIS_TLS_CERT_FILE, CLAVIS_TLS_KEY_FILE), or let trusted \
                 proxies send Client-Cert (CLAVIS_PROXY_CLIENT_CERT=true)"
                    .to_owned(),
            ));
        }
        let mtls_public_url = self
            .mtls_public_url
            .as_deref()
            .map(|text| {
                parse_http_url(
                    "mtls_public_url (CLAVIS_MTLS_PUBLIC_URL)",
                    text.trim_end_matches('/'),
                )
            })
            .transpose()?;
        if let Some(url) = &mtls_public_url {
            if url.scheme() != "https" {
                return Err(ConfigError(format!(
                    "mtls_public_url (CLAVIS_MTLS_PUBLIC_URL) {url} must be https: mutual TLS is TLS"
                )));
            }
            if tls.is_none() && !self.proxy_client_cert {
                return Err(ConfigError(
                    "mtls_public_url (CLAVIS_MTLS_PUBLIC_URL) is set, but no client certificate \
                     can reach Clavis: serve HTTPS (CLAVIS_TLS_CERT_FILE, CLAVIS_TLS_KEY_FILE), \
                     or let trusted proxies send Client-Cert (CLAVIS_PROXY_CLIENT_CERT=true)"
                        .to_owned(),
                ));
            }
        }
        let public_url = parse_public_url(self.public_url.as_deref(), listen, tls.is_some())?;
        require_secure_front_door(
            listen,
            &public_url,
            &tls,
            &trusted_proxies,
            self.insecure_http,
        )?;
        let login = self.login_settings(&public_url)?;
        let smtp = self.smtp_settings()?;
        let database_url = self
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("clavis.db").display()));
        let database = DbTarget::parse(&database_url)
            .map_err(|why| ConfigError(format!("database_url (CLAVIS_DATABASE_URL) {why}")))?;
        if self.database_pool_size == 0 {
            return Err(ConfigError(
                "database_pool_size (CLAVIS_DATABASE_POOL_SIZE) must be at least 1".to_owned(),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level).map_err(|e| {
            ConfigError(format!(
                "log_level (CLAVIS_LOG_LEVEL) \"{}\" is not a log filter such as info or clavis=debug: {e}",
                self.log_level
            ))
        })?;
        let issuer = match self.issuer {
            Some(issuer) => parse_http_url("issuer (CLAVIS_ISSUER)", issuer.trim_end_matches('/'))?,
            None => public_url.clone(),
        };
        let token = TokenSettings {
            max_lifetime_secs: clavis_shared::validate::token_lifetime(
                self.max_token_lifetime_secs,
            )
            .map_err(|e| {
                ConfigError(format!(
                    "max_token_lifetime_secs (CLAVIS_MAX_TOKEN_LIFETIME_SECS): {e}"
                ))
            })?,
            failure_limit: positive(
                "token_failure_limit (CLAVIS_TOKEN_FAILURE_LIMIT)",
                self.token_failure_limit.into(),
            )? as u32,
            failure_window: std::time::Duration::from_secs(positive(
                "token_failure_window_secs (CLAVIS_TOKEN_FAILURE_WINDOW_SECS)",
                self.token_failure_window_secs,
            )?),
        };
        let master_key = match (self.master_key, self.master_key_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "set either master_key (CLAVIS_MASTER_KEY) or master_key_file (CLAVIS_MASTER_KEY_FILE), not both".to_owned(),
                ));
            }
            (Some(inline), None) => MasterKeySource::inline(inline.expose_secret())
                .map_err(|why| ConfigError(format!("master_key (CLAVIS_MASTER_KEY) {why}")))?,
            (None, file) => {
                MasterKeySource::File(file.unwrap_or_else(|| self.data_dir.join("master.key")))
            }
        };
        let keys = KeySettings {
            algorithm: self.token_signing_alg,
            master_key,
            rotation_period: chrono::Duration::days(positive(
                "key_rotation_days (CLAVIS_KEY_ROTATION_DAYS)",
                self.key_rotation_days.into(),
            )? as i64),
            publish_lead: chrono::Duration::seconds(
                self.key_publish_lead_secs.min(86_400 * 7) as i64
            ),
        };
        let sessions = SessionSettings {
            idle_timeout: chrono::Duration::seconds(positive(
                "session_idle_timeout_secs (CLAVIS_SESSION_IDLE_TIMEOUT_SECS)",
                self.session_idle_timeout_secs.min(86_400 * 30),
            )? as i64),
            lifetime: chrono::Duration::seconds(positive(
                "session_lifetime_secs (CLAVIS_SESSION_LIFETIME_SECS)",
                self.session_lifetime_secs.min(86_400 * 30),
            )? as i64),
            secure_cookie: public_url.scheme() == "https",
            public_origin: public_url.origin().ascii_serialization(),
        };
        let reminder_interval = std::time::Duration::from_secs(positive(
            "reminder_interval_secs (CLAVIS_REMINDER_INTERVAL_SECS)",
            self.reminder_interval_secs.min(86_400),
        )?);
        Ok(Config {
            smtp,
            reminder_interval,
            jwks_uri_hosts: words(&self.jwks_uri_hosts.to_lowercase()),
            outbound_ca_file: self.outbound_ca_file,
            key_set_refetch: std::time::Duration::from_secs(self.key_set_refetch_secs.max(1)),
            login,
            sessions,
            bootstrap_admins: words(&self.bootstrap_admins),
            issuer: issuer.as_str().trim_end_matches('/').to_owned(),
            token,
            keys,
            data_dir: self.data_dir,
            database,
            database_pool_size: self.database_pool_size,
            listen,
            metrics_listen,
            public_url,
            tls,
            trusted_proxies,
            proxy_client_cert: self.proxy_client_cert,
            mtls_ca_file: self.mtls_ca_file,
            mtls_public_url,
            frontend_dir: self.frontend_dir,
            log_format: self.log_format,
            log_level: self.log_level,
        })
    }
}

impl RawConfig {
    /// The TLS files, when both are set; one without the other is a mistake.
    fn tls_settings(&self) -> Result<Option<TlsSettings>, ConfigError> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) => Ok(None),
            (Some(cert_file), Some(key_file)) => Ok(Some(TlsSettings {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            })),
            _ => Err(ConfigError(
                "tls_cert_file (CLAVIS_TLS_CERT_FILE) and tls_key_file (CLAVIS_TLS_KEY_FILE) go \
                 together: set both to serve HTTPS, or neither"
                    .to_owned(),
            )),
        }
    }
}

/// IP addresses and CIDR ranges, separated by commas or white space.
fn parse_trusted_proxies(text: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    words(text)
        .iter()
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    ConfigError(format!(
                        "trusted_proxies (CLAVIS_TRUSTED_PROXIES) \"{entry}\" is not an IP address \
                         or CIDR range such as 10.0.0.5 or 10.0.0.0/24"
                    ))
                })
                .and_then(|net| refuse_everyone(entry, net))
        })
        .collect()
}

/// A range holding every address would let any client name its own address and scheme.
fn refuse_everyone(entry: &str, net: ipnet::IpNet) -> Result<ipnet::IpNet, ConfigError> {
    if net.prefix_len() == 0 {
        return Err(ConfigError(format!(
            "trusted_proxies (CLAVIS_TRUSTED_PROXIES) \"{entry}\" trusts every address, so any \
             client could choose the address it is throttled and audited as: name your proxies' \
             addresses or their subnet"
        )));
    }
    Ok(net)
}

/// Client secrets travel only over HTTPS (the seeds' rule, RFC 6749 §2.3.1): outside loopback
/// Clavis serves TLS itself or sits behind a trusted TLS proxy, and is reached by an https
/// URL (also when it listens on loopback behind a local proxy, and whenever it serves TLS),
/// unless the operator explicitly accepts plain HTTP.
fn require_secure_front_door(
    listen: SocketAddr,
    public_url: &url::Url,
    tls: &Option<TlsSettings>,
    trusted_proxies: &[ipnet::IpNet],
    insecure_http: bool,
) -> Result<(), ConfigError> {
    if insecure_http {
        return Ok(());
    }
    let reachable = !listen.ip().is_loopback();
    if reachable && tls.is_none() && trusted_proxies.is_empty() {
        return Err(ConfigError(format!(
            "listen (CLAVIS_LISTEN) {listen} is reachable from the network, but Clavis would \
             serve plain HTTP there, where client secrets travel. Set tls_cert_file and \
             tls_key_file (CLAVIS_TLS_CERT_FILE, CLAVIS_TLS_KEY_FILE) to serve HTTPS, or \
             trusted_proxies (CLAVIS_TRUSTED_PROXIES) to the TLS proxy in front of Clavis; \
             insecure_http (CLAVIS_INSECURE_HTTP=true) accepts the risk"
        )));
    }
    let url_host_is_loopback = public_url
        .host_str()
        .is_some_and(|host| is_loopback(host.trim_start_matches('[').trim_end_matches(']')));
    let https_needed = reachable || tls.is_some() || !url_host_is_loopback;
    if https_needed && public_url.scheme() != "https" {
        return Err(ConfigError(format!(
            "public_url (CLAVIS_PUBLIC_URL) \"{}\" must be an https URL: clients send their \
             secrets to it, and it is not a loopback address of a plain-HTTP Clavis. \
             insecure_http (CLAVIS_INSECURE_HTTP=true) accepts the risk",
            public_url.as_str().trim_end_matches('/')
        )));
    }
    Ok(())
}

impl RawConfig {
    /// The OIDC settings, when an issuer is configured; a client id must come with it.
    fn login_settings(&self, public_url: &url::Url) -> Result<Option<LoginSettings>, ConfigError> {
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(None);
        };
        let issuer = parse_http_url(
            "oidc_issuer (CLAVIS_OIDC_ISSUER)",
            issuer.trim_end_matches('/'),
        )?;
        let client_id = self
            .oidc_client_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                ConfigError(
                    "oidc_client_id (CLAVIS_OIDC_CLIENT_ID) is required when oidc_issuer is set: \
                     the client id Clavis is registered under at the provider"
                        .to_owned(),
                )
            })?;
        let portal = public_url.as_str().trim_end_matches('/');
        let redirect_url = match &self.oidc_redirect_url {
            Some(url) => parse_http_url("oidc_redirect_url (CLAVIS_OIDC_REDIRECT_URL)", url)?,
            None => parse_http_url(
                "public_url (CLAVIS_PUBLIC_URL)",
                &format!("{portal}/auth/callback"),
            )?,
        };
        let scopes = words(&self.oidc_scopes);
        if !scopes.iter().any(|scope| scope == "openid") {
            return Err(ConfigError(
                "oidc_scopes (CLAVIS_OIDC_SCOPES) must include openid".to_owned(),
            ));
        }
        // Both may be empty: two factor classes in `amr` still count (login::policy).
        let (mfa_amr, mfa_acr) = (words(&self.oidc_mfa_amr), words(&self.oidc_mfa_acr));
        let role_claim = match (&self.oidc_role_claim, &self.oidc_organisation_claim) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ConfigError(
                    "oidc_organisation_claim (CLAVIS_OIDC_ORGANISATION_CLAIM) is required with \
                     oidc_role_claim: it names the claim that says which organisation the role is for"
                        .to_owned(),
                ));
            }
            (Some(claim), Some(organisation_claim)) => Some(RoleClaim {
                claim: claim.trim().to_owned(),
                manager_value: self.oidc_role_claim_manager.trim().to_owned(),
                viewer_value: Some(self.oidc_role_claim_viewer.trim().to_owned())
                    .filter(|value| !value.is_empty()),
                organisation_claim: organisation_claim.trim().to_owned(),
            }),
        };
        Ok(Some(LoginSettings {
            issuer: issuer.as_str().trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_url,
            post_logout_redirect_url: parse_http_url(
                "public_url (CLAVIS_PUBLIC_URL)",
                &format!("{portal}/"),
            )?,
            scopes,
            mfa_amr,
            mfa_acr,
            acr_values: words(&self.oidc_acr_values),
            role_claim,
            support_contact: self.support_contact()?,
        }))
    }
}

impl RawConfig {
    /// Who people without access should ask: free text of one line, at most 200 characters.
    fn support_contact(&self) -> Result<Option<String>, ConfigError> {
        let Some(contact) = self.support_contact.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if contact.chars().count() > 200 || contact.chars().any(char::is_control) {
            return Err(ConfigError(
                "support_contact (CLAVIS_SUPPORT_CONTACT) must be one line of at most 200 \
                 characters, such as \"the API team at api-support@example.org\""
                    .to_owned(),
            ));
        }
        Ok(Some(contact.to_owned()).filter(|contact| !contact.is_empty()))
    }

    /// The SMTP settings when a host is set; a sender must come with it, and a password is
    /// never sent over an unencrypted connection to another machine.
    fn smtp_settings(&self) -> Result<Option<SmtpSettings>, ConfigError> {
        let host = self
            .smtp_host
            .as_deref()
            .map(str::trim)
            .filter(|host| !host.is_empty());
        let Some(host) = host else {
            if self.smtp_from.is_some() || self.smtp_username.is_some() {
                return Err(ConfigError(
                    "smtp_host (CLAVIS_SMTP_HOST) is required when other smtp_* settings are set"
                        .to_owned(),
                ));
            }
            return Ok(None);
        };
        let from = self
            .smtp_from
            .as_deref()
            .map(str::trim)
            .filter(|from| !from.is_empty())
            .ok_or_else(|| {
                ConfigError(
                    "smtp_from (CLAVIS_SMTP_FROM) is required with smtp_host: the sender of \
                     reminders, such as \"Clavis <clavis@example.org>\""
                        .to_owned(),
                )
            })?;
        let from = from.parse::<lettre::message::Mailbox>().map_err(|e| {
            ConfigError(format!(
                "smtp_from (CLAVIS_SMTP_FROM) \"{from}\" is not a sender such as \"Clavis <clavis@example.org>\": {e}"
            ))
        })?;
        let credentials = match (&self.smtp_username, &self.smtp_password) {
            (None, None) => None,
            (Some(user), Some(password)) => Some((user.trim().to_owned(), password.clone())),
            _ => {
                return Err(ConfigError(
                    "smtp_username (CLAVIS_SMTP_USERNAME) and smtp_password (CLAVIS_SMTP_PASSWORD) \
                     go together: set both or neither"
                        .to_owned(),
                ));
            }
        };
        if credentials.is_some() && self.smtp_tls == SmtpTls::None && !is_loopback(host) {
            return Err(ConfigError(format!(
                "smtp_tls (CLAVIS_SMTP_TLS) none would send the SMTP password to {host} \
                 unencrypted: use starttls or tls"
            )));
        }
        Ok(Some(SmtpSettings {
            host: host.to_owned(),
            port: self
                .smtp_port
                .unwrap_or_else(|| self.smtp_tls.default_port()),
            tls: self.smtp_tls,
            credentials,
            from,
        }))
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A list setting: items separated by commas or white space.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The address and port `setting` (named with its variable) holds.
fn parse_listen(setting: &str, listen: &str) -> Result<SocketAddr, ConfigError> {
    listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            ConfigError(format!(
                "{setting} \"{listen}\" is not an address and port such as 127.0.0.1:8080"
            ))
        })
}

/// The public URL as configured, or the listen address over http when none is.
fn parse_public_url(
    configured: Option<&str>,
    listen: SocketAddr,
    https: bool,
) -> Result<url::Url, ConfigError> {
    let scheme = if https { "https" } else { "http" };
    let text = match configured {
        Some(text) => text.trim_end_matches('/').to_owned(),
        None if listen.ip().is_unspecified() => format!("{scheme}://127.0.0.1:{}", listen.port()),
        None => format!("{scheme}://{listen}"),
    };
    parse_http_url("public_url (CLAVIS_PUBLIC_URL)", &text)
}

fn positive(setting: &str, value: u64) -> Result<u64, ConfigError> {
    if value == 0 {
        return Err(ConfigError(format!("{setting} must be at least 1")));
    }
    Ok(value)
}

/// An http(s) URL with a host and nothing after the path.
fn parse_http_url(setting: &str, text: &str) -> Result<url::Url, ConfigError> {
    let invalid = |why: &str| {
        ConfigError(format!(
            "{setting} \"{text}\" {why}; use a URL such as https://clavis.example.org"
        ))
    };
    let url = url::Url::parse(text).map_err(|_| invalid("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("must be an http or https URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("must not contain a query, fragment or user name"));
    }
    Ok(url)
}

/// Every problem figment found; each names the key and where it came from.
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawConfig {
        RawConfig::default()
    }

    #[test]
    fn defaults_use_embedded_sqlite_in_data_dir() {
        let config = raw().validate().unwrap();
        assert_eq!(
            config.database,
            DbTarget::Sqlite(PathBuf::from("data/clavis.db"))
        );
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.issuer, "http://127.0.0.1:8080");
        assert_eq!(
            config.keys.master_key,
            MasterKeySource::File(PathBuf::from("data/master.key"))
        );
    }

    #[test]
    fn metrics_are_off_by_default_and_need_a_port_of_their_own() {
        assert_eq!(raw().validate().unwrap().metrics_listen, None);
        let config = RawConfig {
            metrics_listen: Some("127.0.0.1:9464".into()),
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        for (text, named) in [
            ("127.0.0.1:8080", "port of their own"),
            ("nowhere", "is not an address"),
        ] {
            let err = RawConfig {
                metrics_listen: Some(text.into()),
                ..raw()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("CLAVIS_METRICS_LISTEN") && err.contains(named),
                "{err}"
            );
        }
    }

    #[test]
    fn issuer_is_configurable_and_secrets_are_not_printed() {
        let config = RawConfig {
            issuer: Some("https://id.example.org/".into()),
            master_key: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
            ..raw()
        };
        assert!(!format!("{config:?}").contains("AAAAAAAA"));
        let config = config.validate().unwrap();
        assert_eq!(config.issuer, "https://id.example.org");
        assert!(!format!("{config:?}").contains("AAAAAAAA"));
    }

    #[test]
    fn oidc_login_needs_a_client_and_defaults_its_redirect_and_mfa_rule() {
        assert!(raw().validate().unwrap().login.is_none());
        let err = RawConfig {
            oidc_issuer: Some("https://idp.example.org".into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_OIDC_CLIENT_ID"), "{err}");
        let config = RawConfig {
            oidc_issuer: Some("https://idp.example.org/".into()),
            oidc_client_id: Some("clavis".into()),
            oidc_client_secret: Some("very-secret-client".into()),
            oidc_acr_values: "urn:mfa, urn:strong".into(),
            bootstrap_admins: "ada@example.org, admin-sub".into(),
            ..raw()
        }
        .validate()
        .unwrap();
        let login = config.login.as_ref().unwrap();
        assert_eq!(login.issuer, "https://idp.example.org");
        assert_eq!(
            login.redirect_url.as_str(),
            "http://127.0.0.1:8080/auth/callback"
        );
        assert_eq!(login.mfa_amr, ["mfa"]);
        assert!(login.mfa_acr.is_empty());
        assert_eq!(login.acr_values, ["urn:mfa", "urn:strong"]);
        assert_eq!(config.bootstrap_admins, ["ada@example.org", "admin-sub"]);
        assert!(!config.sessions.secure_cookie);
        assert_eq!(config.sessions.idle_timeout, chrono::Duration::minutes(30));
        assert_eq!(config.sessions.lifetime, chrono::Duration::hours(12));
        assert!(!format!("{config:?}").contains("very-secret-client"));
        let two_classes_only = RawConfig {
            oidc_issuer: Some("https://idp.example.org".into()),
            oidc_client_id: Some("clavis".into()),
            oidc_mfa_amr: String::new(),
            ..raw()
        }
        .validate()
        .unwrap();
        assert!(two_classes_only.login.unwrap().mfa_amr.is_empty());
        assert_eq!(login.support_contact, None);
    }

    #[test]
    fn the_support_contact_is_one_line() {
        let with_contact = |contact: &str| {
            RawConfig {
                oidc_issuer: Some("https://idp.example.org".into()),
                oidc_client_id: Some("clavis".into()),
                support_contact: Some(contact.into()),
                ..raw()
            }
            .validate()
        };
        let config = with_contact(" the API team at api-support@example.org ").unwrap();
        assert_eq!(
            config.login.unwrap().support_contact.as_deref(),
            Some("the API team at api-support@example.org")
        );
        assert_eq!(
            with_contact("").unwrap().login.unwrap().support_contact,
            None
        );
        for bad in ["two\nlines", &"x".repeat(201)] {
            let err = with_contact(bad).unwrap_err().to_string();
            assert!(err.contains("CLAVIS_SUPPORT_CONTACT"), "{err}");
        }
    }

    #[test]
    fn plain_http_outside_loopback_is_refused_unless_accepted() {
        let listen_all = |extra: RawConfig| RawConfig {
            listen: "0.0.0.0:8443".into(),
            ..extra
        };
        let err = listen_all(raw()).validate().unwrap_err().to_string();
        assert!(err.contains("CLAVIS_TLS_CERT_FILE"), "{err}");
        assert!(err.contains("CLAVIS_TRUSTED_PROXIES"), "{err}");
        assert!(err.contains("CLAVIS_INSECURE_HTTP=true"), "{err}");
        let accepted = listen_all(RawConfig {
            insecure_http: true,
            ..raw()
        });
        assert!(accepted.validate().is_ok());
        let tls = listen_all(RawConfig {
            tls_cert_file: Some("cert.pem".into()),
            tls_key_file: Some("key.pem".into()),
            ..raw()
        })
        .validate()
        .unwrap();
        assert_eq!(tls.public_url.as_str(), "https://127.0.0.1:8443/");
        let proxied_http = listen_all(RawConfig {
            trusted_proxies: "10.0.0.5".into(),
            public_url: Some("http://clavis.example.org".into()),
            ..raw()
        });
        let err = proxied_http.validate().unwrap_err().to_string();
        assert!(
            err.contains("CLAVIS_PUBLIC_URL") && err.contains("https"),
            "{err}"
        );
        let proxied = listen_all(RawConfig {
            trusted_proxies: "10.0.0.5, 192.168.1.0/24 ::1".into(),
            public_url: Some("https://clavis.example.org".into()),
            ..raw()
        })
        .validate()
        .unwrap();
        let expected: Vec<ipnet::IpNet> = ["10.0.0.5/32", "192.168.1.0/24", "::1/128"]
            .iter()
            .map(|net| net.parse().unwrap())
            .collect();
        assert_eq!(proxied.trusted_proxies, expected);
    }

    #[test]
    fn an_http_public_url_is_refused_for_other_hosts_and_with_tls() {
        let refused = |extra: RawConfig| extra.validate().unwrap_err().to_string();
        let err = refused(RawConfig {
            public_url: Some("http://auth.example.org".into()),
            ..raw()
        });
        assert!(
            err.contains("CLAVIS_PUBLIC_URL") && err.contains("https"),
            "{err}"
        );
        let err = refused(RawConfig {
            tls_cert_file: Some("cert.pem".into()),
            tls_key_file: Some("key.pem".into()),
            public_url: Some("http://127.0.0.1:8080".into()),
            ..raw()
        });
        assert!(err.contains("CLAVIS_PUBLIC_URL"), "{err}");
        for loopback in [
            "http://127.0.0.1:8081",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            let config = RawConfig {
                public_url: Some(loopback.into()),
                ..raw()
            };
            assert!(config.validate().is_ok(), "{loopback}");
        }
        let accepted = RawConfig {
            public_url: Some("http://auth.example.org".into()),
            insecure_http: true,
            ..raw()
        };
        assert!(accepted.validate().is_ok());
    }

    #[test]
    fn trusting_every_address_is_refused() {
        for everyone in ["0.0.0.0/0", "::/0"] {
            let err = RawConfig {
                trusted_proxies: everyone.into(),
                ..raw()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(err.contains("trusts every address"), "{err}");
        }
    }

    #[test]
    fn client_certificates_from_proxies_need_trusted_proxies() {
        let err = RawConfig {
            proxy_client_cert: true,
            ..raw()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("CLAVIS_TRUSTED_PROXIES"), "{err}");
        let behind_proxy = RawConfig {
            proxy_client_cert: true,
            trusted_proxies: "10.0.0.5".into(),
            ..raw()
        };
        assert!(behind_proxy.validate().unwrap().proxy_client_cert);
    }

    #[test]
    fn an_mtls_public_url_is_https_and_needs_certificates_to_arrive() {
        let behind_proxy = |url: &str| RawConfig {
            mtls_public_url: Some(url.into()),
            proxy_client_cert: true,
            trusted_proxies: "10.0.0.5".into(),
            ..raw()
        };
        let config = behind_proxy("https://mtls.clavis.example.org/")
            .validate()
            .unwrap();
        assert_eq!(
            config.mtls_public_url.unwrap().as_str(),
            "https://mtls.clavis.example.org/"
        );
        let err = behind_proxy("http://mtls.clavis.example.org")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be https"), "{err}");
        let err = RawConfig {
            mtls_public_url: Some("https://mtls.clavis.example.org".into()),
            ..raw()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("CLAVIS_PROXY_CLIENT_CERT"), "{err}");
    }

    #[test]
    fn client_cas_need_a_way_for_certificates_to_arrive() {
        let err = RawConfig {
            mtls_ca_file: Some("clients.pem".into()),
            ..raw()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("CLAVIS_PROXY_CLIENT_CERT"), "{err}");
        let behind_proxy = RawConfig {
            mtls_ca_file: Some("clients.pem".into()),
            proxy_client_cert: true,
            trusted_proxies: "10.0.0.5".into(),
            ..raw()
        };
        assert!(behind_proxy.validate().unwrap().mtls_ca_file.is_some());
    }

    #[test]
    fn front_door_settings_are_checked() {
        let err = RawConfig {
            trusted_proxies: "10.0.0.0/33".into(),
            ..raw()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("CLAVIS_TRUSTED_PROXIES") && err.contains("10.0.0.0/33"),
            "{err}"
        );
        let err = RawConfig {
            tls_cert_file: Some("cert.pem".into()),
            ..raw()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("CLAVIS_TLS_KEY_FILE"), "{err}");
        let loopback = raw().validate().unwrap();
        assert!(loopback.tls.is_none() && loopback.trusted_proxies.is_empty());
    }

    #[test]
    fn smtp_needs_a_sender_and_keeps_passwords_off_plain_connections() {
        let config = raw().validate().unwrap();
        assert!(config.smtp.is_none(), "reminders are off without a server");
        assert_eq!(config.reminder_interval.as_secs(), 300);
        let smtp = |host: &str, tls: SmtpTls, user: Option<&str>| RawConfig {
            smtp_host: Some(host.into()),
            smtp_tls: tls,
            smtp_from: Some("Clavis <clavis@example.org>".into()),
            smtp_username: user.map(Into::into),
            smtp_password: user.map(|_| "smtp-password-fixture".into()),
            ..raw()
        };
        let config = smtp("mail.example.org", SmtpTls::Starttls, Some("clavis"))
            .validate()
            .unwrap();
        let settings = config.smtp.as_ref().unwrap();
        assert_eq!((settings.port, settings.tls), (587, SmtpTls::Starttls));
        assert!(!format!("{config:?}").contains("smtp-password-fixture"));
        assert_eq!(
            smtp("mail.example.org", SmtpTls::Tls, None)
                .validate()
                .unwrap()
                .smtp
                .unwrap()
                .port,
            465
        );
        assert!(
            smtp("127.0.0.1", SmtpTls::None, Some("clavis"))
                .validate()
                .is_ok()
        );
        let err = smtp("mail.example.org", SmtpTls::None, Some("clavis"))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_SMTP_TLS"), "{err}");
        let err = RawConfig {
            smtp_from: None,
            ..smtp("mail.example.org", SmtpTls::Starttls, None)
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_SMTP_FROM"), "{err}");
        let err = RawConfig {
            smtp_from: Some("not an address".into()),
            ..smtp("mail.example.org", SmtpTls::Starttls, None)
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_SMTP_FROM"), "{err}");
        let err = RawConfig {
            smtp_password: None,
            ..smtp("mail.example.org", SmtpTls::Starttls, Some("clavis"))
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_SMTP_PASSWORD"), "{err}");
        let err = RawConfig {
            smtp_from: Some("clavis@example.org".into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_SMTP_HOST"), "{err}");
    }

    #[test]
    fn postgres_urls_pick_postgres() {
        let config = RawConfig {
            database_url: Some("postgres://postgres@127.0.0.1/clavis".into()),
            ..raw()
        }
        .validate()
        .unwrap();
        assert!(matches!(config.database, DbTarget::Postgres(_)));
    }

    #[test]
    fn wrong_settings_name_the_setting() {
        let err = RawConfig {
            database_url: Some("mysql://x".into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_DATABASE_URL"), "{err}");
        let err = RawConfig {
            listen: "nowhere".into(),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_LISTEN"), "{err}");
        let err = RawConfig {
            public_url: Some("ftp://x".into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("CLAVIS_PUBLIC_URL"), "{err}");
        let err = RawConfig {
            database_pool_size: 0,
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().contains("CLAVIS_DATABASE_POOL_SIZE"),
            "{err}"
        );
    }

    #[test]
    fn public_url_defaults_to_loopback_for_wildcard_listen() {
        let config = RawConfig {
            listen: "0.0.0.0:9000".into(),
            insecure_http: true,
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:9000/");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn file_and_environment_layer_over_defaults_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "clavis.toml",
                "listen = \"127.0.0.1:9100\"\nlog_format = \"json\"\n",
            )?;
            jail.set_env("CLAVIS_LISTEN", "127.0.0.1:9200");
            let config = Config::load(Some(Path::new("clavis.toml"))).unwrap();
            assert_eq!(config.listen.port(), 9200);
            assert_eq!(config.log_format, LogFormat::Json);

            jail.create_file("bad.toml", "lisen = \"127.0.0.1:9100\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("lisen"), "{err}");

            jail.set_env("CLAVIS_DATABSE_URL", "x");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("DATABSE_URL") && err.contains("CLAVIS_"),
                "{err}"
            );

            let err = Config::load(Some(Path::new("missing.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing.toml does not exist"), "{err}");
            Ok(())
        });
    }

    /// The configuration the Debian package installs as /etc/clavis/clavis.toml.
    const SHIPPED: &str = include_str!("../debian/clavis.toml");

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
    fn the_shipped_config_file_loads_and_lists_every_setting() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("clavis.toml", SHIPPED)?;
            let config = Config::load(Some(Path::new("clavis.toml"))).unwrap();
            assert_eq!(config.data_dir, PathBuf::from("/var/lib/clavis"));
            assert_eq!(
                config.database,
                DbTarget::Sqlite(PathBuf::from("/var/lib/clavis/clavis.db"))
            );
            assert_eq!(
                config.frontend_dir,
                PathBuf::from("/usr/share/clavis/portal")
            );
            // Every commented-out example is a setting by its real name, with a value of the
            // right type (secrets are written by name only, so they are in the list below).
            let examples: String = SHIPPED
                .lines()
                .filter_map(|line| line.strip_prefix("# "))
                .filter(|line| {
                    line.split_once(" = ")
                        .is_some_and(|(key, _)| !key.contains(' '))
                })
                .map(|line| format!("{line}\n"))
                .collect();
            let uncommented = Figment::from(Serialized::defaults(raw()))
                .merge(Toml::string(SHIPPED))
                .merge(Toml::string(&examples));
            uncommented.extract::<RawConfig>().unwrap();
            // Serialized defaults name every setting but the secrets, which are never written.
            let defaults = serde_json::to_value(raw()).unwrap();
            let secrets = ["master_key", "oidc_client_secret", "smtp_password"].map(String::from);
            let every_setting = defaults.as_object().unwrap().keys();
            for setting in every_setting.chain(&secrets) {
                let written = SHIPPED.lines().any(|line| {
                    line.trim_start_matches("# ")
                        .starts_with(&format!("{setting} = "))
                });
                assert!(written, "{setting} is missing from debian/clavis.toml");
            }
            Ok(())
        });
    }
}
