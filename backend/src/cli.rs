//! The `clavis` command line: the server, migrations, and admin commands for bootstrap and
//! automation. Every listing or creating command prints a table, or JSON with `--json`.

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use clavis_shared::dto::{
    Api, Application, ClientSecretInfo, Environment, Organisation, Role, RoleAssignment,
};
use clavis_shared::portal::{
    CreateApi, CreateApplication, CreateOrganisation, UpdateApi, UpdateOrganisation,
};
use clavis_shared::validate::{self, ValidationError};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::access::Actor;
use crate::config::{CONFIG_FILE_VAR, Config};
use crate::db::{self, Database, PooledConn};
use crate::keys::{KeyInfo, Keys, SigningAlgorithm};
use crate::notify::{Mailer, Mode, Notifier, PassReport};
use crate::public_url::PublicUrls;
use crate::users::Person;
use crate::{apis, apps, logging, notify, orgs, secrets, serve, users};

#[derive(Debug, Parser)]
#[command(
    name = "clavis",
    version,
    about = "Self-service client secrets and an OAuth 2.0 authorization server"
)]
pub struct Cli {
    /// TOML config file; settings in CLAVIS_* environment variables override it.
    #[arg(long, global = true, env = CONFIG_FILE_VAR, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations, then serve the portal, the API and the OAuth endpoints.
    Serve,
    /// Apply database migrations that are not applied yet.
    Migrate,
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
enum NotifyCommand {
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
enum KeysCommand {
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
enum OrgCommand {
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
enum ApiCommand {
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
enum AppCommand {
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
}

#[derive(Debug, Args)]
struct AppCreate {
    /// The owning organisation's name or id.
    #[arg(long, value_name = "ORG")]
    org: String,
    /// Defaults to the convention Partner-<CC>-<Org>-<API>.
    #[arg(long)]
    name: Option<String>,
    /// An API code it may call; repeat for several.
    #[arg(long = "api", value_name = "CODE", required = true)]
    apis: Vec<String>,
    /// Keep an existing GUID as client_id instead of generating one.
    #[arg(long, value_name = "GUID")]
    client_id: Option<String>,
    /// production or sandbox (default: sandbox in a sandbox organisation, else production).
    #[arg(long)]
    environment: Option<Environment>,
    #[arg(long, default_value = "")]
    description: String,
    /// Access-token lifetime in seconds (300 to 86400; default 3600).
    #[arg(long, value_name = "SECONDS")]
    token_lifetime: Option<i32>,
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Create a secret and print its value, this once.
    Create {
        /// The application's client_id.
        #[arg(long = "app", value_name = "CLIENT_ID")]
        client_id: String,
        #[arg(long)]
        name: String,
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
enum UserCommand {
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
struct PersonArgs {
    /// The person's e-mail; attaches at their first login with this e-mail verified.
    #[arg(long)]
    email: Option<String>,
    /// The person's subject (`sub`) at the identity provider.
    #[arg(long)]
    subject: Option<String>,
}

impl PersonArgs {
    fn person(&self) -> Person {
        match (&self.email, &self.subject) {
            (Some(email), _) => Person::Email(email.clone()),
            (None, subject) => Person::Subject(subject.clone().unwrap_or_default()),
        }
    }
}

/// Parses the command line, runs the command, and prints any error as one line.
pub fn run() -> ExitCode {
    if let Some(refused) = std::env::args_os()
        .skip(1)
        .find_map(|arg| argument_refusal(&arg.to_string_lossy()))
    {
        eprintln!("error: {refused}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error.to_string()));
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    logging::init(config.log_format, &config.log_level);
    let db = Database::open(config.database.clone(), config.database_pool_size)?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(database = %db.target(), ?applied, "applied database migrations");
    }
    let out = Output { json: cli.json };
    match cli.command {
        Command::Serve => serve::serve(config, db),
        Command::Migrate => out.migrated(&applied),
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
            api(command, &mut conn, &config, &out, &Actor::cli(), db::now())
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
            out.table(
                &failing,
                &[
                    "ADDRESS",
                    "ORGANISATION",
                    "UNDELIVERED",
                    "LAST TRY",
                    "LAST ERROR",
                ],
                |f| {
                    vec![
                        f.recipient.clone(),
                        f.organisation_name.clone(),
                        f.undelivered.to_string(),
                        when(f.last_attempt_at),
                        f.last_error.clone(),
                    ]
                },
            )
        }
        command => {
            let mut conn = db.conn()?;
            admin(command, &mut conn, &out, &Actor::cli(), db::now())
        }
    }
}

fn admin(
    command: Command,
    conn: &mut PooledConn,
    out: &Output,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
        Command::Org(OrgCommand::Create {
            name,
            country,
            sandbox,
            notification_email,
        }) => {
            let new = CreateOrganisation {
                name,
                country,
                sandbox,
                notification_email,
            };
            out.organisations(&[orgs::create(conn, &new, actor, now)?])
        }
        Command::Org(OrgCommand::Update {
            org,
            name,
            country,
            notification_email,
        }) => {
            let id = orgs::find(conn, &org)?.id;
            let changes = UpdateOrganisation {
                name,
                country,
                sandbox: None,
                notification_email,
            };
            out.organisations(&[orgs::update(conn, &id, &changes, actor, now)?])
        }
        Command::Org(OrgCommand::List) => out.organisations(&orgs::list(conn)?),
        Command::App(AppCommand::Create(args)) => {
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
        Command::App(AppCommand::SuggestName { org, api }) => {
            out.line(&apps::suggest_name(conn, &org, &api)?)
        }
        Command::App(AppCommand::List { org }) => {
            out.applications(&apps::list(conn, org.as_deref())?)
        }
        Command::App(AppCommand::Show { client_id }) => {
            out.application(&apps::find_by_client_id(conn, &client_id)?)
        }
        Command::App(AppCommand::Enable { client_id }) => {
            out.application(&apps::set_enabled(conn, &client_id, true, actor, now)?)
        }
        Command::App(AppCommand::Disable { client_id }) => {
            out.application(&apps::set_enabled(conn, &client_id, false, actor, now)?)
        }
        Command::App(AppCommand::RevokeTokens { client_id }) => {
            out.application(&apps::revoke_tokens(conn, &client_id, actor, now)?)
        }
        Command::Secret(SecretCommand::Create {
            client_id,
            name,
            expires,
        }) => {
            let expires_at = parse_expiry(&expires, now)?;
            let created = secrets::create(conn, &client_id, &name, expires_at, actor, now)?;
            if out.json {
                return out.print_json(&created);
            }
            out.secrets(std::slice::from_ref(&created.info))?;
            println!(
                "\nClient secret (shown only this once, store it now):\n{}",
                created.value
            );
            Ok(())
        }
        Command::Secret(SecretCommand::List { client_id }) => {
            out.secrets(&secrets::list(conn, &client_id, now)?)
        }
        Command::Secret(SecretCommand::Delete {
            client_id,
            secret_id,
        }) => out.secrets(&[secrets::delete(conn, &client_id, &secret_id, actor, now)?]),
        Command::User(UserCommand::Grant { person, role, org }) => {
            let granted = users::grant(conn, &person.person(), role, org.as_deref(), actor, now)?;
            out.assignments(&[granted])
        }
        Command::User(UserCommand::List) => out.assignments(&users::list(conn)?),
        Command::User(UserCommand::Revoke { assignment_id }) => {
            out.assignments(&[users::revoke(conn, &assignment_id, actor, now)?])
        }
        Command::Serve
        | Command::Migrate
        | Command::Keys(_)
        | Command::Notify(_)
        | Command::Api(_) => {
            unreachable!("handled before opening an admin connection")
        }
    }
}

/// Why an argument is refused before anything runs: it holds a control character other
/// than a line break (which a description may hold). No name, identifier or code takes one,
/// and echoing it in an error could drive the operator's terminal. (U+0000 cannot reach a
/// program through its arguments at all.) The argument is shown with such characters escaped.
fn argument_refusal(arg: &str) -> Option<String> {
    arg.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
        .then(|| {
            format!(
                "the argument \"{}\" holds {}; only line breaks are allowed, in a description",
                arg.escape_debug(),
                validate::CONTROL_CHARACTERS
            )
        })
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

/// Folds a multi-line message (libpq's, for one) onto a single line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
        now + Duration::try_days(days).ok_or_else(invalid)?
    } else {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())?;
        validate::expiry_at_end_of(date)
    };
    Ok(expires_at)
}

/// Prints results as aligned tables for people or JSON for scripts.
struct Output {
    json: bool,
}

impl Output {
    fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> anyhow::Result<()> {
        println!(
            "{}",
            serde_json::to_string_pretty(value).context("cannot encode JSON")?
        );
        Ok(())
    }

