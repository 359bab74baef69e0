//! `cargo xtask <task>`: the project's set-up and check commands, so a fresh machine needs
//! only the Rust toolchain, Node.js and apt to run the demo or the whole test suite.

mod demo_world;
mod operations;
mod package;

use clavis_shared::dto::{Application, NewClientSecret};
use demo_world::{DemoWorld, Login};
use serde::Deserialize;
use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// trunk 0.22 needs a newer rustc than this project's toolchain.
const TRUNK_VERSION: &str = "0.21.14";
/// Everything a first visit to the portal downloads (the page, its script, WASM and style
/// sheet), as it travels: brotli where the browser takes it. Issue 16's first-load budget,
/// which replaced a raw-WASM budget: what people wait for is the transfer, not the raw size.
const FIRST_LOAD_BUDGET_BYTES: u64 = 300 * 1024;
const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo      set up what is missing, build the portal, and run Clavis on the embedded SQLite
  test      set up what is missing, build the portal, then check formatting, lints and all tests
  setup     install the tools only (wasm target, trunk, wasm-bindgen-cli, wasm-opt)
  frontend  build the portal (release) and report its size
  bench     the token endpoint benchmark (wrk, SQLite and PostgreSQL): tokens/s and latency
  bench-lists  the portal's list endpoints at scale (SQLite and PostgreSQL): p50/p95/p99 ms
  cluster   two instances behind haproxy on their own PostgreSQL, under faults (also in CI)
  soak      mixed load on one instance with memory samples: soak [--minutes N] (default 10)
  package   the Debian package (release build) in target/debian/clavis.deb; with
            --debug-binary, around the debug build instead (quicker, for checks)";

type TaskResult = Result<(), String>;

fn main() -> ExitCode {
    let task = env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "setup" => setup_frontend_tools(),
        "frontend" => setup_frontend_tools().and_then(|()| build_frontend()),
        "bench" => bench(),
        "bench-lists" => bench_lists(),
        "cluster" => operations::cluster(),
        "soak" => operations::soak(&env::args().skip(2).collect::<Vec<_>>()),
        "package" => package::Binary::from_args(&env::args().skip(2).collect::<Vec<_>>())
            .and_then(package::package)
            .map(|deb| println!("    {}", deb.display())),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The demo's fixed addresses; the local provider's fixture registers this callback.
const DEMO_PORTAL: &str = "http://127.0.0.1:8080";
const DEMO_PROVIDER: &str = "http://127.0.0.1:9000";
/// Where the demo keeps the one client secret it shows in its curl command (in ./data,
/// which is never committed).
const DEMO_SECRET_FILE: &str = "data/demo-client-secret.txt";

fn demo() -> TaskResult {
    setup_frontend_tools()?;
    build_frontend()?;
    step("Building Clavis (the first build takes a few minutes)");
    run(cargo().args(["build", "--package", "clavis"]))?;
    let e2e = root().join("e2e");
    if !e2e.join("node_modules/oidc-provider").is_dir() {
        step("Installing the local OpenID Connect provider's packages (npm)");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&e2e))?;
    }
    let clavis = root().join("target/debug/clavis");
    let world = DemoWorld::load(&root())?;
    let logins = demo_world::load_logins(&root())?;
    let client_id = seed_demo_data(&clavis, &world)?;
    step("Starting the local OpenID Connect provider (a development tool) and Clavis");
    let mut provider = Command::new("node")
        .arg("oidc/server.js")
        .current_dir(&e2e)
        .env("OIDC_PORT", "9000")
        .env("OIDC_REDIRECT_URIS", format!("{DEMO_PORTAL}/auth/callback"))
        .env("OIDC_POST_LOGOUT_REDIRECT_URIS", format!("{DEMO_PORTAL}/"))
        .spawn()
        .map_err(|e| format!("cannot start the local OpenID Connect provider: {e}"))?;
    print_demo_guide(&world, &logins, &client_id);
    // Ctrl-C reaches every process in the terminal's group: Clavis and the provider stop too.
    let served = run(demo_clavis(&clavis).arg("serve"));
    let _ = provider.kill();
    let _ = provider.wait();
    served
}

