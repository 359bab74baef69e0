//! The APIs tokens are issued for: search, sort and paging by the server, create and edit
//! in dialogs (name, scopes, resource servers, signing algorithm).

use clavis_shared::dto::{Api, SigningAlgorithm};
use clavis_shared::paging::Page;
use clavis_shared::portal::{CreateApi, UpdateApi};
use leptos::callback::Callback;
use leptos::prelude::*;

use super::admin_page;
use super::form::{FormDialog, Input, run, select, text};
use super::table::{ListTable, plain, sorted};
use crate::api;
use crate::widgets::me;

const SERVERS_LABEL: &str = "Resource servers (client_ids, space-separated)";
const SCOPES_LABEL: &str = "Scopes (space-separated)";

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// client_ids separated by spaces or commas (as the CLI takes them).
fn client_ids(text: &str) -> Vec<String> {
    words(&text.replace(',', " "))
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

#[component]
pub fn Apis() -> impl IntoView {
    admin_page("APIs", || {
        let version = RwSignal::new(0u32);
        let rows = Callback::new(move |text: String| match api::parse::<Page<Api>>(&text) {
            Ok(page) => page
                .items
                .into_iter()
                .map(|a| row(a, version))
                .collect_view()
                .into_any(),
            Err(error) => {
                view! { <tr><td colspan="5" class="error">{error.message}</td></tr> }.into_any()
            }
        });
        view! {
            <div class="row">
                <h1>"APIs and scopes"</h1>
                <NewApi version=version />
            </div>
            <section class="card">
                <p class="help">"A scope that applications still hold cannot be removed: take it away from them first. Resource servers are the applications that may introspect the API's tokens, besides each token's own client."</p>
                <ListTable
                    endpoint="/api/v1/apis"
                    columns=vec![
                        sorted("Code", "code"),
                        sorted("Name", "name"),
                        sorted("Audience", "audience"),
                        plain("Scopes"),
                        plain("Actions"),
                    ]
                    caption="APIs"
                    search_label="Search by code, name or audience"
                    rows=rows
                    version=version
                />
            </section>
        }
        .into_any()
    })
}

fn row(api: Api, version: RwSignal<u32>) -> impl IntoView {
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
    let csrf = me().csrf_token;
    let save = Callback::new(move |close: Callback<()>| {
        let body = UpdateApi {
            name: Some(name.get()),
            scopes: Some(words(&scopes.get())),
            resource_servers: Some(client_ids(&servers.get())),
            signing_alg: SigningAlgorithm::named(&alg.get()),
        };
        let said = format!("Saved the API {}.", body.name.clone().unwrap_or_default());
        run(
            api::patch(&path, &body, &csrf),
            error,
            version,
            said,
            move || close.run(()),
        );
    });
    let with_default = api.signing_alg.is_none();
    let inputs = Callback::new(move |()| {
        vec![
            text("api-name", "Name", name, ""),
            text("api-scopes", SCOPES_LABEL, scopes, ""),
            text("api-servers", SERVERS_LABEL, servers, ""),
            algorithm("api-alg", alg, with_default),
        ]
    });
    let scope_list = if api.scopes.is_empty() {
        "none".to_owned()
    } else {
        api.scopes.join(", ")
    };
    view! {
        <tr>
            <td><strong>{api.code.clone()}</strong></td>
            <td data-label="Name">{api.name.clone()}</td>
            <td data-label="Audience"><code>{api.audience.clone()}</code></td>
            <td data-label="Scopes">{scope_list}</td>
            <td>
                <FormDialog
                    opener="Edit"
                    opener_label=format!("Edit API {}", api.code)
                    title=format!("Edit API {}", api.code)
                    inputs=inputs
                    submit="Save"
                    on_submit=save
                    error=error
                    class="secondary"
                />
            </td>
        </tr>
    }
}

#[component]
fn NewApi(version: RwSignal<u32>) -> impl IntoView {
    let fields: [RwSignal<String>; 6] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let [code, name, audience, scopes, servers, alg] = fields;
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let create = Callback::new(move |close: Callback<()>| {
        let body = CreateApi {
            code: code.get(),
            name: name.get(),
            audience: audience.get(),
            scopes: words(&scopes.get()),
            resource_servers: client_ids(&servers.get()),
            signing_alg: SigningAlgorithm::named(&alg.get()),
        };
        let done = move || {
            fields.iter().for_each(|field| field.set(String::new()));
            close.run(());
        };
        let said = format!("Created the API {}.", body.code);
        run(
            api::post("/api/v1/apis", &body, &csrf),
            error,
            version,
            said,
            done,
        );
    });
    let inputs = Callback::new(move |()| {
        vec![
            text("api-code", "Code", code, "SMC"),
            text("api-name", "Name", name, "Ship Manifests"),
            text(
                "api-audience",
                "Audience (aud)",
                audience,
                "https://api.example.org/smc",
            ),
            text(
                "api-scopes",
                SCOPES_LABEL,
                scopes,
                "manifest.read manifest.write",
            ),
            text("api-servers", SERVERS_LABEL, servers, ""),
            algorithm("api-alg", alg, true),
        ]
    });
    view! {
        <FormDialog
            opener="New API"
            opener_label="New API"
            title="New API"
            inputs=inputs
            submit="Create API"
            on_submit=create
            error=error
        />
    }
}
