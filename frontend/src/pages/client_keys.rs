//! An application's public keys and certificates for `private_key_jwt`, beside its secrets:
//! listed with their thumbprints and expiry, added by pasting or choosing a file, deleted
//! after a confirmation. Only public keys are ever sent: the server refuses a private key,
//! and the form says so before sending one.

use clavis_shared::dto::{ClientKeyInfo, SecretStatus};
use clavis_shared::portal::{AddClientKey, JwksUriSetting, SetJwksUri};
use clavis_shared::validate::{MAX_ACTIVE_CLIENT_KEYS, MAX_SECRET_NAME_CHARS};
use leptos::callback::Callback;
use leptos::prelude::*;

use super::application::{CountedField, FieldError, LifeCells, focus};
use super::confirm::ConfirmDelete;
use crate::api::{self, ApiResult};
use crate::logic;
use crate::widgets::{CopyButton, ErrorMessage, ErrorSlot, Loading, Modal, StatusMessage, me, now};

/// The id of the keys heading: where focus goes after a deleted key's row is gone.
const KEYS_TITLE: &str = "keys-title";

/// What a dialog of the keys section is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyDialog {
    Add,
    Delete(Box<ClientKeyInfo>),
}

/// The keys card: count against the limit, "Add key", the table, and its dialogs.
#[component]
pub fn ClientKeys(client_id: String, manage: bool) -> impl IntoView {
    let path = format!("/api/v1/applications/{client_id}/keys");
    let keys = {
        let path = path.clone();
        api::resource(move || path.clone())
    };
    let listed: Memo<Option<ApiResult<Vec<ClientKeyInfo>>>> =
        Memo::new(move |_| api::loaded::<Vec<ClientKeyInfo>>(keys));
    let counted = move || {
        listed
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
            .iter()
            .filter(|key| key.status != SecretStatus::Expired)
            .count()
    };
    let at_limit = move || counted() >= MAX_ACTIVE_CLIENT_KEYS as usize;
    let dialog = RwSignal::new(None::<KeyDialog>);
    let status = RwSignal::new(None::<String>);
    let return_focus = RwSignal::new(None::<String>);
    let open = move |which: KeyDialog| {
        return_focus.set(None);
        status.set(None);
        dialog.set(Some(which));
    };
    let finished = move |message: Option<String>, row_gone: bool| {
        if let Some(message) = message {
            if row_gone {
                return_focus.set(Some(KEYS_TITLE.to_owned()));
            }
            status.set(Some(message));
            keys.refetch();
        }
        dialog.set(None);
    };
    view! {
        <section class="card" aria-labelledby=KEYS_TITLE>
            <div class="row">
                <h2 id=KEYS_TITLE tabindex="-1">"Public keys and certificates"</h2>
                <span class="count">
                    {move || format!("{} of {MAX_ACTIVE_CLIENT_KEYS} active", counted())}
                </span>
                {manage
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="new-key"
                                disabled=at_limit
                                aria-describedby=move || at_limit().then_some("key-limit-reason")
                                on:click=move |_| open(KeyDialog::Add)
                            >
                                "Add key"
                            </button>
                        }
                    })}
            </div>
            <StatusMessage message=status />
            {move || {
                at_limit()
                    .then(|| {
                        view! {
                            <p class="notice" id="key-limit-reason">
                                {format!(
                                    "Add key is unavailable: this application has {MAX_ACTIVE_CLIENT_KEYS} unexpired keys, the most allowed. Delete one it no longer uses first."
                                )}
                            </p>
                        }
                    })
            }}
            <p class="help">
                "Your application signs a short-lived JWT with its private key and sends it as client_assertion (private_key_jwt). The private key never leaves your systems: register only the certificate or public key."
            </p>
            <JwksUri path=format!("/api/v1/applications/{client_id}/jwks-uri") manage=manage />
            {move || match listed.get() {
                None => view! { <Loading what="keys" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="empty">"This application has no keys yet."</p> }.into_any()
                }
                Some(Ok(list)) => {
                    view! {
                        <KeyTable
                            list=list
                            manage=manage
                            on_delete=move |key| open(KeyDialog::Delete(Box::new(key)))
                        />
                    }
                        .into_any()
                }
            }}
        </section>
        {move || {
            let path = path.clone();
            dialog
                .get()
                .map(|which| match which {
                    KeyDialog::Add => {
                        view! { <AddKeyDialog path=path on_close=move |message| finished(message, false) /> }
                            .into_any()
                    }
                    KeyDialog::Delete(key) => {
                        view! {
                            <ConfirmDelete
                                title=format!("Delete the key “{}”?", key.name)
                                text=format!(
                                    "The {} “{}” ({}) stops working at once: assertions signed with it will be refused at the token endpoint. This cannot be undone.",
                                    key.kind.noun(),
                                    key.name,
                                    thumbprint_hint(&key.thumbprint),
                                )
                                button="Delete key"
                                target=format!("{path}/{}", key.id)
                                deleted=format!("The key “{}” was deleted.", key.name)
                                return_focus=return_focus
                                on_done=Callback::new(move |message| finished(message, true))
                            />
                        }
                            .into_any()
                    }
                })
        }}
    }
}

