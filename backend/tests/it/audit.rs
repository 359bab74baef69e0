//! The audit log over HTTP (`/api/v1/audit-events` and its CSV export): names, the one-line
//! summary, every filter, paging, the date range, and who sees which organisation's events,
//! on both databases.

use chrono::{DateTime, Duration, TimeZone, Utc};
use clavis::access::Actor;
use clavis::audit::{AuditBatch, AuditEvent};
use clavis::db::schema::users;
use clavis_shared::dto::{Application, Organisation, Role};
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::on_both_databases_async;
use crate::server::{TestServer, http};
use crate::support::{TestDb, seed, seed_beta};

on_both_databases_async!(
    events_read_as_sentences_with_names,
    every_filter_narrows_and_pages_count,
    the_date_range_takes_whole_days_and_must_not_end_before_it_starts,
    contacts_see_only_their_organisations_events,
    the_csv_export_streams_every_match_safely,
    an_actor_search_matching_over_a_thousand_actors_finds_them_all,
);

const MIA: &str = "mia.manager@acme.test";
const VIC: &str = "vic.viewer@acme.test";
const BEN: &str = "ben.manager@beta.test";
const ADA: &str = "ada.admin@clavis.test";

/// Acme with its application, Beta with its own, and a session for each person: Mia
/// (credential manager of Acme, named "Mia Manager"), Vic (viewer of Acme), Ben (credential
/// manager of Beta) and Ada (admin).
struct World {
    server: TestServer,
    acme: Organisation,
    beta: Organisation,
    app_a: Application,
    app_b: Application,
    mia: Actor,
    sessions: Vec<(&'static str, String)>,
}

impl World {
    async fn start(test_db: TestDb) -> Self {
        let seeded = seed(&test_db);
        let beta = seed_beta(&test_db, clavis::db::now());
        let server = TestServer::start(test_db, "").await;
        let mut sessions = Vec::new();
        let mut mia = None;
        for (email, role, organisation) in [
            (MIA, Role::CredentialManager, Some("Acme")),
            (VIC, Role::Viewer, Some("Acme")),
            (BEN, Role::CredentialManager, Some("Beta")),
            (ADA, Role::Admin, None),
        ] {
            let (user_id, token) = server.signed_in(email, role, organisation);
            sessions.push((email, token));
            if email == MIA {
                mia = Some(Actor::User {
                    id: user_id,
                    email: MIA.into(),
                });
            }
        }
        diesel::update(users::table.filter(users::email.eq(MIA)))
            .set(users::display_name.eq("Mia Manager"))
            .execute(&mut server.db.conn())
            .unwrap();
        Self {
            server,
            acme: seeded.organisation,
            app_a: seeded.application,
            beta: beta.organisation,
            app_b: beta.application,
            mia: mia.unwrap(),
            sessions,
        }
    }

    async fn get(&self, who: &str, path: &str) -> reqwest::Response {
        let mut request = http().get(self.server.url(path));
        if let Some((_, token)) = self.sessions.iter().find(|(email, _)| *email == who) {
            request = request.header("Cookie", format!("clavis_session={token}"));
        }
        request.send().await.unwrap()
    }

    /// The JSON answer to a GET of the audit log with `query`.
    async fn events(&self, who: &str, query: &str) -> (StatusCode, Value) {
        let response = self
            .get(who, &format!("/api/v1/audit-events?{query}"))
            .await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A secret of `client_id` created by Mia at `at`.
    fn secret_at(&self, client_id: &str, name: &str, at: DateTime<Utc>) {
        clavis::secrets::create(
            &mut self.server.db.conn(),
            client_id,
            name,
            at + Duration::days(30),
            &self.mia,
            at,
        )
        .unwrap();
    }

    fn record(&self, event: AuditEvent, at: DateTime<Utc>) {
        event.record(&mut self.server.db.conn(), at).unwrap();
    }
}

fn at(day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, minute, second)
        .unwrap()
}

fn summaries(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            let event: clavis_shared::audit::AuditEventView =
                serde_json::from_value(event.clone()).unwrap();
            clavis_shared::audit::summary(&event)
        })
        .collect()
}

