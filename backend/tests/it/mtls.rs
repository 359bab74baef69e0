//! Mutual TLS client authentication (RFC 8705 §2: `self_signed_tls_client_auth` and
//! `tls_client_auth`; issue 19) against the real `clavis serve`: certificates and CAs made by
//! rcgen, presented by reqwest and by curl in Clavis's own TLS handshake, or passed on by a
//! trusted proxy in `Client-Cert` and `Client-Cert-Chain` (RFC 9440); an application's chosen
//! methods and required bound tokens; a bound token verified by node's jose. Both databases.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use clavis::db::DbConn;
use clavis::db::schema::audit_events;
use diesel::prelude::*;
use rcgen::{CertificateParams, KeyPair};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::process::Command;
use std::time::Duration;

use crate::nginx::{MutualTls, Nginx};
use crate::on_both_databases_async;
use crate::process::ServeProcess as Clavis;
use crate::support::{TestDb, admin, secret_for, seed};
use crate::tls::TestCa;
use clavis_shared::client_auth::{
    CertificateSubject, ClientAuthMethod, SetClientAuthentication, SubjectField,
};

on_both_databases_async!(
    a_registered_certificate_authenticates_over_mutual_tls,
    certificates_that_do_not_fit_are_invalid_client_with_their_reason_audited,
    a_client_cert_header_counts_only_from_a_trusted_proxy,
    behind_nginx_the_certificate_it_passes_on_authenticates,
    ca_issued_certificates_naming_the_registered_subject_authenticate,
    an_application_accepts_only_the_methods_it_chose,
    an_application_requiring_bound_tokens_gets_them_only_over_mutual_tls,
    a_trusted_proxy_passes_the_chain_in_client_cert_chain,
    a_device_proves_itself_with_its_certificate_and_binds_the_token,
);

/// A client's own self-signed certificate and its private key.
struct ClientCertificate {
    pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl ClientCertificate {
    /// Valid from `from_days` to `to_days` around now (in days, negative for the past).
    fn new(from_days: i64, to_days: i64) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "billing-service");
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let now = Utc::now().timestamp();
        let at = |days: i64| epoch + Duration::from_secs((now + days * 86_400).try_into().unwrap());
        params.not_before = at(from_days);
        params.not_after = at(to_days);
        let certificate = params.self_signed(&key).unwrap();
        Self {
            pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }

    /// Registers it to `client_id`, as a credential manager does in the portal.
    fn register(&self, db: &TestDb, client_id: &str) -> String {
        let now = clavis::db::now();
        clavis::client_keys::add(
            &mut db.conn(),
            client_id,
            "mtls",
            &self.pem,
            None,
            &admin(),
            now,
        )
        .unwrap()
        .id
    }

    /// An HTTPS client that trusts `ca` and presents this certificate.
    fn client(&self, ca: &TestCa) -> reqwest::Client {
        let identity = format!("{}{}", self.pem, self.key_pem);
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
            .identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// The `Client-Cert` value a proxy sends for it (RFC 9440 §2.2).
    fn header(&self) -> String {
        format!(":{}:", STANDARD.encode(&self.der))
    }
}

/// An HTTPS client that trusts `ca` and presents no certificate.
fn trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: String) -> T {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// The JSON answer to `request`.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// `clavis serve` on HTTPS, with a server certificate of `ca`.
async fn serve_https(db: &TestDb, ca: &TestCa, dir: &std::path::Path) -> Clavis {
    serve_https_with(db, ca, dir, &[]).await
}

/// A client credentials request naming `client_id` and nothing else.
async fn token(client: &reqwest::Client, clavis: &Clavis, client_id: &str) -> reqwest::Response {
    client
        .post(clavis.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client_id}"
        ))
        .send()
        .await
        .unwrap()
}

