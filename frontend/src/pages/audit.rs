//! The audit log: who did what, as one sentence per event, filtered and paged by the
//! server. The filters and the page live in the URL (`/audit?application=<client_id>&page=2`),
//! so a link, a reload and the back button show the same events.

use clavis_shared::audit::{self as wire, AuditEventView, AuditPage};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::logic;
use crate::widgets::{ErrorMessage, Loading, me, page_title};

const PER_PAGE: u32 = 25;

/// The filters and page as the URL holds them; empty text is no filter.
#[derive(Debug, Clone, Default, PartialEq)]
struct Filters {
    organisation: String,
    /// A client_id.
    application: String,
    action: String,
    actor: String,
    /// `YYYY-MM-DD`, UTC.
    from: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    to: String,
    page: u32,
}

impl Filters {
    fn from_url(get: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name: &str| get(name).unwrap_or_default().trim().to_owned();
        Self {
            organisation: text("organisation"),
            application: text("application"),
            action: text("action"),
            actor: text("actor"),
            from: text("from"),
            to: text("to"),
            page: get("page")
                .and_then(|page| page.parse().ok())
                .filter(|page| *page >= 1)
                .unwrap_or(1),
        }
    }

    /// (URL name, API name, value) of each filter that is set.
    fn set(&self) -> Vec<(&'static str, &'static str, &str)> {
        [
            ("organisation", "organisation_id", &self.organisation),
            ("application", "client_id", &self.application),
            ("action", "action", &self.action),
            ("actor", "actor", &self.actor),
            ("from", "from", &self.from),
            ("to", "to", &self.to),
        ]
        .into_iter()
        .filter(|(_, _, value)| !value.is_empty())
        .map(|(url, api, value)| (url, api, value.as_str()))
        .collect()
    }

    /// This page's URL showing page `page` of these filters.
    fn url(&self, page: u32) -> String {
        let mut query: Vec<String> = self
            .set()
            .into_iter()
            .map(|(name, _, value)| format!("{name}={}", api::encode(value)))
            .collect();
        if page > 1 {
            query.push(format!("page={page}"));
        }
        if query.is_empty() {
            "/audit".to_owned()
        } else {
            format!("/audit?{}", query.join("&"))
        }
    }

