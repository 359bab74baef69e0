//! `clavis serve`: opens the database, applies migrations, and serves HTTP, or HTTPS when a
//! certificate is configured, until stopped.

use actix_web::HttpServer;
use tokio::signal::unix::{SignalKind, signal};

use crate::app;
use crate::config::Config;
use crate::db::Database;
use crate::tls::ServedCertificate;

pub fn serve(config: Config, db: Database) -> anyhow::Result<()> {
    // Certificate problems stop start-up before the server starts (one line, see cli::run).
    let certificate = config
        .tls
        .as_ref()
        .map(ServedCertificate::load)
        .transpose()?;
    actix_web::rt::System::new().block_on(async move {
        let (state, background) = app::start(&config, db).await?;
        let server = HttpServer::new(move || app::build(state.clone()));
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
        tracing::info!(listen = %config.listen, https, public_url = %config.public_url, "Clavis is serving");
        let served = server.run().await;
        // Graceful shutdown: the server has drained its requests; write what they queued.
        background.shutdown().await;
        tracing::info!("Clavis stopped");
        served.map_err(|e| anyhow::anyhow!("the HTTP server stopped with an error: {e}"))
    })
}