/// Where the application publishes its keys, if it does; credential managers set or remove
/// it when this Clavis allows some host.
#[component]
fn JwksUri(path: String, manage: bool) -> impl IntoView {
    let setting = {
        let path = path.clone();
        api::resource(move || path.clone())
    };
    // Outside the form, which is drawn anew when the saved setting comes back.
    let status = RwSignal::new(None::<String>);
    let shown = move || match api::loaded::<JwksUriSetting>(setting) {
        None => view! { <Loading what="the jwks_uri" /> }.into_any(),
        Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
        Some(Ok(current)) if current.allowed_hosts.is_empty() && current.jwks_uri.is_none() => {
            ().into_any()
        }
        Some(Ok(current)) => {
            let shown = current
                .jwks_uri
                .clone()
                .map(|url| view! { <p>"Keys are also taken from " <code class="long-name">{url}</code> "."</p> });
            let form = manage.then(|| {
                view! {
                    <JwksUriForm
                        path=path.clone()
                        current=current
                        status=status
                        on_saved=move || setting.refetch()
                    />
                }
            });
            view! {
                {shown}
                {form}
            }
            .into_any()
        }
    };
    view! {
        {shown}
        <StatusMessage message=status />
    }
}

/// Sets or removes the jwks_uri.
#[component]
fn JwksUriForm(
    path: String,
    current: JwksUriSetting,
    status: RwSignal<Option<String>>,
    on_saved: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let url = RwSignal::new(current.jwks_uri.clone().unwrap_or_default());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let hosts = current.allowed_hosts.join(", ");
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (path, csrf, on_saved) = (path.clone(), csrf.clone(), on_saved.clone());
        let text = url.get().trim().to_owned();
        let body = SetJwksUri {
            jwks_uri: (!text.is_empty()).then_some(text.clone()),
        };
        busy.set(true);
        error.set(None);
        status.set(None);
        leptos::task::spawn_local(async move {
            match api::put(&path, &body, &csrf).await {
                Ok(_) => {
                    busy.set(false);
                    status.set(Some(if text.is_empty() {
                        "The jwks_uri was removed.".to_owned()
                    } else {
                        "The jwks_uri was saved.".to_owned()
                    }));
                    on_saved();
                }
                Err(failed) => {
                    busy.set(false);
                    error.set(Some(failed.message));
                    focus("jwks-uri");
                }
            }
        });
    };
    view! {
        <form class="inline" on:submit=save novalidate=true>
            <label for="jwks-uri">"jwks_uri (optional)"</label>
            <div class="field-row">
                <input
                    id="jwks-uri"
                    type="url"
                    autocomplete="off"
                    placeholder="https://keys.example.com/jwks.json"
                    aria-describedby=move || if error.with(Option::is_some) { "jwks-uri-help jwks-uri-error" } else { "jwks-uri-help" }
                    aria-invalid=move || error.get().is_some().to_string()
                    prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))
                />
                <button type="submit" disabled=move || busy.get()>"Save the jwks_uri"</button>
            </div>
            <p id="jwks-uri-help" class="help">
                {format!(
                    "Where your application publishes its public keys, so you need not register each one here. An https URL on {hosts}. Leave it empty to have none."
                )}
            </p>
            <FieldError field="jwks-uri" error=error />
        </form>
    }
}

