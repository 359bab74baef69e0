//! The Clavis portal: a Leptos single-page app that talks to the backend's JSON API.

mod api;
mod app;
mod logic;
mod pages;
mod widgets;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
