//! The organisations list: search, sort and paging by the server, a link to each
//! organisation's page, and a dialog to create one.

use clavis_shared::dto::Organisation;
use clavis_shared::paging::Page;
use clavis_shared::portal::CreateOrganisation;
use leptos::callback::Callback;
use leptos::prelude::*;
use leptos_router::components::A;

use super::admin_page;
use super::form::{FormDialog, checkbox, flag, is_set, run, text};
use super::table::{ListTable, sorted};
use crate::api;
use crate::logic;
use crate::widgets::me;

/// The label of the reminder mailbox field.
pub const MAILBOX_LABEL: &str = "Reminder mailbox (optional)";

#[component]
pub fn Organisations() -> impl IntoView {
    admin_page("Organisations", || {
        let version = RwSignal::new(0u32);
        let rows = Callback::new(
            |text: String| match api::parse::<Page<Organisation>>(&text) {
                Ok(page) => page.items.into_iter().map(row).collect_view().into_any(),
                Err(error) => {
                    view! { <tr><td colspan="4" class="error">{error.message}</td></tr> }.into_any()
                }
            },
        );
        view! {
            <div class="row">
                <h1>"Organisations"</h1>
                <NewOrganisation version=version />
            </div>
            <section class="card">
                <ListTable
                    endpoint="/api/v1/organisations"
                    columns=vec![
                        sorted("Name", "name"),
                        sorted("Country", "country"),
                        super::table::plain("Reminder mailbox"),
                        sorted("Created", "created"),
                    ]
                    caption="Organisations"
                    search_label="Search by name, country or mailbox"
                    rows=rows
                    version=version
                />
            </section>
        }
        .into_any()
    })
}

fn row(organisation: Organisation) -> impl IntoView {
    view! {
        <tr>
            <td>
                <A href=format!("/admin/organisations/{}", organisation.id)>{organisation.name.clone()}</A>
                {organisation.sandbox.then(|| view! { " " <span class="badge sandbox">"sandbox"</span> })}
            </td>
            <td data-label="Country">{organisation.country}</td>
            <td data-label="Reminder mailbox">{organisation.notification_email.unwrap_or_else(|| "none".to_owned())}</td>
            <td class="nowrap" data-label="Created">{logic::date(organisation.created_at)}</td>
        </tr>
    }
}

#[component]
fn NewOrganisation(version: RwSignal<u32>) -> impl IntoView {
    let (name, country, mailbox, sandbox) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        flag(false),
    );
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let create = Callback::new(move |close: Callback<()>| {
        let body = CreateOrganisation {
            name: name.get(),
            country: country.get(),
            sandbox: is_set(sandbox),
            notification_email: Some(mailbox.get()),
        };
        let done = move || {
            name.set(String::new());
            country.set(String::new());
            mailbox.set(String::new());
            sandbox.set("false".to_owned());
            close.run(());
        };
        let said = format!("Created the organisation {}.", body.name);
        run(
            api::post("/api/v1/organisations", &body, &csrf),
            error,
            version,
            said,
            done,
        );
    });
    let inputs = Callback::new(move |()| {
        vec![
            text("org-name", "Name", name, "Acme"),
            text("org-country", "Country (ISO code)", country, "NL"),
            checkbox("org-sandbox", "Sandbox only", sandbox),
            text(
                "org-mailbox",
                MAILBOX_LABEL,
                mailbox,
                "integration@acme.example",
            ),
        ]
    });
    view! {
        <FormDialog
            opener="New organisation"
            opener_label="New organisation"
            title="New organisation"
            inputs=inputs
            submit="Create organisation"
            on_submit=create
            error=error
        />
    }
}
