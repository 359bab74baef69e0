//! The portal's shell and routes. Every page but sign-in needs a session: the shell loads
//! who is signed in and provides it to the page.

use clavis_shared::portal::{LogoutResponse, Me};
use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use crate::api;
use crate::pages::admin::{
    apis::Apis, applications::Applications, issuers::Issuers, organisation::OrganisationPage,
    organisations::Organisations, people::People,
};
use crate::pages::{
    admin::Admin,
    application::ApplicationPage,
    audit::AuditLog,
    dashboard::Dashboard,
    devices::{DevicePage, DevicesPage},
    not_found::NotFound,
    signin::SignIn,
};
use crate::widgets::{ErrorMessage, Loading};

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=|| view! { <Shell><NotFound /></Shell> }>
                <Route path=path!("/signin") view=SignIn />
                <Route path=path!("/") view=|| view! { <Shell><Dashboard /></Shell> } />
                <Route
                    path=path!("/applications/:client_id")
                    view=|| view! { <Shell><ApplicationPage /></Shell> }
                />
                <Route path=path!("/organisations/:id/devices") view=|| view! { <Shell><DevicesPage /></Shell> } />
                <Route path=path!("/devices/:device_id") view=|| view! { <Shell><DevicePage /></Shell> } />
                <Route path=path!("/audit") view=|| view! { <Shell><AuditLog /></Shell> } />
                <Route path=path!("/admin") view=|| view! { <Shell><Admin /></Shell> } />
                <Route path=path!("/admin/organisations") view=|| view! { <Shell><Organisations /></Shell> } />
                <Route path=path!("/admin/organisations/:id") view=|| view! { <Shell><OrganisationPage /></Shell> } />
                <Route path=path!("/admin/applications") view=|| view! { <Shell><Applications /></Shell> } />
                <Route path=path!("/admin/apis") view=|| view! { <Shell><Apis /></Shell> } />
                <Route path=path!("/admin/people") view=|| view! { <Shell><People /></Shell> } />
                <Route path=path!("/admin/issuers") view=|| view! { <Shell><Issuers /></Shell> } />
            </Routes>
        </Router>
    }
}

/// The header and the page, once it is known who is signed in.
#[component]
fn Shell(children: ChildrenFn) -> impl IntoView {
    let me = api::resource(|| "/api/v1/me".to_owned());
    move || match api::loaded::<Me>(me) {
        None => view! { <main><Loading what="the portal" /></main> }.into_any(),
        Some(Err(error)) => view! { <main><ErrorMessage error=error /></main> }.into_any(),
        Some(Ok(me)) => {
            api::mark_session("open");
            provide_context(me.clone());
            view! {
                <Header me=me />
                <main id="main">{children()}</main>
            }
            .into_any()
        }
    }
}

#[component]
fn Header(me: Me) -> impl IntoView {
    let who = me
        .user
        .name
        .clone()
        .or(me.user.email.clone())
        .unwrap_or_default();
    let csrf = me.csrf_token.clone();
    let sign_out = move |_| {
        let csrf = csrf.clone();
        leptos::task::spawn_local(async move {
            api::mark_session("signed_out");
            let target = match api::post("/auth/logout", &(), &csrf)
                .await
                .and_then(|text| api::parse::<LogoutResponse>(&text))
            {
                Ok(LogoutResponse {
                    end_session_url: Some(url),
                }) => url,
                _ => "/signin?signed_out=1".to_owned(),
            };
            let _ = window().location().set_href(&target);
        });
    };
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="top">
            <A href="/" attr:class="brand">"Clavis"</A>
            <nav aria-label="Main">
                <A href="/" exact=true>"Applications"</A>
                <A href="/audit">"Audit log"</A>
                {me.admin.then(|| view! { <A href="/admin">"Admin"</A> })}
            </nav>
            <span class="who">{who}</span>
            <button type="button" class="link" on:click=sign_out>"Sign out"</button>
        </header>
    }
}
