//! Who learns what from `POST /oauth2/introspect` (RFC 7662 §4), and that its answer is the
//! present state: over real HTTP, on SQLite and PostgreSQL.

use chrono::Duration;
use clavis::access::Actor;
use clavis::{apis, apps, secrets};
use serde_json::{Value, json};

use crate::oauth::{access_token, another_client, client_with_secret, introspect};
use crate::on_both_databases_async;
use crate::server::TestServer;
use crate::support::{TestDb, admin};

on_both_databases_async!(
    only_the_own_client_and_registered_resource_servers_see_a_token,
    introspection_reflects_the_present_state,
);

fn inactive() -> Value {
    json!({ "active": false })
}

/// Makes exactly `client_ids` the resource servers of the API `code`.
fn register_resource_servers(server: &TestServer, code: &str, client_ids: &[String]) {
    let updated = apis::update(
        &mut server.db.conn(),
        code,
        &clavis_shared::portal::UpdateApi {
            resource_servers: Some(client_ids.to_vec()),
            ..Default::default()
        },
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    let mut expected = client_ids.to_vec();
    expected.sort();
    assert_eq!(updated.resource_servers, expected);
}

async fn only_the_own_client_and_registered_resource_servers_see_a_token(db: TestDb) {
    let (client_id, secret, _) = client_with_secret(&db);
    apis::create(
        &mut db.conn(),
        &clavis_shared::portal::CreateApi {
            code: "DM".into(),
            name: "Documents".into(),
            audience: "urn:example:dm".into(),
            ..Default::default()
        },
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    let (gateway_id, gateway_secret) = another_client(&db, "Gateway", &["SMC"]);
    let (archive_id, archive_secret) = another_client(&db, "Archive", &["DM"]);
    let (other_id, other_secret) = another_client(&db, "Other", &["SMC"]);
    let server = TestServer::start(db, "").await;
    register_resource_servers(&server, "SMC", std::slice::from_ref(&gateway_id));
    register_resource_servers(&server, "DM", std::slice::from_ref(&archive_id));
    let token = access_token(&server, &client_id, &secret).await;

    let own = introspect(&server, &client_id, &secret, &token).await;
    assert_eq!(own["active"], true);
    assert_eq!(own["client_id"], client_id.as_str());
    assert_eq!(own["aud"], "https://api.example.org/smc");
    assert_eq!(own["scope"], "manifest.read manifest.write");
    assert!(
        own.get("client_secret_id").is_none(),
        "the credential is not part of the answer: {own}"
    );
    let by_resource_server = introspect(&server, &gateway_id, &gateway_secret, &token).await;
    assert_eq!(
        by_resource_server, own,
        "a resource server sees the same claims"
    );

    // A client calling the same API, and a resource server of another API, learn nothing.
    assert_eq!(
        introspect(&server, &other_id, &other_secret, &token).await,
        inactive()
    );
    assert_eq!(
        introspect(&server, &archive_id, &archive_secret, &token).await,
        inactive()
    );
    // The token's own client cannot see another client's token either.
    let others_token = access_token(&server, &other_id, &other_secret).await;
    assert_eq!(
        introspect(&server, &client_id, &secret, &others_token).await,
        inactive()
    );

    // Unregistered, the resource server learns nothing from then on.
    register_resource_servers(&server, "SMC", &[]);
    assert_eq!(
        introspect(&server, &gateway_id, &gateway_secret, &token).await,
        inactive()
    );
    assert_eq!(
        introspect(&server, &client_id, &secret, &token).await["active"],
        true
    );
    server.stop().await;
}

/// Whether introspection by `caller` (client_id, secret) says the token is active.
async fn active_for(server: &TestServer, caller: (&str, &str), token: &str) -> bool {
    let answer = introspect(server, caller.0, caller.1, token).await;
    if answer["active"] == false {
        assert_eq!(answer, inactive(), "an inactive answer says nothing more");
    }
    answer["active"] == true
}

async fn introspection_reflects_the_present_state(db: TestDb) {
    let (client_id, secret, secret_id) = client_with_secret(&db);
    let (gateway_id, gateway_secret) = another_client(&db, "Gateway", &["SMC"]);
    let now = clavis::db::now();
    let second = secrets::create(
        &mut db.conn(),
        &client_id,
        "second",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    let server = TestServer::start(db, "").await;
    register_resource_servers(&server, "SMC", std::slice::from_ref(&gateway_id));
    let gateway = (gateway_id.as_str(), gateway_secret.as_str());
    let token = access_token(&server, &client_id, &secret).await;
    let from_second = access_token(&server, &client_id, &second.value).await;
    assert!(active_for(&server, gateway, &token).await);

    // A disabled application's tokens are inactive at once, and active again when enabled.
    apps::set_enabled(&mut server.db.conn(), &client_id, false, &admin(), now).unwrap();
    assert!(!active_for(&server, gateway, &token).await);
    assert!(!active_for(&server, gateway, &from_second).await);
    apps::set_enabled(&mut server.db.conn(), &client_id, true, &admin(), now).unwrap();
    assert!(active_for(&server, gateway, &token).await);

    // Deleting a secret ends the tokens issued with it, not those of the application's others.
    secrets::delete(
        &mut server.db.conn(),
        &client_id,
        &secret_id,
        &Actor::System,
        now,
    )
    .unwrap();
    assert!(!active_for(&server, gateway, &token).await);
    assert_eq!(
        introspect(&server, &client_id, &second.value, &token).await,
        inactive(),
        "its own client is told the same"
    );
    assert!(active_for(&server, gateway, &from_second).await);

    // The kill switch ends every token issued until now; tokens issued afterwards work.
    let just_before = access_token(&server, &client_id, &second.value).await;
    let switched = apps::revoke_tokens(
        &mut server.db.conn(),
        &client_id,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    assert!(switched.tokens_revoked_before.is_some());
    assert!(!active_for(&server, gateway, &from_second).await);
    assert!(!active_for(&server, gateway, &just_before).await);
    let after = access_token(&server, &client_id, &second.value).await;
    assert!(active_for(&server, gateway, &after).await);
    assert_eq!(
        introspect(&server, &client_id, &second.value, &after).await["active"],
        true
    );
    server.stop().await;
}
