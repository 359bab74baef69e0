//! Platform administration: organisations, APIs, applications, and who may do what.
//! Only admins see this page; the server refuses everyone else anyway.
//!
//! The forms are data (a list of [`Input`]s rendered by one [`Form`] component) rather than
//! one hand-written view each: the same page in a fraction of the WASM.

use clavis_shared::dto::{Api, Environment, Organisation, Role, RoleAssignment, SigningAlgorithm};
use clavis_shared::paging::Page;
use clavis_shared::portal::{
    ApplicationSummary, CreateApi, CreateApplication, CreateOrganisation, FailingAddress,
    GrantRequest, GrantRole, UpdateApi, UpdateApplication, UpdateOrganisation,
};
use leptos::callback::Callback;
use leptos::prelude::*;
use leptos_router::components::A;
use std::future::Future;

use crate::api::{self, ApiResult};
use crate::logic;
use crate::widgets::{
    EnabledBadge, EnvironmentBadge, ErrorMessage, ErrorSlot, Loading, me, page_title, role_name,
};

/// Runs an API call; on success bumps `version` (so every list shows the new state) and
/// calls `done`; on failure puts its message in `error`.
fn run(
    call: impl Future<Output = ApiResult<String>> + 'static,
    error: RwSignal<Option<String>>,
    version: RwSignal<u32>,
    done: impl FnOnce() + 'static,
) {
    error.set(None);
    leptos::task::spawn_local(async move {
        match call.await {
            Ok(_) => {
                done();
                version.update(|v| *v += 1);
            }
            Err(failed) => error.set(Some(failed.message)),
        }
    });
}

/// One control of a form, bound to a signal (checkboxes hold "true" or "false").
#[derive(Clone)]
struct Input {
    id: String,
    label: String,
    kind: Kind,
    value: RwSignal<String>,
}

#[derive(Clone)]
enum Kind {
    Text(String),
    Checkbox,
    /// (value, label) pairs.
    Select(Vec<(String, String)>),
}

fn text(id: &str, label: &str, value: RwSignal<String>, placeholder: &str) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Text(placeholder.to_owned()),
        value,
    }
}

fn checkbox(id: &str, label: &str, value: RwSignal<String>) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Checkbox,
        value,
    }
}

fn select(id: &str, label: &str, value: RwSignal<String>, options: Vec<(String, String)>) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Select(options),
        value,
    }
}

/// The signing algorithm select: every algorithm, after "" (the server's default) when
/// `with_default` (a new API, or one registered before APIs had their own).
fn algorithm(id: &str, value: RwSignal<String>, with_default: bool) -> Input {
    let default = with_default.then(|| (String::new(), "Server default".to_owned()));
    let algorithms = SigningAlgorithm::ALL.map(|a| (a.as_str().to_owned(), a.as_str().to_owned()));
    select(
        id,
        "Token signing",
        value,
        default.into_iter().chain(algorithms).collect(),
    )
}

fn flag(value: bool) -> RwSignal<String> {
    RwSignal::new(value.to_string())
}

fn is_set(value: RwSignal<String>) -> bool {
    value.get() == "true"
}

/// A form of [`Input`]s with a submit button and the error of its last submission.
#[component]
fn Form(
    #[prop(into)] title: String,
    inputs: Vec<Input>,
    #[prop(into)] submit: String,
    on_submit: Callback<()>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    view! {
        <form class="inline" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            on_submit.run(());
        }>
            <h3>{title}</h3>
            {inputs.into_iter().map(render_input).collect_view()}
            <button type="submit">{submit}</button>
            <ErrorSlot error=error />
        </form>
    }
}

