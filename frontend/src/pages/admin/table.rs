//! The one table every admin list shares: a search box, sortable column headers and paging
//! controls, with search, sort and page in the page's own URL (so links and Back work) and
//! passed as they are to the list endpoint, which does the work (see
//! `clavis_shared::paging`). Each page gives only its columns and how to draw its rows.

use clavis_shared::paging::{Page, encode};
use leptos::callback::Callback;
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use serde::de::IgnoredAny;

use crate::api;
use crate::widgets::{ErrorMessage, Loading};

/// A column: its header, and the list's sort field when it can be sorted by.
#[derive(Clone, Copy)]
pub struct Column {
    pub label: &'static str,
    pub sort: Option<&'static str>,
}

/// A sortable column.
pub const fn sorted(label: &'static str, field: &'static str) -> Column {
    Column {
        label,
        sort: Some(field),
    }
}

/// A column that cannot be sorted by.
pub const fn plain(label: &'static str) -> Column {
    Column { label, sort: None }
}

fn query_string(pairs: &[(String, String)]) -> String {
    let joined = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    if joined.is_empty() {
        joined
    } else {
        format!("?{joined}")
    }
}

/// The page's URL query: read its parameters, and go to the same page with some changed.
/// Made once per page (the router's hooks need the component's context), then copied into
/// event handlers.
#[derive(Clone, Copy)]
pub struct UrlQuery {
    query: Memo<ParamsMap>,
    path: Memo<String>,
    navigate: StoredValue<Navigate, LocalStorage>,
}

/// Goes to a path in the portal, as a new history entry.
type Navigate = Box<dyn Fn(&str)>;

impl UrlQuery {
    pub fn new() -> Self {
        let navigate = use_navigate();
        Self {
            query: use_query_map(),
            path: use_location().pathname,
            navigate: StoredValue::new_local(Box::new(move |to: &str| {
                navigate(to, Default::default())
            })),
        }
    }

    /// Every parameter, decoded, as (name, value) pairs (tracked).
    fn pairs(&self) -> Vec<(String, String)> {
        self.query.with(|query| {
            query
                .latest_values()
                .map(|(name, value)| (name.to_string(), value.to_owned()))
                .collect()
        })
    }

    /// One parameter's value ("" when absent), tracked.
    pub fn value(&self, name: &str) -> String {
        self.query.with(|query| query.get(name).unwrap_or_default())
    }

    /// Goes to this page with `changes` made to its URL query (an empty value removes one),
    /// as a new history entry, so Back returns to the previous state.
    pub fn change(&self, changes: &[(&str, String)]) {
        let mut pairs = untrack(|| self.pairs());
        for (name, value) in changes {
            pairs.retain(|(known, _)| known != name);
            pairs.push(((*name).to_owned(), value.clone()));
        }
        let to = format!("{}{}", self.path.get_untracked(), query_string(&pairs));
        self.navigate.with_value(|navigate| navigate(&to));
    }
}

