use chrono::{DateTime, Utc};
use clavis_shared::dto::{ClientSecretInfo, NewClientSecret};
use clavis_shared::portal::{ApplicationDetail, CreateSecret};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{self, ApiError};
use crate::logic;
use crate::widgets::{
    CopyButton, EnabledBadge, EnvironmentBadge, ErrorMessage, ErrorSlot, Loading,
    may_manage_secrets, me, now, page_title,
};

/// One application: what it is, how to get tokens, and its secrets.
#[component]
pub fn ApplicationPage() -> impl IntoView {
    page_title("Application");
    let params = use_params_map();
    let client_id = move || params.read().get("client_id").unwrap_or_default();
    let detail = api::resource(move || format!("/api/v1/applications/{}", client_id()));
    view! {
            {move || {match api::loaded::<ApplicationDetail>(detail) {
    None => view! { <Loading what="the application" /> }.into_any(),
                        Some(Ok(detail)) => view! { <Application detail=detail /> }.into_any(),
                        Some(Err(error)) => {
                            view! {
                                <section class="card">
                                    <h1>"Application"</h1>
                                    <ErrorMessage error=error />
                                </section>
                            }
                                .into_any()
                        }
    }}}
        }
}

#[component]
fn Application(detail: ApplicationDetail) -> impl IntoView {
    let app = detail.application.clone();
    let manage = may_manage_secrets(&me(), &app.organisation_id);
    let secrets_path = format!("/api/v1/applications/{}/secrets", app.client_id);
    let secrets = {
        let path = secrets_path.clone();
        api::resource(move || path.clone())
    };
    let creating = RwSignal::new(false);
    view! {
            <section class="card">
                <p class="crumb">{detail.organisation_name.clone()}</p>
                <h1>
                    {app.name.clone()} " " <EnvironmentBadge environment=app.environment /> " "
                    <EnabledBadge enabled=app.enabled />
                </h1>
                {(!app.description.is_empty()).then(|| view! { <p>{app.description.clone()}</p> })}
                <dl class="facts">
                    <dt>"client_id"</dt>
                    <dd>
                        <code>{app.client_id.clone()}</code>
                        " "
                        <CopyButton text=app.client_id.clone() label="Copy the client_id" />
                    </dd>
                    <dt>"Token endpoint"</dt>
                    <dd>
                        <code>{detail.token_endpoint.clone()}</code>
                        " "
                        <CopyButton text=detail.token_endpoint.clone() label="Copy the token endpoint URL" />
                    </dd>
                    <dt>"APIs and scopes"</dt>
                    <dd>
                        <ul class="plain">
                            {app
                                .grants
                                .iter()
                                .map(|grant| {
                                    view! {
                                        <li>
                                            <strong>{grant.api_code.clone()}</strong>
                                            " (" <code>{grant.audience.clone()}</code> "): "
                                            {if grant.scopes.is_empty() {
                                                "no scopes".to_owned()
                                            } else {
                                                grant.scopes.join(", ")
                                            }}
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    </dd>
                    <dt>"Token lifetime"</dt>
                    <dd>{format!("{} minutes", app.token_lifetime_secs / 60)}</dd>
                </dl>
            </section>
            <section class="card" aria-labelledby="secrets-title">
                <div class="row">
                    <h2 id="secrets-title">"Client secrets"</h2>
                    {manage
                        .then(|| {
                            view! {
                                <button type="button" on:click=move |_| creating.set(true)>
                                    "New secret"
                                </button>
                            }
                        })}
                </div>
                <p class="help">
                    "To rotate: create a new secret, switch your integration to it, then delete the old one."
                </p>
                {move || {let path = secrets_path.clone();
    match api::loaded::<Vec<ClientSecretInfo>>(secrets) {
    None => view! { <Loading what="secrets" /> }.into_any(),
                            Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                            Some(Ok(list)) if list.is_empty() => {
                                view! { <p class="empty">"This application has no secrets yet."</p> }
                                    .into_any()
                            }
                            Some(Ok(list)) => {
                                view! {
                                    <SecretTable
                                        list=list
                                        manage=manage
                                        path=path
                                        on_change=move || secrets.refetch()
                                    />
                                }
                                    .into_any()
                            }
    }}}
            </section>
            {me()
                .admin
                .then(|| {
                    view! {
                        <KillSwitch
                            client_id=app.client_id.clone()
                            revoked_before=app.tokens_revoked_before
                        />
                    }
                })}
            {me().admin.then(|| view! { <crate::pages::admin::application_admin::ApplicationAdmin client_id=app.client_id.clone() /> })}
            {move || {
                creating
                    .get()
                    .then(|| {
                        let path = format!("/api/v1/applications/{}/secrets", app.client_id);
                        view! {
                            <NewSecretDialog
                                path=path
                                on_close=move || {
                                    creating.set(false);
                                    secrets.refetch();
                                }
                            />
                        }
                    })
            }}
        }
}

#[component]
fn SecretTable(
    list: Vec<ClientSecretInfo>,
    manage: bool,
    path: String,
    on_change: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let now = now();
    let confirming: RwSignal<Option<ClientSecretInfo>> = RwSignal::new(None);
    view! {
        <div class="table-wrap">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Hint"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Status"</th>
                        {manage.then(|| view! { <th scope="col"><span class="sr-only">"Actions"</span></th> })}
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|secret| {
                            let (label, class) = logic::status_badge(secret.status);
                            let doomed = secret.clone();
                            view! {
                                <tr>
                                    <td>{secret.name.clone()}</td>
                                    <td><code>{logic::hint_display(&secret.hint)}</code></td>
                                    <td>
                                        {logic::date_time(secret.created_at)}
                                        <br />
                                        <span class="muted">{format!("by {}", secret.created_by)}</span>
                                    </td>
                                    <td>
                                        {logic::date(secret.expires_at)}
                                        <br />
                                        <span class="muted">{logic::expiry_phrase(secret.expires_at, now)}</span>
                                    </td>
                                    <td>
                                        {secret
                                            .last_used_at
                                            .map(logic::date_time)
                                            .unwrap_or_else(|| "never".to_owned())}
                                    </td>
                                    <td><span class=class>{label}</span></td>
                                    {manage
                                        .then(|| {
                                            let name = secret.name.clone();
                                            view! {
                                                <td>
                                                    <button
                                                        type="button"
                                                        class="danger"
                                                        aria-label=format!("Delete the secret {name}")
                                                        on:click=move |_| confirming.set(Some(doomed.clone()))
                                                    >
                                                        "Delete"
                                                    </button>
                                                </td>
                                            }
                                        })}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        {move || {
            confirming
                .get()
                .map(|secret| {
                    let on_change = on_change.clone();
                    view! {
                        <ConfirmDelete
                            secret=secret
                            path=path.clone()
                            on_done=move |deleted| {
                                confirming.set(None);
                                if deleted {
                                    on_change();
                                }
                            }
                        />
                    }
                })
        }}
    }
}

/// The kill switch (admins): after a second click to confirm, every token the application
/// was issued until now is inactive in introspection.
#[component]
fn KillSwitch(client_id: String, revoked_before: Option<DateTime<Utc>>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let revoked = RwSignal::new(revoked_before);
    let error = RwSignal::new(None::<String>);
    let path = format!("/api/v1/applications/{client_id}/revoke-tokens");
    let csrf = me().csrf_token;
    let revoke = move |_| {
        if !confirming.get() {
            confirming.set(true);
            return;
        }
        confirming.set(false);
        error.set(None);
        let call = api::post(&path, &(), &csrf);
        leptos::task::spawn_local(async move {
            match call.await {
                Ok(_) => revoked.set(Some(now())),
                Err(failed) => error.set(Some(failed.message)),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="kill-title">
            <h2 id="kill-title">"Revoke all tokens"</h2>
            <p class="help">
                "Every access token issued to this application until now becomes inactive in introspection at once; tokens issued afterwards work. Resource servers that check tokens themselves accept them until they expire."
            </p>
            {move || {
                revoked
                    .get()
                    .map(|at| view! { <p>{format!("Tokens issued until {} are revoked.", logic::date_time(at))}</p> })
            }}
            <button type="button" class="danger" on:click=revoke>
                {move || if confirming.get() { "Confirm: revoke all tokens issued until now" } else { "Revoke all tokens" }}
            </button>
            <ErrorSlot error=error />
        </section>
    }
}

/// Asks before deleting, naming the secret.
#[component]
fn ConfirmDelete(
    secret: ClientSecretInfo,
    path: String,
    on_done: impl Fn(bool) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let target = format!("{path}/{}", secret.id);
    let cancel = {
        let on_done = on_done.clone();
        move |_| on_done(false)
    };
    let confirm = move |_| {
        let (target, csrf, on_done) = (target.clone(), csrf.clone(), on_done.clone());
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::delete(&target, &csrf).await {
                Ok(_) => on_done(true),
                Err(failed) => {
                    busy.set(false);
                    error.set(Some(failed.message));
                }
            }
        });
    };
    view! {
        <div class="overlay">
            <div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="delete-title" aria-describedby="delete-text">
                <h2 id="delete-title">{format!("Delete the secret “{}”?", secret.name)}</h2>
                <p id="delete-text">
                    {format!(
                        "The secret “{}” ({}) stops working at once: an integration that still uses it will be refused at the token endpoint. This cannot be undone.",
                        secret.name,
                        logic::hint_display(&secret.hint),
                    )}
                </p>
                <ErrorSlot error=error />
                <div class="actions">
                    <button type="button" class="secondary" on:click=cancel autofocus=true>"Cancel"</button>
                    <button type="button" class="danger" on:click=confirm disabled=move || busy.get()>
                        "Delete secret"
                    </button>
                </div>
            </div>
        </div>
    }
}

/// Which expiry the person picked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Months(u32),
    Date,
}

/// The new-secret dialog: a name and an expiry, then the value exactly once. It cannot be
/// dismissed by accident once the value is shown: only after the person confirms they
/// stored it.
#[component]
fn NewSecretDialog(
    path: String,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let created: RwSignal<Option<NewClientSecret>> = RwSignal::new(None);
    let on_close_form = on_close.clone();
    view! {
        <div class="overlay">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="new-secret-title">
                {move || match created.get() {
                    None => {
                        let on_close = on_close_form.clone();
                        view! { <NewSecretForm path=path.clone() created=created on_cancel=on_close /> }
                            .into_any()
                    }
                    Some(secret) => {
                        let on_close = on_close.clone();
                        view! { <ShownOnce secret=secret on_done=on_close /> }.into_any()
                    }
                }}
            </div>
        </div>
    }
}

#[component]
fn NewSecretForm(
    path: String,
    created: RwSignal<Option<NewClientSecret>>,
    on_cancel: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let now = now();
    let name = RwSignal::new(String::new());
    let expiry = RwSignal::new(Expiry::Months(6));
    let picked = RwSignal::new(logic::date_only(logic::preset_date(now, 6)));
    let name_error = RwSignal::new(None::<String>);
    let date_error = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let chosen_date = move || match expiry.get() {
        Expiry::Months(months) => Some(logic::preset_date(now, months)),
        Expiry::Date => logic::parse_date(&picked.get()),
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let date = chosen_date();
        name_error.set(logic::name_error(&name.get()));
        date_error.set(logic::expiry_error(date, now));
        let (Some(date), None, None) = (date, name_error.get(), date_error.get()) else {
            return;
        };
        let body = CreateSecret {
            name: name.get().trim().to_owned(),
            expires_on: date,
        };
        let (path, csrf) = (path.clone(), csrf.clone());
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::post(&path, &body, &csrf)
                .await
                .and_then(|text| api::parse::<NewClientSecret>(&text))
            {
                Ok(secret) => created.set(Some(secret)),
                Err(failed) => {
                    busy.set(false);
                    show_field_error(failed, name_error, date_error, error);
                }
            }
        });
    };
    let latest = logic::date_only(logic::latest_date(now));
    let today = logic::date_only(now.date_naive());
    view! {
        <h2 id="new-secret-title">"New client secret"</h2>
        <form on:submit=submit novalidate=true>
            <label for="secret-name">"Name"</label>
            <input
                id="secret-name"
                type="text"
                required=true
                autofocus=true
                maxlength="100"
                aria-describedby="secret-name-help"
                aria-invalid=move || name_error.get().is_some().to_string()
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev))
            />
            <p id="secret-name-help" class="help">"So you can tell your secrets apart, for example “production 2027”."</p>
            <ErrorSlot error=name_error />
            <fieldset>
                <legend>"Expires"</legend>
                {logic::PRESET_MONTHS
                    .iter()
                    .map(|months| {
                        let months = *months;
                        let id = format!("expiry-{months}");
                        let label = format!(
                            "In {} ({})",
                            if months == 12 { "1 year".to_owned() } else { format!("{months} months") },
                            logic::preset_date(now, months),
                        );
                        view! {
                            <div class="choice">
                                <input
                                    type="radio"
                                    id=id.clone()
                                    name="expiry"
                                    prop:checked=move || expiry.get() == Expiry::Months(months)
                                    on:change=move |_| expiry.set(Expiry::Months(months))
                                />
                                <label for=id>{label}</label>
                            </div>
                        }
                    })
                    .collect_view()}
                <div class="choice">
                    <input
                        type="radio"
                        id="expiry-date"
                        name="expiry"
                        prop:checked=move || expiry.get() == Expiry::Date
                        on:change=move |_| expiry.set(Expiry::Date)
                    />
                    <label for="expiry-date">"On a date"</label>
                    <input
                        type="date"
                        aria-label="Expiry date"
                        min=today
                        max=latest.clone()
                        disabled=move || expiry.get() != Expiry::Date
                        prop:value=move || picked.get()
                        on:input=move |ev| picked.set(event_target_value(&ev))
                    />
                </div>
                <p class="help">{format!("At most one year ahead (until {latest}). The secret works through the end of that day, UTC.")}</p>
            </fieldset>
            <ErrorSlot error=date_error />
            <ErrorSlot error=error />
            <div class="actions">
                <button type="button" class="secondary" on:click=move |_| on_cancel()>"Cancel"</button>
                <button type="submit" disabled=move || busy.get()>"Create secret"</button>
            </div>
        </form>
    }
}

/// Puts a server's validation error next to the field it names.
fn show_field_error(
    failed: ApiError,
    name_error: RwSignal<Option<String>>,
    date_error: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
) {
    match failed.field.as_deref() {
        Some("name") => name_error.set(Some(failed.message)),
        Some("expires_at") => date_error.set(Some(failed.message)),
        _ => error.set(Some(failed.message)),
    }
}

/// The value, once, with a copy button and a warning; closable only after confirming.
#[component]
fn ShownOnce(
    secret: NewClientSecret,
    on_done: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let stored = RwSignal::new(false);
    view! {
        <h2 id="new-secret-title">{format!("Secret “{}” created", secret.info.name)}</h2>
        <p class="warning" role="alert">
            <strong>"Copy the secret now: it will not be shown again."</strong>
            " Clavis stores only a hash of it. If you lose it, create a new one."
        </p>
        <div class="secret-value">
            <code id="secret-value">{secret.value.clone()}</code>
            <CopyButton text=secret.value.clone() label="Copy the secret value" />
        </div>
        <p class="muted">{format!("Expires {}.", logic::date_time(secret.info.expires_at))}</p>
        <div class="choice">
            <input
                type="checkbox"
                id="stored"
                prop:checked=move || stored.get()
                on:change=move |ev| stored.set(event_target_checked(&ev))
            />
            <label for="stored">"I have stored the secret somewhere safe"</label>
        </div>
        <div class="actions">
            <button type="button" disabled=move || !stored.get() on:click=move |_| on_done()>"Done"</button>
        </div>
    }
}