fn render_input(input: Input) -> AnyView {
    let Input {
        id,
        label,
        kind,
        value,
    } = input;
    match kind {
        Kind::Text(placeholder) => view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <input id=id placeholder=placeholder prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
            </div>
        }
        .into_any(),
        Kind::Checkbox => view! {
            <div class="choice">
                <input type="checkbox" id=id.clone() prop:checked=move || is_set(value) on:change=move |ev| value.set(event_target_checked(&ev).to_string()) />
                <label for=id>{label}</label>
            </div>
        }
        .into_any(),
        Kind::Select(options) => view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <select id=id prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))>
                    {options
                        .into_iter()
                        .map(|(option, text)| {
                            let chosen = option.clone();
                            view! { <option value=option prop:selected=move || value.get() == chosen>{text}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
        }
        .into_any(),
    }
}

#[component]
pub fn Admin() -> impl IntoView {
    page_title("Admin");
    if !me().admin {
        return view! {
            <section class="card">
                <h1>"Admin"</h1>
                <p class="error" role="alert">"Only platform admins may use this page."</p>
            </section>
        }
        .into_any();
    }
    let version = RwSignal::new(0u32);
    // Kept here so the chosen organisation survives the page re-rendering after a change.
    let selected = RwSignal::new(String::new());
    let organisations = api::resource(move || {
        version.get();
        "/api/v1/organisations?per_page=100".to_owned()
    });
    let apis = api::resource(move || {
        version.get();
        "/api/v1/apis?per_page=100".to_owned()
    });
    view! {
        <h1>"Admin"</h1>
        {move || match (api::loaded::<Page<Organisation>>(organisations), api::loaded::<Page<Api>>(apis)) {
            (Some(Ok(Page { items: organisations, .. })), Some(Ok(Page { items: apis, .. }))) => view! {
                <FailingAddresses />
                <Organisations organisations=organisations.clone() version=version />
                <Apis apis=apis.clone() version=version />
                <Applications organisations=organisations.clone() apis=apis selected=selected version=version />
                <People organisations=organisations version=version />
            }
            .into_any(),
            (Some(Err(error)), _) | (_, Some(Err(error))) => view! { <ErrorMessage error=error /> }.into_any(),
            _ => view! { <Loading what="organisations and APIs" /> }.into_any(),
        }}
    }
    .into_any()
}

/// Addresses that expiry reminders keep failing to reach: a contact who left, a typo. One
/// line of text per address (a single text node keeps this panel small in the WASM).
#[component]
fn FailingAddresses() -> impl IntoView {
    let failing = api::resource(|| "/api/v1/reminders/failing".to_owned());
    let summary = move || match api::loaded::<Vec<FailingAddress>>(failing) {
        None => "Loading…".to_owned(),
        Some(Err(error)) => error.message,
        Some(Ok(list)) if list.is_empty() => "Every recent reminder got through.".to_owned(),
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
    };
    view! {
        <section class="card" aria-labelledby="failing-title">
            <h2 id="failing-title">"Undeliverable expiry reminders"</h2>
            <p class="lines" aria-live="polite">{summary}</p>
        </section>
    }
}

#[component]
fn Organisations(organisations: Vec<Organisation>, version: RwSignal<u32>) -> impl IntoView {
    let csrf = me().csrf_token;
    let forms = organisations
        .into_iter()
        .map(|organisation| {
            let (name, country, mailbox) = (
                RwSignal::new(organisation.name.clone()),
                RwSignal::new(organisation.country.clone()),
                RwSignal::new(organisation.notification_email.clone().unwrap_or_default()),
            );
            let sandbox = flag(organisation.sandbox);
            let error = RwSignal::new(None);
            let path = format!("/api/v1/organisations/{}", organisation.id);
            let csrf = csrf.clone();
            let save = Callback::new(move |()| {
                let body = UpdateOrganisation {
                    name: Some(name.get()),
                    country: Some(country.get()),
                    sandbox: Some(is_set(sandbox)),
                    notification_email: Some(mailbox.get()),
                };
                run(api::patch(&path, &body, &csrf), error, version, || {});
            });
            let id = &organisation.id;
            view! {
                <Form
                    title=format!("{} ({})", organisation.name, organisation.country)
                    inputs=vec![
                        text(&format!("org-name-{id}"), "Name", name, ""),
                        text(&format!("org-country-{id}"), "Country (ISO code)", country, ""),
                        checkbox(&format!("org-sandbox-{id}"), "Sandbox only", sandbox),
                        text(&format!("org-mailbox-{id}"), MAILBOX_LABEL, mailbox, ""),
                    ]
                    submit="Save"
                    on_submit=save
                    error=error
                />
            }
        })
        .collect_view();
    let (name, country, mailbox, sandbox) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        flag(false),
    );
    let error = RwSignal::new(None);
    let create = Callback::new(move |()| {
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
        };
        run(
            api::post("/api/v1/organisations", &body, &csrf),
            error,
            version,
            done,
        );
    });
    view! {
        <section class="card" aria-labelledby="orgs-title">
            <h2 id="orgs-title">"Organisations"</h2>
            {forms}
            <Form
                title="New organisation"
                inputs=vec![
                    text("org-name", "Name", name, "Acme"),
                    text("org-country", "Country (ISO code)", country, "NL"),
                    checkbox("org-sandbox", "Sandbox only", sandbox),
                    text("org-mailbox", MAILBOX_LABEL, mailbox, "integration@acme.example"),
                ]
                submit="Create organisation"
                on_submit=create
                error=error
            />
        </section>
    }
}

