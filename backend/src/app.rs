//! Every route of Clavis, wired in one place for `clavis serve` and the tests alike.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, Error as WebError, HttpResponse, web};
use clavis_shared::ErrorBody;
use std::path::PathBuf;
use std::time::Instant;

use crate::db::Database;
use crate::{health, site};

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    /// The portal's built files (trunk's output).
    pub frontend_dir: PathBuf,
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
        .app_data(web::JsonConfig::default().error_handler(|err, _req| {
            let body = ErrorBody::new(
                "invalid_json",
                format!("The request body is not valid JSON: {err}"),
            );
            actix_web::error::InternalError::from_response(
                err,
                HttpResponse::BadRequest().json(body),
            )
            .into()
        }))
        .wrap_fn(access_log)
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .configure(site::machine_not_found)
        .configure(|cfg| site::portal(cfg, &state.frontend_dir))
}

/// Logs each request's method, path (never the query string, which may carry credentials),
/// status and duration.
fn access_log<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<B>, WebError>> + use<S, B>
where
    S: actix_web::dev::Service<ServiceRequest, Response = ServiceResponse<B>, Error = WebError>,
{
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = Instant::now();
    let response = service.call(req);
    async move {
        let response = response.await?;
        tracing::info!(
            %method,
            %path,
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        Ok(response)
    }
}
