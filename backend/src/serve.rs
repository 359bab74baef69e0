//! `clavis serve`: opens the database, applies migrations, and serves HTTP until stopped.

use actix_web::HttpServer;

use crate::app::{self, AppState};
use crate::config::Config;
use crate::db::Database;

pub fn serve(config: Config, db: Database) -> anyhow::Result<()> {
    let state = AppState {
        db,
        frontend_dir: config.frontend_dir.clone(),
    };
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || app::build(state.clone()))
            .bind(config.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (CLAVIS_LISTEN): {e}", config.listen))?;
        tracing::info!(listen = %config.listen, public_url = %config.public_url, "Clavis is serving");
        server
            .run()
            .await
            .map_err(|e| anyhow::anyhow!("the HTTP server stopped with an error: {e}"))
    })
}
