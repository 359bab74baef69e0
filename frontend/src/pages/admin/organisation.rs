//! One organisation's page for admins: its details (edited in a dialog), its applications
//! (the shared list table, with a dialog for a new one), its contacts (people with a role
//! there) and its recent audit events.

use clavis_shared::admin::Person;
use clavis_shared::dto::{Api, Environment, Organisation};
use clavis_shared::paging::Page;
use clavis_shared::portal::{AuditPage, CreateApplication, UpdateOrganisation};
use leptos::callback::Callback;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::admin_page;
use super::applications::application_row;
use super::form::{FormDialog, checkbox, flag, is_set, run, select, text};
use super::organisations::MAILBOX_LABEL;
use super::table::{ListTable, plain, sorted};
use crate::api;
use crate::logic;
use crate::widgets::{ErrorMessage, Loading, me, page_title, role_name};

#[component]
pub fn OrganisationPage() -> impl IntoView {
    admin_page("Organisation", || {
        let params = use_params_map();
        let id = move || params.read().get("id").unwrap_or_default();
        let version = RwSignal::new(0u32);
        let organisation = api::resource(move || {
            version.get();
            format!("/api/v1/organisations/{}", id())
        });
        (move || match api::loaded::<Organisation>(organisation) {
            None => view! { <Loading what="the organisation" /> }.into_any(),
            Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
            Some(Ok(organisation)) => {
                page_title(organisation.name.clone());
                view! { <Details organisation=organisation version=version /> }.into_any()
            }
        })
        .into_any()
    })
}

#[component]
fn Details(organisation: Organisation, version: RwSignal<u32>) -> impl IntoView {
    let id = organisation.id.clone();
    let apps_version = RwSignal::new(0u32);
    let rows = Callback::new(|text: String| {
        match api::parse::<Page<clavis_shared::admin::ApplicationListing>>(&text) {
            Ok(page) => page
                .items
                .into_iter()
                .map(|a| application_row(a, false))
                .collect_view()
                .into_any(),
            Err(error) => {
                view! { <tr><td colspan="4" class="error">{error.message}</td></tr> }.into_any()
            }
        }
    });
    view! {
        <section class="card">
            <p class="crumb"><A href="/admin/organisations">"Organisations"</A></p>
            <div class="row">
                <h1>{organisation.name.clone()} {organisation.sandbox.then(|| view! { " " <span class="badge sandbox">"sandbox"</span> })}</h1>
                <EditOrganisation organisation=organisation.clone() version=version />
            </div>
            <dl class="facts">
                <dt>"Country"</dt>
                <dd>{organisation.country.clone()}</dd>
                <dt>"Reminder mailbox"</dt>
                <dd>{organisation.notification_email.clone().unwrap_or_else(|| "none: reminders go to the credential managers only".to_owned())}</dd>
                <dt>"Created"</dt>
                <dd>{logic::date(organisation.created_at)}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="org-apps-title">
            <div class="row">
                <h2 id="org-apps-title">"Applications"</h2>
                <NewApplication organisation=organisation.clone() version=apps_version />
            </div>
            <ListTable
                endpoint="/api/v1/applications"
                fixed=vec![("organisation", id.clone())]
                columns=vec![sorted("Name", "name"), plain("APIs"), sorted("Environment", "environment"), sorted("Status", "enabled")]
                caption="Applications"
                search_label="Search by name or client_id"
                rows=rows
                version=apps_version
            />
        </section>
        <Contacts organisation_id=id.clone() />
        <RecentAudit organisation_id=id />
    }
}

#[component]
fn EditOrganisation(organisation: Organisation, version: RwSignal<u32>) -> impl IntoView {
    let (name, country, mailbox) = (
        RwSignal::new(organisation.name.clone()),
        RwSignal::new(organisation.country.clone()),
        RwSignal::new(organisation.notification_email.clone().unwrap_or_default()),
    );
    let sandbox = flag(organisation.sandbox);
    let error = RwSignal::new(None);
    let path = format!("/api/v1/organisations/{}", organisation.id);
    let csrf = me().csrf_token;
    let save = Callback::new(move |close: Callback<()>| {
        let body = UpdateOrganisation {
            name: Some(name.get()),
            country: Some(country.get()),
            sandbox: Some(is_set(sandbox)),
            notification_email: Some(mailbox.get()),
        };
        let said = format!("Saved the organisation {}.", name.get());
        run(
            api::patch(&path, &body, &csrf),
            error,
            version,
            said,
            move || close.run(()),
        );
    });
    let inputs = Callback::new(move |()| {
        vec![
            text("org-name", "Name", name, ""),
            text("org-country", "Country (ISO code)", country, ""),
            checkbox("org-sandbox", "Sandbox only", sandbox),
            text("org-mailbox", MAILBOX_LABEL, mailbox, ""),
        ]
    });
    view! {
        <FormDialog
            opener="Edit"
            opener_label=format!("Edit {}", organisation.name)
            title=format!("Edit {}", organisation.name)
            inputs=inputs
            submit="Save"
            on_submit=save
            error=error
            class="secondary"
        />
    }
}

