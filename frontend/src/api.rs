//! Calls to the Clavis backend's JSON API. Every answer that is not a success becomes an
//! [`ApiError`] with a sentence a person understands; an ended session sends the browser to
//! the sign-in page, which brings the person back here afterwards.
//!
//! The transport works on JSON text and is not generic: only decoding is per type, which
//! keeps the WASM small (each generic async function would be compiled once per type).

use clavis_shared::ErrorBody;
use clavis_shared::portal::CSRF_HEADER;
use gloo_net::http::{Method, RequestBuilder};
use leptos::prelude::{Get, LocalResource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;

/// Why a call failed, as shown next to what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// The input field the error is about, when the server named one.
    pub field: Option<String>,
}

impl ApiError {
    fn local(message: &str) -> Self {
        Self {
            status: 0,
            message: message.to_owned(),
            field: None,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A GET whose JSON answer is decoded where it is shown (see [`parse`]); re-run by
/// `refetch`, or when a signal read by `path` changes. Not generic, so every resource in the
/// portal shares one compiled copy of the machinery.
pub fn resource(path: impl Fn() -> String + 'static) -> LocalResource<ApiResult<String>> {
    shared_resource(Box::new(path))
}

fn shared_resource(path: Box<dyn Fn() -> String>) -> LocalResource<ApiResult<String>> {
    LocalResource::new(move || {
        let path = path();
        async move { send(Method::GET, &path, None, "").await }
    })
}

/// A resource's answer decoded, once it has arrived (`None` while loading).
pub fn loaded<T: DeserializeOwned>(
    resource: LocalResource<ApiResult<String>>,
) -> Option<ApiResult<T>> {
    resource
        .get()
        .map(|answer| answer.and_then(|text| parse(&text)))
}

/// Decodes a JSON answer.
pub fn parse<T: DeserializeOwned>(text: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|_| {
        ApiError::local("Clavis sent an answer this page does not understand. Reload the page.")
    })
}

/// POSTs `body` as JSON; the answer's text (decode it with [`parse`] when it is needed).
pub fn post(
    path: &str,
    body: &impl Serialize,
    csrf: &str,
) -> impl Future<Output = ApiResult<String>> + 'static {
    send_owned(Method::POST, path.to_owned(), json(body), csrf.to_owned())
}

pub fn patch(
    path: &str,
    body: &impl Serialize,
    csrf: &str,
) -> impl Future<Output = ApiResult<String>> + 'static {
    send_owned(Method::PATCH, path.to_owned(), json(body), csrf.to_owned())
}

pub fn put(
    path: &str,
    body: &impl Serialize,
    csrf: &str,
) -> impl Future<Output = ApiResult<String>> + 'static {
    send_owned(Method::PUT, path.to_owned(), json(body), csrf.to_owned())
}

pub async fn delete(path: &str, csrf: &str) -> ApiResult<String> {
    send(Method::DELETE, path, None, csrf).await
}

/// A request that owns what it sends, so its future is one type whatever the body was.
async fn send_owned(
    method: Method,
    path: String,
    body: ApiResult<String>,
    csrf: String,
) -> ApiResult<String> {
    send(method, &path, Some(body?), &csrf).await
}

fn json<B: Serialize>(body: &B) -> ApiResult<String> {
    serde_json::to_string(body).map_err(|_| ApiError::local("The request could not be prepared."))
}

/// Sends a request; the answer's text on success, else the error it describes.
async fn send(method: Method, path: &str, body: Option<String>, csrf: &str) -> ApiResult<String> {
    let mut builder = RequestBuilder::new(path).method(method.clone());
    if method != Method::GET {
        builder = builder.header(CSRF_HEADER, csrf);
    }
    let request = match body {
        Some(body) => builder
            .header("Content-Type", "application/json")
            .body(body),
        None => builder.build(),
    }
    .map_err(|_| ApiError::local("The request could not be prepared."))?;
    let response = request.send().await.map_err(|_| {
        ApiError::local("Clavis cannot be reached. Check your connection and try again.")
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if response.ok() {
        return Ok(text);
    }
    if status == 401 {
        send_to_sign_in();
    }
    Err(match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ApiError {
            status,
            message: crate::logic::with_reference(body.message, body.request_id.as_deref()),
            field: body.field,
        },
        Err(_) => ApiError {
            status,
            message: format!("Clavis answered with status {status}. Try again later."),
            field: None,
        },
    })
}

/// What this browser tab last knew of its session, kept in `sessionStorage` (per tab, and
/// kept across the trip to the identity provider and back), so the sign-in page can tell a
/// first visit from a session that ended and from a sign-out.
const SESSION_MARK: &str = "clavis.session";

/// Notes the session's state for this tab: `open` or `signed_out`.
pub fn mark_session(state: &str) {
    if let Ok(Some(storage)) = leptos::prelude::window().session_storage() {
        let _ = storage.set_item(SESSION_MARK, state);
    }
}

/// The noted state, forgotten as it is read: the next sign-in page is a first visit again.
fn take_session_mark() -> Option<String> {
    let storage = leptos::prelude::window().session_storage().ok()??;
    let mark = storage.get_item(SESSION_MARK).ok()?;
    let _ = storage.remove_item(SESSION_MARK);
    mark
}

/// To the sign-in page, remembering where the person was, and saying whether their session
/// ended (`ended=1`) or they signed out (`signed_out=1`, the start page after a sign-out at
/// the provider); a first visit gets neither.
pub fn send_to_sign_in() {
    let location = leptos::prelude::window().location();
    let here = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    let target = match take_session_mark().as_deref() {
        Some("signed_out") => "/signin?signed_out=1".to_owned(),
        Some("open") => format!("/signin?ended=1&return_to={}", encode(&here)),
        _ => format!("/signin?return_to={}", encode(&here)),
    };
    let _ = location.set_href(&target);
}

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}
