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
    Postgres {
        name: String,
    },
    /// Another handle on a database that its first handle drops.
    Shared,
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

    /// The SQLite database `clavis.db` that `dir` holds already (a restored backup, say),
    /// migrated.
    pub fn sqlite_in(dir: tempfile::TempDir) -> Self {
        let url = format!("sqlite://{}", dir.path().join("clavis.db").display());
        Self::open(url, Cleanup::Sqlite(dir)).migrated()
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

    /// Another handle on this PostgreSQL database, for a second instance; the first handle
    /// still drops it.
    pub fn shared(&self) -> Self {
        assert!(self.is_postgres(), "instances share PostgreSQL only");
        Self::open(self.url.clone(), Cleanup::Shared)
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

/// The demo world of `fixtures/demo-world.json`, which `cargo xtask demo` and the browser
/// tests seed too. The tests take from it only the parts each needs, by name.
#[derive(serde::Deserialize)]
pub struct DemoWorld {
    organisations: Vec<DemoOrganisation>,
    apis: Vec<DemoApi>,
    applications: Vec<DemoApplication>,
    people: Vec<DemoPerson>,
}

#[derive(serde::Deserialize)]
struct DemoOrganisation {
    name: String,
    country: String,
    #[serde(default)]
    sandbox: bool,
}

#[derive(serde::Deserialize)]
struct DemoApi {
    code: String,
    name: String,
    audience: String,
    /// Space-separated, as in OAuth's `scope` parameter.
    scopes: String,
}

/// An application of `organisation` (its name) calling `api` (its code).
#[derive(serde::Deserialize)]
struct DemoApplication {
    organisation: String,
    api: String,
}

/// A person's `role`, within `organisation` (its name) unless it is admin.
#[derive(serde::Deserialize)]
struct DemoPerson {
    email: String,
    role: clavis_shared::dto::Role,
    organisation: Option<String>,
}

/// The demo world, read once per test run.
pub fn demo_world() -> &'static DemoWorld {
    static WORLD: std::sync::LazyLock<DemoWorld> = std::sync::LazyLock::new(|| {
        serde_json::from_str(include_str!("../../../fixtures/demo-world.json"))
            .expect("fixtures/demo-world.json")
    });
    &WORLD
}

impl DemoWorld {
    fn organisation(&self, name: &str) -> &DemoOrganisation {
        self.organisations
            .iter()
            .find(|organisation| organisation.name == name)
            .unwrap_or_else(|| panic!("the demo world has no organisation {name}"))
    }

    fn api(&self, code: &str) -> &DemoApi {
        self.apis
            .iter()
            .find(|api| api.code == code)
            .unwrap_or_else(|| panic!("the demo world has no API {code}"))
    }

    fn application_of(&self, organisation: &str) -> &DemoApplication {
        self.applications
            .iter()
            .find(|application| application.organisation == organisation)
            .unwrap_or_else(|| panic!("the demo world has no application of {organisation}"))
    }

    /// The role of the person with this e-mail address, and its organisation's name.
    pub fn role_of(&self, email: &str) -> (clavis_shared::dto::Role, Option<&str>) {
        let person = self
            .people
            .iter()
            .find(|person| person.email == email)
            .unwrap_or_else(|| panic!("the demo world has no person {email}"));
        (person.role, person.organisation.as_deref())
    }
}

/// An organisation of the demo world and its application.
pub struct Seeded {
    pub organisation: clavis_shared::dto::Organisation,
    pub application: clavis_shared::dto::Application,
}

/// The demo world's Acme (NL), the API its application calls (SMC, with two scopes), and
/// that application.
pub fn seed(test_db: &TestDb) -> Seeded {
    let now = clavis::db::now();
    let world = demo_world();
    let organisation = create_organisation(test_db, "Acme", now);
    let api = world.api(&world.application_of("Acme").api);
    clavis::apis::create(
        &mut test_db.conn(),
        &clavis_shared::portal::CreateApi {
            code: api.code.clone(),
            name: api.name.clone(),
            audience: api.audience.clone(),
            scopes: api.scopes.split_whitespace().map(str::to_owned).collect(),
            ..Default::default()
        },
        &admin(),
        now,
    )
    .expect("seed API");
    let application = create_application(test_db, &organisation, now);
    Seeded {
        organisation,
        application,
    }
}

/// The demo world's Beta (BE) with its application calling SMC; needs [`seed`] first (for
/// the API).
pub fn seed_beta(test_db: &TestDb, now: chrono::DateTime<chrono::Utc>) -> Seeded {
    let organisation = create_organisation(test_db, "Beta", now);
    let application = create_application(test_db, &organisation, now);
    Seeded {
        organisation,
        application,
    }
}

/// The demo world's organisation of this name.
fn create_organisation(
    test_db: &TestDb,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> clavis_shared::dto::Organisation {
    let organisation = demo_world().organisation(name);
    let new = clavis_shared::portal::CreateOrganisation {
        name: organisation.name.clone(),
        country: organisation.country.clone(),
        sandbox: organisation.sandbox,
        ..Default::default()
    };
    clavis::orgs::create(&mut test_db.conn(), &new, &admin(), now).expect("seed organisation")
}

/// The demo world's application of the organisation.
fn create_application(
    test_db: &TestDb,
    organisation: &clavis_shared::dto::Organisation,
    now: chrono::DateTime<chrono::Utc>,
) -> clavis_shared::dto::Application {
    let application = demo_world().application_of(&organisation.name);
    let new = clavis_shared::portal::CreateApplication {
        organisation_id: organisation.id.clone(),
        api_codes: vec![application.api.clone()],
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

/// An application of Acme with one secret: (client_id, secret).
/// The value of a new 30-day secret of `client_id`.
pub fn secret_for(db: &TestDb, client_id: &str) -> String {
    let now = clavis::db::now();
    clavis::secrets::create(
        &mut db.conn(),
        client_id,
        "test",
        now + chrono::Duration::days(30),
        &admin(),
        now,
    )
    .unwrap()
    .value
}

pub fn client_with_secret(db: &TestDb) -> (String, String) {
    let seeded = seed(db);
    let now = clavis::db::now();
    let created = clavis::secrets::create(
        &mut db.conn(),
        &seeded.application.client_id,
        "test",
        now + chrono::Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    (seeded.application.client_id, created.value)
}
