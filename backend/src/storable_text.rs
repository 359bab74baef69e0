//! The portal API's one guard against text no database column can take: it refuses a
//! request whose URL holds a control character, or whose JSON body holds U+0000 (NUL), with
//! `400 invalid_text` naming the field.
//!
//! PostgreSQL cannot store or even compare text holding U+0000, while SQLite can: without
//! this guard the same request got a 5xx on one database and something else on the other,
//! after taking a pooled connection. The guard runs before the session is looked up and
//! before any handler, so every route of the API, present and future, is covered. Only NUL
//! is refused in bodies: every other control character is the business of each field's
//! rule in `clavis_shared::validate`, whose message says what the field allows (a
//! description may hold line breaks, a name may not). No identifier, code or filter in a
//! URL holds any control character, so there the whole class is refused.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use clavis_shared::ErrorBody;
use clavis_shared::validate::{CONTROL_CHARACTERS, has_control_character};
use serde_json::Value;

/// Wrap the portal API with `middleware::from_fn(storable_text::guard)`.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(refusal) = url_refusal(&req) {
        return Ok(req.into_response(refusal).map_into_right_body());
    }
    if is_json(&req) {
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(error) => {
                let refusal = refuse(
                    error.as_response_error().status_code(),
                    "invalid_body",
                    format!("The request body could not be read: {error}"),
                    None,
                );
                return Ok(req.into_response(refusal).map_into_right_body());
            }
        };
        if let Some(field) = nul_in_json(&body) {
            let message = format!(
                "The field \"{field}\" holds the character U+0000 (NUL), which Clavis does not accept."
            );
            let refusal = refuse(
                StatusCode::BAD_REQUEST,
                "invalid_text",
                message,
                Some(field),
            );
            return Ok(req.into_response(refusal).map_into_right_body());
        }
        req.set_payload(Payload::from(body));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A refusal for a control character in the (percent-decoded) path or a query parameter.
fn url_refusal(req: &ServiceRequest) -> Option<HttpResponse> {
    let path = percent_encoding::percent_decode_str(req.path()).decode_utf8_lossy();
    let field = if has_control_character(&path) {
        "path".to_owned()
    } else {
        form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(name, value)| has_control_character(name) || has_control_character(value))
            .map(|(name, _)| {
                if has_control_character(&name) {
                    "query".to_owned()
                } else {
                    name.into_owned()
                }
            })?
    };
    let message = format!(
        "The URL's {} holds {CONTROL_CHARACTERS}; no identifier or filter in Clavis has one.",
        if field == "path" {
            "path".to_owned()
        } else {
            format!("query parameter \"{field}\"")
        }
    );
    Some(refuse(
        StatusCode::BAD_REQUEST,
        "invalid_text",
        message,
        Some(field),
    ))
}

/// Whether the body is JSON by the rule actix-web's `Json` extractor applies (any `*/json`
/// or `*/*+json` type, such as `text/json`), so no body a handler reads as JSON escapes the
/// check.
fn is_json(req: &ServiceRequest) -> bool {
    use actix_web::HttpMessage;
    let json = actix_web::mime::JSON;
    req.mime_type()
        .ok()
        .flatten()
        .is_some_and(|mime| mime.subtype() == json || mime.suffix() == Some(json))
}

/// Where a JSON body holds U+0000, in a string or a key, as a field path such as `name` or
/// `grants[0].api_code` (`body` for the document itself). A body that is not JSON passes:
/// the handler's extractor explains that better.
fn nul_in_json(body: &[u8]) -> Option<String> {
    let document: Value = serde_json::from_slice(body).ok()?;
    nul_in(&document, "")
}

fn nul_in(value: &Value, path: &str) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Value::String(text) => text.contains('\0').then(here),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in(item, &format!("{}[{index}]", here()))),
        Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            if name.contains('\0') {
                return Some(here());
            }
            let nested = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            nul_in(item, &nested)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

fn refuse(status: StatusCode, error: &str, message: String, field: Option<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        field,
        ..ErrorBody::new(error, message)
    })
}

#[cfg(test)]
mod tests {
    use super::{is_json, nul_in_json};
    use actix_web::test::TestRequest;

    #[test]
    fn every_body_the_json_extractor_reads_is_checked() {
        for json in [
            "application/json",
            "text/json",
            "application/problem+json; charset=utf-8",
        ] {
            let req = TestRequest::default()
                .insert_header(("content-type", json))
                .to_srv_request();
            assert!(is_json(&req), "{json}");
        }
        for other in ["text/plain", "application/x-www-form-urlencoded"] {
            let req = TestRequest::default()
                .insert_header(("content-type", other))
                .to_srv_request();
            assert!(!is_json(&req), "{other}");
        }
    }

    #[test]
    fn nul_is_found_with_the_path_of_its_field() {
        assert_eq!(
            nul_in_json(br#"{"name":"a\u0000b"}"#).as_deref(),
            Some("name")
        );
        assert_eq!(
            nul_in_json(br#"{"grants":[{"api_code":"SMC"},{"api_code":"S\u0000"}]}"#).as_deref(),
            Some("grants[1].api_code")
        );
        assert_eq!(
            nul_in_json(br#"{"scopes":["read","\u0000"]}"#).as_deref(),
            Some("scopes[1]")
        );
        assert_eq!(nul_in_json(br#""\u0000""#).as_deref(), Some("body"));
        assert_eq!(nul_in_json(br#"{"a\u0000":1}"#).as_deref(), Some("body"));
        assert_eq!(nul_in_json(br#"{"name":"tab\tand\u0001"}"#), None);
        assert_eq!(nul_in_json(b"not json \0"), None);
    }
}