/// [`clavis::resource_server::verify_bound_token`], as a resource server calls it with the
/// published JWKS: the bound token passes with its certificate and with no other.
async fn resource_server_accepts_it_with_that_certificate_only(
    clavis: &Clavis,
    ca: &TestCa,
    access_token: &str,
    certificate: &ClientCertificate,
) {
    use clavis::resource_server::{BoundTokenCheck, RejectedToken, verify_bound_token};
    let plain = trusting(ca);
    let jwks: jsonwebtoken::jwk::JwkSet =
        get_json(&plain, clavis.url("/.well-known/jwks.json")).await;
    let claims = claims_of(access_token);
    let check = BoundTokenCheck {
        issuer: claims["iss"].as_str().unwrap(),
        audience: claims["aud"].as_str().unwrap(),
    };
    let now = Utc::now();
    let verified = verify_bound_token(access_token, &jwks, &check, Some(&certificate.der), now);
    assert_eq!(verified.unwrap().client_id, claims["client_id"]);
    let other = ClientCertificate::new(-1, 30);
    let refusal = |presented: Option<&[u8]>| {
        verify_bound_token(access_token, &jwks, &check, presented, now).unwrap_err()
    };
    assert_eq!(refusal(Some(&other.der)), RejectedToken::WrongCertificate);
    assert_eq!(refusal(None), RejectedToken::NoCertificate);
    let elsewhere = BoundTokenCheck {
        audience: "https://another.api.example",
        ..check
    };
    assert_eq!(
        verify_bound_token(access_token, &jwks, &elsewhere, Some(&certificate.der), now)
            .unwrap_err(),
        RejectedToken::InvalidClaims
    );
}

