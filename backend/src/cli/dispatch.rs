//! Running each command: one function per command group, each matching only its own
//! subcommands.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use clavis_shared::devices::CreateDevice;
use clavis_shared::portal::{
    AddFederatedCredential, CreateApi, CreateApplication, CreateOrganisation, JwksUriSetting,
    UpdateApi, UpdateApplication, UpdateOrganisation,
};
use clavis_shared::validate::{self, ValidationError};

use super::args::{
    ApiCommand, AppAuth, AppCommand, Cli, Command, CredentialCommand, DeviceCommand,
    FederatedCommand, IssuerCommand, KeysCommand, NotifyCommand, OrgCommand, SecretCommand,
    UserCommand,
};
use super::output::Output;
use crate::access::Actor;
use crate::client_keys::JwksUriPolicy;
use crate::config::Config;
use crate::db::{self, Database, PooledConn, backup};
use crate::key_sets::RemoteKeySets;
use crate::keys::{Keys, SigningAlgorithm};
use crate::notify::{Mailer, Mode, Notifier};
use crate::public_url::PublicUrls;
use crate::tls::MutualTlsReach;
use crate::{
    apis, apps, client_keys, devices, federation, logging, notify, orgs, secrets, serve, users,
};

/// Runs one parsed command: opens the database (migrating it first), then the command's
/// own function. A backup and a restore take the database file as it is instead: a backup
/// neither creates nor migrates it, and a restore needs it absent.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    logging::init(config.log_format, &config.log_level);
    let out = Output::new(cli.json);
    match &cli.command {
        Command::Backup { to } => return out.backup(&backup::back_up(&config.database, to)?),
        Command::Restore { from } => {
            return out.restored(&backup::restore(&config.database, from)?);
        }
        _ => {}
    }
    let db = Database::open(config.database.clone(), config.database_pool_size)?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(database = %db.target(), ?applied, "applied database migrations");
    }
    let actor = Actor::cli(cli.actor.as_deref())?;
    match cli.command {
        Command::Serve => serve::serve(config, db),
        Command::Migrate => out.migrated(&applied),
        Command::Backup { .. } | Command::Restore { .. } => {
            unreachable!("run before the database is opened")
        }
        Command::Keys(command) => {
            let mut conn = db.conn()?;
            let now = db::now();
            let rotate = match command {
                KeysCommand::Rotate { algorithm } => {
                    Some(algorithm.as_deref().map(signing_algorithm).transpose()?)
                }
                KeysCommand::List => None,
            };
            let keys = open_keys(&mut conn, &config, now)?;
            if let Some(only) = rotate {
                keys.rotate(&mut conn, only, now)?;
            }
            out.keys(&keys.ring().describe(now))
        }
        Command::Api(command) => {
            let mut conn = db.conn()?;
            api(command, &mut conn, &config, &out, &actor, db::now())
        }
        Command::Notify(NotifyCommand::RunOnce { now, dry_run }) => {
            let now = parse_moment(now.as_deref())?;
            let mailer = config.smtp.as_ref().map(Mailer::new).transpose()?;
            let notifier = Notifier::new(mailer, PublicUrls::new(&config.public_url));
            let mode = if dry_run { Mode::DryRun } else { Mode::Send };
            out.reminders(&notifier.run_pass(&db, now, mode)?, mode)
        }
        Command::Notify(NotifyCommand::Failing) => {
            let mut conn = db.conn()?;
            let failing = notify::failing_addresses(&mut conn, Duration::days(30), db::now())?;
            out.failing_addresses(&failing)
        }
        Command::Org(command) => org(command, &mut db.conn()?, &out, &actor, db::now()),
        Command::App(command) => {
            let reach = MutualTlsReach {
                sees_certificates: config.tls.is_some() || config.proxy_client_cert,
                ca_configured: config.mtls_ca_file.is_some(),
            };
            app(command, &mut db.conn()?, &out, reach, &actor, db::now())
        }
        Command::Secret(command) => secret(command, &mut db.conn()?, &out, &actor, db::now()),
        Command::Device(command) => device(command, &mut db.conn()?, &out, &actor, db::now()),
        Command::Credential(command) => {
            let policy = JwksUriPolicy {
                allowed_hosts: config.jwks_uri_hosts.clone(),
            };
            credential(command, &mut db.conn()?, &out, &policy, &actor)
        }
        Command::Federated(command) => {
            federated(command, &mut db.conn()?, &out, &config.issuer, &actor)
        }
        Command::Issuer(command) => issuer(command, &mut db.conn()?, &out, &config, &actor),
        Command::User(command) => user(command, &mut db.conn()?, &out, &actor, db::now()),
    }
}

