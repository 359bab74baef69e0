//! What the command line accepts: the commands and their arguments (clap).

use clap::{Args, Parser, Subcommand};
use clavis_shared::client_auth::{CertificateSubject, ClientAuthMethod, SubjectField};
use clavis_shared::dto::{ClientKeyKind, Environment, Role};
use std::path::PathBuf;

use crate::config::CONFIG_FILE_VAR;
use crate::users::Person;

#[derive(Debug, Parser)]
#[command(
    name = "clavis",
    version,
    about = "Self-service client secrets and an OAuth 2.0 authorization server"
)]
pub struct Cli {
    /// TOML config file; settings in CLAVIS_* environment variables override it.
    #[arg(long, global = true, env = CONFIG_FILE_VAR, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who the audit trail records as acting, as `cli:NAME`; by default the operating-system
    /// account running the command.
    #[arg(long, global = true, env = "CLAVIS_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve the portal, the API and the OAuth endpoints.
    Serve,
    /// Apply database migrations that are not applied yet.
    Migrate,
    /// Write a consistent snapshot of the embedded SQLite database to a new file, also while
    /// Clavis serves. The master key is not in it: keep that apart. (PostgreSQL: pg_dump.)
    Backup {
        /// The backup file to create; an existing file is never replaced.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup into a data directory that holds no database yet. Start Clavis with
    /// the master key of the backed-up instance afterwards. (PostgreSQL: pg_restore.)
    Restore {
        /// A file written by `clavis backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Organisations (partners).
    #[command(subcommand)]
    Org(OrgCommand),
    /// APIs that tokens are issued for.
    #[command(subcommand)]
    Api(ApiCommand),
    /// Applications (OAuth clients).
    #[command(subcommand)]
    App(AppCommand),
    /// Client secrets of an application.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Devices an organisation's applications run on, and their secrets.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Public keys and certificates an application signs client assertions with
    /// (private_key_jwt).
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Federated credentials: tokens from a trusted issuer (a Kubernetes service account,
    /// a CI job) that prove an application, with no secret at all.
    #[command(subcommand)]
    Federated(FederatedCommand),
    /// OpenID Connect issuers whose tokens federated credentials may accept.
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// People and their roles.
    #[command(subcommand)]
    User(UserCommand),
    /// Access-token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Expiry reminders by e-mail.
    #[command(subcommand)]
    Notify(NotifyCommand),
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Run one reminder pass: record the reminders due and send what is waiting, as the
    /// running server does every few minutes.
    RunOnce {
        /// Run the pass as if it were this moment (RFC 3339, e.g. 2027-01-24T08:00:00Z).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Only show which reminders are due and to whom; record and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Addresses that reminders keep failing to reach (the last 30 days).
    Failing,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start a rotation of every algorithm in use, or of one: a new key is published now and
    /// signs after the publish lead.
    Rotate {
        /// Rotate only this algorithm's keys: ES256, RS256 or EdDSA.
        #[arg(long = "alg", value_name = "ALG")]
        algorithm: Option<String>,
    },
    /// List the signing keys and what each does now.
    List,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation.
    Create {
        #[arg(long)]
        name: String,
        /// ISO 3166-1 alpha-2 country code, e.g. NL.
        #[arg(long)]
        country: String,
        /// A sandbox-only organisation, for implementers to test their integration.
        #[arg(long)]
        sandbox: bool,
        /// A shared mailbox that gets expiry reminders besides the credential managers.
        #[arg(long, value_name = "EMAIL")]
        notification_email: Option<String>,
    },
    /// Change an organisation; options left out stay as they are.
    Update {
        /// The organisation (name or id).
        #[arg(long, value_name = "ORG")]
        org: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        country: Option<String>,
        /// The shared reminder mailbox; "" removes it.
        #[arg(long, value_name = "EMAIL")]
        notification_email: Option<String>,
    },
    /// List organisations.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API (a resource server).
    Create {
        /// Short code used in application names, e.g. SMC.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// The audience identifier (a URI) tokens for this API carry.
        #[arg(long)]
        audience: String,
        /// The scopes it defines, space-separated.
        #[arg(long, default_value = "")]
        scopes: String,
        /// client_ids of applications that may introspect its tokens, comma-separated.
        #[arg(long, value_name = "CLIENT_ID,…", default_value = "")]
        resource_servers: String,
        /// What its access tokens are signed with: ES256, RS256 or EdDSA (default: the
        /// configured CLAVIS_TOKEN_SIGNING_ALG).
        #[arg(long, value_name = "ALG")]
        signing_alg: Option<String>,
    },
    /// Change an API; options left out stay as they are.
    Update {
        /// The API's code, e.g. SMC.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: Option<String>,
        /// Its complete new scope list, space-separated.
        #[arg(long)]
        scopes: Option<String>,
        /// The complete new list of applications (client_ids, comma-separated) that may
        /// introspect its tokens; "" removes them all.
        #[arg(long, value_name = "CLIENT_ID,…")]
        resource_servers: Option<String>,
        /// What its access tokens are signed with from now on: ES256, RS256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        signing_alg: Option<String>,
    },
    /// List APIs, their scopes, resource servers and signing algorithms.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an application, granted every scope of the APIs named.
    Create(AppCreate),
    /// Print the conventional name for an organisation's application calling an API.
    SuggestName {
        #[arg(long, value_name = "ORG")]
        org: String,
        #[arg(long, value_name = "CODE")]
        api: String,
    },
    /// List applications.
    List {
        /// Only this organisation's (name or id).
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
    /// Show one application.
    Show { client_id: String },
    /// Let an application obtain tokens again.
    Enable { client_id: String },
    /// Stop an application from obtaining tokens.
    Disable { client_id: String },
    /// Kill switch: every token the application was issued until now becomes inactive in
    /// introspection (resource servers that validate tokens offline see it only at expiry).
    RevokeTokens {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
    },
    /// Require token requests to also prove a device of the organisation
    /// (X-Device-Authorization), or stop requiring it.
    RequireDevice {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        /// true or false.
        #[arg(value_name = "true|false", action = clap::ArgAction::Set)]
        required: bool,
    },
    /// Show or change how the application proves itself at the token endpoint: the methods
    /// it accepts, the certificate subject of tls_client_auth, and certificate-bound tokens.
    /// Options left out keep their setting.
    Auth(AppAuth),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("subject").args(
    ["subject_dn", "san_dns", "san_uri", "san_ip", "san_email", "no_subject"])))]
pub struct AppAuth {
    /// The application's client_id.
    #[arg(long = "app", value_name = "CLIENT_ID")]
    pub client_id: String,
    /// The methods it accepts, comma-separated: client_secret, private_key_jwt,
    /// federated_credential, self_signed_tls_client_auth, tls_client_auth.
    #[arg(long, value_delimiter = ',', value_parser = parse_auth_method, conflicts_with = "any_method")]
    pub methods: Option<Vec<ClientAuthMethod>>,
    /// Accept every method the application has credentials for (the default).
    #[arg(long)]
    pub any_method: bool,
    /// tls_client_auth: the subject DN a CA-issued certificate must have (RFC 4514, such
    /// as CN=billing,O=Acme,C=GB).
    #[arg(long, value_name = "DN")]
    pub subject_dn: Option<String>,
    /// tls_client_auth: a DNS name the certificate must carry as a SAN.
    #[arg(long, value_name = "NAME")]
    pub san_dns: Option<String>,
    /// tls_client_auth: a URI the certificate must carry as a SAN.
    #[arg(long, value_name = "URI")]
    pub san_uri: Option<String>,
    /// tls_client_auth: an IP address the certificate must carry as a SAN.
    #[arg(long, value_name = "IP")]
    pub san_ip: Option<String>,
    /// tls_client_auth: an e-mail address the certificate must carry as a SAN.
    #[arg(long, value_name = "ADDRESS")]
    pub san_email: Option<String>,
    /// Remove the certificate subject: no CA-issued certificate proves the application.
    #[arg(long)]
    pub no_subject: bool,
    /// Issue tokens only over mutual TLS, bound to the client certificate (true), or also
    /// without one (false).
    #[arg(long, value_name = "true|false")]
    pub require_bound_tokens: Option<bool>,
}

impl AppAuth {
    /// The subject given, if one was: `Some(None)` for `--no-subject`.
    pub fn subject(&self) -> Option<Option<CertificateSubject>> {
        if self.no_subject {
            return Some(None);
        }
        [
            (SubjectField::SubjectDn, &self.subject_dn),
            (SubjectField::SanDns, &self.san_dns),
            (SubjectField::SanUri, &self.san_uri),
            (SubjectField::SanIp, &self.san_ip),
            (SubjectField::SanEmail, &self.san_email),
        ]
        .into_iter()
        .find_map(|(field, value)| {
            value.as_ref().map(|value| {
                Some(CertificateSubject {
                    field,
                    value: value.clone(),
                })
            })
        })
    }
}

fn parse_auth_method(text: &str) -> Result<ClientAuthMethod, String> {
    ClientAuthMethod::parse(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect();
        format!("\"{text}\" is not a method: use {}", names.join(", "))
    })
}

#[derive(Debug, Args)]
pub struct AppCreate {
    /// The owning organisation's name or id.
    #[arg(long, value_name = "ORG")]
    pub org: String,
    /// Defaults to the convention Partner-<CC>-<Org>-<API>.
    #[arg(long)]
    pub name: Option<String>,
    /// An API code it may call; repeat for several.
    #[arg(long = "api", value_name = "CODE", required = true)]
    pub apis: Vec<String>,
    /// Keep an existing GUID as client_id instead of generating one.
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,
    /// production or sandbox (default: sandbox in a sandbox organisation, else production).
    #[arg(long)]
    pub environment: Option<Environment>,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Access-token lifetime in seconds (300 to 86400; default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub token_lifetime: Option<i32>,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Add a device to an organisation, with a new id or the GUID it already has.
    Create {
        /// The organisation's name or id.
        #[arg(long, value_name = "ORG")]
        org: String,
        #[arg(long)]
        name: String,
        /// Keep an existing GUID as the device's id instead of generating one.
        #[arg(long = "id", value_name = "GUID")]
        device_id: Option<String>,
    },
    /// List an organisation's devices.
    List {
        #[arg(long, value_name = "ORG")]
        org: String,
    },
    /// Let a device prove itself again.
    Enable { device_id: String },
    /// Stop a device proving itself: its applications get no tokens on it.
    Disable { device_id: String },
    /// Create a device secret and print its value, this once.
    SecretCreate {
        #[arg(long = "device", value_name = "DEVICE_ID")]
        device_id: String,
        #[arg(long)]
        name: String,
        /// What uses it, for example "ward 3 gateway" (optional).
        #[arg(long, default_value = "")]
        description: String,
        /// A date (YYYY-MM-DD, valid through that day, UTC) or a number of days (90d); at most one year ahead.
        #[arg(long)]
        expires: String,
    },
    /// List a device's secrets.
    SecretList {
        #[arg(long = "device", value_name = "DEVICE_ID")]
        device_id: String,
    },
    /// Delete a device secret; it stops working at once.
    SecretDelete {
        #[arg(long = "device", value_name = "DEVICE_ID")]
        device_id: String,
        #[arg(long = "id", value_name = "SECRET_ID")]
        secret_id: String,
    },
    /// Register a certificate the device proves itself with over mutual TLS.
    CertAdd {
        #[arg(long = "device", value_name = "DEVICE_ID")]
        device_id: String,
        #[arg(long)]
        name: String,
        /// The PEM certificate (never its private key).
        #[arg(long, value_name = "FILE")]
        certificate: PathBuf,
    },
    /// List a device's certificates.
    CertList {
        #[arg(long = "device", value_name = "DEVICE_ID")]
        device_id: String,
    },
    /// Delete a device certificate; it proves nothing from the next request on.
    CertDelete {
        #[arg(long = "device", value_name = "DEVICE_ID")]
        device_id: String,
        #[arg(long = "id", value_name = "CERTIFICATE_ID")]
        certificate_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create a secret and print its value, this once.
    Create {
        /// The application's client_id.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        #[arg(long)]
        name: String,
        /// What uses it, for example "CI deploy of the billing service" (optional).
        #[arg(long, default_value = "")]
        description: String,
        /// A date (YYYY-MM-DD, valid through that day, UTC) or a number of days (90d); at most one year ahead.
        #[arg(long)]
        expires: String,
    },
    /// List an application's secrets.
    List {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
    },
    /// Delete a secret; it stops working at once.
    Delete {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        #[arg(long = "id", value_name = "SECRET_ID")]
        secret_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Register a public key or certificate; only its public part is stored.
    Add {
        /// The application's client_id.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        file: KeyFileArgs,
        /// For a public key or JWK: a date (YYYY-MM-DD, valid through that day, UTC) or a
        /// number of days (90d), at most one year ahead. A certificate expires at its notAfter.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List an application's public keys and certificates.
    List {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
    },
    /// Delete a public key or certificate; assertions signed with it fail at once.
    Delete {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        #[arg(long = "id", value_name = "KEY_ID")]
        key_id: String,
    },
    /// Set where the application publishes its keys (jwks_uri), or remove it.
    JwksUri {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        /// An https URL on a host jwks_uri_hosts allows.
        #[arg(long, required_unless_present = "remove", conflicts_with = "remove")]
        url: Option<String>,
        /// Remove the jwks_uri: only registered keys are accepted afterwards.
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FederatedCommand {
    /// Let tokens from a trusted issuer with an exact subject prove the application.
    Add {
        /// The application's client_id.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        /// What people call the credential, such as "exporter on cluster 1".
        #[arg(long)]
        name: String,
        /// A trusted issuer's URL (see `clavis issuer list`).
        #[arg(long, value_name = "URL")]
        issuer: String,
        /// The exact sub to accept, such as system:serviceaccount:billing:exporter.
        #[arg(long)]
        subject: String,
        /// The aud the token must carry; Clavis's issuer identifier when left out.
        #[arg(long)]
        audience: Option<String>,
    },
    /// List an application's federated credentials.
    List {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
    },
    /// Delete a federated credential; its tokens are refused at once.
    Delete {
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        #[arg(long = "id", value_name = "CREDENTIAL_ID")]
        credential_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Trust an OpenID Connect issuer, once its discovery document and keys can be fetched.
    Trust {
        /// The issuer identifier, exactly as its tokens carry it in iss.
        #[arg(long, value_name = "URL")]
        url: String,
        /// What people call it; the issuer's host when left out.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the trusted issuers.
    List,
    /// Stop trusting an issuer that no federated credential names any more.
    Untrust {
        /// The issuer's URL or id.
        #[arg(long, value_name = "URL")]
        url: String,
    },
}

/// The file holding the key, and what it must be.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeyFileArgs {
    /// A PEM X.509 certificate.
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
    /// A PEM public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// A JSON Web Key, one key as a JSON object.
    #[arg(long, value_name = "FILE")]
    pub jwk: Option<PathBuf>,
}

impl KeyFileArgs {
    /// The file, and the kind of key it must hold.
    pub fn file(&self) -> (&std::path::Path, ClientKeyKind) {
        match (&self.certificate, &self.public_key, &self.jwk) {
            (Some(path), _, _) => (path, ClientKeyKind::Certificate),
            (None, Some(path), _) => (path, ClientKeyKind::PublicKey),
            (None, None, path) => (
                path.as_deref().unwrap_or(std::path::Path::new("")),
                ClientKeyKind::Jwk,
            ),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Give a person a role; they need not have logged in yet.
    Grant {
        #[command(flatten)]
        person: PersonArgs,
        #[arg(long)]
        role: Role,
        /// The organisation (name or id), for credential_manager and viewer.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
    /// List role assignments.
    List,
    /// Take a role assignment away.
    Revoke {
        #[arg(long = "id", value_name = "ASSIGNMENT_ID")]
        assignment_id: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PersonArgs {
    /// The person's e-mail; attaches at their first login with this e-mail verified.
    #[arg(long)]
    pub email: Option<String>,
    /// The person's subject (`sub`) at the identity provider.
    #[arg(long)]
    pub subject: Option<String>,
}

impl PersonArgs {
    pub fn person(&self) -> Person {
        match (&self.email, &self.subject) {
            (Some(email), _) => Person::Email(email.clone()),
            (None, subject) => Person::Subject(subject.clone().unwrap_or_default()),
        }
    }
}