    /// The API's query string for these filters (without page).
    fn api_query(&self) -> String {
        self.set()
            .into_iter()
            .map(|(_, name, value)| format!("{name}={}", api::encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Why the date range cannot be used, if it cannot (the server's own rule and words).
    fn range_error(&self) -> Option<String> {
        let checked = wire::day("from", &self.from)
            .and_then(|from| Ok((from, wire::day("to", &self.to)?)))
            .and_then(|(from, to)| wire::date_range(from, to));
        checked.err().map(|error| error.message)
    }
}

/// The audit trail: contacts see their organisations' events, admins all.
#[component]
pub fn AuditLog() -> impl IntoView {
    page_title("Audit log");
    let me = me();
    let query = use_query_map();
    let filters = Memo::new(move |_| Filters::from_url(|name| query.read().get(name)));
    // The form's fields start from the URL and follow it (links, back button).
    let form = RwSignal::new(filters.get_untracked());
    Effect::new(move |_| form.set(filters.get()));
    let range_error = RwSignal::new(None::<String>);
    let events = api::resource(move || {
        let filters = filters.get();
        format!(
            "/api/v1/audit-events?page={}&per_page={PER_PAGE}&{}",
            filters.page,
            filters.api_query()
        )
    });
    let navigate = use_navigate();
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = form.get();
        range_error.set(wanted.range_error());
        if range_error.get_untracked().is_none() {
            navigate(&wanted.url(1), Default::default());
        }
    };
    let csv_link = move || format!("/api/v1/audit-events.csv?{}", filters.get().api_query());
    let field = move |get: fn(&Filters) -> &String| move || get(&form.get()).clone();
    let set_field = move |set: fn(&mut Filters, String)| {
        move |ev: leptos::ev::Event| form.update(|form| set(form, event_target_value(&ev)))
    };
    let organisations = me.memberships.clone();
    view! {
        <h1>"Audit log"</h1>
        {move || {
            let application = filters.get().application;
            (!application.is_empty())
                .then(|| {
                    view! {
                        <p class="muted">
                            "Events of the application " <code>{application}</code> " "
                            <a href=Filters { application: String::new(), ..filters.get() }.url(1)>
                                "Show every application"
                            </a>
                        </p>
                    }
                })
        }}
        <section class="card">
            <form class="filters" on:submit=apply novalidate>
                <div>
                    <label for="f-org">"Organisation"</label>
                    <select id="f-org" on:change=set_field(|f, v| f.organisation = v)>
                        <option value="">"All"</option>
                        {organisations
                            .into_iter()
                            .map(|m| {
                                let id = m.organisation.id.clone();
                                view! {
                                    <option value=m.organisation.id selected={move || form.get().organisation == id}>
                                        {m.organisation.name}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <div>
                    <label for="f-app">"Application (client_id)"</label>
                    <input id="f-app" placeholder="6f1c2d3e-…" prop:value=field(|f| &f.application) on:input=set_field(|f, v| f.application = v) />
                </div>
                <div>
                    <label for="f-action">"Action"</label>
                    <select id="f-action" on:change=set_field(|f, v| f.action = v)>
                        <option value="">"All actions"</option>
                        {wire::ACTIONS
                            .iter()
                            .map(|(code, label)| {
                                view! {
                                    <option value=*code selected={move || form.get().action == *code}>
                                        {*label}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <div>
                    <label for="f-actor">"Actor"</label>
                    <input id="f-actor" placeholder="name, e-mail or client_id" prop:value=field(|f| &f.actor) on:input=set_field(|f, v| f.actor = v) />
                </div>
                <div>
                    <label for="f-from">"From (UTC)"</label>
                    // Text, not a date picker: the picker shows the browser's locale (mm/dd/yyyy
                    // in the US), while the portal writes every date as ISO 8601.
                    <input id="f-from" inputmode="numeric" placeholder="YYYY-MM-DD" prop:value=field(|f| &f.from) on:input=set_field(|f, v| f.from = v) />
                </div>
                <div>
                    <label for="f-to">"To (UTC, whole day)"</label>
                    <input
                        id="f-to"
                        inputmode="numeric"
                        placeholder="YYYY-MM-DD"
                        prop:value=field(|f| &f.to)
                        on:input=set_field(|f, v| f.to = v)
                        aria-invalid=move || range_error.get().is_some().to_string()
                        aria-describedby="f-to-error"
                    />
                </div>
                <button type="submit">"Filter"</button>
            </form>
            <p id="f-to-error" class="error" role="alert" hidden=move || range_error.get().is_none()>
                {move || range_error.get().unwrap_or_default()}
            </p>
            <p>
                <a href=csv_link download>"Download CSV"</a>
                <span class="muted">" (every event these filters match)"</span>
            </p>
        </section>
        <section class="card" aria-live="polite">
            {move || match api::loaded::<AuditPage>(events) {
                None => view! { <Loading what="events" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(found)) if found.events.is_empty() && found.page == 1 => {
                    view! { <p class="empty">"No events match."</p> }.into_any()
                }
                Some(Ok(found)) => view! { <EventTable found=found filters=filters.get() /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn EventTable(found: AuditPage, filters: Filters) -> impl IntoView {
    let pages = (found.total.max(0) as u32).div_ceil(found.per_page).max(1);
    let current = found.page;
    let navigate = use_navigate();
    let go = move |page: u32| {
        let url = filters.url(page);
        let navigate = navigate.clone();
        move |_| navigate(&url, Default::default())
    };
    view! {
        <div class="table-wrap">
            <table class="audit">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"What happened"</th>
                        <th scope="col">"Organisation"</th>
                        <th scope="col">"Application"</th>
                        <th scope="col">"Outcome"</th>
                    </tr>
                </thead>
                <tbody>
                    {found.events.into_iter().map(|event| view! { <EventRow event=event /> }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            <button type="button" class="secondary" disabled={current <= 1} on:click=go(current.saturating_sub(1).max(1))>
                "Newer"
            </button>
            <span>{format!("Page {current} of {pages} ({} events)", found.total)}</span>
            <button type="button" class="secondary" disabled={current >= pages} on:click=go(current + 1)>
                "Older"
            </button>
        </nav>
    }
}

#[component]
fn EventRow(event: AuditEventView) -> impl IntoView {
    let summary = event.summary.clone();
    let who = wire::actor_label(&event);
    // The recorded actor (an address, a client_id) under the name shown, when they differ;
    // the command line's and Clavis's own are already all there is to say.
    let recorded = (matches!(event.actor_kind.as_str(), "user" | "client") && who != event.actor)
        .then(|| event.actor.clone());
    let action = wire::ACTIONS
        .iter()
        .find(|(code, _)| *code == event.action)
        .map_or_else(|| event.action.clone(), |(_, label)| (*label).to_owned());
    let outcome = if event.outcome == "success" {
        "badge ok"
    } else {
        "badge bad"
    };
    let details = event.detail_lines.clone();
    let application = match (event.application_name.clone(), event.client_id.clone()) {
        (Some(name), Some(client_id)) => {
            view! { <a href=format!("/applications/{client_id}")>{name}</a> }.into_any()
        }
        _ => view! { <span class="muted">"—"</span> }.into_any(),
    };
    view! {
        <tr>
            <td data-label="When" class="when">{logic::date_time(event.occurred_at)}</td>
            <td data-label="Who">
                {who}
                {recorded.map(|actor| view! { <br /> <span class="muted small">{actor}</span> })}
            </td>
            <td data-label="What happened">
                <span class="summary">{summary}</span>
                <details>
                    <summary>{format!("Details: {action}")}</summary>
                    <dl class="details">
                        {details
                            .into_iter()
                            .map(|line| view! { <dt>{line.label}</dt> <dd>{line.text}</dd> })
                            .collect_view()}
                    </dl>
                </details>
            </td>
            <td data-label="Organisation">{event.organisation_name.unwrap_or_else(|| "—".to_owned())}</td>
            <td data-label="Application">{application}</td>
            <td data-label="Outcome"><span class=outcome>{event.outcome}</span></td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::Filters;

    #[test]
    fn the_url_gives_the_filters_and_a_valid_page() {
        let url = |query: &'static [(&'static str, &'static str)]| {
            Filters::from_url(|name| {
                query
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            })
        };
        let filters = url(&[
            ("application", " abc "),
            ("page", "3"),
            ("to", "2026-12-01"),
        ]);
        assert_eq!(filters.application, "abc");
        assert_eq!(filters.page, 3);
        assert_eq!(url(&[("page", "0")]).page, 1);
        assert_eq!(url(&[("page", "x")]).page, 1);
        assert_eq!(filters.range_error(), None);
        let backwards = url(&[("from", "2026-12-02"), ("to", "2026-12-01")]);
        assert!(
            backwards
                .range_error()
                .is_some_and(|message| message.contains("2026-12-02")),
        );
        assert!(url(&[("from", "yesterday")]).range_error().is_some());
    }
}