/// `clavis federated …`: an application's federated credentials.
fn federated(
    command: FederatedCommand,
    conn: &mut PooledConn,
    out: &Output,
    default_audience: &str,
    actor: &Actor,
) -> anyhow::Result<()> {
    let now = db::now();
    match command {
        FederatedCommand::Add {
            client_id,
            name,
            issuer,
            subject,
            audience,
        } => {
            let added = AddFederatedCredential {
                name,
                issuer,
                subject,
                audience,
            };
            let added = federation::add(conn, &client_id, &added, default_audience, actor, now)?;
            out.federated_credentials(&[added])
        }
        FederatedCommand::List { client_id } => {
            out.federated_credentials(&federation::list(conn, &client_id)?)
        }
        FederatedCommand::Delete {
            client_id,
            credential_id,
        } => out.federated_credentials(&[federation::delete(
            conn,
            &client_id,
            &credential_id,
            actor,
            now,
        )?]),
    }
}

/// `clavis issuer …`: the OpenID Connect issuers federated credentials may trust.
fn issuer(
    command: IssuerCommand,
    conn: &mut PooledConn,
    out: &Output,
    config: &Config,
    actor: &Actor,
) -> anyhow::Result<()> {
    match command {
        IssuerCommand::Trust { url, name } => {
            let issuer = federation::issuer_identifier(&url)?;
            let remote =
                RemoteKeySets::new(config.outbound_ca_file.as_deref(), config.key_set_refetch)?;
            // The one command that goes out to the network: a runtime just for it.
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(federation::check_discovery(&remote, &issuer))?;
            let trusted = federation::trust(conn, &issuer, name.as_deref(), actor, db::now())?;
            out.issuers(&[trusted])
        }
        IssuerCommand::List => out.issuers(&federation::list_issuers(conn)?),
        IssuerCommand::Untrust { url } => {
            out.issuers(&[federation::untrust(conn, &url, actor, db::now())?])
        }
    }
}

/// `clavis org …`: organisations.
fn org(
    command: OrgCommand,
    conn: &mut PooledConn,
    out: &Output,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create {
            name,
            country,
            sandbox,
            notification_email,
        } => {
            let new = CreateOrganisation {
                name,
                country,
                sandbox,
                notification_email,
            };
            out.organisations(&[orgs::create(conn, &new, actor, now)?])
        }
        OrgCommand::Update {
            org,
            name,
            country,
            notification_email,
        } => {
            let id = orgs::find(conn, &org)?.id;
            let changes = UpdateOrganisation {
                name,
                country,
                sandbox: None,
                notification_email,
            };
            out.organisations(&[orgs::update(conn, &id, &changes, actor, now)?])
        }
        OrgCommand::List => out.organisations(&orgs::list(conn)?),
    }
}

/// `clavis app …`: applications.
fn app(
    command: AppCommand,
    conn: &mut PooledConn,
    out: &Output,
    reach: MutualTlsReach,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
        AppCommand::Create(args) => {
            let new = CreateApplication {
                organisation_id: args.org,
                name: args.name,
                api_codes: args.apis,
                client_id: args.client_id,
                environment: args.environment,
                description: args.description,
                token_lifetime_secs: args.token_lifetime,
            };
            out.application(&apps::create(conn, &new, actor, now)?)
        }
        AppCommand::SuggestName { org, api } => out.line(&apps::suggest_name(conn, &org, &api)?),
        AppCommand::List { org } => out.applications(&apps::list(conn, org.as_deref())?),
        AppCommand::Show { client_id } => {
            out.application(&apps::find_by_client_id(conn, &client_id)?)
        }
        AppCommand::Enable { client_id } => {
            out.application(&apps::set_enabled(conn, &client_id, true, actor, now)?)
        }
        AppCommand::Disable { client_id } => {
            out.application(&apps::set_enabled(conn, &client_id, false, actor, now)?)
        }
        AppCommand::RevokeTokens { client_id } => {
            out.application(&apps::revoke_tokens(conn, &client_id, actor, now)?)
        }
        AppCommand::Auth(args) => app_auth(&args, conn, out, reach, actor, now),
        AppCommand::RequireDevice {
            client_id,
            required,
        } => {
            let changes = UpdateApplication {
                requires_device: Some(required),
                ..UpdateApplication::default()
            };
            out.application(&apps::update(conn, &client_id, &changes, actor, now)?)
        }
    }
}