    fn table<T: Serialize>(
        &self,
        items: &[T],
        headers: &[&str],
        row: impl Fn(&T) -> Vec<String>,
    ) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(items);
        }
        let rows: Vec<Vec<String>> = items.iter().map(row).collect();
        print!("{}", render_table(headers, &rows));
        Ok(())
    }

    fn line(&self, text: &str) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(text);
        }
        println!("{text}");
        Ok(())
    }

    fn migrated(&self, applied: &[String]) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(&serde_json::json!({ "applied": applied }));
        }
        match applied.len() {
            0 => println!("The database is up to date."),
            n => println!("Applied {n} migration(s): {}", applied.join(", ")),
        }
        Ok(())
    }

    fn organisations(&self, items: &[Organisation]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "ID",
                "NAME",
                "COUNTRY",
                "SANDBOX",
                "CREATED",
                "REMINDERS ALSO TO",
            ],
            |o| {
                vec![
                    o.id.clone(),
                    o.name.clone(),
                    o.country.clone(),
                    yes_no(o.sandbox),
                    when(o.created_at),
                    o.notification_email.clone().unwrap_or_default(),
                ]
            },
        )
    }

    fn apis(&self, items: &[Api]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "CODE",
                "NAME",
                "AUDIENCE",
                "SCOPES",
                "RESOURCE SERVERS",
                "SIGNING ALG",
            ],
            |a| {
                vec![
                    a.code.clone(),
                    a.name.clone(),
                    a.audience.clone(),
                    a.scopes.join(" "),
                    a.resource_servers.join(","),
                    a.signing_alg
                        .map_or("default", SigningAlgorithm::as_str)
                        .to_owned(),
                ]
            },
        )
    }

    fn applications(&self, items: &[Application]) -> anyhow::Result<()> {
        self.table(
            items,
            &["CLIENT_ID", "NAME", "ENVIRONMENT", "ENABLED", "APIS"],
            |a| {
                vec![
                    a.client_id.clone(),
                    a.name.clone(),
                    a.environment.to_string(),
                    yes_no(a.enabled),
                    a.grants
                        .iter()
                        .map(|g| g.api_code.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            },
        )
    }

    fn application(&self, app: &Application) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(app);
        }
        println!("name:            {}", app.name);
        println!("client_id:       {}", app.client_id);
        println!("organisation:    {}", app.organisation_id);
        println!("environment:     {}", app.environment);
        println!("enabled:         {}", yes_no(app.enabled));
        println!("token lifetime:  {} s", app.token_lifetime_secs);
        if !app.description.is_empty() {
            println!("description:     {}", app.description);
        }
        for grant in &app.grants {
            println!(
                "api:             {} ({}) scopes: {}",
                grant.api_code,
                grant.audience,
                grant.scopes.join(" ")
            );
        }
        println!(
            "created:         {} by {}",
            when(app.created_at),
            app.created_by
        );
        if let Some(moment) = app.tokens_revoked_before {
            println!(
                "tokens revoked:  issued until {}",
                moment.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        Ok(())
    }

    fn secrets(&self, items: &[ClientSecretInfo]) -> anyhow::Result<()> {
        self.table(
            items,
            &[
                "ID",
                "NAME",
                "HINT",
                "CREATED",
                "EXPIRES",
                "LAST USED",
                "STATUS",
            ],
            |s| {
                vec![
                    s.id.clone(),
                    s.name.clone(),
                    format!("{}…", s.hint),
                    when(s.created_at),
                    when(s.expires_at),
                    s.last_used_at.map_or_else(|| "never".to_owned(), when),
                    s.status.as_str().to_owned(),
                ]
            },
        )
    }

    /// A reminder pass: what was due (and to whom), then each attempt to send.
    fn reminders(&self, report: &PassReport, mode: Mode) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(report);
        }
        if report.due.is_empty() {
            println!("No reminders are due.");
        } else {
            println!("Reminders due:");
            self.table(
                &report.due,
                &["TO", "APPLICATION", "SECRET", "STAGE", "EXPIRES", "STATE"],
                |d| {
                    vec![
                        d.recipient.clone(),
                        d.application.clone(),
                        d.secret_name.clone(),
                        d.stage.clone(),
                        when(d.expires_at),
                        d.state.clone(),
                    ]
                },
            )?;
        }
        if mode == Mode::DryRun {
            println!("Dry run: nothing was recorded or sent.");
            return Ok(());
        }
        if report.attempts.is_empty() {
            println!("Nothing was waiting to be sent.");
            return Ok(());
        }
        println!("Sending:");
        self.table(
            &report.attempts,
            &["TO", "SECRET ID", "STAGE", "OUTCOME", "DETAIL"],
            |a| {
                vec![
                    a.recipient.clone(),
                    a.secret_id.clone(),
                    a.stage.clone(),
                    a.outcome.to_owned(),
                    a.detail.clone().unwrap_or_default(),
                ]
            },
        )
    }

    fn keys(&self, items: &[KeyInfo]) -> anyhow::Result<()> {
        self.table(items, &["KID", "ALGORITHM", "SIGNS FROM", "STATE"], |k| {
            vec![
                k.kid.clone(),
                k.algorithm.to_owned(),
                when(k.activates_at),
                k.state.to_owned(),
            ]
        })
    }

    fn assignments(&self, items: &[RoleAssignment]) -> anyhow::Result<()> {
        self.table(
            items,
            &["ID", "PERSON", "ROLE", "ORGANISATION", "GRANTED BY"],
            |a| {
                vec![
                    a.id.clone(),
                    a.email
                        .clone()
                        .or_else(|| a.subject.clone())
                        .unwrap_or_default(),
                    a.role.to_string(),
                    a.organisation_id
                        .clone()
                        .unwrap_or_else(|| "(platform)".to_owned()),
                    a.granted_by.clone(),
                ]
            },
        )
    }
}

fn yes_no(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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

    #[test]
    fn tables_align_columns() {
        let table = render_table(&["A", "LONGER"], &[vec!["wide value".into(), "x".into()]]);
        assert_eq!(table, "A           LONGER\nwide value  x\n");
    }
}
