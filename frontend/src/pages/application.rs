//! One application's page: what it is, how to get tokens, its client secrets (create, shown
//! once, delete, delete the replaced ones at the limit), its public keys
//! ([`super::client_keys`]), who gets its organisation's expiry
//! reminders, and for admins the kill switch. Every dialog is a native modal `<dialog>`
//! ([`Modal`]); every change ends in a polite status message.

use chrono::{DateTime, Utc};
use clavis_shared::audit::recorded_actor;
use clavis_shared::dto::{ClientSecretInfo, NewClientSecret, SecretStatus};
use clavis_shared::portal::{
    ApplicationDetail, CreateSecret, ReminderRecipients, SetReminderMailbox,
};
use clavis_shared::validate::{
    MAX_ACTIVE_SECRETS, MAX_SECRET_DESCRIPTION_CHARS, MAX_SECRET_NAME_CHARS,
};
use leptos::callback::Callback;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::confirm::ConfirmDelete;

use crate::api::{self, ApiError, ApiResult};
use crate::logic;
use crate::widgets::{
    CopyButton, DownloadButton, EnabledBadge, EnvironmentBadge, ErrorMessage, ErrorSlot, Loading,
    Modal, StatusMessage, may_manage_secrets, me, now, page_title,
};

/// The id of the secrets heading: where focus goes when the element that opened a dialog is
/// gone (a deleted secret's row).
const SECRETS_TITLE: &str = "secrets-title";

/// One application: what it is, how to get tokens, and its secrets.
#[component]
pub fn ApplicationPage() -> impl IntoView {
    page_title("Application");
    let params = use_params_map();
    let client_id = move || params.read().get("client_id").unwrap_or_default();
    let detail = api::resource(move || format!("/api/v1/applications/{}", client_id()));
    view! {
        {move || match api::loaded::<ApplicationDetail>(detail) {
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
        }}
    }
}

#[component]
fn Application(detail: ApplicationDetail) -> impl IntoView {
    let app = detail.application.clone();
    page_title(app.name.clone());
    view! {
        <section class="card">
            <p class="crumb">
                {detail.organisation_name.clone()} " · "
                <a href=format!("/audit?application={}", app.client_id)>"Audit for this application"</a>
            </p>
            <h1 class="long-name">
                {app.name.clone()} " " <EnvironmentBadge environment=app.environment /> " "
                <EnabledBadge enabled=app.enabled />
            </h1>
            {(!app.description.is_empty()).then(|| view! { <p>{app.description.clone()}</p> })}
            <dl class="facts">
                <dt>"client_id"</dt>
                <dd>
                    <code id="client-id">{app.client_id.clone()}</code>
                    " "
                    <CopyButton text=app.client_id.clone() label="Copy the client_id" select="client-id" />
                </dd>
                <dt>"Token endpoint"</dt>
                <dd>
                    <code id="token-endpoint">{detail.token_endpoint.clone()}</code>
                    " "
                    <CopyButton
                        text=detail.token_endpoint.clone()
                        label="Copy the token endpoint URL"
                        select="token-endpoint"
                    />
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
        <Secrets
            base=format!("/api/v1/applications/{}", app.client_id)
            holder="application"
            holder_name=app.name.clone()
            organisation_id=app.organisation_id.clone()
            organisation_name=detail.organisation_name.clone()
        />
        <crate::pages::client_keys::ClientKeys
            client_id=app.client_id.clone()
            manage=may_manage_secrets(&me(), &app.organisation_id)
        />
        <crate::pages::federated::FederatedCredentials
            client_id=app.client_id.clone()
            manage=may_manage_secrets(&me(), &app.organisation_id)
        />
        <crate::pages::client_authentication::ClientAuthenticationCard
            client_id=app.client_id.clone()
            manage=may_manage_secrets(&me(), &app.organisation_id)
        />
        <Reminders organisation_id=app.organisation_id.clone() />
        {me()
            .admin
            .then(|| {
                view! {
                    <crate::pages::admin::application_admin::ApplicationAdmin client_id=app
                        .client_id
                        .clone() />
                    <KillSwitch
                        client_id=app.client_id.clone()
                        revoked_before=app.tokens_revoked_before
                    />
                }
            })}
    }
}

