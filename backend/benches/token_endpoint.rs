//! Token endpoint benchmark: starts Clavis (release build) on SQLite and on PostgreSQL,
//! creates clients, and drives `POST /oauth2/token` with wrk over keep-alive connections.
//!
//! Scenarios:
//! (a) repeated valid requests from a few clients (the verified-secret fast path);
//! (b) first requests from many distinct clients (every one needs argon2id);
//! (c) (a) again while another machine floods wrong secrets;
//! (d) (a) over HTTPS (keep-alive, so one TLS handshake per connection), from a second
//!     `clavis serve` on the same database with a certificate made by the bench.
//! (e) behind a real nginx (Clavis trusting it): (a) through nginx, then again while another
//!     client on the same proxy and address floods malformed values and unknown client_ids.
//! (f) private_key_jwt: ES256 client assertions, each with a new jti (so each is recorded in
//!     the database's replay table), all signed before the run.
//!
//! (g) federated: service account tokens of an issuer the bench runs (discovery and keys on
//!     HTTPS), each presented again and again as a workload does for the token's life.
//!
//! `cargo bench -p clavis --bench token_endpoint -- assertions` runs only (f) and (g).
//!
//! `cargo bench -p clavis --bench token_endpoint -- mtls` runs only (h) and (i): tokens over
//! mutual TLS (a registered client certificate, `self_signed_tls_client_auth`), and the same
//! for an application that requires a device, with `X-Device-Authorization`, against (d') the
//! secrets of (d) over HTTPS, both from a load generator that can present a certificate
//! ([`tls_load`]), which wrk cannot, in one run.
//!
//! `cargo bench -p clavis --bench token_endpoint -- metrics` (optionally naming a database)
//! runs only (a), alternately with the Prometheus metrics off and on (`CLAVIS_METRICS_LISTEN`,
//! scraped once a run), three rounds each, and prints both means and their difference: the
//! cost of recording them on the token endpoint, which must stay within 5%.
//!
//! Needs `wrk` and `nginx` (Debian packages) and the local PostgreSQL. The load generator shares the two
//! cores with the server: compare figures of one run, not across machines.

// A benchmark that cannot set itself up has nothing to measure: unwrap fails it loudly.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use clavis::access::Actor;
use clavis::db::{Database, DbTarget};
use clavis::{apis, apps, orgs, secrets};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[path = "../tests/it/nginx.rs"]
mod nginx;
#[path = "support/ready.rs"]
mod ready;
#[path = "support/tls_load.rs"]
mod tls_load;

const FEW_CLIENTS: usize = 4;
const MANY_CLIENTS: usize = 1_000;
const WRK_THREADS: usize = 2;
const WRK_CONNECTIONS: usize = 32;
const RUN_SECS: u64 = 10;
const FIRST_USE_SECS: u64 = 5;
const FLOOD_CONNECTIONS: usize = 8;
const POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// Assertions signed for (f): more than the run can send at 15,000 a second.
const ASSERTIONS: usize = 100_000;
/// How long (f) runs.
const ASSERTION_SECS: u64 = 5;
/// Workload tokens of (g): a few pods of one service account, each with its own token.
const WORKLOAD_TOKENS: i64 = 8;
/// Runs of (a) with the metrics off and on each, alternating, for the comparison.
const METRICS_ROUNDS: usize = 3;

struct Client {
    client_id: String,
    secret: String,
}

impl Client {
    fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.client_id, self.secret))
        )
    }
}

struct Figures {
    tokens_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!(
            "wrk is not installed: apt-get update && apt-get install wrk (or run `cargo xtask bench`)"
        );
        std::process::exit(1);
    }
    println!(
        "Clavis token endpoint: wrk, keep-alive, {WRK_THREADS} threads, {WRK_CONNECTIONS} connections"
    );
    println!(
        "{:<10} {:<44} {:>10} {:>8} {:>8} {:>7}",
        "database", "scenario", "tokens/s", "p50 ms", "p99 ms", "errors"
    );
    // `cargo bench --bench token_endpoint -- postgres` runs one database only; `metrics`
    // runs the comparison of (a) with the metrics off and on instead of every scenario.
    let mut only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let metrics_only = only.iter().any(|arg| arg == "metrics");
    let assertions_only = only.iter().any(|arg| arg == "assertions");
    let mtls_only = only.iter().any(|arg| arg == "mtls");
    only.retain(|arg| arg != "metrics" && arg != "assertions" && arg != "mtls");
    for backend in ["sqlite", "postgres"] {
        if only.is_empty() || only.iter().any(|name| name == backend) {
            if metrics_only {
                compare_metrics(backend);
            } else if assertions_only {
                run_assertions(backend);
            } else if mtls_only {
                run_mutual_tls(backend);
            } else {
                run_backend(backend);
            }
        }
    }
}