/// `clavis app auth`: the settings, changed as the options say.
fn app_auth(
    args: &AppAuth,
    conn: &mut PooledConn,
    out: &Output,
    reach: MutualTlsReach,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut settings = apps::authentication::settings_of(conn, &args.client_id)?;
    let subject = args.subject();
    let changed = args.methods.is_some()
        || args.any_method
        || subject.is_some()
        || args.require_bound_tokens.is_some();
    if changed {
        if args.any_method {
            settings.auth_methods = None;
        }
        if let Some(methods) = &args.methods {
            settings.auth_methods = Some(methods.clone());
        }
        if let Some(subject) = subject {
            settings.tls_client_auth = subject;
        }
        if let Some(required) = args.require_bound_tokens {
            settings.require_bound_tokens = required;
        }
        settings =
            apps::authentication::set_settings(conn, &args.client_id, settings, reach, actor, now)?;
    }
    out.client_authentication(&reach.describe(settings))
}

/// `clavis secret …`: client secrets.
fn secret(
    command: SecretCommand,
    conn: &mut PooledConn,
    out: &Output,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
        SecretCommand::Create {
            client_id,
            name,
            description,
            expires,
        } => {
            let expires_at = parse_expiry(&expires, now)?;
            let created = secrets::create_described(
                conn,
                &client_id,
                &name,
                &description,
                expires_at,
                actor,
                now,
            )?;
            out.new_secret(&created)
        }
        SecretCommand::List { client_id } => out.secrets(&secrets::list(conn, &client_id, now)?),
        SecretCommand::Delete {
            client_id,
            secret_id,
        } => out.secrets(&[secrets::delete(conn, &client_id, &secret_id, actor, now)?]),
    }
}

/// `clavis device …`: an organisation's devices and their secrets.
fn device(
    command: DeviceCommand,
    conn: &mut PooledConn,
    out: &Output,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Create {
            org,
            name,
            device_id,
        } => {
            let new = CreateDevice { name, device_id };
            out.devices(&[devices::create(conn, &org, &new, actor, now)?])
        }
        DeviceCommand::List { org } => out.devices(&devices::list(conn, &org, now)?),
        DeviceCommand::Enable { device_id } => {
            out.devices(&[devices::set_enabled(conn, &device_id, true, actor, now)?])
        }
        DeviceCommand::Disable { device_id } => {
            out.devices(&[devices::set_enabled(conn, &device_id, false, actor, now)?])
        }
        DeviceCommand::SecretCreate {
            device_id,
            name,
            description,
            expires,
        } => {
            let expires_at = parse_expiry(&expires, now)?;
            let created = devices::create_secret(
                conn,
                &device_id,
                &name,
                &description,
                expires_at,
                actor,
                now,
            )?;
            out.new_secret(&created)
        }
        DeviceCommand::SecretList { device_id } => {
            out.secrets(&devices::list_secrets(conn, &device_id, now)?)
        }
        DeviceCommand::SecretDelete {
            device_id,
            secret_id,
        } => out.secrets(&[devices::delete_secret(
            conn, &device_id, &secret_id, actor, now,
        )?]),
        DeviceCommand::CertAdd {
            device_id,
            name,
            certificate,
        } => {
            let pem = read_key_file(&certificate)?;
            let added = devices::certificates::add(conn, &device_id, &name, &pem, actor, now)?;
            out.device_certificates(&[added])
        }
        DeviceCommand::CertList { device_id } => {
            out.device_certificates(&devices::certificates::list(conn, &device_id)?)
        }
        DeviceCommand::CertDelete {
            device_id,
            certificate_id,
        } => out.device_certificates(&[devices::certificates::delete(
            conn,
            &device_id,
            &certificate_id,
            actor,
            now,
        )?]),
    }
}

