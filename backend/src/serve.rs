//! `clavis serve`: opens the database, applies migrations, and serves HTTP until stopped.

use actix_web::HttpServer;

use crate::app;
use crate::config::Config;
use crate::db::Database;

pub fn serve(config: Config, db: Database) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let (state, background) = app::start(&config, db).await?;
        let server = HttpServer::new(move || app::build(state.clone()))
            .bind(config.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (CLAVIS_LISTEN): {e}", config.listen))?;
        tracing::info!(listen = %config.listen, public_url = %config.public_url, "Clavis is serving");
        let served = server.run().await;
        // Graceful shutdown: the server has drained its requests; write what they queued.
        background.shutdown().await;
        tracing::info!("Clavis stopped");
        served.map_err(|e| anyhow::anyhow!("the HTTP server stopped with an error: {e}"))
    })
}
