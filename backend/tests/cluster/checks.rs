//! The checks of issue 17's "proof on two instances under faults", in the order they run.
//! Each prints what it measured and returns `Err` with the reason when Clavis fell short.
//! Instance A is `instances[0]`, B `instances[1]`.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::cluster::{
    Client, Cluster, KEY_RELOAD_INTERVAL, ORGANISATION, REMINDER_INTERVAL_SECS, sender,
};
use crate::load::{self, Load};
use crate::smtp_sink::SmtpSink;

pub type Check = Result<(), String>;

/// Fails the check with `message` unless `condition` holds.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Check {
    if condition { Ok(()) } else { Err(message()) }
}

fn measured(what: &str) {
    println!("    {what}");
}

/// The portal's session cookie, and what state-changing requests must carry with it.
pub struct Portal {
    pub http: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
    pub origin: String,
}

impl Portal {
    /// The suite's session, its CSRF token read from the instance at `base`.
    pub async fn open(cluster: &Cluster, base: &str) -> Result<Self, String> {
        Self::open_session(cluster, &cluster.session, base).await
    }

    /// Reads the session's CSRF token from the instance at `base`.
    async fn open_session(cluster: &Cluster, session: &str, base: &str) -> Result<Self, String> {
        let http = reqwest::Client::new();
        let cookie = format!("clavis_session={session}");
        let me = http
            .get(format!("{base}/api/v1/me"))
            .header("Cookie", &cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        ensure(me.status() == 200, || {
            format!("GET /api/v1/me at {base}: {}", me.status())
        })?;
        let me: Value = me.json().await.map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            cookie,
            csrf: me["csrf_token"].as_str().unwrap_or_default().to_owned(),
            origin: cluster.balancer.base.clone(),
        })
    }

    async fn get(&self, url: &str) -> (u16, Value) {
        let response = self
            .http
            .get(url)
            .header("Cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn send(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, url)
            .header("Cookie", &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .header("Origin", &self.origin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// Creates a secret for `client_id` through the instance at `base`: (its id, its value).
    async fn create_secret(&self, base: &str, client_id: &str, name: &str) -> (String, String) {
        let expires_on = (Utc::now() + chrono::Duration::days(30)).date_naive();
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                &format!("{base}/api/v1/applications/{client_id}/secrets"),
                Some(json!({ "name": name, "expires_on": expires_on })),
            )
            .await;
        assert!(
            status == 201 || status == 200,
            "create a secret: {status} {body}"
        );
        (
            body["id"].as_str().unwrap().to_owned(),
            body["value"].as_str().unwrap().to_owned(),
        )
    }

    async fn delete_secret(&self, base: &str, client_id: &str, id: &str) -> u16 {
        self.send(
            reqwest::Method::DELETE,
            &format!("{base}/api/v1/applications/{client_id}/secrets/{id}"),
            None,
        )
        .await
        .0
    }
}

async fn token_status(base: &str, client: &Client) -> u16 {
    let http = reqwest::Client::new();
    match load::token_request(&http, &format!("{base}/oauth2/token"), client)
        .await
        .outcome
    {
        load::Outcome::Token(_) => 200,
        load::Outcome::Status(status) => status,
        other => panic!("token request to {base}: {other:?}"),
    }
}

async fn access_token(base: &str, client: &Client) -> String {
    let response = load::token_form(
        &reqwest::Client::new(),
        &format!("{base}/oauth2/token"),
        client,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200, "a token from {base}");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A portal session opened through A works on B: the same person and CSRF token on both, a
/// secret created through A is listed and deleted through B, and signing out through B ends
/// the session on A.
pub async fn sessions_are_shared(cluster: &mut Cluster) -> Check {
    let (a, b) = (&cluster.instances[0], &cluster.instances[1]);
    let session = cluster.new_session();
    let on_a = Portal::open_session(cluster, &session, &a.base).await?;
    let (status_a, me_a) = on_a.get(&a.url("/api/v1/me")).await;
    let (status_b, me_b) = on_a.get(&b.url("/api/v1/me")).await;
    measured(&format!(
        "GET /api/v1/me with the session: A {status_a}, B {status_b}"
    ));
    ensure(status_a == 200 && status_b == 200, || {
        "the session is not accepted by both instances".to_owned()
    })?;
    ensure(me_a == me_b, || {
        format!("A and B see different sessions: {me_a} / {me_b}")
    })?;
    let client_id = &cluster.clients[0].client_id;
    let (id, _) = on_a
        .create_secret(&a.base, client_id, "made-through-a")
        .await;
    let (status, listed) = on_a
        .get(&b.url(&format!("/api/v1/applications/{client_id}/secrets")))
        .await;
    let seen = listed
        .as_array()
        .is_some_and(|secrets| secrets.iter().any(|secret| secret["id"] == id.as_str()));
    measured(&format!(
        "secret created through A (CSRF-checked POST), listed by B: {seen} ({status})"
    ));
    ensure(seen, || {
        "B does not list the secret created through A".to_owned()
    })?;
    ensure(
        on_a.delete_secret(&b.base, client_id, &id).await == 204,
        || "B cannot delete the secret with the session and CSRF token from A".to_owned(),
    )?;
    let (signed_out, _) = on_a
        .send(reqwest::Method::POST, &b.url("/auth/logout"), None)
        .await;
    let (after_on_a, _) = on_a.get(&a.url("/api/v1/me")).await;
    measured(&format!(
        "signed out through B: {signed_out}; A's next answer to the session: {after_on_a}"
    ));
    ensure(signed_out == 200 && after_on_a == 401, || {
        "a session ended through B still works on A".to_owned()
    })
}

/// A secret deleted through A is refused on the very next request that reaches B, although
/// B has already verified it (and keeps its proof in memory).
pub async fn deleted_secret_is_refused_on_b(cluster: &mut Cluster) -> Check {
    let (a, b) = (&cluster.instances[0], &cluster.instances[1]);
    let portal = Portal::open(cluster, &a.base).await?;
    let client_id = cluster.clients[1].client_id.clone();
    let (id, value) = portal.create_secret(&a.base, &client_id, "to-delete").await;
    let client = Client {
        client_id: client_id.clone(),
        secret: value,
    };
    let before = (
        token_status(&a.base, &client).await,
        token_status(&b.base, &client).await,
    );
    ensure(before == (200, 200), || {
        format!("the new secret does not work on both instances: {before:?}")
    })?;
    let deleted = portal.delete_secret(&a.base, &client_id, &id).await;
    let deleted_at = Instant::now();
    let next_on_b = token_status(&b.base, &client).await;
    let after = deleted_at.elapsed();
    let through_balancer = [
        token_status(&cluster.balancer.base, &client).await,
        token_status(&cluster.balancer.base, &client).await,
    ];
    measured(&format!(
        "tokens before: A {}, B {}; DELETE through A: {deleted}; B's next answer {:.0} ms later: {next_on_b}; the next two through the balancer: {through_balancer:?}",
        before.0,
        before.1,
        after.as_secs_f64() * 1000.0
    ));
    ensure(deleted == 204, || format!("DELETE answered {deleted}"))?;
    ensure(next_on_b == 401 && through_balancer == [401, 401], || {
        "a deleted secret still got a token".to_owned()
    })
}

/// A key rotated through A's configuration (`clavis keys rotate`): B publishes it within its
/// reload interval, and tokens of either instance verify against either instance's JWKS,
/// before and after the new key starts signing.
pub async fn rotated_key_reaches_b(cluster: &mut Cluster) -> Check {
    let (a, b) = (&cluster.instances[0], &cluster.instances[1]);
    let client = cluster.clients[2].clone();
    let old_tokens = [
        access_token(&a.base, &client).await,
        access_token(&b.base, &client).await,
    ];
    let published = kids(&jwks(&b.base).await);
    cluster.cli(&["keys", "rotate"]);
    let rotated = Instant::now();
    let (new_kid, on_b) = loop {
        let now = kids(&jwks(&b.base).await);
        if let Some(kid) = now.difference(&published).next() {
            break (kid.clone(), rotated.elapsed());
        }
        ensure(rotated.elapsed() < Duration::from_secs(30), || {
            "B never published the rotated key".to_owned()
        })?;
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    measured(&format!(
        "B published the new key {:.2} s after the rotation (its reload interval: {} s)",
        on_b.as_secs_f64(),
        KEY_RELOAD_INTERVAL.as_secs()
    ));
    // One reload interval, plus the polling and the request that saw it.
    ensure(
        on_b <= KEY_RELOAD_INTERVAL + Duration::from_millis(500),
        || "B took longer than its reload interval".to_owned(),
    )?;
    let signing = Instant::now();
    while signing.elapsed() < Duration::from_secs(60) {
        let token = access_token(&b.base, &client).await;
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid;
        if kid.as_deref() == Some(new_kid.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let new_tokens = [
        access_token(&a.base, &client).await,
        access_token(&b.base, &client).await,
    ];
    let sets = [jwks(&a.base).await, jwks(&b.base).await];
    let mut verified = 0;
    for token in old_tokens.iter().chain(&new_tokens) {
        for set in &sets {
            verify(token, set)?;
            verified += 1;
        }
    }
    let new_kids: Vec<_> = new_tokens
        .iter()
        .map(|token| {
            jsonwebtoken::decode_header(token)
                .unwrap()
                .kid
                .unwrap_or_default()
        })
        .collect();
    measured(&format!(
        "{verified} verifications: tokens of A and B under the old key and the new one, each against A's and B's JWKS"
    ));
    ensure(new_kids.iter().all(|kid| *kid == new_kid), || {
        format!("after the lead, A and B sign with {new_kids:?}, not {new_kid}")
    })
}

async fn jwks(base: &str) -> Value {
    reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn kids(jwks: &Value) -> HashSet<String> {
    jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|key| key["kid"].as_str().map(str::to_owned))
        .collect()
}

/// Verifies as a resource server would: the key by `kid`, the algorithm and audience pinned.
fn verify(token: &str, jwks: &Value) -> Check {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let kid = header.kid.unwrap_or_default();
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("the key {kid} is not in the JWKS"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["https://api.example.org/smc"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|_| ())
        .map_err(|e| format!("a token does not verify: {e}"))
}

/// Makes sure A and B are running, ready, and back in the balancer's rotation.
async fn restart_if_stopped(cluster: &mut Cluster, index: usize) {
    let instance = &mut cluster.instances[index];
    if !instance.running() {
        instance.start();
        instance.wait_until_ready().await;
        // Two health checks (500 ms apart) put it back in the rotation.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

/// Every client's secret verified by both instances first, so the load measures failover,
/// not argon2id.
async fn warm_up(cluster: &Cluster) {
    for instance in &cluster.instances {
        for client in &cluster.clients {
            assert_eq!(token_status(&instance.base, client).await, 200);
        }
    }
}

/// Token load through the balancer from `concurrency` workers, after both instances have
/// answered and 3 s of it have passed.
async fn loaded(cluster: &Cluster, concurrency: usize) -> Load {
    warm_up(cluster).await;
    let load = Load::start(&cluster.url("/oauth2/token"), &cluster.clients, concurrency);
    tokio::time::sleep(Duration::from_secs(3)).await;
    load
}

/// How many of the tokens the load was given have no `token.issue` event in the audit trail.
fn missing_from_audit(cluster: &Cluster, report: &load::Report) -> usize {
    let audited = cluster.audited_jtis();
    report
        .jtis()
        .iter()
        .filter(|jti| !audited.contains(**jti))
        .count()
}

/// SIGKILL of A under token load through the balancer: the balancer fails over; errors are
/// limited to the requests in flight at the kill.
pub async fn sigkill_under_load(cluster: &mut Cluster) -> Check {
    let load = loaded(cluster, 16).await;
    let in_flight = load.in_flight();
    let killed_at = Instant::now();
    cluster.instances[0].kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let report = load.stop().await;
    let errors = report.errors().len();
    let spanning = report.errors_spanning(killed_at);
    let after_kill = report
        .requests
        .iter()
        .filter(|request| request.started > killed_at)
        .count();
    measured(&format!(
        "{} requests, {} tokens; {in_flight} requests in flight (on A and B) at the kill; {errors} errors ({}), {spanning} of them in flight at the kill; {after_kill} requests after the kill",
        report.requests.len(),
        report.tokens(),
        report.error_summary()
    ));
    restart_if_stopped(cluster, 0).await;
    ensure(errors == spanning && errors <= in_flight, || {
        "requests that started after the kill failed: the balancer did not fail over".to_owned()
    })
}

/// SIGTERM of A under load: in-flight requests complete, and the audit trail holds every
/// token issued (A writes its queued events before it exits).
pub async fn sigterm_under_load(cluster: &mut Cluster) -> Check {
    let load = loaded(cluster, 16).await;
    let in_flight = load.in_flight();
    let asked = Instant::now();
    let status = cluster.instances[0].terminate().await;
    let stopping = asked.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = load.stop().await;
    // B's writer stores its queue every 100 ms.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let missing = missing_from_audit(cluster, &report);
    measured(&format!(
        "{} requests, {} tokens; {in_flight} in flight at SIGTERM; A exited ({status}) after {:.2} s; {} errors ({}); tokens missing from the audit trail: {missing}",
        report.requests.len(),
        report.tokens(),
        stopping.as_secs_f64(),
        report.errors().len(),
        report.error_summary()
    ));
    restart_if_stopped(cluster, 0).await;
    ensure(report.errors().is_empty(), || {
        "requests failed during a graceful stop".to_owned()
    })?;
    ensure(missing == 0, || {
        format!("{missing} issued tokens are not in the audit trail")
    })
}

/// PostgreSQL stopped and started again under token load: tokens flow again within 5 s of
/// PostgreSQL accepting connections, no request hangs past its timeout, and no audit event
/// is lost.
pub async fn postgres_restart_under_load(cluster: &mut Cluster) -> Check {
    let load = loaded(cluster, 8).await;
    let written_before = cluster.count("SELECT COUNT(*) AS n FROM audit_events");
    let stopped_wall = Utc::now();
    let postgres = cluster.postgres.clone();
    tokio::task::spawn_blocking(move || postgres.stop_server())
        .await
        .unwrap();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let postgres = cluster.postgres.clone();
    let starting = tokio::task::spawn_blocking(move || postgres.start_server());
    let postgres = cluster.postgres.clone();
    let accepting =
        tokio::task::spawn_blocking(move || postgres.wait_until_accepting(Duration::from_secs(60)))
            .await
            .unwrap();
    let accepting_wall = Utc::now();
    starting.await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let report = load.stop().await;
    // The writers retry with backoff up to 10 s; give them that to write what they kept.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let missing = missing_from_audit(cluster, &report);
    let at = |moment: chrono::DateTime<Utc>| {
        moment
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string()
    };
    let held_at_stop = cluster.count(&format!(
        "SELECT COUNT(*) AS n FROM audit_events WHERE occurred_at <= '{}'",
        at(stopped_wall)
    )) - written_before;
    let during = cluster.count(&format!(
        "SELECT COUNT(*) AS n FROM audit_events WHERE occurred_at > '{}' AND occurred_at <= '{}'",
        at(stopped_wall),
        at(accepting_wall)
    ));
    let flowing = report
        .first_token_after(accepting)
        .map(|first| first.saturating_duration_since(accepting));
    let outage = accepting - stopped;
    measured(&format!(
        "PostgreSQL down {:.1} s; first token {} after it accepted connections again",
        outage.as_secs_f64(),
        flowing.map_or("never".to_owned(), |gap| format!(
            "{:.2} s",
            gap.as_secs_f64()
        ))
    ));
    measured(&format!(
        "{} requests, {} tokens, {} errors ({}); slowest answer {:.2} s (client timeout {} s), timeouts: {}",
        report.requests.len(),
        report.tokens(),
        report.errors().len(),
        report.error_summary(),
        report.slowest().as_secs_f64(),
        load::CLIENT_TIMEOUT.as_secs(),
        report.timeouts()
    ));
    measured(&format!(
        "audit events buffered and written after the restart: {held_at_stop} queued when PostgreSQL stopped, {during} that happened during the outage; issued tokens missing from the audit trail: {missing}"
    ));
    ensure(
        flowing.is_some_and(|gap| gap <= Duration::from_secs(5)),
        || "tokens did not flow again within 5 s of PostgreSQL accepting connections".to_owned(),
    )?;
    ensure(report.timeouts() == 0, || {
        "requests hung until the client gave up".to_owned()
    })?;
    ensure(missing == 0, || {
        format!("{missing} issued tokens are not in the audit trail")
    })
}

/// Twelve applications of a new organisation, each with one secret created a month ago that
/// expires in six days, so each of the organisation's three recipients (two credential
/// managers and its shared mailbox) is due one reminder per secret: 36 reminders.
fn due_reminders(cluster: &Cluster, organisation: &str) -> usize {
    let now = Utc::now();
    let mut conn = cluster.conn();
    let actor = &clavis::access::Actor::System;
    let mailbox = format!("team@{}.test", organisation.to_lowercase());
    clavis::orgs::create(
        &mut conn,
        &clavis_shared::portal::CreateOrganisation {
            name: organisation.into(),
            country: "NL".into(),
            sandbox: false,
            notification_email: Some(mailbox),
        },
        actor,
        now,
    )
    .unwrap();
    for manager in ["ann", "bob"] {
        clavis::users::grant(
            &mut conn,
            &clavis::users::Person::Email(format!(
                "{manager}@{}.test",
                organisation.to_lowercase()
            )),
            clavis_shared::dto::Role::CredentialManager,
            Some(organisation),
            actor,
            now,
        )
        .unwrap();
    }
    const SECRETS: usize = 12;
    for n in 0..SECRETS {
        crate::cluster::application_with_secret(
            &mut conn,
            organisation,
            &format!("{organisation}-{n}"),
            now - chrono::Duration::days(30),
            now + chrono::Duration::days(6) + chrono::Duration::hours(1),
        );
    }
    SECRETS * 3
}

/// Reminders in the sink's inbox, counted: (mails, distinct Message-IDs, the most copies of
/// one Message-ID).
fn tally(mails: &[crate::smtp_sink::Mail]) -> (usize, usize, usize) {
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for mail in mails {
        *copies
            .entry(mail.header("Message-ID").unwrap_or_default())
            .or_default() += 1;
    }
    (
        mails.len(),
        copies.len(),
        copies.values().copied().max().unwrap_or_default(),
    )
}

fn sent_in_ledger(cluster: &Cluster) -> i64 {
    cluster.count("SELECT COUNT(*) AS n FROM reminder_deliveries WHERE status = 'sent'")
}

/// Waits (up to `limit`) until `done` holds; whether it did.
async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// Reminders go out once across both instances, although A is killed with SIGKILL while it
/// is sending one: the sink holds every sender at `RCPT`, A is killed while held, B sends the
/// rest, and the reminder A had claimed is sent once its claim lease has passed (a pass at
/// "now + 11 minutes" from the CLI stands in for waiting out the 10-minute lease).
pub async fn reminders_once_despite_sigkill(cluster: &mut Cluster) -> Check {
    let already = sent_in_ledger(cluster);
    cluster.sink.take();
    cluster.sink.hold();
    let expected = due_reminders(cluster, "Remind");
    let a_sender = sender(cluster.instances[0].name);
    let caught = wait_for(Duration::from_secs(30), || {
        cluster.sink.held().contains(&a_sender)
    })
    .await;
    ensure(caught, || "A never started sending a reminder".to_owned())?;
    cluster.instances[0].kill();
    cluster.sink.release();
    let b_sent = wait_for(Duration::from_secs(60), || {
        sent_in_ledger(cluster) - already >= expected as i64 - 1
    })
    .await;
    // A few more passes of B, to see it leaves A's claim alone.
    tokio::time::sleep(Duration::from_secs(2 * REMINDER_INTERVAL_SECS + 1)).await;
    let before_lease = tally(&cluster.sink.mails());
    let claimed = cluster.count(
        "SELECT COUNT(*) AS n FROM reminder_deliveries WHERE status = 'sending' OR (status = 'pending' AND claimed_at IS NOT NULL)",
    );
    let later =
        (Utc::now() + chrono::Duration::minutes(11)).to_rfc3339_opts(SecondsFormat::Secs, true);
    cluster.cli(&["notify", "run-once", "--now", &later]);
    restart_if_stopped(cluster, 0).await;
    tokio::time::sleep(Duration::from_secs(2 * REMINDER_INTERVAL_SECS + 1)).await;
    let mails = cluster.sink.mails();
    let (total, distinct, most) = tally(&mails);
    let recorded = sent_in_ledger(cluster) - already;
    let from_a = mails.iter().filter(|mail| mail.from == a_sender).count();
    measured(&format!(
        "{expected} reminders due; A killed while held at RCPT; before its claim's lease ran out: {} mails, left claimed: {claimed}; after the lease: {total} mails, {distinct} distinct Message-IDs, at most {most} copies of one; ledger: {recorded} sent; sent by A before the kill: {from_a}",
        before_lease.0
    ));
    ensure(b_sent, || "B did not send the reminders A left".to_owned())?;
    ensure(
        total == expected && distinct == expected && recorded == expected as i64,
        || "reminders were not sent exactly once".to_owned(),
    )
}

/// The SMTP server refuses connections for a while, then comes back: every reminder is
/// sent once after it recovers (the first retry comes a minute after the failure).
pub async fn reminders_once_after_smtp_outage(cluster: &mut Cluster) -> Check {
    let already = sent_in_ledger(cluster);
    let port = std::mem::replace(&mut cluster.sink, SmtpSink::start()).stop();
    let went_down = Instant::now();
    let expected = due_reminders(cluster, "Outage") as i64;
    let failed = wait_for(Duration::from_secs(30), || {
        cluster.count(
            "SELECT COUNT(*) AS n FROM reminder_deliveries WHERE status = 'pending' AND attempts >= 1",
        ) >= expected
    })
    .await;
    ensure(failed, || {
        "the instances did not record their failed attempts".to_owned()
    })?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.sink = SmtpSink::start_on(port);
    let recovered = Instant::now();
    let down_for = recovered - went_down;
    let delivered = wait_for(Duration::from_secs(180), || {
        cluster.sink.mails().len() as i64 >= expected
    })
    .await;
    let after = recovered.elapsed();
    tokio::time::sleep(Duration::from_secs(2 * REMINDER_INTERVAL_SECS + 1)).await;
    let (total, distinct, most) = tally(&cluster.sink.mails());
    let recorded = sent_in_ledger(cluster) - already;
    let attempts = cluster.count(
        "SELECT COALESCE(SUM(attempts), 0)::bigint AS n FROM reminder_deliveries d JOIN organisations o ON o.id = d.organisation_id WHERE o.name = 'Outage'",
    );
    measured(&format!(
        "{expected} reminders due while the SMTP server refused connections for {:.1} s; all delivered {:.1} s after it came back; {total} mails, {distinct} distinct Message-IDs, at most {most} copies of one; ledger: {recorded} sent, {attempts} attempts in all",
        down_for.as_secs_f64(),
        after.as_secs_f64()
    ));
    ensure(delivered, || {
        "the reminders were not delivered after the SMTP server recovered".to_owned()
    })?;
    ensure(
        total as i64 == expected && distinct as i64 == expected && recorded == expected,
        || "reminders were not sent exactly once".to_owned(),
    )
}

/// The organisation every check's clients belong to, for the report's heading.
pub fn heading(cluster: &Cluster) -> String {
    format!(
        "{} instances ({}) on PostgreSQL port {} behind haproxy {}; organisation {ORGANISATION}",
        cluster.instances.len(),
        cluster
            .instances
            .iter()
            .map(|instance| format!("{} {}", instance.name, instance.base))
            .collect::<Vec<_>>()
            .join(", "),
        cluster.postgres.port,
        cluster.balancer.base
    )
}
