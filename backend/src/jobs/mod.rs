//! The background jobs of a running instance, one file each: the audit writer, the
//! maintenance of keys, sessions, revocations and last-used times, the expiry reminders, and
//! the sampling of the metrics' gauges.
//! All of them run through [`Background::every`], the one loop that wakes a job on its
//! schedule and stops it when the instance stops.
//!
//! This module sits above the domains whose work it schedules: it uses them, they never use
//! it. `app::start` starts the jobs; `serve` starts the sampling of the gauges when metrics
//! are on.

pub mod audit_writer;
pub mod gauges;
pub mod maintenance;
pub mod reminders;

use std::time::Duration;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Why a job is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Its period has passed (or it has just started).
    Scheduled,
    /// The instance is stopping: the job's last run, for work that must not be lost
    /// (writes still queued in memory). A job with nothing to save does nothing.
    Last,
}

/// The running jobs, and the signal that stops them.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<actix_web::rt::task::JoinHandle<()>>,
}

/// No jobs yet; add them with [`Background::every`].
impl Default for Background {
    fn default() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }
}

impl Background {
    /// Spawns `job` on the actix runtime: it runs at once, then every `period`, and once more
    /// with [`Run::Last`] when the instance stops (or this `Background` is dropped). `missed`
    /// says what happens to the ticks missed while a run took longer than `period`. A run is
    /// never interrupted: stopping waits for the run under way.
    pub fn every(
        &mut self,
        period: Duration,
        missed: MissedTickBehavior,
        mut job: impl AsyncFnMut(Run) + 'static,
    ) {
        let mut stop = self.stop.subscribe();
        self.tasks.push(actix_web::rt::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(missed);
            loop {
                let run = tokio::select! {
                    _ = ticks.tick() => Run::Scheduled,
                    _ = stop.changed() => Run::Last,
                };
                job(run).await;
                if run == Run::Last {
                    return;
                }
            }
        }));
    }

    /// Stops the jobs after their last runs have written everything still queued.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
