//! The soak: one `clavis serve` on the suite's PostgreSQL under mixed load for N minutes:
//! tokens, portal API reads, secrets created and deleted through the portal API, and
//! introspection. Resident memory (VmRSS) is sampled every 10 s and printed. It passes with
//! zero errors and the memory within +10% of its value after the warm-up (the first
//! minute: caches, pools and the allocator's arenas fill up in it).

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

use crate::checks::Portal;
use crate::cluster::{Client, Cluster};
use crate::load;

const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(60);

/// Requests of one kind: answered as expected, and not.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    errors: AtomicU64,
}

impl Counts {
    fn record(&self, ok: bool, what: &str) {
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else if self.errors.fetch_add(1, Ordering::Relaxed) < 5 {
            eprintln!("    soak error: {what}");
        }
    }
}

/// What each loop needs to make its requests.
#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
    origin: String,
    stop: Arc<AtomicBool>,
}

pub async fn run(minutes: u64) -> bool {
    let duration = Duration::from_secs(minutes * 60);
    let warm_up = WARM_UP;
    let cluster = Cluster::start(&["soak"]).await;
    let server = &cluster.instances[0];
    let portal = Portal::open(&cluster, &server.base).await.unwrap();
    let target = Target {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        base: server.base.clone(),
        cookie: portal.cookie,
        csrf: portal.csrf,
        origin: portal.origin,
        stop: Arc::new(AtomicBool::new(false)),
    };
    println!(
        "soak: {minutes} min of mixed load on {} (pid {}), warm-up {} s; RSS every {} s",
        server.base,
        server.pid(),
        warm_up.as_secs(),
        SAMPLE_EVERY.as_secs()
    );
    let kinds = [
        "tokens",
        "portal reads",
        "secret create+delete",
        "introspection",
    ];
    let counts: Arc<[Counts; 4]> = Arc::default();
    let mut loops = Vec::new();
    for client in &cluster.clients[..4] {
        let client = client.clone();
        loops.push(repeat(&target, &counts, 0, move |target| {
            let client = client.clone();
            async move { token(&target, &client).await }
        }));
    }
    let paths: Arc<[String]> = Arc::new([
        "/api/v1/me".to_owned(),
        "/api/v1/organisations".to_owned(),
        format!(
            "/api/v1/applications/{}/secrets",
            cluster.clients[0].client_id
        ),
        "/api/v1/audit-events?per_page=50".to_owned(),
    ]);
    for _ in 0..2 {
        let (paths, turn) = (paths.clone(), Arc::new(AtomicUsize::new(0)));
        loops.push(repeat(&target, &counts, 1, move |target| {
            let path = paths[turn.fetch_add(1, Ordering::Relaxed) % paths.len()].clone();
            async move { portal_read(&target, &path).await }
        }));
    }
    let secrets = cluster.clients[1].client_id.clone();
    loops.push(repeat(&target, &counts, 2, move |target| {
        let client_id = secrets.clone();
        async move { create_and_delete(&target, &client_id).await }
    }));
    let introspecting = cluster.clients[2].clone();
    loops.push(repeat(&target, &counts, 3, move |target| {
        let client = introspecting.clone();
        async move { introspect(&target, &client).await }
    }));
    let started = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    while started.elapsed() < duration {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let rss = server.rss_kib();
        let at = started.elapsed();
        let done: u64 = counts.iter().map(|c| c.ok.load(Ordering::Relaxed)).sum();
        let errors: u64 = counts
            .iter()
            .map(|c| c.errors.load(Ordering::Relaxed))
            .sum();
        println!(
            "    {:>4} s  RSS {:>7.1} MiB  requests {done:>8}  errors {errors}",
            at.as_secs(),
            rss as f64 / 1024.0
        );
        samples.push((at, rss));
    }
    target.stop.store(true, Ordering::SeqCst);
    for handle in loops {
        handle.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut errors = 0;
    for (kind, count) in kinds.iter().zip(counts.iter()) {
        let (ok, failed) = (
            count.ok.load(Ordering::Relaxed),
            count.errors.load(Ordering::Relaxed),
        );
        errors += failed;
        println!(
            "    {kind:<22} {ok:>8} ok ({:>6.1}/s)  {failed} errors",
            ok as f64 / elapsed
        );
    }
    let baseline = samples
        .iter()
        .find(|(at, _)| *at >= warm_up)
        .map(|(_, rss)| *rss)
        .unwrap_or_default();
    let highest = samples
        .iter()
        .filter(|(at, _)| *at >= warm_up)
        .map(|(_, rss)| *rss)
        .max()
        .unwrap_or_default();
    let growth = if baseline == 0 {
        0.0
    } else {
        100.0 * (highest as f64 - baseline as f64) / baseline as f64
    };
    println!(
        "soak: RSS after warm-up {:.1} MiB, highest after it {:.1} MiB ({growth:+.1}%, limit +10%); {errors} errors",
        baseline as f64 / 1024.0,
        highest as f64 / 1024.0
    );
    let passed = errors == 0 && growth <= 10.0;
    println!("soak: {}", if passed { "passed" } else { "FAILED" });
    passed
}

/// Repeats `request` until the soak stops, counting its answers under `counts[kind]`.
fn repeat<F, Fut>(
    target: &Target,
    counts: &Arc<[Counts; 4]>,
    kind: usize,
    request: F,
) -> JoinHandle<()>
where
    F: Fn(Target) -> Fut + Send + 'static,
    Fut: Future<Output = (bool, String)> + Send,
{
    let (target, counts) = (target.clone(), counts.clone());
    tokio::spawn(async move {
        while !target.stop.load(Ordering::SeqCst) {
            let (ok, what) = request(target.clone()).await;
            counts[kind].record(ok, &what);
        }
    })
}

/// A client-credentials token request by `client`.
fn token_request(target: &Target, client: &Client) -> reqwest::RequestBuilder {
    load::token_form(
        &target.http,
        &format!("{}/oauth2/token", target.base),
        client,
    )
}

async fn token(target: &Target, client: &Client) -> (bool, String) {
    let response = token_request(target, client).send().await;
    match response {
        Ok(response) => (
            response.status() == 200,
            format!("token: {}", response.status()),
        ),
        Err(error) => (false, format!("token: {error}")),
    }
}

async fn portal_read(target: &Target, path: &str) -> (bool, String) {
    let response = target
        .http
        .get(format!("{}{path}", target.base))
        .header("Cookie", &target.cookie)
        .send()
        .await;
    match response {
        Ok(response) => (
            response.status() == 200,
            format!("GET {path}: {}", response.status()),
        ),
        Err(error) => (false, format!("GET {path}: {error}")),
    }
}

/// A secret created and deleted again through the portal API (an application holds at most
/// ten, so the loop keeps it at one).
async fn create_and_delete(target: &Target, client_id: &str) -> (bool, String) {
    let url = format!("{}/api/v1/applications/{client_id}/secrets", target.base);
    let expires_on = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive();
    let created = target
        .http
        .post(&url)
        .header("Cookie", &target.cookie)
        .header("X-CSRF-Token", &target.csrf)
        .header("Origin", &target.origin)
        .json(&json!({ "name": "soak", "expires_on": expires_on }))
        .send()
        .await;
    let created = match created {
        Ok(response) if response.status() == 201 => response,
        Ok(response) => return (false, format!("create a secret: {}", response.status())),
        Err(error) => return (false, format!("create a secret: {error}")),
    };
    let body: Value = created.json().await.unwrap_or_default();
    let id = body["id"].as_str().unwrap_or_default();
    let deleted = target
        .http
        .delete(format!("{url}/{id}"))
        .header("Cookie", &target.cookie)
        .header("X-CSRF-Token", &target.csrf)
        .header("Origin", &target.origin)
        .send()
        .await;
    match deleted {
        Ok(response) => (
            response.status() == 204,
            format!("delete a secret: {}", response.status()),
        ),
        Err(error) => (false, format!("delete a secret: {error}")),
    }
}

/// A token, then its introspection by its own client, which must find it active.
async fn introspect(target: &Target, client: &Client) -> (bool, String) {
    let issued = token_request(target, client).send().await;
    let Ok(issued) = issued else {
        return (false, "token for introspection: no answer".to_owned());
    };
    let body: Value = issued.json().await.unwrap_or_default();
    let token = body["access_token"].as_str().unwrap_or_default();
    let answer = target
        .http
        .post(format!("{}/oauth2/introspect", target.base))
        .basic_auth(&client.client_id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            (
                status == 200 && body["active"] == true,
                format!("introspect: {status} {body}"),
            )
        }
        Err(error) => (false, format!("introspect: {error}")),
    }
}
