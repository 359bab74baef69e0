//! Devices (issue 19, part 3): an application that requires a device gets tokens only when
//! the request also proves an enabled device of its organisation in `X-Device-Authorization`,
//! as SanteDB sends it; the token, introspection and the audit trail name the device. Every
//! refusal of the matrix, the throttle, the portal API for every role, and the command line.
//! Both databases.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use clavis::db::DbConn;
use clavis::db::schema::{audit_events, device_secrets};
use clavis_shared::devices::CreateDevice;
use clavis_shared::portal::UpdateApplication;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::clavis;
use crate::portal::{Who, World};
use crate::server::{TestServer, http, http_from};
use crate::support::{TestDb, admin, secret_for, seed, seed_beta};
use crate::{on_both_databases, on_both_databases_async};

on_both_databases_async!(
    a_santedb_request_with_its_device_gets_a_token_naming_the_device,
    device_refusals_are_invalid_client_with_the_device_reason_audited,
    wrong_device_secrets_are_throttled_per_device,
    credential_managers_manage_their_organisations_devices,
    replaced_device_secrets_are_marked_and_deleted_in_one_step,
);
on_both_databases!(devices_are_managed_from_the_command_line);

/// A device of `organisation` with one secret: (device id, secret value).
fn device_with_secret(db: &TestDb, organisation: &str, name: &str) -> (String, String) {
    let (device_id, value, _) = device_with_secret_id(db, organisation, name);
    (device_id, value)
}

/// A device of `organisation` with one secret: (device id, secret value, secret id).
fn device_with_secret_id(db: &TestDb, organisation: &str, name: &str) -> (String, String, String) {
    let now = clavis::db::now();
    let new = CreateDevice {
        name: name.to_owned(),
        device_id: None,
    };
    let device =
        clavis::devices::create(&mut db.conn(), organisation, &new, &admin(), now).unwrap();
    let secret = clavis::devices::create_secret(
        &mut db.conn(),
        &device.device_id,
        "node secret",
        "",
        now + Duration::days(90),
        &admin(),
        now,
    )
    .unwrap();
    (device.device_id, secret.value, secret.info.id)
}

fn require_device(db: &TestDb, client_id: &str, required: bool) {
    let changes = UpdateApplication {
        requires_device: Some(required),
        ..UpdateApplication::default()
    };
    clavis::apps::update(
        &mut db.conn(),
        client_id,
        &changes,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
}

/// The SanteDB request: the usual client credentials form with `scope=*`, plus the device.
async fn santedb_token(
    client: &reqwest::Client,
    server: &TestServer,
    client_id: &str,
    secret: &str,
    device: Option<&str>,
) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", "*")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", secret)
        .finish();
    let mut request = client
        .post(server.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(device) = device {
        request = request.header("X-Device-Authorization", device);
    }
    request.send().await.unwrap()
}

/// `X-Device-Authorization` as SanteDB writes it (upper-case scheme).
fn device_header(device_id: &str, secret: &str) -> String {
    format!("BASIC {}", STANDARD.encode(format!("{device_id}:{secret}")))
}