/// `clavis` configured for the demo: the embedded SQLite in ./data, the local provider.
fn demo_clavis(clavis: &Path) -> Command {
    let mut command = Command::new(clavis);
    command
        .current_dir(root())
        .env("CLAVIS_PUBLIC_URL", DEMO_PORTAL)
        .env("CLAVIS_OIDC_ISSUER", DEMO_PROVIDER)
        .env("CLAVIS_OIDC_CLIENT_ID", "clavis-portal")
        .env("CLAVIS_OIDC_CLIENT_SECRET", "fixture-portal-client-secret");
    command
}

fn print_demo_guide(world: &DemoWorld, logins: &[Login], client_id: &str) {
    let secret = std::fs::read_to_string(root().join(DEMO_SECRET_FILE)).unwrap_or_default();
    let organisation = world.first_application_organisation().unwrap_or_default();
    println!(
        "
    Portal:       {DEMO_PORTAL}/   (sign in with a demo login; Ctrl-C stops everything)
    Demo logins (test fixtures of the local provider, e2e/oidc/users.fixture.json):
{}    Second factor: the current TOTP code of a demo user, in another terminal:
      node e2e/oidc/totp.js mia.manager@acme.test
    A token for {organisation}'s application (its demo secret is in {DEMO_SECRET_FILE}):
      curl -u '{client_id}:{}' -d grant_type=client_credentials {DEMO_PORTAL}/oauth2/token
    Expiry reminders are off in the demo (no mail server; CLAVIS_SMTP_* turns them on). Preview
    who would get which reminder at a moment of your choice (see `secret list` for expiries):
      target/debug/clavis notify run-once --dry-run --now 2027-05-01T08:00:00Z
",
        world.login_table(logins),
        secret.trim()
    );
}

/// On the first run: the demo world of `fixtures/demo-world.json` and one client secret for
/// its first application; a second run reuses them. Returns that application's client_id.
fn seed_demo_data(clavis: &Path, world: &DemoWorld) -> Result<String, String> {
    let listed = output(demo_clavis(clavis).args(["app", "list", "--json"]))?;
    if let Some(client_id) = first_client_id(&listed) {
        println!("    Reusing the demo data in ./data");
        return Ok(client_id);
    }
    step("Creating demo data");
    for args in world.cli_commands() {
        run(demo_clavis(clavis).args(args))?;
    }
    let organisation = world
        .first_application_organisation()
        .ok_or("the demo world has no application")?;
    let listed =
        output(demo_clavis(clavis).args(["app", "list", "--org", organisation, "--json"]))?;
    let client_id = first_client_id(&listed).ok_or("the demo application was not created")?;
    let created = output(demo_clavis(clavis).args([
        "secret",
        "create",
        "--app",
        &client_id,
        "--name",
        "demo",
        "--expires",
        "180d",
        "--json",
    ]))?;
    let secret: NewClientSecret = serde_json::from_str(&created)
        .map_err(|e| format!("the demo secret was not created: {e}"))?;
    write_private(&root().join(DEMO_SECRET_FILE), &secret.value)?;
    Ok(client_id)
}

/// The client_id of the first application in the CLI's `app list --json` output; `None` when
/// there is none or the listing failed (no demo data yet).
fn first_client_id(listed: &str) -> Option<String> {
    let applications: Vec<Application> = serde_json::from_str(listed).ok()?;
    applications
        .into_iter()
        .next()
        .map(|application| application.client_id)
}

fn write_private(path: &Path, contents: &str) -> TaskResult {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What the tests run for real: the browser, the reverse proxies in front of Clavis, and
/// openssl for TLS checks.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("chromium", "chromium"),
    ("nginx", "nginx"),
    // nginx's JavaScript module, which writes the Client-Cert header of mutual TLS.
    (NGINX_JS_MODULE, "libnginx-mod-http-js"),
    ("haproxy", "haproxy"),
    ("openssl", "openssl"),
];
/// Where Debian's libnginx-mod-http-js puts the module.
const NGINX_JS_MODULE: &str = "/usr/lib/nginx/modules/ngx_http_js_module.so";

