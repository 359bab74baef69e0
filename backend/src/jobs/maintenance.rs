//! Keeps a running instance tidy: flushes when secrets were last used, rotates and reloads
//! the signing keys, and prunes expired revocations and ended sessions. On stop, one last
//! flush, so no last-used time gathered in memory is lost.

use actix_web::web;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

use super::{Background, Run};
use crate::db::Database;
use crate::oauth::{self, OAuthService};
use crate::session::{self, SessionSettings};

/// Starts the maintenance, often enough that a key published ahead of its use
/// (`publish_lead`, [`crate::keys::KeySettings`]) is seen in time: a quarter of that lead,
/// between 1 and 30 seconds.
pub fn start(
    background: &mut Background,
    publish_lead: chrono::Duration,
    sessions: SessionSettings,
    db: Database,
    oauth: web::Data<OAuthService>,
) {
    let every = (publish_lead / 4)
        .to_std()
        .unwrap_or_default()
        .clamp(Duration::from_secs(1), Duration::from_secs(30));
    background.every(every, MissedTickBehavior::Burst, async move |run| {
        if let Err(error) = oauth.usage.flush(&db).await {
            tracing::error!(%error, "cannot store when secrets were last used; will retry");
        }
        if run == Run::Last {
            return;
        }
        maintain(&db, &oauth, &sessions).await;
    });
}

/// Rotates and reloads the keys and prunes; a failure is logged and retried next time.
async fn maintain(db: &Database, oauth: &OAuthService, sessions: &SessionSettings) {
    let (keys, sessions) = (oauth.keys.clone(), sessions.clone());
    let maintained = db
        .run(move |conn| {
            let now = chrono::Utc::now();
            keys.maintain(conn, now)?;
            session::prune(conn, &sessions, now)?;
            oauth::prune_revoked(conn, now)?;
            oauth::prune_jtis(conn, now)
        })
        .await;
    if let Err(error) = maintained {
        tracing::error!(%error, "key maintenance failed; will retry");
    }
}
