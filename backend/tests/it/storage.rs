use clavis::db::{self, DbConn, DbTarget};
use clavis::error::Error;
use diesel::connection::SimpleConnection;

use crate::on_both_databases;
use crate::support::{TestDb, seed};

on_both_databases!(
    audit_events_are_append_only,
    every_change_is_audited_with_its_actor
);

fn audit_events_are_append_only(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    let before = db.count("audit_events");
    assert!(before > 0);
    assert!(
        conn.batch_execute("UPDATE audit_events SET actor = 'someone else'")
            .is_err()
    );
    assert!(conn.batch_execute("DELETE FROM audit_events").is_err());
    assert_eq!(db.count("audit_events"), before);
}

fn every_change_is_audited_with_its_actor(db: &TestDb) {
    let seeded = seed(db);
    use clavis::db::schema::audit_events;
    use diesel::prelude::*;
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    type Event = (String, String, String, Option<String>, Option<String>);
    let events: Vec<Event> = audit_events::table
        .order(audit_events::id)
        .select((
            audit_events::action,
            audit_events::actor_kind,
            audit_events::actor,
            audit_events::organisation_id,
            audit_events::application_id,
        ))
        .load(conn)
        .unwrap();
    let org = Some(seeded.organisation.id.clone());
    assert_eq!(
        events,
        vec![
            (
                "organisation.create".into(),
                "cli".into(),
                "cli:tester".into(),
                org.clone(),
                None
            ),
            (
                "api.create".into(),
                "cli".into(),
                "cli:tester".into(),
                None,
                None
            ),
            (
                "application.create".into(),
                "cli".into(),
                "cli:tester".into(),
                org,
                Some(seeded.application.id.clone())
            ),
        ]
    );
}

#[test]
fn migrations_apply_once_and_readiness_follows_them_on_sqlite() {
    migrations_apply_once_and_readiness_follows_them(TestDb::sqlite_unmigrated());
}

#[test]
fn migrations_apply_once_and_readiness_follows_them_on_postgres() {
    migrations_apply_once_and_readiness_follows_them(TestDb::postgres_unmigrated());
}

fn migrations_apply_once_and_readiness_follows_them(test_db: TestDb) {
    let mut conn = test_db.conn();
    assert!(matches!(
        db::ensure_migrated(&mut conn),
        Err(Error::Unavailable(_))
    ));
    let applied = test_db.db.migrate().unwrap();
    assert_eq!(
        applied,
        [
            "20261122000001",
            "20261122000002",
            "20261123000003",
            "20261123000004",
            "20261130000001",
            "20261130000002",
            "20261130000003",
            "20261201000001",
            "20261202000001",
            "20261203000001",
            "20261204000001",
            "20261204000002",
            "20261205000001",
            "20261206000001",
            "20261207000001",
            "20261208000001",
            "20261209000001",
            "20261210000001"
        ]
    );
    db::ensure_migrated(&mut conn).unwrap();
    assert!(
        test_db.db.migrate().unwrap().is_empty(),
        "a second run applies nothing"
    );
}

