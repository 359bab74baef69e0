//! Portal list benchmark: the latency of every list endpoint of the portal's API at the
//! scale issue 16 names (200 organisations, 10,000 applications, 20,000 secrets, 100,000
//! audit events, and 10,000 people), on SQLite and on PostgreSQL, over real HTTP against a
//! running `clavis serve` (release build), as a signed-in admin.
//!
//! Each endpoint is asked `SAMPLES` times in turn on one keep-alive connection, after
//! `WARM_UP` unmeasured requests; the table gives p50, p95 and p99 in milliseconds (time
//! to the whole body) and whether p99 is under the 20 ms target. The load generator shares
//! the machine with the server: compare figures of one run, not across machines.
//!
//! `cargo xtask bench-lists`, or `cargo bench -p clavis --bench portal_lists [-- sqlite|postgres]`.
//! Needs the local PostgreSQL (127.0.0.1:5432, user postgres, trust); the PostgreSQL run
//! uses a fresh database `clavis_bench_lists`, dropped at the end.
//!
//! With `BENCH_KEEP_DIR=<dir>` the databases stay for a look at query plans: SQLite's in
//! `<dir>/bench.db`, PostgreSQL's as `clavis_bench_lists` (until the next run).

// A benchmark that cannot set itself up has nothing to measure: unwrap fails it loudly.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, NaiveDateTime, Utc};
use clavis::db::schema::{
    application_apis, application_scopes, applications, audit_events, client_secrets,
    organisations, role_assignments, users,
};
use clavis::db::{Database, DbConn, DbTarget};
use clavis::session::{self, SessionSettings};
use clavis_shared::dto::Role;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::net::TcpListener;
use std::process::Command;
use std::time::Instant;

#[path = "support/ready.rs"]
mod ready;
use ready::wait_until_ready;

const ORGANISATIONS: usize = 200;
const APPLICATIONS_PER_ORGANISATION: usize = 50;
const SECRETS_PER_APPLICATION: usize = 2;
const PEOPLE_PER_ORGANISATION: usize = 50;
const AUDIT_EVENTS: usize = 100_000;
/// The audit events are spread evenly over this many days before now.
const AUDIT_DAYS: i64 = 365;
const WARM_UP: usize = 10;
const SAMPLES: usize = 200;
const TARGET_P99_MS: f64 = 20.0;
const POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const POSTGRES_DATABASE: &str = "clavis_bench_lists";

const COUNTRIES: [&str; 10] = ["NL", "BE", "DE", "FR", "DK", "SE", "NO", "FI", "PL", "ES"];
const ORGANISATION_WORDS: [&str; 8] = [
    "Harbour", "Nordic", "Atlas", "Delta", "Meridian", "Polar", "Tidal", "Coastal",
];
const FIRST_NAMES: [&str; 10] = [
    "Mia", "Noah", "Emma", "Lucas", "Sara", "Daan", "Julia", "Sem", "Lotte", "Finn",
];
const LAST_NAMES: [&str; 10] = [
    "Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "de Boer", "Bos",
    "Peters",
];

fn main() {
    println!(
        "Clavis portal lists: {ORGANISATIONS} organisations, {} applications, {} secrets, \
         {} people, {AUDIT_EVENTS} audit events; {SAMPLES} requests per endpoint, one at a time",
        ORGANISATIONS * APPLICATIONS_PER_ORGANISATION,
        ORGANISATIONS * APPLICATIONS_PER_ORGANISATION * SECRETS_PER_APPLICATION,
        ORGANISATIONS * PEOPLE_PER_ORGANISATION,
    );
    // `cargo bench --bench portal_lists -- postgres` runs one database only.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let mut over = 0;
    for backend in ["sqlite", "postgres"] {
        if only.is_empty() || only.iter().any(|name| name == backend) {
            over += run_backend(backend);
        }
    }
    if over > 0 {
        println!("{over} endpoint(s) over the {TARGET_P99_MS} ms p99 target");
    } else {
        println!("Every endpoint's p99 is under {TARGET_P99_MS} ms");
    }
}

