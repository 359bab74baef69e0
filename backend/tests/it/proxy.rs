//! Behind a reverse proxy: whose forwarding headers are believed, and the throttle's
//! guarantees (README "Throttling"), with a real nginx in front where addresses are shared.
//!
//! Clavis trusts 127.0.0.1 as its proxy: nginx connects from there, and test clients bind
//! 127.0.0.2, 127.0.0.3 … to be distinct machines.

use chrono::Duration;
use clavis::db::{DbConn, schema::audit_events};
use clavis::secrets::{self, value::ClientSecretValue};
use diesel::prelude::*;
use serde_json::Value;

use crate::nginx::Nginx;
use crate::on_both_databases_async;
use crate::server::{TestServer, http_from};
use crate::support::{TestDb, admin, seed, seed_beta};

on_both_databases_async!(
    forwarding_headers_are_believed_only_from_trusted_proxies,
    credentials_over_plain_http_from_the_network_are_refused,
    ipv6_clients_are_throttled_by_their_64,
    a_proven_secret_is_never_held_back_by_others_failures,
    values_that_cannot_be_guesses_never_count_against_the_client_id,
    a_new_secret_gets_through_while_its_address_floods_junk,
    parallel_guesses_cannot_exceed_the_limit,
    a_throttled_guess_does_not_reveal_whether_the_secret_exists,
    an_address_out_of_junk_allowance_cannot_tell_which_secrets_exist,
);

/// Clavis trusting 127.0.0.1 as its proxy, with a failure limit of `limit` per minute.
async fn server_behind_proxy(db: TestDb, limit: u32) -> TestServer {
    TestServer::start(
        db,
        &format!(
            "trusted_proxies = \"127.0.0.1\"\ntoken_failure_limit = {limit}\n\
             token_failure_window_secs = 60"
        ),
    )
    .await
}

/// The seeded application with a fresh secret: (client_id, secret value, secret id).
fn client_with_secret(db: &TestDb) -> (String, String, String) {
    let seeded = seed(db);
    let (client_id, value, id) = new_secret(db, &seeded.application.client_id);
    (client_id, value, id)
}

fn new_secret(db: &TestDb, client_id: &str) -> (String, String, String) {
    let now = clavis::db::now();
    let created = secrets::create(
        &mut db.conn(),
        client_id,
        "test",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    (client_id.to_owned(), created.value, created.info.id)
}

/// A well-formed value for the secret `secret_id` that is not its value.
fn wrong_value(secret_id: &str) -> String {
    ClientSecretValue::generate(uuid::Uuid::parse_str(secret_id).unwrap())
        .expose()
        .to_owned()
}

/// A well-formed value for a secret id that does not exist.
fn value_of_no_secret() -> String {
    ClientSecretValue::generate(uuid::Uuid::new_v4())
        .expose()
        .to_owned()
}

/// The seeded application with an active secret and a deleted one: (client_id, active
/// secret's id, deleted secret's id).
fn client_with_a_deleted_secret(db: &TestDb) -> (String, String, String) {
    let (client_id, _, secret_id) = client_with_secret(db);
    let (_, _, deleted_id) = new_secret(db, &client_id);
    secrets::delete(
        &mut db.conn(),
        &client_id,
        &deleted_id,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    (client_id, secret_id, deleted_id)
}

/// What `from` is answered for a wrong value of the active secret, a value of no secret and
/// a value of the deleted one: ((status, body), whether `Retry-After` was sent) for each.
async fn probe(
    from: &reqwest::Client,
    url: &str,
    client_id: &str,
    secret_id: &str,
    deleted_id: &str,
) -> Vec<((u16, Value), bool)> {
    let mut answers = Vec::new();
    for value in [
        wrong_value(secret_id),
        value_of_no_secret(),
        wrong_value(deleted_id),
    ] {
        let response = post(from, url, client_id, &value, &[], &[]).await;
        let retry_after = response.headers().get("retry-after").is_some();
        answers.push((answer(response).await, retry_after));
    }
    answers
}

/// POSTs `client_id`/`client_secret` to an OAuth endpoint at `url`, with `headers`.
async fn post(
    from: &reqwest::Client,
    url: &str,
    client_id: &str,
    secret: &str,
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    pairs.extend_from_slice(extra);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut request = from
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn token(from: &reqwest::Client, url: &str, client_id: &str, secret: &str) -> u16 {
    post(from, url, client_id, secret, &[], &[])
        .await
        .status()
        .as_u16()
}

/// The status and JSON body of a response, checking that a 429 says when to retry.
async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    if status == 429 {
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=61).contains(&retry_after), "{retry_after}");
    }
    (status, response.json().await.unwrap())
}