/// A seeded database of the benchmark's own, dropped (PostgreSQL) by [`Bench::finish`].
struct Bench {
    dir: tempfile::TempDir,
    /// The workload platform of (g), on HTTPS; `clavis serve` trusts its certificate.
    issuer: PlatformIssuer,
    url: String,
    pg_name: Option<String>,
    db: Database,
}

impl Bench {
    fn new(backend: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_name) = match backend {
            "sqlite" => (
                format!("sqlite://{}", dir.path().join("bench.db").display()),
                None,
            ),
            _ => {
                let name = format!("clavis_bench_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&format!("{POSTGRES_SERVER}/postgres"))
                    .expect("local PostgreSQL");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .unwrap();
                (format!("{POSTGRES_SERVER}/{name}"), Some(name))
            }
        };
        let db = Database::open(DbTarget::parse(&url).unwrap(), 16).unwrap();
        db.migrate().unwrap();
        let issuer = PlatformIssuer::start(dir.path());
        Self {
            issuer,
            dir,
            url,
            pg_name,
            db,
        }
    }

    fn settle(&self) {
        settle(&self.db, self.pg_name.is_some());
    }

    /// `clavis serve` on a free port, with the metrics listener on `metrics_port` if any:
    /// (process, base URL), once ready.
    fn serve(&self, metrics_port: Option<u16>) -> (std::process::Child, String) {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_clavis"));
        command
            .arg("serve")
            .env("CLAVIS_DATABASE_URL", &self.url)
            .env("CLAVIS_LISTEN", format!("127.0.0.1:{port}"))
            .env("CLAVIS_MASTER_KEY_FILE", self.dir.path().join("master.key"))
            .env("CLAVIS_DATABASE_POOL_SIZE", "16")
            .env("CLAVIS_LOG_LEVEL", "error")
            .env("CLAVIS_OUTBOUND_CA_FILE", &self.issuer.certificate_file)
            // For (e): nginx connects from 127.0.0.1. Direct requests from there carry no
            // forwarding headers, so (a) to (c) are unchanged.
            .env("CLAVIS_TRUSTED_PROXIES", "127.0.0.1");
        if let Some(metrics_port) = metrics_port {
            command.env("CLAVIS_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"));
        }
        let server = command.spawn().expect("start clavis serve");
        wait_until_ready(&base);
        (server, base)
    }

    fn finish(self) {
        drop(self.db);
        if let Some(name) = self.pg_name {
            let mut admin =
                PgConnection::establish(&format!("{POSTGRES_SERVER}/postgres")).unwrap();
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .unwrap();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// SIGTERM: a graceful stop that writes the queued audit events.
fn stop(mut server: std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
}

/// Scenario (a) with the metrics off and on, alternating so that drift of the machine
/// (other work on the shared cores) falls on both alike; prints each run, then the means.
fn compare_metrics(backend: &str) {
    let bench = Bench::new(backend);
    let (few, _, _) = seed(&bench.db, 0);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 1..=METRICS_ROUNDS {
        for metrics in [false, true] {
            bench.settle();
            let metrics_port = metrics.then(free_port);
            let (server, base) = bench.serve(metrics_port);
            for client in &few {
                assert_eq!(token_status(&base, client, "127.0.0.1"), 200);
            }
            let figures = wrk(&base, &few, RUN_SECS);
            let state = if metrics { "on" } else { "off" };
            report(
                backend,
                &format!("(a) metrics {state}, round {round}"),
                &figures,
            );
            if let Some(metrics_port) = metrics_port {
                let issued = issued_tokens(metrics_port);
                println!("{backend:<10}     the scrape counted {issued} issued tokens");
                on.push(figures.tokens_per_sec);
            } else {
                off.push(figures.tokens_per_sec);
            }
            stop(server);
        }
    }
    let mean = |runs: &[f64]| runs.iter().sum::<f64>() / runs.len() as f64;
    let (off, on) = (mean(&off), mean(&on));
    println!(
        "{backend:<10} (a) metrics off {off:.0} tokens/s, on {on:.0} tokens/s: {:+.1}% (limit -5%)",
        100.0 * (on - off) / off
    );
    bench.finish();
}

/// The issued tokens the metrics page counts.
fn issued_tokens(metrics_port: u16) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let page = runtime.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    page.lines()
        .filter(|line| {
            line.starts_with("clavis_token_requests_total{") && line.contains("outcome=\"issued\"")
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn run_backend(backend: &str) {
    let bench = Bench::new(backend);
    let (few, many, flooded) = seed(&bench.db, MANY_CLIENTS);
    bench.settle();
    let (server, base) = bench.serve(None);

    // Each "few" client proves its secret once, as a long-running client would have.
    for client in &few {
        assert_eq!(token_status(&base, client, "127.0.0.1"), 200);
    }
    let repeated = wrk(&base, &few, RUN_SECS);
    report(
        backend,
        &format!("(a) repeated valid, {FEW_CLIENTS} clients"),
        &repeated,
    );
    repeated_over_https(backend, &bench.url, bench.dir.path(), &few, &repeated);
    bench.settle();
    let first = wrk(&base, &many, FIRST_USE_SECS);
    report(
        backend,
        &format!("(b) first requests, {MANY_CLIENTS} distinct clients"),
        &first,
    );

    bench.settle();
    let flooding = Arc::new(AtomicBool::new(true));
    let (flood_requests, flood_throttled) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flood = flood(
        &format!("{base}/oauth2/token"),
        vec![wrong_secret(&flooded).basic()],
        "127.0.0.2",
        &flooding,
        &flood_requests,
        &flood_throttled,
    );
    let contended = wrk(&base, &few, RUN_SECS);
    flooding.store(false, Ordering::SeqCst);
    flood.join().unwrap();
    report(
        backend,
        "(c) valid clients during a wrong-secret flood",
        &contended,
    );
    println!(
        "{:<10} {:<44} {:>9.0}% of (a); flood: {} requests, {} throttled (429)",
        backend,
        "    (c) kept",
        100.0 * contended.tokens_per_sec / repeated.tokens_per_sec,
        flood_requests.load(Ordering::SeqCst),
        flood_throttled.load(Ordering::SeqCst)
    );

    bench.settle();
    behind_proxy(backend, &base, &few);

    bench.settle();
    private_key_jwt(backend, &base, &bench.db);
    bench.settle();
    federated(backend, &base, &bench);

    stop(server);
    bench.finish();
}

/// Only scenarios (f) and (g), on a database of their own.
fn run_assertions(backend: &str) {
    let bench = Bench::new(backend);
    seed(&bench.db, 0);
    bench.settle();
    let (server, base) = bench.serve(None);
    private_key_jwt(backend, &base, &bench.db);
    bench.settle();
    federated(backend, &base, &bench);
    stop(server);
    bench.finish();
}

/// A workload platform's OpenID Connect issuer on HTTPS (a self-signed certificate for
/// 127.0.0.1, which `clavis serve` trusts as `outbound_ca_file`), serving its discovery
/// document and one ES256 key, in a thread of the bench's own.
struct PlatformIssuer {
    url: String,
    certificate_file: std::path::PathBuf,
    key: rcgen::KeyPair,
}

impl PlatformIssuer {
    const KID: &str = "platform-1";

    fn start(dir: &std::path::Path) -> Self {
        let tls_key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .self_signed(&tls_key)
            .unwrap();
        let settings = clavis::tls::TlsSettings {
            cert_file: dir.join("issuer-cert.pem"),
            key_file: dir.join("issuer-key.pem"),
        };
        std::fs::write(&settings.cert_file, cert.pem()).unwrap();
        std::fs::write(&settings.key_file, tls_key.serialize_pem()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut jwk = clavis::client_keys::public_key::read(&key.public_key_pem())
            .unwrap()
            .jwk;
        jwk["kid"] = Self::KID.into();
        let discovery =
            serde_json::json!({ "issuer": url, "jwks_uri": format!("{url}/jwks.json") })
                .to_string();
        let jwks = serde_json::json!({ "keys": [jwk] }).to_string();
        let tls = clavis::tls::ServedCertificate::load(&settings)
            .unwrap()
            .server_config();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                actix_web::HttpServer::new(move || {
                    let (discovery, jwks) = (discovery.clone(), jwks.clone());
                    actix_web::App::new()
                        .route(
                            "/.well-known/openid-configuration",
                            actix_web::web::get().to(move || json_answer(discovery.clone())),
                        )
                        .route(
                            "/jwks.json",
                            actix_web::web::get().to(move || json_answer(jwks.clone())),
                        )
                })
                .workers(1)
                .listen_rustls_0_23(listener, tls)
                .unwrap()
                .run()
                .await
                .unwrap();
            });
        });
        Self {
            url,
            certificate_file: settings.cert_file,
            key,
        }
    }
}

async fn json_answer(body: String) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// Scenario (g): an application with a federated credential for a service account of the
/// bench's issuer, and [`WORKLOAD_TOKENS`] tokens of it, each sent again and again.
fn federated(backend: &str, base: &str, bench: &Bench) {
    const AUDIENCE: &str = "https://clavis.bench.example";
    const WORKLOAD: &str = "system:serviceaccount:bench:exporter";
    let issuer = &bench.issuer;
    let now = clavis::db::now();
    let mut conn = bench.db.conn().unwrap();
    let new = clavis_shared::portal::CreateApplication {
        organisation_id: "Bench".into(),
        name: Some("bench-federated".into()),
        api_codes: vec!["SMC".into()],
        ..Default::default()
    };
    let client_id = apps::create(&mut conn, &new, &Actor::System, now)
        .unwrap()
        .client_id;
    clavis::federation::trust(&mut conn, &issuer.url, None, &Actor::System, now).unwrap();
    let credential = clavis_shared::portal::AddFederatedCredential {
        name: "bench".into(),
        issuer: issuer.url.clone(),
        subject: WORKLOAD.into(),
        audience: Some(AUDIENCE.into()),
    };
    clavis::federation::add(
        &mut conn,
        &client_id,
        &credential,
        AUDIENCE,
        &Actor::System,
        now,
    )
    .unwrap();
    drop(conn);
    let signing = jsonwebtoken::EncodingKey::from_ec_der(&issuer.key.serialize_der());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(PlatformIssuer::KID.to_owned());
    let issued = chrono::Utc::now().timestamp();
    let bodies = tempfile::NamedTempFile::new().unwrap();
    let lines: Vec<String> = (0..WORKLOAD_TOKENS)
        .map(|n| {
            let claims = serde_json::json!({
                "iss": issuer.url, "sub": WORKLOAD, "aud": [AUDIENCE], "iat": issued - n,
                "exp": issued + 3000,
            });
            let token = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &client_id)
                .append_pair(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .append_pair("client_assertion", &token)
                .finish()
        })
        .collect();
    std::fs::write(bodies.path(), lines.join("\n")).unwrap();
    let figures = run_wrk(base, &bodies_script(bodies.path()), RUN_SECS);
    report(backend, "(g) federated, tokens reused", &figures);
}

/// Scenario (f): an application with an ES256 public key, and [`ASSERTIONS`] assertions of
/// it, each with its own jti, signed before wrk starts and sent once each.
fn private_key_jwt(backend: &str, base: &str, db: &Database) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let now = clavis::db::now();
    let mut conn = db.conn().unwrap();
    let new = clavis_shared::portal::CreateApplication {
        organisation_id: "Bench".into(),
        name: Some("bench-keyed".into()),
        api_codes: vec!["SMC".into()],
        ..Default::default()
    };
    let application = apps::create(&mut conn, &new, &Actor::System, now).unwrap();
    let client_id = application.client_id;
    clavis::client_keys::add(
        &mut conn,
        &client_id,
        "bench",
        &key.public_key_pem(),
        Some(now + Duration::days(30)),
        &Actor::System,
        now,
    )
    .unwrap();
    drop(conn);
    let audience = format!("{base}/oauth2/token");
    let signing = jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    let issued = chrono::Utc::now().timestamp();
    let bodies = tempfile::NamedTempFile::new().unwrap();
    let lines: Vec<String> = (0..ASSERTIONS)
        .map(|_| {
            let claims = serde_json::json!({
                "iss": client_id, "sub": client_id, "aud": audience, "iat": issued,
                "exp": issued + 300, "jti": uuid::Uuid::new_v4().to_string(),
            });
            let assertion = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
            form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .append_pair("client_assertion", &assertion)
                .finish()
        })
        .collect();
    std::fs::write(bodies.path(), lines.join("\n")).unwrap();
    let figures = run_wrk(base, &bodies_script(bodies.path()), ASSERTION_SECS);
    report(
        backend,
        "(f) private_key_jwt ES256, a new jti each",
        &figures,
    );
}