/// The introspection of `token`, asked by its own client.
async fn introspect(server: &TestServer, client_id: &str, secret: &str, token: &str) -> Value {
    http()
        .post(server.url("/oauth2/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The `client.authenticate` refusals' details, oldest first, once `count` are written.
async fn refusals(db: &TestDb, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let mut conn = db.conn();
        let conn: &mut DbConn = &mut conn;
        let details: Vec<String> = audit_events::table
            .filter(audit_events::action.eq("client.authenticate"))
            .order(audit_events::id)
            .select(audit_events::details)
            .load(conn)
            .unwrap();
        if details.len() >= count {
            return details
                .iter()
                .map(|details| serde_json::from_str(details).unwrap())
                .collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} refusals");
}

async fn a_santedb_request_with_its_device_gets_a_token_naming_the_device(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id.clone();
    let secret = secret_for(&db, &client_id);
    let (device_id, device_secret) =
        device_with_secret(&db, &seeded.organisation.id, "ward 3 node");
    require_device(&db, &client_id, true);
    let server = TestServer::start(db, "").await;

    let response = santedb_token(
        &http(),
        &server,
        &client_id,
        &secret,
        Some(&device_header(&device_id, &device_secret)),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap();
    let claims = claims_of(access_token);
    assert_eq!(claims["device_id"], device_id.as_str());
    // scope=* is every scope granted for the API.
    let granted = &seeded.application.grants[0].scopes;
    assert_eq!(body["scope"], granted.join(" "));
    assert!(!granted.is_empty());

    let introspection = introspect(&server, &client_id, &secret, access_token).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["device_id"], device_id.as_str());
    // Disabling the device ends its tokens at introspection, as deleting a secret does.
    clavis::devices::set_enabled(
        &mut server.db.conn(),
        &device_id,
        false,
        &admin(),
        Utc::now(),
    )
    .unwrap();
    let introspection = introspect(&server, &client_id, &secret, access_token).await;
    assert_eq!(introspection["active"], false);
    clavis::devices::set_enabled(
        &mut server.db.conn(),
        &device_id,
        true,
        &admin(),
        Utc::now(),
    )
    .unwrap();
    // Enabled again, it does not bring back what it was issued before: a device is disabled
    // when it is lost or compromised. Its new tokens work.
    let introspection = introspect(&server, &client_id, &secret, access_token).await;
    assert_eq!(
        introspection["active"], false,
        "re-enabling revives no old token"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let header = device_header(&device_id, &device_secret);
    let response = santedb_token(&http(), &server, &client_id, &secret, Some(&header)).await;
    let body: Value = response.json().await.unwrap();
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&server, &client_id, &secret, fresh).await["active"],
        true
    );

    // An application that does not require a device ignores the header, malformed or not.
    require_device(&server.db, &client_id, false);
    let response = santedb_token(&http(), &server, &client_id, &secret, Some("Bearer x")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(
        claims_of(body["access_token"].as_str().unwrap())
            .get("device_id")
            .is_none()
    );
    // The device secret's last use is recorded like a client secret's (written at the latest
    // when the server stops).
    let (db, _) = server.stop().await;
    let listed = clavis::devices::list_secrets(&mut db.conn(), &device_id, Utc::now()).unwrap();
    assert!(
        listed[0].last_used_at.is_some(),
        "the device secret's last use is recorded"
    );
}

async fn device_refusals_are_invalid_client_with_the_device_reason_audited(db: TestDb) {
    let seeded = seed(&db);
    let beta = seed_beta(&db, clavis::db::now());
    let client_id = seeded.application.client_id.clone();
    let secret = secret_for(&db, &client_id);
    let (device_id, device_secret) = device_with_secret(&db, &seeded.organisation.id, "ward 3");
    let (disabled_id, disabled_secret) = device_with_secret(&db, &seeded.organisation.id, "old");
    clavis::devices::set_enabled(&mut db.conn(), &disabled_id, false, &admin(), Utc::now())
        .unwrap();
    let (expired_id, expired_secret) = device_with_secret(&db, &seeded.organisation.id, "lapsed");
    {
        let mut conn = db.conn();
        let conn: &mut DbConn = &mut conn;
        diesel::update(device_secrets::table.filter(device_secrets::device_id.eq(&expired_id)))
            .set(device_secrets::expires_at.eq((Utc::now() - Duration::minutes(1)).naive_utc()))
            .execute(conn)
            .unwrap();
    }
    let (beta_id, beta_secret) = device_with_secret(&db, &beta.organisation.id, "beta node");
    require_device(&db, &client_id, true);
    let server = TestServer::start(db, "token_failure_limit = 100").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let wrong = clavis::secrets::value::ClientSecretValue::generate(uuid::Uuid::new_v4());

    let cases = [
        (None, "device_required"),
        (
            Some(device_header(&unknown, &device_secret)),
            "unknown_device",
        ),
        (
            Some(device_header(&device_id, wrong.expose())),
            "wrong_device_secret",
        ),
        (
            Some(device_header(&device_id, "not-a-clavis-secret")),
            "unknown_device",
        ),
        (
            Some(device_header(&disabled_id, &disabled_secret)),
            "disabled_device",
        ),
        (
            Some(device_header(&expired_id, &expired_secret)),
            "expired_device_secret",
        ),
        (
            Some(device_header(&beta_id, &beta_secret)),
            "device_of_another_organisation",
        ),
    ];
    for (header, reason) in &cases {
        let response =
            santedb_token(&http(), &server, &client_id, &secret, header.as_deref()).await;
        assert_eq!(response.status(), 401, "{reason}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{reason}");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains("requires a device"),
            "{reason}: {description}"
        );
    }
    let audited = refusals(&server.db, cases.len()).await;
    let reasons: Vec<&str> = audited
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = cases.iter().map(|(_, reason)| *reason).collect();
    assert_eq!(reasons, expected);
    assert_eq!(audited[4]["device_id"], disabled_id.as_str());

    // A header that is not Basic credentials tells the client what to send.
    for malformed in [
        "Bearer abc",
        "Basic !!!",
        &format!("Basic {}", STANDARD.encode("no-colon")),
    ] {
        let response = santedb_token(&http(), &server, &client_id, &secret, Some(malformed)).await;
        assert_eq!(response.status(), 400, "{malformed}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("X-Device-Authorization"),
            "{body}"
        );
    }
    // The device proves nothing without a valid client: the client is checked first.
    let response = santedb_token(
        &http(),
        &server,
        &client_id,
        wrong.expose(),
        Some(&device_header(&device_id, &device_secret)),
    )
    .await;
    assert_eq!(response.status(), 401);
    server.stop().await;
}

async fn wrong_device_secrets_are_throttled_per_device(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id.clone();
    let secret = secret_for(&db, &client_id);
    let (device_id, device_secret, secret_id) =
        device_with_secret_id(&db, &seeded.organisation.id, "ward 3");
    require_device(&db, &client_id, true);
    let server = TestServer::start(
        db,
        "token_failure_limit = 3\ntoken_failure_window_secs = 60",
    )
    .await;
    // The real node proves itself once before the attack.
    let good = device_header(&device_id, &device_secret);
    assert_eq!(
        santedb_token(&http(), &server, &client_id, &secret, Some(&good))
            .await
            .status(),
        200
    );

    // A real guess: the secret's id, with other random characters.
    let wrong = clavis::secrets::value::ClientSecretValue::generate(
        uuid::Uuid::parse_str(&secret_id).unwrap(),
    );
    let guess = device_header(&device_id, wrong.expose());
    let attacker = http_from("127.0.0.2");
    for _ in 0..3 {
        let response = santedb_token(&attacker, &server, &client_id, &secret, Some(&guess)).await;
        assert_eq!(response.status(), 401);
    }
    let throttled = santedb_token(&attacker, &server, &client_id, &secret, Some(&guess)).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    // The real node, whose secret this instance has proven, is not slowed.
    for _ in 0..3 {
        assert_eq!(
            santedb_token(&http(), &server, &client_id, &secret, Some(&good))
                .await
                .status(),
            200
        );
    }
    server.stop().await;
}

async fn credential_managers_manage_their_organisations_devices(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let list = format!("/api/v1/organisations/{}/devices", world.acme.id);
    let supplied = "6F1C2D3E-4B5A-4C7D-8E9F-0A1B2C3D4E5F";
    let new = json!({"name": "ward 3 node", "device_id": supplied});
    for (who, read, write) in [
        (
            Who::Anonymous,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
        ),
        (Who::Viewer, StatusCode::OK, StatusCode::FORBIDDEN),
        (
            Who::OtherManager,
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = world.call(who, Method::GET, &list, None).await;
        assert_eq!(status, read, "{who:?}: {body}");
        let (status, body) = world.call(who, Method::POST, &list, Some(&new)).await;
        assert_eq!(status, write, "{who:?}: {body}");
    }
    let (status, created) = world
        .call(Who::Manager, Method::POST, &list, Some(&new))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let device_id = supplied.to_lowercase();
    assert_eq!(created["device_id"], device_id.as_str());
    assert_eq!(created["enabled"], true);
    for (body, field) in [
        (json!({"name": "ward 3 node"}), None),
        (json!({"name": "other", "device_id": supplied}), None),
        (json!({"name": " "}), Some("name")),
        (
            json!({"name": "x", "device_id": "not-a-guid"}),
            Some("device_id"),
        ),
    ] {
        let (status, refused) = world
            .call(Who::Manager, Method::POST, &list, Some(&body))
            .await;
        match field {
            None => assert_eq!(status, StatusCode::CONFLICT, "{body}: {refused}"),
            Some(field) => {
                assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{body}: {refused}"
                );
                assert_eq!(refused["field"], field);
            }
        }
    }

    let device = format!("/api/v1/devices/{device_id}");
    let secrets = format!("{device}/secrets");
    let expires_on = (Utc::now() + Duration::days(90)).date_naive().to_string();
    let new_secret = json!({"name": "node secret", "expires_on": expires_on});
    for (who, read, write) in [
        (Who::Viewer, StatusCode::OK, StatusCode::FORBIDDEN),
        (
            Who::OtherManager,
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, _) = world.call(who, Method::GET, &secrets, None).await;
        assert_eq!(status, read, "{who:?}");
        let (status, _) = world
            .call(who, Method::POST, &secrets, Some(&new_secret))
            .await;
        assert_eq!(status, write, "{who:?}");
        let (status, _) = world
            .call(
                who,
                Method::PATCH,
                &device,
                Some(&json!({"enabled": false})),
            )
            .await;
        assert_eq!(status, write, "{who:?}");
    }
    let (status, secret) = world
        .call(Who::Admin, Method::POST, &secrets, Some(&new_secret))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{secret}");
    assert_eq!(secret["value"].as_str().unwrap().len(), 80);
    let (_, listed) = world.call(Who::Viewer, Method::GET, &secrets, None).await;
    assert_eq!(listed[0]["hint"], secret["hint"]);
    assert!(listed[0].get("value").is_none(), "never the value again");
    let (_, devices) = world.call(Who::Viewer, Method::GET, &list, None).await;
    assert_eq!(devices[0]["active_secrets"], 1);

    let (status, disabled) = world
        .call(
            Who::Manager,
            Method::PATCH,
            &device,
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(disabled["enabled"], false);
    let path = format!("{secrets}/{}", secret["id"].as_str().unwrap());
    let (status, _) = world.call(Who::Manager, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = world.call(Who::Viewer, Method::GET, &secrets, None).await;
    assert_eq!(listed, json!([]));
    let (_, events) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/audit-events?action=device.disable",
            None,
        )
        .await;
    assert_eq!(
        events["events"][0]["summary"],
        "mia.manager@acme.test disabled the device “ward 3 node”"
    );
}

/// A device secret carries a description, is marked replaced once a newer one outlives it,
/// and the replaced ones go in one step, as an application's do.
async fn replaced_device_secrets_are_marked_and_deleted_in_one_step(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let list = format!("/api/v1/organisations/{}/devices", world.acme.id);
    let (_, created) = world
        .call(
            Who::Manager,
            Method::POST,
            &list,
            Some(&json!({"name": "ward 3 node"})),
        )
        .await;
    let secrets = format!(
        "/api/v1/devices/{}/secrets",
        created["device_id"].as_str().unwrap()
    );
    let replaced = secrets.replace("/secrets", "/replaced-secrets");
    let on = |days: i64| (Utc::now() + Duration::days(days)).date_naive().to_string();
    for (name, days) in [("old", 30), ("new", 200)] {
        let body =
            json!({"name": name, "expires_on": on(days), "description": format!("{name} gateway")});
        let (status, secret) = world
            .call(Who::Manager, Method::POST, &secrets, Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{secret}");
        assert_eq!(secret["description"], format!("{name} gateway"));
    }
    let too_long = json!({"name": "x", "expires_on": on(30), "description": "d".repeat(201)});
    let (status, refused) = world
        .call(Who::Manager, Method::POST, &secrets, Some(&too_long))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "description");
    let (_, listed) = world.call(Who::Viewer, Method::GET, &secrets, None).await;
    let statuses: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("old", "replaced"), ("new", "active")]);
    assert_eq!(listed[0]["description"], "old gateway");

    for (who, refused) in [
        (Who::Anonymous, StatusCode::UNAUTHORIZED),
        (Who::Viewer, StatusCode::FORBIDDEN),
        (Who::OtherManager, StatusCode::NOT_FOUND),
    ] {
        let (status, body) = world.call(who, Method::DELETE, &replaced, None).await;
        assert_eq!(status, refused, "{who:?}: {body}");
    }
    let (status, deleted) = world
        .call(Who::Manager, Method::DELETE, &replaced, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted.as_array().unwrap().len(), 1);
    assert_eq!(deleted[0]["name"], "old");
    let (_, listed) = world.call(Who::Viewer, Method::GET, &secrets, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "new");
    let (_, again) = world
        .call(Who::Manager, Method::DELETE, &replaced, None)
        .await;
    assert_eq!(again, json!([]), "nothing left to delete");
    let (_, events) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/audit-events?action=device_secret.delete",
            None,
        )
        .await;
    assert_eq!(events["total"], 1, "{events}");
    assert_eq!(
        events["events"][0]["summary"],
        "mia.manager@acme.test deleted the device secret “old” of the device “ward 3 node”"
    );
}

