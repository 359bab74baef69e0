//! `cargo xtask package`: the Debian package, made by cargo-deb from `backend/Cargo.toml`'s
//! `[package.metadata.deb]` and `backend/debian/`, and the check that it installs a working
//! Clavis.

use std::path::PathBuf;
use std::process::Command;

use super::{TaskResult, build_frontend, cargo, on_path, root, run, setup_frontend_tools, step};

/// The cargo-deb that makes the package: 3.8 installs `debian/clavis.sysusers` itself (the
/// clavis user), and builds with this project's Rust.
const CARGO_DEB_VERSION: &str = "3.8.0";
/// The environment variable that hands the package to the test (`tests/it/package.rs`); not
/// `CLAVIS_*`, which Clavis would read as a setting.
const PACKAGE_VAR: &str = "TEST_CLAVIS_PACKAGE";

/// Which binary goes into the package.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// An optimised build (`cargo build --release`, with LTO): the package to install.
    Release,
    /// The debug build the tests made already: the same package around a binary that
    /// needs no second, release build, for checking the packaging in CI.
    Debug,
}

impl Binary {
    /// `--debug-binary` picks [`Binary::Debug`]; nothing picks [`Binary::Release`].
    pub fn from_args(args: &[String]) -> Result<Self, String> {
        match args {
            [] => Ok(Self::Release),
            [flag] if flag == "--debug-binary" => Ok(Self::Debug),
            other => Err(format!(
                "package takes only --debug-binary, not {}",
                other.join(" ")
            )),
        }
    }
}

/// Builds the portal and the package; returns the package's path.
pub fn package(binary: Binary) -> Result<PathBuf, String> {
    setup_frontend_tools()?;
    build_frontend()?;
    make_package(binary)
}

/// The package around the portal built already (`frontend/dist`).
fn make_package(binary: Binary) -> Result<PathBuf, String> {
    ensure_cargo_deb()?;
    let (name, profile_args): (&str, &[&str]) = match binary {
        Binary::Release => ("clavis.deb", &[]),
        // cargo-deb warns that the dev profile is meant for checks, not releases: so it is.
        Binary::Debug => (
            "clavis-debug-binary.deb",
            &["--profile", "dev", "--no-build", "--fast"],
        ),
    };
    if binary == Binary::Debug {
        run(cargo().args(["build", "--package", "clavis"]))?;
    } else {
        step("Building Clavis with optimisations (release, LTO: several minutes)");
    }
    let deb = root().join("target/debian").join(name);
    step(&format!("Making the Debian package {}", deb.display()));
    run(cargo()
        .args(["deb", "--package", "clavis", "--output"])
        .arg(&deb)
        .args(profile_args))?;
    Ok(deb)
}

/// Packages the debug binary and the portal built already, and runs the package test on it:
/// the unit passes `systemd-analyze verify`, and the unpacked package serves the portal and
/// tokens.
pub fn check() -> TaskResult {
    super::ensure_debian_packages(&[("dpkg-deb", "dpkg"), ("systemd-analyze", "systemd")])?;
    let deb = make_package(Binary::Debug)?;
    step("Testing the Debian package (unpacked into a temporary root, SQLite and PostgreSQL)");
    // No --package: the workspace's feature set, as the tests before built it, so nothing
    // is built again.
    run(cargo()
        .args(["test", "--test", "it", "package::"])
        .args(["--", "--ignored"])
        .env(PACKAGE_VAR, &deb))
}

/// `cargo install` of the pinned cargo-deb when `cargo deb` is missing or another version.
fn ensure_cargo_deb() -> TaskResult {
    let installed = on_path("cargo-deb")
        && super::tool_reports(
            Command::new("cargo-deb").arg("--version"),
            CARGO_DEB_VERSION,
        );
    if installed {
        return Ok(());
    }
    step(&format!(
        "Installing cargo-deb {CARGO_DEB_VERSION} (about 3 minutes, once per machine)"
    ));
    run(cargo().args([
        "install",
        "--locked",
        "cargo-deb",
        "--version",
        CARGO_DEB_VERSION,
    ]))
}
