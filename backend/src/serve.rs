//! `clavis serve`: opens the database, applies migrations, and serves HTTP, or HTTPS when a
//! certificate is configured, until stopped; and the Prometheus metrics on a listener of
//! their own when `CLAVIS_METRICS_LISTEN` is set.

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::db::Database;
use crate::tls::{self, ServedCertificate};
use crate::{app, jobs, telemetry};

pub fn serve(config: Config, db: Database) -> anyhow::Result<()> {
    // Certificate problems stop start-up before the server starts (one line, see cli::run).
    let certificate = config
        .tls
        .as_ref()
        .map(ServedCertificate::load)
        .transpose()?;
    actix_web::rt::System::new().block_on(async move {
        // Installed before anything records, so nothing recorded at start-up is lost.
        let recorder = config
            .metrics_listen
            .map(|_| telemetry::install())
            .transpose()?;
        let (state, mut background) = app::start(&config, db).await?;
        let metrics = match (config.metrics_listen, recorder) {
            (Some(listen), Some(recorder)) => {
                jobs::gauges::start(
                    &mut background,
                    recorder.clone(),
                    state.db.clone(),
                    state.oauth.clone(),
                    config.sessions.clone(),
                );
                Some(serve_metrics(listen, recorder)?)
            }
            _ => None,
        };
        let server = HttpServer::new(move || app::build(state.clone()))
            .on_connect(tls::keep_presented_chain);
        let https = certificate.is_some();
        let server = match certificate {
            Some(certificate) => {
                let tls = certificate.server_config();
                let hangup = signal(SignalKind::hangup())
                    .map_err(|e| anyhow::anyhow!("cannot listen for SIGHUP: {e}"))?;
                actix_web::rt::spawn(certificate.keep_current(hangup));
                server.bind_rustls_0_23(config.listen, tls)
            }
            None => server.bind(config.listen),
        }
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (CLAVIS_LISTEN): {e}", config.listen))?;
        tracing::info!(
            listen = %config.listen,
            https,
            public_url = %config.public_url,
            metrics_listen = config.metrics_listen.map(tracing::field::display),
            "Clavis is serving"
        );
        let served = server.run().await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        // Graceful shutdown: the server has drained its requests; write what they queued.
        background.shutdown().await;
        tracing::info!("Clavis stopped");
        served.map_err(|e| anyhow::anyhow!("the HTTP server stopped with an error: {e}"))
    })
}

/// Serves `GET /metrics` on `listen`: the Prometheus text format, as `recorder` renders it.
/// One worker is plenty for a scraper or two; it never shares a thread with the API's.
fn serve_metrics(listen: SocketAddr, recorder: PrometheusHandle) -> anyhow::Result<ServerHandle> {
    let recorder = web::Data::new(recorder);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(recorder.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .bind(listen)
    .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (CLAVIS_METRICS_LISTEN): {e}"))?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(handle)
}

async fn scrape(recorder: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(recorder.render())
}
