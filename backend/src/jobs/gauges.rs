//! Keeps the gauges of the metrics page current, when metrics are on (`CLAVIS_METRICS_LISTEN`).
//!
//! The gauges are sampled here, off every request's path, rather than kept up to date by the
//! code they describe: the token endpoint then never writes a gauge, and a scrape never waits
//! for the database. What this instance holds in memory (the argon2id queue, the pool, the
//! audit queue, the signing keys) is sampled every few seconds, when the recorder's upkeep
//! runs too; what only the database knows (portal sessions, pending reminders) less often,
//! as a count query each. A failed count keeps the last value and is logged.

use actix_web::web;
use metrics::gauge;
use metrics_exporter_prometheus::PrometheusHandle;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

use super::{Background, Run};
use crate::db::Database;
use crate::oauth::OAuthService;
use crate::session::{self, SessionSettings};
use crate::{notify, telemetry};

/// How often the gauges kept in the database are counted.
const COUNT_EVERY: Duration = Duration::from_secs(30);

/// Starts the sampling; `recorder` is the handle [`telemetry::install`] returned.
pub fn start(
    background: &mut Background,
    recorder: PrometheusHandle,
    db: Database,
    oauth: web::Data<OAuthService>,
    sessions: SessionSettings,
) {
    let sampled_db = db.clone();
    background.every(
        telemetry::UPKEEP_EVERY,
        MissedTickBehavior::Skip,
        async move |run| {
            if run == Run::Scheduled {
                sample_memory(&sampled_db, &oauth);
                recorder.run_upkeep();
            }
        },
    );
    background.every(COUNT_EVERY, MissedTickBehavior::Skip, async move |run| {
        if run == Run::Scheduled {
            count_stored(&db, &sessions).await;
        }
    });
}

/// The gauges of what this instance holds in memory.
fn sample_memory(db: &Database, oauth: &OAuthService) {
    let (queued, running) = oauth.authenticator.argon2_load();
    gauge!(telemetry::ARGON2_QUEUE_DEPTH).set(queued as f64);
    gauge!(telemetry::ARGON2_RUNNING).set(running as f64);
    let (in_use, idle) = db.pool_connections();
    gauge!(telemetry::DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    gauge!(telemetry::DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    gauge!(telemetry::AUDIT_QUEUE_LENGTH).set(oauth.audit.queued() as f64);
    for (algorithm, age, next) in oauth.keys.rotation_schedule(chrono::Utc::now()) {
        let algorithm = algorithm.as_str();
        gauge!(telemetry::SIGNING_KEY_AGE, "algorithm" => algorithm).set(seconds(age));
        gauge!(telemetry::SIGNING_KEY_NEXT_ROTATION, "algorithm" => algorithm).set(seconds(next));
    }
}

fn seconds(duration: chrono::Duration) -> f64 {
    duration.num_milliseconds() as f64 / 1000.0
}

/// The gauges only the database knows, shared by every instance on it.
async fn count_stored(db: &Database, sessions: &SessionSettings) {
    let sessions = sessions.clone();
    let counted = db
        .run(move |conn| {
            let now = chrono::Utc::now();
            Ok((
                session::active_count(conn, &sessions, now)?,
                notify::pending_count(conn)?,
            ))
        })
        .await;
    match counted {
        Ok((active, pending)) => {
            gauge!(telemetry::PORTAL_SESSIONS).set(active as f64);
            gauge!(telemetry::REMINDERS_PENDING).set(pending as f64);
        }
        Err(error) => tracing::warn!(%error, "cannot count sessions and reminders for the metrics"),
    }
}
