//! `clavis backup` and `clavis restore`, run as an operator would, against a Clavis that
//! serves tokens meanwhile. SQLite is backed up by Clavis; on PostgreSQL the commands point to
//! pg_dump and pg_restore.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::cli::without_settings;
use crate::oauth::{access_token, client_with_secret, form, jwks, verify_independently};
use crate::server::{TestServer, http};
use crate::support::TestDb;

/// Another instance's master key: opens none of the test server's signing keys.
const OTHER_MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// `clavis` with `data_dir` as its data directory and no other setting.
fn clavis(data_dir: &Path) -> Command {
    let mut command = without_settings(env!("CARGO_BIN_EXE_clavis").as_ref(), data_dir);
    command.env("CLAVIS_DATA_DIR", data_dir);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `command`, which must fail saying `why`; its standard error.
fn refused(command: &mut Command, why: &str) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(said.contains(why), "{said}");
    said
}

/// Runs `command` on a thread of its own, so the server on this test's runtime keeps serving.
async fn run_aside(mut command: Command) -> Output {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || sender.send(command.output().expect("run clavis")));
    receiver.await.unwrap()
}

/// Token requests in a loop until `stop`: counts answers by whether they were 200.
struct TokenLoad {
    stop: Arc<AtomicBool>,
    issued: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    workers: Vec<actix_web::rt::task::JoinHandle<()>>,
}