/// Instances started together on one new PostgreSQL database (an upgrade of several at
/// once) migrate one at a time under the advisory lock: one applies every migration, the
/// others find nothing left to do, and none fails on a table another just made.
#[test]
fn instances_starting_together_migrate_postgres_once() {
    let test_db = TestDb::postgres_unmigrated();
    let instances: Vec<db::Database> = (0..4)
        .map(|_| db::Database::open(test_db.db.target().clone(), 2).unwrap())
        .collect();
    let start = std::sync::Barrier::new(instances.len());
    let applied: Vec<usize> = std::thread::scope(|scope| {
        let runs: Vec<_> = instances
            .iter()
            .map(|instance| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    instance.migrate().unwrap().len()
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let mut applied = applied;
    applied.sort_unstable();
    assert_eq!(applied[..3], [0, 0, 0], "{applied:?}");
    assert!(applied[3] > 0, "{applied:?}");
    db::ensure_migrated(&mut test_db.conn()).unwrap();
}

#[test]
fn sqlite_connections_use_wal_foreign_keys_and_busy_timeout() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Pragma {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let test_db = TestDb::sqlite();
    let mut conn = test_db.conn();
    let conn: &mut DbConn = &mut conn;
    let mut pragma = |name: &str, column: &str| {
        diesel::sql_query(format!(
            "SELECT CAST({column} AS TEXT) AS value FROM pragma_{name}"
        ))
        .get_result::<Pragma>(conn)
        .unwrap()
        .value
    };
    assert_eq!(pragma("journal_mode", "journal_mode"), "wal");
    assert_eq!(pragma("foreign_keys", "foreign_keys"), "1");
    assert_eq!(pragma("busy_timeout", "timeout"), "5000");
}

#[test]
fn unreachable_postgres_reports_the_real_cause() {
    let target = DbTarget::parse("postgres://postgres:hunter2@127.0.0.1:1/clavis").unwrap();
    let message = match db::Database::open(target, 1) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(
        message.starts_with(
            "cannot connect to the PostgreSQL database clavis as postgres on 127.0.0.1:1:"
        ),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password must not appear: {message}"
    );
}

#[test]
fn missing_postgres_database_reports_the_real_cause() {
    let target =
        DbTarget::parse("postgres://postgres@127.0.0.1:5432/clavis_does_not_exist").unwrap();
    let message = db::Database::open(target, 1)
        .err()
        .expect("the database does not exist")
        .to_string();
    assert!(
        message.contains("database \"clavis_does_not_exist\" does not exist"),
        "{message}"
    );
}

#[test]
fn database_urls_pick_the_backend_by_scheme() {
    assert!(matches!(
        DbTarget::parse("postgresql://h/db"),
        Ok(DbTarget::Postgres(_))
    ));
    assert_eq!(
        DbTarget::parse("sqlite://data/c.db").unwrap(),
        DbTarget::Sqlite("data/c.db".into())
    );
    assert_eq!(
        DbTarget::parse("sqlite:/var/lib/c.db").unwrap(),
        DbTarget::Sqlite("/var/lib/c.db".into())
    );
    assert!(DbTarget::parse("mysql://h/db").is_err());
    assert!(DbTarget::parse("sqlite://").is_err());
}

/// Both migration folders hold the same migration names, and once every migration has run,
/// SQLite and PostgreSQL have the same tables with the same columns: the one `schema.rs`
/// (and every query) is written against both.
///
/// Column types are compared only as the kind of value they hold (text, integer, boolean,
/// timestamp): SQLite keeps the declared name (`BIGINT`, `TIMESTAMP`) but stores by
/// affinity, while PostgreSQL reports its own spelling (`bigint`, `timestamp without time
/// zone`), and a width (INTEGER against BIGINT) is not a difference SQLite can hold.
/// Nullability is compared as is, with SQLite's primary-key columns counted as NOT NULL (as
/// PostgreSQL makes them).
#[test]
fn both_databases_have_the_same_migrations_tables_and_columns() {
    let folder = |dialect: &str| {
        let path = format!("{}/../migrations/{dialect}", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite_migrations = folder("sqlite");
    assert!(!sqlite_migrations.is_empty());
    assert_eq!(sqlite_migrations, folder("postgres"));

    let sqlite = columns(&TestDb::sqlite());
    let postgres = columns(&TestDb::postgres());
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

/// Every column of every table of the database's own (not diesel's bookkeeping table), as
/// (table, column, kind of value, nullable), sorted.
fn columns(test_db: &TestDb) -> Vec<(String, String, &'static str, bool)> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        data_type: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        nullable: bool,
    }
    let query = if test_db.is_postgres() {
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                data_type::text AS data_type, is_nullable = 'YES' AS nullable \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'"
    } else {
        "SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, \
                (p.\"notnull\" = 0 AND p.pk = 0) AS nullable \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
           AND m.name <> '__diesel_schema_migrations'"
    };
    let mut conn = test_db.conn();
    let conn: &mut DbConn = &mut conn;
    let mut columns: Vec<_> = diesel::sql_query(query)
        .load::<Column>(conn)
        .expect("list columns")
        .into_iter()
        .map(|column| {
            let kind = kind_of(&column.data_type);
            (column.table_name, column.column_name, kind, column.nullable)
        })
        .collect();
    columns.sort();
    columns
}

/// The kind of value a declared column type holds, in either dialect's spelling.
fn kind_of(data_type: &str) -> &'static str {
    let data_type = data_type.to_ascii_lowercase();
    if data_type.contains("int") {
        "integer"
    } else if data_type.starts_with("bool") {
        "boolean"
    } else if data_type.starts_with("timestamp") {
        "timestamp"
    } else if data_type == "text" {
        "text"
    } else {
        // A new kind of column: teach the test how each dialect spells it.
        panic!("a column type the test does not know: {data_type}")
    }
}

/// The SQLite file holds password hashes and sealed keys: Clavis creates it readable by its
/// owner only, whatever the umask, and leaves an existing file's mode alone.
#[test]
fn a_new_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/clavis.db");
    let target = db::DbTarget::parse(&format!("sqlite://{}", path.display())).unwrap();
    let database = db::Database::open(target.clone(), 1).unwrap();
    database.migrate().unwrap();
    drop(database);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    drop(db::Database::open(target, 1).unwrap());
    assert_eq!(mode(&path), 0o640, "an operator's own choice stays");
}