/// Seeds a fresh database, serves it, measures every endpoint; the number over target.
fn run_backend(backend: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("BENCH_KEEP_DIR").map(std::path::PathBuf::from);
    let url = match backend {
        "sqlite" => {
            let file = keep.as_deref().unwrap_or(dir.path()).join("bench.db");
            let _ = std::fs::remove_file(&file);
            format!("sqlite://{}", file.display())
        }
        _ => {
            let mut admin = PgConnection::establish(&format!("{POSTGRES_SERVER}/postgres"))
                .expect("local PostgreSQL");
            // Two statements: neither may run inside the transaction a batch would be.
            admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)"
                ))
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {POSTGRES_DATABASE}"))
                .unwrap();
            format!("{POSTGRES_SERVER}/{POSTGRES_DATABASE}")
        }
    };
    let db = Database::open(DbTarget::parse(&url).unwrap(), 4).unwrap();
    db.migrate().unwrap();
    let started = Instant::now();
    let world = seed(&db);
    if backend == "postgres" {
        // What autovacuum does soon after a bulk load: fresh statistics for the planner.
        db.conn().unwrap().batch_execute("VACUUM ANALYZE").unwrap();
    }
    println!(
        "{backend}: seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let token = admin_session(&db, &base);
    let mut server = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("serve")
        .env("CLAVIS_DATABASE_URL", &url)
        .env("CLAVIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("CLAVIS_PUBLIC_URL", &base)
        .env("CLAVIS_MASTER_KEY_FILE", dir.path().join("master.key"))
        .env("CLAVIS_DATABASE_POOL_SIZE", "8")
        .env("CLAVIS_LOG_LEVEL", "error")
        .spawn()
        .expect("start clavis serve");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let over = runtime.block_on(measure(backend, &base, &token, &world));

    // SIGTERM: a graceful stop.
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    drop(db);
    if backend == "postgres" && keep.is_none() {
        let mut admin = PgConnection::establish(&format!("{POSTGRES_SERVER}/postgres")).unwrap();
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)"
            ))
            .unwrap();
    }
    over
}

/// What the requests name: an organisation, an application with secrets, a person.
struct World {
    organisation_id: String,
    client_id: String,
    person_email: String,
}

async fn measure(backend: &str, base: &str, token: &str, world: &World) -> usize {
    let http = reqwest::Client::new();
    wait_until_ready(&http, base).await;
    let organisation = &world.organisation_id;
    let client_id = &world.client_id;
    let person = &world.person_email;
    let today = Utc::now().date_naive();
    let (from, to) = (today - Duration::days(40), today - Duration::days(10));
    let endpoints: Vec<(&str, String)> = vec![
        ("organisations", "/api/v1/organisations".into()),
        (
            "organisations q=harbour",
            "/api/v1/organisations?q=harbour".into(),
        ),
        (
            "organisations page 8, sort -created",
            "/api/v1/organisations?page=8&sort=-created".into(),
        ),
        ("applications", "/api/v1/applications".into()),
        (
            "applications page 200",
            "/api/v1/applications?page=200".into(),
        ),
        (
            "applications q=atlas logistics 04",
            "/api/v1/applications?q=atlas%20logistics%2004".into(),
        ),
        (
            "applications sort organisation, page 100",
            "/api/v1/applications?sort=organisation&page=100".into(),
        ),
        (
            "applications of one organisation",
            format!("/api/v1/applications?organisation={organisation}"),
        ),
        ("people", "/api/v1/people".into()),
        ("people page 200", "/api/v1/people?page=200".into()),
        ("people q=jansen", "/api/v1/people?q=jansen".into()),
        (
            "people sort -last_sign_in, page 50",
            "/api/v1/people?sort=-last_sign_in&page=50".into(),
        ),
        (
            "people of one organisation, one role",
            format!("/api/v1/people?organisation={organisation}&role=credential_manager"),
        ),
        (
            "secrets of one application",
            format!("/api/v1/applications/{client_id}/secrets"),
        ),
        ("audit", "/api/v1/audit-events".into()),
        ("audit page 200", "/api/v1/audit-events?page=200".into()),
        (
            "audit organisation",
            format!("/api/v1/audit-events?organisation_id={organisation}"),
        ),
        (
            "audit application (client_id)",
            format!("/api/v1/audit-events?client_id={client_id}"),
        ),
        (
            "audit action=secret.create",
            "/api/v1/audit-events?action=secret.create".into(),
        ),
        (
            "audit action=secret.create page 20",
            "/api/v1/audit-events?action=secret.create&page=20".into(),
        ),
        (
            "audit actor substring",
            format!("/api/v1/audit-events?actor={person}"),
        ),
        (
            "audit actor name (jansen)",
            "/api/v1/audit-events?actor=jansen".into(),
        ),
        (
            "audit date range (30 days)",
            format!("/api/v1/audit-events?from={from}&to={to}"),
        ),
        (
            "audit organisation + action + range",
            format!(
                "/api/v1/audit-events?organisation_id={organisation}&action=token.issue&from={from}&to={to}"
            ),
        ),
    ];
    println!(
        "{:<10} {:<44} {:>8} {:>8} {:>8}  {:<6}",
        "database", "endpoint", "p50 ms", "p95 ms", "p99 ms", "p99<20"
    );
    let mut over = 0;
    for (name, path) in &endpoints {
        let url = format!("{base}{path}");
        let mut millis = Vec::with_capacity(SAMPLES);
        for n in 0..WARM_UP + SAMPLES {
            let started = Instant::now();
            let response = http
                .get(&url)
                .header("Cookie", format!("{}={token}", session::SESSION_COOKIE))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.bytes().await.unwrap();
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            assert!(
                status.is_success(),
                "{name}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            if n >= WARM_UP {
                millis.push(elapsed);
            }
        }
        millis.sort_by(f64::total_cmp);
        let (p50, p95, p99) = (
            percentile(&millis, 50.0),
            percentile(&millis, 95.0),
            percentile(&millis, 99.0),
        );
        let met = p99 < TARGET_P99_MS;
        if !met {
            over += 1;
        }
        println!(
            "{backend:<10} {name:<44} {p50:>8.2} {p95:>8.2} {p99:>8.2}  {}",
            if met { "yes" } else { "NO" }
        );
    }
    over
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A platform admin (granted through the library, as the CLI does) with a session opened
/// as a sign-in would: the session cookie's token.
fn admin_session(db: &Database, base: &str) -> String {
    let mut conn = db.conn().unwrap();
    let now = clavis::db::now();
    let assignment = clavis::users::grant(
        &mut conn,
        &clavis::users::Person::Email("bench.admin@clavis.example".into()),
        Role::Admin,
        None,
        &clavis::access::Actor::System,
        now,
    )
    .unwrap();
    let settings = SessionSettings {
        idle_timeout: Duration::hours(1),
        lifetime: Duration::hours(12),
        secure_cookie: false,
        public_origin: base.to_owned(),
    };
    let (token, _) = session::create(&mut conn, &assignment.user_id, &[], &settings, now).unwrap();
    token.expose().to_owned()
}

#[derive(Insertable)]
#[diesel(table_name = organisations)]
#[diesel(treat_none_as_default_value = false)]
struct OrganisationRow {
    id: String,
    name: String,
    country: String,
    sandbox: bool,
    created_at: NaiveDateTime,
    notification_email: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = applications)]