/// What a dialog of the secrets section is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SecretDialog {
    Create,
    Delete(ClientSecretInfo),
    DeleteReplaced(Vec<ClientSecretInfo>),
}

/// The secrets card of an application or a device (`holder`, the word its texts use; `base`,
/// its API path, under which are `secrets` and `replaced-secrets`): count against the limit,
/// "New secret", the table, and its dialogs.
#[component]
pub(crate) fn Secrets(
    base: String,
    holder: &'static str,
    holder_name: String,
    organisation_id: String,
    organisation_name: String,
) -> impl IntoView {
    let manage = may_manage_secrets(&me(), &organisation_id);
    let path = format!("{base}/secrets");
    let kind = if holder == "device" {
        "Device"
    } else {
        "Client"
    };
    let secrets = {
        let path = path.clone();
        api::resource(move || path.clone())
    };
    let listed: Memo<Option<ApiResult<Vec<ClientSecretInfo>>>> =
        Memo::new(move |_| api::loaded::<Vec<ClientSecretInfo>>(secrets));
    let list = move || listed.get().and_then(Result::ok).unwrap_or_default();
    let counted = move || logic::counted_secrets(list().iter().map(|secret| secret.status));
    let at_limit = move || counted() >= MAX_ACTIVE_SECRETS;
    let replaced = move || {
        list()
            .into_iter()
            .filter(|secret| secret.status == SecretStatus::Replaced)
            .collect::<Vec<_>>()
    };
    let dialog = RwSignal::new(None::<SecretDialog>);
    let status = RwSignal::new(None::<String>);
    let return_focus = RwSignal::new(None::<String>);
    let open = move |which: SecretDialog| {
        return_focus.set(None);
        status.set(None);
        dialog.set(Some(which));
    };
    // `row_gone`: the opening button went with its row, so focus lands on the heading.
    let finished = move |message: Option<String>, row_gone: bool| {
        if let Some(message) = message {
            if row_gone {
                return_focus.set(Some(SECRETS_TITLE.to_owned()));
            }
            status.set(Some(message));
            secrets.refetch();
        }
        dialog.set(None);
    };
    view! {
        <section class="card" aria-labelledby=SECRETS_TITLE>
            <div class="row">
                <h2 id=SECRETS_TITLE tabindex="-1">{format!("{kind} secrets")}</h2>
                <span class="count">{move || logic::secret_count_label(counted())}</span>
                {manage
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="new-secret"
                                disabled=at_limit
                                aria-describedby=move || at_limit().then_some("limit-reason")
                                on:click=move |_| open(SecretDialog::Create)
                            >
                                "New secret"
                            </button>
                        }
                    })}
            </div>
            <StatusMessage message=status />
            {move || {
                at_limit()
                    .then(|| {
                        let replaced = replaced();
                        view! {
                            <div class="notice" id="limit-reason">
                                <p>
                                    {format!(
                                        "New secret is unavailable: this {holder} has {MAX_ACTIVE_SECRETS} unexpired secrets, the most allowed. Delete one it no longer uses first."
                                    )}
                                </p>
                                {if replaced.is_empty() {
                                    view! {
                                        <p>
                                            "None is marked Replaced: check which secret your integration no longer uses, or wait until one expires."
                                        </p>
                                    }
                                        .into_any()
                                } else {
                                    let count = replaced.len();
                                    view! {
                                        <p>
                                            {format!(
                                                "{count} marked Replaced can go: a newer secret outlives each of them, so an integration that switched to it no longer needs them."
                                            )}
                                        </p>
                                        {manage
                                            .then(move || {
                                                view! {
                                                    <button
                                                        type="button"
                                                        class="danger"
                                                        on:click=move |_| open(SecretDialog::DeleteReplaced(replaced.clone()))
                                                    >
                                                        {format!("Delete replaced secrets ({count})")}
                                                    </button>
                                                }
                                            })}
                                    }
                                        .into_any()
                                }}
                            </div>
                        }
                    })
            }}
            {(!manage)
                .then(|| {
                    view! {
                        <ViewerNotice
                            organisation_id=organisation_id.clone()
                            organisation_name=organisation_name.clone()
                        />
                    }
                })}
            {manage
                .then(|| {
                    view! {
                        <p class="help">
                            "To rotate: create a new secret, switch your integration to it, then delete the old one."
                        </p>
                    }
                })}
            {move || match listed.get() {
                None => view! { <Loading what="secrets" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="empty">{format!("This {holder} has no secrets yet.")}</p> }.into_any()
                }
                Some(Ok(list)) => {
                    view! {
                        <SecretTable
                            list=list
                            manage=manage
                            on_delete=move |secret| open(SecretDialog::Delete(secret))
                        />
                    }
                        .into_any()
                }
            }}
        </section>
        {move || {
            let path = path.clone();
            let holder_name = holder_name.clone();
            dialog
                .get()
                .map(|which| match which {
                    SecretDialog::Create => {
                        view! {
                            <NewSecretDialog
                                path=path
                                kind=kind
                                holder_name=holder_name
                                on_created=move || secrets.refetch()
                                on_close=move |message| finished(message, false)
                            />
                        }
                            .into_any()
                    }
                    SecretDialog::Delete(secret) => {
                        view! {
                            <ConfirmDelete
                                title=format!("Delete the secret “{}”?", secret.name)
                                text=format!(
                                    "The secret “{}” ({}) stops working at once: an integration that still uses it will be refused at the token endpoint. This cannot be undone.",
                                    secret.name,
                                    logic::hint_display(&secret.hint),
                                )
                                button="Delete secret"
                                target=format!("{path}/{}", secret.id)
                                deleted=format!("The secret “{}” was deleted.", secret.name)
                                return_focus=return_focus
                                on_done=Callback::new(move |message| finished(message, true))
                            />
                        }
                            .into_any()
                    }
                    SecretDialog::DeleteReplaced(replaced) => {
                        view! {
                            <ConfirmDeleteReplaced
                                replaced=replaced
                                path=path.replace("/secrets", "/replaced-secrets")
                                return_focus=return_focus
                                on_done=move |message| finished(message, true)
                            />
                        }
                            .into_any()
                    }
                })
        }}
    }
}