/// A wrk script that sends each line of `bodies` once (each thread its share, formatted
/// before the run); past the end it starts over, and the replays show as errors.
fn bodies_script(bodies: &std::path::Path) -> String {
    format!(
        r#"local threads = {WRK_THREADS}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local requests = {{}}
function init(args)
  local i = 0
  for line in io.lines("{}") do
    if i % threads == id then
      requests[#requests + 1] = wrk.format("POST", "/oauth2/token", {{ ["Content-Type"] = "application/x-www-form-urlencoded" }}, line)
    end
    i = i + 1
  end
end
local n = 0
function request()
  n = n + 1
  return requests[((n - 1) % #requests) + 1]
end
"#,
        bodies.display()
    )
}

/// An organisation, an API, FEW_CLIENTS + `many` applications with a secret each, and one
/// more application whose client_id the flood targets.
fn seed(db: &Database, many: usize) -> (Vec<Client>, Vec<Client>, Client) {
    let now = clavis::db::now();
    let actor = &Actor::System;
    let mut conn = db.conn().unwrap();
    orgs::create(
        &mut conn,
        &clavis_shared::portal::CreateOrganisation {
            name: "Bench".into(),
            country: "NL".into(),
            sandbox: false,
            notification_email: None,
        },
        actor,
        now,
    )
    .unwrap();
    apis::create(
        &mut conn,
        &clavis_shared::portal::CreateApi {
            code: "SMC".into(),
            name: "Ship Manifests".into(),
            audience: "https://api.example.org/smc".into(),
            scopes: vec!["manifest.read".into(), "manifest.write".into()],
            ..Default::default()
        },
        actor,
        now,
    )
    .unwrap();
    drop(conn);
    let total = FEW_CLIENTS + many + 1;
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let mut clients: Vec<Client> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                scope.spawn(move || {
                    let mut conn = db.conn().unwrap();
                    (worker..total)
                        .step_by(workers)
                        .map(|n| {
                            let new = clavis_shared::portal::CreateApplication {
                                organisation_id: "Bench".into(),
                                name: Some(format!("bench-{n}")),
                                api_codes: vec!["SMC".into()],
                                ..Default::default()
                            };
                            let application = apps::create(&mut conn, &new, actor, now).unwrap();
                            let secret = secrets::create(
                                &mut conn,
                                &application.client_id,
                                "bench",
                                now + Duration::days(30),
                                actor,
                                now,
                            )
                            .unwrap();
                            Client {
                                client_id: application.client_id,
                                secret: secret.value,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let flooded = clients.pop().unwrap();
    let many = clients.split_off(FEW_CLIENTS);
    (clients, many, flooded)
}

/// Lets the previous scenario's after-effects finish before the next one is measured: the
/// audit writer drains its queue, and the database tidies up after the rows it received
/// (otherwise PostgreSQL's autovacuum runs during the next scenario).
fn settle(db: &Database, postgres: bool) {
    std::thread::sleep(std::time::Duration::from_secs(2));
    let tidy = if postgres {
        "VACUUM ANALYZE"
    } else {
        "PRAGMA wal_checkpoint(TRUNCATE)"
    };
    db.conn().unwrap().batch_execute(tidy).unwrap();
}

/// Scenario (d): the requests of (a) over HTTPS, reported with their share of (a)'s rate.
fn repeated_over_https(
    backend: &str,
    url: &str,
    dir: &std::path::Path,
    few: &[Client],
    plain: &Figures,
) {
    let (server, base, _) = serve_https(url, dir);
    // Each client proves its secret to this process once, as in (a).
    wrk(&base, few, 2);
    let https = wrk(&base, few, RUN_SECS);
    report(
        backend,
        &format!("(d) repeated valid over HTTPS, {FEW_CLIENTS} clients"),
        &https,
    );
    println!(
        "{:<10} {:<44} {:>9.0}% of (a)",
        backend,
        "    (d) kept",
        100.0 * https.tokens_per_sec / plain.tokens_per_sec
    );
    stop(server);
}

/// A second `clavis serve`, on HTTPS with a self-signed certificate for 127.0.0.1 (wrk does
/// not verify certificates; the readiness check trusts only this one): (process, base URL,
/// the certificate's PEM).
fn serve_https(url: &str, dir: &std::path::Path) -> (std::process::Child, String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.join("https-cert.pem"), dir.join("https-key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let server = Command::new(env!("CARGO_BIN_EXE_clavis"))
        .arg("serve")
        .env("CLAVIS_DATABASE_URL", url)
        .env("CLAVIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("CLAVIS_PUBLIC_URL", &base)
        .env("CLAVIS_TLS_CERT_FILE", &cert_file)
        .env("CLAVIS_TLS_KEY_FILE", &key_file)
        .env("CLAVIS_MASTER_KEY_FILE", dir.join("master.key"))
        .env("CLAVIS_DATABASE_POOL_SIZE", "16")
        .env("CLAVIS_LOG_LEVEL", "error")
        .spawn()
        .expect("start clavis serve over HTTPS");
    let trusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    wait_until_ready_with(&trusting, &base);
    (server, base, cert.pem())
}

/// Scenario (h) against (d'), on a database of its own (see the module's notes).
fn run_mutual_tls(backend: &str) {
    let bench = Bench::new(backend);
    let (few, _, _) = seed(&bench.db, 0);
    let (client_id, identity) = certificate_client(&bench.db, "bench-mtls");
    let (device_client_id, device_identity) = certificate_client(&bench.db, "bench-device");
    let device = device_requirement(&bench.db, &device_client_id);
    bench.settle();
    let (server, base, server_pem) = serve_https(&bench.url, bench.dir.path());
    let url = format!("{base}/oauth2/token");
    let form = (
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    );
    let with_secret = tls_load::LoadRequest {
        url: url.clone(),
        headers: vec![form.clone(), ("authorization".to_owned(), few[0].basic())],
        body: "grant_type=client_credentials".to_owned(),
    };
    let with_certificate = tls_load::LoadRequest {
        url: url.clone(),
        headers: vec![form.clone()],
        body: format!("grant_type=client_credentials&client_id={client_id}"),
    };
    let with_device = tls_load::LoadRequest {
        url,
        headers: vec![form, ("x-device-authorization".to_owned(), device)],
        body: format!("grant_type=client_credentials&client_id={device_client_id}"),
    };
    let secs = std::time::Duration::from_secs(RUN_SECS);
    // The secret proves itself to this process once, as in (a).
    tls_load::run(
        &with_secret,
        &server_pem,
        None,
        std::time::Duration::from_secs(2),
    );
    let https = figures(tls_load::run(&with_secret, &server_pem, None, secs));
    report(backend, "(d') secret over HTTPS, reqwest load", &https);
    let mutual = figures(tls_load::run(
        &with_certificate,
        &server_pem,
        Some(&identity),
        secs,
    ));
    report(backend, "(h) mutual TLS, certificate-bound tokens", &mutual);
    kept(backend, "(h)", &mutual, &https);
    // The device secret proves itself to this process once, as a client secret does.
    tls_load::run(
        &with_device,
        &server_pem,
        Some(&device_identity),
        std::time::Duration::from_secs(2),
    );
    let devices = figures(tls_load::run(
        &with_device,
        &server_pem,
        Some(&device_identity),
        secs,
    ));
    report(backend, "(i) mutual TLS and a device header", &devices);
    kept(backend, "(i)", &devices, &https);
    stop(server);
    bench.finish();
}

/// The share of (d')'s rate a scenario keeps.
fn kept(backend: &str, scenario: &str, figures: &Figures, https: &Figures) {
    println!(
        "{:<10} {:<44} {:>9.0}% of (d')",
        backend,
        format!("    {scenario} kept"),
        100.0 * figures.tokens_per_sec / https.tokens_per_sec
    );
}

/// Makes `client_id` require a device, and gives organisation Bench one with a secret: the
/// `X-Device-Authorization` value that proves it.
fn device_requirement(db: &Database, client_id: &str) -> String {
    use base64::Engine;
    let now = clavis::db::now();
    let mut conn = db.conn().unwrap();
    let changes = clavis_shared::portal::UpdateApplication {
        requires_device: Some(true),
        ..Default::default()
    };
    apps::update(&mut conn, client_id, &changes, &Actor::System, now).unwrap();
    let new = clavis_shared::devices::CreateDevice {
        name: "bench node".into(),
        device_id: None,
    };
    let device = clavis::devices::create(&mut conn, "Bench", &new, &Actor::System, now).unwrap();
    let secret = clavis::devices::create_secret(
        &mut conn,
        &device.device_id,
        "bench",
        "",
        now + chrono::Duration::days(30),
        &Actor::System,
        now,
    )
    .unwrap();
    let pair = format!("{}:{}", device.device_id, secret.value);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn figures(load: tls_load::LoadFigures) -> Figures {
    Figures {
        tokens_per_sec: load.per_sec,
        p50_ms: load.p50_ms,
        p99_ms: load.p99_ms,
        errors: load.errors,
    }
}

/// An application with a registered self-signed client certificate: (client_id, the
/// certificate's PEM followed by its private key's, as the load generator presents it).
fn certificate_client(db: &Database, name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    params.not_before = epoch + std::time::Duration::from_secs(now - 86_400);
    params.not_after = epoch + std::time::Duration::from_secs(now + 30 * 86_400);
    let certificate = params.self_signed(&key).unwrap();
    let now = clavis::db::now();
    let mut conn = db.conn().unwrap();
    let new = clavis_shared::portal::CreateApplication {
        organisation_id: "Bench".into(),
        name: Some(name.into()),
        api_codes: vec!["SMC".into()],
        ..Default::default()
    };
    let client_id = apps::create(&mut conn, &new, &Actor::System, now)
        .unwrap()
        .client_id;
    clavis::client_keys::add(
        &mut conn,
        &client_id,
        "bench",
        &certificate.pem(),
        None,
        &Actor::System,
        now,
    )
    .unwrap();
    (client_id, certificate.pem() + &key.serialize_pem())
}

fn wait_until_ready(base: &str) {
    wait_until_ready_with(&reqwest::Client::new(), base);
}

fn wait_until_ready_with(http: &reqwest::Client, base: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(ready::wait_until_ready(http, base));
}

fn token_status(base: &str, client: &Client, source: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::Client::builder()
            .local_address(source.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
            .post(format!("{base}/oauth2/token"))
            .header("authorization", client.basic())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

/// Runs wrk against the token endpoint; each thread walks its own share of `clients`, so
/// with many clients every request is a client's first.
fn wrk(base: &str, clients: &[Client], secs: u64) -> Figures {
    let script = tempfile::Builder::new().suffix(".lua").tempfile().unwrap();
    let headers: Vec<String> = clients
        .iter()
        .map(|c| format!("\"{}\"", c.basic()))
        .collect();
    std::fs::write(
        script.path(),
        format!(
            r#"local headers = {{ {} }}
local threads = {WRK_THREADS}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
-- Requests are formatted once per thread, so the load generator spends its share of the
-- two cores on sending, not on building requests.
local requests = {{}}
function init(args)
  for i, header in ipairs(headers) do
    requests[i] = wrk.format("POST", "/oauth2/token", {{ ["Authorization"] = header, ["Content-Type"] = "application/x-www-form-urlencoded" }}, "grant_type=client_credentials")
  end
end
local n = 0
function request()
  local k = ((id + n * threads) % #requests) + 1
  n = n + 1
  return requests[k]
end
"#,
            headers.join(", ")
        ),
    )
    .unwrap();
    run_wrk_file(base, script.path(), secs)
}

/// Runs wrk with `script` (Lua) against the token endpoint for `secs`.
fn run_wrk(base: &str, script: &str, secs: u64) -> Figures {
    let file = tempfile::Builder::new().suffix(".lua").tempfile().unwrap();
    std::fs::write(file.path(), script).unwrap();
    run_wrk_file(base, file.path(), secs)
}

fn run_wrk_file(base: &str, script: &std::path::Path, secs: u64) -> Figures {
    let output = Command::new("wrk")
        .args([
            "-t",
            &WRK_THREADS.to_string(),
            "-c",
            &WRK_CONNECTIONS.to_string(),
            "-d",
            &format!("{secs}s"),
            "--latency",
            "-s",
            &script.display().to_string(),
            &format!("{base}/oauth2/token"),
        ])
        .output()
        .expect("run wrk");
    parse_wrk(&String::from_utf8_lossy(&output.stdout))
}

fn parse_wrk(text: &str) -> Figures {
    let value_after = |label: &str| {
        text.lines().find_map(|line| {
            line.trim()
                .strip_prefix(label)
                .map(|rest| rest.trim().to_owned())
        })
    };
    let millis = |text: Option<String>| {
        let text = text.unwrap_or_default();
        let number: f64 = text
            .trim_end_matches(|c: char| c.is_alphabetic())
            .parse()
            .unwrap_or(f64::NAN);
        match text.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.') {
            "us" => number / 1000.0,
            "s" => number * 1000.0,
            _ => number,
        }
    };
    let count = |label: &str| -> u64 {
        value_after(label)
            .map(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .filter(|s| !s.is_empty())
                    .map(|n| n.parse::<u64>().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    Figures {
        tokens_per_sec: value_after("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: millis(value_after("50%")),
        p99_ms: millis(value_after("99%")),
        errors: count("Non-2xx or 3xx responses:") + count("Socket errors:"),
    }
}

fn report(backend: &str, scenario: &str, figures: &Figures) {
    println!(
        "{:<10} {:<44} {:>10.0} {:>8.2} {:>8.2} {:>7}",
        backend, scenario, figures.tokens_per_sec, figures.p50_ms, figures.p99_ms, figures.errors
    );
}

/// Scenario (e): the proven `clients` through nginx, alone and then while another client on
/// the same proxy, from the same address, floods values that cannot be guesses.
fn behind_proxy(backend: &str, base: &str, clients: &[Client]) {
    let proxy = nginx::Nginx::start(base);
    let alone = wrk(&proxy.base, clients, RUN_SECS);
    report(backend, "(e) via nginx, repeated valid", &alone);
    let junk: Vec<String> = (0..64)
        .flat_map(|n| {
            let unknown = Client {
                client_id: format!("unknown-{n}"),
                secret: secrets::value::ClientSecretValue::generate(uuid::Uuid::new_v4())
                    .expose()
                    .to_owned(),
            };
            let malformed = Client {
                client_id: clients[n % clients.len()].client_id.clone(),
                secret: format!("malformed-{n}"),
            };
            [unknown.basic(), malformed.basic()]
        })
        .collect();
    let flooding = Arc::new(AtomicBool::new(true));
    let (requests, throttled) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flood = flood(
        &proxy.url("/oauth2/token"),
        junk,
        "127.0.0.1",
        &flooding,
        &requests,
        &throttled,
    );
    let flooded = wrk(&proxy.base, clients, RUN_SECS);
    flooding.store(false, Ordering::SeqCst);
    flood.join().unwrap();
    report(backend, "(e) via nginx, during a junk flood", &flooded);
    println!(
        "{:<10} {:<44} {:>9.0}% of (e) alone, {} non-2xx; flood: {} requests, {} throttled (429)",
        backend,
        "    (e) kept",
        100.0 * flooded.tokens_per_sec / alone.tokens_per_sec,
        flooded.errors,
        requests.load(Ordering::SeqCst),
        throttled.load(Ordering::SeqCst)
    );
}

/// A well-formed value for `target`'s secret id that is not its secret.
fn wrong_secret(target: &Client) -> Client {
    let secret_id = secrets::value::secret_id_of(&target.secret).unwrap();
    Client {
        client_id: target.client_id.clone(),
        secret: secrets::value::ClientSecretValue::generate(secret_id)
            .expose()
            .to_owned(),
    }
}

/// Another client, bound to `source`, sending the `authorizations` (Basic headers) in turn
/// to `url` as fast as FLOOD_CONNECTIONS connections allow, until told to stop.
fn flood(
    url: &str,
    authorizations: Vec<String>,
    source: &str,
    running: &Arc<AtomicBool>,
    requests: &Arc<AtomicU64>,
    throttled: &Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let (url, running, requests, throttled) = (
        url.to_owned(),
        running.clone(),
        requests.clone(),
        throttled.clone(),
    );
    let source = source.parse::<std::net::IpAddr>().unwrap();
    let authorizations = Arc::new(authorizations);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let http = reqwest::Client::builder()
                .local_address(source)
                .build()
                .unwrap();
            let tasks: Vec<_> = (0..FLOOD_CONNECTIONS)
                .map(|task| {
                    let (http, url, authorizations) =
                        (http.clone(), url.clone(), authorizations.clone());
                    let (running, requests, throttled) =
                        (running.clone(), requests.clone(), throttled.clone());
                    tokio::spawn(async move {
                        let mut n = task;
                        while running.load(Ordering::SeqCst) {
                            let status = http
                                .post(&url)
                                .header("authorization", &authorizations[n % authorizations.len()])
                                .header("content-type", "application/x-www-form-urlencoded")
                                .body("grant_type=client_credentials")
                                .send()
                                .await
                                .map(|r| r.status().as_u16())
                                .unwrap_or(0);
                            n += FLOOD_CONNECTIONS;
                            requests.fetch_add(1, Ordering::SeqCst);
                            if status == 429 {
                                throttled.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                let _ = task.await;
            }
        });
    })
}
