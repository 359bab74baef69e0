//! Liveness and readiness probes for load balancers and orchestrators.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db::{self, Database};
use crate::error::Result;

/// The process is up and answering.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database is reachable and every migration is applied.
pub async fn readyz(db: web::Data<Database>) -> Result<HttpResponse> {
    db.run(db::ensure_migrated).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}
