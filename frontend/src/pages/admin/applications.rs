//! Every application, for admins: search by name, client_id or organisation, sorting and
//! paging by the server. Each links to the application page contacts use, where admins
//! also find the admin actions ([`super::application_admin`]).

use clavis_shared::admin::ApplicationListing;
use clavis_shared::paging::Page;
use leptos::callback::Callback;
use leptos::prelude::*;
use leptos_router::components::A;

use super::admin_page;
use super::table::{ListTable, plain, sorted};
use crate::api;
use crate::widgets::{EnabledBadge, EnvironmentBadge};

#[component]
pub fn Applications() -> impl IntoView {
    admin_page("Applications", || {
        let version = RwSignal::new(0u32);
        let rows =
            Callback::new(
                |text: String| match api::parse::<Page<ApplicationListing>>(&text) {
                    Ok(page) => page
                        .items
                        .into_iter()
                        .map(|a| application_row(a, true))
                        .collect_view()
                        .into_any(),
                    Err(error) => {
                        view! { <tr><td colspan="5" class="error">{error.message}</td></tr> }
                            .into_any()
                    }
                },
            );
        view! {
            <h1>"Applications"</h1>
            <section class="card">
                <p class="help">"New applications are created on their organisation's page."</p>
                <ListTable
                    endpoint="/api/v1/applications"
                    columns=vec![
                        sorted("Name", "name"),
                        sorted("Organisation", "organisation"),
                        plain("APIs"),
                        sorted("Environment", "environment"),
                        sorted("Status", "enabled"),
                    ]
                    caption="Applications"
                    search_label="Search by name, client_id or organisation"
                    rows=rows
                    version=version
                />
            </section>
        }
        .into_any()
    })
}

/// One application's row; with its organisation's column when `with_organisation`.
pub fn application_row(listing: ApplicationListing, with_organisation: bool) -> impl IntoView {
    let app = listing.application;
    let apis = app
        .grants
        .iter()
        .map(|g| g.api_code.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <tr>
            <td class="name">
                <A href=format!("/applications/{}", app.client_id)>{app.name.clone()}</A>
                <br />
                <code class="details">{app.client_id.clone()}</code>
            </td>
            {with_organisation.then(|| view! {
                <td data-label="Organisation"><A href=format!("/admin/organisations/{}", app.organisation_id)>{listing.organisation_name}</A></td>
            })}
            <td data-label="APIs">{if apis.is_empty() { "none".to_owned() } else { apis }}</td>
            <td data-label="Environment"><EnvironmentBadge environment=app.environment /></td>
            <td data-label="Status"><EnabledBadge enabled=app.enabled /></td>
        </tr>
    }
}