impl TokenLoad {
    fn start(server: &TestServer, client_id: &str, secret: &str, workers: usize) -> Self {
        let (stop, issued, failed) = Default::default();
        let mut load = Self {
            stop,
            issued,
            failed,
            workers: Vec::new(),
        };
        for _ in 0..workers {
            let (stop, issued, failed) = (
                Arc::clone(&load.stop),
                Arc::clone(&load.issued),
                Arc::clone(&load.failed),
            );
            let (url, client_id, secret) = (
                server.url("/oauth2/token"),
                client_id.to_owned(),
                secret.to_owned(),
            );
            load.workers.push(actix_web::rt::spawn(async move {
                let client = http();
                while !stop.load(Ordering::Relaxed) {
                    let answer = client
                        .post(&url)
                        .basic_auth(&client_id, Some(&secret))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form(&[("grant_type", "client_credentials")]))
                        .send()
                        .await;
                    let counter = match answer {
                        Ok(response) if response.status() == 200 => &issued,
                        _ => &failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        load
    }

    fn issued(&self) -> u32 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Stops the requests; returns (issued, failed).
    async fn finish(self) -> (u32, u32) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.unwrap();
        }
        (
            self.issued.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The backup is taken while tokens are issued (and their audit events and last-use times
/// written); restored into an empty data directory it runs a Clavis that honours the
/// original's tokens and issues tokens the original's JWKS verifies.
#[actix_web::test]
async fn a_backup_under_load_restores_to_a_clavis_that_honours_old_tokens() {
    let db = TestDb::sqlite();
    let (client_id, secret, _) = client_with_secret(&db);
    let server = TestServer::start(db, "").await;
    let original_token = access_token(&server, &client_id, &secret).await;
    let original_jwks = jwks(&server).await;
    let backups = tempfile::tempdir().unwrap();
    let backup_file = backups.path().join("clavis-backup.db");
    let source_dir = Path::new(server.db.url.trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_owned();

    let load = TokenLoad::start(&server, &client_id, &secret, 4);
    while load.issued() < 20 {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    let issued_before = load.issued();
    let mut backup = clavis(&source_dir);
    backup.args(["backup", "--to"]).arg(&backup_file);
    let backed_up = run_aside(backup).await;
    let issued_during = load.issued() - issued_before;
    let (issued, failed) = load.finish().await;
    assert!(backed_up.status.success(), "{}", stderr(&backed_up));
    assert!(
        String::from_utf8_lossy(&backed_up.stdout).contains("The master key is not in it"),
        "{}",
        String::from_utf8_lossy(&backed_up.stdout)
    );
    assert!(issued_during > 0, "tokens were issued while the backup ran");
    assert_eq!(failed, 0, "every token request during the backup succeeded");
    println!("tokens issued: {issued}, of which {issued_during} while the backup ran");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&backup_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the backup holds hashes and sealed keys"
    );
    assert_eq!(
        std::fs::read_dir(backups.path()).unwrap().count(),
        1,
        "no partial file is left beside the backup"
    );

    refused(
        clavis(&source_dir)
            .args(["backup", "--to"])
            .arg(&backup_file),
        "already exists; a backup never replaces a file",
    );

    let (_, original_dir) = server.stop().await;
    let restored = tempfile::tempdir().unwrap();
    let restore = clavis(restored.path())
        .args(["restore", "--from"])
        .arg(&backup_file)
        .output()
        .unwrap();
    assert!(restore.status.success(), "{}", stderr(&restore));
    refused(
        clavis(restored.path())
            .args(["restore", "--from"])
            .arg(&backup_file),
        "clavis.db already exists; restore only into a data directory without one",
    );

    // Without the original master key Clavis refuses to start, and says why.
    let other_key =
        serve_briefly(clavis(restored.path()).env("CLAVIS_MASTER_KEY", OTHER_MASTER_KEY));
    assert!(
        stderr(&other_key).contains("cannot be opened with the master key in CLAVIS_MASTER_KEY"),
        "{}",
        stderr(&other_key)
    );
    let new_key_file = serve_briefly(&mut clavis(restored.path()));
    assert!(
        stderr(&new_key_file).contains("did not exist and was just created: restore the original"),
        "{}",
        stderr(&new_key_file)
    );

    // With it, the restored Clavis verifies the old tokens and issues new ones.
    let server = TestServer::start_in(TestDb::sqlite_in(restored), "", original_dir).await;
    let restored_jwks = jwks(&server).await;
    verify_independently(&original_token, &restored_jwks);
    let restored_token = access_token(&server, &client_id, &secret).await;
    verify_independently(&restored_token, &original_jwks);
    server.stop().await;
}

/// `clavis serve` that must fail at start: its output, or a failed test if it serves.
fn serve_briefly(command: &mut Command) -> Output {
    let mut child = command
        .arg("serve")
        .env("CLAVIS_LISTEN", "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("clavis serve started on a database whose keys it cannot open");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    output
}

/// A restore checks what it is given: SQLite's integrity check, then Clavis's migrations.
#[test]
fn only_an_intact_clavis_database_is_restored() {
    let files = tempfile::tempdir().unwrap();
    let text = files.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database, although long enough to look like a header ".repeat(20),
    )
    .unwrap();
    let other = files.path().join("other.db");
    {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        let mut conn = SqliteConnection::establish(&other.to_string_lossy()).unwrap();
        conn.batch_execute("CREATE TABLE notes (body TEXT)")
            .unwrap();
    }
    for (backup, why) in [
        (
            &text,
            "notes.txt is not a Clavis database: SQLite cannot read it",
        ),
        (
            &other,
            "other.db is not a Clavis database: it has no __diesel_schema_migrations table",
        ),
        (&files.path().join("missing.db"), "cannot read the backup"),
        (&files.path().to_owned(), "is a directory: name a file"),
    ] {
        let data = tempfile::tempdir().unwrap();
        refused(
            clavis(data.path()).args(["restore", "--from"]).arg(backup),
            why,
        );
        assert_eq!(
            std::fs::read_dir(data.path()).unwrap().count(),
            0,
            "nothing is left in the data directory"
        );
    }
}

/// A backup that cannot be written names the file asked for, not the partial file Clavis
/// writes first; a directory is refused as one.
#[test]
fn a_backup_that_cannot_be_written_says_which_file() {
    let data = tempfile::tempdir().unwrap();
    let migrated = clavis(data.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let elsewhere = tempfile::tempdir().unwrap();
    let missing_dir = elsewhere.path().join("no-such-dir/clavis.db");
    for (to, why) in [
        (
            missing_dir.clone(),
            format!(
                "cannot write {}: No such file or directory",
                missing_dir.display()
            ),
        ),
        (
            elsewhere.path().to_owned(),
            format!("{} is a directory: name a file", elsewhere.path().display()),
        ),
    ] {
        refused(clavis(data.path()).args(["backup", "--to"]).arg(&to), &why);
    }
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing is left behind"
    );
}

/// On PostgreSQL `clavis backup` and `restore` name the tools and their command, with the
/// database URL's parts but never its password, and write nothing.
#[test]
fn on_postgres_backup_and_restore_point_to_pg_dump_and_pg_restore() {
    // Nothing connects: the command is made from the URL alone.
    let url = "postgres://clavis:hunter2@db.internal:6432/clavis_prod";
    let work = tempfile::tempdir().unwrap();
    let backup_file = work.path().join("clavis.dump");
    let expected = format!(
        "pg_dump --format=custom --host=db.internal --port=6432 --username=clavis --dbname=clavis_prod --file={}",
        backup_file.display()
    );
    let backup = refused(
        clavis(work.path())
            .env("CLAVIS_DATABASE_URL", url)
            .args(["backup", "--to"])
            .arg(&backup_file),
        &expected,
    );
    let restore = refused(
        clavis(work.path())
            .env("CLAVIS_DATABASE_URL", url)
            .args(["restore", "--from"])
            .arg(&backup_file),
        "pg_restore --format=custom",
    );
    for said in [&backup, &restore] {
        assert!(!said.contains("hunter2"));
    }
    assert!(!backup_file.exists());
}
