//! HTTPS served by the real `clavis serve` process (issue 14 §1): a CA and certificates made
//! by the test, clients that trust only that CA, certificate renewal under an open
//! connection, start-up refusals, and the expiry warning.

use chrono::Utc;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SerialNumber};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::on_both_databases_async;
use crate::process::{ServeProcess as Clavis, clavis_command, free_port};
use crate::support::{TestDb, client_with_secret};

on_both_databases_async!(
    tokens_are_served_over_https_by_alpn_with_tls_1_2_and_1_3_only,
    sighup_serves_a_renewed_certificate_without_dropping_open_connections,
    renewed_files_are_served_without_a_signal,
    a_bad_renewal_keeps_the_previous_certificate_until_the_next_change,
    start_up_stops_on_a_bad_certificate_or_key_with_one_line,
    a_certificate_expiring_within_14_days_is_warned_about_at_start,
    plain_http_on_the_network_is_refused_unless_accepted,
);

/// A certificate authority made by the test; clients trust it and nothing else.
pub(crate) struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pub(crate) pem: String,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Self { params, key, pem }
    }

    /// A server certificate for 127.0.0.1 with this serial, valid for `days` from now (negative:
    /// already expired): (certificate PEM, key PEM).
    pub(crate) fn issue(&self, serial: u64, days: i64) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let now = Utc::now().timestamp() as u64;
        params.not_before = epoch + Duration::from_secs(now - 30 * 86_400);
        params.not_after = epoch + Duration::from_secs(now.saturating_add_signed(days * 86_400));
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// An HTTPS client that trusts only this CA; `http1` keeps it to HTTP/1.1 keep-alive.
    fn client(&self, http1: bool) -> reqwest::Client {
        let builder = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
            .tls_info(true);
        match http1 {
            true => builder.http1_only(),
            false => builder,
        }
        .build()
        .unwrap()
    }
}

/// The hex serial of the certificate the server presented on this response's connection.
fn served_serial(response: &reqwest::Response) -> String {
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("TLS info");
    let der = info.peer_certificate().expect("a server certificate");
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.raw_serial_as_string()
}

/// The hex serial of a certificate the test issued, spelled as [`served_serial`] spells it.
fn serial_of(cert_pem: &str) -> String {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    cert.raw_serial_as_string()
}

/// The certificate and key files in a directory of the test's own.
struct TlsFiles {
    dir: tempfile::TempDir,
}

impl TlsFiles {
    fn new((cert, key): &(String, String)) -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        files.replace(cert, key);
        files
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// Replaces both files whole, each by a rename (as certbot and cert-manager do).
    fn replace(&self, cert: &str, key: &str) {
        write_by_rename(&self.cert(), cert);
        write_by_rename(&self.key(), key);
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLAVIS_TLS_CERT_FILE", self.cert().display().to_string()),
            ("CLAVIS_TLS_KEY_FILE", self.key().display().to_string()),
        ]
    }
}