/// `clavis credential …`: an application's public keys and certificates.
fn credential(
    command: CredentialCommand,
    conn: &mut PooledConn,
    out: &Output,
    policy: &JwksUriPolicy,
    actor: &Actor,
) -> anyhow::Result<()> {
    let now = db::now();
    match command {
        CredentialCommand::Add {
            client_id,
            name,
            file,
            expires,
        } => {
            let (path, expected) = file.file();
            let text = read_key_file(path)?;
            let found = client_keys::public_key::read(&text)?.kind;
            if found != expected {
                anyhow::bail!(
                    "{} holds a {}, not a {}: pass it with --{}.",
                    path.display(),
                    found.noun(),
                    expected.noun(),
                    found.as_str().replace('_', "-"),
                );
            }
            let expires_at = expires
                .map(|expires| parse_expiry(&expires, now))
                .transpose()?;
            let added = client_keys::add(conn, &client_id, &name, &text, expires_at, actor, now)?;
            out.client_keys(&[added])
        }
        CredentialCommand::List { client_id } => {
            out.client_keys(&client_keys::list(conn, &client_id, now)?)
        }
        CredentialCommand::Delete { client_id, key_id } => {
            out.client_keys(&[client_keys::delete(conn, &client_id, &key_id, actor, now)?])
        }
        CredentialCommand::JwksUri {
            client_id,
            url,
            remove: _,
        } => {
            // clap makes --url and --remove exclusive and one of them required.
            if url.as_deref().is_some_and(|url| url.trim().is_empty()) {
                anyhow::bail!(
                    "--url is empty: give the https URL where the application publishes its keys, or use --remove to remove the jwks_uri."
                );
            }
            let jwks_uri =
                client_keys::set_jwks_uri(conn, &client_id, url.as_deref(), policy, actor, now)?;
            out.jwks_uri(&JwksUriSetting {
                jwks_uri,
                allowed_hosts: policy.allowed_hosts.clone(),
            })
        }
    }
}

/// The key file's text, read only up to a limit well above any key or certificate, so
/// that a wrong path (a log, `/dev/zero`) fails at once.
fn read_key_file(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    const LIMIT: u64 = 64 * 1024;
    let cannot = |error: std::io::Error| {
        anyhow::anyhow!("Cannot read the key file {}: {error}.", path.display())
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > LIMIT {
        anyhow::bail!(
            "{} is larger than {} KiB: it is no single key or certificate.",
            path.display(),
            LIMIT / 1024
        );
    }
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{} is not text: give a PEM or JWK file.", path.display()))
}

/// `clavis user …`: people and their roles.
fn user(
    command: UserCommand,
    conn: &mut PooledConn,
    out: &Output,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
        UserCommand::Grant { person, role, org } => {
            let granted = users::grant(conn, &person.person(), role, org.as_deref(), actor, now)?;
            out.assignments(&[granted])
        }
        UserCommand::List => out.assignments(&users::list(conn)?),
        UserCommand::Revoke { assignment_id } => {
            out.assignments(&[users::revoke(conn, &assignment_id, actor, now)?])
        }
    }
}

