//! Every route of Clavis, wired in one place for `clavis serve` and the tests alike.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, Error as WebError, HttpMessage, middleware, web};
use std::path::PathBuf;
use std::time::Instant;

use crate::client_keys::JwksUriPolicy;
use crate::config::Config;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::federation::http::DefaultAudience;
use crate::forwarded::{self, ClientOrigin, TrustedProxies};
use crate::key_sets::RemoteKeySets;
use crate::keys::Keys;
use crate::login::{self, LoginService};
use crate::notify;
use crate::oauth::{
    self, AssertionVerifier, ClientAuthenticator, CredentialLookup, JtiLedger, LastUsed,
    OAuthService, Throttle,
};
use crate::public_url::PublicUrls;
use crate::session::{SessionSettings, csrf};
use crate::tls::{ClientCa, MutualTlsReach};
use crate::{
    apis, apps, audit, client_keys, devices, federation, health, jobs, openapi, orgs, request_id,
    secrets, site, storable_text, users,
};

/// The background jobs of a running instance, as [`start`] returns them.
pub use crate::jobs::Background;

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    /// The portal's built files (trunk's output).
    pub frontend_dir: PathBuf,
    pub keys: web::Data<Keys>,
    pub oauth: web::Data<OAuthService>,
    pub login: web::Data<LoginService>,
    pub sessions: web::Data<SessionSettings>,
    pub public_urls: web::Data<PublicUrls>,
    pub trusted_proxies: web::Data<TrustedProxies>,
    /// Whether expiry reminders are sent (an SMTP server is configured).
    pub reminders: web::Data<clavis_shared::admin::ReminderStatus>,
    /// Which hosts an application's `jwks_uri` may name.
    pub jwks_uri_policy: web::Data<JwksUriPolicy>,
    /// The key sets fetched from `jwks_uri`s and trusted issuers, shared by the token
    /// endpoint and the admin who trusts an issuer.
    pub remote_keys: web::Data<RemoteKeySets>,
    /// The audience a federated credential requires unless told otherwise.
    pub default_audience: web::Data<DefaultAudience>,
    /// What this Clavis can check of client certificates.
    pub mutual_tls: web::Data<MutualTlsReach>,
}

/// Opens the signing keys and starts the background jobs; call inside an actix runtime.
pub async fn start(config: &Config, db: Database) -> Result<(AppState, Background)> {
    let now = chrono::Utc::now();
    let (settings, max_lifetime) = (config.keys.clone(), config.token.max_lifetime_secs);
    let keys = web::Data::new(
        db.run(move |conn| Keys::open(conn, settings, max_lifetime, now))
            .await?,
    );
    let urls = PublicUrls::new(&config.public_url);
    let mut background = Background::default();
    let audit = jobs::audit_writer::start(&mut background, db.clone());
    let remote_keys = web::Data::new(
        RemoteKeySets::new(config.outbound_ca_file.as_deref(), config.key_set_refetch)
            .map_err(|error| Error::Internal(format!("{error:#}")))?,
    );
    let client_ca = config
        .mtls_ca_file
        .as_deref()
        .map(ClientCa::load)
        .transpose()
        .map_err(|error| Error::Internal(format!("{error:#}")))?;
    let mutual_tls = MutualTlsReach {
        sees_certificates: config.tls.is_some() || config.proxy_client_cert,
        ca_configured: client_ca.is_some(),
    };
    let mtls_urls = config.mtls_public_url.as_ref().map(PublicUrls::new);
    let token_endpoints: Vec<String> = std::iter::once(&urls)
        .chain(mtls_urls.as_ref())
        .map(PublicUrls::token_endpoint)
        .collect();
    let oauth = web::Data::new(OAuthService {
        issuer: config.issuer.clone(),
        urls: urls.clone(),
        mtls_urls,
        settings: config.token.clone(),
        https_only: config.tls.is_some() || !config.trusted_proxies.is_empty(),
        proxy_client_cert: config.proxy_client_cert,
        sees_client_certificates: mutual_tls.sees_certificates,
        keys: keys.clone(),
        authenticator: ClientAuthenticator::new(
            CredentialLookup::start(db.target()),
            AssertionVerifier::new(&config.issuer, &token_endpoints),
            remote_keys.clone().into_inner(),
            JtiLedger::start(db.target()),
            client_ca,
            Throttle::new(config.token.failure_limit, config.token.failure_window),
        ),
        usage: LastUsed::default(),
        audit,
    });
    let login = web::Data::new(LoginService::new(
        config.login.clone(),
        config.sessions.clone(),
        config.bootstrap_admins.clone(),
        &keys,
    )?);
    jobs::maintenance::start(
        &mut background,
        config.keys.publish_lead,
        config.sessions.clone(),
        db.clone(),
        oauth.clone(),
    );
    jobs::reminders::start(
        &mut background,
        config.smtp.as_ref(),
        config.reminder_interval,
        urls.clone(),
        db.clone(),
    )?;
    let state = AppState {
        db,
        frontend_dir: config.frontend_dir.clone(),
        keys,
        oauth,
        login,
        sessions: web::Data::new(config.sessions.clone()),
        public_urls: web::Data::new(urls),
        trusted_proxies: web::Data::new(TrustedProxies::new(config.trusted_proxies.clone())),
        reminders: web::Data::new(clavis_shared::admin::ReminderStatus {
            enabled: config.smtp.is_some(),
        }),
        jwks_uri_policy: web::Data::new(JwksUriPolicy {
            allowed_hosts: config.jwks_uri_hosts.clone(),
        }),
        remote_keys,
        default_audience: web::Data::new(DefaultAudience(config.issuer.clone())),
        mutual_tls: web::Data::new(mutual_tls),
    };
    Ok((state, background))
}

