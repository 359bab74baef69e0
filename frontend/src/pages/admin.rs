//! Platform administration: organisations, APIs, applications, and who may do what.
//! Only admins see this page; the server refuses everyone else anyway.

use clavis_shared::dto::{Api, Application, Environment, Organisation, Role, RoleAssignment};
use clavis_shared::portal::{
    ApplicationSummary, CreateApi, CreateApplication, CreateOrganisation, GrantRequest, GrantRole,
    UpdateApi, UpdateApplication, UpdateOrganisation,
};
use leptos::prelude::*;
use leptos_router::components::A;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::api::{self, ApiResult};
use crate::logic;
use crate::widgets::{
    EnabledBadge, EnvironmentBadge, ErrorMessage, ErrorSlot, Loading, me, role_name,
};

/// Runs an API call; on success `done`, on failure its message in `error`.
fn run<T: 'static>(
    call: impl Future<Output = ApiResult<T>> + 'static,
    error: RwSignal<Option<String>>,
    done: impl FnOnce(T) + 'static,
) {
    error.set(None);
    leptos::task::spawn_local(async move {
        match call.await {
            Ok(value) => done(value),
            Err(failed) => error.set(Some(failed.message)),
        }
    });
}

/// A text input bound to a signal, with its label.
#[component]
fn Field(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(optional, into)] placeholder: String,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </div>
    }
}

