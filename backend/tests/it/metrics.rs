//! The Prometheus metrics (README "Metrics"), scraped from the real `clavis serve` after real
//! requests: the recorder is process-wide, so each test has a process of its own.

use std::collections::BTreeMap;

use crate::on_both_databases_async;
use crate::process::{ServeProcess, free_port};
use crate::support::{TestDb, admin, client_with_secret};

on_both_databases_async!(
    token_requests_are_counted_and_timed_by_outcome_method_and_grant,
    gauges_describe_the_instance_and_its_database,
    the_metrics_listener_is_off_by_default_and_never_on_the_api_port,
);

/// One sample of the page: its labels and value.
type Samples = Vec<(BTreeMap<String, String>, f64)>;

/// The samples of the metric `name` on the scrape page (the text format, version 0.0.4).
fn samples(page: &str, name: &str) -> Samples {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, labels)) => (metric, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            (metric == name).then(|| {
                let labels = labels
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .filter_map(|pair| {
                        let (key, value) = pair.split_once("=\"")?;
                        Some((key.to_owned(), value.trim_end_matches('"').to_owned()))
                    })
                    .collect();
                (labels, value.parse().unwrap())
            })
        })
        .collect()
}

/// The value of the sample of `name` with exactly these labels.
fn value(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    samples(page, name)
        .into_iter()
        .find(|(labels, _)| *labels == wanted)
        .map(|(_, value)| value)
}

/// `clavis serve` with the metrics listener on a free port: (the process, that address).
async fn with_metrics(db: &TestDb, extra: &[(&str, String)]) -> (ServeProcess, String) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut settings = vec![("CLAVIS_METRICS_LISTEN", metrics.clone())];
    settings.extend(extra.iter().cloned());
    let clavis = ServeProcess::serve(db, &settings).await;
    (clavis, metrics)
}

