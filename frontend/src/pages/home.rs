use leptos::prelude::*;

use crate::api;

/// What Clavis is, and whether the service behind the portal is ready.
#[component]
pub fn Home() -> impl IntoView {
    let readiness = LocalResource::new(api::backend_ready);
    view! {
        <section class="card">
            <h1>"Clavis"</h1>
            <p>
                "Manage the client secrets of your organisation's API applications: see each \
                 application's secrets, create a new one before the old one expires, and delete \
                 the ones you no longer use."
            </p>
        </section>
        <section class="card" aria-live="polite">
            <h2>"Service status"</h2>
            <Suspense fallback=|| view! { <p>"Checking the service…"</p> }>
                {move || Suspend::new(async move {
                    match readiness.await {
                        Ok(()) => view! { <p class="status ok">"Clavis is ready."</p> }.into_any(),
                        Err(reason) => view! {
                            <p class="status bad">"Clavis is not ready: " {reason}</p>
                        }
                        .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
