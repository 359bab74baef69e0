//! CSRF protection, in one place: every state-changing request that carries a session
//! cookie must come from the portal's own origin and carry the session's CSRF token.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use clavis_shared::portal::CSRF_HEADER;
use subtle::ConstantTimeEq;

use super::{SessionSettings, cookie_name, csrf_token};
use crate::error::Error;

/// Wrap the session-authenticated routes with `middleware::from_fn(csrf::protect)`.
pub async fn protect(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if changes_state(req.method()) {
        check(&req)?;
    }
    next.call(req).await
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Without a session cookie there is nothing to forge: the handler answers 401 itself.
fn check(req: &ServiceRequest) -> Result<(), Error> {
    let settings = req
        .app_data::<web::Data<SessionSettings>>()
        .ok_or_else(|| Error::Internal("sessions are not configured".to_owned()))?;
    let Some(session) = req.cookie(cookie_name(settings)) else {
        return Ok(());
    };
    let expected_origin = settings.public_origin.as_str();
    let origin = req
        .headers()
        .get("Origin")
        .and_then(|value| value.to_str().ok());
    if origin != Some(expected_origin) {
        return Err(Error::Forbidden(
            "This request did not come from the Clavis portal (its Origin header is missing or \
             another site's), so it was refused."
                .to_owned(),
        ));
    }
    let expected = csrf_token(session.value());
    let given = req
        .headers()
        .get(CSRF_HEADER)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(expected.as_bytes())) {
        return Err(Error::Forbidden(format!(
            "The request lacks a valid {CSRF_HEADER} header for your session. Reload the page \
             and try again."
        )));
    }
    Ok(())
}
