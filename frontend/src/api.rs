//! Calls to the Clavis backend's JSON API. Every answer that is not a success becomes an
//! [`ApiError`] with a sentence a person understands; an ended session sends the browser to
//! the sign-in page, which brings the person back here afterwards.

use clavis_shared::ErrorBody;
use clavis_shared::portal::CSRF_HEADER;
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call failed, as shown next to what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// The input field the error is about, when the server named one.
    pub field: Option<String>,
}

impl ApiError {
    fn unreachable() -> Self {
        Self {
            status: 0,
            message: "Clavis cannot be reached. Check your connection and try again.".to_owned(),
            field: None,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    let response = Request::get(path).send().await;
    decode(response).await
}

pub async fn post<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
    csrf: &str,
) -> ApiResult<T> {
    send_json(Request::post(path), body, csrf).await
}

pub async fn patch<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
    csrf: &str,
) -> ApiResult<T> {
    send_json(Request::patch(path), body, csrf).await
}

pub async fn delete(path: &str, csrf: &str) -> ApiResult<()> {
    let response = Request::delete(path).header(CSRF_HEADER, csrf).send().await;
    let response = checked(response).await?;
    drop(response);
    Ok(())
}

async fn send_json<B: Serialize, T: DeserializeOwned>(
    builder: RequestBuilder,
    body: &B,
    csrf: &str,
) -> ApiResult<T> {
    let request = builder
        .header(CSRF_HEADER, csrf)
        .json(body)
        .map_err(|e| ApiError {
            status: 0,
            message: format!("The request could not be prepared: {e}"),
            field: None,
        })?;
    decode(request.send().await).await
}

async fn decode<T: DeserializeOwned>(response: Result<Response, gloo_net::Error>) -> ApiResult<T> {
    let response = checked(response).await?;
    response.json::<T>().await.map_err(|_| ApiError {
        status: response.status(),
        message: "Clavis sent an answer this page does not understand. Reload the page.".to_owned(),
        field: None,
    })
}

/// The response if it is a success; otherwise the error it describes.
async fn checked(response: Result<Response, gloo_net::Error>) -> ApiResult<Response> {
    let response = response.map_err(|_| ApiError::unreachable())?;
    if response.ok() {
        return Ok(response);
    }
    if response.status() == 401 {
        send_to_sign_in();
    }
    let status = response.status();
    Err(match response.json::<ErrorBody>().await {
        Ok(body) => ApiError {
            status,
            message: body.message,
            field: body.field,
        },
        Err(_) => ApiError {
            status,
            message: format!("Clavis answered with status {status}. Try again later."),
            field: None,
        },
    })
}

/// To the sign-in page, remembering where the person was.
pub fn send_to_sign_in() {
    let window = leptos::prelude::window();
    let location = window.location();
    let here = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    let target = format!("/signin?return_to={}", encode(&here));
    let _ = location.set_href(&target);
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}
