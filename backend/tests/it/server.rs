//! A real Clavis server on a loopback port, on a test database, for tests over HTTP.

use actix_web::HttpServer;
use actix_web::dev::ServerHandle;
use clavis::app::{self, AppState, Background};
use clavis::config::Config;
use std::net::{IpAddr, TcpListener};

use crate::support::TestDb;

pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub db: TestDb,
    handle: ServerHandle,
    background: Background,
    dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts Clavis; `settings` are extra lines of its TOML config file.
    pub async fn start(db: TestDb, settings: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(db, settings, dir).await
    }

    /// Starts Clavis with its config and master key file in `dir` (kept across restarts).
    pub async fn start_in(db: TestDb, settings: &str, dir: tempfile::TempDir) -> Self {
        let (listener, _) = loopback_listener();
        Self::launch(db, settings, dir, listener).await
    }

    /// Starts Clavis on a listener bound beforehand (see [`loopback_listener`]), for
    /// settings that must know Clavis's own URL, such as an identity provider's redirect URI.
    pub async fn start_on(db: TestDb, settings: &str, listener: TcpListener) -> Self {
        Self::launch(db, settings, tempfile::tempdir().unwrap(), listener).await
    }

    async fn launch(
        db: TestDb,
        settings: &str,
        dir: tempfile::TempDir,
        listener: TcpListener,
    ) -> Self {
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let portal = dir.path().join("dist");
        std::fs::create_dir_all(&portal).unwrap();
        std::fs::write(
            portal.join("index.html"),
            "<!DOCTYPE html><title>Clavis portal</title>",
        )
        .unwrap();
        std::fs::write(portal.join("style-abc.css"), "body { margin: 0 }").unwrap();
        let config_file = dir.path().join("clavis.toml");
        // Settings may name another public URL (an https one, as behind a TLS proxy).
        let public_url = if settings.lines().any(|line| line.starts_with("public_url")) {
            String::new()
        } else {
            format!("public_url = \"{base}\"\n")
        };
        std::fs::write(
            &config_file,
            format!(
                "database_url = \"{}\"\n{public_url}frontend_dir = \"{}\"\nmaster_key_file = \"{}\"\nlog_level = \"warn\"\n{settings}\n",
                db.url,
                portal.display(),
                dir.path().join("master.key").display()
            ),
        )
        .unwrap();
        let config = Config::load(Some(&config_file)).expect("test config");
        let (state, background) = app::start(&config, db.db.clone())
            .await
            .expect("start Clavis");
        let served = state.clone();
        let server = HttpServer::new(move || app::build(served.clone()))
            .workers(2)
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            base,
            state,
            db,
            handle,
            background,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` anonymously, as JSON (the JWKS, the discovery documents).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = http().get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Grants `email` the `role` (in the organisation of that name or id) and opens a
    /// session for them, as a sign-in would: (their user id, the session cookie's token).
    pub fn signed_in(
        &self,
        email: &str,
        role: clavis_shared::dto::Role,
        organisation: Option<&str>,
    ) -> (String, String) {
        let mut conn = self.db.conn();
        let now = clavis::db::now();
        let assignment = clavis::users::grant(
            &mut conn,
            &clavis::users::Person::Email(email.into()),
            role,
            organisation,
            &crate::support::admin(),
            now,
        )
        .unwrap();
        let (token, _) = clavis::session::create(
            &mut conn,
            &assignment.user_id,
            &[],
            &self.state.login.sessions,
            now,
        )
        .unwrap();
        (assignment.user_id, token.expose().to_owned())
    }

    /// A second instance on the same PostgreSQL database, with the same master key and the
    /// same public URL (so the same issuer), as instances behind a load balancer run;
    /// `settings` as for [`TestServer::start`].
    pub async fn another_instance(&self, settings: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            self.dir.path().join("master.key"),
            dir.path().join("master.key"),
        )
        .unwrap();
        let settings = format!("public_url = \"{}\"\n{settings}", self.base);
        let (listener, _) = loopback_listener();
        Self::launch(self.db.shared(), &settings, dir, listener).await
    }

    /// Stops gracefully (as on Ctrl-C), so queued audit events and usage are written; returns
    /// the database and the directory with the master key for a restart.
    pub async fn stop(self) -> (TestDb, tempfile::TempDir) {
        self.handle.stop(true).await;
        self.background.shutdown().await;
        (self.db, self.dir)
    }
}

/// A listener on a free loopback port, and the base URL it serves.
pub fn loopback_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, base)
}

/// An HTTP client that connects from the given loopback address (each is its own "client
/// machine" for throttling).
pub fn http_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

pub fn http() -> reqwest::Client {
    http_from("127.0.0.1")
}