fn test() -> TaskResult {
    setup_frontend_tools()?;
    ensure_postgres()?;
    ensure_debian_packages(TEST_PACKAGES)?;
    build_frontend()?;
    step("Checking formatting");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("Linting (clippy, warnings are errors)");
    run(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
    run(cargo().args([
        "clippy",
        "--package",
        "clavis-frontend",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The login tests run the local OpenID Connect provider, so its packages come first.
    step("Installing the local OpenID Connect provider's packages (npm)");
    let e2e = root().join("e2e");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&e2e))?;
    step("Running the tests (SQLite and PostgreSQL)");
    run(cargo().arg("test"))?;
    step("Testing the portal's own logic (frontend unit tests)");
    run(cargo().args(["test", "--package", "clavis-frontend"]))?;
    step("Building Clavis for the browser tests");
    run(cargo().args(["build", "--package", "clavis"]))?;
    package::check()?;
    ensure_client_libraries()?;
    step("Testing the local OpenID Connect provider and the portal in headless Chromium (node)");
    run(Command::new("node")
        .args(["--test", "--test-concurrency=1", "oidc/", "browser/"])
        .current_dir(&e2e))
}

/// The Python client libraries the browser tests sign assertions with as partners would
/// (authlib, e2e/clients/requirements.txt), in a virtual environment of their own under
/// target/, installed from PyPI unless they are there already.
fn ensure_client_libraries() -> TaskResult {
    let venv = root().join("target/e2e-python");
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args(["-c", "import authlib, requests"])
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return Ok(());
    }
    step("Installing the Python client libraries for the browser tests (PyPI: authlib)");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(root().join("e2e/clients/requirements.txt")))
}

/// Installs the Debian packages whose commands are missing (see [`apt_install`]). Each pair is
/// (command, package).
fn ensure_debian_packages(needed: &[(&str, &str)]) -> TaskResult {
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(command, _)| !on_path(command))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!("Installing {} (Debian)", missing.join(", ")));
    apt_install(&missing)
}

/// `apt-get install` of `packages`, always after an `apt-get update`: a fresh machine's package
/// lists may be empty or stale, and then the install fails or fetches what no longer exists.
fn apt_install(packages: &[&str]) -> TaskResult {
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Whether `command` is an executable in a PATH directory (or the sbin ones, where Debian
/// puts nginx and haproxy); an absolute path names a file that must exist.
fn on_path(command: &str) -> bool {
    if command.starts_with('/') {
        return Path::new(command).is_file();
    }
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|dir| dir.join(command).is_file())
}

fn bench() -> TaskResult {
    ensure_postgres()?;
    ensure_debian_packages(&[("wrk", "wrk"), ("nginx", "nginx"), ("openssl", "openssl")])?;
    step("Benchmarking the token endpoint (release build; the first build takes a few minutes)");
    run(cargo().args(["bench", "--package", "clavis", "--bench", "token_endpoint"]))
}

/// Seeds 200 organisations, 10,000 applications, 20,000 secrets and 100,000 audit events on
/// each database and prints every portal list endpoint's p50, p95 and p99 against the 20 ms
/// p99 target (issue 16).
fn bench_lists() -> TaskResult {
    ensure_postgres()?;
    step(
        "Benchmarking the portal's list endpoints (release build; the first build takes a few minutes)",
    );
    run(cargo().args(["bench", "--package", "clavis", "--bench", "portal_lists"]))
}

fn setup_frontend_tools() -> TaskResult {
    step("Checking the frontend tools");
    let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        step("Installing the wasm32-unknown-unknown target");
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    if !tool_reports(
        Command::new("trunk").arg("--version"),
        &format!("trunk {TRUNK_VERSION}"),
    ) {
        step(&format!(
            "Installing trunk {TRUNK_VERSION} (about 10 minutes, once per machine)"
        ));
        run(cargo().args(["install", "--locked", "trunk", "--version", TRUNK_VERSION]))?;
    }
    let bindgen = locked_version("wasm-bindgen")?;
    if !tool_reports(
        Command::new("wasm-bindgen").arg("--version"),
        &format!("wasm-bindgen {bindgen}"),
    ) {
        step(&format!(
            "Installing wasm-bindgen-cli {bindgen} (about 3 minutes, once per machine)"
        ));
        // No --locked: its lockfile pins a crate version the registry no longer serves.
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", &bindgen]))?;
    }
    let frontend = root().join("frontend");
    if !tool_reports(
        Command::new(frontend.join("node_modules/.bin/wasm-opt")).arg("--version"),
        "version 132",
    ) {
        step("Installing wasm-opt (npm binaryen 132)");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&frontend))?;
    }
    Ok(())
}