/// The start of a thumbprint, as people compare keys by it.
fn thumbprint_hint(thumbprint: &str) -> String {
    format!("{}…", thumbprint.chars().take(8).collect::<String>())
}

#[component]
fn KeyTable(
    list: Vec<ClientKeyInfo>,
    manage: bool,
    on_delete: impl Fn(ClientKeyInfo) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let now = now();
    view! {
        <div class="table-wrap">
            <table class="stack">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Thumbprint"</th>
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
                        .map(|key| {
                            let (label, class) = logic::status_badge(key.status);
                            let doomed = key.clone();
                            let on_delete = on_delete.clone();
                            let kid_element = format!("key-kid-{}", key.id);
                            view! {
                                <tr>
                                    <td data-label="Name">
                                        <strong class="long-name">{key.name.clone()}</strong>
                                        {(!key.subject.is_empty())
                                            .then(|| view! { <span class="description">{key.subject.clone()}</span> })}
                                        <span class="secret-id">
                                            "kid "
                                            <code id=kid_element.clone()>{key.kid.clone()}</code>
                                            " "
                                            <CopyButton
                                                text=key.kid.clone()
                                                label=format!("Copy the kid of the key {}", key.name)
                                                select=kid_element
                                            />
                                        </span>
                                    </td>
                                    <td data-label="Type">
                                        {key.kind.label()}
                                        <br />
                                        <span class="muted nowrap">{key.key_type.clone()}</span>
                                    </td>
                                    <td data-label="Thumbprint">
                                        <code class="nowrap" title=key.thumbprint.clone()>
                                            {thumbprint_hint(&key.thumbprint)}
                                        </code>
                                    </td>
                                    <LifeCells
                                        created_at=key.created_at
                                        created_by=key.created_by.clone()
                                        expires_at=key.expires_at
                                        last_used_at=key.last_used_at
                                        now=now
                                    />
                                    <td data-label="Status"><span class=class>{label}</span></td>
                                    {manage
                                        .then(|| {
                                            let name = key.name.clone();
                                            view! {
                                                <td data-label="Actions">
                                                    <button
                                                        type="button"
                                                        class="danger"
                                                        aria-label=format!("Delete the key {name}")
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

/// The add-key dialog: a name, the key (pasted or from a file), and an expiry unless it is
/// a certificate.
#[component]
fn AddKeyDialog(
    path: String,
    on_close: impl Fn(Option<String>) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let now = now();
    let name = RwSignal::new(String::new());
    let key = RwSignal::new(String::new());
    let picked = RwSignal::new(logic::date_only(logic::preset_date(now, 6)));
    let name_error = RwSignal::new(None::<String>);
    let key_error = RwSignal::new(None::<String>);
    let date_error = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let is_certificate = move || key.with(|text| logic::is_certificate(text));
    let cancel = {
        let on_close = on_close.clone();
        move || on_close(None)
    };
    let cancel_button = cancel.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        name_error.set(logic::name_error(&name.get()));
        key_error.set(logic::key_error(&key.get()));
        let date = logic::parse_date(&picked.get());
        date_error.set(if is_certificate() {
            None
        } else {
            logic::expiry_error(date, now)
        });
        let first_invalid = [
            ("key-name", name_error),
            ("key-text", key_error),
            ("key-expiry", date_error),
        ]
        .into_iter()
        .find(|(_, error)| error.with_untracked(Option::is_some));
        if let Some((field, _)) = first_invalid {
            focus(field);
            return;
        }
        let body = AddClientKey {
            name: name.get().trim().to_owned(),
            key: key.get(),
            expires_on: if is_certificate() { None } else { date },
        };
        let (path, csrf, on_close) = (path.clone(), csrf.clone(), on_close.clone());
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::post(&path, &body, &csrf)
                .await
                .and_then(|text| api::parse::<ClientKeyInfo>(&text))
            {
                Ok(added) => on_close(Some(format!(
                    "The {} “{}” was added.",
                    added.kind.noun(),
                    added.name
                ))),
                Err(failed) => {
                    busy.set(false);
                    let (field, slot) = match failed.field.as_deref() {
                        Some("name") => ("key-name", name_error),
                        Some("key") => ("key-text", key_error),
                        Some("expires_at" | "expires_on") => ("key-expiry", date_error),
                        _ => ("", error),
                    };
                    slot.set(Some(failed.message));
                    if !field.is_empty() {
                        focus(field);
                    }
                }
            }
        });
    };
    let latest = logic::date_only(logic::latest_date(now));
    view! {
        <Modal labelled_by="add-key-title" may_cancel=Signal::derive(move || !busy.get()) on_cancel=cancel>
            <h2 id="add-key-title">"Add a public key or certificate"</h2>
            <form on:submit=submit novalidate=true>
                <CountedField
                    id="key-name"
                    label="Name"
                    help="So you can tell your keys apart, for example “billing service 2027”."
                    max=MAX_SECRET_NAME_CHARS
                    value=name
                    error=name_error
                    first=true
                />
                <label for="key-text">"Certificate or public key"</label>
                <textarea
                    id="key-text"
                    rows="8"
                    spellcheck="false"
                    autocomplete="off"
                    aria-describedby=move || {
                        if key_error.with(Option::is_some) { "key-text-help key-text-error" } else { "key-text-help" }
                    }
                    aria-invalid=move || key_error.get().is_some().to_string()
                    prop:value=move || key.get()
                    on:input=move |ev| {
                        key.set(event_target_value(&ev));
                        key_error.set(None);
                    }
                ></textarea>
                <p id="key-text-help" class="help">
                    "Paste a PEM certificate (-----BEGIN CERTIFICATE-----), a PEM public key (-----BEGIN PUBLIC KEY-----) or a JWK, or choose its file. RSA of 2048 bits or more, EC P-256 or P-384, or Ed25519."
                </p>
                <FieldError field="key-text" error=key_error />
                <label for="key-file">"Or choose a file"</label>
                <input
                    id="key-file"
                    type="file"
                    accept=".pem,.crt,.cer,.pub,.json,.jwk"
                    on:change=move |ev| read_chosen_file(&ev, key, key_error)
                />
                {move || {
                    if is_certificate() {
                        view! {
                            <p class="help" id="key-expiry-help">
                                "A certificate expires at its own end date (notAfter), which must be at most two years ahead."
                            </p>
                        }
                            .into_any()
                    } else {
                        view! {
                            <label for="key-expiry">"Expires on (YYYY-MM-DD)"</label>
                            <input
                                id="key-expiry"
                                class="date"
                                type="text"
                                inputmode="numeric"
                                autocomplete="off"
                                placeholder="YYYY-MM-DD"
                                maxlength="10"
                                aria-describedby="key-expiry-help"
                                aria-invalid=move || date_error.get().is_some().to_string()
                                prop:value=move || picked.get()
                                on:input=move |ev| {
                                    picked.set(event_target_value(&ev));
                                    date_error.set(None);
                                }
                            />
                            <p class="help" id="key-expiry-help">
                                "For a public key or JWK: at most one year ahead (until "
                                <span class="nowrap">{latest.clone()}</span>
                                "). It works through the end of that day, UTC."
                            </p>
                            <FieldError field="key-expiry" error=date_error />
                        }
                            .into_any()
                    }
                }}
                <ErrorSlot error=error />
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| cancel_button()>"Cancel"</button>
                    <button type="submit" disabled=move || busy.get()>"Add key"</button>
                </div>
            </form>
        </Modal>
    }
}

/// Reads the chosen file's text into the key field.
fn read_chosen_file(
    ev: &leptos::ev::Event,
    key: RwSignal<String>,
    key_error: RwSignal<Option<String>>,
) {
    use wasm_bindgen::JsCast;
    let Some(file) = ev
        .target()
        .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|input| input.files())
        .and_then(|files| files.get(0))
    else {
        return;
    };
    leptos::task::spawn_local(async move {
        match wasm_bindgen_futures::JsFuture::from(file.text()).await {
            Ok(text) => {
                key.set(text.as_string().unwrap_or_default());
                key_error.set(None);
            }
            Err(_) => key_error.set(Some(
                "The file could not be read. Open it in a text editor and paste its contents instead."
                    .to_owned(),
            )),
        }
    });
}
