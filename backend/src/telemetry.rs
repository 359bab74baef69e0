//! Prometheus metrics: the name of every metric Clavis records, and the recorder that keeps
//! them for the scrape endpoint (`CLAVIS_METRICS_LISTEN`, served by `serve`).
//!
//! Code records through the `metrics` facade (`metrics::counter!` and friends). Until
//! [`install`] runs, which it does only when the metrics listener is configured, the facade's
//! no-op recorder takes every call, so an instance without metrics pays next to nothing.
//! Recording is a lock-free update of an atomic after a shared-lock lookup of the key, which
//! keeps the token endpoint's cost within the noise of its benchmark (see the README).
//!
//! Names follow Prometheus's conventions (<https://prometheus.io/docs/practices/naming/>): the
//! `clavis_` prefix, `_total` for counters, base units (`_seconds`) in the name. The README's
//! "Metrics" section lists each one with its meaning and labels; keep the two in step.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Duration;

/// Counter: token requests, by `outcome` (`issued` or the OAuth error code), `auth_method`
/// (`client_secret_basic`, `client_secret_post`, `none`) and `grant_type`
/// (`client_credentials`, `unsupported`, `none`).
pub const TOKEN_REQUESTS: &str = "clavis_token_requests_total";
/// Histogram: seconds from a token request's arrival at the handler to its answer, by `outcome`.
pub const TOKEN_REQUEST_DURATION: &str = "clavis_token_request_duration_seconds";
/// Gauge: requests waiting for an argon2id slot.
pub const ARGON2_QUEUE_DEPTH: &str = "clavis_argon2_queue_depth";
/// Gauge: argon2id checks running (at most one per core).
pub const ARGON2_RUNNING: &str = "clavis_argon2_running";
/// Histogram: seconds a request waited for an argon2id slot.
pub const ARGON2_WAIT: &str = "clavis_argon2_wait_seconds";
/// Counter: requests turned away because the argon2id queue was full (`503 slow_down`).
pub const ARGON2_SHED: &str = "clavis_argon2_shed_total";
/// Counter: client authentications refused by the failure throttle, by `limit` (`guesses`,
/// `junk`).
pub const THROTTLED: &str = "clavis_throttled_requests_total";
/// Histogram: stored credentials one query of the credential reader answered.
pub const CREDENTIAL_BATCH_SIZE: &str = "clavis_credential_batch_size";
/// Counter: fetches of a key set (an application's `jwks_uri`) that failed.
pub const KEY_SET_FETCH_FAILURES: &str = "clavis_key_set_fetch_failures_total";
/// Histogram: client assertion `jti`s one statement of the jti writer recorded.
pub const JTI_BATCH_SIZE: &str = "clavis_jti_batch_size";
/// Gauge: pooled database connections, by `state` (`in_use`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "clavis_db_pool_connections";
/// Histogram: seconds a piece of database work waited for a pooled connection.
pub const DB_POOL_WAIT: &str = "clavis_db_pool_wait_seconds";
/// Gauge: audit events queued in memory, not yet written.
pub const AUDIT_QUEUE_LENGTH: &str = "clavis_audit_queue_length";
/// Counter: audit events that could not be queued (the writer had stopped); expected to stay 0.
pub const AUDIT_EVENTS_DROPPED: &str = "clavis_audit_events_dropped_total";
/// Counter: expiry reminders handed to the SMTP server.
pub const REMINDERS_SENT: &str = "clavis_reminders_sent_total";
/// Counter: failed attempts to send an expiry reminder, by `after` (`retry`, `give_up`).
pub const REMINDERS_FAILED: &str = "clavis_reminders_failed_total";
/// Gauge: expiry reminders planned and not yet sent, failed or cancelled.
pub const REMINDERS_PENDING: &str = "clavis_reminders_pending";
/// Gauge: seconds since the newest signing key was made, by `algorithm`.
pub const SIGNING_KEY_AGE: &str = "clavis_signing_key_age_seconds";
/// Gauge: seconds until the scheduled rotation makes the next key, by `algorithm`.
pub const SIGNING_KEY_NEXT_ROTATION: &str = "clavis_signing_key_next_rotation_seconds";
/// Gauge: portal sessions neither ended nor timed out.
pub const PORTAL_SESSIONS: &str = "clavis_portal_sessions_active";
/// Gauge, always 1: the running build, by `version`.
pub const BUILD_INFO: &str = "clavis_build_info";