/// The whole application: health checks, the JSON API and the portal's files.
pub fn build(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = WebError,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state.db.clone()))
        .app_data(state.keys.clone())
        .app_data(state.oauth.clone())
        .app_data(state.login.clone())
        .app_data(state.sessions.clone())
        .app_data(state.public_urls.clone())
        .app_data(state.trusted_proxies.clone())
        .app_data(state.reminders.clone())
        .app_data(state.jwks_uri_policy.clone())
        .app_data(state.remote_keys.clone())
        .app_data(state.default_audience.clone())
        .app_data(state.mutual_tls.clone())
        .app_data(web::JsonConfig::default().error_handler(|err, _req| Error::from(err).into()))
        .app_data(web::QueryConfig::default().error_handler(|err, _req| Error::from(err).into()))
        .wrap(security_headers(state.sessions.secure_cookie))
        .wrap(middleware::from_fn(forwarded::identify))
        .wrap_fn(access_log)
        // Outermost: every line logged for the request, the access log's too, carries its id.
        .wrap(middleware::from_fn(request_id::assign))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .configure(oauth::routes)
        .configure(login::http::routes)
        .service(portal_api())
        .configure(site::machine_not_found)
        .configure(|cfg| site::portal(cfg, &state.frontend_dir))
}

/// The portal's JSON API: session-authenticated, CSRF-protected, never cached.
fn portal_api() -> actix_web::Scope<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = WebError,
        InitError = (),
    >,
> {
    web::scope("/api/v1")
        .wrap(middleware::from_fn(csrf::protect))
        .wrap(middleware::from_fn(storable_text::guard))
        .wrap(middleware::DefaultHeaders::new().add(("Cache-Control", "no-store")))
        .configure(openapi::routes)
        .configure(users::http::routes)
        .configure(orgs::http::routes)
        .configure(apis::http::routes)
        .configure(apps::http::routes)
        .configure(secrets::http::routes)
        .configure(client_keys::http::routes)
        .configure(federation::http::routes)
        .configure(devices::http::routes)
        .configure(audit::http::routes)
        .configure(notify::http::routes)
        .default_service(web::to(site::not_found_json))
}

/// Headers every response carries: no MIME sniffing, no referrer leaks, no framing
/// (clickjacking); pages set their full policy themselves (site.rs), which this default does
/// not override. When the public URL is https, `Strict-Transport-Security` (RFC 6797) for two
/// years, without `includeSubDomains`: other hosts of the domain are not Clavis's to decide.
fn security_headers(https: bool) -> middleware::DefaultHeaders {
    let headers = middleware::DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Content-Security-Policy", "frame-ancestors 'none'"));
    if https {
        headers.add(("Strict-Transport-Security", "max-age=63072000"))
    } else {
        headers
    }
}

/// Logs each request's client address (see [`forwarded`]), method, path (never the query
/// string, which may carry credentials), status and duration.
fn access_log<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<B>, WebError>> + use<S, B>
where
    S: actix_web::dev::Service<ServiceRequest, Response = ServiceResponse<B>, Error = WebError>,
{
    // Copy the request line only when it will be logged: this runs on every token request.
    let logged = tracing::enabled!(tracing::Level::INFO)
        .then(|| (req.method().clone(), req.path().to_owned(), Instant::now()));
    let response = service.call(req);
    async move {
        let response = response.await?;
        if let Some((method, path, started)) = logged {
            let client = response
                .request()
                .extensions()
                .get::<ClientOrigin>()
                .map(|origin| origin.address);
            tracing::info!(
                client = client.map(tracing::field::display),
                %method,
                %path,
                status = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        }
        Ok(response)
    }
}