fn build_frontend() -> TaskResult {
    step("Building the portal (trunk, release)");
    let tools = root().join("frontend/node_modules/.bin");
    let path = env::join_paths(
        std::iter::once(tools).chain(env::split_paths(&env::var_os("PATH").unwrap_or_default())),
    )
    .map_err(|e| format!("cannot extend PATH: {e}"))?;
    run(Command::new("trunk")
        .args(["build", "--release", "--offline"])
        .env("PATH", path)
        .current_dir(root()))?;
    let sizes = precompress(&root().join("frontend/dist"))?;
    println!(
        "    portal first load: {} KB with brotli, {} KB with gzip, {} KB uncompressed \
         (budget {} KB with brotli)",
        sizes.brotli / 1024,
        sizes.gzip / 1024,
        sizes.raw / 1024,
        FIRST_LOAD_BUDGET_BYTES / 1024
    );
    if sizes.brotli > FIRST_LOAD_BUDGET_BYTES {
        return Err("the portal's first load is over its transfer budget".to_owned());
    }
    Ok(())
}

/// Bytes of the built portal: as built, and as served with each encoding.
#[derive(Debug, Default, PartialEq, Eq)]
struct TransferSizes {
    raw: u64,
    brotli: u64,
    gzip: u64,
}

/// Writes `<file>.br` and `<file>.gz` beside each built file that the server sends
/// precompressed: all but `index.html`, which Clavis serves as it is with a policy made from
/// its text (backend/src/site.rs). The highest settings, since this runs once per build, not
/// per request. Returns what a first visit transfers: every file in `dist`.
fn precompress(dist: &Path) -> Result<TransferSizes, String> {
    use std::io::Write;
    let mut sizes = TransferSizes::default();
    let entries =
        std::fs::read_dir(dist).map_err(|e| format!("cannot read {}: {e}", dist.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_file() || name.ends_with(".br") || name.ends_with(".gz") {
            continue;
        }
        let data =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        sizes.raw += data.len() as u64;
        if name == "index.html" {
            sizes.brotli += data.len() as u64;
            sizes.gzip += data.len() as u64;
            continue;
        }
        let mut brotli = Vec::new();
        let params = brotli::enc::BrotliEncoderParams {
            quality: 11,
            lgwin: 24,
            ..Default::default()
        };
        brotli::BrotliCompress(&mut data.as_slice(), &mut brotli, &params)
            .map_err(|e| format!("cannot compress {}: {e}", path.display()))?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = gzip
            .write_all(&data)
            .and_then(|()| gzip.finish())
            .map_err(|e| format!("cannot compress {}: {e}", path.display()))?;
        sizes.brotli += brotli.len() as u64;
        sizes.gzip += gzip.len() as u64;
        for (suffix, bytes) in [("br", &brotli), ("gz", &gzip)] {
            let target = dist.join(format!("{name}.{suffix}"));
            std::fs::write(&target, bytes)
                .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        }
    }
    Ok(sizes)
}

/// The tests need the local PostgreSQL (127.0.0.1:5432, user postgres, trust auth).
fn ensure_postgres() -> TaskResult {
    let ready = || {
        tool_reports(
            Command::new("pg_isready").args(["-h", "127.0.0.1", "-p", "5432"]),
            "accepting connections",
        )
    };
    if ready() {
        return Ok(());
    }
    step("Starting the local PostgreSQL");
    if !tool_reports(Command::new("pg_lsclusters").arg("-h"), "") {
        apt_install(&["postgresql"])?;
    }
    let clusters = output(Command::new("pg_lsclusters").arg("-h"))?;
    let version = clusters
        .split_whitespace()
        .next()
        .ok_or("no PostgreSQL cluster exists on this machine (pg_lsclusters lists none)")?;
    run(Command::new("pg_ctlcluster").args([
        "--skip-systemctl-redirect",
        version,
        "main",
        "start",
    ]))?;
    if ready() {
        Ok(())
    } else {
        Err("PostgreSQL does not accept connections on 127.0.0.1:5432".to_owned())
    }
}

/// The version of `package` that Cargo.lock pins, so the CLI always matches the library. Read
/// through `cargo metadata`, Cargo's own reading of the lock file; where several versions are
/// locked, the lowest (Cargo lists packages by name, then version).
fn locked_version(package: &str) -> Result<String, String> {
    /// The part of `cargo metadata --format-version 1` this needs.
    #[derive(Deserialize)]
    struct Metadata {
        packages: Vec<Package>,
    }
    #[derive(Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let mut command = cargo();
    command.args(["metadata", "--format-version", "1"]);
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{command:?} failed ({})", out.status));
    }
    let metadata: Metadata = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cannot read the output of {command:?}: {e}"))?;
    metadata
        .packages
        .into_iter()
        .find(|locked| locked.name == package)
        .map(|locked| locked.version)
        .ok_or_else(|| format!("{package} is not in Cargo.lock"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_default()
}

fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

fn step(what: &str) {
    println!("==> {what}");
}

fn run(command: &mut Command) -> TaskResult {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

fn output(command: &mut Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the command runs, succeeds and prints `expected` (tools print versions this way).
fn tool_reports(command: &mut Command, expected: &str) -> bool {
    command.output().is_ok_and(|out| {
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(expected)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portal_is_precompressed_and_its_transfer_counted() {
        let dist = std::env::temp_dir().join(format!("clavis-xtask-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dist).unwrap();
        let script = "export function start() { return 'portal'; }\n".repeat(200);
        std::fs::write(
            dist.join("index.html"),
            "<!DOCTYPE html><title>Clavis</title>",
        )
        .unwrap();
        std::fs::write(dist.join("app-0123456789abcdef.js"), &script).unwrap();
        let sizes = precompress(&dist).unwrap();
        let brotli = std::fs::read(dist.join("app-0123456789abcdef.js.br")).unwrap();
        let mut unpacked = Vec::new();
        brotli::BrotliDecompress(&mut brotli.as_slice(), &mut unpacked).unwrap();
        assert_eq!(unpacked, script.as_bytes());
        let gzip = std::fs::read(dist.join("app-0123456789abcdef.js.gz")).unwrap();
        let mut unpacked = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(gzip.as_slice()),
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, script);
        assert!(!dist.join("index.html.br").exists(), "served as it is");
        assert_eq!(sizes.raw, 36 + script.len() as u64);
        assert_eq!(sizes.brotli, 36 + brotli.len() as u64);
        assert_eq!(sizes.gzip, 36 + gzip.len() as u64);
        // A second build's run leaves the compressed files alone, and counts the same.
        assert_eq!(precompress(&dist).unwrap(), sizes);
        std::fs::remove_dir_all(&dist).unwrap();
    }

    #[test]
    fn locked_versions_come_from_cargo_metadata() {
        let version = locked_version("serde_json").unwrap();
        assert!(
            version.split('.').all(|part| part.parse::<u32>().is_ok()),
            "{version}"
        );
        assert_eq!(
            locked_version("no-such-crate").unwrap_err(),
            "no-such-crate is not in Cargo.lock"
        );
    }

    #[test]
    fn the_first_client_id_is_read_from_the_listing() {
        let application = Application {
            id: "a1".into(),
            organisation_id: "o1".into(),
            name: "Partner-NL-Acme-SMC".into(),
            client_id: "0b7c3c52-8f0e-4c4e-9d1c-3f5a2d1e6b70".into(),
            description: String::new(),
            environment: clavis_shared::dto::Environment::Production,
            enabled: true,
            token_lifetime_secs: 300,
            grants: Vec::new(),
            created_at: "2027-01-04T09:00:00Z".parse().unwrap(),
            created_by: "cli:tester".into(),
            tokens_revoked_before: None,
            requires_device: false,
        };
        // As the CLI prints it (`--json` is serde_json's pretty form).
        let listed = serde_json::to_string_pretty(&[application]).unwrap();
        assert_eq!(
            first_client_id(&listed).as_deref(),
            Some("0b7c3c52-8f0e-4c4e-9d1c-3f5a2d1e6b70")
        );
        assert_eq!(first_client_id("[]"), None);
        assert_eq!(first_client_id(""), None, "no listing: no demo data yet");
    }
}
