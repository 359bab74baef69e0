use clavis_shared::portal::AuditPage;
use leptos::prelude::*;

use crate::api;
use crate::logic;
use crate::widgets::{ErrorMessage, Loading, me, page_title};

const PER_PAGE: u32 = 25;

/// The audit trail: contacts see their organisations' events, admins all.
#[component]
pub fn AuditLog() -> impl IntoView {
    page_title("Audit log");
    let me = me();
    let organisation = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    // The filters apply when the form is submitted, not on every keystroke.
    let applied = RwSignal::new(String::new());
    let events = api::resource(move || {
        format!(
            "/api/v1/audit-events?page={}&per_page={PER_PAGE}{}",
            page.get(),
            applied.get()
        )
    });
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut query = String::new();
        for (name, value) in [
            ("organisation_id", organisation.get()),
            ("action", action.get()),
            ("actor", actor.get()),
            ("from", day_start(&from.get())),
            ("to", day_start(&to.get())),
        ] {
            if !value.trim().is_empty() {
                query.push_str(&format!("&{name}={}", api::encode(value.trim())));
            }
        }
        page.set(1);
        applied.set(query);
    };
    let organisations = me.memberships.clone();
    view! {
            <h1>"Audit log"</h1>
            <section class="card">
                <form class="filters" on:submit=apply>
                    <div>
                        <label for="f-org">"Organisation"</label>
                        <select id="f-org" on:change=move |ev| organisation.set(event_target_value(&ev))>
                            <option value="">"All"</option>
                            {organisations
                                .into_iter()
                                .map(|m| view! { <option value=m.organisation.id>{m.organisation.name}</option> })
                                .collect_view()}
                        </select>
                    </div>
                    <div>
                        <label for="f-action">"Action"</label>
                        <input id="f-action" placeholder="secret.create" prop:value=move || action.get() on:input=move |ev| action.set(event_target_value(&ev)) />
                    </div>
                    <div>
                        <label for="f-actor">"Actor"</label>
                        <input id="f-actor" placeholder="e-mail or client_id" prop:value=move || actor.get() on:input=move |ev| actor.set(event_target_value(&ev)) />
                    </div>
                    <div>
                        <label for="f-from">"From (UTC)"</label>
                        <input id="f-from" type="date" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev)) />
                    </div>
                    <div>
                        <label for="f-to">"Before (UTC)"</label>
                        <input id="f-to" type="date" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
                    </div>
                    <button type="submit">"Filter"</button>
                </form>
            </section>
            <section class="card" aria-live="polite">
                {move || {match api::loaded::<AuditPage>(events) {
    None => view! { <Loading what="events" /> }.into_any(),
                            Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                            Some(Ok(found)) if found.events.is_empty() => {
                                view! { <p class="empty">"No events match."</p> }.into_any()
                            }
                            Some(Ok(found)) => view! { <EventTable found=found page=page /> }.into_any(),
    }}}
            </section>
        }
}

/// A date field's value as the start of that day in RFC 3339, or empty.
fn day_start(date: &str) -> String {
    if date.is_empty() {
        String::new()
    } else {
        format!("{date}T00:00:00Z")
    }
}

#[component]
fn EventTable(found: AuditPage, page: RwSignal<u32>) -> impl IntoView {
    let pages = ((found.total as u32).div_ceil(found.per_page)).max(1);
    let current = found.page;
    view! {
        <div class="table-wrap">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Details"</th>
                    </tr>
                </thead>
                <tbody>
                    {found
                        .events
                        .into_iter()
                        .map(|event| {
                            let outcome = if event.outcome == "success" { "badge ok" } else { "badge bad" };
                            view! {
                                <tr>
                                    <td>{logic::date_time(event.occurred_at)}</td>
                                    <td>{event.actor} <br /> <span class="muted">{event.actor_kind}</span></td>
                                    <td><code>{event.action}</code></td>
                                    <td><span class=outcome>{event.outcome}</span></td>
                                    <td><code class="details">{event.details.to_string()}</code></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            <button type="button" class="secondary" disabled={current <= 1} on:click=move |_| page.set(current - 1)>
                "Newer"
            </button>
            <span>{format!("Page {current} of {pages} ({} events)", found.total)}</span>
            <button type="button" class="secondary" disabled={current >= pages} on:click=move |_| page.set(current + 1)>
                "Older"
            </button>
        </nav>
    }
}
