//! Backups of the embedded SQLite database, and their restore. A backup is a consistent
//! snapshot taken while Clavis serves (`VACUUM INTO`, one read transaction: WAL readers never
//! block writers), checked, then moved into place atomically. It holds the signing keys only
//! sealed: the master key is not in it, and a restore needs the same master key.
//!
//! PostgreSQL has its own tools (`pg_dump`, `pg_restore`); for it both commands explain which
//! command to run, with the database URL's parts but never its password.

use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{DbTarget, SQLITE_MIGRATIONS};

/// The table diesel records applied migrations in; a Clavis database has one.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// What a backup or a restore wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    /// The file written: the backup, or the restored database.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The newest migration applied to it (a version such as `2027-01-04-000000`).
    pub schema_version: String,
}

/// Why a backup or a restore did not happen; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "Clavis backs up only its embedded SQLite database; the {target} is backed up with \
         pg_dump, for example: {command} (the password comes from ~/.pgpass or PGPASSWORD)"
    )]
    UsePgDump { target: DbTarget, command: String },
    #[error(
        "Clavis restores only its embedded SQLite database; a pg_dump backup of the {target} is \
         restored with pg_restore into an empty database, for example: {command} (the password \
         comes from ~/.pgpass or PGPASSWORD)"
    )]
    UsePgRestore { target: DbTarget, command: String },
    #[error("there is no database to back up at {}", .0.display())]
    NoDatabase(PathBuf),
    #[error("{} already exists; a backup never replaces a file: choose a new name", .0.display())]
    BackupExists(PathBuf),
    #[error(
        "the database {} already exists; restore only into a data directory without one \
         (stop Clavis and move the database and its -wal and -shm files away first)",
        .0.display()
    )]
    DatabaseExists(PathBuf),
    #[error("{} is a directory: name a file, such as {}", .0.display(), .0.join("clavis-backup.db").display())]
    IsDirectory(PathBuf),
    #[error("cannot read the backup {}: {source}", path.display())]
    ReadBackup { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot open the SQLite database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: diesel::ConnectionError,
    },
    #[error("cannot take a snapshot of the SQLite database {}: {source}", path.display())]
    Snapshot {
        path: PathBuf,
        source: diesel::result::Error,
    },
    #[error("{} is not a Clavis database: {reason}", path.display())]
    NotClavis { path: PathBuf, reason: String },
}

/// `clavis backup --to FILE`: a snapshot of the SQLite database `target` names, written to
/// `to`, which must not exist yet. The snapshot is made in a file of its own beside `to`
/// (mode 0600: it holds password hashes and sealed keys), checked, and only then given the
/// name `to`, so `to` is either absent or a complete, checked backup.
pub fn back_up(target: &DbTarget, to: &Path) -> Result<Snapshot, BackupError> {
    let source = sqlite_path(target).map_err(|target| BackupError::UsePgDump {
        command: pg_command("pg_dump", target, &format!("--file={}", to.display())),
        target: target.clone(),
    })?;
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source.to_owned()));
    }
    if to.is_dir() {
        return Err(BackupError::IsDirectory(to.to_owned()));
    }
    if to.exists() {
        return Err(BackupError::BackupExists(to.to_owned()));
    }
    let partial = PartialFile::create(to)?;
    let mut conn = target.connect().map_err(|error| BackupError::Open {
        path: source.to_owned(),
        source: error,
    })?;
    let super::DbConn::Sqlite(sqlite) = &mut conn else {
        unreachable!("an SQLite target opens an SQLite connection");
    };
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(partial.path.to_string_lossy().into_owned())
        .execute(sqlite)
        .map_err(|source_error| BackupError::Snapshot {
            path: source.to_owned(),
            source: source_error,
        })?;
    drop(conn);
    let schema_version = inspect(&partial.path)?;
    partial.finish(to, BackupError::BackupExists)?;
    snapshot(to, schema_version)
}

/// `clavis restore --from FILE`: copies the backup `from` to where `target` keeps the
/// database, after checking that it is an intact Clavis database this version can run. Refuses
/// when a database is there already. The next start applies newer migrations, if any.
pub fn restore(target: &DbTarget, from: &Path) -> Result<Snapshot, BackupError> {
    let database = sqlite_path(target).map_err(|target| BackupError::UsePgRestore {
        command: pg_command(
            "pg_restore",
            target,
            &format!("--single-transaction {}", from.display()),
        ),
        target: target.clone(),
    })?;
    if let Some(existing) = database_files(database).into_iter().find(|f| f.exists()) {
        return Err(BackupError::DatabaseExists(existing));
    }
    if from.is_dir() {
        return Err(BackupError::IsDirectory(from.to_owned()));
    }
    let mut backup = File::open(from).map_err(|source| BackupError::ReadBackup {
        path: from.to_owned(),
        source,
    })?;
    if let Some(dir) = database.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| BackupError::Write {
            path: dir.to_owned(),
            source,
        })?;
    }
    let mut partial = PartialFile::create(database)?;
    io::copy(&mut backup, &mut partial.file).map_err(|source| BackupError::Write {
        path: partial.path.clone(),
        source,
    })?;
    // The copy is what gets checked, so a backup changed meanwhile cannot slip through.
    let schema_version = inspect(&partial.path).map_err(|error| match error {
        BackupError::NotClavis { reason, .. } => BackupError::NotClavis {
            path: from.to_owned(),
            reason,
        },
        other => other,
    })?;
    partial.finish(database, BackupError::DatabaseExists)?;
    snapshot(database, schema_version)
}

