//! Issue 17's proof that Clavis survives failures, and its soak test. Not part of
//! `cargo test`: run by `cargo xtask cluster` (also in `.ci/run`) and `cargo xtask soak`.
//!
//! - `cluster`: two `clavis serve` instances on a PostgreSQL of the suite's own (initdb in a
//!   temporary directory, its own port) behind a real haproxy, round-robin, with
//!   `CLAVIS_TRUSTED_PROXIES` naming it, and a real SMTP sink (tests/it/smtp_sink.rs). Each
//!   check of checks.rs prints what it measured; the run fails if any check fails.
//! - `soak [--minutes N]`: mixed load on one instance for N minutes (default 10, at least 2), its
//!   resident memory sampled every 10 s (soak.rs).
//!
//! Needs haproxy and PostgreSQL's server binaries (Debian packages haproxy and postgresql).

// A suite that cannot set itself up has nothing to prove: unwrap fails it loudly.
#![allow(clippy::unwrap_used)]

mod checks;
mod cluster;
mod haproxy;
mod load;
mod postgres;
// The sink serves the integration tests too; the suite uses only part of it.
#[allow(dead_code)]
#[path = "../it/smtp_sink.rs"]
mod smtp_sink;
mod soak;

use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: cluster cluster [WORDS] | soak [--minutes N, from 2]
  cluster WORDS runs only the checks whose name contains WORDS";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let passed = match args.first().map(String::as_str) {
        Some("cluster") => runtime.block_on(cluster(args.get(1).map(String::as_str))),
        Some("soak") => match minutes(&args[1..]) {
            Some(minutes) => runtime.block_on(soak::run(minutes)),
            None => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--minutes N` (a whole number from 2: the first minute is the warm-up), or 10 when left
/// out; `None` for anything else.
fn minutes(args: &[String]) -> Option<u64> {
    match args {
        [] => Some(10),
        [flag, value] if flag == "--minutes" => value.parse().ok().filter(|n| *n >= 2),
        _ => None,
    }
}

type CheckFn = for<'a> fn(
    &'a mut cluster::Cluster,
) -> std::pin::Pin<Box<dyn Future<Output = checks::Check> + 'a>>;

/// Runs every check (or those whose name contains `only`) in turn on one cluster, and
/// prints a summary.
async fn cluster(only: Option<&str>) -> bool {
    let started = Instant::now();
    let mut cluster = cluster::Cluster::start(&["a", "b"]).await;
    println!("cluster: {}", checks::heading(&cluster));
    let list: [(&str, CheckFn); 8] = [
        ("a portal session opened through A works on B", |c| {
            Box::pin(checks::sessions_are_shared(c))
        }),
        (
            "a secret deleted through A is refused on B's next request",
            |c| Box::pin(checks::deleted_secret_is_refused_on_b(c)),
        ),
        (
            "a key rotated through A is published by B, tokens verify everywhere",
            |c| Box::pin(checks::rotated_key_reaches_b(c)),
        ),
        ("SIGKILL of A under token load", |c| {
            Box::pin(checks::sigkill_under_load(c))
        }),
        ("SIGTERM of A under token load", |c| {
            Box::pin(checks::sigterm_under_load(c))
        }),
        ("PostgreSQL restarted under token load", |c| {
            Box::pin(checks::postgres_restart_under_load(c))
        }),
        ("reminders sent once although A is killed mid-send", |c| {
            Box::pin(checks::reminders_once_despite_sigkill(c))
        }),
        (
            "reminders sent once after the SMTP server refused for a while",
            |c| Box::pin(checks::reminders_once_after_smtp_outage(c)),
        ),
    ];
    let mut failed = Vec::new();
    let chosen: Vec<_> = list
        .into_iter()
        .filter(|(name, _)| only.is_none_or(|words| name.contains(words)))
        .collect();
    for &(name, check) in &chosen {
        println!("== {name}");
        let began = Instant::now();
        match check(&mut cluster).await {
            Ok(()) => println!("   ok ({:.1} s)", began.elapsed().as_secs_f64()),
            Err(reason) => {
                println!("   FAILED: {reason}");
                failed.push(name);
            }
        }
    }
    println!(
        "cluster suite: {} of {} checks passed in {:.1} min",
        chosen.len() - failed.len(),
        chosen.len(),
        started.elapsed().as_secs_f64() / 60.0
    );
    for name in &failed {
        println!("   failed: {name}");
    }
    failed.is_empty()
}

/// A loopback port that is free now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until something listens on loopback `port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing listens on port {port}");
}