#[component]
pub fn Admin() -> impl IntoView {
    if !me().admin {
        return view! {
            <section class="card">
                <h1>"Admin"</h1>
                <p class="error" role="alert">"Only platform admins may use this page."</p>
            </section>
        }
        .into_any();
    }
    // Any change bumps this, so every list on the page shows the new state.
    let version = RwSignal::new(0u32);
    let organisations = LocalResource::new(move || {
        version.get();
        api::get::<Vec<Organisation>>("/api/v1/organisations")
    });
    let apis = LocalResource::new(move || {
        version.get();
        api::get::<Vec<Api>>("/api/v1/apis")
    });
    view! {
        <h1>"Admin"</h1>
        <Suspense fallback=|| view! { <Loading what="organisations and APIs" /> }>
            {move || Suspend::new(async move {
                match (organisations.await, apis.await) {
                    (Ok(organisations), Ok(apis)) => {
                        view! {
                            <Organisations organisations=organisations.clone() version=version />
                            <Apis apis=apis.clone() version=version />
                            <Applications organisations=organisations.clone() apis=apis version=version />
                            <People organisations=organisations version=version />
                        }
                            .into_any()
                    }
                    (Err(error), _) | (_, Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                }
            })}
        </Suspense>
    }
        .into_any()
}

#[component]
fn Organisations(organisations: Vec<Organisation>, version: RwSignal<u32>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let country = RwSignal::new(String::new());
    let sandbox = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = CreateOrganisation {
            name: name.get(),
            country: country.get(),
            sandbox: sandbox.get(),
        };
        let csrf = csrf.clone();
        run(
            async move { api::post::<_, Organisation>("/api/v1/organisations", &body, &csrf).await },
            error,
            move |_| {
                name.set(String::new());
                country.set(String::new());
                sandbox.set(false);
                version.update(|v| *v += 1);
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="orgs-title">
            <h2 id="orgs-title">"Organisations"</h2>
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Country"</th>
                            <th scope="col">"Sandbox"</th>
                            <th scope="col"><span class="sr-only">"Edit"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {organisations
                            .into_iter()
                            .map(|organisation| view! { <OrganisationRow organisation=organisation version=version /> })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
            <form class="inline" on:submit=create>
                <h3>"New organisation"</h3>
                <Field id="org-name" label="Name" value=name placeholder="Acme" />
                <Field id="org-country" label="Country (ISO code)" value=country placeholder="NL" />
                <div class="choice">
                    <input type="checkbox" id="org-sandbox" prop:checked=move || sandbox.get() on:change=move |ev| sandbox.set(event_target_checked(&ev)) />
                    <label for="org-sandbox">"Sandbox only"</label>
                </div>
                <button type="submit">"Create organisation"</button>
                <ErrorSlot error=error />
            </form>
        </section>
    }
}

#[component]
fn OrganisationRow(organisation: Organisation, version: RwSignal<u32>) -> impl IntoView {
    let editing = RwSignal::new(false);
    let name = RwSignal::new(organisation.name.clone());
    let country = RwSignal::new(organisation.country.clone());
    let sandbox = RwSignal::new(organisation.sandbox);
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let path = format!("/api/v1/organisations/{}", organisation.id);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = UpdateOrganisation {
            name: Some(name.get()),
            country: Some(country.get()),
            sandbox: Some(sandbox.get()),
        };
        let (path, csrf) = (path.clone(), csrf.clone());
        run(
            async move { api::patch::<_, Organisation>(&path, &body, &csrf).await },
            error,
            move |_| version.update(|v| *v += 1),
        );
    };
    let id = organisation.id.clone();
    view! {
        <tr>
            <td>{organisation.name.clone()}</td>
            <td>{organisation.country.clone()}</td>
            <td>{if organisation.sandbox { "yes" } else { "no" }}</td>
            <td>
                <button type="button" class="secondary" on:click=move |_| editing.update(|e| *e = !*e)>
                    {move || if editing.get() { "Close" } else { "Edit" }}
                </button>
            </td>
        </tr>
        {move || {
            editing
                .get()
                .then(|| {
                    let save = save.clone();
                    let id = id.clone();
                    view! {
                        <tr>
                            <td colspan="4">
                                <form class="inline" on:submit=save>
                                    <Field id=format!("name-{id}") label="Name" value=name />
                                    <Field id=format!("country-{id}") label="Country" value=country />
                                    <div class="choice">
                                        <input type="checkbox" id=format!("sandbox-{id}") prop:checked=move || sandbox.get() on:change=move |ev| sandbox.set(event_target_checked(&ev)) />
                                        <label for=format!("sandbox-{id}")>"Sandbox only"</label>
                                    </div>
                                    <button type="submit">"Save"</button>
                                    <ErrorSlot error=error />
                                </form>
                            </td>
                        </tr>
                    }
                })
        }}
    }
}

#[component]
fn Apis(apis: Vec<Api>, version: RwSignal<u32>) -> impl IntoView {
    let code = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let audience = RwSignal::new(String::new());
    let scopes = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = CreateApi {
            code: code.get(),
            name: name.get(),
            audience: audience.get(),
            scopes: scopes.get().split_whitespace().map(str::to_owned).collect(),
        };
        let csrf = csrf.clone();
        run(
            async move { api::post::<_, Api>("/api/v1/apis", &body, &csrf).await },
            error,
            move |_| {
                for field in [code, name, audience, scopes] {
                    field.set(String::new());
                }
                version.update(|v| *v += 1);
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="apis-title">
            <h2 id="apis-title">"APIs and scopes"</h2>
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th scope="col">"Code"</th>
                            <th scope="col">"Name and audience"</th>
                            <th scope="col">"Scopes"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {apis.into_iter().map(|api| view! { <ApiRow api=api version=version /> }).collect_view()}
                    </tbody>
                </table>
            </div>
            <form class="inline" on:submit=create>
                <h3>"New API"</h3>
                <Field id="api-code" label="Code" value=code placeholder="SMC" />
                <Field id="api-name" label="Name" value=name placeholder="Ship Manifests" />
                <Field id="api-audience" label="Audience (aud)" value=audience placeholder="https://api.example.org/smc" />
                <Field id="api-scopes" label="Scopes (space-separated)" value=scopes placeholder="manifest.read manifest.write" />
                <button type="submit">"Create API"</button>
                <ErrorSlot error=error />
            </form>
        </section>
    }
}

#[component]
fn ApiRow(api: Api, version: RwSignal<u32>) -> impl IntoView {
    let scopes = RwSignal::new(api.scopes.join(" "));
    let name = RwSignal::new(api.name.clone());
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let path = format!("/api/v1/apis/{}", api.code);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = UpdateApi {
            name: Some(name.get()),
            scopes: Some(scopes.get().split_whitespace().map(str::to_owned).collect()),
        };
        let (path, csrf) = (path.clone(), csrf.clone());
        run(
            async move { api::patch::<_, Api>(&path, &body, &csrf).await },
            error,
            move |_| version.update(|v| *v += 1),
        );
    };
    let code = api.code.clone();
    view! {
        <tr>
            <td><strong>{api.code.clone()}</strong></td>
            <td>{api.name.clone()} <br /> <code class="muted">{api.audience.clone()}</code></td>
            <td>
                <form class="inline" on:submit=save>
                    <Field id=format!("api-name-{code}") label="Name" value=name />
                    <Field id=format!("api-scopes-{code}") label="Scopes" value=scopes />
                    <button type="submit" class="secondary">"Save"</button>
                    <ErrorSlot error=error />
                </form>
            </td>
        </tr>
    }
}

#[component]
fn Applications(
    organisations: Vec<Organisation>,
    apis: Vec<Api>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let selected = RwSignal::new(
        organisations
            .first()
            .map(|o| o.id.clone())
            .unwrap_or_default(),
    );
    let applications = LocalResource::new(move || {
        version.get();
        let path = format!("/api/v1/organisations/{}/applications", selected.get());
        async move { api::get::<Vec<ApplicationSummary>>(&path).await }
    });
    let options = organisations.clone();
    let chosen = StoredValue::new(organisations);
    let all_apis = StoredValue::new(apis);
    view! {
        <section class="card" aria-labelledby="apps-title">
            <h2 id="apps-title">"Applications"</h2>
            <div class="field">
                <label for="apps-org">"Organisation"</label>
                <select id="apps-org" on:change=move |ev| selected.set(event_target_value(&ev))>
                    {options
                        .into_iter()
                        .map(|o| view! { <option value=o.id.clone() selected=o.id == selected.get_untracked()>{o.name}</option> })
                        .collect_view()}
                </select>
            </div>
            <Suspense fallback=|| view! { <Loading what="applications" /> }>
                {move || Suspend::new(async move {
                    match applications.await {
                        Err(error) => view! { <ErrorMessage error=error /> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="empty">"No applications yet."</p> }.into_any(),
                        Ok(list) => list
                            .into_iter()
                            .map(|summary| {
                                view! { <ApplicationEditor application=summary.application apis=all_apis.get_value() version=version /> }
                            })
                            .collect_view()
                            .into_any(),
                    }
                })}
            </Suspense>
            {move || {
                let organisation = chosen.get_value().into_iter().find(|o| o.id == selected.get());
                organisation.map(|organisation| view! { <NewApplication organisation=organisation apis=all_apis.get_value() version=version /> })
            }}
        </section>
    }
}

#[component]
fn NewApplication(
    organisation: Organisation,
    apis: Vec<Api>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let api_code = RwSignal::new(apis.first().map(|a| a.code.clone()).unwrap_or_default());
    let name = RwSignal::new(String::new());
    let environment = RwSignal::new(
        if organisation.sandbox {
            "sandbox"
        } else {
            "production"
        }
        .to_owned(),
    );
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let (country, org_name) = (organisation.country.clone(), organisation.name.clone());
    let suggestion = move || logic::suggested_name(&country, &org_name, &api_code.get());
    let organisation_id = organisation.id.clone();
    let create = {
        let suggestion = suggestion.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
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
            };
            let csrf = csrf.clone();
            run(
                async move { api::post::<_, Application>("/api/v1/applications", &body, &csrf).await },
                error,
                move |_| {
                    name.set(String::new());
                    version.update(|v| *v += 1);
                },
            );
        }
    };
    view! {
        <form class="inline" on:submit=create>
            <h3>{format!("New application for {}", organisation.name)}</h3>
            <div class="field">
                <label for="app-api">"API"</label>
                <select id="app-api" on:change=move |ev| api_code.set(event_target_value(&ev))>
                    {apis.into_iter().map(|a| view! { <option value=a.code.clone()>{format!("{} ({})", a.code, a.name)}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="app-name">"Name"</label>
                <input
                    id="app-name"
                    placeholder=suggestion.clone()
                    aria-describedby="app-name-help"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
                <p id="app-name-help" class="help">{move || format!("Leave empty for the conventional name: {}", suggestion())}</p>
            </div>
            <div class="field">
                <label for="app-env">"Environment"</label>
                <select id="app-env" on:change=move |ev| environment.set(event_target_value(&ev))>
                    <option value="production" selected=!organisation.sandbox>"production"</option>
                    <option value="sandbox" selected=organisation.sandbox>"sandbox"</option>
                </select>
            </div>
            <button type="submit">"Create application"</button>
            <ErrorSlot error=error />
        </form>
    }
}

/// One application: enable or disable it, its token lifetime, and its APIs and scopes.
#[component]
fn ApplicationEditor(
    application: Application,
    apis: Vec<Api>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let lifetime = RwSignal::new((application.token_lifetime_secs / 60).to_string());
    let granted: BTreeMap<String, BTreeSet<String>> = application
        .grants
        .iter()
        .map(|g| (g.api_code.clone(), g.scopes.iter().cloned().collect()))
        .collect();
    let granted = RwSignal::new(granted);
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let path = format!("/api/v1/applications/{}", application.client_id);
    let change = move |body: UpdateApplication| {
        let (path, csrf) = (path.clone(), csrf.clone());
        run(
            async move { api::patch::<_, Application>(&path, &body, &csrf).await },
            error,
            move |_| version.update(|v| *v += 1),
        );
    };
    let toggle = {
        let change = change.clone();
        let enabled = application.enabled;
        move |_| {
            change(UpdateApplication {
                enabled: Some(!enabled),
                ..Default::default()
            })
        }
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(minutes) = lifetime.get().trim().parse::<i32>() else {
            error.set(Some(
                "The token lifetime is a whole number of minutes.".to_owned(),
            ));
            return;
        };
        let grants = granted
            .get()
            .into_iter()
            .map(|(api_code, scopes)| GrantRequest {
                api_code,
                scopes: scopes.into_iter().collect(),
            })
            .collect();
        change(UpdateApplication {
            token_lifetime_secs: Some(minutes.saturating_mul(60)),
            grants: Some(grants),
            ..Default::default()
        });
    };
    let key = application.client_id.clone();
    view! {
        <article class="app-editor">
            <h3>
                <A href=format!("/applications/{}", application.client_id)>{application.name.clone()}</A>
                " " <EnvironmentBadge environment=application.environment /> " "
                <EnabledBadge enabled=application.enabled />
            </h3>
            <button type="button" class="secondary" on:click=toggle>
                {if application.enabled { "Disable" } else { "Enable" }}
            </button>
            <form class="inline" on:submit=save>
                <Field id=format!("lifetime-{key}") label="Token lifetime (minutes)" value=lifetime />
                {apis
                    .into_iter()
                    .map(|api| {
                        let code = api.code.clone();
                        view! {
                            <fieldset>
                                <legend>{format!("{} scopes", api.code)}</legend>
                                {api
                                    .scopes
                                    .into_iter()
                                    .map(|scope| {
                                        let id = format!("scope-{key}-{code}-{scope}");
                                        let (code, scope2) = (code.clone(), scope.clone());
                                        let (code_check, scope_check) = (code.clone(), scope.clone());
                                        view! {
                                            <div class="choice">
                                                <input
                                                    type="checkbox"
                                                    id=id.clone()
                                                    prop:checked=move || granted.with(|g| g.get(&code_check).is_some_and(|s| s.contains(&scope_check)))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        granted.update(|g| {
                                                            let scopes = g.entry(code.clone()).or_default();
                                                            if on { scopes.insert(scope2.clone()); } else { scopes.remove(&scope2); }
                                                            if scopes.is_empty() { g.remove(&code); }
                                                        });
                                                    }
                                                />
                                                <label for=id>{scope}</label>
                                            </div>
                                        }
                                    })
                                    .collect_view()}
                            </fieldset>
                        }
                    })
                    .collect_view()}
                <button type="submit">"Save lifetime and scopes"</button>
                <ErrorSlot error=error />
            </form>
        </article>
    }
}

#[component]
fn People(organisations: Vec<Organisation>, version: RwSignal<u32>) -> impl IntoView {
    let assignments = LocalResource::new(move || {
        version.get();
        api::get::<Vec<RoleAssignment>>("/api/v1/role-assignments")
    });
    let names: BTreeMap<String, String> = organisations
        .iter()
        .map(|o| (o.id.clone(), o.name.clone()))
        .collect();
    let names = StoredValue::new(names);
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("credential_manager".to_owned());
    let organisation = RwSignal::new(
        organisations
            .first()
            .map(|o| o.id.clone())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let grant = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let role = match role.get().as_str() {
            "admin" => Role::Admin,
            "viewer" => Role::Viewer,
            _ => Role::CredentialManager,
        };
        let body = GrantRole {
            email: Some(email.get()),
            subject: None,
            role,
            organisation_id: (role != Role::Admin).then(|| organisation.get()),
        };
        let csrf = csrf.clone();
        run(
            async move {
                api::post::<_, RoleAssignment>("/api/v1/role-assignments", &body, &csrf).await
            },
            error,
            move |_| {
                email.set(String::new());
                version.update(|v| *v += 1);
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="people-title">
            <h2 id="people-title">"People and roles"</h2>
            <Suspense fallback=|| view! { <Loading what="role assignments" /> }>
                {move || Suspend::new(async move {
                    match assignments.await {
                        Err(error) => view! { <ErrorMessage error=error /> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table>
                                    <thead>
                                        <tr>
                                            <th scope="col">"Person"</th>
                                            <th scope="col">"Role"</th>
                                            <th scope="col">"Organisation"</th>
                                            <th scope="col">"Granted"</th>
                                            <th scope="col"><span class="sr-only">"Revoke"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list
                                            .into_iter()
                                            .map(|assignment| {
                                                let organisation = assignment
                                                    .organisation_id
                                                    .as_ref()
                                                    .and_then(|id| names.with_value(|n| n.get(id).cloned()))
                                                    .unwrap_or_else(|| "all (platform)".to_owned());
                                                view! { <AssignmentRow assignment=assignment organisation=organisation version=version /> }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
            <form class="inline" on:submit=grant>
                <h3>"Grant a role"</h3>
                <p class="help">"People who have not signed in yet get the role at their first sign-in, when their identity provider confirms the e-mail address."</p>
                <div class="field">
                    <label for="grant-email">"E-mail address"</label>
                    <input id="grant-email" type="email" prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="grant-role">"Role"</label>
                    <select id="grant-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        <option value="credential_manager" selected=true>"Credential manager"</option>
                        <option value="viewer">"Viewer"</option>
                        <option value="admin">"Admin (platform-wide)"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="grant-org">"Organisation"</label>
                    <select id="grant-org" disabled=move || role.get() == "admin" on:change=move |ev| organisation.set(event_target_value(&ev))>
                        {organisations.into_iter().map(|o| view! { <option value=o.id>{o.name}</option> }).collect_view()}
                    </select>
                </div>
                <button type="submit">"Grant"</button>
                <ErrorSlot error=error />
            </form>
        </section>
    }
}

#[component]
fn AssignmentRow(
    assignment: RoleAssignment,
    organisation: String,
    version: RwSignal<u32>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
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
            move |()| version.update(|v| *v += 1),
        );
    };
    view! {
        <tr>
            <td>{person.clone()}</td>
            <td>{role_name(assignment.role)}</td>
            <td>{organisation}</td>
            <td>{logic::date(assignment.granted_at)} <br /> <span class="muted">{format!("by {}", assignment.granted_by)}</span></td>
            <td>
                <button type="button" class="danger" aria-label=format!("Revoke this role of {person}") on:click=revoke>
                    {move || if confirming.get() { "Confirm revoke" } else { "Revoke" }}
                </button>
                <ErrorSlot error=error />
            </td>
        </tr>
    }
}
