//! The portal's JSON API over HTTP: every endpoint against every role (anonymous, viewer,
//! a credential manager of another organisation, credential manager, admin), CSRF, session
//! expiry and logout, on both databases. Sessions are opened by the real session module; the
//! sign-in that opens them in production is tested against a real provider in `login`.

use chrono::Duration;
use clavis::db::schema::sessions;
use clavis::secrets;
use clavis::session;
use clavis::users::{self, Person};
use clavis_shared::dto::{Application, Organisation, Role};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_databases_async;
use crate::server::{TestServer, http};
use crate::smtp_sink::SmtpSink;
use crate::support::{Seeded, TestDb, admin, demo_world, jwks_algorithms, seed, seed_beta};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Anonymous,
    Viewer,
    /// A credential manager of Beta, acting on Acme's resources.
    OtherManager,
    Manager,
    Admin,
}

const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Viewer,
    Who::OtherManager,
    Who::Manager,
    Who::Admin,
];

pub(crate) fn email_of(who: Who) -> &'static str {
    match who {
        Who::Anonymous => "",
        Who::Viewer => "vic.viewer@acme.test",
        Who::OtherManager => "ben.manager@beta.test",
        Who::Manager => "mia.manager@acme.test",
        Who::Admin => "ada.admin@clavis.test",
    }
}

/// Acme (with its application) and Beta (with its own), and one person per role.
pub(crate) struct World {
    pub(crate) server: TestServer,
    pub(crate) acme: Organisation,
    pub(crate) beta: Organisation,
    pub(crate) app_a: Application,
    pub(crate) app_b: Application,
    tokens: Vec<(Who, String)>,
}

impl World {
    pub(crate) async fn start(test_db: TestDb, settings: &str) -> Self {
        let seeded = seed(&test_db);
        let now = clavis::db::now();
        let Seeded {
            organisation: beta,
            application: app_b,
        } = seed_beta(&test_db, now);
        let server = TestServer::start(test_db, settings).await;
        let mut world = Self {
            acme: seeded.organisation,
            app_a: seeded.application,
            beta,
            app_b,
            server,
            tokens: Vec::new(),
        };
        // Each person's role, as the demo world gives it.
        for who in EVERYONE.into_iter().filter(|who| *who != Who::Anonymous) {
            let (role, organisation) = demo_world().role_of(email_of(who));
            let token = world.grant_and_sign_in(who, role, organisation);
            world.tokens.push((who, token));
        }
        world
    }

    fn grant_and_sign_in(&self, who: Who, role: Role, organisation: Option<&str>) -> String {
        let mut conn = self.server.db.conn();
        let assignment = users::grant(
            &mut conn,
            &Person::Email(email_of(who).into()),
            role,
            organisation,
            &admin(),
            clavis::db::now(),
        )
        .unwrap();
        self.open_session(&assignment.user_id)
    }

    fn open_session(&self, user_id: &str) -> String {
        let mut conn = self.server.db.conn();
        let (token, _) = session::create(
            &mut conn,
            user_id,
            &[],
            &self.server.state.login.sessions,
            clavis::db::now(),
        )
        .unwrap();
        token.expose().to_owned()
    }

