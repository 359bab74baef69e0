//! People and their roles: search by e-mail, name or subject, filter by organisation and
//! role, sort and page by the server; grant a role and revoke one.
//!
//! The grant form sits outside the table and keeps its role and organisation after each
//! grant (only the e-mail empties), so a series of grants goes where the admin chose; the
//! table reloads on its own without touching the form.

use clavis_shared::admin::{Person, PersonRole};
use clavis_shared::audit::recorded_actor;
use clavis_shared::dto::{Organisation, Role};
use clavis_shared::paging::Page;
use clavis_shared::portal::GrantRole;
use leptos::callback::Callback;
use leptos::prelude::*;

use super::admin_page;
use super::form::{Form, render_input, run, select, suggest, text};
use super::table::{ListTable, UrlQuery, plain, sorted};
use crate::api;
use crate::logic;
use crate::widgets::{ErrorSlot, me, role_name};

const ROLES: [Role; 3] = [Role::CredentialManager, Role::Viewer, Role::Admin];

#[component]
pub fn People() -> impl IntoView {
    admin_page("People", || {
        let version = RwSignal::new(0u32);
        let rows = Callback::new(
            move |text: String| match api::parse::<Page<Person>>(&text) {
                Ok(page) => page
                    .items
                    .into_iter()
                    .map(|p| row(p, version))
                    .collect_view()
                    .into_any(),
                Err(error) => {
                    view! { <tr><td colspan="3" class="error">{error.message}</td></tr> }.into_any()
                }
            },
        );
        view! {
            <h1>"People and roles"</h1>
            <Grant version=version />
            <section class="card" aria-labelledby="people-title">
                <h2 id="people-title">"People"</h2>
                <Filters />
                <ListTable
                    endpoint="/api/v1/people"
                    columns=vec![sorted("Person", "email"), plain("Roles"), sorted("Last sign-in", "last_sign_in")]
                    caption="People"
                    search_label="Search by e-mail address or name"
                    rows=rows
                    version=version
                />
            </section>
        }
        .into_any()
    })
}

/// The role and organisation filters, kept in the URL like the search.
#[component]
fn Filters() -> impl IntoView {
    let url = UrlQuery::new();
    let role = Memo::new(move |_| url.value("role"));
    let organisation = Memo::new(move |_| url.value("organisation"));
    let chosen = RwSignal::new(role.get_untracked());
    Effect::new(move |_| chosen.set(role.get()));
    Effect::new(move |previous: Option<String>| {
        let now = chosen.get();
        if previous.is_some() && now != role.get_untracked() {
            url.change(&[("role", now.clone()), ("page", String::new())]);
        }
        now
    });
    let choices = std::iter::once((String::new(), "Any role".to_owned()))
        .chain(ROLES.map(|r| (r.as_str().to_owned(), role_name(r).to_owned())))
        .collect();
    let named = api::resource(move || {
        let id = organisation.get();
        if id.is_empty() {
            String::new()
        } else {
            format!("/api/v1/organisations/{id}")
        }
    });
    view! {
        <div class="filters">
            {render_input(select("filter-role", "Role", chosen, choices))}
            {move || (!organisation.get().is_empty()).then(|| {
                let name = api::loaded::<Organisation>(named)
                    .and_then(Result::ok)
                    .map_or_else(|| organisation.get(), |o| o.name);
                view! {
                    <p class="notice">
                        {format!("Only people with a role at {name}. ")}
                        <button type="button" class="link" on:click=move |_| url.change(&[("organisation", String::new()), ("page", String::new())])>"Show everyone"</button>
                    </p>
                }
            })}
        </div>
    }
}

fn row(person: Person, version: RwSignal<u32>) -> impl IntoView {
    let own = person.id == me().user.id;
    let who = person
        .email
        .clone()
        .or(person.subject.clone())
        .unwrap_or_default();
    let roles = if person.roles.is_empty() {
        view! { <li class="muted">"No roles"</li> }.into_any()
    } else {
        person
            .roles
            .into_iter()
            .map(|role| role_item(role, who.clone(), own, version))
            .collect_view()
            .into_any()
    };
    view! {
        <tr>
            <td class="name">
                <strong>{who.clone()}</strong>
                {person.name.map(|name| view! { <br /> <span class="muted">{name}</span> })}
            </td>
            <td data-label="Roles"><ul class="plain">{roles}</ul></td>
            <td class="nowrap" data-label="Last sign-in">{person.last_sign_in_at.map_or("never".to_owned(), logic::date_time)}</td>
        </tr>
    }
}