/// The client_ids of a comma-separated list; an empty text is an empty list.
fn client_id_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The scopes of `--scopes`, which the command line takes space-separated as OAuth's `scope`
/// parameter does; each is then checked as one scope name.
fn scope_names(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// `clavis api …`: creating an API, or choosing its algorithm, first makes sure the algorithm
/// has a signing key, so no token request waits for one.
fn api(
    command: ApiCommand,
    conn: &mut PooledConn,
    config: &Config,
    out: &Output,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
        ApiCommand::Create {
            code,
            name,
            audience,
            scopes,
            resource_servers,
            signing_alg,
        } => {
            let chosen = signing_alg.as_deref().map(signing_algorithm).transpose()?;
            let keys = open_keys(conn, config, now)?;
            let signing_alg = keys.algorithm_for(chosen);
            let new = CreateApi {
                code,
                name,
                audience,
                scopes: scope_names(&scopes),
                resource_servers: client_id_list(&resource_servers),
                signing_alg: Some(signing_alg),
            };
            keys.prepare(conn, signing_alg, now)?;
            out.apis(&[apis::create(conn, &new, actor, now)?])
        }
        ApiCommand::Update {
            code,
            name,
            scopes,
            resource_servers,
            signing_alg,
        } => {
            let chosen = signing_alg.as_deref().map(signing_algorithm).transpose()?;
            if let Some(algorithm) = chosen {
                open_keys(conn, config, now)?.prepare(conn, algorithm, now)?;
            }
            let changes = UpdateApi {
                name,
                scopes: scopes.as_deref().map(scope_names),
                resource_servers: resource_servers.as_deref().map(client_id_list),
                signing_alg: chosen,
            };
            let updated = apis::update(conn, &code, &changes, actor, now)?;
            out.apis(&[updated])
        }
        ApiCommand::List => out.apis(&apis::list(conn)?),
    }
}

fn open_keys(conn: &mut PooledConn, config: &Config, now: DateTime<Utc>) -> anyhow::Result<Keys> {
    Ok(Keys::open(
        conn,
        config.keys.clone(),
        config.token.max_lifetime_secs,
        now,
    )?)
}

/// `--signing-alg`/`--alg`, parsed here rather than by clap so a wrong value gets the same
/// one-line error as every other input.
fn signing_algorithm(text: &str) -> anyhow::Result<SigningAlgorithm> {
    text.parse().map_err(anyhow::Error::msg)
}

/// `--now`: an RFC 3339 moment, or the current time when left out.
fn parse_moment(text: Option<&str>) -> Result<DateTime<Utc>, ValidationError> {
    let Some(text) = text else {
        return Ok(db::now());
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|moment| moment.with_timezone(&Utc))
        .map_err(|_| {
            ValidationError::new(
                "now",
                format!("\"{text}\" is not an RFC 3339 time such as 2027-01-24T08:00:00Z."),
            )
        })
}

/// `--expires`: `YYYY-MM-DD` (valid through the end of that day, UTC) or `<N>d` from now.
pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ValidationError> {
    let text = text.trim();
    let invalid = || {
        ValidationError::new(
            "expires_at",
            format!(
                "\"{text}\" is not an expiry: use a date such as 2027-05-31 or a number of days such as 90d."
            ),
        )
    };
    let expires_at = if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days.parse().map_err(|_| invalid())?;
        // Beyond what a date holds: the furthest one in that direction, which the expiry
        // rules then refuse with their own words (at most a year ahead, in the future).
        let furthest = if days > 0 {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        };
        let span = Duration::try_days(days).ok_or_else(invalid)?;
        now.checked_add_signed(span).unwrap_or(furthest)
    } else {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())?;
        validate::expiry_at_end_of(date)
    };
    Ok(expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_absurd_number_of_days_is_refused_by_the_expiry_rules_not_a_panic() {
        let now = Utc::now();
        for (text, says) in [("99999999999d", "one year"), ("-99999999999d", "future")] {
            let far = parse_expiry(text, now).unwrap();
            let refused = validate::secret_expiry(far, now).unwrap_err();
            assert!(
                refused.message.contains(says),
                "{text}: {}",
                refused.message
            );
        }
    }

    #[test]
    fn expiry_accepts_dates_and_day_counts() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        assert_eq!(parse_expiry("90d", now).unwrap(), now + Duration::days(90));
        assert_eq!(
            parse_expiry("2027-05-31", now).unwrap(),
            Utc.with_ymd_and_hms(2027, 5, 31, 23, 59, 59).unwrap()
        );
        for wrong in ["soon", "2027-13-01", "d", "-5x", "99999999999999d"] {
            assert_eq!(
                parse_expiry(wrong, now).unwrap_err().field,
                "expires_at",
                "{wrong}"
            );
        }
    }
}