    fn token(&self, who: Who) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(known, _)| *known == who)
            .map(|(_, token)| token.as_str())
    }

    /// A request as the portal sends it: session cookie, the portal's Origin, CSRF token.
    fn request(&self, who: Who, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = http()
            .request(method, self.server.url(path))
            .header("Origin", &self.server.base);
        if let Some(token) = self.token(who) {
            request = request
                .header("Cookie", format!("clavis_session={token}"))
                .header("X-CSRF-Token", session::csrf_token(token));
        }
        request
    }

    pub(crate) async fn call(
        &self,
        who: Who,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(who, method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    fn secret_for(&self, client_id: &str, name: &str, days: i64) -> String {
        let mut conn = self.server.db.conn();
        let now = clavis::db::now();
        secrets::create(
            &mut conn,
            client_id,
            name,
            now + Duration::days(days),
            &admin(),
            now,
        )
        .unwrap()
        .info
        .id
    }
}

async fn every_endpoint_answers_every_role_as_authorization_says(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let (a, b) = (&world.app_a.client_id, &world.app_b.client_id);
    let (oa, ob) = (&world.acme.id, &world.beta.id);
    // Each role deletes a secret of its own, so one role's success does not change another's.
    let doomed: Vec<(Who, String, String)> = EVERYONE
        .iter()
        .map(|who| {
            (
                *who,
                world.secret_for(a, &format!("doomed-a-{who:?}"), 200),
                world.secret_for(b, &format!("doomed-b-{who:?}"), 200),
            )
        })
        .collect();
    let revocable = {
        let mut conn = world.server.db.conn();
        users::grant(
            &mut conn,
            &Person::Email("leaving@acme.test".into()),
            Role::Viewer,
            Some(oa),
            &admin(),
            clavis::db::now(),
        )
        .unwrap()
        .id
    };
    let expires_on = (chrono::Utc::now() + Duration::days(90))
        .date_naive()
        .to_string();
    let new_secret = json!({"name": "rotation", "expires_on": expires_on});
    use StatusCode as S;
    const U: S = S::UNAUTHORIZED;
    const F: S = S::FORBIDDEN;
    const N: S = S::NOT_FOUND;
    const OK: S = S::OK;
    const C: S = S::CREATED;
    const D: S = S::NO_CONTENT;
    // Expected status for: anonymous, viewer (Acme), manager of Beta, manager (Acme), admin.
    let rows: Vec<(Method, String, Option<Value>, [S; 5])> = vec![
        (Method::GET, "/api/v1/me".into(), None, [U, OK, OK, OK, OK]),
        (
            Method::GET,
            "/api/v1/organisations".into(),
            None,
            [U, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            format!("/api/v1/organisations/{oa}"),
            None,
            [U, OK, N, OK, OK],
        ),
        (
            Method::GET,
            format!("/api/v1/organisations/{ob}"),
            None,
            [U, N, OK, N, OK],
        ),
        (
            Method::GET,
            format!("/api/v1/organisations/{oa}/applications"),
            None,
            [U, OK, N, OK, OK],
        ),
        (
            Method::GET,
            format!("/api/v1/applications/{a}"),
            None,
            [U, OK, N, OK, OK],
        ),
        (
            Method::GET,
            format!("/api/v1/applications/{b}"),
            None,
            [U, N, OK, N, OK],
        ),
        (
            Method::GET,
            format!("/api/v1/applications/{a}/secrets"),
            None,
            [U, OK, N, OK, OK],
        ),
        (
            Method::POST,
            format!("/api/v1/applications/{a}/secrets"),
            Some(new_secret.clone()),
            [U, F, N, C, C],
        ),
        (
            Method::POST,
            format!("/api/v1/applications/{b}/secrets"),
            Some(new_secret.clone()),
            [U, N, C, N, C],
        ),
        (
            Method::GET,
            "/api/v1/secrets/expiring".into(),
            None,
            [U, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            "/api/v1/audit-events".into(),
            None,
            [U, OK, OK, OK, OK],
        ),
        (
            Method::GET,
            format!("/api/v1/audit-events?organisation_id={oa}"),
            None,
            [U, OK, N, OK, OK],
        ),
        (Method::GET, "/api/v1/apis".into(), None, [U, F, F, F, OK]),
        (
            Method::POST,
            "/api/v1/apis".into(),
            Some(
                json!({"code": "REG", "name": "Registry", "audience": "https://api.example.org/reg", "scopes": ["reg.read"]}),
            ),
            [U, F, F, F, C],
        ),
        (
            Method::PATCH,
            "/api/v1/apis/SMC".into(),
            Some(json!({"name": "Ship Manifests v2"})),
            [U, F, F, F, OK],
        ),
        (
            Method::POST,
            "/api/v1/apis".into(),
            Some(
                json!({"code": "RSA", "name": "Legacy", "audience": "https://api.example.org/rsa", "scopes": [], "signing_alg": "RS256"}),
            ),
            [U, F, F, F, C],
        ),
        (
            Method::PATCH,
            "/api/v1/apis/SMC".into(),
            Some(json!({"signing_alg": "EdDSA"})),
            [U, F, F, F, OK],
        ),
        (
            Method::POST,
            "/api/v1/organisations".into(),
            Some(json!({"name": "Gamma", "country": "DE"})),
            [U, F, F, F, C],
        ),
        (
            Method::PATCH,
            format!("/api/v1/organisations/{oa}"),
            Some(json!({"sandbox": false})),
            [U, F, F, F, OK],
        ),
        (
            Method::POST,
            "/api/v1/applications".into(),
            Some(json!({"organisation_id": oa, "api_codes": ["REG"]})),
            [U, F, F, F, C],
        ),
        (
            Method::GET,
            format!("/api/v1/applications/suggest-name?organisation_id={oa}&api_code=SMC"),
            None,
            [U, F, F, F, OK],
        ),
        (
            Method::PATCH,
            format!("/api/v1/applications/{a}"),
            Some(json!({"token_lifetime_secs": 1800})),
            [U, F, F, F, OK],
        ),
        (
            Method::GET,
            "/api/v1/role-assignments".into(),
            None,
            [U, F, F, F, OK],
        ),
        (
            Method::POST,
            "/api/v1/role-assignments".into(),
            Some(json!({"email": "new@acme.test", "role": "viewer", "organisation_id": oa})),
            [U, F, F, F, C],
        ),
        (
            Method::DELETE,
            format!("/api/v1/role-assignments/{revocable}"),
            None,
            [U, F, F, F, D],
        ),
        (
            Method::GET,
            "/api/v1/reminders/failing".into(),
            None,
            [U, F, F, F, OK],
        ),
    ];
    for (method, path, body, expected) in &rows {
        for (who, want) in EVERYONE.iter().zip(expected) {
            let (status, answer) = world.call(*who, method.clone(), path, body.as_ref()).await;
            assert_eq!(status, *want, "{who:?} {method} {path}: {answer}");
        }
    }
    // Deleting: each role tries its own secret of each application.
    for (who, secret_a, secret_b) in &doomed {
        let expected_a = [U, F, N, D, D][EVERYONE.iter().position(|w| w == who).unwrap()];
        let expected_b = [U, N, D, N, D][EVERYONE.iter().position(|w| w == who).unwrap()];
        for (client_id, secret, want) in [(a, secret_a, expected_a), (b, secret_b, expected_b)] {
            let path = format!("/api/v1/applications/{client_id}/secrets/{secret}");
            let (status, answer) = world.call(*who, Method::DELETE, &path, None).await;
            assert_eq!(status, want, "{who:?} DELETE {path}: {answer}");
        }
    }
}

async fn contacts_see_only_their_organisations(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let soon = world.secret_for(&world.app_a.client_id, "old", 10);
    let (_, organisations) = world
        .call(Who::Viewer, Method::GET, "/api/v1/organisations", None)
        .await;
    assert_eq!(
        organisations["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Acme"]
    );
    let (_, all) = world
        .call(Who::Admin, Method::GET, "/api/v1/organisations", None)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(all["total"], 2);

    let (_, expiring) = world
        .call(Who::Viewer, Method::GET, "/api/v1/secrets/expiring", None)
        .await;
    assert_eq!(expiring[0]["secret"]["id"], soon.as_str());
    assert_eq!(expiring[0]["secret"]["status"], "expiring");
    assert_eq!(expiring[0]["client_id"], world.app_a.client_id.as_str());
    let (_, elsewhere) = world
        .call(
            Who::OtherManager,
            Method::GET,
            "/api/v1/secrets/expiring",
            None,
        )
        .await;
    assert_eq!(elsewhere, json!([]));

    // Another organisation's application is indistinguishable from one that does not exist.
    let path = format!("/api/v1/applications/{}", world.app_a.client_id);
    let (status, hidden) = world
        .call(Who::OtherManager, Method::GET, &path, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let missing_id = uuid::Uuid::new_v4().to_string();
    let (_, missing) = world
        .call(
            Who::OtherManager,
            Method::GET,
            &format!("/api/v1/applications/{missing_id}"),
            None,
        )
        .await;
    assert_eq!(hidden["error"], missing["error"]);
    assert_eq!(
        hidden["message"]
            .as_str()
            .unwrap()
            .replace(&world.app_a.client_id, "X"),
        missing["message"]
            .as_str()
            .unwrap()
            .replace(&missing_id, "X"),
    );

    let (_, summaries) = world
        .call(
            Who::Viewer,
            Method::GET,
            &format!("/api/v1/organisations/{}/applications", world.acme.id),
            None,
        )
        .await;
    assert_eq!(summaries[0]["client_id"], world.app_a.client_id.as_str());
    assert_eq!(summaries[0]["active_secrets"], 1);
    assert!(summaries[0]["soonest_expiry"].is_string());

    let (_, events) = world
        .call(Who::OtherManager, Method::GET, "/api/v1/audit-events", None)
        .await;
    let events = events["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["organisation_id"] == world.beta.id.as_str()),
        "{events:?}"
    );

    let (_, me) = world
        .call(Who::Manager, Method::GET, "/api/v1/me", None)
        .await;
    assert_eq!(me["user"]["email"], email_of(Who::Manager));
    assert_eq!(me["admin"], false);
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1);
    assert_eq!(me["memberships"][0]["organisation"]["name"], "Acme");
    assert_eq!(me["memberships"][0]["role"], "credential_manager");
    assert_eq!(
        me["csrf_token"],
        session::csrf_token(world.token(Who::Manager).unwrap()).as_str()
    );
}

async fn a_secret_created_in_the_portal_works_once_shown_and_stops_when_deleted(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let a = world.app_a.client_id.clone();
    let expires_on = (chrono::Utc::now() + Duration::days(180)).date_naive();
    let (status, created) = world
        .call(
            Who::Manager,
            Method::POST,
            &format!("/api/v1/applications/{a}/secrets"),
            Some(&json!({"name": "integration", "expires_on": expires_on})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let value = created["value"].as_str().unwrap().to_owned();
    assert_eq!(created["hint"], &value[..3]);
    assert_eq!(created["expires_at"], format!("{expires_on}T23:59:59Z"));
    assert_eq!(created["created_by"], email_of(Who::Manager));

    let token = |secret: String| {
        let (url, client_id) = (world.server.url("/oauth2/token"), a.clone());
        async move {
            http()
                .post(url)
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(token(value.clone()).await, StatusCode::OK);

    let (_, listed) = world
        .call(
            Who::Viewer,
            Method::GET,
            &format!("/api/v1/applications/{a}/secrets"),
            None,
        )
        .await;
    assert_eq!(listed[0]["hint"], &value[..3]);
    assert!(
        !listed.to_string().contains(&value),
        "the value is shown only once"
    );

    let (_, events) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/audit-events?action=secret.create",
            None,
        )
        .await;
    assert_eq!(events["events"][0]["actor"], email_of(Who::Manager));
    assert_eq!(events["events"][0]["actor_kind"], "user");

    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/applications/{a}/secrets/{id}");
    assert_eq!(
        world
            .call(Who::Manager, Method::DELETE, &path, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(token(value).await, StatusCode::UNAUTHORIZED);

    // The domain's rules answer with words a person understands, naming the field.
    let too_late = (chrono::Utc::now() + Duration::days(400)).date_naive();
    let (status, refused) = world
        .call(
            Who::Manager,
            Method::POST,
            &format!("/api/v1/applications/{a}/secrets"),
            Some(&json!({"name": "far", "expires_on": too_late})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"], "validation_failed");
    assert!(
        refused["message"].as_str().unwrap().contains("one year"),
        "{refused}"
    );
    let (status, refused) = world
        .call(
            Who::Manager,
            Method::POST,
            &format!("/api/v1/applications/{a}/secrets"),
            Some(&json!({"name": "typo", "expires": "2027-01-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}

async fn state_changes_need_the_csrf_token_and_the_portal_origin(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let token = world.token(Who::Manager).unwrap().to_owned();
    let other = world.token(Who::Admin).unwrap().to_owned();
    let path = format!("/api/v1/applications/{}/secrets", world.app_a.client_id);
    let body = json!({"name": "csrf", "expires_on": (chrono::Utc::now() + Duration::days(30)).date_naive()});
    let before = world.server.db.count("client_secrets");
    let attempt = |origin: Option<&str>, csrf: Option<String>| {
        let mut request = http()
            .post(world.server.url(&path))
            .header("Cookie", format!("clavis_session={token}"))
            .json(&body);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        async move {
            let response = request.send().await.unwrap();
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let base = world.server.base.clone();
    for (origin, csrf) in [
        (Some(base.as_str()), None),
        (Some(base.as_str()), Some("forged".to_owned())),
        (Some(base.as_str()), Some(session::csrf_token(&other))),
        (
            Some("https://evil.example"),
            Some(session::csrf_token(&token)),
        ),
        (None, Some(session::csrf_token(&token))),
    ] {
        let (status, answer) = attempt(origin, csrf.clone()).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{origin:?} {csrf:?}: {answer}"
        );
        assert_eq!(answer["error"], "forbidden");
    }
    assert_eq!(
        world.server.db.count("client_secrets"),
        before,
        "nothing was written"
    );
    let (status, _) = attempt(Some(&base), Some(session::csrf_token(&token))).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn sessions_end_when_idle_at_their_lifetime_and_on_logout(test_db: TestDb) {
    let world = World::start(test_db, "session_idle_timeout_secs = 600").await;
    let me = |token: String| {
        let url = world.server.url("/api/v1/me");
        async move {
            http()
                .get(url)
                .header("Cookie", format!("clavis_session={token}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let shift = |token: &str, column: &str, by: Duration| {
        let mut conn = world.server.db.conn();
        let at = (clavis::db::now() + by).naive_utc();
        let row = sessions::table.find(session::token_hash(token));
        let conn: &mut clavis::db::DbConn = &mut conn;
        match column {
            "last_seen_at" => diesel::update(row)
                .set(sessions::last_seen_at.eq(at))
                .execute(conn),
            _ => diesel::update(row)
                .set(sessions::expires_at.eq(at))
                .execute(conn),
        }
        .unwrap();
    };
    let user_id = {
        let mut conn = world.server.db.conn();
        let conn: &mut clavis::db::DbConn = &mut conn;
        clavis::db::schema::users::table
            .filter(clavis::db::schema::users::email.eq(email_of(Who::Manager)))
            .select(clavis::db::schema::users::id)
            .first::<String>(conn)
            .unwrap()
    };

    // Idle: 9 minutes quiet is fine with a 10-minute idle timeout; 11 is not.
    let idle = world.open_session(&user_id);
    shift(&idle, "last_seen_at", -Duration::minutes(9));
    assert_eq!(me(idle.clone()).await, StatusCode::OK);
    shift(&idle, "last_seen_at", -Duration::minutes(11));
    assert_eq!(me(idle.clone()).await, StatusCode::UNAUTHORIZED);
    shift(&idle, "last_seen_at", Duration::zero());
    assert_eq!(
        me(idle).await,
        StatusCode::UNAUTHORIZED,
        "an ended session stays ended"
    );

    // Absolute: however active, a session ends at its lifetime.
    let old = world.open_session(&user_id);
    assert_eq!(me(old.clone()).await, StatusCode::OK);
    shift(&old, "expires_at", -Duration::seconds(1));
    assert_eq!(me(old).await, StatusCode::UNAUTHORIZED);

    // Logout needs CSRF too; then the session is gone and the cookie is cleared.
    let live = world.open_session(&user_id);
    let refused = http()
        .post(world.server.url("/auth/logout"))
        .header("Cookie", format!("clavis_session={live}"))
        .header("Origin", &world.server.base)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(me(live.clone()).await, StatusCode::OK);
    let response = http()
        .post(world.server.url("/auth/logout"))
        .header("Cookie", format!("clavis_session={live}"))
        .header("Origin", &world.server.base)
        .header("X-CSRF-Token", session::csrf_token(&live))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cleared = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cleared.starts_with("clavis_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"end_session_url": null})
    );
    assert_eq!(me(live).await, StatusCode::UNAUTHORIZED);
}

async fn the_api_describes_itself_and_answers_unknown_paths_in_json(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let document: Value = http()
        .get(world.server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/api/v1/me",
        "/api/v1/applications/{client_id}/secrets",
        "/api/v1/audit-events",
        "/api/v1/role-assignments",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the document");
    }
    assert!(paths["/api/v1/applications/{client_id}/secrets"]["post"].is_object());
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());

    let (status, answer) = world
        .call(Who::Admin, Method::GET, "/api/v1/nothing-here", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"], "not_found");
    let response = world
        .request(Who::Admin, Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
}

on_both_databases_async!(
    every_endpoint_answers_every_role_as_authorization_says,
    contacts_see_only_their_organisations,
    a_secret_created_in_the_portal_works_once_shown_and_stops_when_deleted,
    state_changes_need_the_csrf_token_and_the_portal_origin,
    sessions_end_when_idle_at_their_lifetime_and_on_logout,
    the_api_describes_itself_and_answers_unknown_paths_in_json,
    admins_set_reminder_mailboxes_and_see_addresses_reminders_cannot_reach,
    only_admins_pull_the_kill_switch_and_name_resource_servers,
    admins_choose_each_apis_signing_algorithm,
);

async fn admins_set_reminder_mailboxes_and_see_addresses_reminders_cannot_reach(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let path = format!("/api/v1/organisations/{}", world.acme.id);
    let (status, body) = world
        .call(
            Who::Admin,
            Method::PATCH,
            &path,
            Some(&json!({"notification_email": "nobody"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "notification_email", "{body}");
    let (status, body) = world
        .call(
            Who::Admin,
            Method::PATCH,
            &path,
            Some(&json!({"notification_email": "Integration@Acme.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["notification_email"], "integration@acme.test");
    let (_, seen) = world.call(Who::Manager, Method::GET, &path, None).await;
    assert_eq!(seen["notification_email"], "integration@acme.test");

    // Mia's mailbox refuses mail; after three attempts admins see it.
    let now = clavis::db::now();
    secrets::create(
        &mut world.server.db.conn(),
        &world.app_a.client_id,
        "prod",
        now + Duration::days(5),
        &admin(),
        now - Duration::days(30),
    )
    .unwrap();
    let sink = SmtpSink::start();
    sink.refuse(email_of(Who::Manager));
    let settings = clavis::notify::SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port(),
        tls: clavis::notify::SmtpTls::None,
        credentials: None,
        from: "clavis@example.org".parse().unwrap(),
    };
    let notifier = clavis::notify::Notifier::new(
        Some(clavis::notify::Mailer::new(&settings).unwrap()),
        clavis::public_url::PublicUrls::new(&world.server.base.parse().unwrap()),
    );
    for minutes in [0, 1, 3] {
        let at = now + Duration::minutes(minutes);
        let db = world.server.db.db.clone();
        let notifier = notifier.clone();
        actix_web::web::block(move || notifier.run_pass(&db, at, clavis::notify::Mode::Send))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(sink.mails().len(), 1, "the shared mailbox got its reminder");
    let (status, failing) = world
        .call(Who::Admin, Method::GET, "/api/v1/reminders/failing", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(failing.as_array().unwrap().len(), 1, "{failing}");
    assert_eq!(failing[0]["recipient"], email_of(Who::Manager));
    assert_eq!(failing[0]["organisation_name"], "Acme");
    assert_eq!(failing[0]["undelivered"], 1);
    assert!(
        failing[0]["last_error"].as_str().unwrap().contains("550"),
        "{failing}"
    );
    let (status, _) = world
        .call(Who::Manager, Method::GET, "/api/v1/reminders/failing", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The kill switch and an API's resource servers: every role but admin is refused and nothing
/// changes; an admin's change is audited; a request without the CSRF token is refused.
async fn only_admins_pull_the_kill_switch_and_name_resource_servers(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let (a, b) = (&world.app_a.client_id, &world.app_b.client_id);
    let revoked_before = |client_id: &str| {
        let mut conn = world.server.db.conn();
        clavis::apps::find_by_client_id(&mut conn, client_id)
            .unwrap()
            .tokens_revoked_before
    };
    use StatusCode as S;
    let expected = [S::UNAUTHORIZED, S::FORBIDDEN, S::FORBIDDEN, S::FORBIDDEN];
    let kill = |client_id: &str| format!("/api/v1/applications/{client_id}/revoke-tokens");
    let name_b = json!({ "resource_servers": [b] });
    for (who, want) in EVERYONE[..4].iter().zip(expected) {
        for path in [kill(a), kill(b)] {
            let (status, answer) = world.call(*who, Method::POST, &path, None).await;
            assert_eq!(status, want, "{who:?} POST {path}: {answer}");
        }
        let (status, answer) = world
            .call(*who, Method::PATCH, "/api/v1/apis/SMC", Some(&name_b))
            .await;
        assert_eq!(status, want, "{who:?} PATCH resource servers: {answer}");
    }
    let unprotected = http()
        .post(world.server.url(&kill(a)))
        .header("Origin", &world.server.base)
        .header(
            "Cookie",
            format!("clavis_session={}", world.token(Who::Admin).unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unprotected.status(), S::FORBIDDEN, "no CSRF token");
    assert_eq!(
        revoked_before(a),
        None,
        "no refused request pulled the switch"
    );
    assert_eq!(world.server.db.count("api_resource_servers"), 0);

    let (status, pulled) = world.call(Who::Admin, Method::POST, &kill(a), None).await;
    assert_eq!(status, S::OK, "{pulled}");
    let moment = revoked_before(a).expect("the switch is stored");
    assert_eq!(pulled["tokens_revoked_before"], json!(moment));
    assert_eq!(revoked_before(b), None, "only that application's tokens");
    let (status, missing) = world
        .call(
            Who::Admin,
            Method::POST,
            &kill("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"),
            None,
        )
        .await;
    assert_eq!(status, S::NOT_FOUND, "{missing}");

    let (status, api) = world
        .call(Who::Admin, Method::PATCH, "/api/v1/apis/SMC", Some(&name_b))
        .await;
    assert_eq!(status, S::OK, "{api}");
    assert_eq!(api["resource_servers"], json!([b]));
    let (_, listed) = world
        .call(Who::Admin, Method::GET, "/api/v1/apis", None)
        .await;
    assert_eq!(listed["items"][0]["resource_servers"], json!([b]));
    let unknown = json!({ "resource_servers": [b, "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"] });
    let (status, refused) = world
        .call(
            Who::Admin,
            Method::PATCH,
            "/api/v1/apis/SMC",
            Some(&unknown),
        )
        .await;
    assert_eq!(status, S::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["message"].as_str().is_some_and(|m| m
            .contains("No application has the client_id \"6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f\"")),
        "{refused}"
    );
    assert_eq!(
        world.server.db.count("api_resource_servers"),
        1,
        "unchanged"
    );

    let audited = |action: &str| {
        use clavis::db::{DbConn, schema::audit_events};
        let mut conn = world.server.db.conn();
        let conn: &mut DbConn = &mut conn;
        audit_events::table
            .filter(audit_events::action.eq(action))
            .select(audit_events::actor)
            .load::<String>(conn)
            .unwrap()
    };
    assert_eq!(audited("application.revoke_tokens").len(), 1);
    assert_eq!(audited("api.update").len(), 1);
}

async fn admins_choose_each_apis_signing_algorithm(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let jwks_algs =
        || async { jwks_algorithms(&world.server.get_json("/.well-known/jwks.json").await) };
    assert_eq!(jwks_algs().await, ["ES256"]);
    let new_api = |alg: &str| {
        json!({"code": "REG", "name": "Registry", "audience": "https://api.example.org/reg",
            "scopes": ["reg.read"], "signing_alg": alg})
    };

    let (status, body) = world
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/apis",
            Some(&new_api("HS256")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("HS256") && message.contains("ES256") && message.contains("EdDSA"),
        "names the value and the accepted ones: {body}"
    );

    let (status, created) = world
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/apis",
            Some(&new_api("RS256")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["signing_alg"], "RS256");
    assert_eq!(
        jwks_algs().await,
        ["ES256", "RS256"],
        "its key is published as the API is created"
    );

    let (status, body) = world
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/apis",
            Some(&json!({"code": "DEF", "name": "Default", "audience": "https://api.example.org/def", "scopes": []})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["signing_alg"], "ES256", "the configured default");

    let (status, body) = world
        .call(
            Who::Admin,
            Method::PATCH,
            "/api/v1/apis/SMC",
            Some(&json!({"signing_alg": "none"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for who in [Who::Manager, Who::Viewer, Who::Anonymous] {
        let (status, _) = world
            .call(
                who,
                Method::PATCH,
                "/api/v1/apis/SMC",
                Some(&json!({"signing_alg": "EdDSA"})),
            )
            .await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
            "{who:?}: {status}"
        );
    }
    assert_eq!(
        jwks_algs().await,
        ["ES256", "RS256"],
        "refusals make no key"
    );

    let (status, updated) = world
        .call(
            Who::Admin,
            Method::PATCH,
            "/api/v1/apis/SMC",
            Some(&json!({"signing_alg": "EdDSA"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["signing_alg"], "EdDSA");
    assert_eq!(updated["name"], "Ship Manifests", "the rest stays");
    assert_eq!(jwks_algs().await, ["ES256", "EdDSA", "RS256"]);
    let (_, listed) = world
        .call(Who::Admin, Method::GET, "/api/v1/apis", None)
        .await;
    let algs: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|api| &api["signing_alg"])
        .collect();
    assert_eq!(algs, [&json!("ES256"), &json!("RS256"), &json!("EdDSA")]);

    let (_, events) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/audit-events?action=api.update",
            None,
        )
        .await;
    assert!(
        events.to_string().contains("EdDSA"),
        "the change is audited: {events}"
    );
    world.server.stop().await;
}

mod application_page;
