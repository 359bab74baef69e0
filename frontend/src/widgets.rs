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

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: String, #[prop(into)] label: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        let clipboard = window().navigator().clipboard();
        let _ = clipboard.write_text(&text);
        copied.set(true);
    };
    view! {
        <button type="button" class="secondary" on:click=copy aria-label=label.clone()>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
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
