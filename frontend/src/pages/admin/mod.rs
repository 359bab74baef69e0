//! Platform administration, page by page as Entra's and Keycloak's consoles split it: an
//! overview (reminders that cannot get through), then organisations, applications, APIs and
//! people, each a searchable, sortable, paged table ([`table::ListTable`]) with create and
//! edit in dialogs ([`form::FormDialog`]), and a detail page per organisation. Only admins
//! see these pages; the server refuses everyone else anyway.

pub mod apis;
pub mod application_admin;
pub mod applications;
pub mod form;
pub mod issuers;
pub mod organisation;
pub mod organisations;
pub mod people;
pub mod table;

use clavis_shared::admin::ReminderStatus;
use clavis_shared::paging::Page;
use clavis_shared::portal::FailingAddress;
use leptos::prelude::*;
use leptos_router::components::A;
use serde::de::IgnoredAny;

use crate::api;
use crate::logic;
use crate::widgets::{me, page_title};

/// The admin pages' own navigation; the current page is marked (`aria-current`).
#[component]
pub fn AdminNav() -> impl IntoView {
    view! {
        <nav class="subnav" aria-label="Admin">
            <A href="/admin" exact=true>"Overview"</A>
            <A href="/admin/organisations">"Organisations"</A>
            <A href="/admin/applications">"Applications"</A>
            <A href="/admin/apis">"APIs"</A>
            <A href="/admin/people">"People"</A>
            <A href="/admin/issuers">"Issuers"</A>
        </nav>
    }
}

/// An admin page: its title, the admin navigation and `page`, or a refusal for everyone
/// who is not an admin.
pub fn admin_page(title: &str, page: impl FnOnce() -> AnyView) -> AnyView {
    page_title(title);
    if !me().admin {
        return view! {
            <section class="card">
                <h1>{title.to_owned()}</h1>
                <p class="error" role="alert">"Only platform admins may use this page."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <AdminNav />
        <form::Announcement />
        {page()}
    }
    .into_any()
}

#[component]
pub fn Admin() -> impl IntoView {
    admin_page("Admin", || {
        view! {
            <h1>"Admin"</h1>
            <Totals />
            <ReminderHealth />
        }
        .into_any()
    })
}

/// How many organisations, applications, APIs and people Clavis holds, each a link to its
/// list (the lists' own totals: one row asked for, the count read from the answer).
#[component]
fn Totals() -> impl IntoView {
    const LISTS: [(&str, &str, &str); 4] = [
        (
            "/api/v1/organisations",
            "/admin/organisations",
            "Organisations",
        ),
        (
            "/api/v1/applications",
            "/admin/applications",
            "Applications",
        ),
        ("/api/v1/apis", "/admin/apis", "APIs"),
        ("/api/v1/people", "/admin/people", "People"),
    ];
    let items = LISTS
        .into_iter()
        .map(|(endpoint, page, label)| {
            let answer = api::resource(move || format!("{endpoint}?per_page=1"));
            let total = move || match api::loaded::<Page<IgnoredAny>>(answer) {
                None => "…".to_owned(),
                Some(Ok(found)) => found.total.to_string(),
                Some(Err(_)) => "?".to_owned(),
            };
            view! {
                <li>
                    <A href=page>
                        <span class="total">{total}</span>
                        <span>{label}</span>
                    </A>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="totals-title">
            <h2 id="totals-title">"At a glance"</h2>
            <ul class="plain totals">{items}</ul>
        </section>
    }
}

/// Whether expiry reminders are sent, and the addresses they keep failing to reach (a
/// contact who left, a typo). One line of text per address (a single text node keeps this
/// panel small in the WASM).
#[component]
fn ReminderHealth() -> impl IntoView {
    let status = api::resource(|| "/api/v1/reminders/status".to_owned());
    let failing = api::resource(|| "/api/v1/reminders/failing".to_owned());
    let summary = move || {
        match api::loaded::<ReminderStatus>(status) {
            None => return "Loading…".to_owned(),
            Some(Err(error)) => return error.message,
            Some(Ok(ReminderStatus { enabled: false })) => {
                return "Expiry reminders are off: no mail server is configured (CLAVIS_SMTP_HOST and CLAVIS_SMTP_FROM), so no reminder is sent.".to_owned();
            }
            Some(Ok(_)) => {}
        }
        match api::loaded::<Vec<FailingAddress>>(failing) {
            None => "Loading…".to_owned(),
            Some(Err(error)) => error.message,
            Some(Ok(list)) if list.is_empty() => {
                "Reminders are on, and every recent reminder got through.".to_owned()
            }
            Some(Ok(list)) => list
                .iter()
                .map(|f| {
                    format!(
                        "{} ({}): {} undelivered, last tried {}. {}\n",
                        f.recipient,
                        f.organisation_name,
                        f.undelivered,
                        logic::date(f.last_attempt_at),
                        f.last_error
                    )
                })
                .collect(),
        }
    };
    view! {
        <section class="card" aria-labelledby="failing-title">
            <h2 id="failing-title">"Expiry reminders"</h2>
            <p class="lines" aria-live="polite">{summary}</p>
        </section>
    }
}