const SERVERS_LABEL: &str = "Resource servers (client_ids, space-separated)";

const MAILBOX_LABEL: &str = "Expiry reminders also to (optional)";

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// client_ids separated by spaces or commas (as the CLI takes them).
fn client_ids(text: &str) -> Vec<String> {
    words(&text.replace(',', " "))
}

#[component]
fn Apis(apis: Vec<Api>, version: RwSignal<u32>) -> impl IntoView {
    let csrf = me().csrf_token;
    let forms = apis
        .into_iter()
        .map(|api| {
            let (name, scopes) = (
                RwSignal::new(api.name.clone()),
                RwSignal::new(api.scopes.join(" ")),
            );
            let servers = RwSignal::new(api.resource_servers.join(" "));
            let alg = RwSignal::new(
                api.signing_alg
                    .map_or("", SigningAlgorithm::as_str)
                    .to_owned(),
            );
            let error = RwSignal::new(None);
            let path = format!("/api/v1/apis/{}", api.code);
            let csrf = csrf.clone();
            let save = Callback::new(move |()| {
                let body = UpdateApi {
                    name: Some(name.get()),
                    scopes: Some(words(&scopes.get())),
                    resource_servers: Some(client_ids(&servers.get())),
                    signing_alg: SigningAlgorithm::named(&alg.get()),
                };
                run(api::patch(&path, &body, &csrf), error, version, || {});
            });
            let code = &api.code;
            view! {
                <Form
                    title=format!("{} ({})", api.code, api.audience)
                    inputs=vec![
                        text(&format!("api-name-{code}"), "Name", name, ""),
                        text(&format!("api-scopes-{code}"), "Scopes (space-separated)", scopes, ""),
                        text(&format!("api-servers-{code}"), SERVERS_LABEL, servers, ""),
                        algorithm(&format!("api-alg-{code}"), alg, api.signing_alg.is_none()),
                    ]
                    submit="Save"
                    on_submit=save
                    error=error
                />
            }
        })
        .collect_view();
    let fields: [RwSignal<String>; 6] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let [code, name, audience, scopes, servers, alg] = fields;
    let error = RwSignal::new(None);
    let create = Callback::new(move |()| {
        let body = CreateApi {
            code: code.get(),
            name: name.get(),
            audience: audience.get(),
            scopes: words(&scopes.get()),
            resource_servers: client_ids(&servers.get()),
            signing_alg: SigningAlgorithm::named(&alg.get()),
        };
        let done = move || fields.iter().for_each(|field| field.set(String::new()));
        run(
            api::post("/api/v1/apis", &body, &csrf),
            error,
            version,
            done,
        );
    });
    view! {
        <section class="card" aria-labelledby="apis-title">
            <h2 id="apis-title">"APIs and scopes"</h2>
            <p class="help">"A scope that applications still hold cannot be removed: take it away from them first. Resource servers are the applications that may introspect the API's tokens, besides each token's own client."</p>
            {forms}
            <Form
                title="New API"
                inputs=vec![
                    text("api-code", "Code", code, "SMC"),
                    text("api-name", "Name", name, "Ship Manifests"),
                    text("api-audience", "Audience (aud)", audience, "https://api.example.org/smc"),
                    text("api-scopes", "Scopes (space-separated)", scopes, "manifest.read manifest.write"),
                    text("api-servers", SERVERS_LABEL, servers, ""),
                    algorithm("api-alg", alg, true),
                ]
                submit="Create API"
                on_submit=create
                error=error
            />
        </section>
    }
}

#[component]
fn Applications(
    organisations: Vec<Organisation>,
    apis: Vec<Api>,
    selected: RwSignal<String>,
    version: RwSignal<u32>,
) -> impl IntoView {
    if !organisations
        .iter()
        .any(|o| o.id == selected.get_untracked())
    {
        selected.set(
            organisations
                .first()
                .map(|o| o.id.clone())
                .unwrap_or_default(),
        );
    }
    let applications = api::resource(move || {
        version.get();
        format!("/api/v1/organisations/{}/applications", selected.get())
    });
    let choices: Vec<(String, String)> = organisations
        .iter()
        .map(|o| (o.id.clone(), o.name.clone()))
        .collect();
    let apis = StoredValue::new(apis);
    let organisations = StoredValue::new(organisations);
    view! {
        <section class="card" aria-labelledby="apps-title">
            <h2 id="apps-title">"Applications"</h2>
            {render_input(select("apps-org", "Organisation", selected, choices))}
            {move || match api::loaded::<Vec<ApplicationSummary>>(applications) {
                None => view! { <Loading what="applications" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p class="empty">"No applications yet."</p> }.into_any(),
                Some(Ok(list)) => list
                    .into_iter()
                    .map(|summary| application_editor(summary, &apis.get_value(), version))
                    .collect_view()
                    .into_any(),
            }}
            {move || {
                let organisation = organisations.with_value(|all| all.iter().find(|o| o.id == selected.get()).cloned());
                organisation.map(|organisation| new_application(organisation, &apis.get_value(), version))
            }}
        </section>
    }
}