#[diesel(treat_none_as_default_value = false)]
struct ApplicationRow {
    id: String,
    organisation_id: String,
    name: String,
    client_id: String,
    description: String,
    environment: String,
    enabled: bool,
    token_lifetime_secs: i32,
    created_at: NaiveDateTime,
    created_by: String,
    tokens_revoked_before: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = application_apis)]
struct GrantRow {
    application_id: String,
    api_id: String,
}

#[derive(Insertable)]
#[diesel(table_name = application_scopes)]
struct ScopeRow {
    application_id: String,
    api_id: String,
    scope: String,
}

#[derive(Insertable)]
#[diesel(table_name = client_secrets)]
#[diesel(treat_none_as_default_value = false)]
struct SecretRow {
    id: String,
    application_id: String,
    name: String,
    hint: String,
    secret_hash: String,
    created_at: NaiveDateTime,
    created_by: String,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    description: String,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_default_value = false)]
struct UserRow {
    id: String,
    issuer: Option<String>,
    subject: Option<String>,
    email: Option<String>,
    display_name: Option<String>,
    created_at: NaiveDateTime,
    last_login_at: Option<NaiveDateTime>,
    claimed_role: Option<String>,
    claimed_organisation_id: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = role_assignments)]
#[diesel(treat_none_as_default_value = false)]
struct RoleRow {
    id: String,
    user_id: String,
    role: String,
    organisation_id: Option<String>,
    granted_at: NaiveDateTime,
    granted_by: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
#[diesel(treat_none_as_default_value = false)]
struct AuditRow {
    occurred_at: NaiveDateTime,
    actor_kind: String,
    actor: String,
    action: String,
    organisation_id: Option<String>,
    application_id: Option<String>,
    secret_id: Option<String>,
    source_address: Option<String>,
    outcome: String,
    details: String,
}

/// Inserts `$rows` into `$table` in one transaction, many rows per statement (the
/// multi-backend connection has no batch insert, so each backend's own connection does it).
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = &$rows;
        match &mut *$conn {
            DbConn::Postgres(conn) => conn
                .transaction::<_, diesel::result::Error, _>(|conn| {
                    for chunk in rows.chunks(1000) {
                        diesel::insert_into($table).values(chunk).execute(conn)?;
                    }
                    Ok(())
                })
                .unwrap(),
            DbConn::Sqlite(conn) => conn
                .transaction::<_, diesel::result::Error, _>(|conn| {
                    for chunk in rows.chunks(500) {
                        diesel::insert_into($table).values(chunk).execute(conn)?;
                    }
                    Ok(())
                })
                .unwrap(),
        }
    }};
}

