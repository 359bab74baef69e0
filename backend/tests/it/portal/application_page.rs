//! What the application page asks of the API (issues 16 and 19): replaced secrets deleted in
//! one go, a secret's description, who gets an organisation's reminders and who sets its
//! shared mailbox, and how an application authenticates. Every role is tried, on both
//! databases.

use chrono::Duration;
use clavis::secrets;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{EVERYONE, Who, World, email_of};
use crate::on_both_databases_async;
use crate::support::{TestDb, admin};

on_both_databases_async!(
    replaced_secrets_are_deleted_in_one_go_by_credential_managers_and_admins,
    a_secret_carries_an_optional_bounded_description,
    members_see_who_gets_their_organisations_reminders,
    credential_managers_set_their_organisations_reminder_mailbox,
    credential_managers_choose_how_their_applications_authenticate,
);

/// A secret of `client_id` created `days_ago` days ago that expires in `expires_in` days.
fn secret_created(
    world: &World,
    client_id: &str,
    name: &str,
    days_ago: i64,
    expires_in: i64,
) -> String {
    let now = clavis::db::now();
    secrets::create(
        &mut world.server.db.conn(),
        client_id,
        name,
        now + Duration::days(expires_in),
        &admin(),
        now - Duration::days(days_ago),
    )
    .unwrap()
    .info
    .id
}

