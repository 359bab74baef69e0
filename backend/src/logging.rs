//! `tracing` output: human-readable or JSON lines, on standard error.
//!
//! Both carry the fields of the spans an event happened in: a request's lines its
//! `request_id` (see [`crate::request_id`]). Human lines show them before the message
//! (`request{request_id=…}:`); JSON lines as top-level members beside the event's own
//! fields (`{"level":…,"timestamp":…,"message":…,"name":"request","request_id":…}`), which
//! is where log collectors look for them.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written: for people, or as JSON objects for a log collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Installs the global subscriber; `RUST_LOG`, when set, overrides the configured level.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (as in tests) keeps the first subscriber; that is fine.
    match format {
        LogFormat::Human => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .try_init();
        }
        LogFormat::Json => {
            let mut json = json_subscriber::JsonLayer::stderr();
            json.with_timer("timestamp", SystemTime)
                .with_level("level")
                .with_target("target")
                .with_flattened_event()
                .with_top_level_flattened_span_list();
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(json)
                .try_init();
        }
    }
}
