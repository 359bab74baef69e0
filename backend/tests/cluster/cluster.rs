//! The environment every check runs in: a PostgreSQL of its own, an SMTP sink, `clavis serve`
//! instances (the built binary, as operators run it) sharing one master key, and haproxy in
//! front of them. Seeds an organisation, an API, applications with one secret each, and a
//! credential manager's portal session.

use clavis::access::Actor;
use clavis::db::{Database, DbTarget};
use clavis_shared::dto::Role;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::haproxy::Haproxy;
use crate::postgres::Postgres;
use crate::smtp_sink::SmtpSink;

/// How often each instance runs a reminder pass.
pub const REMINDER_INTERVAL_SECS: u64 = 2;
/// How long a rotated key is published before it signs. The maintenance that reloads keys
/// runs every quarter of it: this is the reload interval the key check holds B to.
pub const KEY_PUBLISH_LEAD_SECS: u64 = 8;
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(KEY_PUBLISH_LEAD_SECS / 4);
/// Applications seeded with a secret each, for the token load.
const CLIENTS: usize = 4;
/// The credential manager whose portal session the checks use.
pub const MANAGER: &str = "mia.manager@acme.test";
pub const ORGANISATION: &str = "Acme";

/// An application's credentials.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub secret: String,
}

pub struct Cluster {
    /// Shared with the blocking tasks that stop and start it under load.
    pub postgres: std::sync::Arc<Postgres>,
    pub sink: SmtpSink,
    pub balancer: Haproxy,
    pub instances: Vec<Instance>,
    pub clients: Vec<Client>,
    /// The manager's session cookie value.
    pub session: String,
    manager_id: String,
    /// The database, for seeding and counting.
    target: DbTarget,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts everything, with one instance per name, and waits until each is ready.
    pub async fn start(names: &[&'static str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let postgres = std::sync::Arc::new(Postgres::start());
        let cluster_url = postgres.url();
        let db = Database::open(DbTarget::parse(&cluster_url).unwrap(), 1).unwrap();
        db.migrate().unwrap();
        let balancer_port = crate::free_port();
        let public_url = format!("http://127.0.0.1:{balancer_port}");
        let (clients, manager_id) = seed(&db);
        let sink = SmtpSink::start();
        let master_key = master_key();
        let portal = dir.path().join("portal");
        std::fs::create_dir_all(&portal).unwrap();
        std::fs::write(
            portal.join("index.html"),
            "<!DOCTYPE html><title>Clavis</title>",
        )
        .unwrap();
        let mut instances: Vec<Instance> = names
            .iter()
            .map(|name| {
                let port = crate::free_port();
                let data = dir.path().join(name);
                std::fs::create_dir_all(&data).unwrap();
                let env = vec![
                    ("CLAVIS_DATABASE_URL", postgres.url()),
                    ("CLAVIS_LISTEN", format!("127.0.0.1:{port}")),
                    ("CLAVIS_PUBLIC_URL", public_url.clone()),
                    ("CLAVIS_DATA_DIR", data.display().to_string()),
                    ("CLAVIS_FRONTEND_DIR", portal.display().to_string()),
                    ("CLAVIS_MASTER_KEY", master_key.clone()),
                    ("CLAVIS_TRUSTED_PROXIES", "127.0.0.1".to_owned()),
                    ("CLAVIS_LOG_LEVEL", "warn".to_owned()),
                    ("CLAVIS_SMTP_HOST", "127.0.0.1".to_owned()),
                    ("CLAVIS_SMTP_PORT", sink.port().to_string()),
                    ("CLAVIS_SMTP_TLS", "none".to_owned()),
                    ("CLAVIS_SMTP_FROM", format!("Clavis <{}>", sender(name))),
                    (
                        "CLAVIS_REMINDER_INTERVAL_SECS",
                        REMINDER_INTERVAL_SECS.to_string(),
                    ),
                    (
                        "CLAVIS_KEY_PUBLISH_LEAD_SECS",
                        KEY_PUBLISH_LEAD_SECS.to_string(),
                    ),
                ];
                Instance {
                    name,
                    port,
                    base: format!("http://127.0.0.1:{port}"),
                    env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    log: dir.path().join(format!("{name}.log")),
                    child: None,
                }
            })
            .collect();
        for instance in &mut instances {
            instance.start();
        }
        let servers: Vec<(&str, u16)> = instances.iter().map(|i| (i.name, i.port)).collect();
        let balancer = Haproxy::start(balancer_port, &servers);
        let mut cluster = Self {
            postgres,
            sink,
            balancer,
            instances,
            clients,
            session: String::new(),
            manager_id,
            target: DbTarget::parse(&cluster_url).unwrap(),
            _dir: dir,
        };
        cluster.session = cluster.new_session();
        for instance in &cluster.instances {
            instance.wait_until_ready().await;
        }
        cluster
    }

    /// A new portal session of the credential manager, opened as a sign-in opens one (the
    /// suite runs no identity provider): the cookie's value.
    pub fn new_session(&self) -> String {
        let settings = clavis::session::SessionSettings {
            idle_timeout: chrono::Duration::minutes(30),
            lifetime: chrono::Duration::hours(12),
            secure_cookie: false,
            public_origin: self.balancer.base.clone(),
        };
        let (token, _) = clavis::session::create(
            &mut self.conn(),
            &self.manager_id,
            &[],
            &settings,
            clavis::db::now(),
        )
        .unwrap();
        token.expose().to_owned()
    }

    /// `clavis <args>` on the cluster's database and master key, as an operator runs it on
    /// one of the machines; its output, or a panic when it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let instance = &self.instances[0];
        let output = Command::new(env!("CARGO_BIN_EXE_clavis"))
            .args(args)
            .envs(instance.env.iter().map(|(k, v)| (k, v)))
            .env("CLAVIS_SMTP_FROM", format!("Clavis <{}>", sender("cli")))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "clavis {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.balancer.base)
    }