/// The claims of a JWT, unverified (the tests of the keys verify signatures).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn a_registered_certificate_authenticates_over_mutual_tls(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let ca = TestCa::new("Clavis test CA");
    let dir = tempfile::tempdir().unwrap();
    let certificate = ClientCertificate::new(-1, 30);
    let key_id = certificate.register(&db, &client_id);
    let clavis = serve_https(&db, &ca, dir.path()).await;

    let response = token(&certificate.client(&ca), &clavis, &client_id).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&access_token);
    assert_eq!(claims["client_id"], client_id);
    // Bound to the certificate (RFC 8705 §3.1), and introspection says so.
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&certificate.der));
    assert_eq!(claims["cnf"]["x5t#S256"], thumbprint.as_str());
    let introspection = json_of(
        certificate
            .client(&ca)
            .post(clavis.url("/oauth2/introspect"))
            .form(&[("client_id", client_id.as_str()), ("token", &access_token)]),
    )
    .await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["cnf"]["x5t#S256"], thumbprint.as_str());
    resource_server_accepts_it_with_that_certificate_only(
        &clavis,
        &ca,
        &access_token,
        &certificate,
    )
    .await;

    // curl presents the same certificate from files, as an operator's script would.
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    std::fs::write(dir.path().join("client.pem"), &certificate.pem).unwrap();
    std::fs::write(dir.path().join("client.key"), &certificate.key_pem).unwrap();
    let curl = Command::new("curl")
        .current_dir(dir.path())
        .args(["--silent", "--show-error", "--cacert", "ca.pem"])
        .args(["--cert", "client.pem", "--key", "client.key"])
        .args([
            "--data",
            &format!("grant_type=client_credentials&client_id={client_id}"),
        ])
        .arg(clavis.url("/oauth2/token"))
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&curl.stdout).unwrap();
    assert_eq!(answer["token_type"], "Bearer", "{answer}");

    // The metadata says so; a client without a certificate is refused as before.
    let plain = trusting(&ca);
    let metadata: Value = get_json(
        &plain,
        clavis.url("/.well-known/oauth-authorization-server"),
    )
    .await;
    let methods = metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(
        methods.contains(&"self_signed_tls_client_auth".into()),
        "{methods:?}"
    );
    assert_eq!(token(&plain, &clavis, &client_id).await.status(), 401);

    // Without client_id, the certificate names no application.
    let response = certificate
        .client(&ca)
        .post(clavis.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("client_id")
    );

    // A token issued on a secret is not bound: a resource server that needs binding refuses it.
    let secret = secret_for(&db, &client_id);
    let unbound = json_of(
        plain
            .post(clavis.url("/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    let unbound = unbound["access_token"].as_str().unwrap();
    assert!(claims_of(unbound).get("cnf").is_none());
    let jwks: jsonwebtoken::jwk::JwkSet =
        get_json(&plain, clavis.url("/.well-known/jwks.json")).await;
    let check = clavis::resource_server::BoundTokenCheck {
        issuer: claims["iss"].as_str().unwrap(),
        audience: claims["aud"].as_str().unwrap(),
    };
    assert_eq!(
        clavis::resource_server::verify_bound_token(
            unbound,
            &jwks,
            &check,
            Some(&certificate.der),
            Utc::now()
        )
        .unwrap_err(),
        clavis::resource_server::RejectedToken::NotBound
    );

    let issued = wait_for_details(&db, "token.issue", 2).await;
    assert_eq!(issued[0]["cnf"]["x5t#S256"], thumbprint.as_str());
    assert_eq!(issued[0]["credential"]["id"], key_id.as_str());
    assert_eq!(issued[0]["credential"]["kind"], "certificate");
}

async fn certificates_that_do_not_fit_are_invalid_client_with_their_reason_audited(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id;
    let ca = TestCa::new("Clavis test CA");
    let dir = tempfile::tempdir().unwrap();
    let unregistered = ClientCertificate::new(-1, 30);
    let not_yet_valid = ClientCertificate::new(1, 30);
    not_yet_valid.register(&db, &client_id);
    let expired = ClientCertificate::new(-1, 30);
    let expired_id = expired.register(&db, &client_id);
    // Its registration ends with the certificate's notAfter: move both into the past.
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    diesel::update(clavis::db::schema::client_keys::table.find(&expired_id))
        .set(
            clavis::db::schema::client_keys::expires_at
                .eq((Utc::now() - chrono::Duration::minutes(1)).naive_utc()),
        )
        .execute(conn)
        .unwrap();
    let clavis = serve_https(&db, &ca, dir.path()).await;

    for certificate in [&unregistered, &not_yet_valid, &expired] {
        let response = token(&certificate.client(&ca), &clavis, &client_id).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    // A registered certificate presented for another client_id fits nothing of that client,
    // nor of a client that does not exist.
    let other = other_application(&db, &seeded.organisation.id);
    for client_id in [other.as_str(), "no-such-client"] {
        let response = token(&expired.client(&ca), &clavis, client_id).await;
        assert_eq!(response.status(), 401);
    }

    let refusals: Vec<String> = wait_for_details(&db, "client.authenticate", 5)
        .await
        .iter()
        .map(|details| {
            assert_eq!(details["auth_method"], "mutual_tls");
            assert_eq!(details["certificate_sha256"].as_str().unwrap().len(), 43);
            details["reason"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        refusals,
        [
            "unknown_certificate",
            "certificate_not_yet_valid",
            "expired_key",
            "unknown_certificate",
            "unknown_client"
        ]
    );
}

/// The client_id of another application of `organisation_id`, one without certificates.
fn other_application(db: &TestDb, organisation_id: &str) -> String {
    let new = clavis_shared::portal::CreateApplication {
        organisation_id: organisation_id.to_owned(),
        name: Some("other".into()),
        api_codes: vec!["SMC".into()],
        ..Default::default()
    };
    clavis::apps::create(&mut db.conn(), &new, &admin(), clavis::db::now())
        .unwrap()
        .client_id
}

async fn a_client_cert_header_counts_only_from_a_trusted_proxy(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let certificate = ClientCertificate::new(-1, 30);
    certificate.register(&db, &client_id);
    let trusted = ("CLAVIS_TRUSTED_PROXIES", "127.0.0.1".to_owned());
    let sends_client_cert = ("CLAVIS_PROXY_CLIENT_CERT", "true".to_owned());
    let send = |clavis: &Clavis, headers: &[&str]| {
        let mut request = reqwest::Client::new()
            .post(clavis.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded");
        for header in headers {
            request = request.header("client-cert", *header);
        }
        request
            .body(format!(
                "grant_type=client_credentials&client_id={client_id}"
            ))
            .send()
    };
    let status = |response: reqwest::Result<reqwest::Response>| response.unwrap().status();

    // The test's requests come from 127.0.0.1, the trusted proxy that sends Client-Cert.
    let behind_proxy = Clavis::serve(&db, &[trusted.clone(), sends_client_cert]).await;
    let header = certificate.header();
    assert_eq!(status(send(&behind_proxy, &[&header]).await), 200);
    for malformed in [&["MIIBszCCAVmgAwIBAgIU"][..], &[&header, &header]] {
        let response = send(&behind_proxy, malformed).await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains("Client-Cert"), "{description}");
    }
    // Bytes that are no certificate at all are a certificate of no client.
    let garbage = format!(":{}:", STANDARD.encode(b"not a certificate"));
    assert_eq!(status(send(&behind_proxy, &[&garbage]).await), 401);
    drop(behind_proxy);

    // A trusted proxy not said to send Client-Cert, and an untrusted peer: ignored.
    for settings in [vec![trusted], vec![]] {
        let clavis = Clavis::serve(&db, &settings).await;
        assert_eq!(status(send(&clavis, &[&header]).await), 401);
    }
}

/// nginx from Debian terminates mutual TLS and passes the certificate on with the
/// repository's `deploy/nginx/client_cert.js`, as the README configures it.
async fn behind_nginx_the_certificate_it_passes_on_authenticates(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let certificate = ClientCertificate::new(-1, 30);
    certificate.register(&db, &client_id);
    let clavis = Clavis::serve(
        &db,
        &[
            ("CLAVIS_TRUSTED_PROXIES", "127.0.0.1".into()),
            ("CLAVIS_PROXY_CLIENT_CERT", "true".into()),
        ],
    )
    .await;
    let ca = TestCa::new("Proxy test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(1, 90);
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let tls = MutualTls {
        cert_file: &cert_file,
        key_file: &key_file,
    };
    let nginx = Nginx::start_mutual_tls(&clavis.url(""), &tls);
    let request = |client: reqwest::Client| {
        client
            .post(nginx.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("client-cert", certificate.header())
            .body(format!(
                "grant_type=client_credentials&client_id={client_id}"
            ))
            .send()
    };

    let response = request(certificate.client(&ca)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&certificate.der));
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"],
        thumbprint.as_str()
    );
    // A client without the private key, copying the certificate into the header itself:
    // nginx replaces the header, so Clavis sees no certificate.
    assert_eq!(request(trusting(&ca)).await.unwrap().status(), 401);
}

/// The details of the first `count` audit events of `action`, oldest first, once the server
/// has written them (it writes the trail in batches).
async fn wait_for_details(db: &TestDb, action: &str, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let mut conn = db.conn();
        let conn: &mut DbConn = &mut conn;
        let details: Vec<String> = audit_events::table
            .filter(audit_events::action.eq(action))
            .order(audit_events::id)
            .select(audit_events::details)
            .load(conn)
            .unwrap();
        if details.len() >= count {
            return details
                .iter()
                .map(|details| serde_json::from_str(details).unwrap())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} audit events {action}");
}

/// A CA for client certificates (`tls_client_auth`): a root, which Clavis is configured
/// with, and an intermediate that signs the clients' certificates.
struct ClientCa {
    root_pem: String,
    intermediate: rcgen::Certificate,
    intermediate_issuer: rcgen::Issuer<'static, KeyPair>,
}

impl ClientCa {
    fn new(name: &str) -> Self {
        use rcgen::{BasicConstraints, IsCa, Issuer};
        let ca = |common_name: String| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, common_name);
            params
        };
        let (root_params, root_key) = (ca(format!("{name} root")), KeyPair::generate().unwrap());
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root_params, root_key);
        let intermediate_params = ca(format!("{name} issuing CA"));
        let intermediate_key = KeyPair::generate().unwrap();
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .unwrap();
        Self {
            root_pem: root.pem(),
            intermediate,
            intermediate_issuer: Issuer::new(intermediate_params, intermediate_key),
        }
    }

    /// A client certificate with subject `CN=<common_name>,O=Acme`, the DNS names `sans`,
    /// valid from `from_days` to `to_days` around now; its PEM holds the intermediate too, so
    /// that clients send the chain.
    fn issue(
        &self,
        common_name: &str,
        sans: &[&str],
        from_days: i64,
        to_days: i64,
    ) -> ClientCertificate {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|san| (*san).to_owned()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        // Most significant first, as CAs issue them: RFC 4514 writes it CN=…,O=Acme (rcgen's
        // default name has a CN in front).
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let now = Utc::now().timestamp();
        let at = |days: i64| epoch + Duration::from_secs((now + days * 86_400).try_into().unwrap());
        params.not_before = at(from_days);
        params.not_after = at(to_days);
        let certificate = params.signed_by(&key, &self.intermediate_issuer).unwrap();
        ClientCertificate {
            pem: format!("{}{}", certificate.pem(), self.intermediate.pem()),
            key_pem: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }

    /// The `Client-Cert-Chain` value a proxy sends with its certificates (RFC 9440 §2.3).
    fn chain_header(&self) -> String {
        format!(":{}:", STANDARD.encode(self.intermediate.der()))
    }

    /// The root's PEM in `dir`, for `CLAVIS_MTLS_CA_FILE`.
    fn file(&self, dir: &std::path::Path) -> (&'static str, String) {
        let path = dir.join("client-ca.pem");
        std::fs::write(&path, &self.root_pem).unwrap();
        ("CLAVIS_MTLS_CA_FILE", path.display().to_string())
    }
}

/// `clavis serve` on HTTPS with a server certificate of `ca`, and `extra` settings.
async fn serve_https_with(
    db: &TestDb,
    ca: &TestCa,
    dir: &std::path::Path,
    extra: &[(&'static str, String)],
) -> Clavis {
    let (cert, key) = ca.issue(1, 90);
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let mut settings = vec![
        ("CLAVIS_TLS_CERT_FILE", cert_file.display().to_string()),
        ("CLAVIS_TLS_KEY_FILE", key_file.display().to_string()),
    ];
    settings.extend_from_slice(extra);
    Clavis::serve(db, &settings).await
}

/// Sets `client_id`'s client authentication, as its credential manager does.
fn set_authentication(db: &TestDb, client_id: &str, settings: SetClientAuthentication) {
    let reach = clavis::tls::MutualTlsReach {
        sees_certificates: true,
        ca_configured: true,
    };
    clavis::apps::authentication::set_settings(
        &mut db.conn(),
        client_id,
        settings,
        reach,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
}

fn subject(field: SubjectField, value: &str) -> SetClientAuthentication {
    SetClientAuthentication {
        tls_client_auth: Some(CertificateSubject {
            field,
            value: value.to_owned(),
        }),
        ..SetClientAuthentication::default()
    }
}

/// The reasons of the `client.authenticate` refusals after the first `skip`, once `count`
/// of them are written.
async fn refusal_reasons(db: &TestDb, skip: usize, count: usize) -> Vec<String> {
    wait_for_details(db, "client.authenticate", skip + count)
        .await
        .iter()
        .skip(skip)
        .map(|details| details["reason"].as_str().unwrap().to_owned())
        .collect()
}

async fn ca_issued_certificates_naming_the_registered_subject_authenticate(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let (server_ca, client_ca) = (TestCa::new("Server CA"), ClientCa::new("Partner PKI"));
    let dir = tempfile::tempdir().unwrap();
    set_authentication(
        &db,
        &client_id,
        subject(SubjectField::SubjectDn, "CN=billing-service, O=Acme"),
    );
    let clavis = serve_https_with(&db, &server_ca, dir.path(), &[client_ca.file(dir.path())]).await;

    // The subject DN matches whatever the case and spacing; the chain leads to the root.
    let good = client_ca.issue("Billing-Service", &["billing.acme.test"], -1, 30);
    let response = token(&good.client(&server_ca), &clavis, &client_id).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&good.der));
    assert_eq!(
        claims_of(&access_token)["cnf"]["x5t#S256"],
        thumbprint.as_str()
    );
    independent_library_accepts_it_with_that_certificate_only(
        &clavis,
        &server_ca,
        &access_token,
        &good,
        dir.path(),
    )
    .await;
    // Introspection knows the token while the application registers a subject.
    let introspection = json_of(
        good.client(&server_ca)
            .post(clavis.url("/oauth2/introspect"))
            .form(&[("client_id", client_id.as_str()), ("token", &access_token)]),
    )
    .await;
    assert_eq!(introspection["active"], true, "{introspection}");
    let metadata: Value = get_json(
        &trusting(&server_ca),
        clavis.url("/.well-known/oauth-authorization-server"),
    )
    .await;
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"tls_client_auth".into())
    );

    // What does not fit: another subject, another CA, expired, not yet valid.
    let refused = [
        client_ca.issue("payroll-service", &[], -1, 30),
        ClientCa::new("Someone else's PKI").issue("billing-service", &[], -1, 30),
        client_ca.issue("billing-service", &[], -30, -1),
        client_ca.issue("billing-service", &[], 1, 30),
    ];
    for certificate in &refused {
        let response = token(&certificate.client(&server_ca), &clavis, &client_id).await;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    assert_eq!(
        refusal_reasons(&db, 0, 4).await,
        [
            "wrong_certificate_subject",
            "untrusted_certificate",
            "certificate_expired",
            "certificate_not_yet_valid"
        ]
    );

    // A SAN registered instead: the DNS name must be among the certificate's.
    set_authentication(
        &db,
        &client_id,
        subject(SubjectField::SanDns, "Billing.Acme.test"),
    );
    assert_eq!(
        token(&good.client(&server_ca), &clavis, &client_id)
            .await
            .status(),
        200
    );
    let no_san = client_ca.issue("billing-service", &["other.acme.test"], -1, 30);
    assert_eq!(
        token(&no_san.client(&server_ca), &clavis, &client_id)
            .await
            .status(),
        401
    );
    let issued = wait_for_details(&db, "token.issue", 2).await;
    assert_eq!(issued[1]["credential"]["kind"], "tls_client_auth");
    assert_eq!(issued[1]["credential"]["field"], "tls_client_auth_san_dns");
    assert_eq!(issued[1]["credential"]["value"], "billing.acme.test");
}

/// node's jose, a library Clavis did not write, verifies the bound token as a resource
/// server would, and the certificate against its `cnf`: it passes with that certificate and
/// with no other.
async fn independent_library_accepts_it_with_that_certificate_only(
    clavis: &Clavis,
    ca: &TestCa,
    access_token: &str,
    certificate: &ClientCertificate,
    dir: &std::path::Path,
) {
    let jwks: Value = get_json(&trusting(ca), clavis.url("/.well-known/jwks.json")).await;
    let claims = claims_of(access_token);
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
    std::fs::write(dir.join("token.jwt"), access_token).unwrap();
    let other = ClientCertificate::new(-1, 30);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../e2e/clients/verify_bound_token.mjs"
    );
    let verify = |pem: &str| {
        std::fs::write(dir.join("presented.pem"), pem).unwrap();
        let output = Command::new("node")
            .arg(script)
            .arg(dir.join("jwks.json"))
            .arg(claims["iss"].as_str().unwrap())
            .arg(claims["aud"].as_str().unwrap())
            .arg(dir.join("token.jwt"))
            .arg(dir.join("presented.pem"))
            .output()
            .expect("node runs (the login tests need it too)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let accepted = verify(&certificate.pem);
    assert_eq!(accepted["verified"], true, "{accepted}");
    assert_eq!(accepted["client_id"], claims["client_id"]);
    let refused = verify(&other.pem);
    assert_eq!(refused["verified"], false, "{refused}");
}

async fn an_application_accepts_only_the_methods_it_chose(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let (server_ca, client_ca) = (TestCa::new("Server CA"), ClientCa::new("Partner PKI"));
    let dir = tempfile::tempdir().unwrap();
    let registered = ClientCertificate::new(-1, 30);
    registered.register(&db, &client_id);
    let ca_issued = client_ca.issue("billing-service", &[], -1, 30);
    let secret = secret_for(&db, &client_id);
    let clavis = serve_https_with(&db, &server_ca, dir.path(), &[client_ca.file(dir.path())]).await;
    let with_secret = || async {
        trusting(&server_ca)
            .post(clavis.url("/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .status()
    };
    let with_certificate = |certificate: &ClientCertificate| {
        let client = certificate.client(&server_ca);
        let clavis = &clavis;
        let client_id = &client_id;
        async move { token(&client, clavis, client_id).await.status() }
    };

    // By default, whatever it has credentials for (here no subject: no CA-issued certificate).
    assert_eq!(with_secret().await, 200);
    assert_eq!(with_certificate(&registered).await, 200);
    assert_eq!(with_certificate(&ca_issued).await, 401);

    // Certificates only, CA-issued ones among them.
    let mut certificates_only = subject(SubjectField::SubjectDn, "CN=billing-service,O=Acme");
    certificates_only.auth_methods = Some(vec![
        ClientAuthMethod::TlsClientAuth,
        ClientAuthMethod::SelfSignedTlsClientAuth,
    ]);
    set_authentication(&db, &client_id, certificates_only.clone());
    assert_eq!(with_secret().await, 401);
    assert_eq!(with_certificate(&registered).await, 200);
    assert_eq!(with_certificate(&ca_issued).await, 200);

    // CA-issued only: the registered certificate no longer proves it.
    certificates_only.auth_methods = Some(vec![ClientAuthMethod::TlsClientAuth]);
    set_authentication(&db, &client_id, certificates_only);
    assert_eq!(with_certificate(&registered).await, 401);
    assert_eq!(with_certificate(&ca_issued).await, 200);

    // Secrets only.
    let secrets_only = SetClientAuthentication {
        auth_methods: Some(vec![ClientAuthMethod::ClientSecret]),
        ..SetClientAuthentication::default()
    };
    set_authentication(&db, &client_id, secrets_only);
    assert_eq!(with_secret().await, 200);
    assert_eq!(with_certificate(&registered).await, 401);

    assert_eq!(
        refusal_reasons(&db, 1, 3).await,
        [
            "method_not_allowed",
            "method_not_allowed",
            "method_not_allowed"
        ]
    );
}

async fn an_application_requiring_bound_tokens_gets_them_only_over_mutual_tls(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let server_ca = TestCa::new("Server CA");
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_for(&db, &client_id);
    set_authentication(
        &db,
        &client_id,
        SetClientAuthentication {
            require_bound_tokens: true,
            ..SetClientAuthentication::default()
        },
    );
    let clavis = serve_https(&db, &server_ca, dir.path()).await;
    let request = |client: reqwest::Client| {
        client
            .post(clavis.url("/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };

    // A secret without a certificate: no token, and the client is told why.
    let response = request(trusting(&server_ca)).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("certificate-bound"),
        "{body}"
    );
    // The same secret over mutual TLS, with any certificate of the client's: bound to it.
    let certificate = ClientCertificate::new(-1, 30);
    let response = request(certificate.client(&server_ca)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&certificate.der));
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["x5t#S256"],
        thumbprint.as_str()
    );
    let refused = wait_for_details(&db, "token.issue", 2).await;
    assert_eq!(refused[0]["reason"], "invalid_request");
    assert_eq!(refused[1]["cnf"]["x5t#S256"], thumbprint.as_str());
}

async fn a_trusted_proxy_passes_the_chain_in_client_cert_chain(db: TestDb) {
    let client_id = seed(&db).application.client_id;
    let client_ca = ClientCa::new("Partner PKI");
    let dir = tempfile::tempdir().unwrap();
    set_authentication(
        &db,
        &client_id,
        subject(SubjectField::SubjectDn, "CN=billing-service,O=Acme"),
    );
    let certificate = client_ca.issue("billing-service", &[], -1, 30);
    let clavis = Clavis::serve(
        &db,
        &[
            ("CLAVIS_TRUSTED_PROXIES", "127.0.0.1".into()),
            ("CLAVIS_PROXY_CLIENT_CERT", "true".into()),
            client_ca.file(dir.path()),
            ("CLAVIS_MTLS_PUBLIC_URL", "https://mtls.clavis.test".into()),
        ],
    )
    .await;
    // The proxy asks for certificates on a host of its own: the metadata says where.
    let metadata: Value = get_json(
        &reqwest::Client::new(),
        clavis.url("/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(
        metadata["mtls_endpoint_aliases"]["token_endpoint"],
        "https://mtls.clavis.test/oauth2/token"
    );
    assert_eq!(
        metadata["mtls_endpoint_aliases"]["introspection_endpoint"],
        "https://mtls.clavis.test/oauth2/introspect"
    );
    let send = |chain: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(clavis.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("client-cert", certificate.header());
        if let Some(chain) = chain {
            request = request.header("client-cert-chain", chain.to_owned());
        }
        request
            .body(format!(
                "grant_type=client_credentials&client_id={client_id}"
            ))
            .send()
    };

    assert_eq!(
        send(Some(&client_ca.chain_header()))
            .await
            .unwrap()
            .status(),
        200
    );
    // Without the intermediate the chain stops short of the configured root.
    assert_eq!(send(None).await.unwrap().status(), 401);
    let response = send(Some("not a list of certificates")).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Client-Cert-Chain"),
        "{body}"
    );
    assert_eq!(refusal_reasons(&db, 0, 1).await, ["untrusted_certificate"]);
}

async fn a_device_proves_itself_with_its_certificate_and_binds_the_token(db: TestDb) {
    let seeded = seed(&db);
    let client_id = seeded.application.client_id.clone();
    let server_ca = TestCa::new("Server CA");
    let dir = tempfile::tempdir().unwrap();
    let now = clavis::db::now();
    let secret = secret_for(&db, &client_id);
    let new = clavis_shared::devices::CreateDevice {
        name: "ward 3 node".into(),
        device_id: None,
    };
    let device =
        clavis::devices::create(&mut db.conn(), &seeded.organisation.id, &new, &admin(), now)
            .unwrap();
    let node = ClientCertificate::new(-1, 30);
    clavis::devices::certificates::add(
        &mut db.conn(),
        &device.device_id,
        "node certificate",
        &node.pem,
        &admin(),
        now,
    )
    .unwrap();
    let changes = clavis_shared::portal::UpdateApplication {
        requires_device: Some(true),
        ..Default::default()
    };
    clavis::apps::update(&mut db.conn(), &client_id, &changes, &admin(), now).unwrap();
    let clavis = serve_https(&db, &server_ca, dir.path()).await;
    let request = |client: reqwest::Client| {
        client
            .post(clavis.url("/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };

    // The client's secret, the device's certificate on the same connection.
    let response = request(node.client(&server_ca)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["device_id"], device.device_id.as_str());
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&node.der));
    assert_eq!(claims["cnf"]["x5t#S256"], thumbprint.as_str());

    // A certificate no device has, one of the device's that starts tomorrow, and the
    // device's once it is disabled.
    let stranger = ClientCertificate::new(-1, 30);
    assert_eq!(
        request(stranger.client(&server_ca)).await.unwrap().status(),
        401
    );
    let early = ClientCertificate::new(1, 30);
    clavis::devices::certificates::add(
        &mut db.conn(),
        &device.device_id,
        "starts tomorrow",
        &early.pem,
        &admin(),
        now,
    )
    .unwrap();
    assert_eq!(
        request(early.client(&server_ca)).await.unwrap().status(),
        401
    );
    clavis::devices::set_enabled(&mut db.conn(), &device.device_id, false, &admin(), now).unwrap();
    assert_eq!(
        request(node.client(&server_ca)).await.unwrap().status(),
        401
    );
    assert_eq!(
        refusal_reasons(&db, 0, 3).await,
        [
            "unknown_device_certificate",
            "certificate_not_yet_valid",
            "disabled_device"
        ]
    );
    // Registered to one device only.
    let again = clavis::devices::certificates::add(
        &mut db.conn(),
        &device.device_id,
        "again",
        &node.pem,
        &admin(),
        now,
    );
    assert!(matches!(again, Err(clavis::error::Error::Conflict(_))));
    // Anything but one certificate is refused in a device's words, on the certificate field.
    let two = format!("{}{}", stranger.pem, early.pem);
    for text in [
        node.key_pem.as_str(),
        two.as_str(),
        "garbage",
        "{\"kty\":\"EC\"}",
    ] {
        let refused = clavis::devices::certificates::add(
            &mut db.conn(),
            &device.device_id,
            "refused",
            text,
            &admin(),
            now,
        );
        let Err(clavis::error::Error::Invalid(invalid)) = refused else {
            panic!("{text}: {refused:?}");
        };
        assert_eq!(invalid.field, "certificate", "{text}");
        assert!(
            invalid.message.contains("paste one PEM certificate"),
            "{text}: {}",
            invalid.message
        );
    }
}