/// The source address of every audited client authentication failure, oldest first.
fn refused_sources(db: &TestDb) -> Vec<String> {
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    audit_events::table
        .filter(audit_events::action.eq("client.authenticate"))
        .order(audit_events::id)
        .select(audit_events::source_address)
        .load::<Option<String>>(conn)
        .unwrap()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

/// A request from `from` with unusable credentials, which must be refused and audited.
async fn refused_from(from: &str, url: &str, headers: &[(&str, &str)]) {
    let response = post(&http_from(from), url, "nobody", "junk", &[], headers).await;
    assert_eq!(response.status(), 401);
}

async fn forwarding_headers_are_believed_only_from_trusted_proxies(db: TestDb) {
    seed(&db);
    let server = server_behind_proxy(db, 100).await;
    let nginx = Nginx::start(&server.base);
    let url = server.url("/oauth2/token");
    // Sent directly by a client: spoofed headers are ignored.
    let spoofed = [
        ("x-forwarded-for", "198.51.100.1"),
        ("forwarded", "for=198.51.100.2;proto=https"),
    ];
    refused_from("127.0.0.2", &url, &spoofed).await;
    // From the trusted proxy: X-Forwarded-For, read from the right past trusted hops ...
    let list = [
        ("x-forwarded-for", "198.51.100.3, 198.51.100.4, 127.0.0.1"),
        ("x-forwarded-proto", "https"),
    ];
    refused_from("127.0.0.1", &url, &list).await;
    // ... or RFC 7239 Forwarded, IPv6 included.
    let forwarded = [("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")];
    refused_from("127.0.0.1", &url, &forwarded).await;
    // Through nginx, a spoofed X-Forwarded-For is only the left part of the list.
    let through_nginx = nginx.url("/oauth2/token");
    refused_from(
        "127.0.0.3",
        &through_nginx,
        &[("x-forwarded-for", "198.51.100.5")],
    )
    .await;
    drop(nginx);
    let (db, _) = server.stop().await;
    assert_eq!(
        refused_sources(&db),
        ["127.0.0.2", "198.51.100.4", "2001:db8::7", "127.0.0.3"]
    );
}

async fn credentials_over_plain_http_from_the_network_are_refused(db: TestDb) {
    let (client_id, secret, _) = client_with_secret(&db);
    let server = server_behind_proxy(db, 100).await;
    let url = server.url("/oauth2/token");
    let proxy = http_from("127.0.0.1");
    let plain: [&[(&str, &str)]; 3] = [
        &[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "http"),
        ],
        &[("forwarded", "for=198.51.100.7;proto=http")],
        // Headers that disagree count as plain HTTP.
        &[
            ("forwarded", "for=198.51.100.7;proto=https"),
            ("x-forwarded-proto", "http"),
        ],
    ];
    for headers in plain {
        let response = post(&proxy, &url, &client_id, &secret, &[], headers).await;
        let (status, body) = answer(response).await;
        assert_eq!(status, 400, "{headers:?}");
        assert_eq!(body["error"], "invalid_request");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains("HTTPS"), "{body}");
    }
    let secure: [&[(&str, &str)]; 2] = [
        &[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ],
        &[("forwarded", "for=198.51.100.7;proto=https")],
    ];
    for headers in secure {
        let response = post(&proxy, &url, &client_id, &secret, &[], headers).await;
        assert_eq!(response.status(), 200, "{headers:?}");
    }
    // The machine itself may use plain HTTP: it never crosses a network.
    assert_eq!(
        token(&http_from("127.0.0.2"), &url, &client_id, &secret).await,
        200
    );
    server.stop().await;
}

async fn ipv6_clients_are_throttled_by_their_64(db: TestDb) {
    seed(&db);
    let server = server_behind_proxy(db, 2).await;
    let url = server.url("/oauth2/token");
    let proxy = http_from("127.0.0.1");
    let junk_from = |client: &'static str| {
        let (proxy, url) = (&proxy, &url);
        async move {
            let forwarded = format!("for=\"[{client}]\";proto=https");
            let headers = [("forwarded", forwarded.as_str())];
            answer(post(proxy, url, "nobody", "junk", &[], &headers).await)
                .await
                .0
        }
    };
    assert_eq!(junk_from("2001:db8:1:2::1").await, 401);
    assert_eq!(junk_from("2001:db8:1:2:aaaa::2").await, 401);
    assert_eq!(junk_from("2001:db8:1:2:ffff::3").await, 429, "same /64");
    assert_eq!(junk_from("2001:db8:1:3::1").await, 401, "another /64");
    server.stop().await;
}