fn write_by_rename(path: &Path, contents: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, contents).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// Runs `clavis serve` expecting it to refuse to start.
fn refused(db: &TestDb, settings: &[(&str, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let output = clavis_command(db, dir.path(), settings)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success(), "clavis serve started");
    output
}

async fn token(
    client: &reqwest::Client,
    clavis: &Clavis,
    (client_id, secret): &(String, String),
) -> reqwest::Response {
    let response = client
        .post(clavis.url("/oauth2/token"))
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// `openssl s_client` at one protocol version: (handshake succeeded, its output).
fn openssl_handshake(clavis: &Clavis, version: &str) -> (bool, String) {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", clavis.port),
        ])
        .args([version, "-cipher", "DEFAULT@SECLEVEL=0", "-brief"])
        .stdin(Stdio::null())
        .output()
        .expect("the openssl command");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

async fn tokens_are_served_over_https_by_alpn_with_tls_1_2_and_1_3_only(db: TestDb) {
    let credentials = client_with_secret(&db);
    let ca = TestCa::new("Clavis test CA");
    let files = TlsFiles::new(&ca.issue(1, 90));
    let clavis = Clavis::serve(&db, &files.settings()).await;

    let response = token(&ca.client(false), &clavis, &credentials).await;
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let response = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    // A client that does not trust the test CA, and plain HTTP, get no answer.
    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(untrusting.get(clavis.url("/healthz")).send().await.is_err());
    let plain = format!("http://127.0.0.1:{}/healthz", clavis.port);
    assert!(reqwest::get(&plain).await.is_err());

    for version in ["-tls1_3", "-tls1_2"] {
        let (connected, text) = openssl_handshake(&clavis, version);
        assert!(connected, "{version}: {text}");
    }
    for version in ["-tls1", "-tls1_1"] {
        let (connected, text) = openssl_handshake(&clavis, version);
        assert!(!connected, "{version}: {text}");
        // The server answers the old ClientHello with a fatal alert (handshake_failure).
        assert!(
            text.contains("alert handshake failure"),
            "{version}: {text}"
        );
    }
    let log = clavis.log_lines().join("\n");
    assert!(!log.contains("renew it"), "{log}");
}

async fn sighup_serves_a_renewed_certificate_without_dropping_open_connections(db: TestDb) {
    let credentials = client_with_secret(&db);
    let ca = TestCa::new("Clavis test CA");
    let first_pair = ca.issue(1, 90);
    let files = TlsFiles::new(&first_pair);
    let clavis = Clavis::serve(&db, &files.settings()).await;
    let open = ca.client(true);
    let first = token(&open, &clavis, &credentials).await;
    assert_eq!(served_serial(&first), serial_of(&first_pair.0));

    let (cert, key) = ca.issue(2, 90);
    files.replace(&cert, &key);
    clavis.hang_up();
    clavis.wait_for_log("Hangup").await;

    // The keep-alive connection opened before the renewal still works, with its certificate:
    // a new connection would have been handed serial 2.
    let again = token(&open, &clavis, &credentials).await;
    assert_eq!(served_serial(&again), serial_of(&first_pair.0));
    let fresh = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(served_serial(&fresh), serial_of(&cert));
}

/// Kubernetes mounts a Secret as symlinks into `..data`, itself a symlink that a renewal swaps
/// to a new directory in one rename.
async fn renewed_files_are_served_without_a_signal(db: TestDb) {
    let credentials = client_with_secret(&db);
    let ca = TestCa::new("Clavis test CA");
    let mount = tempfile::tempdir().unwrap();
    let version = |name: &str, (cert, key): (String, String)| {
        let dir = mount.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), cert).unwrap();
        std::fs::write(dir.join("tls.key"), key).unwrap();
        let link = mount.path().join("..data_tmp");
        std::os::unix::fs::symlink(name, &link).unwrap();
        std::fs::rename(&link, mount.path().join("..data")).unwrap();
    };
    let (first, renewed) = (ca.issue(1, 90), ca.issue(2, 90));
    let (first_serial, renewed_serial) = (serial_of(&first.0), serial_of(&renewed.0));
    version("..2026_11_30_v1", first);
    for file in ["tls.crt", "tls.key"] {
        std::os::unix::fs::symlink(format!("..data/{file}"), mount.path().join(file)).unwrap();
    }
    let settings = [
        (
            "CLAVIS_TLS_CERT_FILE",
            mount.path().join("tls.crt").display().to_string(),
        ),
        (
            "CLAVIS_TLS_KEY_FILE",
            mount.path().join("tls.key").display().to_string(),
        ),
    ];
    let clavis = Clavis::serve(&db, &settings).await;
    let first = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(served_serial(&first), first_serial);

    version("..2026_11_30_v2", renewed);
    clavis.wait_for_log("reloaded the TLS certificate").await;
    let fresh = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(served_serial(&fresh), renewed_serial);
}

async fn a_bad_renewal_keeps_the_previous_certificate_until_the_next_change(db: TestDb) {
    let credentials = client_with_secret(&db);
    let ca = TestCa::new("Clavis test CA");
    let (cert, key) = ca.issue(1, 90);
    let files = TlsFiles::new(&(cert.clone(), key.clone()));
    let clavis = Clavis::serve(&db, &files.settings()).await;

    // A renewed certificate whose key has not been written yet.
    let (renewed_cert, renewed_key) = ca.issue(2, 90);
    files.replace(&renewed_cert, &key);
    clavis.hang_up();
    let error = clavis.wait_for_log("was not reloaded").await;
    let expected = format!(
        "tls_key_file (CLAVIS_TLS_KEY_FILE) {}: the key does not match the certificate in {}",
        files.key().display(),
        files.cert().display()
    );
    assert!(error.contains(&expected), "{error}");
    let served = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(served_serial(&served), serial_of(&cert));

    // A certificate file cut short while being written.
    files.replace(&renewed_cert[..renewed_cert.len() / 2], &renewed_key);
    clavis.hang_up();
    let cut_short = format!(
        "tls_cert_file (CLAVIS_TLS_CERT_FILE) {}: not PEM (a section has no -----END line; cut short?)",
        files.cert().display()
    );
    clavis.wait_for_log(&cut_short).await;
    let served = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(served_serial(&served), serial_of(&cert));

    // An expired certificate (say, an old backup restored) never replaces a valid one.
    let (expired_cert, expired_key) = ca.issue(3, -1);
    files.replace(&expired_cert, &expired_key);
    clavis.hang_up();
    let error = clavis.wait_for_log("expired on").await;
    assert!(error.contains("was not reloaded"), "{error}");
    let served = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(served_serial(&served), serial_of(&cert));

    // The next change, complete, is served.
    files.replace(&renewed_cert, &renewed_key);
    clavis.wait_for_log("reloaded the TLS certificate").await;
    let served = token(&ca.client(true), &clavis, &credentials).await;
    assert_eq!(served_serial(&served), serial_of(&renewed_cert));
    let log = clavis.log_lines().join("\n");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}

