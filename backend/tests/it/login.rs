//! Portal sign-in against the real local OpenID Connect provider (e2e/oidc, built on the
//! certified `oidc-provider` package, run by node), driven like a browser: password, then a
//! TOTP code computed here. Tampered and foreign-signed ID tokens come from a proxy in front
//! of the provider that rewrites its token responses.

use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use clavis::users::{self, Person};
use clavis_shared::dto::Role;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::on_both_databases_async;
use crate::server::{TestServer, loopback_listener};
use crate::support::{TestDb, admin, database_contains, seed};

const E2E: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e");
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const B64_STANDARD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The local provider in a node process of its own, stopped when dropped.
struct IdentityProvider {
    child: Child,
    issuer: String,
    address: String,
}

impl IdentityProvider {
    /// Starts it for a Clavis at `clavis`; `issuer` overrides its issuer (behind a proxy).
    fn start(clavis: &str, issuer: Option<&str>) -> Self {
        Self::start_with(clavis, issuer, None)
    }

    /// Starts it with the people and clients of `fixture` instead of users.fixture.json.
    fn start_with(clavis: &str, issuer: Option<&str>, fixture: Option<&std::path::Path>) -> Self {
        assert!(
            std::path::Path::new(E2E)
                .join("node_modules/oidc-provider")
                .is_dir(),
            "the login tests need the local OpenID Connect provider: run `npm ci` in e2e/ \
             (`cargo xtask test` does)"
        );
        let mut command = Command::new("node");
        command
            .arg("oidc/server.js")
            .current_dir(E2E)
            .env("OIDC_PORT", "0")
            .env("OIDC_ISSUER", issuer.unwrap_or(""))
            .env("OIDC_REDIRECT_URIS", format!("{clavis}/auth/callback"))
            .env("OIDC_POST_LOGOUT_REDIRECT_URIS", format!("{clavis}/"))
            .stdout(Stdio::piped());
        if let Some(fixture) = fixture {
            command.env("OIDC_FIXTURE", fixture);
        }
        let mut child = command
            .spawn()
            .expect("node runs the local OpenID Connect provider");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut read = |prefix: &str| {
            let line = lines
                .next()
                .expect("the provider prints where it is")
                .unwrap();
            line.split_once(prefix)
                .map(|(_, url)| url.trim().to_owned())
                .unwrap_or_else(|| panic!("unexpected provider output: {line}"))
        };
        let issuer = read(" at ");
        let address = read("listening on ");
        Self {
            child,
            issuer,
            address,
        }
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person from the provider's fixture file.
struct FixtureUser {
    email: String,
    password: String,
    totp_secret: Option<String>,
}

fn fixture_user(sub: &str) -> FixtureUser {
    let text = std::fs::read_to_string(format!("{E2E}/oidc/users.fixture.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let user = fixture["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["sub"] == sub)
        .unwrap();
    FixtureUser {
        email: user["email"].as_str().unwrap().to_owned(),
        password: user["password"].as_str().unwrap().to_owned(),
        totp_secret: user["totp_secret"].as_str().map(str::to_owned),
    }
}

/// The current RFC 6238 code (SHA-1, 30-second steps, 6 digits), as an authenticator app
/// shows it.
fn totp(secret: &str) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32 TOTP secret");
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let number = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", number % 1_000_000)
}

/// A cookie-keeping client that follows redirects itself, so every Set-Cookie is seen.
struct Browser {
    client: reqwest::Client,
    set_cookies: Vec<String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            set_cookies: Vec::new(),
        }
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let response = self.client.get(url).send().await.unwrap();
        self.follow(response).await
    }

    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self.client.post(url).form(form).send().await.unwrap();
        self.follow(response).await
    }

    async fn follow(&mut self, mut response: reqwest::Response) -> reqwest::Response {
        loop {
            for cookie in response.headers().get_all("set-cookie") {
                self.set_cookies.push(cookie.to_str().unwrap().to_owned());
            }
            if !response.status().is_redirection() {
                return response;
            }
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            let next = response.url().join(&location).unwrap();
            response = self.client.get(next).send().await.unwrap();
        }
    }

    fn session_cookie(&self) -> Option<&String> {
        self.set_cookies
            .iter()
            .find(|cookie| cookie.starts_with("clavis_session=") && !cookie.contains("Max-Age=0"))
    }
}

