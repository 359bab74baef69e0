//! `clavis serve` as a process of the test's own, for what only the real binary shows: TLS
//! as it is served, its log lines on standard error, signals, and the metrics listener.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::TestDb;

/// A `clavis serve` process of the test's own; killed when dropped.
pub struct ServeProcess {
    child: Child,
    pub port: u16,
    https: bool,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Starts `clavis serve` on a free loopback port with these settings (HTTPS when they
    /// name a certificate), and waits until it serves.
    pub async fn serve(db: &TestDb, settings: &[(&str, String)]) -> Self {
        let port = free_port();
        let https = settings
            .iter()
            .any(|(key, _)| *key == "CLAVIS_TLS_CERT_FILE");
        let scheme = if https { "https" } else { "http" };
        let mut all = vec![
            ("CLAVIS_LISTEN", format!("127.0.0.1:{port}")),
            ("CLAVIS_PUBLIC_URL", format!("{scheme}://127.0.0.1:{port}")),
        ];
        all.extend(settings.iter().cloned());
        let clavis = Self::spawn(db, &all, port);
        clavis.wait_for_log("Clavis is serving").await;
        clavis
    }

    /// Starts `clavis serve` with exactly these settings, without waiting.
    pub fn spawn(db: &TestDb, settings: &[(&str, String)], port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let https = settings
            .iter()
            .any(|(key, _)| *key == "CLAVIS_TLS_CERT_FILE");
        let mut child = clavis_command(db, dir.path(), settings)
            .arg("serve")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start clavis serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let collected = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            port,
            https,
            log,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until a log line contains `needle` (a readiness wait, not a timing assertion:
    /// the generous deadline only turns a hang into a readable failure) and returns it.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        for _ in 0..1200 {
            if let Some(line) = self.log_lines().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no log line with {needle:?}; the log:\n{}",
            self.log_lines().join("\n")
        );
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `clavis` with only the given settings (and the test database, and its own data directory).
pub fn clavis_command(db: &TestDb, dir: &Path, settings: &[(&str, String)]) -> Command {
    let portal = dir.join("dist");
    std::fs::create_dir_all(&portal).unwrap();
    std::fs::write(
        portal.join("index.html"),
        "<!DOCTYPE html><title>Clavis</title>",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_clavis"));
    for (key, _) in std::env::vars() {
        if key.starts_with("CLAVIS_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir)
        .env("CLAVIS_DATABASE_URL", &db.url)
        .env("CLAVIS_DATA_DIR", dir)
        .env("CLAVIS_MASTER_KEY", master_key())
        .env("CLAVIS_FRONTEND_DIR", &portal)
        .env("CLAVIS_LOG_LEVEL", "warn,clavis=info")
        .envs(settings.iter().map(|(key, value)| (key, value)));
    command
}

/// One master key for every `clavis` this test binary starts, so processes started one after
/// another on the same database open the same signing keys.
fn master_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use base64::Engine;
        use rand_core::RngCore;
        let mut key = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut key);
        base64::engine::general_purpose::STANDARD.encode(key)
    })
}
