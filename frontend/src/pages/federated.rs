//! An application's federated credentials, beside its secrets and keys: tokens from a
//! trusted issuer (a Kubernetes cluster, a CI system) with an exact subject prove the
//! application, so nothing secret is kept at all. Listed, added in a dialog that offers the
//! issuers admins trust, deleted after a confirmation.

use clavis_shared::dto::{FederatedCredentialInfo, TrustedIssuerInfo};
use clavis_shared::portal::AddFederatedCredential;
use clavis_shared::validate::{
    self, MAX_FEDERATED_CLAIM_CHARS, MAX_FEDERATED_CREDENTIALS, MAX_SECRET_NAME_CHARS,
};
use leptos::callback::Callback;
use leptos::prelude::*;

use super::application::{CountedField, FieldError, focus};
use super::confirm::ConfirmDelete;
use crate::api::{self, ApiResult};
use crate::logic;
use crate::widgets::{ErrorMessage, ErrorSlot, Loading, Modal, StatusMessage, me};

/// The id of the card's heading: where focus goes after a deleted credential's row is gone.
const TITLE: &str = "federated-title";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dialog {
    Add,
    Delete(FederatedCredentialInfo),
}

/// The federated credentials card: count against the limit, "Add federated credential",
/// the table, and its dialogs.
#[component]
pub fn FederatedCredentials(client_id: String, manage: bool) -> impl IntoView {
    let path = format!("/api/v1/applications/{client_id}/federated");
    let credentials = {
        let path = path.clone();
        api::resource(move || path.clone())
    };
    let listed: Memo<Option<ApiResult<Vec<FederatedCredentialInfo>>>> =
        Memo::new(move |_| api::loaded::<Vec<FederatedCredentialInfo>>(credentials));
    let counted = move || {
        listed
            .get()
            .and_then(Result::ok)
            .map_or(0, |list| list.len())
    };
    let at_limit = move || counted() >= MAX_FEDERATED_CREDENTIALS as usize;
    let dialog = RwSignal::new(None::<Dialog>);
    let status = RwSignal::new(None::<String>);
    let return_focus = RwSignal::new(None::<String>);
    let open = move |which: Dialog| {
        return_focus.set(None);
        status.set(None);
        dialog.set(Some(which));
    };
    let finished = move |message: Option<String>, row_gone: bool| {
        if let Some(message) = message {
            if row_gone {
                return_focus.set(Some(TITLE.to_owned()));
            }
            status.set(Some(message));
            credentials.refetch();
        }
        dialog.set(None);
    };
    view! {
        <section class="card" aria-labelledby=TITLE>
            <div class="row">
                <h2 id=TITLE tabindex="-1">"Federated credentials"</h2>
                <span class="count">
                    {move || format!("{} of {MAX_FEDERATED_CREDENTIALS}", counted())}
                </span>
                {manage
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="new-federated"
                                disabled=at_limit
                                aria-describedby=move || at_limit().then_some("federated-limit-reason")
                                on:click=move |_| open(Dialog::Add)
                            >
                                "Add federated credential"
                            </button>
                        }
                    })}
            </div>
            <StatusMessage message=status />
            {move || {
                at_limit()
                    .then(|| {
                        view! {
                            <p class="notice" id="federated-limit-reason">
                                {format!(
                                    "Add federated credential is unavailable: this application has {MAX_FEDERATED_CREDENTIALS}, the most allowed. Delete one it no longer uses first."
                                )}
                            </p>
                        }
                    })
            }}
            <p class="help">
                "A workload proves this application with a token its own platform issued, such as a Kubernetes service account token, sent as client_assertion with this application's client_id. Nothing secret is stored or rotated."
            </p>
            {move || match listed.get() {
                None => view! { <Loading what="federated credentials" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="empty">"This application has no federated credentials."</p> }
                        .into_any()
                }
                Some(Ok(list)) => {
                    view! {
                        <CredentialTable
                            list=list
                            manage=manage
                            on_delete=move |credential| open(Dialog::Delete(credential))
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
                    Dialog::Add => {
                        view! { <AddDialog path=path on_close=move |message| finished(message, false) /> }
                            .into_any()
                    }
                    Dialog::Delete(credential) => {
                        view! {
                            <ConfirmDelete
                                title=format!("Delete the federated credential “{}”?", credential.name)
                                text=format!(
                                    "Tokens of {} from {} stop proving this application at once. This cannot be undone.",
                                    credential.subject,
                                    credential.issuer_name,
                                )
                                button="Delete credential"
                                target=format!("{path}/{}", credential.id)
                                deleted=format!("The federated credential “{}” was deleted.", credential.name)
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

#[component]
fn CredentialTable(
    list: Vec<FederatedCredentialInfo>,
    manage: bool,
    on_delete: impl Fn(FederatedCredentialInfo) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="stack">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Issuer"</th>
                        <th scope="col">"Subject"</th>
                        <th scope="col">"Audience"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        {manage.then(|| view! { <th scope="col">"Actions"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|credential| {
                            let doomed = credential.clone();
                            let on_delete = on_delete.clone();
                            view! {
                                <tr>
                                    <td data-label="Name">
                                        <strong class="long-name">{credential.name.clone()}</strong>
                                    </td>
                                    <td data-label="Issuer">
                                        {credential.issuer_name.clone()}
                                        <br />
                                        <code class="long-name muted">{credential.issuer.clone()}</code>
                                    </td>
                                    <td data-label="Subject">
                                        <code class="long-name">{credential.subject.clone()}</code>
                                    </td>
                                    <td data-label="Audience">
                                        <code class="long-name">{credential.audience.clone()}</code>
                                    </td>
                                    <td data-label="Created">
                                        {logic::date(credential.created_at)}
                                        <br />
                                        <span class="muted long-name">{credential.created_by.clone()}</span>
                                    </td>
                                    <td data-label="Last used">
                                        {credential.last_used_at.map_or_else(|| "Never".to_owned(), logic::date)}
                                    </td>
                                    {manage
                                        .then(|| {
                                            let name = credential.name.clone();
                                            view! {
                                                <td data-label="Actions">
                                                    <button
                                                        type="button"
                                                        class="danger"
                                                        aria-label=format!("Delete the federated credential {name}")
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

/// What is wrong with a typed value, in the words the form shows.
fn problem<T>(checked: Result<T, validate::ValidationError>) -> Option<String> {
    checked.err().map(|invalid| invalid.message)
}

/// The add dialog: a name, a trusted issuer, the exact subject, and the audience.
#[component]
fn AddDialog(
    path: String,
    on_close: impl Fn(Option<String>) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let issuers = api::resource(|| "/api/v1/issuers".to_owned());
    let name = RwSignal::new(String::new());
    let issuer = RwSignal::new(String::new());
    let subject = RwSignal::new(String::new());
    let audience = RwSignal::new(String::new());
    let errors: [RwSignal<Option<String>>; 4] = std::array::from_fn(|_| RwSignal::new(None));
    let [name_error, issuer_error, subject_error, audience_error] = errors;
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let cancel = {
        let on_close = on_close.clone();
        move || on_close(None)
    };
    let cancel_button = cancel.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        name_error.set(problem(validate::credential_name(&name.get())));
        issuer_error.set(
            issuer
                .with(String::is_empty)
                .then(|| "Choose the issuer whose tokens to accept.".to_owned()),
        );
        subject_error.set(problem(validate::federated_subject(&subject.get())));
        let typed_audience = audience.get().trim().to_owned();
        audience_error.set(if typed_audience.is_empty() {
            None
        } else {
            problem(validate::federated_audience(&typed_audience))
        });
        let fields = [
            ("federated-name", name_error),
            ("federated-issuer", issuer_error),
            ("federated-subject", subject_error),
            ("federated-audience", audience_error),
        ];
        if let Some((field, _)) = fields
            .into_iter()
            .find(|(_, error)| error.with_untracked(Option::is_some))
        {
            focus(field);
            return;
        }
        let body = AddFederatedCredential {
            name: name.get().trim().to_owned(),
            issuer: issuer.get(),
            subject: subject.get().trim().to_owned(),
            audience: (!typed_audience.is_empty()).then_some(typed_audience),
        };
        let (path, csrf, on_close) = (path.clone(), csrf.clone(), on_close.clone());
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::post(&path, &body, &csrf)
                .await
                .and_then(|text| api::parse::<FederatedCredentialInfo>(&text))
            {
                Ok(added) => on_close(Some(format!(
                    "The federated credential “{}” was added.",
                    added.name
                ))),
                Err(failed) => {
                    busy.set(false);
                    let (field, slot) = match failed.field.as_deref() {
                        Some("name") => ("federated-name", name_error),
                        Some("issuer") => ("federated-issuer", issuer_error),
                        Some("subject") => ("federated-subject", subject_error),
                        Some("audience") => ("federated-audience", audience_error),
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
    let issuer_choice = move || {
        match api::loaded::<Vec<TrustedIssuerInfo>>(issuers) {
        None => view! { <Loading what="trusted issuers" /> }.into_any(),
        Some(Err(failed)) => view! { <ErrorMessage error=failed /> }.into_any(),
        Some(Ok(list)) if list.is_empty() => view! {
            <p class="notice" id="federated-issuer-help">
                "No issuer is trusted yet. Ask a platform admin to trust your platform's issuer (Admin, Issuers) first."
            </p>
        }
        .into_any(),
        Some(Ok(list)) => view! {
            <select
                id="federated-issuer"
                aria-describedby=move || {
                    if issuer_error.with(Option::is_some) { "federated-issuer-help federated-issuer-error" } else { "federated-issuer-help" }
                }
                aria-invalid=move || issuer_error.get().is_some().to_string()
                on:change=move |ev| {
                    issuer.set(event_target_value(&ev));
                    issuer_error.set(None);
                }
            >
                <option value="" selected=move || issuer.with(String::is_empty)>"Choose an issuer"</option>
                {list
                    .into_iter()
                    .map(|trusted| {
                        let value = trusted.issuer.clone();
                        let chosen = value.clone();
                        view! {
                            <option value=value selected=move || issuer.with(|now| *now == chosen)>
                                {format!("{} ({})", trusted.name, trusted.issuer)}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <p id="federated-issuer-help" class="help">"Only issuers a platform admin trusts can be chosen."</p>
        }
        .into_any(),
    }
    };
    view! {
        <Modal labelled_by="add-federated-title" may_cancel=Signal::derive(move || !busy.get()) on_cancel=cancel>
            <h2 id="add-federated-title">"Add a federated credential"</h2>
            <form on:submit=submit novalidate=true>
                <CountedField
                    id="federated-name"
                    label="Name"
                    help="So you can tell your credentials apart, for example “billing exporter on cluster 1”."
                    max=MAX_SECRET_NAME_CHARS
                    value=name
                    error=name_error
                    first=true
                />
                <label for="federated-issuer">"Issuer"</label>
                {issuer_choice}
                <FieldError field="federated-issuer" error=issuer_error />
                <CountedField
                    id="federated-subject"
                    label="Subject (sub)"
                    help="Exactly as the token carries it, such as system:serviceaccount:billing:exporter. No wildcards."
                    max=MAX_FEDERATED_CLAIM_CHARS
                    value=subject
                    error=subject_error
                />
                <CountedField
                    id="federated-audience"
                    label="Audience (aud), optional"
                    help="The audience the platform puts in the token. Leave it empty to require this Clavis's own issuer identifier."
                    max=MAX_FEDERATED_CLAIM_CHARS
                    value=audience
                    error=audience_error
                />
                <ErrorSlot error=error />
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| cancel_button()>"Cancel"</button>
                    <button type="submit" disabled=move || busy.get()>"Add federated credential"</button>
                </div>
            </form>
        </Modal>
    }
}
