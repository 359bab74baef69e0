//! Calls to the Clavis backend.

use gloo_net::http::Request;

/// Whether the backend can serve requests (its database is reachable and migrated).
pub async fn backend_ready() -> Result<(), String> {
    let response = Request::get("/readyz")
        .send()
        .await
        .map_err(|_| "Clavis cannot be reached. Check your connection and try again.".to_owned())?;
    if response.ok() {
        return Ok(());
    }
    match response.json::<clavis_shared::ErrorBody>().await {
        Ok(body) => Err(body.message),
        Err(_) => Err(format!(
            "Clavis answered with status {}.",
            response.status()
        )),
    }
}
