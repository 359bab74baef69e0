use clavis_shared::portal::safe_return_path;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api;

/// Starts the sign-in at the organisation's identity provider, and brings the person back
/// to where they were. (A refused sign-in is explained by the page the server shows then.)
#[component]
pub fn SignIn() -> impl IntoView {
    crate::widgets::page_title("Sign in");
    let query = use_query_map();
    let return_to = move || safe_return_path(query.read().get("return_to").as_deref());
    let href = move || format!("/auth/login?return_to={}", api::encode(&return_to()));
    let ended = move || query.read().get("ended").is_some();
    let signed_out = move || query.read().get("signed_out").is_some();
    view! {
        <main id="main" class="narrow">
            <section class="card">
                <h1>"Sign in to Clavis"</h1>
                {move || {
                    if signed_out() {
                        Some(view! { <p class="notice" role="status">"You have signed out."</p> })
                    } else if ended() {
                        Some(
                            view! {
                                <p class="notice" role="status">
                                    "Your session has ended. Sign in again to return to the page you were on."
                                </p>
                            },
                        )
                    } else {
                        None
                    }
                }}
                <p>
                    "Clavis lets your organisation's technical contacts manage the client secrets of its API applications. You sign in with your organisation's account and a second factor (an authenticator app or security key)."
                </p>
                <a class="button" href=href rel="external">"Sign in with your organisation"</a>
            </section>
        </main>
    }
}