/// Latency buckets, in seconds: the token endpoint answers in well under a millisecond when a
/// secret is known, argon2id takes tens of milliseconds, a throttled answer a quarter second.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Batch size buckets, up to the reader's largest batch (256).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the process-wide recorder and describes every metric; returns the handle that
/// renders the scrape page. Fails when a recorder is installed already (a second instance
/// in one process: only tests start several, and they leave metrics off).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(CREDENTIAL_BATCH_SIZE.to_owned()),
            BATCH_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(JTI_BATCH_SIZE.to_owned()), BATCH_BUCKETS)?
        .install_recorder()
        .map_err(|error| anyhow::anyhow!("cannot start recording metrics: {error}"))?;
    describe();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // Counters an alert watches are shown from the start, at 0: a counter that appears only
    // when it first moves makes `increase()` miss that first event.
    for watched in [AUDIT_EVENTS_DROPPED, ARGON2_SHED, REMINDERS_SENT] {
        metrics::counter!(watched).absolute(0);
    }
    Ok(handle)
}

/// How often the recorder folds the recorded histogram samples into its buckets (upkeep),
/// which bounds the memory samples take between scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The `# HELP` lines of the scrape page.
fn describe() {
    describe_counter!(
        TOKEN_REQUESTS,
        "Token requests by outcome (issued or the OAuth error code), client authentication method and grant type."
    );
    describe_histogram!(
        TOKEN_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer a token request, by outcome."
    );
    describe_gauge!(ARGON2_QUEUE_DEPTH, "Requests waiting for an argon2id slot.");
    describe_gauge!(
        ARGON2_RUNNING,
        "argon2id checks running (at most one per core)."
    );
    describe_histogram!(
        ARGON2_WAIT,
        Unit::Seconds,
        "Time a request waited for an argon2id slot."
    );
    describe_counter!(
        ARGON2_SHED,
        "Requests turned away because the argon2id queue was full."
    );
    describe_counter!(
        THROTTLED,
        "Client authentications refused by the failure throttle, by limit (guesses or junk)."
    );
    describe_histogram!(
        CREDENTIAL_BATCH_SIZE,
        "Stored credentials read by one query of the credential reader."
    );
    describe_counter!(
        KEY_SET_FETCH_FAILURES,
        "Fetches of a key set (an application's jwks_uri) that failed; the previous set was kept."
    );
    describe_histogram!(
        JTI_BATCH_SIZE,
        "Client assertion jtis recorded by one statement of the jti writer."
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Pooled database connections by state (in_use or idle)."
    );
    describe_histogram!(
        DB_POOL_WAIT,
        Unit::Seconds,
        "Time database work waited for a pooled connection."
    );
    describe_gauge!(
        AUDIT_QUEUE_LENGTH,
        "Audit events queued in memory, not yet written."
    );
    describe_counter!(
        AUDIT_EVENTS_DROPPED,
        "Audit events that could not be queued; expected to stay 0."
    );
    describe_counter!(REMINDERS_SENT, "Expiry reminders sent.");
    describe_counter!(
        REMINDERS_FAILED,
        "Failed attempts to send an expiry reminder, by what follows (retry or give_up)."
    );
    describe_gauge!(
        REMINDERS_PENDING,
        "Expiry reminders planned and not yet sent, failed or cancelled."
    );
    describe_gauge!(
        SIGNING_KEY_AGE,
        Unit::Seconds,
        "Age of the newest signing key, by algorithm."
    );
    describe_gauge!(
        SIGNING_KEY_NEXT_ROTATION,
        Unit::Seconds,
        "Time until the scheduled rotation makes the next signing key, by algorithm."
    );
    describe_gauge!(
        PORTAL_SESSIONS,
        "Portal sessions neither ended nor timed out."
    );
    describe_gauge!(BUILD_INFO, "The running build, by version; always 1.");
}
