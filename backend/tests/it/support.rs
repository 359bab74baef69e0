//! A fresh, migrated database per test: an SQLite file in a temporary directory, or a
//! PostgreSQL database of its own on the local server, dropped when the test ends.

use clavis::access::Actor;
use clavis::db::{Database, DbConn, DbTarget, PooledConn};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// Where the tests find PostgreSQL; override with TEST_POSTGRES_URL (server URL, no database).
fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub struct TestDb {
    pub db: Database,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { name: String },
}

impl TestDb {
    pub fn sqlite() -> Self {
        Self::sqlite_unmigrated().migrated()
    }

    pub fn postgres() -> Self {
        Self::postgres_unmigrated().migrated()
    }

    /// An empty SQLite database, for tests of migrating.
    pub fn sqlite_unmigrated() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("clavis.db").display());
        Self::open(url, Cleanup::Sqlite(dir))
    }

    /// An empty PostgreSQL database of its own, for tests of migrating.
    pub fn postgres_unmigrated() -> Self {
        let name = format!("clavis_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&format!("{}/postgres", postgres_server())).expect(
            "the local PostgreSQL (127.0.0.1:5432, user postgres) must be running for the tests",
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let url = format!("{}/{name}", postgres_server());
        Self::open(url, Cleanup::Postgres { name })
    }

    fn open(url: String, cleanup: Cleanup) -> Self {
        let db = Database::open(DbTarget::parse(&url).unwrap(), 8).expect("open test database");
        Self { db, url, cleanup }
    }

    fn migrated(self) -> Self {
        self.db.migrate().expect("migrate test database");
        self
    }

    pub fn conn(&self) -> PooledConn {
        self.db.conn().expect("database connection")
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Postgres { .. })
    }

    /// Rows in a table, counted with plain SQL so the test does not trust the code under test.
    pub fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn();
        let conn: &mut DbConn = &mut conn;
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(conn)
            .expect("count rows")
            .n
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { name } = &self.cleanup
            && let Ok(mut admin) =
                PgConnection::establish(&format!("{}/postgres", postgres_server()))
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// The operator the tests act as.
pub fn admin() -> Actor {
    Actor::Cli {
        os_user: "tester".to_owned(),
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    super::$name(&$crate::support::TestDb::sqlite());
                }
                #[test]
                fn postgres() {
                    super::$name(&$crate::support::TestDb::postgres());
                }
            }
        )+
    };
}

/// Runs an async test body (HTTP tests) once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases_async {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::support::TestDb::sqlite()).await;
                }
                #[actix_web::test]
                async fn postgres() {
                    super::$name($crate::support::TestDb::postgres()).await;
                }
            }
        )+
    };
}

/// An organisation in NL, the SMC API with two scopes, and one application of theirs
/// calling it.
pub struct Seeded {
    pub organisation: clavis_shared::dto::Organisation,
    pub application: clavis_shared::dto::Application,
}

pub fn seed(test_db: &TestDb) -> Seeded {
    let now = clavis::db::now();
    let organisation = create_organisation(test_db, "Acme", "NL", now);
    clavis::apis::create(
        &mut test_db.conn(),
        &clavis::apis::NewApi {
            code: "SMC".into(),
            name: "Ship Manifests".into(),
            audience: "https://api.example.org/smc".into(),
            scopes: "manifest.read manifest.write".into(),
            ..Default::default()
        },
        &admin(),
        now,
    )
    .expect("seed API");
    let application = create_application(test_db, &organisation.id, now);
    Seeded {
        organisation,
        application,
    }
}

/// A second organisation, Beta (BE), with one application calling SMC; needs [`seed`] first
/// (for the API).
pub fn seed_beta(test_db: &TestDb, now: chrono::DateTime<chrono::Utc>) -> Seeded {
    let organisation = create_organisation(test_db, "Beta", "BE", now);
    let application = create_application(test_db, &organisation.id, now);
    Seeded {
        organisation,
        application,
    }
}

fn create_organisation(
    test_db: &TestDb,
    name: &str,
    country: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> clavis_shared::dto::Organisation {
    let new = clavis::orgs::NewOrganisation {
        name: name.into(),
        country: country.into(),
        ..Default::default()
    };
    clavis::orgs::create(&mut test_db.conn(), &new, &admin(), now).expect("seed organisation")
}

/// An application of the organisation calling SMC.
fn create_application(
    test_db: &TestDb,
    organisation_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> clavis_shared::dto::Application {
    let new = clavis::apps::NewApplication {
        organisation: organisation_id.to_owned(),
        api_codes: vec!["SMC".into()],
        ..Default::default()
    };
    clavis::apps::create(&mut test_db.conn(), &new, &admin(), now).expect("seed application")
}

/// Whether any byte of the database holds `needle`: the SQLite file and its WAL read raw,
/// or every PostgreSQL table's rows as text.
pub fn database_contains(test_db: &TestDb, needle: &str) -> bool {
    if !test_db.is_postgres() {
        let path = test_db.url.trim_start_matches("sqlite://").to_owned();
        return [path.clone(), format!("{path}-wal")].iter().any(|file| {
            std::fs::read(file)
                .map(|bytes| {
                    bytes
                        .windows(needle.len())
                        .any(|window| window == needle.as_bytes())
                })
                .unwrap_or(false)
        });
    }
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = test_db.conn();
    let conn: &mut DbConn = &mut conn;
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .load(conn)
    .expect("list tables");
    tables.iter().any(|table| {
        diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {0} WHERE strpos({0}::text, $1) > 0",
            table.table_name
        ))
        .bind::<diesel::sql_types::Text, _>(needle)
        .get_result::<Count>(conn)
        .expect("search table")
        .n > 0
    })
}

/// The `alg` of the keys in a JWKS, sorted, each once.
pub fn jwks_algorithms(jwks: &serde_json::Value) -> Vec<String> {
    let mut algs: Vec<String> = jwks["keys"]
        .as_array()
        .expect("a JWKS")
        .iter()
        .map(|key| {
            key["alg"]
                .as_str()
                .expect("every key names its alg")
                .to_owned()
        })
        .collect();
    algs.sort();
    algs.dedup();
    algs
}
