//! A PostgreSQL of the suite's own: `initdb` into a temporary directory, its own port, and
//! its socket in that directory, so stopping and restarting it disturbs nothing else on the
//! machine. The server runs as the `postgres` account when the suite runs as root (PostgreSQL
//! refuses to run as root).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// A new cluster (trust authentication, user `postgres`, fsync off: a test's data is
    /// thrown away), started, with an empty database `clavis`.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if running_as_root() {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let postgres = Self {
            port: crate::free_port(),
            bin: binaries(),
            data: dir.path().join("data"),
            dir,
        };
        postgres.run_tool(
            "initdb",
            &[
                "-D",
                &postgres.data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
        );
        postgres.start_server();
        postgres.run_tool(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &postgres.port.to_string(),
                "-U",
                "postgres",
                "clavis",
            ],
        );
        postgres
    }

    /// The URL of the `clavis` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/clavis", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&[
            "start",
            "-w",
            "-o",
            &options,
            "-l",
            &self.log().display().to_string(),
        ]);
    }

    /// Stops the server at once: clients are disconnected, as in a crash or a failover.
    pub fn stop_server(&self) {
        self.pg_ctl(&["stop", "-w", "-m", "fast"]);
    }

    /// Whether the server accepts connections now (`pg_isready`).
    pub fn accepting(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Polls [`Postgres::accepting`] every 20 ms; the moment it first answered yes.
    pub fn wait_until_accepting(&self, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.accepting() {
                return Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("PostgreSQL did not accept connections within {limit:?}");
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data.display().to_string();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        self.run_tool("pg_ctl", &all);
    }

    fn run_tool(&self, tool: &str, args: &[&str]) {
        run(as_postgres(&self.bin.join(tool)).args(args));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["-D", &data, "stop", "-m", "immediate"])
            .output();
    }
}

/// The newest PostgreSQL server binaries Debian installed (`/usr/lib/postgresql/<n>/bin`),
/// or those on PATH elsewhere.
fn binaries() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .or_else(|| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file())
        })
        .expect("PostgreSQL's server binaries (initdb, pg_ctl): apt-get install postgresql")
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn as_postgres(tool: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(tool);
        command
    } else {
        Command::new(tool)
    }
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
