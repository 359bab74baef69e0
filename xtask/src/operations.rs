//! `cargo xtask cluster` and `cargo xtask soak`: issue 17's proof on two instances under
//! faults, and the soak. Both run the `cluster` test binary of the backend
//! (backend/tests/cluster), which starts its own PostgreSQL, haproxy and SMTP sink.

use super::{TaskResult, cargo, ensure_debian_packages, run, step};

/// What the suite runs for real: haproxy in front of the instances, and PostgreSQL's server
/// binaries for a cluster of its own (initdb, pg_ctl).
const PACKAGES: &[(&str, &str)] = &[("haproxy", "haproxy"), ("pg_ctlcluster", "postgresql")];

/// The eight checks of two instances under faults; fails when one fails.
pub fn cluster() -> TaskResult {
    ensure_debian_packages(PACKAGES)?;
    // The suite is no part of `cargo test`, so `clippy --all-targets` (which takes only
    // targets with `test = true`) passes it over: lint it here.
    step("Linting the cluster suite (clippy, warnings are errors)");
    run(cargo().args([
        "clippy",
        "--package",
        "clavis",
        "--test",
        "cluster",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("Two instances behind haproxy under faults (the first build takes a few minutes)");
    cluster_suite(&["cluster"])
}

/// Mixed load for `args`' `--minutes N` (default 10; from 2, as the first minute is the
/// suite's warm-up), with resident memory sampled.
pub fn soak(args: &[String]) -> TaskResult {
    let minutes = match args {
        [] => "10",
        [flag, value] if flag == "--minutes" && value.parse::<u64>().is_ok_and(|n| n >= 2) => value,
        _ => return Err("usage: cargo xtask soak [--minutes N] (N from 2)".to_owned()),
    };
    ensure_debian_packages(PACKAGES)?;
    step(&format!(
        "Soak: {minutes} minutes of mixed load on one instance"
    ));
    cluster_suite(&["soak", "--minutes", minutes])
}

/// Runs the backend's `cluster` test binary (harness = false) with `args`.
fn cluster_suite(args: &[&str]) -> TaskResult {
    run(cargo()
        .args(["test", "--package", "clavis", "--test", "cluster", "--"])
        .args(args))
}
