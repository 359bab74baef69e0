//! Throttling of failed client authentications (RFC 6749 §2.3.1), in memory per instance.
//!
//! Three counters, each in fixed windows of `window` and allowing `limit` per window:
//! - *junk* per source address: values that cannot be a guess (malformed values, unknown
//!   secret ids, unknown clients, secrets that are expired, deleted or disabled). They never
//!   touch a client_id's counter, and never a real guess's.
//! - *guesses* per source address and per client_id: well-formed values for an existing,
//!   active secret that argon2id may check. A guess reserves its place in both before
//!   argon2id runs, so attempts still in flight count and a parallel burst cannot exceed the
//!   limit; a failed check keeps the place, a success gives it back.
//!
//! A source address is an IPv4 address or an IPv6 /64 (one customer's network: a host can pick
//! any address in its /64). A throttled request is answered after a fixed delay (a tarpit),
//! so a flood that ignores `Retry-After` spends its connections waiting instead of the
//! server's cores answering, and every throttled answer takes the same time.

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, UnitWeighter};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys each counter remembers (about 100 bytes each). Beyond it the least useful windows
/// are dropped: a bounded cache keeps memory fixed and each request's cost constant whatever
/// the churn of keys, where a map swept when it grows costs a full scan on some request.
/// Evicting a junk window only lets that address send more junk, which never holds anyone
/// else back; guess windows live in their own caches, where churn needs real argon2id
/// checks (tens per second per core), far too slow to cycle this many keys within a window.
const CAPACITY: usize = 65_536;
/// How long a throttled request waits before its 429.
const TARPIT: Duration = Duration::from_millis(250);
/// At most this many requests wait in the tarpit at once; beyond it they are answered at
/// once, so the tarpit cannot pile up connections without bound.
const TARPIT_CAPACITY: usize = 1_024;

/// Seconds a throttled caller should wait (`Retry-After`).
pub type RetryAfter = u64;

pub struct Throttle {
    limit: u32,
    window: Duration,
    junk_by_address: Counters<IpAddr>,
    guesses_by_address: Counters<IpAddr>,
    guesses_by_client: Counters<String>,
    in_tarpit: AtomicUsize,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            junk_by_address: Counters::new(),
            guesses_by_address: Counters::new(),
            guesses_by_client: Counters::new(),
            in_tarpit: AtomicUsize::new(0),
        }
    }

    /// Counts one request that cannot be a guess against its source address; `Err` when
    /// the address has used up its junk allowance (and this one is not counted).
    pub fn count_junk(&self, source: IpAddr) -> Result<(), RetryAfter> {
        let window = self.junk_by_address.window(&address_group(source));
        let mut window = lock(&window);
        window.roll(self.window);
        if let Some(retry_after) = window.refusal(self.limit, self.window) {
            return Err(retry_after);
        }
        window.failures += 1;
        Ok(())
    }

    /// Whether a guess from `source` for `client_id` would be let through now, without
    /// reserving a place: decided before the stored secret is read, so a throttled answer
    /// cannot depend on whether the secret exists.
    pub fn check_guess(&self, source: IpAddr, client_id: &str) -> Result<(), RetryAfter> {
        let refusal = |window: Option<SharedWindow>| {
            let window = window?;
            let mut window = lock(&window);
            window.roll(self.window);
            window.refusal(self.limit, self.window)
        };
        match refusal(self.guesses_by_client.existing(client_id))
            .or_else(|| refusal(self.guesses_by_address.existing(&address_group(source))))
        {
            Some(retry_after) => Err(retry_after),
            None => Ok(()),
        }
    }

    /// Reserves a place for one guess in both the client_id's and the address's windows, or
    /// `Err` when either is full (failures and guesses in flight together).
    pub fn reserve_guess(
        &self,
        source: IpAddr,
        client_id: &str,
    ) -> Result<GuessReservation, RetryAfter> {
        let client = self.guesses_by_client.window(client_id);
        let address = self.guesses_by_address.window(&address_group(source));
        {
            let (mut by_client, mut by_address) = (lock(&client), lock(&address));
            for window in [&mut by_client, &mut by_address] {
                window.roll(self.window);
                if let Some(retry_after) = window.refusal(self.limit, self.window) {
                    return Err(retry_after);
                }
            }
            by_client.in_flight += 1;
            by_address.in_flight += 1;
        }
        Ok(GuessReservation {
            windows: [client, address],
            failed: false,
        })
    }

    /// Delays a throttled request (without using a thread), unless the tarpit is full.
    pub async fn tarpit(&self) {
        if self.in_tarpit.fetch_add(1, Ordering::SeqCst) < TARPIT_CAPACITY {
            tokio::time::sleep(TARPIT).await;
        }
        self.in_tarpit.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A guess's place in its windows until it is decided: [`GuessReservation::fail`] keeps it
/// as a failure; dropping it otherwise (success, shed load, an error) gives it back.
pub struct GuessReservation {
    windows: [SharedWindow; 2],
    failed: bool,
}

impl GuessReservation {
    pub fn fail(mut self) {
        self.failed = true;
    }
}

impl Drop for GuessReservation {
    fn drop(&mut self) {
        for window in &self.windows {
            let mut window = lock(window);
            window.in_flight -= 1;
            if self.failed {
                window.failures += 1;
            }
        }
    }
}

/// The throttling group of an address: IPv4 as it is, IPv6 by its /64.
pub fn address_group(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !0u128 >> 64 << 64)),
        v4 => v4,
    }
}

type SharedWindow = Arc<Mutex<Window>>;