async fn start_up_stops_on_a_bad_certificate_or_key_with_one_line(db: TestDb) {
    let ca = TestCa::new("Clavis test CA");
    let (cert, key) = ca.issue(1, 90);
    let (_, other_key) = ca.issue(2, 90);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str, contents: Option<&str>| {
        let path = dir.path().join(name);
        if let Some(contents) = contents {
            std::fs::write(&path, contents).unwrap();
        }
        path.display().to_string()
    };
    let (cert_file, key_file) = (path("cert.pem", Some(&cert)), path("key.pem", Some(&key)));
    let missing = path("missing.pem", None);
    let other_key_file = path("other-key.pem", Some(&other_key));
    let der = path("cert.der", Some("0\u{82}\u{3}binary"));
    let directory = dir.path().display().to_string();
    let cases = [
        (
            (&missing, &key_file),
            format!("tls_cert_file (CLAVIS_TLS_CERT_FILE) {missing}: no such file"),
        ),
        (
            (&cert_file, &missing),
            format!("tls_key_file (CLAVIS_TLS_KEY_FILE) {missing}: no such file"),
        ),
        (
            (&directory, &key_file),
            format!(
                "tls_cert_file (CLAVIS_TLS_CERT_FILE) {directory}: not readable: Is a directory (os error 21)"
            ),
        ),
        (
            (&der, &key_file),
            format!(
                "tls_cert_file (CLAVIS_TLS_CERT_FILE) {der}: not PEM (no -----BEGIN line; convert DER with openssl)"
            ),
        ),
        (
            (&key_file, &key_file),
            format!("tls_cert_file (CLAVIS_TLS_CERT_FILE) {key_file}: holds no certificate"),
        ),
        (
            (&cert_file, &cert_file),
            format!(
                "tls_key_file (CLAVIS_TLS_KEY_FILE) {cert_file}: holds no private key (PKCS#8, PKCS#1 or SEC1, unencrypted)"
            ),
        ),
        (
            (&cert_file, &other_key_file),
            format!(
                "tls_key_file (CLAVIS_TLS_KEY_FILE) {other_key_file}: the key does not match the certificate in {cert_file}"
            ),
        ),
    ];
    for ((cert, key), expected) in cases {
        let output = refused(
            &db,
            &[
                ("CLAVIS_LISTEN", format!("127.0.0.1:{}", free_port())),
                ("CLAVIS_TLS_CERT_FILE", cert.clone()),
                ("CLAVIS_TLS_KEY_FILE", key.clone()),
            ],
        );
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr, format!("error: {expected}\n"));
    }
}

async fn a_certificate_expiring_within_14_days_is_warned_about_at_start(db: TestDb) {
    let ca = TestCa::new("Clavis test CA");
    for (days, warning) in [(10, "expires on"), (-1, "expired on")] {
        let files = TlsFiles::new(&ca.issue(1, days));
        let clavis = Clavis::serve(&db, &files.settings()).await;
        let line = clavis.wait_for_log("renew it").await;
        let expected = format!(
            "the TLS certificate in {} (CLAVIS_TLS_CERT_FILE) {warning}",
            files.cert().display()
        );
        assert!(line.contains("WARN") && line.contains(&expected), "{line}");
    }
}

async fn plain_http_on_the_network_is_refused_unless_accepted(db: TestDb) {
    let port = free_port();
    let network = [
        ("CLAVIS_LISTEN", format!("0.0.0.0:{port}")),
        ("CLAVIS_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
    ];
    let output = refused(&db, &network);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: invalid configuration: listen (CLAVIS_LISTEN) 0.0.0.0:{port} is reachable \
             from the network, but Clavis would serve plain HTTP there"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("CLAVIS_TLS_CERT_FILE"), "{stderr}");
    assert!(stderr.contains("CLAVIS_INSECURE_HTTP=true"), "{stderr}");

    let mut accepted = network.to_vec();
    accepted.push(("CLAVIS_INSECURE_HTTP", "true".to_owned()));
    let clavis = Clavis::spawn(&db, &accepted, port);
    clavis.wait_for_log("Clavis is serving").await;
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