/// Guarantee 1, behind nginx: everyone shares addresses with an attacker who floods junk and
/// exhausts both the client_id's and the address's guesses; proven secrets still work on
/// every endpoint, and the fresh row still decides.
async fn a_proven_secret_is_never_held_back_by_others_failures(db: TestDb) {
    let (client_a, secret_a, secret_a_id) = client_with_secret(&db);
    let beta = seed_beta(&db, clavis::db::now());
    let (client_b, secret_b, _) = new_secret(&db, &beta.application.client_id);
    let server = server_behind_proxy(db, 3).await;
    let nginx = Nginx::start(&server.base);
    let url = nginx.url("/oauth2/token");
    let shared = http_from("127.0.0.2");
    assert_eq!(token(&shared, &url, &client_a, &secret_a).await, 200);
    assert_eq!(token(&shared, &url, &client_b, &secret_b).await, 200);

    for n in 0..10 {
        let unknown_client = format!("made-up-{n}");
        token(&shared, &url, &unknown_client, &value_of_no_secret()).await;
        token(&shared, &url, &client_a, "malformed").await;
        token(&shared, &url, &client_b, &value_of_no_secret()).await;
        token(&shared, &url, &client_a, &wrong_value(&secret_a_id)).await;
    }
    let attacker = post(
        &shared,
        &url,
        &client_a,
        &wrong_value(&secret_a_id),
        &[],
        &[],
    )
    .await;
    assert_eq!(answer(attacker).await.0, 429, "the attacker is throttled");

    let access_token = {
        let response = post(&shared, &url, &client_a, &secret_a, &[], &[]).await;
        let (status, body) = answer(response).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    };
    assert_eq!(token(&shared, &url, &client_b, &secret_b).await, 200);
    let token_param = [("token", access_token.as_str())];
    let introspection = post(
        &shared,
        &nginx.url("/oauth2/introspect"),
        &client_a,
        &secret_a,
        &token_param,
        &[],
    )
    .await;
    let (status, body) = answer(introspection).await;
    assert_eq!((status, &body["active"]), (200, &Value::Bool(true)));
    let revocation = post(
        &shared,
        &nginx.url("/oauth2/revoke"),
        &client_b,
        &secret_b,
        &token_param,
        &[],
    )
    .await;
    assert_eq!(revocation.status(), 200);

    // Proven, but deleted: refused at once all the same.
    secrets::delete(
        &mut server.db.conn(),
        &client_a,
        &secret_a_id,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    assert_ne!(token(&shared, &url, &client_a, &secret_a).await, 200);
    drop(nginx);
    server.stop().await;
}

/// Guarantee 2: malformed values, unknown secret ids and unknown clients from one machine
/// behind nginx count against that machine only, never against the client_id they name.
async fn values_that_cannot_be_guesses_never_count_against_the_client_id(db: TestDb) {
    let (client_id, _, _) = client_with_secret(&db);
    let server = server_behind_proxy(db, 3).await;
    let nginx = Nginx::start(&server.base);
    let url = nginx.url("/oauth2/token");
    let junk = http_from("127.0.0.3");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(token(&junk, &url, &client_id, "malformed").await);
        statuses.push(token(&junk, &url, &client_id, &value_of_no_secret()).await);
    }
    // Past the allowance malformed values get 429; well-formed ones still get 401, as a
    // wrong value for an active secret does (see the next tests).
    assert_eq!(statuses, [401, 401, 401, 401, 429, 401, 429, 401]);
    // A secret created now, never verified, from another machine behind the same proxy.
    let (_, fresh, _) = new_secret(&server.db, &client_id);
    assert_eq!(
        token(&http_from("127.0.0.4"), &url, &client_id, &fresh).await,
        200
    );
    drop(nginx);
    server.stop().await;
}