/// One role with its revoke button, which asks for a second click; revoking one's own role
/// says first what the person is about to lose.
fn role_item(role: PersonRole, who: String, own: bool, version: RwSignal<u32>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let path = format!("/api/v1/role-assignments/{}", role.id);
    let place = role
        .organisation_name
        .clone()
        .unwrap_or_else(|| "the whole platform".to_owned());
    let what = format!("{} of {place}", role_name(role.role));
    let said = format!("Revoked {what} from {who}.");
    // A refused revoke (the last admin role) goes back to its first step.
    Effect::new(move |_| {
        if error.get().is_some() {
            confirming.set(false);
        }
    });
    let revoke = move |_| {
        if !confirming.get() {
            confirming.set(true);
            return;
        }
        let (path, csrf) = (path.clone(), csrf.clone());
        run(
            async move { api::delete(&path, &csrf).await },
            error,
            version,
            said.clone(),
            || {},
        );
    };
    let label = format!("Revoke {what} from {who}");
    let warning = format!(
        "This is your own role: once it is revoked, you are no longer {what}{}.",
        if role.role == Role::Admin {
            " and lose the admin pages as soon as you leave this one"
        } else {
            ""
        }
    );
    view! {
        <li>
            {format!("{what}, granted {} by {} ", logic::date(role.granted_at), recorded_actor(&role.granted_by))}
            <button type="button" class="danger" aria-label=move || if confirming.get() { format!("Confirm: {label}") } else { label.clone() } on:click=revoke>
                {move || if confirming.get() { "Confirm revoke" } else { "Revoke" }}
            </button>
            {move || {
                confirming
                    .get()
                    .then(|| {
                        view! {
                            <button type="button" class="secondary" on:click=move |_| confirming.set(false)>
                                "Cancel"
                            </button>
                        }
                    })
            }}
            {move || {
                (own && confirming.get())
                    .then(|| view! { <p class="warning" role="alert">{warning.clone()}</p> })
            }}
            <ErrorSlot error=error />
        </li>
    }
}

/// The grant form. Its organisation field takes a name (or id) and suggests organisations
/// matching what is typed, so it works with thousands of them.
#[component]
fn Grant(version: RwSignal<u32>) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::CredentialManager.as_str().to_owned());
    let organisation = RwSignal::new(String::new());
    // Coming from an organisation's page: its name is the first choice.
    let url = UrlQuery::new();
    let filtered = url.value("organisation");
    let from_page = api::resource(move || {
        let id = filtered.clone();
        if id.is_empty() {
            String::new()
        } else {
            format!("/api/v1/organisations/{id}")
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(found)) = api::loaded::<Organisation>(from_page)
            && organisation.get_untracked().is_empty()
        {
            organisation.set(found.name);
        }
    });
    let suggestions = api::resource(move || {
        format!(
            "/api/v1/organisations?per_page=10&q={}",
            api::encode(organisation.get().trim())
        )
    });
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let grant = Callback::new(move |()| {
        let chosen = role.get().parse::<Role>().unwrap_or(Role::Viewer);
        let body = GrantRole {
            email: Some(email.get()),
            subject: None,
            role: chosen,
            organisation_id: (chosen != Role::Admin).then(|| organisation.get()),
        };
        let said = format!(
            "{} is now {} {}{}.",
            email.get().trim(),
            if chosen == Role::Admin { "an" } else { "a" },
            role_name(chosen).to_ascii_lowercase(),
            if chosen == Role::Admin {
                String::new()
            } else {
                format!(" of {}", organisation.get().trim())
            }
        );
        run(
            api::post("/api/v1/role-assignments", &body, &csrf),
            error,
            version,
            said,
            move || email.set(String::new()),
        );
    });
    let roles = ROLES
        .map(|r| (r.as_str().to_owned(), role_name(r).to_owned()))
        .to_vec();
    view! {
        <section class="card" aria-label="Grant a role">
            <p class="help">"People who have not signed in yet get the role at their first sign-in, when their identity provider confirms the e-mail address. The admin role is platform-wide: the organisation is ignored."</p>
            <Form
                title="Grant a role"
                inputs=vec![
                    text("grant-email", "E-mail address", email, "ann@example.org"),
                    select("grant-role", "Role", role, roles),
                    suggest("grant-org", "Organisation (name)", organisation, "grant-org-choices"),
                ]
                submit="Grant"
                on_submit=grant
                error=error
            />
            <datalist id="grant-org-choices">
                {move || api::loaded::<Page<Organisation>>(suggestions)
                    .and_then(Result::ok)
                    .map(|page| page.items.into_iter().map(|o| view! { <option value=o.name /> }).collect_view())}
            </datalist>
        </section>
    }
}