/// Signs in through the provider's pages; returns the page the browser ends on.
async fn sign_in(
    browser: &mut Browser,
    clavis: &str,
    sub: &str,
    return_to: &str,
) -> reqwest::Response {
    let user = fixture_user(sub);
    let form = browser
        .get(&format!("{clavis}/auth/login?return_to={return_to}"))
        .await;
    assert_eq!(form.status(), StatusCode::OK);
    let interaction = form.url().as_str().trim_end_matches('/').to_owned();
    assert!(interaction.contains("/interaction/"), "{interaction}");
    let after_password = browser
        .post_form(
            &format!("{interaction}/login"),
            &[("email", &user.email), ("password", &user.password)],
        )
        .await;
    let Some(secret) = user.totp_secret else {
        return after_password;
    };
    assert!(
        after_password
            .text()
            .await
            .unwrap()
            .contains("Second factor")
    );
    browser
        .post_form(&format!("{interaction}/otp"), &[("otp", &totp(&secret))])
        .await
}

fn grant(server: &TestServer, email: &str, role: Role, organisation: Option<&str>) {
    let mut conn = server.db.conn();
    users::grant(
        &mut conn,
        &Person::Email(email.into()),
        role,
        organisation,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
}

fn login_settings(issuer: &str, extra: &str) -> String {
    format!(
        "oidc_issuer = \"{issuer}\"\noidc_client_id = \"clavis-portal\"\n\
         oidc_client_secret = \"fixture-portal-client-secret\"\n{extra}"
    )
}

/// The last `login` audit event: (outcome, details).
fn last_login_event(server: &TestServer) -> (String, Value) {
    use clavis::db::schema::audit_events;
    let mut conn = server.db.conn();
    let conn: &mut clavis::db::DbConn = &mut conn;
    let (outcome, details): (String, String) = audit_events::table
        .filter(audit_events::action.eq("login"))
        .order(audit_events::id.desc())
        .select((audit_events::outcome, audit_events::details))
        .first(conn)
        .unwrap();
    (outcome, serde_json::from_str(&details).unwrap())
}

async fn a_manager_signs_in_with_password_and_totp_and_signs_out(test_db: TestDb) {
    let seeded = seed(&test_db);
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, None);
    let settings = login_settings(&provider.issuer, "oidc_acr_values = \"urn:clavis:acr:mfa\"");
    let server = TestServer::start_on(test_db, &settings, listener).await;
    // Designated by e-mail before the first sign-in: the role attaches when she arrives.
    grant(
        &server,
        "mia.manager@acme.test",
        Role::CredentialManager,
        Some(&seeded.organisation.id),
    );

    // The authorization request: code flow, PKCE S256, state, nonce, scopes, acr_values.
    let start = Browser::new()
        .client
        .get(format!("{clavis}/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&provider.issuer));
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["client_id"], "clavis-portal");
    assert_eq!(params["redirect_uri"], format!("{clavis}/auth/callback"));
    assert_eq!(params["acr_values"], "urn:clavis:acr:mfa");
    assert!(params["scope"].split(' ').any(|s| s == "openid"));
    assert!(params["state"].len() >= 16 && params["nonce"].len() >= 16);
    assert!(params["code_challenge"].len() >= 43);

    let mut browser = Browser::new();
    let landed = sign_in(&mut browser, &clavis, "manager-mia", "/applications/x").await;
    assert_eq!(landed.status(), StatusCode::OK);
    assert_eq!(landed.url().as_str(), format!("{clavis}/applications/x"));
    let cookie = browser.session_cookie().expect("a session cookie").clone();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "served over http: {cookie}");

    let me: Value = browser
        .client
        .get(format!("{clavis}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "mia.manager@acme.test");
    assert_eq!(me["user"]["name"], "Mia Manager (Acme)");
    assert_eq!(me["memberships"][0]["role"], "credential_manager");
    assert_eq!(me["memberships"][0]["organisation"]["name"], "Acme");

    // One person: the designation was claimed, with the provider's issuer and subject.
    {
        use clavis::db::schema::users;
        let mut conn = server.db.conn();
        let conn: &mut clavis::db::DbConn = &mut conn;
        let rows: Vec<(Option<String>, Option<String>, bool)> = users::table
            .filter(users::email.eq("mia.manager@acme.test"))
            .select((
                users::issuer,
                users::subject,
                users::last_login_at.is_not_null(),
            ))
            .load(conn)
            .unwrap();
        assert_eq!(
            rows,
            [(
                Some(provider.issuer.clone()),
                Some("manager-mia".into()),
                true
            )]
        );
    }
    let token = cookie["clavis_session=".len()..].split(';').next().unwrap();
    assert!(
        !database_contains(&server.db, token),
        "only the session token's hash is stored"
    );
    assert_eq!(server.db.count("sessions"), 1);
    let (outcome, details) = last_login_event(&server);
    assert_eq!(outcome, "success");
    assert!(
        details["amr"].as_array().unwrap().contains(&json!("otp")),
        "{details}"
    );

    let logout: Value = browser
        .client
        .post(format!("{clavis}/auth/logout"))
        .header("Origin", &clavis)
        .header("X-CSRF-Token", me["csrf_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let end = url::Url::parse(logout["end_session_url"].as_str().unwrap()).unwrap();
    assert!(
        end.as_str()
            .starts_with(&format!("{}/session/end", provider.issuer)),
        "{end}"
    );
    let params: std::collections::HashMap<_, _> = end.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], "clavis-portal");
    assert_eq!(params["post_logout_redirect_uri"], format!("{clavis}/"));
    let after = browser
        .client
        .get(format!("{clavis}/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.db.count("sessions"), 0);
}

async fn a_login_without_a_second_factor_is_refused_with_the_reason(test_db: TestDb) {
    let seeded = seed(&test_db);
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, None);
    let settings = login_settings(&provider.issuer, "oidc_mfa_acr = \"urn:clavis:acr:mfa\"");
    let server = TestServer::start_on(test_db, &settings, listener).await;
    grant(
        &server,
        "nora.nomfa@acme.test",
        Role::Viewer,
        Some(&seeded.organisation.id),
    );

    let mut browser = Browser::new();
    let refused = sign_in(&mut browser, &clavis, "nomfa-nora", "/").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .url()
            .as_str()
            .starts_with(&format!("{clavis}/auth/callback"))
    );
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("no second factor") && page.contains("multi-factor"),
        "{page}"
    );
    assert!(browser.session_cookie().is_none());
    assert_eq!(server.db.count("sessions"), 0);
    let (outcome, details) = last_login_event(&server);
    assert_eq!(
        (outcome.as_str(), &details["reason"]),
        ("failure", &json!("mfa_required"))
    );
    assert_eq!(details["amr"], json!(["pwd"]));

    // The ways on start afresh: a plain retry would be answered from the provider's session
    // with the same single factor, and end on this page again.
    assert!(
        page.contains(
            "<a href=\"/auth/login?retry=second_factor\">Sign in again with a second factor</a>"
        ) && page.contains("<a href=\"/auth/login?retry=account\">Use another account</a>"),
        "{page}"
    );
    let step_up = not_following()
        .get(format!("{clavis}/auth/login?retry=second_factor"))
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(step_up.headers()["location"].to_str().unwrap()).unwrap();
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["prompt"], "login");
    assert_eq!(
        params["acr_values"], "urn:clavis:acr:mfa",
        "the ACR Clavis accepts as MFA"
    );
    let again = browser
        .get(&format!("{clavis}/auth/login?retry=second_factor"))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        again.url().as_str().contains("/interaction/"),
        "the provider asks again"
    );
    let plain = not_following()
        .get(format!("{clavis}/auth/login"))
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(plain.headers()["location"].to_str().unwrap()).unwrap();
    assert!(!location.query_pairs().any(|(name, _)| name == "prompt"));
    let unknown = not_following()
        .get(format!("{clavis}/auth/login?retry=forever"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

async fn a_person_without_a_role_is_refused_and_bootstrap_admins_get_in(test_db: TestDb) {
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, None);
    let settings = login_settings(
        &provider.issuer,
        "bootstrap_admins = \"ada.admin@clavis.test\"\n\
         support_contact = \"the API team at api-support@example.org\"",
    );
    let server = TestServer::start_on(test_db, &settings, listener).await;

    let mut ben = Browser::new();
    let refused = sign_in(&mut ben, &clavis, "manager-ben", "/").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("no role in Clavis") && page.contains("ben.manager@beta.test"),
        "{page}"
    );
    assert!(
        page.contains("Ask the API team at api-support@example.org to make you")
            && page.contains("<a href=\"/auth/login?retry=account\">Use another account</a>"),
        "{page}"
    );
    assert!(
        page.contains(
            "<a href=\"mailto:api-support@example.org\">Write to api-support@example.org</a>"
        ),
        "{page}"
    );
    assert!(ben.session_cookie().is_none());
    assert_eq!(last_login_event(&server).1["reason"], "no_role");

    let mut ada = Browser::new();
    assert_eq!(
        sign_in(&mut ada, &clavis, "admin-ada", "/").await.status(),
        StatusCode::OK
    );
    let me: Value = ada
        .client
        .get(format!("{clavis}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["admin"], true);
    assert_eq!(server.db.count("sessions"), 1);
}

async fn roles_can_come_from_an_id_token_claim(test_db: TestDb) {
    let beta = {
        let mut conn = test_db.conn();
        clavis::orgs::create(
            &mut conn,
            &clavis_shared::portal::CreateOrganisation {
                name: "Beta".into(),
                country: "BE".into(),
                sandbox: false,
                notification_email: None,
            },
            &admin(),
            clavis::db::now(),
        )
        .unwrap()
    };
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, None);
    let settings = login_settings(
        &provider.issuer,
        "oidc_role_claim = \"roles\"\noidc_organisation_claim = \"organisation\"",
    );
    let server = TestServer::start_on(test_db, &settings, listener).await;

    // Ben has no assignment in Clavis; his token says credential_management for "Beta".
    let mut ben = Browser::new();
    assert_eq!(
        sign_in(&mut ben, &clavis, "manager-ben", "/")
            .await
            .status(),
        StatusCode::OK
    );
    let me: Value = ben
        .client
        .get(format!("{clavis}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["memberships"][0]["organisation"]["id"], beta.id.as_str());
    assert_eq!(me["memberships"][0]["role"], "credential_manager");

    // The claimed role makes Ben a recipient of Beta's expiry reminders.
    let db = server.db.db.clone();
    let due = actix_web::web::block(move || {
        let now = clavis::db::now();
        let mut conn = db.conn()?;
        clavis::apis::create(
            &mut conn,
            &clavis_shared::portal::CreateApi {
                code: "SMC".into(),
                name: "Ship Manifests".into(),
                audience: "https://api.example.org/smc".into(),
                scopes: vec!["manifest.read".into()],
                ..Default::default()
            },
            &admin(),
            now,
        )?;
        let app = clavis::apps::create(
            &mut conn,
            &clavis_shared::portal::CreateApplication {
                organisation_id: "Beta".into(),
                api_codes: vec!["SMC".into()],
                ..Default::default()
            },
            &admin(),
            now,
        )?;
        let created = now - chrono::Duration::days(30);
        clavis::secrets::create(
            &mut conn,
            &app.client_id,
            "prod",
            now + chrono::Duration::days(3),
            &admin(),
            created,
        )?;
        clavis::notify::Notifier::new(
            None,
            clavis::public_url::PublicUrls::new(&"https://clavis.example.org".parse().unwrap()),
        )
        .run_pass(&db, now, clavis::notify::Mode::DryRun)
    })
    .await
    .unwrap()
    .unwrap();
    let recipients: Vec<&str> = due.due.iter().map(|d| d.recipient.as_str()).collect();
    assert_eq!(recipients, ["ben.manager@beta.test"]);
}

/// What the proxy does to the ID token in the provider's token responses.
#[derive(Clone, Copy)]
enum Tamper {
    /// Claims changed (MFA added), the provider's signature kept.
    Claims,
    /// Claims changed and signed with a key of our own, under the provider's key id.
    ForeignKey,
}

struct Proxy {
    upstream: String,
    tamper: Tamper,
    client: reqwest::Client,
}

/// Forwards everything to the provider and rewrites the ID token of `/token` answers.
async fn forward(req: HttpRequest, body: web::Bytes, proxy: web::Data<Proxy>) -> HttpResponse {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut outgoing = proxy
        .client
        .request(method, format!("{}{path}", proxy.upstream))
        .body(body.to_vec());
    for (name, value) in req.headers() {
        if name != "content-length" {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let response = outgoing.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut bytes = response.bytes().await.unwrap().to_vec();
    if req.path() == "/token" && status == 200 {
        bytes = tampered(&proxy, &bytes).await;
    }
    let mut answer = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            answer.append_header((name.as_str(), value.as_bytes()));
        }
    }
    answer.body(bytes)
}

async fn tampered(proxy: &Proxy, token_response: &[u8]) -> Vec<u8> {
    let mut answer: Value = serde_json::from_slice(token_response).unwrap();
    let id_token = answer["id_token"].as_str().unwrap().to_owned();
    let mut parts = id_token.split('.');
    let (header, payload, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    claims["amr"] = json!(["pwd", "otp", "mfa"]);
    claims["acr"] = json!("urn:clavis:acr:mfa");
    let forged = B64.encode(claims.to_string());
    answer["id_token"] = json!(match proxy.tamper {
        Tamper::Claims => format!("{header}.{forged}.{signature}"),
        Tamper::ForeignKey => {
            use p256::ecdsa::signature::Signer;
            let jwks: Value = proxy
                .client
                .get(format!("{}/jwks", proxy.upstream))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let kid = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|key| key["alg"] == "ES256")
                .unwrap()["kid"]
                .clone();
            let header = B64.encode(json!({"alg": "ES256", "kid": kid, "typ": "JWT"}).to_string());
            let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let signature: p256::ecdsa::Signature =
                key.sign(format!("{header}.{forged}").as_bytes());
            format!("{header}.{forged}.{}", B64.encode(signature.to_bytes()))
        }
    });
    answer.to_string().into_bytes()
}

async fn refused_through(test_db: TestDb, tamper: Tamper) {
    let seeded = seed(&test_db);
    let (clavis_listener, clavis) = loopback_listener();
    let (proxy_listener, proxied_issuer) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, Some(&proxied_issuer));
    let proxy = web::Data::new(Proxy {
        upstream: provider.address.clone(),
        tamper,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    });
    let proxy_server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(proxy.clone())
            .default_service(web::to(forward))
    })
    .workers(1)
    .listen(proxy_listener)
    .unwrap()
    .run();
    let proxy_handle = proxy_server.handle();
    actix_web::rt::spawn(proxy_server);
    let server = TestServer::start_on(
        test_db,
        &login_settings(&provider.issuer, ""),
        clavis_listener,
    )
    .await;
    grant(
        &server,
        "nora.nomfa@acme.test",
        Role::CredentialManager,
        Some(&seeded.organisation.id),
    );

    let mut browser = Browser::new();
    let refused = sign_in(&mut browser, &clavis, "nomfa-nora", "/").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("could not be verified"), "{page}");
    assert!(browser.session_cookie().is_none());
    assert_eq!(server.db.count("sessions"), 0);
    let (outcome, details) = last_login_event(&server);
    assert_eq!(outcome, "failure");
    assert!(
        details["reason"]
            .as_str()
            .unwrap()
            .contains("Signature verification failed"),
        "{details}"
    );
    proxy_handle.stop(false).await;
}