fn lock(window: &SharedWindow) -> MutexGuard<'_, Window> {
    window.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Window {
    started: Instant,
    failures: u32,
    in_flight: u32,
}

impl Window {
    /// Starts a new window once the current one has passed; guesses in flight stay.
    fn roll(&mut self, length: Duration) {
        if self.started.elapsed() >= length {
            self.started = Instant::now();
            self.failures = 0;
        }
    }

    /// `Some(seconds to wait)` when no further attempt fits in this window.
    fn refusal(&self, limit: u32, length: Duration) -> Option<RetryAfter> {
        if self.failures >= limit {
            Some(length.saturating_sub(self.started.elapsed()).as_secs() + 1)
        } else if self.failures + self.in_flight >= limit {
            // Attempts in flight are decided in milliseconds.
            Some(1)
        } else {
            None
        }
    }
}

/// Windows by key, in a bounded cache (see [`CAPACITY`]).
struct Counters<K: Eq + Hash + Clone> {
    windows: Cache<K, SharedWindow, UnitWeighter, DefaultHashBuilder, KeepInFlight>,
}

impl<K: Eq + Hash + Clone> Counters<K> {
    fn new() -> Self {
        Self {
            windows: Cache::with(
                CAPACITY,
                CAPACITY as u64,
                UnitWeighter,
                DefaultHashBuilder::default(),
                KeepInFlight,
            ),
        }
    }

    fn existing<Q>(&self, key: &Q) -> Option<SharedWindow>
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.windows.get(key)
    }

    fn window<Q>(&self, key: &Q) -> SharedWindow
    where
        Q: Hash + quick_cache::Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        let Ok(window) = self
            .windows
            .get_or_insert_with(key, || Ok::<_, std::convert::Infallible>(new_window()));
        window
    }
}

fn new_window() -> SharedWindow {
    Arc::new(Mutex::new(Window {
        started: Instant::now(),
        failures: 0,
        in_flight: 0,
    }))
}

/// Never evicts a window with guesses in flight: its replacement would not know about them,
/// and a burst could then exceed the limit. Their number is bounded by the requests being
/// served.
#[derive(Clone)]
struct KeepInFlight;

impl<K> Lifecycle<K, SharedWindow> for KeepInFlight {
    type RequestState = ();

    fn is_pinned(&self, _key: &K, window: &SharedWindow) -> bool {
        // A window locked right now is in use: keep it too.
        window
            .try_lock()
            .map_or(true, |window| window.in_flight > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
    const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    #[test]
    fn junk_is_limited_per_address_then_waits_for_the_window() {
        let throttle = Throttle::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert_eq!(throttle.count_junk(HERE), Ok(()));
        }
        assert_eq!(throttle.count_junk(HERE), Err(1));
        assert_eq!(throttle.count_junk(THERE), Ok(()), "other addresses");
        assert_eq!(
            throttle.check_guess(HERE, "app"),
            Ok(()),
            "junk never holds back a guess"
        );
        std::thread::sleep(Duration::from_millis(220));
        assert_eq!(throttle.count_junk(HERE), Ok(()), "a new window");
    }

    #[test]
    fn guesses_in_flight_count_and_successes_give_their_place_back() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let first = throttle.reserve_guess(HERE, "app").unwrap();
        let second = throttle.reserve_guess(THERE, "app").unwrap();
        assert!(throttle.reserve_guess(HERE, "other").is_ok());
        assert_eq!(throttle.reserve_guess(HERE, "app").err(), Some(1));
        assert_eq!(throttle.check_guess(THERE, "app"), Err(1));
        drop(first);
        second.fail();
        let third = throttle.reserve_guess(HERE, "app").unwrap();
        third.fail();
        let refused = throttle.reserve_guess(THERE, "app").err().unwrap();
        assert!((59..=60).contains(&refused), "{refused}");
        assert!(throttle.reserve_guess(THERE, "other").is_ok());
    }

    #[test]
    fn ipv6_addresses_are_grouped_by_64() {
        let group = |text: &str| address_group(text.parse().unwrap());
        assert_eq!(group("2001:db8:1:2:aaaa::1"), group("2001:db8:1:2:ffff::9"));
        assert_ne!(group("2001:db8:1:2::1"), group("2001:db8:1:3::1"));
        assert_eq!(group("::ffff:198.51.100.7"), HERE);
        let throttle = Throttle::new(1, Duration::from_secs(60));
        assert!(
            throttle
                .count_junk("2001:db8:1:2::1".parse().unwrap())
                .is_ok()
        );
        assert!(
            throttle
                .count_junk("2001:db8:1:2:abcd::7".parse().unwrap())
                .is_err()
        );
        assert!(
            throttle
                .count_junk("2001:db8:1:3::1".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn memory_stays_bounded_under_churn() {
        let throttle = Throttle::new(1, Duration::from_secs(60));
        for n in 0..(CAPACITY as u32 * 3) {
            let _ = throttle.count_junk(IpAddr::V4(n.into()));
        }
        assert!(throttle.junk_by_address.windows.len() <= CAPACITY);
        let held = throttle.reserve_guess(HERE, "held").unwrap();
        for n in 0..(CAPACITY as u32 * 2) {
            drop(throttle.reserve_guess(HERE, &n.to_string()));
        }
        assert!(throttle.guesses_by_client.windows.len() <= CAPACITY);
        assert_eq!(
            throttle.reserve_guess(THERE, "held").err(),
            Some(1),
            "the window of the guess in flight survived the churn"
        );
        drop(held);
    }
}