#[component]
pub fn ListTable(
    /// The list endpoint, such as `/api/v1/organisations`.
    #[prop(into)]
    endpoint: String,
    /// Parameters always sent (such as the organisation of its detail page).
    #[prop(optional)]
    fixed: Vec<(&'static str, String)>,
    columns: Vec<Column>,
    /// The table's name, such as "Organisations".
    #[prop(into)]
    caption: String,
    /// What the search box searches, such as "Search by name or country".
    #[prop(into)]
    search_label: String,
    /// Draws the `<tr>`s of one page from the endpoint's answer (a `Page` of its items).
    rows: Callback<String, AnyView>,
    /// Bumped after a change, to load the page again.
    version: RwSignal<u32>,
) -> impl IntoView {
    let url = UrlQuery::new();
    let fixed = StoredValue::new(fixed);
    let answer = api::resource(move || {
        version.get();
        let mut pairs = url.pairs();
        fixed.with_value(|fixed| {
            pairs.extend(fixed.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
        });
        format!("{endpoint}{}", query_string(&pairs))
    });
    let q = Memo::new(move |_| url.value("q"));
    let sort = Memo::new(move |_| url.value("sort"));
    let typed = RwSignal::new(q.get_untracked());
    // Back and forward change the URL: the box shows what is searched.
    Effect::new(move |_| typed.set(q.get()));
    let search_id = format!("search-{}", caption.to_ascii_lowercase().replace(' ', "-"));
    let width = columns.len();
    let columns = StoredValue::new(columns);
    let caption_text = caption.clone();
    view! {
        <form role="search" class="filters" aria-label=format!("Search {}", caption.to_ascii_lowercase()) on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            url.change(&[("q", typed.get_untracked().trim().to_owned()), ("page", String::new())]);
        }>
            <div class="field">
                <label for=search_id.clone()>{search_label}</label>
                <input type="search" id=search_id prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev)) />
            </div>
            <button type="submit">"Search"</button>
            {move || (!q.get().is_empty()).then(|| view! {
                <button type="button" class="secondary" on:click=move |_| url.change(&[("q", String::new()), ("page", String::new())])>"Clear search"</button>
            })}
        </form>
        {move || match answer.get() {
            None => view! { <Loading what=caption_text.to_ascii_lowercase() /> }.into_any(),
            Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
            Some(Ok(text)) => match api::parse::<Page<IgnoredAny>>(&text) {
                Err(error) => view! { <ErrorMessage error=error /> }.into_any(),
                Ok(page) => {
                    let body = if page.total == 0 {
                        let empty = if q.get().is_empty() {
                            "Nothing here yet.".to_owned()
                        } else {
                            format!("Nothing matches \u{201c}{}\u{201d}.", q.get())
                        };
                        view! { <tr><td colspan=width class="empty">{empty}</td></tr> }.into_any()
                    } else {
                        rows.run(text)
                    };
                    view! {
                        <div class="table-wrap">
                            <table class="list">
                                <caption class="sr-only">{caption_text.clone()}</caption>
                                <thead><tr>{columns.get_value().into_iter().map(|column| header(column, sort, url)).collect_view()}</tr></thead>
                                <tbody>{body}</tbody>
                            </table>
                        </div>
                        <Pager page=page.page pages=page.pages() total=page.total url=url />
                    }
                    .into_any()
                }
            },
        }}
    }
}

/// A column header; a sortable one is a button that sorts by it (ascending, then
/// descending), with `aria-sort` saying how the table is sorted now.
fn header(column: Column, sort: Memo<String>, url: UrlQuery) -> AnyView {
    let Some(field) = column.sort else {
        return view! { <th scope="col">{column.label}</th> }.into_any();
    };
    let state = move || {
        let current = sort.get();
        if current == field {
            "ascending"
        } else if current.strip_prefix('-') == Some(field) {
            "descending"
        } else {
            "none"
        }
    };
    view! {
        <th scope="col" aria-sort=state>
            <button type="button" class="sort" on:click=move |_| {
                let next = if sort.get_untracked() == field { format!("-{field}") } else { field.to_owned() };
                url.change(&[("sort", next), ("page", String::new())]);
            }>
                {column.label}
                <span aria-hidden="true">{move || match state() { "ascending" => " ▲", "descending" => " ▼", _ => "" }}</span>
            </button>
        </th>
    }
    .into_any()
}

/// "Page 2 of 80" with Previous and Next; only the number of results when they fit on one
/// page.
#[component]
fn Pager(page: i64, pages: i64, total: i64, url: UrlQuery) -> impl IntoView {
    let go = move |to: i64| {
        url.change(&[(
            "page",
            if to <= 1 {
                String::new()
            } else {
                to.to_string()
            },
        )])
    };
    let rows = if total == 1 {
        "1 result".to_owned()
    } else {
        format!("{total} results")
    };
    if total > 0 && page > pages {
        // A link or a hand-typed URL past the end: say so, with the way back.
        let span = if pages == 1 {
            format!("the {rows} fit on one page")
        } else {
            format!("the {rows} fill {pages} pages")
        };
        return view! {
            <nav class="pager" aria-label="Pages">
                <span aria-live="polite">{format!("There is no page {page}: {span}.")}</span>
                <button type="button" class="secondary" on:click=move |_| go(1)>"First page"</button>
            </nav>
        }
        .into_any();
    }
    if pages <= 1 {
        return view! { <p class="pager" aria-live="polite">{rows}</p> }.into_any();
    }
    view! {
        <nav class="pager" aria-label="Pages">
            <button type="button" class="secondary" disabled={page <= 1} on:click=move |_| go(page - 1)>"Previous"</button>
            <span aria-live="polite">{format!("Page {page} of {pages} · {rows}")}</span>
            <button type="button" class="secondary" disabled={page >= pages} on:click=move |_| go(page + 1)>"Next"</button>
        </nav>
    }
    .into_any()
}