async fn a_tampered_id_token_is_refused(test_db: TestDb) {
    refused_through(test_db, Tamper::Claims).await;
}

async fn an_id_token_signed_with_another_key_is_refused(test_db: TestDb) {
    refused_through(test_db, Tamper::ForeignKey).await;
}

async fn a_callback_this_browser_did_not_start_is_refused(test_db: TestDb) {
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, None);
    let server =
        TestServer::start_on(test_db, &login_settings(&provider.issuer, ""), listener).await;
    let response = reqwest::get(format!("{clavis}/auth/callback?code=stolen&state=guessed"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
    assert_eq!(server.db.count("sessions"), 0);
}

/// Signs in, in a fresh browser, as a person of a test's own fixture whose password is
/// `fixture-password-<who>`: the status and text of the page the browser ends on, and the
/// browser.
async fn sign_in_from_fixture(
    clavis: &str,
    email: &str,
    who: &str,
    totp_secret: &str,
) -> (StatusCode, String, Browser) {
    let mut browser = Browser::new();
    let form = browser.get(&format!("{clavis}/auth/login")).await;
    let interaction = form.url().as_str().trim_end_matches('/').to_owned();
    let password = format!("fixture-password-{who}");
    browser
        .post_form(
            &format!("{interaction}/login"),
            &[("email", email), ("password", &password)],
        )
        .await;
    let page = browser
        .post_form(
            &format!("{interaction}/otp"),
            &[("otp", &totp(totp_secret))],
        )
        .await;
    let status = page.status();
    (status, page.text().await.unwrap(), browser)
}

/// ID tokens whose claims hold U+0000, from a provider that really signs them: a `sub`
/// with one refuses the sign-in, optional claims with one are ignored and audited, and
/// neither gets a 5xx on PostgreSQL.
async fn claims_with_control_characters_are_refused_or_ignored(test_db: TestDb) {
    let seeded = seed(&test_db);
    let totp_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let fixture = tempfile::tempdir().unwrap();
    let fixture_file = fixture.path().join("users.json");
    let people = json!({
        "users": [
            { "sub": "nul\u{0}sub", "email": "nils@acme.test", "name": "Nils",
              "password": "fixture-password-nils", "totp_secret": totp_secret },
            { "sub": "claims-carl", "email": "carl\u{0}@acme.test", "name": "Carl\u{0}",
              "password": "fixture-password-carl", "totp_secret": totp_secret,
              "claims": { "roles": ["credential_management"], "organisation": "Acme\u{0}" } },
            { "sub": "named-nina", "email": "nina@acme.test", "name": "Nina\u{1b}[31m",
              "password": "fixture-password-nina", "totp_secret": totp_secret },
        ],
        "clients": [{ "client_id": "clavis-portal", "client_secret": "fixture-portal-client-secret" }],
    });
    std::fs::write(&fixture_file, people.to_string()).unwrap();
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start_with(&clavis, None, Some(&fixture_file));
    let settings = login_settings(
        &provider.issuer,
        "oidc_role_claim = \"roles\"\noidc_organisation_claim = \"organisation\"",
    );
    let server = TestServer::start_on(test_db, &settings, listener).await;
    grant(
        &server,
        "nina@acme.test",
        Role::Viewer,
        Some(&seeded.organisation.id),
    );
    let users_before = server.db.count("users");

    let (status, page, _) =
        sign_in_from_fixture(&clavis, "nils@acme.test", "nils", totp_secret).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("could not be verified"), "{page}");
    let (outcome, details) = last_login_event(&server);
    assert_eq!(outcome, "failure");
    assert_eq!(
        details["reason"],
        "the ID token is not valid: its sub claim holds control characters (U+0000 to U+001F, \
         U+007F to U+009F)"
    );
    assert_eq!(
        server.db.count("users"),
        users_before,
        "no record for that sub"
    );

    // Carl's e-mail, name and organisation are ignored: he is known, but has no role.
    let (status, page, _) =
        sign_in_from_fixture(&clavis, "carl\u{0}@acme.test", "carl", totp_secret).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("no access to Clavis yet"), "{page}");
    let (outcome, details) = last_login_event(&server);
    assert_eq!(
        (outcome.as_str(), &details["reason"]),
        ("failure", &json!("no_role"))
    );
    assert_eq!(
        details["ignored_claims"],
        json!(["email", "name", "organisation"])
    );

    // Nina's name is ignored; she signs in with the role granted to her address.
    let (status, _, nina) =
        sign_in_from_fixture(&clavis, "nina@acme.test", "nina", totp_secret).await;
    assert_eq!(status, StatusCode::OK);
    assert!(nina.session_cookie().is_some());
    let (outcome, details) = last_login_event(&server);
    assert_eq!(outcome, "success");
    assert_eq!(details["ignored_claims"], json!(["name"]));
    assert_eq!(server.db.count("sessions"), 1);

    // The sign-in's own parameters: a NUL gets the usual refusal, or the start page.
    let stray = reqwest::get(format!(
        "{clavis}/auth/callback?code=a%00b&state=c%00d&error=e%00f"
    ))
    .await
    .unwrap();
    assert_eq!(stray.status(), StatusCode::BAD_REQUEST);
    assert!(
        stray
            .text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = no_redirects
        .get(format!("{clavis}/auth/login?return_to=/applications%00x"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
}

/// Clavis with the local provider as its identity provider: (provider, server, base URL).
async fn clavis_with_provider(test_db: TestDb) -> (IdentityProvider, TestServer, String) {
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, None);
    let server =
        TestServer::start_on(test_db, &login_settings(&provider.issuer, ""), listener).await;
    (provider, server, clavis)
}

/// A client that shows redirects instead of following them.
fn not_following() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Starts a sign-in without following it: the attempt cookie's `name=value` and the state
/// sent to the provider.
async fn start_sign_in(client: &reqwest::Client, clavis: &str) -> (String, String, String) {
    let start = client
        .get(format!("{clavis}/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let set_cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let pair = set_cookie.split(';').next().unwrap().to_owned();
    (pair, state, set_cookie)
}

/// The callback as a browser holding `cookie` (`name=value`) would call it.
async fn callback(clavis: &str, cookie: Option<&str>, query: &str) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().get(format!("{clavis}/auth/callback?{query}"));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let forgets = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("clavis_login=;"));
    assert!(forgets, "every callback answer clears the attempt cookie");
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("script-src 'none'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    (status, response.text().await.unwrap())
}

async fn a_provider_error_shows_a_fixed_message_and_only_a_valid_code(test_db: TestDb) {
    let (_provider, server, clavis) = clavis_with_provider(test_db).await;
    let client = not_following();

    let (cookie, state, _) = start_sign_in(&client, &clavis).await;
    let description = "Call+%3Cb%3E555-EVIL%3C%2Fb%3E+to+restore+access";
    let (status, page) = callback(
        &clavis,
        Some(&cookie),
        &format!("error=access_denied&error_description={description}&state={state}"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("did not sign you in") && page.contains("&quot;access_denied&quot;"),
        "{page}"
    );
    assert!(
        !page.contains("555-EVIL") && !page.contains("restore"),
        "{page}"
    );

    // A code outside RFC 6749's characters is not repeated.
    let (cookie, state, _) = start_sign_in(&client, &clavis).await;
    let (status, page) = callback(
        &clavis,
        Some(&cookie),
        &format!("error=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%0A&state={state}"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("no valid error code"), "{page}");
    assert!(!page.contains("alert"), "{page}");
    assert_eq!(server.db.count("sessions"), 0);
}

async fn a_provider_error_with_a_wrong_or_missing_state_is_a_state_mismatch(test_db: TestDb) {
    let (_provider, _server, clavis) = clavis_with_provider(test_db).await;
    let client = not_following();
    let (cookie, state, _) = start_sign_in(&client, &clavis).await;
    for query in [
        "error=access_denied&error_description=x&state=forged".to_owned(),
        "error=access_denied".to_owned(),
        format!("error=access_denied&state={state}x"),
        "code=stolen".to_owned(),
    ] {
        let (status, page) = callback(&clavis, Some(&cookie), &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            page.contains("does not belong to the sign-in this browser started"),
            "{query}: {page}"
        );
        assert!(!page.contains("access_denied"), "{query}: {page}");
    }
    // The right state with no cookie at all: nothing this browser started.
    let (status, page) =
        callback(&clavis, None, &format!("error=access_denied&state={state}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired or was already used"), "{page}");
}

async fn a_tampered_or_foreign_attempt_cookie_is_refused(test_db: TestDb) {
    let (provider, _server, clavis) = clavis_with_provider(test_db).await;
    let client = not_following();
    let (cookie, state, set_cookie) = start_sign_in(&client, &clavis).await;
    assert!(
        set_cookie.starts_with("clavis_login=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Lax")
            && set_cookie.contains("Path=/")
            && set_cookie.contains("Max-Age=600"),
        "{set_cookie}"
    );
    let (name, value) = cookie.split_once('=').unwrap();
    assert!(!value.contains(&state), "the state travels sealed");
    // Flip one base64 character in the middle of the sealed value.
    let mut bytes = value.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
    let query = format!("error=access_denied&state={state}");
    let (status, page) = callback(&clavis, Some(&tampered), &query).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired or was already used"), "{page}");

    // A cookie sealed by another Clavis (another master key) opens nowhere else.
    let (other_listener, other) = loopback_listener();
    let _other = TestServer::start_on(
        TestDb::sqlite(),
        &login_settings(&provider.issuer, ""),
        other_listener,
    )
    .await;
    let (foreign, foreign_state, _) = start_sign_in(&client, &other).await;
    let (status, page) = callback(
        &clavis,
        Some(&foreign),
        &format!("error=access_denied&state={foreign_state}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired or was already used"), "{page}");

    // The untouched cookie still works: the answer is the provider's error, with its code.
    let (status, page) = callback(&clavis, Some(&cookie), &query).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("access_denied"), "{page}");
}

/// Rows in every table of the database, counted with plain SQL.
fn rows_in_every_table(test_db: &TestDb) -> Vec<(String, i64)> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let query = if test_db.is_postgres() {
        "SELECT table_name AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         ORDER BY table_name"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    };
    let tables: Vec<Name> = {
        let mut conn = test_db.conn();
        let conn: &mut clavis::db::DbConn = &mut conn;
        diesel::sql_query(query).load(conn).unwrap()
    };
    tables
        .into_iter()
        .map(|table| {
            let count = test_db.count(&format!("\"{}\"", table.name));
            (table.name, count)
        })
        .collect()
}

async fn anonymous_sign_in_starts_write_nothing_to_the_database(test_db: TestDb) {
    let (_provider, server, clavis) = clavis_with_provider(test_db).await;
    let client = not_following();
    start_sign_in(&client, &clavis).await; // discovery done, keys in place
    let before = rows_in_every_table(&server.db);
    assert!(
        before.iter().all(|(table, _)| table != "login_attempts"),
        "the table is gone: {before:?}"
    );
    let mut states = Vec::new();
    for _ in 0..200 {
        let (_, state, _) = start_sign_in(&client, &clavis).await;
        states.push(state);
    }
    assert_eq!(rows_in_every_table(&server.db), before);
    assert!(!database_contains(&server.db, &states[199]));
    states.sort();
    states.dedup();
    assert_eq!(states.len(), 200, "every sign-in has its own state");
}

async fn an_https_public_url_brings_hsts_and_host_prefixed_cookies(test_db: TestDb) {
    let (listener, clavis) = loopback_listener();
    let provider = IdentityProvider::start(&clavis, None);
    let public = clavis.replace("http://", "https://");
    let settings = login_settings(&provider.issuer, &format!("public_url = \"{public}\""));
    let server = TestServer::start_on(test_db, &settings, listener).await;
    let client = not_following();

    for path in [
        "/healthz",
        "/",
        "/auth/callback",
        "/api/v1/me",
        "/nowhere/at/all",
    ] {
        let response = client.get(format!("{clavis}{path}")).send().await.unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000",
            "{path}"
        );
    }

    let (cookie, state, set_cookie) = start_sign_in(&client, &clavis).await;
    assert!(
        set_cookie.starts_with("__Host-clavis_login=")
            && set_cookie.contains("Secure")
            && set_cookie.contains("Path=/")
            && !set_cookie.to_ascii_lowercase().contains("domain"),
        "{set_cookie}"
    );
    // The prefixed cookie is the one read back; the plain name means nothing here.
    let query = format!("error=access_denied&state={state}");
    let (status, page) = callback(&clavis, Some(&cookie), &query).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let plain = cookie.replacen("__Host-", "", 1);
    assert_eq!(
        callback(&clavis, Some(&plain), &query).await.0,
        StatusCode::BAD_REQUEST
    );

    // A session is read from `__Host-clavis_session` only, and cleared under that name.
    let user = {
        let mut conn = server.db.conn();
        users::grant(
            &mut conn,
            &Person::Email("ada.admin@clavis.test".into()),
            Role::Admin,
            None,
            &admin(),
            clavis::db::now(),
        )
        .unwrap()
        .user_id
    };
    let token = {
        let mut conn = server.db.conn();
        let (token, _) = clavis::session::create(
            &mut conn,
            &user,
            &[],
            &server.state.login.sessions,
            clavis::db::now(),
        )
        .unwrap();
        token.expose().to_owned()
    };
    let me = |name: &'static str| {
        client
            .get(format!("{clavis}/api/v1/me"))
            .header("Cookie", format!("{name}={token}"))
            .send()
    };
    assert_eq!(
        me("__Host-clavis_session").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        me("clavis_session").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let logout = client
        .post(format!("{clavis}/auth/logout"))
        .header("Cookie", format!("__Host-clavis_session={token}"))
        .header("Origin", &public)
        .header("X-CSRF-Token", clavis::session::csrf_token(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::OK);
    let cleared = logout.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-clavis_session=;")
            && cleared.contains("Secure")
            && cleared.contains("Path=/"),
        "{cleared}"
    );
    assert_eq!(server.db.count("sessions"), 0);
}

async fn plain_http_sends_no_hsts(test_db: TestDb) {
    let server = TestServer::start(test_db, "").await;
    let response = reqwest::get(server.url("/healthz")).await.unwrap();
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    assert_eq!(
        response.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
}

async fn the_portal_page_pins_its_inline_loader_in_its_policy(test_db: TestDb) {
    use sha2::{Digest, Sha256};
    let server = TestServer::start(test_db, "").await;
    // What trunk 0.21 writes: preloads, a stylesheet, and one inline module loader.
    let loader = "\nimport init, * as bindings from '/clavis-frontend-1a2b.js';\n\
                  const wasm = await init({ module_or_path: '/clavis-frontend-1a2b_bg.wasm' });\n";
    let html = format!(
        "<!DOCTYPE html><html><head><link rel=\"stylesheet\" href=\"/style-abc.css\">\
         <link rel=\"modulepreload\" href=\"/clavis-frontend-1a2b.js\">\
         <script type=\"module\">{loader}</script></head><body></body></html>"
    );
    std::fs::write(server.state.frontend_dir.join("index.html"), &html).unwrap();
    let pinned = format!(
        "'sha256-{}'",
        B64_STANDARD.encode(Sha256::digest(loader.as_bytes()))
    );
    for path in ["/", "/index.html", "/applications/some-app"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            policy,
            format!(
                "default-src 'none'; script-src 'self' 'wasm-unsafe-eval' {pinned}; \
                 style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                 form-action 'self'; base-uri 'none'; frame-ancestors 'none'; \
                 object-src 'none'"
            ),
            "{path}"
        );
        assert_eq!(response.text().await.unwrap(), html, "{path}");
    }
    // Other files keep the default: no framing, nothing else.
    let css = reqwest::get(server.url("/style-abc.css")).await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let posted = reqwest::Client::new()
        .post(server.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
}

on_both_databases_async!(
    claims_with_control_characters_are_refused_or_ignored,
    a_provider_error_shows_a_fixed_message_and_only_a_valid_code,
    a_provider_error_with_a_wrong_or_missing_state_is_a_state_mismatch,
    a_tampered_or_foreign_attempt_cookie_is_refused,
    anonymous_sign_in_starts_write_nothing_to_the_database,
    an_https_public_url_brings_hsts_and_host_prefixed_cookies,
    plain_http_sends_no_hsts,
    the_portal_page_pins_its_inline_loader_in_its_policy,
    a_manager_signs_in_with_password_and_totp_and_signs_out,
    a_login_without_a_second_factor_is_refused_with_the_reason,
    a_person_without_a_role_is_refused_and_bootstrap_admins_get_in,
    roles_can_come_from_an_id_token_claim,
    a_tampered_id_token_is_refused,
    an_id_token_signed_with_another_key_is_refused,
    a_callback_this_browser_did_not_start_is_refused,
);
