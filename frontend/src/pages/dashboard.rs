use clavis_shared::portal::{ApplicationSummary, ExpiringSecret, Membership};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::logic;
use crate::widgets::{
    EnabledBadge, EnvironmentBadge, ErrorMessage, Loading, me, now, page_title, role_name,
};

/// My organisations and their applications, and the secrets that expire soon.
#[component]
pub fn Dashboard() -> impl IntoView {
    page_title("Your applications");
    let me = me();
    let memberships = me.memberships.clone();
    view! {
        <h1>"Your applications"</h1>
        <ExpiringPanel />
        {if memberships.is_empty() {
            view! {
                <section class="card empty">
                    <p>"There are no organisations yet. An admin creates them on the Admin page."</p>
                </section>
            }
                .into_any()
        } else {
            memberships
                .into_iter()
                .map(|membership| view! { <Organisation membership=membership /> })
                .collect_view()
                .into_any()
        }}
    }
}

#[component]
fn ExpiringPanel() -> impl IntoView {
    let expiring = api::resource(|| "/api/v1/secrets/expiring".to_owned());
    view! {
            <section class="card" aria-labelledby="expiring-title">
                <h2 id="expiring-title">"Secrets expiring within 6 weeks"</h2>
                {move || {match api::loaded::<Vec<ExpiringSecret>>(expiring) {
    None => view! { <Loading what="expiring secrets" /> }.into_any(),
                            Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                            Some(Ok(list)) if list.is_empty() => {
                                view! { <p class="empty">"No secret expires in the next 6 weeks."</p> }
                                    .into_any()
                            }
                            Some(Ok(list)) => {
                                let now = now();
                                view! {
                                    <ul class="expiring">
                                        {list
                                            .into_iter()
                                            .map(|item| {
                                                let href = format!("/applications/{}", item.client_id);
                                                view! {
                                                    <li>
                                                        <A href=href attr:class="long-name">{item.application_name}</A>
                                                        ": "
                                                        <strong>{item.secret.name}</strong>
                                                        " (" <span class="nowrap">{logic::hint_display(&item.secret.hint)}</span> ") expires "
                                                        <span class="nowrap">{logic::date(item.secret.expires_at)}</span> ", "
                                                        <span class="nowrap">{logic::expiry_phrase(item.secret.expires_at, now)}</span>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
    }}}
            </section>
        }
}

#[component]
fn Organisation(membership: Membership) -> impl IntoView {
    let id = membership.organisation.id.clone();
    let applications = api::resource(move || format!("/api/v1/organisations/{id}/applications"));
    let title_id = format!("org-{}", membership.organisation.id);
    let labelled_by = title_id.clone();
    view! {
            <section class="card" aria-labelledby=labelled_by>
                <h2 id=title_id class="long-name">
                    {membership.organisation.name.clone()} " "
                    <span class="role">{role_name(membership.role)}</span>
                    {membership.organisation.sandbox.then(|| view! { " " <span class="badge sandbox">"sandbox"</span> })}
                </h2>
                <p><A href=format!("/organisations/{}/devices", membership.organisation.id)>"Devices"</A></p>
                {move || {match api::loaded::<Vec<ApplicationSummary>>(applications) {
    None => view! { <Loading what="applications" /> }.into_any(),
                            Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                            Some(Ok(list)) if list.is_empty() => {
                                view! { <p class="empty">"This organisation has no applications yet."</p> }
                                    .into_any()
                            }
                            Some(Ok(list)) => view! { <ApplicationTable list=list /> }.into_any(),
    }}}
            </section>
        }
}

#[component]
fn ApplicationTable(list: Vec<ApplicationSummary>) -> impl IntoView {
    let now = now();
    view! {
        <div class="table-wrap">
            <table class="stack">
                <thead>
                    <tr>
                        <th scope="col">"Application"</th>
                        <th scope="col">"Environment"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Active secrets"</th>
                        <th scope="col">"Soonest expiry"</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|summary| {
                            let app = summary.application;
                            let href = format!("/applications/{}", app.client_id);
                            view! {
                                <tr>
                                    <td data-label="Application"><A href=href attr:class="long-name">{app.name}</A></td>
                                    <td data-label="Environment"><EnvironmentBadge environment=app.environment /></td>
                                    <td data-label="State"><EnabledBadge enabled=app.enabled /></td>
                                    <td data-label="Active secrets"><span>{summary.active_secrets}</span></td>
                                    <td data-label="Soonest expiry">
                                        {match summary.soonest_expiry {
                                            Some(at) => view! {
                                                <span>
                                                    <span class="nowrap">{logic::date(at)}</span>
                                                    " "
                                                    <span class="muted nowrap">{format!("({})", logic::expiry_phrase(at, now))}</span>
                                                </span>
                                            }.into_any(),
                                            None => view! { <span>"none"</span> }.into_any(),
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
