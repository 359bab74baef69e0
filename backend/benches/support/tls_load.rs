//! A load generator that can present a client certificate, which wrk cannot: 2 threads, each
//! with 16 keep-alive HTTP/1.1 connections (reqwest, one connection per client), sending one
//! request body again and again for a fixed time. It costs more CPU per request than wrk, so
//! compare only figures it measured in one run.

use std::time::{Duration, Instant};

/// What one run measured: requests answered 200 per second, latency percentiles, failures.
pub struct LoadFigures {
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

/// What each connection sends: the URL, the request headers and the form body.
#[derive(Clone)]
pub struct LoadRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

const THREADS: usize = 2;
const CONNECTIONS_PER_THREAD: usize = 16;

/// Runs the load for `duration` with clients that trust `ca_pem` and present `identity`
/// (a PEM certificate followed by its private key) when given.
pub fn run(
    request: &LoadRequest,
    ca_pem: &str,
    identity: Option<&str>,
    duration: Duration,
) -> LoadFigures {
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (request, ca_pem) = (request.clone(), ca_pem.to_owned());
            let identity = identity.map(str::to_owned);
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(thread_load(request, ca_pem, identity, duration))
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for thread in threads {
        let (thread_latencies, thread_errors) = thread.join().unwrap();
        latencies.extend(thread_latencies);
        errors += thread_errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .map_or(f64::NAN, |latency: &Duration| {
                latency.as_secs_f64() * 1000.0
            })
    };
    LoadFigures {
        per_sec: latencies.len() as f64 / elapsed,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
        errors,
    }
}

/// One thread's connections: (latencies of the 200 answers, failures).
async fn thread_load(
    request: LoadRequest,
    ca_pem: String,
    identity: Option<String>,
    duration: Duration,
) -> (Vec<Duration>, u64) {
    let deadline = Instant::now() + duration;
    let connections = (0..CONNECTIONS_PER_THREAD).map(|_| {
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap());
        if let Some(identity) = &identity {
            builder = builder.identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap());
        }
        connection_load(builder.build().unwrap(), request.clone(), deadline)
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for (connection_latencies, connection_errors) in
        futures_util::future::join_all(connections).await
    {
        latencies.extend(connection_latencies);
        errors += connection_errors;
    }
    (latencies, errors)
}

async fn connection_load(
    client: reqwest::Client,
    request: LoadRequest,
    deadline: Instant,
) -> (Vec<Duration>, u64) {
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while Instant::now() < deadline {
        let sent = Instant::now();
        let mut builder = client.post(&request.url).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        match builder.send().await {
            Ok(response) if response.status() == 200 => {
                // Read the body, so the connection is free for the next request.
                let _ = response.bytes().await;
                latencies.push(sent.elapsed());
            }
            _ => errors += 1,
        }
    }
    (latencies, errors)
}
