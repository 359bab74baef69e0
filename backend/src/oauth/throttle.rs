//! Throttling of failed client authentications (RFC 6749 §2.3.1), in memory per instance.
//!
//! Failures are counted per source address and per client_id in fixed windows. An address
//! over the limit is refused outright. A client_id over the limit only stops requests that
//! would need an argon2id check: a client presenting a secret it already proved keeps
//! working however many failures others cause in its name.
//!
//! A throttled request is answered after a short delay (a tarpit), so a flood that ignores
//! `Retry-After` spends its connections waiting instead of the server's cores answering.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Beyond this many tracked keys, expired windows are swept.
const SWEEP_ABOVE: usize = 10_000;
/// How long a throttled request waits before its 429.
const TARPIT: Duration = Duration::from_millis(250);
/// At most this many requests wait in the tarpit at once; beyond it they are answered at
/// once, so the tarpit cannot pile up connections without bound.
const TARPIT_CAPACITY: usize = 1_024;

pub struct Throttle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Window>>,
    in_tarpit: AtomicUsize,
}

struct Window {
    started: Instant,
    count: u32,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
            in_tarpit: AtomicUsize::new(0),
        }
    }

    /// `Err(seconds to wait)` when `key` has used up its failures in the current window.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(key) {
            Some(window) if window.count >= self.limit => {
                let remaining = self.window.saturating_sub(window.started.elapsed());
                if remaining.is_zero() {
                    Ok(())
                } else {
                    Err(remaining.as_secs() + 1)
                }
            }
            _ => Ok(()),
        }
    }

    /// Delays a throttled request (without using a thread), unless the tarpit is full.
    pub async fn tarpit(&self) {
        if self.in_tarpit.fetch_add(1, Ordering::SeqCst) < TARPIT_CAPACITY {
            tokio::time::sleep(TARPIT).await;
        }
        self.in_tarpit.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn record_failure(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > SWEEP_ABOVE {
            let window = self.window;
            failures.retain(|_, w| w.started.elapsed() < window);
        }
        let window = failures.entry(key.to_owned()).or_insert(Window {
            started: Instant::now(),
            count: 0,
        });
        if window.started.elapsed() >= self.window {
            *window = Window {
                started: Instant::now(),
                count: 0,
            };
        }
        window.count += 1;
    }
}

/// The throttle keys of a source address and of a client_id.
pub fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

pub fn client_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_then_wait_for_the_window() {
        let throttle = Throttle::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(throttle.check("a").is_ok());
            throttle.record_failure("a");
        }
        assert_eq!(throttle.check("a"), Err(1));
        assert!(throttle.check("b").is_ok(), "other keys are not affected");
        std::thread::sleep(Duration::from_millis(220));
        assert!(throttle.check("a").is_ok());
        throttle.record_failure("a");
        assert!(throttle.check("a").is_ok(), "a new window starts from zero");
    }
}
