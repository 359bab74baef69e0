//! How an application proves itself at the token endpoint (issue 19): the methods it
//! accepts, the subject a CA-issued certificate must name (`tls_client_auth`), and whether
//! its tokens must be bound to a certificate. Everyone who sees the application sees the
//! settings; credential managers change them. One form serves both, disabled for viewers.

use clavis_shared::client_auth::{
    CertificateSubject, ClientAuthMethod, ClientAuthentication, SetClientAuthentication,
    SubjectField,
};
use leptos::prelude::*;

use super::application::{FieldError, focus};
use crate::api;
use crate::widgets::{ErrorMessage, Loading, StatusMessage, me};

const TITLE: &str = "auth-title";

/// The card: loads the settings, then shows them in [`SettingsForm`].
#[component]
pub fn ClientAuthenticationCard(client_id: String, manage: bool) -> impl IntoView {
    let path = format!("/api/v1/applications/{client_id}/client-authentication");
    let setting = {
        let path = path.clone();
        api::resource(move || path.clone())
    };
    let status = RwSignal::new(None::<String>);
    let shown = move || match api::loaded::<ClientAuthentication>(setting) {
        None => view! { <Loading what="how the application authenticates" /> }.into_any(),
        Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
        Some(Ok(current)) => {
            view! { <SettingsForm path=path.clone() current=current manage=manage status=status /> }
                .into_any()
        }
    };
    view! {
        <section class="card" aria-labelledby=TITLE>
            <h2 id=TITLE>"How the application authenticates"</h2>
            {shown}
            <StatusMessage message=status />
        </section>
    }
}

/// What mutual TLS can do here, when it cannot do everything the settings ask.
fn reach_notice(current: &ClientAuthentication) -> Option<&'static str> {
    if !current.mutual_tls {
        Some(
            "Mutual TLS is not set up on this Clavis: certificate methods and bound tokens work once an admin sets it up.",
        )
    } else if !current.tls_client_auth_ca {
        Some(
            "No CA is configured here for client certificates: CA-issued certificates are refused until an admin adds one.",
        )
    } else {
        None
    }
}

#[component]
fn SettingsForm(
    path: String,
    current: ClientAuthentication,
    manage: bool,
    status: RwSignal<Option<String>>,
) -> impl IntoView {
    let notice = reach_notice(&current);
    let settings = current.settings;
    let chosen = RwSignal::new(settings.auth_methods.clone());
    let field = RwSignal::new(settings.tls_client_auth.as_ref().map(|s| s.field));
    let value = RwSignal::new(
        settings
            .tls_client_auth
            .map(|subject| subject.value)
            .unwrap_or_default(),
    );
    let bound = RwSignal::new(settings.require_bound_tokens);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = SetClientAuthentication {
            auth_methods: chosen.get(),
            tls_client_auth: field.get().map(|field| CertificateSubject {
                field,
                value: value.get(),
            }),
            require_bound_tokens: bound.get(),
        };
        let (path, csrf) = (path.clone(), csrf.clone());
        busy.set(true);
        error.set(None);
        status.set(None);
        leptos::task::spawn_local(async move {
            let saved = api::put(&path, &body, &csrf).await;
            busy.set(false);
            match saved {
                Ok(_) => status.set(Some(
                    "Saved: the next token request follows these settings.".to_owned(),
                )),
                Err(failed) => {
                    let on_methods = failed.field.as_deref() == Some("auth_methods");
                    error.set(Some(failed.message));
                    focus(if on_methods {
                        "auth-any"
                    } else {
                        "auth-subject"
                    });
                }
            }
        });
    };
    // Unticked while every method is accepted: ticks show a choice, not what it has.
    let is_chosen =
        move |method| chosen.with(|list| list.as_ref().is_some_and(|list| list.contains(&method)));
    let toggle = move |method: ClientAuthMethod, on: bool| {
        chosen.update(|list| {
            let list = list.get_or_insert_with(|| ClientAuthMethod::ALL.to_vec());
            list.retain(|listed| *listed != method);
            if on {
                list.push(method);
            }
        });
    };
    view! {
        {notice.map(|notice| view! { <p class="warning">{notice}</p> })}
        {(!manage).then(|| view! { <p class="help">"Only credential managers can change this."</p> })}
        <form on:submit=save novalidate=true>
            <fieldset disabled=!manage>
                <legend>"Methods it accepts"</legend>
                <label class="choice">
                    <input
                        type="checkbox"
                        id="auth-any"
                        prop:checked=move || chosen.with(Option::is_none)
                        on:change=move |ev| chosen.set((!event_target_checked(&ev)).then(|| ClientAuthMethod::ALL.to_vec()))
                    />
                    " Every method it has credentials for (untick to choose which)"
                </label>
                {ClientAuthMethod::ALL
                    .into_iter()
                    .map(|method| {
                        view! {
                            <label class="choice">
                                <input
                                    type="checkbox"
                                    prop:checked=move || is_chosen(method)
                                    disabled=move || chosen.with(Option::is_none)
                                    on:change=move |ev| toggle(method, event_target_checked(&ev))
                                />
                                <span>{method.label()} " " <code>{method.as_str()}</code></span>
                            </label>
                        }
                    })
                    .collect_view()}
                <label for="auth-field">"A CA-issued certificate must carry"</label>
                <div class="field-row">
                    <select
                        id="auth-field"
                        on:change=move |ev| field.set(SubjectField::parse(&event_target_value(&ev)))
                    >
                        <option value="" selected=field.get_untracked().is_none()>"Nothing (none accepted)"</option>
                        {SubjectField::ALL
                            .into_iter()
                            .map(|option| {
                                view! {
                                    <option value=option.as_str() selected=field.get_untracked() == Some(option)>
                                        {option.label()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    <input
                        id="auth-subject"
                        type="text"
                        aria-label="The subject DN or SAN it must carry"
                        autocomplete="off"
                        disabled=move || field.with(Option::is_none)
                        placeholder=move || field.get().map(SubjectField::example)
                        aria-invalid=move || error.get().is_some().to_string()
                        aria-describedby="auth-subject-error"
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))
                    />
                </div>
                <FieldError field="auth-subject" error=error />
                <label class="choice">
                    <input
                        type="checkbox"
                        prop:checked=move || bound.get()
                        on:change=move |ev| bound.set(event_target_checked(&ev))
                    />
                    " Bind tokens to the client certificate (RFC 8705): tokens are then used over mutual TLS with it"
                </label>
                {manage
                    .then(|| {
                        view! {
                            <button type="submit" disabled=move || busy.get()>
                                "Save how it authenticates"
                            </button>
                        }
                    })}
            </fieldset>
        </form>
    }
}
