//! The OpenID Connect issuers whose tokens federated credentials may accept: a Kubernetes
//! cluster's service account issuer, a CI system, a SPIFFE OIDC discovery provider. Admins
//! trust one once Clavis can fetch its discovery document and keys (the server checks that
//! before it says yes), and untrust one that no credential names any more.

use clavis_shared::admin::TrustIssuer;
use clavis_shared::dto::TrustedIssuerInfo;
use leptos::callback::Callback;
use leptos::prelude::*;

use super::admin_page;
use super::form::{FormDialog, run, text};
use crate::api;
use crate::logic;
use crate::widgets::{ErrorMessage, Loading, me};

#[component]
pub fn Issuers() -> impl IntoView {
    admin_page("Trusted issuers", || {
        let version = RwSignal::new(0u32);
        let issuers = api::resource(move || {
            version.track();
            "/api/v1/issuers".to_owned()
        });
        let listed = move || {
            match api::loaded::<Vec<TrustedIssuerInfo>>(issuers) {
            None => view! { <Loading what="trusted issuers" /> }.into_any(),
            Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
            Some(Ok(list)) if list.is_empty() => {
                view! { <p class="empty">"No issuer is trusted yet."</p> }.into_any()
            }
            Some(Ok(list)) => view! {
                <div class="table-wrap">
                    <table class="stack">
                        <caption class="sr-only">"Trusted issuers"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Issuer"</th>
                                <th scope="col">"Credentials"</th>
                                <th scope="col">"Trusted"</th>
                                <th scope="col">"Actions"</th>
                            </tr>
                        </thead>
                        <tbody>{list.into_iter().map(|issuer| row(issuer, version)).collect_view()}</tbody>
                    </table>
                </div>
            }
            .into_any(),
        }
        };
        view! {
            <div class="row">
                <h1>"Trusted issuers"</h1>
                <TrustNew version=version />
            </div>
            <section class="card">
                <p class="help">"Credential managers let tokens from these issuers prove their applications, each for one exact subject (federated credentials). Clavis fetches each issuer's discovery document and keys itself, over HTTPS. An issuer that credentials still name cannot be untrusted: they are deleted first, by the people who manage them."</p>
                {listed}
            </section>
        }
        .into_any()
    })
}

fn row(issuer: TrustedIssuerInfo, version: RwSignal<u32>) -> impl IntoView {
    let error = RwSignal::new(None);
    let path = format!("/api/v1/issuers/{}", issuer.id);
    let csrf = me().csrf_token;
    let said = format!("{} is no longer trusted.", issuer.issuer);
    let untrust = Callback::new(move |close: Callback<()>| {
        let (path, csrf) = (path.clone(), csrf.clone());
        run(
            async move { api::delete(&path, &csrf).await },
            error,
            version,
            said.clone(),
            move || close.run(()),
        );
    });
    let in_use = issuer.credentials > 0;
    view! {
        <tr>
            <td data-label="Name"><strong class="long-name">{issuer.name.clone()}</strong></td>
            <td data-label="Issuer"><code class="long-name">{issuer.issuer.clone()}</code></td>
            <td data-label="Credentials">{issuer.credentials.to_string()}</td>
            <td data-label="Trusted">
                {logic::date(issuer.created_at)}
                <br />
                <span class="muted long-name">{issuer.created_by.clone()}</span>
            </td>
            <td data-label="Actions">
                {if in_use {
                    view! { <span class="muted">"In use"</span> }.into_any()
                } else {
                    view! {
                        <FormDialog
                            opener="Untrust"
                            opener_label=format!("Stop trusting {}", issuer.name)
                            title=format!("Stop trusting {}?", issuer.issuer)
                            inputs=Callback::new(|()| Vec::new())
                            submit="Stop trusting"
                            on_submit=untrust
                            error=error
                            class="danger"
                        />
                    }
                        .into_any()
                }}
            </td>
        </tr>
    }
}

#[component]
fn TrustNew(version: RwSignal<u32>) -> impl IntoView {
    let (url, name) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let trust = Callback::new(move |close: Callback<()>| {
        let named = name.get().trim().to_owned();
        let body = TrustIssuer {
            issuer: url.get().trim().to_owned(),
            name: (!named.is_empty()).then_some(named),
        };
        let said = format!("{} is trusted.", body.issuer);
        let done = move || {
            url.set(String::new());
            name.set(String::new());
            close.run(());
        };
        run(
            api::post("/api/v1/issuers", &body, &csrf),
            error,
            version,
            said,
            done,
        );
    });
    let inputs = Callback::new(move |()| {
        vec![
            text(
                "issuer-url",
                "Issuer URL (exactly as its tokens' iss)",
                url,
                "https://oidc.example.org/cluster-1",
            ),
            text("issuer-name", "Name (optional)", name, "Cluster 1"),
        ]
    });
    view! {
        <FormDialog
            opener="Trust an issuer"
            opener_label="Trust an issuer"
            title="Trust an issuer"
            inputs=inputs
            submit="Trust issuer"
            on_submit=trust
            error=error
        />
    }
}