/// The metrics page the listener at `address` serves.
async fn scrape(address: &str) -> String {
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

async fn token(
    clavis: &ServeProcess,
    basic: Option<(&str, &str)>,
    body: &str,
) -> reqwest::StatusCode {
    let mut request = reqwest::Client::new()
        .post(clavis.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some((client_id, secret)) = basic {
        request = request.basic_auth(client_id, Some(secret));
    }
    request.send().await.unwrap().status()
}

async fn token_requests_are_counted_and_timed_by_outcome_method_and_grant(db: TestDb) {
    let (client_id, secret) = client_with_secret(&db);
    let wrong = {
        let id = clavis::secrets::value::secret_id_of(&secret).unwrap();
        clavis::secrets::value::ClientSecretValue::generate(id)
            .expose()
            .to_owned()
    };
    let (clavis, metrics) =
        with_metrics(&db, &[("CLAVIS_TOKEN_FAILURE_LIMIT", "1".to_owned())]).await;
    let grant = "grant_type=client_credentials";
    let basic = Some((client_id.as_str(), secret.as_str()));
    for _ in 0..2 {
        assert_eq!(token(&clavis, basic, grant).await, 200);
    }
    let posted = format!("{grant}&client_id={client_id}&client_secret={secret}");
    assert_eq!(token(&clavis, None, &posted).await, 200);
    assert_eq!(
        token(&clavis, basic, "grant_type=password").await,
        400,
        "unsupported grant"
    );
    assert_eq!(token(&clavis, None, grant).await, 401, "no credentials");
    // A wrong value for the real secret is a guess; the limit is one, so the next is throttled.
    let guess = Some((client_id.as_str(), wrong.as_str()));
    assert_eq!(token(&clavis, guess, grant).await, 401);
    assert_eq!(token(&clavis, guess, grant).await, 429);

    let page = scrape(&metrics).await;
    let requests = |outcome, auth_method, grant_type| {
        value(
            &page,
            "clavis_token_requests_total",
            &[
                ("outcome", outcome),
                ("auth_method", auth_method),
                ("grant_type", grant_type),
            ],
        )
    };
    let basic = "client_secret_basic";
    let credentials = "client_credentials";
    assert_eq!(requests("issued", basic, credentials), Some(2.0), "{page}");
    assert_eq!(
        requests("issued", "client_secret_post", credentials),
        Some(1.0)
    );
    assert_eq!(
        requests("unsupported_grant_type", basic, "unsupported"),
        Some(1.0)
    );
    assert_eq!(requests("invalid_client", "none", "none"), Some(1.0));
    assert_eq!(requests("invalid_client", basic, credentials), Some(1.0));
    assert_eq!(requests("slow_down", basic, credentials), Some(1.0));
    let total: f64 = samples(&page, "clavis_token_requests_total")
        .iter()
        .map(|(_, value)| value)
        .sum();
    assert_eq!(total, 7.0);

    let issued = [("outcome", "issued")];
    let duration = "clavis_token_request_duration_seconds";
    assert_eq!(
        value(&page, &format!("{duration}_count"), &issued),
        Some(3.0)
    );
    assert!(value(&page, &format!("{duration}_sum"), &issued).unwrap() > 0.0);
    let all_buckets = [("outcome", "issued"), ("le", "+Inf")];
    assert_eq!(
        value(&page, &format!("{duration}_bucket"), &all_buckets),
        Some(3.0)
    );
    // The throttled answer waited in the tarpit (a quarter second) before it went out.
    let throttled = [("outcome", "slow_down"), ("le", "0.1")];
    assert_eq!(
        value(&page, &format!("{duration}_bucket"), &throttled),
        Some(0.0)
    );

    assert_eq!(
        value(
            &page,
            "clavis_throttled_requests_total",
            &[("limit", "guesses")]
        ),
        Some(1.0)
    );
    // argon2id ran for the first proof and for the wrong guess: two waits for a slot.
    assert_eq!(
        value(&page, "clavis_argon2_wait_seconds_count", &[]),
        Some(2.0)
    );
    assert_eq!(value(&page, "clavis_argon2_shed_total", &[]), Some(0.0));
    let batches = value(&page, "clavis_credential_batch_size_count", &[]).unwrap();
    let read = value(&page, "clavis_credential_batch_size_sum", &[]).unwrap();
    assert!(
        batches >= 1.0 && read >= batches,
        "{batches} batches, {read} read"
    );
    assert_eq!(
        value(&page, "clavis_audit_events_dropped_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &page,
            "clavis_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    let help = "# HELP clavis_token_requests_total Token requests by outcome";
    assert!(page.contains(help), "{page}");
}

async fn gauges_describe_the_instance_and_its_database(db: TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    let person = clavis::users::Person::Email("ada@example.org".into());
    let role = clavis_shared::dto::Role::Admin;
    let assignment = clavis::users::grant(&mut conn, &person, role, None, &admin(), now).unwrap();
    let settings = clavis::session::SessionSettings {
        idle_timeout: chrono::Duration::minutes(30),
        lifetime: chrono::Duration::hours(12),
        secure_cookie: false,
        public_origin: "http://127.0.0.1".to_owned(),
    };
    clavis::session::create(&mut conn, &assignment.user_id, &[], &settings, now).unwrap();
    drop(conn);
    let (clavis, metrics) = with_metrics(&db, &[]).await;
    // The gauges are sampled when the instance starts, then every few seconds.
    let mut page = scrape(&metrics).await;
    for _ in 0..100 {
        if page.contains("clavis_portal_sessions_active") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = scrape(&metrics).await;
    }
    assert_eq!(
        value(&page, "clavis_portal_sessions_active", &[]),
        Some(1.0),
        "{page}"
    );
    assert_eq!(value(&page, "clavis_reminders_pending", &[]), Some(0.0));
    let es256 = [("algorithm", "ES256")];
    let age = value(&page, "clavis_signing_key_age_seconds", &es256).unwrap();
    assert!((0.0..600.0).contains(&age), "a key made at start: {age}");
    let next = value(&page, "clavis_signing_key_next_rotation_seconds", &es256).unwrap();
    let rotation = 90.0 * 86_400.0;
    assert!(next <= rotation && next > rotation - 600.0, "{next}");
    for state in ["in_use", "idle"] {
        let connections = value(&page, "clavis_db_pool_connections", &[("state", state)]);
        assert!(connections.is_some(), "{state}: {page}");
    }
    assert_eq!(value(&page, "clavis_argon2_queue_depth", &[]), Some(0.0));
    assert_eq!(value(&page, "clavis_audit_queue_length", &[]), Some(0.0));
    assert!(value(&page, "clavis_db_pool_wait_seconds_count", &[]).is_some());
    drop(clavis);
}

async fn the_metrics_listener_is_off_by_default_and_never_on_the_api_port(db: TestDb) {
    let clavis = ServeProcess::serve(&db, &[]).await;
    let serving = clavis.wait_for_log("Clavis is serving").await;
    assert!(!serving.contains("metrics_listen"), "{serving}");
    // On the API's port, /metrics is a 404 that says where the metrics are.
    let api_page = |clavis: ServeProcess| async move {
        let page = reqwest::get(clavis.url("/metrics")).await.unwrap();
        assert_eq!(page.status(), 404);
        page.text().await.unwrap()
    };
    let page = api_page(clavis).await;
    assert!(
        !page.contains("# TYPE") && page.contains("CLAVIS_METRICS_LISTEN"),
        "{page}"
    );
    let (clavis, metrics) = with_metrics(&db, &[]).await;
    let serving = clavis.wait_for_log("Clavis is serving").await;
    assert!(
        serving.contains("metrics_listen") && serving.contains(&metrics),
        "{serving}"
    );
    let page = api_page(clavis).await;
    assert!(
        !page.contains("# TYPE"),
        "the API port never serves them: {page}"
    );
}