fn devices_are_managed_from_the_command_line(db: &TestDb) {
    seed(db);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--json");
        let output = clavis(db, &all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let created = run(&["device", "create", "--org", "Acme", "--name", "ward 3 node"]);
    let device_id = created[0]["device_id"].as_str().unwrap().to_owned();
    let secret = run(&[
        "device",
        "secret-create",
        "--device",
        &device_id,
        "--name",
        "s1",
        "--expires",
        "30d",
    ]);
    assert_eq!(secret["value"].as_str().unwrap().len(), 80);
    assert_eq!(secret["description"], "");
    let described = run(&[
        "device",
        "secret-create",
        "--device",
        &device_id,
        "--name",
        "s2",
        "--description",
        "ward 3 gateway",
        "--expires",
        "60d",
    ]);
    assert_eq!(described["description"], "ward 3 gateway");
    // An id pasted in upper case names the same secret.
    let upper = described["id"].as_str().unwrap().to_uppercase();
    let deleted = run(&[
        "device",
        "secret-delete",
        "--device",
        &device_id,
        "--id",
        &upper,
    ]);
    assert_eq!(deleted[0]["name"], "s2");
    assert_eq!(run(&["device", "disable", &device_id])[0]["enabled"], false);
    let listed = run(&["device", "list", "--org", "Acme"]);
    assert_eq!(listed[0]["enabled"], false);
    assert_eq!(listed[0]["active_secrets"], 1);
    let refused = clavis(
        db,
        &[
            "device", "create", "--org", "Acme", "--name", "x", "--id", "nope",
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.contains("is not a GUID"), "{stderr}");
    let app = run(&["app", "list", "--org", "Acme"])[0]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        run(&["app", "require-device", "--app", &app, "true"])["requires_device"],
        true
    );
}