fn new_application(organisation: Organisation, apis: &[Api], version: RwSignal<u32>) -> AnyView {
    let api_code = RwSignal::new(apis.first().map(|a| a.code.clone()).unwrap_or_default());
    let name = RwSignal::new(String::new());
    let sandbox = if organisation.sandbox {
        "sandbox"
    } else {
        "production"
    };
    let environment = RwSignal::new(sandbox.to_owned());
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let (country, org_name, organisation_id) = (
        organisation.country.clone(),
        organisation.name.clone(),
        organisation.id.clone(),
    );
    let suggestion = move || logic::suggested_name(&country, &org_name, &api_code.get());
    let create = {
        let suggestion = suggestion.clone();
        Callback::new(move |()| {
            let typed = name.get();
            let body = CreateApplication {
                organisation_id: organisation_id.clone(),
                name: Some(if typed.trim().is_empty() {
                    suggestion()
                } else {
                    typed
                }),
                api_codes: vec![api_code.get()],
                environment: Some(if environment.get() == "sandbox" {
                    Environment::Sandbox
                } else {
                    Environment::Production
                }),
                description: String::new(),
                token_lifetime_secs: None,
                client_id: None,
            };
            run(
                api::post("/api/v1/applications", &body, &csrf),
                error,
                version,
                move || name.set(String::new()),
            );
        })
    };
    let api_choices = apis
        .iter()
        .map(|a| (a.code.clone(), format!("{} ({})", a.code, a.name)))
        .collect();
    let environments = ["production", "sandbox"]
        .map(|e| (e.to_owned(), e.to_owned()))
        .to_vec();
    view! {
        <p class="help">{move || format!("Leave the name empty for the conventional one: {}", suggestion())}</p>
        <Form
            title=format!("New application for {}", organisation.name)
            inputs=vec![
                select("app-api", "API", api_code, api_choices),
                text("app-name", "Name", name, "Partner-CC-Organisation-API"),
                select("app-env", "Environment", environment, environments),
            ]
            submit="Create application"
            on_submit=create
            error=error
        />
    }
    .into_any()
}

/// One application: enable or disable it, its token lifetime, and its scopes.
fn application_editor(
    summary: ApplicationSummary,
    apis: &[Api],
    version: RwSignal<u32>,
) -> AnyView {
    let application = summary.application;
    let csrf = me().csrf_token;
    let path = format!("/api/v1/applications/{}", application.client_id);
    let error = RwSignal::new(None);
    let lifetime = RwSignal::new((application.token_lifetime_secs / 60).to_string());
    let key = application.client_id.clone();
    // One checkbox per scope of every API: (API code, scope, checked).
    let scopes: Vec<(String, String, RwSignal<String>)> = apis
        .iter()
        .flat_map(|api| {
            let held = application.grants.iter().find(|g| g.api_code == api.code);
            api.scopes.iter().map(move |scope| {
                let on = held.is_some_and(|g| g.scopes.contains(scope));
                (api.code.clone(), scope.clone(), flag(on))
            })
        })
        .collect();
    let mut inputs = vec![text(
        &format!("lifetime-{key}"),
        "Token lifetime (minutes)",
        lifetime,
        "",
    )];
    inputs.extend(scopes.iter().map(|(code, scope, on)| {
        checkbox(
            &format!("scope-{key}-{code}-{scope}"),
            &format!("{code}: {scope}"),
            *on,
        )
    }));
    let toggle = {
        let (path, csrf, enabled) = (path.clone(), csrf.clone(), application.enabled);
        move |_| {
            let body = UpdateApplication {
                enabled: Some(!enabled),
                ..Default::default()
            };
            run(api::patch(&path, &body, &csrf), error, version, || {});
        }
    };
    let save = Callback::new(move |()| {
        let Ok(minutes) = lifetime.get().trim().parse::<i32>() else {
            error.set(Some(
                "The token lifetime is a whole number of minutes.".to_owned(),
            ));
            return;
        };
        let mut grants: Vec<GrantRequest> = Vec::new();
        for (code, scope, on) in &scopes {
            if !is_set(*on) {
                continue;
            }
            match grants.iter_mut().find(|g| &g.api_code == code) {
                Some(grant) => grant.scopes.push(scope.clone()),
                None => grants.push(GrantRequest {
                    api_code: code.clone(),
                    scopes: vec![scope.clone()],
                }),
            }
        }
        let body = UpdateApplication {
            token_lifetime_secs: Some(minutes.saturating_mul(60)),
            grants: Some(grants),
            ..Default::default()
        };
        run(api::patch(&path, &body, &csrf), error, version, || {});
    });
    view! {
        <article class="app-editor">
            <h3>
                <A href=format!("/applications/{}", application.client_id)>{application.name.clone()}</A>
                " " <EnvironmentBadge environment=application.environment /> " " <EnabledBadge enabled=application.enabled />
            </h3>
            <button type="button" class="secondary" on:click=toggle>
                {if application.enabled { "Disable" } else { "Enable" }}
            </button>
            <Form title="Token lifetime and scopes" inputs=inputs submit="Save" on_submit=save error=error />
        </article>
    }
    .into_any()
}