/// The organisations, one API, the applications with their grants and secrets, the people
/// with their roles, and the audit trail.
fn seed(db: &Database) -> World {
    let now = clavis::db::now();
    let at = |days_ago: i64, minutes: i64| {
        (now - Duration::days(days_ago) + Duration::minutes(minutes)).naive_utc()
    };
    let mut conn = db.conn().unwrap();
    let api = clavis::apis::create(
        &mut conn,
        &clavis_shared::portal::CreateApi {
            code: "SMC".into(),
            name: "Ship Manifests".into(),
            audience: "https://api.example.org/smc".into(),
            scopes: vec!["manifest.read".into(), "manifest.write".into()],
            ..Default::default()
        },
        &clavis::access::Actor::System,
        now,
    )
    .unwrap();
    let api_id: String = clavis::db::schema::apis::table
        .filter(clavis::db::schema::apis::code.eq(&api.code))
        .select(clavis::db::schema::apis::id)
        .first(&mut *conn)
        .unwrap();

    let organisations: Vec<OrganisationRow> = (0..ORGANISATIONS)
        .map(|n| OrganisationRow {
            id: clavis::db::new_id(),
            name: format!(
                "{} Logistics {n:03}",
                ORGANISATION_WORDS[n % ORGANISATION_WORDS.len()]
            ),
            country: COUNTRIES[n % COUNTRIES.len()].into(),
            sandbox: n % 10 == 9,
            created_at: at(900 - n as i64, 0),
            notification_email: (n % 2 == 0).then(|| format!("ops@org{n:03}.example")),
        })
        .collect();
    insert_all!(conn, organisations::table, organisations);

    let mut applications = Vec::new();
    for (o, organisation) in organisations.iter().enumerate() {
        for k in 0..APPLICATIONS_PER_ORGANISATION {
            applications.push(ApplicationRow {
                id: clavis::db::new_id(),
                organisation_id: organisation.id.clone(),
                name: format!(
                    "Partner-{}-{}-SMC-{k:02}",
                    organisation.country, organisation.name
                ),
                client_id: uuid::Uuid::new_v4().hyphenated().to_string(),
                description: String::new(),
                environment: if organisation.sandbox {
                    "sandbox"
                } else {
                    "production"
                }
                .into(),
                enabled: k % 25 != 24,
                token_lifetime_secs: 3600,
                created_at: at(800 - (o as i64), k as i64 * 7),
                created_by: "cli:ops".into(),
                tokens_revoked_before: None,
            });
        }
    }
    insert_all!(conn, applications::table, applications);
    let grants: Vec<GrantRow> = applications
        .iter()
        .map(|application| GrantRow {
            application_id: application.id.clone(),
            api_id: api_id.clone(),
        })
        .collect();
    insert_all!(conn, application_apis::table, grants);
    let scopes: Vec<ScopeRow> = applications
        .iter()
        .map(|application| ScopeRow {
            application_id: application.id.clone(),
            api_id: api_id.clone(),
            scope: "manifest.read".into(),
        })
        .collect();
    insert_all!(conn, application_scopes::table, scopes);

    // A bench fixture: argon2id at full cost for 20,000 secrets would take minutes, and the
    // lists never verify a hash, so every secret carries the PHC string of one real value.
    let value = clavis::secrets::value::ClientSecretValue::generate(uuid::Uuid::new_v4());
    let phc = clavis::secrets::hash::hash(&value)
        .unwrap()
        .as_phc()
        .to_owned();
    let mut secrets = Vec::new();
    let mut secret_ids = Vec::new();
    for (a, application) in applications.iter().enumerate() {
        for s in 0..SECRETS_PER_APPLICATION {
            let id = clavis::db::new_id();
            secret_ids.push(id.clone());
            let created = at(400 - (a % 300) as i64 - s as i64 * 30, 0);
            secrets.push(SecretRow {
                id,
                application_id: application.id.clone(),
                name: if s == 0 { "primary" } else { "rotation" }.into(),
                hint: "k7Q".into(),
                secret_hash: phc.clone(),
                created_at: created,
                created_by: "cli:ops".into(),
                expires_at: created + Duration::days(365),
                last_used_at: (a % 3 != 0).then_some(at(a as i64 % 20, 0)),
                description: String::new(),
            });
        }
    }
    insert_all!(conn, client_secrets::table, secrets);

    let mut people = Vec::new();
    let mut roles = Vec::new();
    for (o, organisation) in organisations.iter().enumerate() {
        for k in 0..PEOPLE_PER_ORGANISATION {
            let n = o * PEOPLE_PER_ORGANISATION + k;
            let id = clavis::db::new_id();
            let signed_in = n % 10 < 7;
            people.push(UserRow {
                id: id.clone(),
                issuer: signed_in.then(|| "https://login.example.test".to_owned()),
                subject: signed_in.then(|| format!("sub-{n:05}")),
                email: Some(format!("person{n:05}@org{o:03}.example")),
                display_name: signed_in.then(|| {
                    format!(
                        "{} {}",
                        FIRST_NAMES[n % FIRST_NAMES.len()],
                        LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()]
                    )
                }),
                created_at: at(700 - o as i64, k as i64),
                last_login_at: signed_in.then(|| at((n % 90) as i64, k as i64)),
                claimed_role: None,
                claimed_organisation_id: None,
            });
            roles.push(RoleRow {
                id: clavis::db::new_id(),
                user_id: id,
                role: if k < 5 {
                    "credential_manager"
                } else {
                    "viewer"
                }
                .into(),
                organisation_id: Some(organisation.id.clone()),
                granted_at: at(700 - o as i64, k as i64),
                granted_by: "cli:ops".into(),
            });
        }
    }
    insert_all!(conn, users::table, people);
    insert_all!(conn, role_assignments::table, roles);

    // Newest last, as they are written; mostly token issues, as in real life.
    let span_minutes = AUDIT_DAYS * 24 * 60;
    let audit: Vec<AuditRow> = (0..AUDIT_EVENTS)
        .map(|i| {
            let a = (i * 7919) % applications.len();
            let application = &applications[a];
            let o = a / APPLICATIONS_PER_ORGANISATION;
            let manager = &people[o * PEOPLE_PER_ORGANISATION + (i % 5)];
            let manager = manager.email.clone().unwrap();
            let secret = &secret_ids[a * SECRETS_PER_APPLICATION];
            let (actor_kind, actor, action, outcome, with_app, with_secret) = match i % 20 {
                0..=11 => (
                    "client",
                    application.client_id.clone(),
                    "token.issue",
                    "success",
                    true,
                    true,
                ),
                12 => (
                    "client",
                    application.client_id.clone(),
                    "client.authenticate",
                    "failure",
                    true,
                    false,
                ),
                13 => ("user", manager, "secret.create", "success", true, true),
                14 => ("user", manager, "secret.delete", "success", true, true),
                15 => (
                    "user",
                    "bench.admin@clavis.example".into(),
                    "application.update",
                    "success",
                    true,
                    false,
                ),
                16 => ("user", manager, "login", "success", false, false),
                17 => ("user", manager, "logout", "success", false, false),
                18 => (
                    "cli",
                    "cli:ops".into(),
                    "role.grant",
                    "success",
                    false,
                    false,
                ),
                _ => (
                    "system",
                    "system".into(),
                    "reminder.sent",
                    "success",
                    true,
                    true,
                ),
            };
            AuditRow {
                occurred_at: (now - Duration::minutes(span_minutes)
                    + Duration::minutes(span_minutes * i as i64 / AUDIT_EVENTS as i64))
                .naive_utc(),
                actor_kind: actor_kind.into(),
                actor,
                action: action.into(),
                organisation_id: Some(application.organisation_id.clone()),
                application_id: with_app.then(|| application.id.clone()),
                secret_id: with_secret.then(|| secret.clone()),
                source_address: Some(format!("192.0.2.{}", i % 250)),
                outcome: outcome.into(),
                details: if action == "token.issue" {
                    r#"{"scopes":["manifest.read"],"audience":"https://api.example.org/smc"}"#
                        .into()
                } else {
                    "{}".into()
                },
            }
        })
        .collect();
    insert_all!(conn, audit_events::table, audit);

    World {
        organisation_id: organisations[17].id.clone(),
        client_id: applications[17 * APPLICATIONS_PER_ORGANISATION + 3]
            .client_id
            .clone(),
        person_email: "person00852".into(),
    }
}
