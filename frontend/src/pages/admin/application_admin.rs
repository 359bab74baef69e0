//! The admin part of the application page (which contacts see without it): enable or
//! disable the application, its token lifetime, whether it requires a device, and its
//! scopes. Kept apart from
//! `pages/application.rs`, which renders it for admins only.

use clavis_shared::dto::{Api, Application};
use clavis_shared::paging::Page;
use clavis_shared::portal::{ApplicationDetail, GrantRequest, UpdateApplication};
use leptos::callback::Callback;
use leptos::prelude::*;

use super::form::{FormDialog, Input, checkbox, flag, is_set, run, text};
use crate::api;
use crate::widgets::{ErrorMessage, ErrorSlot, Loading, me};

/// The admin actions for the application with `client_id`; shows its current state itself,
/// so a change shows at once.
#[component]
pub fn ApplicationAdmin(#[prop(into)] client_id: String) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let path = format!("/api/v1/applications/{client_id}");
    let detail = {
        let path = path.clone();
        api::resource(move || {
            version.get();
            path.clone()
        })
    };
    let apis = api::resource(|| "/api/v1/apis?per_page=100".to_owned());
    let path = StoredValue::new(path);
    view! {
        <section class="card" aria-labelledby="admin-actions-title">
            <h2 id="admin-actions-title">"Admin actions"</h2>
            <super::form::Announcement />
            {move || match (api::loaded::<ApplicationDetail>(detail), api::loaded::<Page<Api>>(apis)) {
                (Some(Ok(detail)), Some(Ok(apis))) => {
                    actions(detail.application, apis.items, path.get_value(), version).into_any()
                }
                (Some(Err(error)), _) | (_, Some(Err(error))) => view! { <ErrorMessage error=error /> }.into_any(),
                _ => view! { <Loading what="the admin actions" /> }.into_any(),
            }}
        </section>
    }
}

fn actions(
    application: Application,
    apis: Vec<Api>,
    path: String,
    version: RwSignal<u32>,
) -> impl IntoView {
    let csrf = me().csrf_token;
    let error = RwSignal::new(None);
    let confirming = RwSignal::new(false);
    let enabled = application.enabled;
    let toggle = {
        let (path, csrf) = (path.clone(), csrf.clone());
        move |_| {
            if enabled && !confirming.get() {
                confirming.set(true);
                return;
            }
            let body = UpdateApplication {
                enabled: Some(!enabled),
                ..Default::default()
            };
            let said = if enabled {
                "Disabled the application: it gets no more tokens."
            } else {
                "Enabled the application."
            };
            run(
                api::patch(&path, &body, &csrf),
                error,
                version,
                said.to_owned(),
                || {},
            );
        }
    };
    let name = application.name.clone();
    let toggle_label = format!("{} {name}", if enabled { "Disable" } else { "Enable" });
    let state = if enabled {
        "Enabled: it gets tokens."
    } else {
        "Disabled: the token endpoint refuses it, and it gets no new tokens until enabled again."
    };
    let lifetime = RwSignal::new((application.token_lifetime_secs / 60).to_string());
    let device = flag(application.requires_device);
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
    let scopes = StoredValue::new(scopes);
    let form_error = RwSignal::new(None);
    let save = Callback::new(move |close: Callback<()>| {
        let Ok(minutes) = lifetime.get().trim().parse::<i32>() else {
            form_error.set(Some(
                "The token lifetime is a whole number of minutes.".to_owned(),
            ));
            return;
        };
        let mut grants: Vec<GrantRequest> = Vec::new();
        scopes.with_value(|scopes| {
            for (code, scope, on) in scopes {
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
        });
        let body = UpdateApplication {
            token_lifetime_secs: Some(minutes.saturating_mul(60)),
            grants: Some(grants),
            requires_device: Some(is_set(device)),
            ..Default::default()
        };
        run(
            api::patch(&path, &body, &csrf),
            form_error,
            version,
            "Saved the token lifetime, device requirement and scopes.".to_owned(),
            move || close.run(()),
        );
    });
    let inputs = Callback::new(move |()| {
        let mut inputs: Vec<Input> = vec![
            text("lifetime", "Token lifetime (minutes)", lifetime, ""),
            checkbox(
                "requires-device",
                "Requires a device: token requests must also prove one of the organisation's devices (X-Device-Authorization)",
                device,
            ),
        ];
        scopes.with_value(|scopes| {
            inputs.extend(scopes.iter().map(|(code, scope, on)| {
                checkbox(
                    &format!("scope-{code}-{scope}"),
                    &format!("{code}: {scope}"),
                    *on,
                )
            }));
        });
        inputs
    });
    view! {
        <p>{state}</p>
        <div class="row">
            <button type="button" class=if enabled { "danger" } else { "secondary" } aria-label=move || if confirming.get() { format!("Confirm: {toggle_label}") } else { toggle_label.clone() } on:click=toggle>
                {move || match (enabled, confirming.get()) {
                    (true, false) => "Disable",
                    (true, true) => "Confirm disable",
                    _ => "Enable",
                }}
            </button>
            <FormDialog
                opener="Token lifetime, device and scopes"
                opener_label=format!("Token lifetime, device and scopes of {name}")
                title=format!("Token lifetime, device and scopes of {name}")
                inputs=inputs
                submit="Save"
                on_submit=save
                error=form_error
                class="secondary"
            />
        </div>
        {move || confirming.get().then(|| view! {
            <p class="warning">"Disabling stops this application getting tokens at once: the token endpoint refuses its secrets from the next request. Tokens it already holds stay valid until they expire (use Revoke tokens for those)."</p>
        })}
        <ErrorSlot error=error />
    }
}