    /// A connection of its own to the cluster's database: new each time, since the checks
    /// restart PostgreSQL.
    pub fn conn(&self) -> clavis::db::DbConn {
        self.target.connect().unwrap()
    }

    /// A plain SQL count on the cluster's database (the suite does not trust the code under
    /// test to count for it).
    pub fn count(&self, sql: &str) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(sql)
            .get_result::<Count>(&mut self.conn())
            .unwrap()
            .n
    }

    /// The `jti` of every token the audit trail says was issued.
    pub fn audited_jtis(&self) -> std::collections::HashSet<String> {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Details {
            #[diesel(sql_type = diesel::sql_types::Text)]
            details: String,
        }
        diesel::sql_query(
            "SELECT details FROM audit_events WHERE action = 'token.issue' AND outcome = 'success'",
        )
        .load::<Details>(&mut self.conn())
        .unwrap()
        .into_iter()
        .filter_map(|row| {
            let details: serde_json::Value = serde_json::from_str(&row.details).ok()?;
            details["jti"].as_str().map(str::to_owned)
        })
        .collect()
    }
}

/// The sender address of an instance's reminders: the SMTP sink tells the instances apart by
/// it.
pub fn sender(name: &str) -> String {
    format!("instance-{name}@clavis.test")
}

/// A random master key (base64 of 32 bytes), the same for every instance.
fn master_key() -> String {
    use base64::Engine;
    use rand_core::RngCore;
    let mut key = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Acme with the SMC API, [`CLIENTS`] applications with a secret each, and its credential
/// manager: (the clients, the manager's user id).
fn seed(db: &Database) -> (Vec<Client>, String) {
    let now = clavis::db::now();
    let actor = &Actor::System;
    let mut conn = db.conn().unwrap();
    clavis::orgs::create(
        &mut conn,
        &clavis_shared::portal::CreateOrganisation {
            name: ORGANISATION.into(),
            country: "NL".into(),
            sandbox: false,
            notification_email: None,
        },
        actor,
        now,
    )
    .unwrap();
    clavis::apis::create(
        &mut conn,
        &clavis_shared::portal::CreateApi {
            code: "SMC".into(),
            name: "Ship Manifests".into(),
            audience: "https://api.example.org/smc".into(),
            scopes: vec!["manifest.read".into()],
            ..Default::default()
        },
        actor,
        now,
    )
    .unwrap();
    let clients = (0..CLIENTS)
        .map(|n| {
            let (client_id, secret) = application_with_secret(
                &mut conn,
                ORGANISATION,
                &format!("load-{n}"),
                now,
                now + chrono::Duration::days(90),
            );
            Client { client_id, secret }
        })
        .collect();
    let assignment = clavis::users::grant(
        &mut conn,
        &clavis::users::Person::Email(MANAGER.into()),
        Role::CredentialManager,
        Some(ORGANISATION),
        actor,
        now,
    )
    .unwrap();
    (clients, assignment.user_id)
}

/// A new application of `organisation` calling SMC, named `name`, with one secret created at
/// `created` that expires at `expires`: (client_id, secret value).
pub fn application_with_secret(
    conn: &mut clavis::db::DbConn,
    organisation: &str,
    name: &str,
    created: chrono::DateTime<chrono::Utc>,
    expires: chrono::DateTime<chrono::Utc>,
) -> (String, String) {
    let application = clavis::apps::create(
        conn,
        &clavis_shared::portal::CreateApplication {
            organisation_id: organisation.into(),
            name: Some(name.into()),
            api_codes: vec!["SMC".into()],
            ..Default::default()
        },
        &Actor::System,
        created,
    )
    .unwrap();
    let secret = clavis::secrets::create(
        conn,
        &application.client_id,
        name,
        expires,
        &Actor::System,
        created,
    )
    .unwrap();
    (application.client_id, secret.value)
}

/// One `clavis serve` process; restartable with the same settings and port.
pub struct Instance {
    pub name: &'static str,
    pub port: u16,
    pub base: String,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Instance {
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_clavis"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start clavis serve");
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the instance runs").id()
    }

    /// Waits until `/readyz` answers 200 (at most 60 s: the first start migrates).
    pub async fn wait_until_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = http.get(self.url("/readyz")).send().await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "instance {} did not become ready; its log: {}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL: the process dies at once, with whatever it held in memory.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the instance runs");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits (without blocking the load's tasks) until the process has exited.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the instance runs");
        signal(child.id(), "-TERM");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident memory now, in KiB (`VmRSS` of /proc/<pid>/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {which} {pid} failed");
}