async fn replaced_secrets_are_deleted_in_one_go_by_credential_managers_and_admins(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let a = world.app_a.client_id.clone();
    let path = format!("/api/v1/applications/{a}/replaced-secrets");
    let old = secret_created(&world, &a, "old", 20, 30);
    let older = secret_created(&world, &a, "older", 30, 20);
    let current = secret_created(&world, &a, "current", 1, 200);
    let names = |listed: &serde_json::Value| -> Vec<String> {
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|secret| secret["name"].as_str().unwrap().to_owned())
            .collect()
    };

    for (who, expected) in [
        (Who::Anonymous, StatusCode::UNAUTHORIZED),
        (Who::Viewer, StatusCode::FORBIDDEN),
        (Who::OtherManager, StatusCode::NOT_FOUND),
    ] {
        let (status, body) = world.call(who, Method::DELETE, &path, None).await;
        assert_eq!(status, expected, "{who:?}: {body}");
    }
    let (_, refused) = world.call(Who::Viewer, Method::DELETE, &path, None).await;
    assert!(
        refused["message"].as_str().unwrap().contains("Viewers"),
        "{refused}"
    );
    let listed_path = format!("/api/v1/applications/{a}/secrets");
    let (_, listed) = world
        .call(Who::Viewer, Method::GET, &listed_path, None)
        .await;
    assert_eq!(
        names(&listed),
        ["older", "old", "current"],
        "nothing deleted yet"
    );
    assert_eq!(listed[0]["status"], "replaced");

    let (status, deleted) = world.call(Who::Manager, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(names(&deleted), ["older", "old"]);
    let (_, listed) = world
        .call(Who::Viewer, Method::GET, &listed_path, None)
        .await;
    assert_eq!(names(&listed), ["current"]);
    assert_eq!(listed[0]["id"], current);

    // Each deletion is audited as a single one would be.
    let (_, events) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/audit-events?action=secret.delete",
            None,
        )
        .await;
    let mut audited: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["secret_id"].as_str().unwrap())
        .collect();
    audited.sort_unstable();
    let mut expected = vec![old.as_str(), older.as_str()];
    expected.sort_unstable();
    assert_eq!(audited, expected);
    assert_eq!(events["events"][0]["actor"], email_of(Who::Manager));

    // Nothing replaced: nothing deleted. Admins may do it too.
    let (status, deleted) = world.call(Who::Admin, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted, json!([]));
    let unknown = "/api/v1/applications/00000000-0000-4000-8000-000000000000/replaced-secrets";
    let (status, _) = world.call(Who::Admin, Method::DELETE, unknown, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_secret_carries_an_optional_bounded_description(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let path = format!("/api/v1/applications/{}/secrets", world.app_a.client_id);
    let expires_on = (chrono::Utc::now() + Duration::days(90)).date_naive();
    let (status, created) = world
        .call(
            Who::Manager,
            Method::POST,
            &path,
            Some(&json!({"name": "ci", "expires_on": expires_on,
                "description": "  Deploy key of the billing service "})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["description"], "Deploy key of the billing service");
    let (status, plain) = world
        .call(
            Who::Manager,
            Method::POST,
            &path,
            Some(&json!({"name": "plain", "expires_on": expires_on})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["description"], "");

    let (status, refused) = world
        .call(
            Who::Manager,
            Method::POST,
            &path,
            Some(&json!({"name": "long", "expires_on": expires_on,
                "description": "x".repeat(201)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "description");
    assert_eq!(
        refused["message"],
        "The secret's description must be at most 200 characters long."
    );

    let (_, listed) = world.call(Who::Viewer, Method::GET, &path, None).await;
    let described: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["description"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        described.contains(&("ci", "Deploy key of the billing service")),
        "{listed}"
    );
    assert!(described.contains(&("plain", "")), "{listed}");
    assert_eq!(described.len(), 2, "the refused one was not stored");
}

async fn members_see_who_gets_their_organisations_reminders(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let path = format!(
        "/api/v1/organisations/{}/reminder-recipients",
        world.acme.id
    );
    let expected = [
        StatusCode::UNAUTHORIZED,
        StatusCode::OK,
        StatusCode::NOT_FOUND,
        StatusCode::OK,
        StatusCode::OK,
    ];
    for (who, expected) in EVERYONE.into_iter().zip(expected) {
        let (status, body) = world.call(who, Method::GET, &path, None).await;
        assert_eq!(status, expected, "{who:?}: {body}");
    }
    let (_, seen) = world.call(Who::Viewer, Method::GET, &path, None).await;
    assert_eq!(seen["organisation_id"], world.acme.id);
    assert_eq!(
        seen["credential_managers"],
        json!([{"email": email_of(Who::Manager), "name": null}]),
        "the viewer learns whom to ask, and nobody of another organisation"
    );
    // Beta's manager sees Beta's people, not Acme's.
    let beta = format!(
        "/api/v1/organisations/{}/reminder-recipients",
        world.beta.id
    );
    let (status, theirs) = world
        .call(Who::OtherManager, Method::GET, &beta, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        theirs["credential_managers"][0]["email"],
        email_of(Who::OtherManager)
    );
    let (status, _) = world.call(Who::Viewer, Method::GET, &beta, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn credential_managers_set_their_organisations_reminder_mailbox(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let path = format!("/api/v1/organisations/{}/reminder-mailbox", world.acme.id);
    let recipients = format!(
        "/api/v1/organisations/{}/reminder-recipients",
        world.acme.id
    );
    let body = json!({"notification_email": "Team@Acme.test"});
    for (who, expected) in [
        (Who::Anonymous, StatusCode::UNAUTHORIZED),
        (Who::Viewer, StatusCode::FORBIDDEN),
        (Who::OtherManager, StatusCode::NOT_FOUND),
    ] {
        let (status, refused) = world.call(who, Method::PUT, &path, Some(&body)).await;
        assert_eq!(status, expected, "{who:?}: {refused}");
    }
    let (_, refused) = world
        .call(Who::Viewer, Method::PUT, &path, Some(&body))
        .await;
    assert_eq!(
        refused["message"],
        "Only credential managers of the organisation may change where its expiry reminders go."
    );
    let (_, seen) = world
        .call(Who::Viewer, Method::GET, &recipients, None)
        .await;
    assert_eq!(
        seen["notification_email"],
        json!(null),
        "refusals change nothing"
    );

    let (status, updated) = world
        .call(Who::Manager, Method::PUT, &path, Some(&body))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["notification_email"], "team@acme.test");
    let (_, seen) = world
        .call(Who::Viewer, Method::GET, &recipients, None)
        .await;
    assert_eq!(seen["notification_email"], "team@acme.test");
    let (_, events) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/audit-events?action=organisation.update",
            None,
        )
        .await;
    assert_eq!(events["events"][0]["actor"], email_of(Who::Manager));
    assert_eq!(events["events"][0]["organisation_id"], world.acme.id);

    let (status, refused) = world
        .call(
            Who::Manager,
            Method::PUT,
            &path,
            Some(&json!({"notification_email": "team"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "notification_email");

    let (status, cleared) = world
        .call(
            Who::Admin,
            Method::PUT,
            &path,
            Some(&json!({"notification_email": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["notification_email"], json!(null));
}

async fn credential_managers_choose_how_their_applications_authenticate(test_db: TestDb) {
    let world = World::start(test_db, "").await;
    let path = format!(
        "/api/v1/applications/{}/client-authentication",
        world.app_a.client_id
    );
    let chosen = json!({
        "auth_methods": ["tls_client_auth", "client_secret", "client_secret"],
        "tls_client_auth": {"field": "tls_client_auth_subject_dn", "value": " CN=billing, O=Acme "},
        "require_bound_tokens": false,
    });
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
        let (status, body) = world.call(who, Method::GET, &path, None).await;
        assert_eq!(status, read, "{who:?}: {body}");
        let (status, body) = world.call(who, Method::PUT, &path, Some(&chosen)).await;
        assert_eq!(status, write, "{who:?}: {body}");
    }
    let (_, default) = world.call(Who::Viewer, Method::GET, &path, None).await;
    assert_eq!(
        default,
        json!({
            "auth_methods": null, "tls_client_auth": null, "require_bound_tokens": false,
            "mutual_tls": false, "tls_client_auth_ca": false,
        }),
        "refusals change nothing"
    );

    for who in [Who::Manager, Who::Admin] {
        let (status, stored) = world.call(who, Method::PUT, &path, Some(&chosen)).await;
        assert_eq!(status, StatusCode::OK, "{who:?}: {stored}");
        assert_eq!(
            stored["auth_methods"],
            json!(["client_secret", "tls_client_auth"])
        );
        assert_eq!(stored["tls_client_auth"]["value"], "CN=billing, O=Acme");
        assert_eq!(stored["require_bound_tokens"], false);
    }
    let (_, seen) = world.call(Who::Viewer, Method::GET, &path, None).await;
    assert_eq!(
        seen["auth_methods"],
        json!(["client_secret", "tls_client_auth"])
    );
    let (_, events) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/audit-events?action=application.client_authentication",
            None,
        )
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2);

    // Bad input: the field, and a sentence saying what is wrong; nothing changes.
    for (body, field, says) in [
        (json!({"auth_methods": []}), "auth_methods", "at least one"),
        (
            json!({"require_bound_tokens": true}),
            "require_bound_tokens",
            "no client certificate reaches this Clavis",
        ),
        (
            json!({"auth_methods": ["self_signed_tls_client_auth"]}),
            "auth_methods",
            "Accepting certificate methods only",
        ),
        (
            json!({"auth_methods": ["tls_client_auth"]}),
            "tls_client_auth",
            "subject DN",
        ),
        (
            json!({"tls_client_auth": {"field": "tls_client_auth_subject_dn", "value": "billing"}}),
            "tls_client_auth",
            "not a subject DN",
        ),
        (
            json!({"tls_client_auth": {"field": "tls_client_auth_subject_dn", "value": "CN=billing,=Acme"}}),
            "tls_client_auth",
            "RFC 4514",
        ),
        (
            json!({"tls_client_auth": {"field": "tls_client_auth_san_ip", "value": "10.0.0"}}),
            "tls_client_auth",
            "IP address",
        ),
    ] {
        let (status, refused) = world
            .call(Who::Manager, Method::PUT, &path, Some(&body))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {refused}"
        );
        assert_eq!(refused["field"], field, "{refused}");
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    for unknown in [
        json!({"auth_methods": ["password"]}),
        json!({"colour": "blue"}),
    ] {
        let (status, refused) = world
            .call(Who::Manager, Method::PUT, &path, Some(&unknown))
            .await;
        assert!(status.is_client_error(), "{unknown}: {status} {refused}");
        assert!(refused["message"].is_string(), "{refused}");
    }
    let (_, seen) = world.call(Who::Viewer, Method::GET, &path, None).await;
    assert_eq!(seen["tls_client_auth"]["value"], "CN=billing, O=Acme");
}
