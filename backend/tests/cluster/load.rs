//! Token load: a fixed number of loops, each asking `POST /oauth2/token` again as soon as its
//! last answer came, with client_secret_basic. Every request is recorded (when it started and
//! ended, and its status or transport error), so errors are counted exactly, not sampled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::cluster::Client;

/// How long the load's client waits for an answer before it gives up on a request.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// What became of one request.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// 200, with the token's `jti`.
    Token(String),
    /// Any other status.
    Status(u16),
    /// No answer within [`CLIENT_TIMEOUT`].
    Timeout,
    /// The connection failed or broke.
    Transport(String),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub started: Instant,
    pub ended: Instant,
    pub outcome: Outcome,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    loops: Vec<tokio::task::JoinHandle<Vec<Request>>>,
}

impl Load {
    /// Starts `concurrency` loops against `url` (the token endpoint), spreading them over
    /// `clients`.
    pub fn start(url: &str, clients: &[Client], concurrency: usize) -> Self {
        let http = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let loops = (0..concurrency)
            .map(|n| {
                let client = clients[n % clients.len()].clone();
                let (http, url) = (http.clone(), url.to_owned());
                let (stop, in_flight) = (stop.clone(), in_flight.clone());
                tokio::spawn(async move {
                    let mut requests = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        requests.push(token_request(&http, &url, &client).await);
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                    requests
                })
            })
            .collect();
        Self {
            stop,
            in_flight,
            loops,
        }
    }

    /// Requests sent and not yet answered, now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Stops the loops after their current requests and returns every request made.
    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        let mut requests = Vec::new();
        for handle in self.loops {
            requests.extend(handle.await.unwrap());
        }
        requests.sort_by_key(|request| request.started);
        Report { requests }
    }
}

/// A client-credentials token request by `client` (HTTP Basic) to the token endpoint `url`.
pub fn token_form(http: &reqwest::Client, url: &str, client: &Client) -> reqwest::RequestBuilder {
    http.post(url)
        .basic_auth(&client.client_id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
}

/// One token request, timed.
pub async fn token_request(http: &reqwest::Client, url: &str, client: &Client) -> Request {
    let started = Instant::now();
    let sent = token_form(http, url, client).send().await;
    let outcome = match sent {
        Ok(response) if response.status() == 200 => match response.json().await {
            Ok(body) => Outcome::Token(jti(&body)),
            Err(error) => Outcome::Transport(error.to_string()),
        },
        Ok(response) => Outcome::Status(response.status().as_u16()),
        Err(error) if error.is_timeout() => Outcome::Timeout,
        Err(error) => Outcome::Transport(transport_error(&error)),
    };
    Request {
        started,
        ended: Instant::now(),
        outcome,
    }
}

/// The `jti` of the access token in a token response (read, not verified: the audit check
/// needs only the id).
pub fn jti(body: &serde_json::Value) -> String {
    claims(body["access_token"].as_str().unwrap_or_default())["jti"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A JWT's claims, read without verifying.
pub fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The innermost cause, which says what happened ("connection refused", "connection reset").
fn transport_error(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

/// Every request of a load, in the order they started.
pub struct Report {
    pub requests: Vec<Request>,
}

impl Report {
    pub fn tokens(&self) -> usize {
        self.jtis().len()
    }

    pub fn jtis(&self) -> Vec<&str> {
        self.requests
            .iter()
            .filter_map(|request| match &request.outcome {
                Outcome::Token(jti) => Some(jti.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn errors(&self) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|request| !matches!(request.outcome, Outcome::Token(_)))
            .collect()
    }

    pub fn timeouts(&self) -> usize {
        self.requests
            .iter()
            .filter(|request| matches!(request.outcome, Outcome::Timeout))
            .count()
    }

    /// The errors by kind, e.g. "502 ×3, connection reset ×1".
    pub fn error_summary(&self) -> String {
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        for request in self.errors() {
            let kind = match &request.outcome {
                Outcome::Status(status) => format!("HTTP {status}"),
                Outcome::Timeout => "timeout".to_owned(),
                Outcome::Transport(error) => error.clone(),
                Outcome::Token(_) => continue,
            };
            *kinds.entry(kind).or_default() += 1;
        }
        if kinds.is_empty() {
            return "none".to_owned();
        }
        kinds
            .iter()
            .map(|(kind, count)| format!("{kind} x{count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The longest a request took.
    pub fn slowest(&self) -> Duration {
        self.requests
            .iter()
            .map(|request| request.ended - request.started)
            .max()
            .unwrap_or_default()
    }

    /// When the first token after `moment` arrived.
    pub fn first_token_after(&self, moment: Instant) -> Option<Instant> {
        self.requests
            .iter()
            .filter(|request| {
                matches!(request.outcome, Outcome::Token(_)) && request.ended > moment
            })
            .map(|request| request.ended)
            .min()
    }

    /// Errors among requests that started before `moment` and ended after it: the ones in
    /// flight then.
    pub fn errors_spanning(&self, moment: Instant) -> usize {
        self.errors()
            .iter()
            .filter(|request| request.started <= moment && request.ended >= moment)
            .count()
    }
}