/// Guarantee 3: junk and real guesses have separate counters per address, so a correct
/// secret, not yet verified, gets through from the very address flooding junk.
async fn a_new_secret_gets_through_while_its_address_floods_junk(db: TestDb) {
    let (client_id, secret, _) = client_with_secret(&db);
    let server = server_behind_proxy(db, 3).await;
    let nginx = Nginx::start(&server.base);
    let url = nginx.url("/oauth2/token");
    let shared = http_from("127.0.0.5");
    let flood = (0..40).map(|n| {
        let (shared, url, client_id) = (shared.clone(), url.clone(), client_id.clone());
        async move {
            if n % 2 == 0 {
                token(&shared, &url, &client_id, "malformed").await
            } else {
                token(
                    &shared,
                    &url,
                    &format!("unknown-{n}"),
                    &value_of_no_secret(),
                )
                .await
            }
        }
    });
    let flooding = futures_util::future::join_all(flood);
    let (flooded, real) =
        futures_util::future::join(flooding, token(&shared, &url, &client_id, &secret)).await;
    assert_eq!(real, 200);
    assert!(
        flooded.contains(&429),
        "the flood was throttled: {flooded:?}"
    );
    drop(nginx);
    server.stop().await;
}

/// Guarantee 4: real guesses are limited per client_id and per address, counted while in
/// flight, so a parallel burst gets exactly `limit` argon2id checks.
async fn parallel_guesses_cannot_exceed_the_limit(db: TestDb) {
    let (client_a, _, secret_a_id) = client_with_secret(&db);
    let beta = seed_beta(&db, clavis::db::now());
    let (client_b, _, secret_b_id) = new_secret(&db, &beta.application.client_id);
    let server = server_behind_proxy(db, 3).await;
    let url = server.url("/oauth2/token");
    let burst = (0..12).map(|_| {
        let (url, client_a, wrong) = (url.clone(), client_a.clone(), wrong_value(&secret_a_id));
        async move { token(&http_from("127.0.0.2"), &url, &client_a, &wrong).await }
    });
    let mut statuses = futures_util::future::join_all(burst).await;
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429, 429, 429, 429, 429, 429, 429, 429]
    );
    // The client_id is used up from anywhere ...
    let elsewhere = http_from("127.0.0.3");
    assert_eq!(
        token(&elsewhere, &url, &client_a, &wrong_value(&secret_a_id)).await,
        429
    );
    // ... and so is the address, for any client_id.
    let first = http_from("127.0.0.2");
    assert_eq!(
        token(&first, &url, &client_b, &wrong_value(&secret_b_id)).await,
        429
    );
    assert_eq!(
        token(&elsewhere, &url, &client_b, &wrong_value(&secret_b_id)).await,
        401
    );
    server.stop().await;
}

/// Guarantee 6: once a client_id's guesses are used up, a guess for its real secret id, for
/// a secret id that does not exist and for a deleted secret get the same answer. The
/// decision comes before the stored secret is read: none of them is audited with a reason.
async fn a_throttled_guess_does_not_reveal_whether_the_secret_exists(db: TestDb) {
    let (client_id, secret_id, deleted_id) = client_with_a_deleted_secret(&db);
    let server = server_behind_proxy(db, 2).await;
    let url = server.url("/oauth2/token");
    let guesser = http_from("127.0.0.2");
    for _ in 0..2 {
        assert_eq!(
            token(&guesser, &url, &client_id, &wrong_value(&secret_id)).await,
            401
        );
    }
    let prober = http_from("127.0.0.3");
    let answers = probe(&prober, &url, &client_id, &secret_id, &deleted_id).await;
    assert_eq!(answers[0].0.0, 429);
    assert_eq!(answers[0].0.1["error"], "slow_down");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    let (db, _) = server.stop().await;
    assert_eq!(refused_sources(&db), ["127.0.0.2", "127.0.0.2"]);
}

/// Guarantee 6 from the other side: an address that used up its junk allowance still has its
/// guesses let through (guarantee 3), so a wrong value for the active secret, a secret id that
/// does not exist and a deleted secret all get the same 401, never a 429 that only values
/// without a usable secret would draw.
async fn an_address_out_of_junk_allowance_cannot_tell_which_secrets_exist(db: TestDb) {
    let (client_id, secret_id, deleted_id) = client_with_a_deleted_secret(&db);
    let server = server_behind_proxy(db, 2).await;
    let url = server.url("/oauth2/token");
    let prober = http_from("127.0.0.2");
    let statuses = [
        token(&prober, &url, &client_id, "malformed").await,
        token(&prober, &url, &client_id, "malformed").await,
        token(&prober, &url, &client_id, "malformed").await,
    ];
    assert_eq!(statuses, [401, 401, 429], "the junk allowance is used up");
    let answers = probe(&prober, &url, &client_id, &secret_id, &deleted_id).await;
    assert_eq!(answers[0].0.0, 401);
    assert_eq!(answers[0].0.1["error"], "invalid_client");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    server.stop().await;
}