#[component]
fn NewApplication(organisation: Organisation, version: RwSignal<u32>) -> impl IntoView {
    let apis = api::resource(|| "/api/v1/apis?per_page=100".to_owned());
    let api_code = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let environment = RwSignal::new(
        if organisation.sandbox {
            "sandbox"
        } else {
            "production"
        }
        .to_owned(),
    );
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let organisation = StoredValue::new(organisation);
    let create = Callback::new(move |close: Callback<()>| {
        let typed = name.get();
        let body = CreateApplication {
            organisation_id: organisation.with_value(|o| o.id.clone()),
            // Without a name the server gives the conventional one (one rule, in one place).
            name: (!typed.trim().is_empty()).then_some(typed),
            api_codes: vec![api_code.get()],
            environment: Some(if environment.get() == "sandbox" {
                Environment::Sandbox
            } else {
                Environment::Production
            }),
            ..Default::default()
        };
        run(
            api::post("/api/v1/applications", &body, &csrf),
            error,
            version,
            "Created the application.".to_owned(),
            move || {
                name.set(String::new());
                close.run(());
            },
        );
    });
    let inputs = move |list: Vec<Api>| {
        Callback::new(move |()| {
            if api_code.get_untracked().is_empty() {
                api_code.set(list.first().map(|a| a.code.clone()).unwrap_or_default());
            }
            let choices = list
                .iter()
                .map(|a| (a.code.clone(), format!("{} ({})", a.code, a.name)))
                .collect();
            let environments = ["production", "sandbox"]
                .map(|e| (e.to_owned(), e.to_owned()))
                .to_vec();
            vec![
                select("app-api", "API", api_code, choices),
                text(
                    "app-name",
                    "Name (empty: the conventional one)",
                    name,
                    &organisation.with_value(|o| format!("Partner-{}-Organisation-API", o.country)),
                ),
                select("app-env", "Environment", environment, environments),
            ]
        })
    };
    let label = organisation.with_value(|o| format!("New application for {}", o.name));
    // The dialog needs the APIs to offer: its button appears once they are loaded.
    move || {
        api::loaded::<Page<Api>>(apis)
            .and_then(Result::ok)
            .map(|page| {
                view! {
                    <FormDialog
                        opener="New application"
                        opener_label=label.clone()
                        title=label.clone()
                        inputs=inputs(page.items)
                        submit="Create application"
                        on_submit=create
                        error=error
                    />
                }
            })
    }
}

/// The people with a role in the organisation.
#[component]
fn Contacts(organisation_id: String) -> impl IntoView {
    let path = format!("/api/v1/people?organisation={organisation_id}&per_page=100");
    let people = api::resource(move || path.clone());
    let id = organisation_id.clone();
    view! {
        <section class="card" aria-labelledby="contacts-title">
            <div class="row">
                <h2 id="contacts-title">"Contacts"</h2>
                <A href=format!("/admin/people?organisation={organisation_id}")>"Grant or revoke roles"</A>
            </div>
            {move || match api::loaded::<Page<Person>>(people) {
                None => view! { <Loading what="contacts" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <p class="empty">"Nobody has a role here yet."</p> }.into_any(),
                Some(Ok(page)) => view! {
                    <ul class="plain">
                        {page.items.into_iter().map(|person| {
                            let roles = person.roles.iter()
                                .filter(|r| r.organisation_id.as_deref() == Some(id.as_str()))
                                .map(|r| role_name(r.role))
                                .collect::<Vec<_>>()
                                .join(", ");
                            let who = person.email.clone().or(person.subject.clone()).unwrap_or_default();
                            let seen = person.last_sign_in_at.map_or("never signed in".to_owned(), |at| format!("last sign-in {}", logic::date(at)));
                            view! { <li><strong>{who}</strong>{format!(": {roles}; {seen}")}</li> }
                        }).collect_view()}
                    </ul>
                }
                .into_any(),
            }}
        </section>
    }
}

/// The organisation's ten newest audit events.
#[component]
fn RecentAudit(organisation_id: String) -> impl IntoView {
    let path = format!("/api/v1/audit-events?organisation_id={organisation_id}&per_page=10");
    let events = api::resource(move || path.clone());
    view! {
        <section class="card" aria-labelledby="recent-audit-title">
            <div class="row">
                <h2 id="recent-audit-title">"Recent audit events"</h2>
                <A href=format!("/audit?organisation={organisation_id}")>"Full audit log"</A>
            </div>
            {move || match api::loaded::<AuditPage>(events) {
                None => view! { <Loading what="audit events" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(page)) if page.events.is_empty() => view! { <p class="empty">"No events yet."</p> }.into_any(),
                Some(Ok(page)) => view! {
                    <ul class="plain">
                        {page.events.into_iter().map(|event| view! {
                            <li>{format!("{} · {}", logic::date_time(event.occurred_at), event.summary)}</li>
                        }).collect_view()}
                    </ul>
                }
                .into_any(),
            }}
        </section>
    }
}
