//! Small pieces the pages share: loading and error states, badges, the copy button, the
//! session context and the clock.

use chrono::{DateTime, Utc};
use clavis_shared::dto::{Environment, Role};
use clavis_shared::portal::Me;
use leptos::prelude::*;

use crate::api::ApiError;

/// The current time, from the browser's clock.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// The signed-in person, provided by the shell to every page.
pub fn me() -> Me {
    expect_context::<Me>()
}

/// The person's role in an organisation (admins are admins everywhere).
pub fn role_in(me: &Me, organisation_id: &str) -> Option<Role> {
    if me.admin {
        return Some(Role::Admin);
    }
    me.memberships
        .iter()
        .find(|m| m.organisation.id == organisation_id)
        .map(|m| m.role)
}

/// Whether the person may create and delete the organisation's secrets.
pub fn may_manage_secrets(me: &Me, organisation_id: &str) -> bool {
    role_in(me, organisation_id).is_some_and(Role::may_manage_secrets)
}

/// Sets the browser tab's title to "`page` · Clavis" while the calling page is shown, so
/// tabs, history and screen readers tell the pages apart (WCAG 2.4.2).
pub fn page_title(page: impl Into<String>) {
    let title = format!("{} · Clavis", page.into());
    document().set_title(&title);
}

#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! { <p class="loading" role="status">{format!("Loading {what}…")}</p> }
}

/// An API error, next to what failed.
#[component]
pub fn ErrorMessage(error: ApiError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.message}</p> }
}

/// An error signal shown while it holds something.
#[component]
pub fn ErrorSlot(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|message| view! { <p class="error" role="alert">{message}</p> })
    }
}

#[component]
pub fn EnvironmentBadge(environment: Environment) -> impl IntoView {
    let class = match environment {
        Environment::Production => "badge prod",
        Environment::Sandbox => "badge sandbox",
    };
    view! { <span class=class>{environment.as_str()}</span> }
}

#[component]
pub fn EnabledBadge(enabled: bool) -> impl IntoView {
    if enabled {
        view! { <span class="badge ok">"enabled"</span> }
    } else {
        view! { <span class="badge bad">"disabled"</span> }
    }
}

/// What a copy button last achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copy {
    NotYet,
    Copied,
    Failed,
}

/// Copies `text` to the clipboard and says what really happened: "Copied" only once the
/// browser's clipboard accepted it. When it refuses (no permission, no secure context), the
/// button says so and, with `select` (the id of the element that shows the text), selects
/// that text so the person can copy it themselves.
#[component]
pub fn CopyButton(
    #[prop(into)] text: String,
    #[prop(into)] label: String,
    #[prop(optional, into)] select: Option<String>,
) -> impl IntoView {
    let state = RwSignal::new(Copy::NotYet);
    let copy = move |_| {
        let (text, select) = (text.clone(), select.clone());
        leptos::task::spawn_local(async move {
            if write_to_clipboard(&text).await {
                state.set(Copy::Copied);
            } else {
                state.set(Copy::Failed);
                if let Some(id) = select {
                    select_text_of(&id);
                }
            }
        });
    };
    view! {
        <span class="copy">
            <button type="button" class="secondary" on:click=copy aria-label=label>
                {move || match state.get() {
                    Copy::NotYet => "Copy",
                    Copy::Copied => "Copied",
                    Copy::Failed => "Copy failed",
                }}
            </button>
            <span class="copy-note" role="status">
                {move || match state.get() {
                    Copy::NotYet => "",
                    Copy::Copied => "Copied to the clipboard.",
                    Copy::Failed => "Copy failed: select the value and copy it yourself.",
                }}
            </span>
        </span>
    }
}

/// Whether the browser's clipboard took `text` (its `writeText` promise resolved).
async fn write_to_clipboard(text: &str) -> bool {
    use wasm_bindgen::JsCast;
    let navigator = window().navigator();
    // `navigator.clipboard` is missing outside secure contexts: calling it would throw.
    let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into())
        .ok()
        .filter(|found| !found.is_undefined() && !found.is_null())
        .and_then(|found| found.dyn_into::<web_sys::Clipboard>().ok());
    let Some(clipboard) = clipboard else {
        return false;
    };
    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(text))
        .await
        .is_ok()
}

/// Selects the text of the element `id`, for copying by hand.
fn select_text_of(id: &str) {
    let (Some(element), Ok(Some(selection))) =
        (document().get_element_by_id(id), window().get_selection())
    else {
        return;
    };
    let _ = selection.select_all_children(&element);
}

/// Saves `text` as the file `file_name` (plain text) through a download, made in the browser
/// from a Blob: nothing leaves the page.
#[component]
pub fn DownloadButton(
    #[prop(into)] text: String,
    #[prop(into)] file_name: String,
    #[prop(into)] label: String,
) -> impl IntoView {
    let failed = RwSignal::new(false);
    let download = move |_| failed.set(save_as_file(&text, &file_name).is_err());
    view! {
        <button type="button" class="secondary" on:click=download>{label}</button>
        {move || {
            failed
                .get()
                .then(|| view! { <span class="error" role="alert">"The download failed: copy the value instead."</span> })
        }}
    }
}

