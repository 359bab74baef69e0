//! The Debian package, unpacked into a temporary root as dpkg would install it: its systemd
//! unit passes `systemd-analyze verify`, and its binary, run with the configuration it ships
//! (only the data directory, the portal and the port redirected), serves the portal and
//! tokens. `cargo xtask test` makes the package and runs these (`#[ignore]`d otherwise, as
//! they need it): `TEST_CLAVIS_PACKAGE` names the `.deb`.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{bootstrap_with, without_settings};
use crate::oauth::{access_token_at, jwks_at, verify_independently};
use crate::server::{http, loopback_listener};
use crate::support::TestDb;

/// The package's files, extracted (`dpkg-deb -x`), and its control files (`dpkg-deb -e`).
struct Unpacked {
    root: tempfile::TempDir,
    control: tempfile::TempDir,
}

impl Unpacked {
    fn new() -> Self {
        let deb = std::env::var_os("TEST_CLAVIS_PACKAGE")
            .map(PathBuf::from)
            .expect(
                "TEST_CLAVIS_PACKAGE names the Debian package to test (cargo xtask test sets it)",
            );
        let (root, control) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (option, into) in [("-x", &root), ("-e", &control)] {
            let status = Command::new("dpkg-deb")
                .arg(option)
                .arg(&deb)
                .arg(into.path().join(if option == "-e" { "DEBIAN" } else { "" }))
                .status()
                .expect("run dpkg-deb");
            assert!(status.success(), "dpkg-deb {option} {}", deb.display());
        }
        Self { root, control }
    }

    fn path(&self, installed: &str) -> PathBuf {
        self.root.path().join(installed.trim_start_matches('/'))
    }

    fn control_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.control.path().join("DEBIAN").join(name))
            .unwrap_or_else(|e| panic!("the package's {name}: {e}"))
    }

    /// The installed unit file, wherever the package puts it.
    fn unit(&self) -> PathBuf {
        [
            "/lib/systemd/system/clavis.service",
            "/usr/lib/systemd/system/clavis.service",
        ]
        .iter()
        .map(|unit| self.path(unit))
        .find(|unit| unit.is_file())
        .expect("the package installs clavis.service")
    }
}

#[test]
#[ignore = "needs the package: run by cargo xtask test"]
fn the_package_holds_a_hardened_unit_a_user_and_a_conffile() {
    let package = Unpacked::new();
    let unit = std::fs::read_to_string(package.unit()).unwrap();
    for directive in [
        "User=clavis",
        "Environment=CLAVIS_CONFIG=/etc/clavis/clavis.toml",
        "ExecStart=/usr/bin/clavis serve",
        "StateDirectory=clavis",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "PrivateTmp=yes",
        "SystemCallFilter=@system-service",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive:?}");
    }
    // verify checks that ExecStart's program exists: point it at the unpacked one.
    let verified = tempfile::tempdir().unwrap();
    let copy = verified.path().join("clavis.service");
    let binary = package.path("/usr/bin/clavis");
    std::fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/bin/clavis",
            &format!("ExecStart={}", binary.display()),
        ),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze (Debian package systemd)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    let sysusers = std::fs::read_to_string(package.path("/usr/lib/sysusers.d/clavis.conf"))
        .expect("the clavis user is declared for systemd-sysusers");
    assert!(
        sysusers.lines().any(|line| line.starts_with("u clavis ")),
        "{sysusers}"
    );
    assert!(
        package
            .control_file("postinst")
            .contains("systemd-sysusers")
    );
    assert!(
        package
            .control_file("conffiles")
            .lines()
            .any(|line| line == "/etc/clavis/clavis.toml")
    );
    assert!(
        package
            .path("/usr/share/clavis/portal/index.html")
            .is_file()
    );
}

#[actix_web::test]
#[ignore = "needs the package: run by cargo xtask test"]
async fn the_unpacked_package_serves_the_portal_and_tokens_on_sqlite() {
    serves_the_portal_and_tokens(None).await;
}

#[actix_web::test]
#[ignore = "needs the package: run by cargo xtask test"]
async fn the_unpacked_package_serves_the_portal_and_tokens_on_postgres() {
    let db = TestDb::postgres_unmigrated();
    serves_the_portal_and_tokens(Some(&db.url)).await;
}

/// The installed binary with the shipped configuration migrates a new database on start,
/// serves the built portal, and issues a token verified by its JWKS.
async fn serves_the_portal_and_tokens(database_url: Option<&str>) {
    let package = Unpacked::new();
    let data = tempfile::tempdir().unwrap();
    let (listener, base) = loopback_listener();
    let listen = listener.local_addr().unwrap().to_string();
    drop(listener);
    let installed = |args: &[&str]| {
        let mut command = without_settings(&package.path("/usr/bin/clavis"), data.path());
        command
            .env("CLAVIS_CONFIG", package.path("/etc/clavis/clavis.toml"))
            .env("CLAVIS_DATA_DIR", data.path())
            .env(
                "CLAVIS_FRONTEND_DIR",
                package.path("/usr/share/clavis/portal"),
            )
            .env("CLAVIS_LISTEN", &listen)
            .args(args);
        if let Some(url) = database_url {
            command.env("CLAVIS_DATABASE_URL", url);
        }
        command
    };
    let mut server = Served(
        installed(&["serve"])
            .spawn()
            .expect("start the installed clavis"),
    );
    wait_until_ready(&base, &mut server.0).await;

    let json = |args: &[&str]| -> Value {
        let output = installed(&[args, &["--json"]].concat()).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let client_id = &bootstrap_with(json);
    let secret = json(&[
        "secret",
        "create",
        "--app",
        client_id,
        "--name",
        "ci",
        "--expires",
        "30d",
    ]);

    let page = http().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("content-security-policy"));
    let page = page.text().await.unwrap();
    let wasm = asset_named(&page, ".wasm").expect("the built portal's page loads its WASM");
    let wasm = http().get(format!("{base}/{wasm}")).send().await.unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");

    let token = access_token_at(&base, client_id, secret["value"].as_str().unwrap()).await;
    let jwks = jwks_at(&base).await;
    let (_, claims) = verify_independently(&token, &jwks);
    assert_eq!(claims["sub"], client_id.as_str());
    assert!(
        data.path().join("master.key").is_file(),
        "the master key file is made in the data directory"
    );
}

/// The name of the first file of the built portal ending in `suffix` that `page` refers to
/// (trunk names them with a content hash).
fn asset_named<'a>(page: &'a str, suffix: &str) -> Option<&'a str> {
    page.split(['"', '\'', '/'])
        .find(|part| part.ends_with(suffix) && !part.contains(' '))
}

/// The installed `clavis serve`, killed when the test ends, passed or not.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `/readyz` (the database migrated), failing if Clavis exits or takes 60 s.
async fn wait_until_ready(base: &str, server: &mut Child) {
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the installed clavis exited at start ({status})");
        }
        let ready = http().get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status() == 200) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the installed clavis did not become ready"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}