#[component]
fn People(organisations: Vec<Organisation>, version: RwSignal<u32>) -> impl IntoView {
    let assignments = api::resource(move || {
        version.get();
        "/api/v1/role-assignments".to_owned()
    });
    let names = StoredValue::new(
        organisations
            .iter()
            .map(|o| (o.id.clone(), o.name.clone()))
            .collect::<Vec<_>>(),
    );
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::CredentialManager.as_str().to_owned());
    let organisation = RwSignal::new(
        organisations
            .first()
            .map(|o| o.id.clone())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let grant = Callback::new(move |()| {
        let role = role.get().parse::<Role>().unwrap_or(Role::Viewer);
        let body = GrantRole {
            email: Some(email.get()),
            subject: None,
            role,
            organisation_id: (role != Role::Admin).then(|| organisation.get()),
        };
        run(
            api::post("/api/v1/role-assignments", &body, &csrf),
            error,
            version,
            move || email.set(String::new()),
        );
    });
    let roles = [Role::CredentialManager, Role::Viewer, Role::Admin]
        .map(|r| (r.as_str().to_owned(), role_name(r).to_owned()))
        .to_vec();
    let organisation_choices = names.get_value();
    view! {
        <section class="card" aria-labelledby="people-title">
            <h2 id="people-title">"People and roles"</h2>
            {move || match api::loaded::<Vec<RoleAssignment>>(assignments) {
                None => view! { <Loading what="role assignments" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="people">
                        {list
                            .into_iter()
                            .map(|assignment| {
                                let organisation = assignment
                                    .organisation_id
                                    .as_ref()
                                    .and_then(|id| names.with_value(|n| n.iter().find(|(known, _)| known == id).map(|(_, name)| name.clone())))
                                    .unwrap_or_else(|| "the whole platform".to_owned());
                                assignment_row(assignment, organisation, version)
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any(),
            }}
            <p class="help">"People who have not signed in yet get the role at their first sign-in, when their identity provider confirms the e-mail address. The admin role is platform-wide: the organisation is ignored."</p>
            <Form
                title="Grant a role"
                inputs=vec![
                    text("grant-email", "E-mail address", email, "ann@example.org"),
                    select("grant-role", "Role", role, roles),
                    select("grant-org", "Organisation", organisation, organisation_choices),
                ]
                submit="Grant"
                on_submit=grant
                error=error
            />
        </section>
    }
}

fn assignment_row(
    assignment: RoleAssignment,
    organisation: String,
    version: RwSignal<u32>,
) -> AnyView {
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let path = format!("/api/v1/role-assignments/{}", assignment.id);
    let person = assignment
        .email
        .clone()
        .or(assignment.subject.clone())
        .unwrap_or_default();
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
            || {},
        );
    };
    view! {
        <li>
            <strong>{person.clone()}</strong>
            {format!(
                ": {} of {}, granted {} by {} ",
                role_name(assignment.role),
                organisation,
                logic::date(assignment.granted_at),
                assignment.granted_by
            )}
            <button type="button" class="danger" aria-label=format!("Revoke this role of {person}") on:click=revoke>
                {move || if confirming.get() { "Confirm revoke" } else { "Revoke" }}
            </button>
            <ErrorSlot error=error />
        </li>
    }
    .into_any()
}