/// Why a viewer has no create or delete buttons, and whom to ask.
#[component]
fn ViewerNotice(organisation_id: String, organisation_name: String) -> impl IntoView {
    let recipients = api::resource(move || {
        format!("/api/v1/organisations/{organisation_id}/reminder-recipients")
    });
    view! {
        <div class="notice viewer">
            <p>
                {format!(
                    "You are a viewer of {organisation_name}: you can see these secrets, but only its credential managers can create or delete them."
                )}
            </p>
            {move || match api::loaded::<ReminderRecipients>(recipients) {
                None => view! { <Loading what="whom to ask" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(found)) if found.credential_managers.is_empty() => {
                    view! { <p>"It has no credential manager yet: ask a platform admin for one."</p> }
                        .into_any()
                }
                Some(Ok(found)) => {
                    view! {
                        <p>"Ask one of them:"</p>
                        <ul class="plain contacts">
                            {found
                                .credential_managers
                                .into_iter()
                                .map(|contact| {
                                    let mail = format!("mailto:{}", contact.email);
                                    view! {
                                        <li>
                                            {contact.name.map(|name| format!("{name} "))}
                                            <a href=mail>{contact.email}</a>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

#[component]
fn SecretTable(
    list: Vec<ClientSecretInfo>,
    manage: bool,
    on_delete: impl Fn(ClientSecretInfo) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let now = now();
    view! {
        <div class="table-wrap">
            <table class="stack">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Starts with"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Status"</th>
                        {manage.then(|| view! { <th scope="col">"Actions"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|secret| {
                            let (label, class) = logic::status_badge(secret.status);
                            let doomed = secret.clone();
                            let on_delete = on_delete.clone();
                            let id_element = format!("secret-id-{}", secret.id);
                            view! {
                                <tr>
                                    <td data-label="Name">
                                        <strong class="long-name">{secret.name.clone()}</strong>
                                        {(!secret.description.is_empty())
                                            .then(|| view! { <span class="description">{secret.description.clone()}</span> })}
                                        <span class="secret-id">
                                            "id "
                                            <code id=id_element.clone()>{secret.id.clone()}</code>
                                            " "
                                            <CopyButton
                                                text=secret.id.clone()
                                                label=format!("Copy the id of the secret {}", secret.name)
                                                select=id_element
                                            />
                                        </span>
                                    </td>
                                    <td data-label="Starts with"><code class="nowrap">{logic::hint_display(&secret.hint)}</code></td>
                                    <LifeCells
                                        created_at=secret.created_at
                                        created_by=secret.created_by.clone()
                                        expires_at=secret.expires_at
                                        last_used_at=secret.last_used_at
                                        now=now
                                    />
                                    <td data-label="Status"><span class=class>{label}</span></td>
                                    {manage
                                        .then(|| {
                                            let name = secret.name.clone();
                                            view! {
                                                <td data-label="Actions">
                                                    <button
                                                        type="button"
                                                        class="danger"
                                                        aria-label=format!("Delete the secret {name}")
                                                        on:click=move |_| on_delete(doomed.clone())
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
    }
}

/// A credential's life in a table row: created (when, by whom), expires (when, how soon)
/// and last used; the same for secrets and keys.
#[component]
pub(super) fn LifeCells(
    created_at: DateTime<Utc>,
    created_by: String,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> impl IntoView {
    view! {
        <td data-label="Created">
            <span class="nowrap">{logic::date_time(created_at)}</span>
            <br />
            <span class="muted">{format!("by {}", recorded_actor(&created_by))}</span>
        </td>
        <td data-label="Expires">
            <span class="nowrap">{logic::date(expires_at)}</span>
            <br />
            <span class="muted nowrap">{logic::expiry_phrase(expires_at, now)}</span>
        </td>
        <td data-label="Last used">
            <span class="nowrap">
                {last_used_at.map(logic::date_time).unwrap_or_else(|| "never".to_owned())}
            </span>
        </td>
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

/// Asks before deleting every replaced secret, listing them.
#[component]
fn ConfirmDeleteReplaced(
    replaced: Vec<ClientSecretInfo>,
    path: String,
    return_focus: RwSignal<Option<String>>,
    on_done: impl Fn(Option<String>) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let cancel = {
        let on_done = on_done.clone();
        move || on_done(None)
    };
    let confirm = {
        let on_done = on_done.clone();
        move |_| {
            let (path, csrf, on_done) = (path.clone(), csrf.clone(), on_done.clone());
            busy.set(true);
            leptos::task::spawn_local(async move {
                match api::delete(&path, &csrf)
                    .await
                    .and_then(|text| api::parse::<Vec<ClientSecretInfo>>(&text))
                {
                    Ok(deleted) => on_done(Some(match deleted.len() {
                        1 => "1 replaced secret was deleted.".to_owned(),
                        count => format!("{count} replaced secrets were deleted."),
                    })),
                    Err(failed) => {
                        busy.set(false);
                        error.set(Some(failed.message));
                    }
                }
            });
        }
    };
    let cancel_button = cancel.clone();
    let count = replaced.len();
    view! {
        <Modal
            labelled_by="delete-replaced-title"
            alert=true
            may_cancel=Signal::derive(move || !busy.get())
            on_cancel=cancel
            return_focus=return_focus
        >
            <h2 id="delete-replaced-title">{format!("Delete {count} replaced secrets?")}</h2>
            <p>
                "Each has a newer secret that outlives it. They stop working at once: an integration that still uses one will be refused at the token endpoint. This cannot be undone."
            </p>
            <ul class="plain">
                {replaced
                    .into_iter()
                    .map(|secret| {
                        view! {
                            <li>
                                <strong class="long-name">{secret.name}</strong>
                                " (" <code class="nowrap">{logic::hint_display(&secret.hint)}</code> "), expires "
                                <span class="nowrap">{logic::date(secret.expires_at)}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <ErrorSlot error=error />
            <div class="actions">
                <button type="button" class="secondary" on:click=move |_| cancel_button() autofocus=true>
                    "Cancel"
                </button>
                <button type="button" class="danger" on:click=confirm disabled=move || busy.get()>
                    "Delete replaced secrets"
                </button>
            </div>
        </Modal>
    }
}

/// Which expiry the person picked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Days(u32),
    Months(u32),
    Date,
}

impl Expiry {
    fn id(self) -> String {
        match self {
            Self::Days(days) => format!("expiry-{days}d"),
            Self::Months(months) => format!("expiry-{months}"),
            Self::Date => "expiry-date".to_owned(),
        }
    }
}

/// The new-secret dialog: a name and an expiry, then the value exactly once. It cannot be
/// dismissed by accident once the value is shown: only after the person confirms they
/// stored it. `on_created` runs once the secret exists (so the list behind the dialog shows
/// it at once); `on_close` gets the success message, or `None` when cancelled.
#[component]
fn NewSecretDialog(
    path: String,
    /// "Client" or "Device": what its title calls the secret.
    kind: &'static str,
    holder_name: String,
    on_created: impl Fn() + Send + Sync + 'static,
    on_close: impl Fn(Option<String>) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let created: RwSignal<Option<NewClientSecret>> = RwSignal::new(None);
    Effect::new(move |_| {
        if created.with(Option::is_some) {
            on_created();
        }
    });
    let cancel = {
        let on_close = on_close.clone();
        move || on_close(None)
    };
    let cancel_form = cancel.clone();
    view! {
        <Modal
            labelled_by="new-secret-title"
            may_cancel=Signal::derive(move || created.with(Option::is_none))
            on_cancel=cancel
        >
            {move || match created.get() {
                None => {
                    let cancel = cancel_form.clone();
                    view! { <NewSecretForm path=path.clone() kind=kind created=created on_cancel=cancel /> }
                        .into_any()
                }
                Some(secret) => {
                    let on_close = on_close.clone();
                    let message = format!("The secret “{}” was created.", secret.info.name);
                    view! {
                        <ShownOnce
                            secret=secret
                            holder_name=holder_name.clone()
                            on_done=move || on_close(Some(message.clone()))
                        />
                    }
                        .into_any()
                }
            }}
        </Modal>
    }
}

/// A text field's `aria-describedby`: its help, its counter and its error, when shown.
fn described_by(id: String, error: RwSignal<Option<String>>) -> impl Fn() -> String + Send + Sync {
    move || {
        let mut ids = format!("{id}-help {id}-count");
        if error.with(Option::is_some) {
            ids.push_str(&format!(" {id}-error"));
        }
        ids
    }
}

/// A one-line text field with its label, help, a visible "n of max characters" counter and
/// its error, each tied to it by id (`{id}-help`, `{id}-count`, `{id}-error`); typing clears
/// the error. `first`: the dialog's first field, focused when it opens.
#[component]
pub(super) fn CountedField(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    #[prop(into)] help: String,
    max: usize,
    value: RwSignal<String>,
    error: RwSignal<Option<String>>,
    #[prop(optional)] first: bool,
) -> impl IntoView {
    view! {
        <label for=id.clone()>{label}</label>
        <input
            id=id.clone()
            type="text"
            required=first
            autofocus=first
            maxlength=max.to_string()
            aria-describedby=described_by(id.clone(), error)
            aria-invalid=move || error.get().is_some().to_string()
            prop:value=move || value.get()
            on:input=move |ev| {
                value.set(event_target_value(&ev));
                error.set(None);
            }
        />
        <p id=format!("{id}-help") class="help">{help}</p>
        <p id=format!("{id}-count") class="counter">
            {move || format!("{} of {max} characters", value.with(|text| text.chars().count()))}
        </p>
        <FieldError field=id error=error />
    }
}

/// An error tied to its field by id (`{field}-error`).
#[component]
pub(super) fn FieldError(
    #[prop(into)] field: String,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let id = format!("{field}-error");
    move || {
        error
            .get()
            .map(|message| view! { <p class="error" id=id.clone()>{message}</p> })
    }
}

/// Moves focus to the element `id` (the first invalid field).
pub(super) fn focus(id: &str) {
    use wasm_bindgen::JsCast;
    if let Some(element) = document()
        .get_element_by_id(id)
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

#[component]
fn NewSecretForm(
    path: String,
    kind: &'static str,
    created: RwSignal<Option<NewClientSecret>>,
    on_cancel: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let now = now();
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let expiry = RwSignal::new(Expiry::Months(6));
    let picked = RwSignal::new(logic::date_only(logic::preset_date(now, 6)));
    let name_error = RwSignal::new(None::<String>);
    let description_error = RwSignal::new(None::<String>);
    let date_error = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let chosen_date = move || match expiry.get() {
        Expiry::Days(days) => Some(logic::preset_days_date(now, days)),
        Expiry::Months(months) => Some(logic::preset_date(now, months)),
        Expiry::Date => logic::parse_date(&picked.get()),
    };
    let first_invalid = move || {
        if name_error.with(Option::is_some) {
            Some("secret-name".to_owned())
        } else if description_error.with(Option::is_some) {
            Some("secret-description".to_owned())
        } else if date_error.with(Option::is_some) {
            Some(match expiry.get_untracked() {
                Expiry::Date => "expiry-date-value".to_owned(),
                other => other.id(),
            })
        } else {
            None
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let date = chosen_date();
        name_error.set(logic::name_error(&name.get()));
        description_error.set(logic::description_error(&description.get()));
        date_error.set(logic::expiry_error(date, now));
        if let Some(field) = first_invalid() {
            focus(&field);
            return;
        }
        let Some(date) = date else { return };
        let body = CreateSecret {
            name: name.get().trim().to_owned(),
            expires_on: date,
            description: description.get().trim().to_owned(),
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
                    show_field_error(failed, name_error, description_error, date_error, error);
                    if let Some(field) = first_invalid() {
                        focus(&field);
                    }
                }
            }
        });
    };
    let latest = logic::date_only(logic::latest_date(now));
    let presets = std::iter::once(Expiry::Days(logic::PRESET_DAYS)).chain(
        logic::PRESET_MONTHS
            .iter()
            .map(|months| Expiry::Months(*months)),
    );
    view! {
        <h2 id="new-secret-title">{format!("New {} secret", kind.to_ascii_lowercase())}</h2>
        <form on:submit=submit novalidate=true>
            <CountedField
                id="secret-name"
                label="Name"
                help="So you can tell your secrets apart, for example “production 2027”."
                max=MAX_SECRET_NAME_CHARS
                value=name
                error=name_error
                first=true
            />
            <CountedField
                id="secret-description"
                label="Description (optional)"
                help="What uses it, for example “CI deploy of the billing service”."
                max=MAX_SECRET_DESCRIPTION_CHARS
                value=description
                error=description_error
            />
            <fieldset aria-describedby="expiry-help expiry-error">
                <legend>"Expires"</legend>
                {presets
                    .map(|choice| {
                        let id = choice.id();
                        let label = match choice {
                            Expiry::Days(days) => format!("In {days} days ({})", logic::preset_days_date(now, days)),
                            Expiry::Months(12) => format!("In 1 year ({})", logic::preset_date(now, 12)),
                            Expiry::Months(months) => format!("In {months} months ({})", logic::preset_date(now, months)),
                            Expiry::Date => String::new(),
                        };
                        view! {
                            <div class="choice">
                                <input
                                    type="radio"
                                    id=id.clone()
                                    name="expiry"
                                    prop:checked=move || expiry.get() == choice
                                    on:change=move |_| expiry.set(choice)
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
                    <label for="expiry-date">"On a date (YYYY-MM-DD)"</label>
                    <input
                        id="expiry-date-value"
                        class="date"
                        type="text"
                        inputmode="numeric"
                        autocomplete="off"
                        placeholder="YYYY-MM-DD"
                        pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"
                        maxlength="10"
                        aria-label="Expiry date, as YYYY-MM-DD"
                        aria-describedby="expiry-help expiry-error"
                        aria-invalid=move || (date_error.get().is_some() && expiry.get() == Expiry::Date).to_string()
                        disabled=move || expiry.get() != Expiry::Date
                        prop:value=move || picked.get()
                        // It starts with a date filled in, at its full length: typing must
                        // replace it rather than be refused.
                        on:focus=|ev| {
                            use wasm_bindgen::JsCast;
                            if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                                input.select();
                            }
                        }
                        on:input=move |ev| {
                            picked.set(event_target_value(&ev));
                            date_error.set(None);
                        }
                    />
                </div>
                <p id="expiry-help" class="help">
                    "At most one year ahead (until " <span class="nowrap">{latest}</span>
                    "). The secret works through the end of that day, UTC."
                </p>
            </fieldset>
            <FieldError field="expiry" error=date_error />
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
    description_error: RwSignal<Option<String>>,
    date_error: RwSignal<Option<String>>,
    error: RwSignal<Option<String>>,
) {
    match failed.field.as_deref() {
        Some("name") => name_error.set(Some(failed.message)),
        Some("description") => description_error.set(Some(failed.message)),
        Some("expires_at" | "expires_on") => date_error.set(Some(failed.message)),
        _ => error.set(Some(failed.message)),
    }
}

/// The value, once, with copy and download and a warning; closable only after confirming.
/// Until then, leaving or reloading the page asks first (`beforeunload`).
#[component]
fn ShownOnce(
    secret: NewClientSecret,
    holder_name: String,
    on_done: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let stored = RwSignal::new(false);
    let leaving = window_event_listener(leptos::ev::beforeunload, move |ev| {
        if !stored.get_untracked() {
            ev.prevent_default();
            ev.set_return_value("The new secret is shown only once.");
        }
    });
    on_cleanup(move || leaving.remove());
    let file_name = format!(
        "{}-{}.txt",
        file_safe(&holder_name),
        file_safe(&secret.info.name)
    );
    view! {
        <h2 id="new-secret-title" class="long-name">{format!("Secret “{}” created", secret.info.name)}</h2>
        <p class="warning">
            <strong>"Copy the secret now: it will not be shown again."</strong>
            " Clavis stores only a hash of it. If you lose it, create a new one."
        </p>
        <div class="secret-value">
            <code id="secret-value">{secret.value.clone()}</code>
            <div class="secret-actions">
                <CopyButton text=secret.value.clone() label="Copy the secret value" select="secret-value" />
                <DownloadButton text=format!("{}\n", secret.value) file_name=file_name label="Download as file" />
            </div>
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

/// A name as part of a file name: letters, digits, `-` and `_`; anything else becomes `-`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Who gets the organisation's expiry reminders; its credential managers (and admins) set
/// its shared mailbox here.
#[component]
fn Reminders(organisation_id: String) -> impl IntoView {
    let manage = may_manage_secrets(&me(), &organisation_id);
    let path = format!("/api/v1/organisations/{organisation_id}/reminder-recipients");
    let recipients = api::resource(move || path.clone());
    let mailbox_path = format!("/api/v1/organisations/{organisation_id}/reminder-mailbox");
    view! {
        <section class="card" aria-labelledby="reminders-title">
            <h2 id="reminders-title">"Expiry reminders"</h2>
            {move || match api::loaded::<ReminderRecipients>(recipients) {
                None => view! { <Loading what="who gets reminders" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(found)) => {
                    let mailbox_path = mailbox_path.clone();
                    view! {
                        {if found.reminders_sent {
                            view! {
                                <p class="help">
                                    "Reminders go out 42, 21 and 7 days before a secret expires, then daily, to the organisation's credential managers and its reminder mailbox."
                                </p>
                            }
                                .into_any()
                        } else {
                            view! {
                                <p class="warning">
                                    "Expiry reminders are off on this Clavis: no mail server is set up, so nobody is e-mailed before a secret expires. Keep an eye on the expiry dates here, and ask a platform admin to turn reminders on."
                                </p>
                            }
                                .into_any()
                        }}
                        <ul class="plain contacts">
                            {found
                                .credential_managers
                                .iter()
                                .map(|contact| {
                                    view! {
                                        <li>
                                            {contact.name.clone().map(|name| format!("{name} "))}
                                            <span class="long-name">{contact.email.clone()}</span>
                                            <span class="muted">" (credential manager)"</span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                            {found
                                .notification_email
                                .clone()
                                .map(|address| {
                                    view! {
                                        <li>
                                            <span class="long-name">{address}</span>
                                            <span class="muted">" (reminder mailbox)"</span>
                                        </li>
                                    }
                                })}
                        </ul>
                        {(found.credential_managers.is_empty() && found.notification_email.is_none())
                            .then(|| view! { <p class="empty">"Nobody gets these reminders yet."</p> })}
                        {manage
                            .then(|| {
                                view! {
                                    <MailboxForm
                                        path=mailbox_path
                                        current=found.notification_email.clone().unwrap_or_default()
                                        on_saved=move || recipients.refetch()
                                    />
                                }
                            })}
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

/// The organisation's reminder mailbox (empty removes it).
#[component]
fn MailboxForm(
    path: String,
    current: String,
    on_saved: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let address = RwSignal::new(current);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (path, csrf, on_saved) = (path.clone(), csrf.clone(), on_saved.clone());
        let body = SetReminderMailbox {
            notification_email: address.get().trim().to_owned(),
        };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::put(&path, &body, &csrf).await {
                Ok(_) => on_saved(),
                Err(failed) => {
                    busy.set(false);
                    error.set(Some(failed.message));
                    focus("mailbox");
                }
            }
        });
    };
    view! {
        <form class="inline" on:submit=save novalidate=true>
            <label for="mailbox">"Reminder mailbox"</label>
            <div class="field-row">
                <input
                    id="mailbox"
                    type="email"
                    autocomplete="email"
                    aria-describedby=move || if error.with(Option::is_some) { "mailbox-help mailbox-error" } else { "mailbox-help" }
                    aria-invalid=move || error.get().is_some().to_string()
                    prop:value=move || address.get()
                    on:input=move |ev| address.set(event_target_value(&ev))
                />
                <button type="submit" disabled=move || busy.get()>"Save the reminder mailbox"</button>
            </div>
            <p id="mailbox-help" class="help">"A team address that gets every reminder too. Leave it empty to have none."</p>
            <FieldError field="mailbox" error=error />
        </form>
    }
}