async fn events_read_as_sentences_with_names(test_db: TestDb) {
    let world = World::start(test_db).await;
    let a = world.app_a.client_id.clone();
    world.secret_at(&a, "prod", at(1, 10, 0, 0));
    // An API client acting: shown by its application's name, not its client_id.
    world.record(
        AuditEvent::success("token.issue", &Actor::Client { client_id: a.clone() })
            .organisation(&world.acme.id)
            .application(&world.app_a.id)
            .details(serde_json::json!({"audience": "https://api.example.org/smc", "scope": "manifest.read"})),
        at(1, 11, 0, 0),
    );

    let (status, page) = world
        .events(MIA, &format!("client_id={a}&from=2026-03-01&to=2026-03-01"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2, "{page}");
    let token = &page["events"][0];
    assert_eq!(token["actor"], a.as_str());
    assert_eq!(token["actor_name"], world.app_a.name.as_str());
    assert_eq!(token["organisation_name"], "Acme");
    assert_eq!(token["application_name"], world.app_a.name.as_str());
    assert_eq!(token["client_id"], a.as_str());
    let created = &page["events"][1];
    assert_eq!(created["actor_name"], "Mia Manager");
    let hint = created["details"]["hint"].as_str().unwrap();
    assert_eq!(
        summaries(&page),
        [
            format!(
                "{} got an access token for https://api.example.org/smc (scope: manifest.read)",
                world.app_a.name
            ),
            format!(
                "Mia Manager created the secret “prod” ({hint}…) for {}",
                world.app_a.name
            ),
        ]
    );
}

async fn every_filter_narrows_and_pages_count(test_db: TestDb) {
    let world = World::start(test_db).await;
    let (a, b) = (world.app_a.client_id.clone(), world.app_b.client_id.clone());
    for n in 0..5 {
        world.secret_at(&a, &format!("a{n}"), at(2, 9, n, 0));
    }
    world.secret_at(&b, "b0", at(2, 9, 30, 0));
    // A refused authentication by Acme's client: it has no organisation, so only admins see
    // it, and it belongs to the application's audit.
    world.record(
        AuditEvent::failure(
            "client.authenticate",
            &Actor::Client {
                client_id: a.clone(),
            },
        )
        .details(serde_json::json!({"endpoint": "token", "reason": "wrong_secret"})),
        at(2, 10, 0, 0),
    );
    let secret_events = "action=secret.create&from=2026-03-02&to=2026-03-02";

    let (_, all) = world.events(ADA, secret_events).await;
    assert_eq!(all["total"], 6);
    let (_, only_a) = world
        .events(ADA, &format!("{secret_events}&client_id={a}"))
        .await;
    assert_eq!(only_a["total"], 5);
    let (_, a_all) = world
        .events(
            ADA,
            &format!(
                "client_id={}&from=2026-03-02&to=2026-03-02",
                a.to_uppercase()
            ),
        )
        .await;
    assert_eq!(a_all["total"], 6, "by it as a client too: {a_all}");
    assert_eq!(a_all["events"][0]["action"], "client.authenticate");
    let (_, in_beta) = world
        .events(
            ADA,
            &format!("{secret_events}&organisation_id={}", world.beta.id),
        )
        .await;
    assert_eq!(in_beta["total"], 1);

    // The actor, in part and in any case: the address, the person's name, the client's
    // application's name.
    for (actor, total) in [("MIA.MAN", 6), ("ia manag", 6), ("nobody", 0)] {
        let (_, found) = world
            .events(
                ADA,
                &format!("{secret_events}&actor={}", actor.replace(' ', "%20")),
            )
            .await;
        assert_eq!(found["total"], total, "{actor}");
    }
    let app_name = world.app_a.name.to_lowercase();
    let (_, by_name) = world
        .events(
            ADA,
            &format!("from=2026-03-02&to=2026-03-02&actor={app_name}"),
        )
        .await;
    assert_eq!(by_name["total"], 1, "{by_name}");
    // LIKE's wildcards are taken as themselves.
    let (_, wildcard) = world
        .events(ADA, &format!("{secret_events}&actor=%25"))
        .await;
    assert_eq!(wildcard["total"], 0);

    // Pages: newest first, the total over all of them.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, found) = world
            .events(ADA, &format!("{secret_events}&page={page}&per_page=2"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found["total"], 6);
        assert_eq!(found["page"], page);
        for event in found["events"].as_array().unwrap() {
            seen.push(event["details"]["name"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen, ["b0", "a4", "a3", "a2", "a1", "a0"]);
    let (_, past_the_end) = world
        .events(ADA, &format!("{secret_events}&page=4&per_page=2"))
        .await;
    assert_eq!(past_the_end["events"], serde_json::json!([]));

    for (query, field) in [
        ("page=0", "page"),
        ("per_page=201", "per_page"),
        ("action=secret.make", "action"),
    ] {
        let (status, refused) = world.events(ADA, query).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(refused["field"], field, "{query}");
    }
    let (status, refused) = world.events(ADA, "action=secret.make").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("secret.create"),
        "{refused}"
    );
    let (status, _) = world.events(ADA, "application_id=x").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown parameters are refused"
    );
}

async fn the_date_range_takes_whole_days_and_must_not_end_before_it_starts(test_db: TestDb) {
    let world = World::start(test_db).await;
    let a = world.app_a.client_id.clone();
    world.secret_at(&a, "before", at(4, 23, 59, 59));
    world.secret_at(&a, "first", at(5, 0, 0, 0));
    world.secret_at(&a, "last", at(5, 23, 59, 59));
    world.secret_at(&a, "after", at(6, 0, 0, 0));
    let names = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["details"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, day) = world
        .events(MIA, "action=secret.create&from=2026-03-05&to=2026-03-05")
        .await;
    assert_eq!(names(&day), ["last", "first"]);
    let (_, until) = world
        .events(MIA, "action=secret.create&to=2026-03-04")
        .await;
    assert_eq!(names(&until), ["before"]);
    let (_, since) = world
        .events(MIA, "action=secret.create&from=2026-03-06")
        .await;
    assert_eq!(names(&since), ["after"]);

    let (status, refused) = world.events(MIA, "from=2026-03-06&to=2026-03-05").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["field"], "to");
    assert_eq!(
        refused["message"],
        "The range starts on 2026-03-06, after it ends on 2026-03-05: choose a \"to\" day on or after the \"from\" day."
    );
    let csv = world
        .get(
            MIA,
            "/api/v1/audit-events.csv?from=2026-03-06&to=2026-03-05",
        )
        .await;
    assert_eq!(csv.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Each value that cannot be read is named, in words (not the query parser's).
    for (query, field, says) in [
        ("from=2026-13-01", "from", "There is no day 2026-13-01"),
        ("to=2026-02-30", "to", "There is no day 2026-02-30"),
        ("from=yesterday", "from", "as YYYY-MM-DD"),
        ("page=-1", "page", "whole number"),
        ("per_page=0", "per_page", "from 1 to 200"),
    ] {
        let (status, refused) = world.events(MIA, query).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(refused["field"], field, "{query}");
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
    // An actor text long enough to break a LIKE is refused before it reaches the database.
    let long = "a".repeat(50_000);
    let (status, refused) = world.events(ADA, &format!("actor={long}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["field"], "actor");
    let csv = world
        .get(ADA, &format!("/api/v1/audit-events.csv?actor={long}"))
        .await;
    assert_eq!(csv.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // An organisation that does not exist is a 404 for admins too, as for contacts.
    let (status, _) = world.events(ADA, "organisation_id=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn contacts_see_only_their_organisations_events(test_db: TestDb) {
    let world = World::start(test_db).await;
    let (a, b) = (world.app_a.client_id.clone(), world.app_b.client_id.clone());
    world.secret_at(&a, "acme", at(7, 9, 0, 0));
    world.secret_at(&b, "beta", at(7, 9, 0, 0));
    world.record(
        AuditEvent::failure(
            "client.authenticate",
            &Actor::Client {
                client_id: a.clone(),
            },
        ),
        at(7, 10, 0, 0),
    );
    let secret_events = "action=secret.create&from=2026-03-07";
    let organisations = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| {
                event["organisation_name"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned()
            })
            .collect()
    };
    for (who, seen) in [
        (MIA, vec!["Acme"]),
        (VIC, vec!["Acme"]),
        (BEN, vec!["Beta"]),
        (ADA, vec!["Acme", "Beta"]),
    ] {
        let (status, page) = world.events(who, secret_events).await;
        assert_eq!(status, StatusCode::OK, "{who}");
        let mut found = organisations(&page);
        found.sort();
        assert_eq!(found, seen, "{who}");
    }
    // Events of no organisation (a refused client, sign-ins) are for admins only.
    let (_, by_admin) = world.events(ADA, "action=client.authenticate").await;
    assert_eq!(by_admin["total"], 1);
    let (_, by_contact) = world.events(MIA, "action=client.authenticate").await;
    assert_eq!(by_contact["total"], 0);

    // Another organisation, or its application, reads as one that does not exist.
    let unknown_client = "0b0e0b0e-0000-4000-8000-000000000000";
    for path in ["/api/v1/audit-events", "/api/v1/audit-events.csv"] {
        let response = world
            .get(BEN, &format!("{path}?organisation_id={}", world.acme.id))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let hidden = world.get(BEN, &format!("{path}?client_id={a}")).await;
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "{path}");
        let hidden: Value = hidden.json().await.unwrap();
        let missing: Value = world
            .get(ADA, &format!("{path}?client_id={unknown_client}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            hidden["message"].as_str().unwrap().replace(&a, "X"),
            missing["message"]
                .as_str()
                .unwrap()
                .replace(unknown_client, "X"),
        );
        assert_eq!(
            world
                .get(VIC, &format!("{path}?client_id={a}"))
                .await
                .status(),
            StatusCode::OK,
            "{path}"
        );
        assert_eq!(
            world.get("", path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let beta_csv = world
        .get(BEN, "/api/v1/audit-events.csv?action=secret.create")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        beta_csv.contains(&b) && !beta_csv.contains(&a),
        "{beta_csv}"
    );
}

async fn the_csv_export_streams_every_match_safely(test_db: TestDb) {
    let world = World::start(test_db).await;
    let a = world.app_a.client_id.clone();
    // More than one chunk of the export (500), several events per second, so that reading on
    // after the last one's time and id neither skips nor repeats any.
    let many: Vec<_> = (0..1203)
        .map(|n| {
            let event = AuditEvent::success(
                "token.issue",
                &Actor::Client {
                    client_id: a.clone(),
                },
            )
            .organisation(&world.acme.id)
            .application(&world.app_a.id)
            .details(serde_json::json!({ "n": n }));
            (event, at(8, 0, 0, 0) + Duration::seconds(n / 7))
        })
        .collect();
    {
        let mut conn = world.server.db.conn();
        AuditBatch::new(many).insert(&mut conn).unwrap();
    }
    // A value a spreadsheet would run as a formula.
    world.record(
        AuditEvent::failure(
            "token.issue",
            &Actor::Client {
                client_id: "=HYPERLINK(\"http://evil\")".into(),
            },
        )
        .organisation(&world.acme.id)
        .details(serde_json::json!({"reason": "invalid_client"})),
        at(9, 0, 0, 0),
    );

    let response = world
        .get(
            MIA,
            "/api/v1/audit-events.csv?action=token.issue&from=2026-03-08",
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"clavis-audit-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header[..4],
        ["occurred_at", "summary", "actor_kind", "actor"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1204);
    assert_eq!(
        &rows[0][3], "'=HYPERLINK(\"http://evil\")",
        "a formula is shown as text"
    );
    let mut numbers: Vec<i64> = rows[1..]
        .iter()
        .map(|row| {
            serde_json::from_str::<Value>(&row[13]).unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(numbers[0], 1202, "newest first");
    numbers.sort();
    assert_eq!(numbers, (0..1203).collect::<Vec<_>>(), "each once");
    assert_eq!(&rows[1][7], "Acme");
    assert_eq!(&rows[1][9], world.app_a.name.as_str());
    assert_eq!(
        &rows[1][1],
        format!(
            "{} got an access token for  (scope: none)",
            world.app_a.name
        )
        .as_str()
    );

    // The same filters as the page: the totals agree.
    let (_, page) = world
        .events(MIA, "action=token.issue&from=2026-03-08")
        .await;
    assert_eq!(page["total"], 1204);
}

/// An actor search looks the matching actors up first and hands them on as lists; past 1,000
/// values it matches by the lookups themselves. Either way the same events are found, those
/// written in a batch (one COPY on PostgreSQL) too.
async fn an_actor_search_matching_over_a_thousand_actors_finds_them_all(test_db: TestDb) {
    let world = World::start(test_db).await;
    let many: Vec<_> = (0..1001)
        .map(|n| {
            let event = AuditEvent::success(
                "token.issue",
                &Actor::Client {
                    client_id: format!("bulk-client-{n:04}"),
                },
            )
            .organisation(&world.acme.id);
            (event, at(10, 0, 0, 0) + Duration::seconds(n))
        })
        .collect();
    {
        let mut conn = world.server.db.conn();
        AuditBatch::new(many).insert(&mut conn).unwrap();
    }
    world.secret_at(&world.app_a.client_id, "next", at(10, 1, 0, 0));
    let day = "from=2026-03-10&to=2026-03-10";
    for (actor, total) in [
        // 1,001 actors: past the lists.
        ("BULK-client", 1001),
        // Within them, and with the person's name: both ways.
        ("bulk-client-099", 10),
        ("mia manager", 1),
        ("client-1000", 1),
        ("nobody", 0),
    ] {
        let (status, found) = world
            .events(ADA, &format!("{day}&actor={}", actor.replace(' ', "%20")))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found["total"], total, "{actor}: {found}");
    }
    // Past the lists, the others still count: the bulk clients and Mia (by her e-mail
    // address, which contains "c").
    let (_, broad) = world.events(ADA, &format!("{day}&actor=c")).await;
    assert_eq!(broad["total"], 1001 + 1, "{broad}");
}