fn save_as_file(text: &str, file_name: &str) -> Result<(), wasm_bindgen::JsValue> {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/plain;charset=utf-8");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let link: web_sys::HtmlAnchorElement = document().create_element("a")?.unchecked_into();
    link.set_href(&url);
    link.set_download(file_name);
    link.click();
    // The browser has taken the file by the next task; the URL would only keep it in memory.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(1),
    );
    Ok(())
}

/// A modal dialog: the native `<dialog>` opened with `showModal()`, so focus moves into it,
/// stays inside (the page behind is inert) and the browser keeps it on screen. Escape calls
/// `on_cancel` while `may_cancel` holds, and does nothing otherwise (a step that must not be
/// dismissed by accident). When the dialog goes away, focus returns to where it was when it
/// opened (the opening button), or to the element whose id `return_focus` holds by then.
#[component]
pub fn Modal(
    /// The id of the dialog's heading.
    #[prop(into)]
    labelled_by: String,
    /// An `alertdialog`: it asks to confirm something destructive.
    #[prop(optional)]
    alert: bool,
    #[prop(into)] may_cancel: Signal<bool>,
    on_cancel: impl Fn() + Clone + Send + Sync + 'static,
    #[prop(optional)] return_focus: Option<RwSignal<Option<String>>>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let opener = send_wrapper::SendWrapper::new(document().active_element());
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get()
            && dialog.is_connected()
            && !dialog.open()
        {
            let _ = dialog.show_modal();
        }
    });
    on_cleanup(move || {
        let instead = return_focus.and_then(|wanted| wanted.try_get_untracked().flatten());
        let opener = opener.take();
        // After the dialog has left the page: until then everything behind it is inert.
        request_animation_frame(move || {
            let target = instead
                .and_then(|id| document().get_element_by_id(&id))
                .or(opener.filter(|element| element.is_connected()));
            if let Some(target) = target {
                use wasm_bindgen::JsCast;
                if let Some(target) = target.dyn_ref::<web_sys::HtmlElement>() {
                    let _ = target.focus();
                }
            }
        });
    });
    let keys = {
        let on_cancel = on_cancel.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Tab" {
                if let Some(dialog) = dialog.get_untracked() {
                    keep_tab_inside(&dialog, &ev);
                }
            } else if ev.key() == "Escape" {
                // The dialog's own Escape handling would close it behind the page's back.
                ev.prevent_default();
                if may_cancel.get_untracked() {
                    on_cancel();
                }
            }
        }
    };
    // Closed by the browser anyway (it lets a second Escape through): keep a step that must
    // not be dismissed open, and treat anything else as cancelling.
    let closed = move |_| {
        if may_cancel.get_untracked() {
            on_cancel();
        } else if let Some(dialog) = dialog.get_untracked() {
            let _ = dialog.show_modal();
        }
    };
    view! {
        <dialog
            node_ref=dialog
            class="dialog"
            role=alert.then_some("alertdialog")
            aria-labelledby=labelled_by
            on:keydown=keys
            on:close=closed
        >
            {children()}
        </dialog>
    }
}

/// Tab from the dialog's last control goes to its first, Shift+Tab from the first to the
/// last: without this the browser lets focus leave the page for its own toolbar.
fn keep_tab_inside(dialog: &web_sys::HtmlDialogElement, ev: &leptos::ev::KeyboardEvent) {
    use wasm_bindgen::JsCast;
    let Ok(found) = dialog.query_selector_all(
        "button:not([disabled]), input:not([disabled]), select:not([disabled]), \
         textarea:not([disabled]), a[href], [tabindex]:not([tabindex='-1'])",
    ) else {
        return;
    };
    let controls: Vec<web_sys::HtmlElement> = (0..found.length())
        .filter_map(|index| found.item(index))
        .filter_map(|node| node.dyn_into::<web_sys::HtmlElement>().ok())
        .collect();
    let (Some(first), Some(last)) = (controls.first(), controls.last()) else {
        return;
    };
    let active = document().active_element();
    let is = |control: &web_sys::HtmlElement| {
        active
            .as_ref()
            .is_some_and(|active| active == control.unchecked_ref::<web_sys::Element>())
    };
    let wrap_to = if ev.shift_key() && is(first) {
        Some(last)
    } else if !ev.shift_key() && is(last) {
        Some(first)
    } else {
        None
    };
    if let Some(target) = wrap_to {
        ev.prevent_default();
        let _ = target.focus();
    }
}

/// A polite live region: screen readers announce what `message` says once it changes, and
/// sighted people read it in place (success after create, save or delete).
#[component]
pub fn StatusMessage(message: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <p class="status-message" role="status" aria-live="polite">
            {move || message.get().unwrap_or_default()}
        </p>
    }
}

/// Human role names.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admin",
        Role::CredentialManager => "Credential manager",
        Role::Viewer => "Viewer",
    }
}