/// The SQLite file of `target`, or the PostgreSQL target back as the error.
fn sqlite_path(target: &DbTarget) -> Result<&Path, &DbTarget> {
    match target {
        DbTarget::Sqlite(path) => Ok(path),
        DbTarget::Postgres(_) => Err(target),
    }
}

/// The database file and the files SQLite keeps beside it in WAL mode.
fn database_files(database: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        database.to_owned(),
        with_suffix("-wal"),
        with_suffix("-shm"),
    ]
}

/// Checks that `path` is an intact SQLite database holding Clavis's migrations, none of them
/// newer than this version knows; returns the newest applied migration.
fn inspect(path: &Path) -> Result<String, BackupError> {
    let not_clavis = |reason: String| BackupError::NotClavis {
        path: path.to_owned(),
        reason,
    };
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())
        .map_err(|e| not_clavis(e.to_string()))?;
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        text: String,
    }
    let check: Vec<Line> =
        diesel::sql_query("SELECT integrity_check AS text FROM pragma_integrity_check")
            .load(&mut conn)
            .map_err(|e| not_clavis(format!("SQLite cannot read it ({e})")))?;
    if check.len() != 1 || check[0].text != "ok" {
        let problems: Vec<String> = check.into_iter().take(3).map(|line| line.text).collect();
        return Err(not_clavis(format!(
            "SQLite's integrity check fails: {}",
            problems.join("; ")
        )));
    }
    let applied: Vec<Line> = diesel::sql_query(format!(
        "SELECT version AS text FROM {MIGRATIONS_TABLE} ORDER BY version"
    ))
    .load(&mut conn)
    .map_err(|_| not_clavis(format!("it has no {MIGRATIONS_TABLE} table")))?;
    let known: BTreeSet<String> = MigrationSource::<Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map_err(|e| not_clavis(e.to_string()))?
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect();
    if let Some(unknown) = applied.iter().find(|line| !known.contains(&line.text)) {
        return Err(not_clavis(format!(
            "its migration {} is unknown to this version of Clavis; restore it with the \
             version that made it, or a newer one",
            unknown.text
        )));
    }
    applied
        .last()
        .map(|line| line.text.clone())
        .ok_or_else(|| not_clavis("no migration has been applied to it".to_owned()))
}

fn snapshot(path: &Path, schema_version: String) -> Result<Snapshot, BackupError> {
    let bytes = std::fs::metadata(path)
        .map_err(|source| BackupError::Write {
            path: path.to_owned(),
            source,
        })?
        .len();
    Ok(Snapshot {
        path: path.to_owned(),
        bytes,
        schema_version,
    })
}

/// A file being written beside its final name, removed unless [`PartialFile::finish`] gives
/// it that name.
struct PartialFile {
    path: PathBuf,
    file: File,
}

impl PartialFile {
    /// An empty file, readable by its owner only, in the directory of `target`. A failure
    /// names `target`: the partial file's own name would mean nothing to the person.
    fn create(target: &Path) -> Result<Self, BackupError> {
        let name = target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = target.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| BackupError::Write {
                path: target.to_owned(),
                source,
            })?;
        Ok(Self { path, file })
    }

    /// Flushes the file to disk and links it to `target`, which must not exist: a link, unlike
    /// a rename, never replaces a file that appeared meanwhile. `exists` names that refusal.
    fn finish(self, target: &Path, exists: fn(PathBuf) -> BackupError) -> Result<(), BackupError> {
        let write_error = |path: &Path| {
            let path = path.to_owned();
            move |source| BackupError::Write { path, source }
        };
        File::open(&self.path)
            .and_then(|file| file.sync_all())
            .map_err(write_error(&self.path))?;
        match std::fs::hard_link(&self.path, target) {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(exists(target.to_owned()));
            }
            other => other.map_err(write_error(target))?,
        }
        if let Some(dir) = target.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(write_error(dir))?;
        }
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The PostgreSQL command for `target`, from its URL's parts; never its password.
fn pg_command(tool: &str, target: &DbTarget, last: &str) -> String {
    let DbTarget::Postgres(url) = target else {
        return tool.to_owned();
    };
    let Ok(url) = url::Url::parse(url) else {
        return format!("{tool} --format=custom --dbname=<database> {last}");
    };
    let mut command = format!(
        "{tool} --format=custom --host={} --port={}",
        url.host_str().unwrap_or("localhost"),
        url.port().unwrap_or(5432)
    );
    if !url.username().is_empty() {
        command.push_str(&format!(" --username={}", url.username()));
    }
    command.push_str(&format!(
        " --dbname={} {last}",
        url.path().trim_start_matches('/')
    ));
    command
}
