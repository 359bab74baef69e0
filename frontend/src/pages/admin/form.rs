//! The admin console's forms, as data: a list of [`Input`]s rendered by one [`Form`]
//! component (the same pages in a fraction of the WASM), and [`FormDialog`], a form in a
//! native modal `<dialog>` that opens from a button.

use leptos::callback::Callback;
use leptos::prelude::*;
use std::future::Future;

use crate::api::ApiResult;
use crate::widgets::{ErrorSlot, StatusMessage};

thread_local! {
    /// What the last admin action achieved, shown by [`Announcement`]. One for the whole
    /// portal: one page is shown at a time, and each page's announcement starts empty.
    /// Reference-counted rather than owned by whichever page first read it, which would
    /// dispose of it when that page goes.
    static ANNOUNCED: ArcRwSignal<Option<String>> = ArcRwSignal::new(None);
}

/// The admin pages' success messages: a polite live region that says what the last save,
/// create, grant or revoke did, so nobody has to guess from a list that changed elsewhere.
#[component]
pub fn Announcement() -> impl IntoView {
    let announced = ANNOUNCED.with(ArcRwSignal::clone);
    let message = RwSignal::from(announced.clone());
    // Said on the page it happened on: the next page starts without it.
    on_cleanup(move || announced.set(None));
    view! { <StatusMessage message=message /> }
}

/// Runs an API call; on success calls `done`, announces `said` (see [`Announcement`]) and
/// bumps `version` (so the lists that read it show the new state); on failure puts its
/// message in `error`.
pub fn run(
    call: impl Future<Output = ApiResult<String>> + 'static,
    error: RwSignal<Option<String>>,
    version: RwSignal<u32>,
    said: String,
    done: impl FnOnce() + 'static,
) {
    error.set(None);
    leptos::task::spawn_local(async move {
        match call.await {
            Ok(_) => {
                done();
                ANNOUNCED.with(|message| message.set(Some(said)));
                version.update(|v| *v += 1);
            }
            Err(failed) => error.set(Some(failed.message)),
        }
    });
}

/// One control of a form, bound to a signal (checkboxes hold "true" or "false").
#[derive(Clone)]
pub struct Input {
    id: String,
    label: String,
    kind: Kind,
    value: RwSignal<String>,
}

#[derive(Clone)]
enum Kind {
    Text(String),
    /// Several lines, such as a PEM certificate (an `<input>` would drop its line breaks).
    Area(String),
    /// A text field offering the choices of a `<datalist>` (by id).
    Suggest(String),
    Checkbox,
    /// (value, label) pairs.
    Select(Vec<(String, String)>),
}

pub fn text(id: &str, label: &str, value: RwSignal<String>, placeholder: &str) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Text(placeholder.to_owned()),
        value,
    }
}

/// A text area of several lines, for pasted text such as a PEM certificate.
pub fn area(id: &str, label: &str, value: RwSignal<String>, placeholder: &str) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Area(placeholder.to_owned()),
        value,
    }
}

/// A text field that suggests the options of the `<datalist>` with id `list`.
pub fn suggest(id: &str, label: &str, value: RwSignal<String>, list: &str) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Suggest(list.to_owned()),
        value,
    }
}

pub fn checkbox(id: &str, label: &str, value: RwSignal<String>) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Checkbox,
        value,
    }
}

pub fn select(
    id: &str,
    label: &str,
    value: RwSignal<String>,
    options: Vec<(String, String)>,
) -> Input {
    Input {
        id: id.to_owned(),
        label: label.to_owned(),
        kind: Kind::Select(options),
        value,
    }
}

/// A checkbox's signal.
pub fn flag(value: bool) -> RwSignal<String> {
    RwSignal::new(value.to_string())
}

pub fn is_set(value: RwSignal<String>) -> bool {
    value.get() == "true"
}

/// A form of [`Input`]s with a submit button and the error of its last submission.
#[component]
pub fn Form(
    #[prop(into)] title: String,
    inputs: Vec<Input>,
    #[prop(into)] submit: String,
    on_submit: Callback<()>,
    error: RwSignal<Option<String>>,
    /// Shown after the submit button (a dialog's Cancel).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <form class="inline" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            on_submit.run(());
        }>
            <h2>{title}</h2>
            {inputs.into_iter().map(render_input).collect_view()}
            <div class="actions">
                {children.map(|children| children())}
                <button type="submit">{submit}</button>
            </div>
            <ErrorSlot error=error />
        </form>
    }
}

pub fn render_input(input: Input) -> AnyView {
    let Input {
        id,
        label,
        kind,
        value,
    } = input;
    match kind {
        Kind::Text(placeholder) => view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <input id=id placeholder=placeholder prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
            </div>
        }
        .into_any(),
        Kind::Area(placeholder) => view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <textarea id=id rows="6" spellcheck="false" placeholder=placeholder prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))></textarea>
            </div>
        }
        .into_any(),
        Kind::Suggest(list) => view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <input id=id list=list autocomplete="off" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
            </div>
        }
        .into_any(),
        Kind::Checkbox => view! {
            <div class="choice">
                <input type="checkbox" id=id.clone() prop:checked=move || is_set(value) on:change=move |ev| value.set(event_target_checked(&ev).to_string()) />
                <label for=id>{label}</label>
            </div>
        }
        .into_any(),
        Kind::Select(options) => view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <select id=id prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))>
                    {options
                        .into_iter()
                        .map(|(option, text)| {
                            let chosen = option.clone();
                            view! { <option value=option prop:selected=move || value.get() == chosen>{text}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
        }
        .into_any(),
    }
}

/// A button that opens a [`Form`] in a native modal `<dialog>`: focus moves into it, stays
/// inside, Escape cancels and focus returns to the button. The dialog exists only while it
/// is open, so a list of 25 rows does not carry 25 hidden forms. `on_submit` gets the
/// callback that closes the dialog, to run once the change is saved.
#[component]
pub fn FormDialog(
    /// The button's text, such as "Edit".
    #[prop(into)]
    opener: String,
    /// The button's accessible name, saying what it acts on ("Edit Acme").
    #[prop(into)]
    opener_label: String,
    #[prop(into)] title: String,
    /// Makes the inputs each time the dialog opens, from the current values.
    inputs: Callback<(), Vec<Input>>,
    #[prop(into)] submit: String,
    on_submit: Callback<Callback<()>>,
    error: RwSignal<Option<String>>,
    #[prop(optional, into)] class: String,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get()
            && !dialog.open()
        {
            let _ = dialog.show_modal();
        }
    });
    let close = Callback::new(move |()| {
        if let Some(dialog) = dialog.get_untracked() {
            dialog.close();
        }
    });
    let title = StoredValue::new(title);
    let submit = StoredValue::new(submit);
    view! {
        <button type="button" class=class aria-label=opener_label on:click=move |_| {
            error.set(None);
            open.set(true);
        }>{opener}</button>
        {move || open.get().then(|| view! {
            <dialog node_ref=dialog class="dialog" aria-label=title.get_value() on:close=move |_| open.set(false)>
                <Form
                    title=title.get_value()
                    inputs=untrack(|| inputs.run(()))
                    submit=submit.get_value()
                    on_submit=Callback::new(move |()| on_submit.run(close))
                    error=error
                >
                    <button type="button" class="secondary" on:click=move |_| close.run(())>"Cancel"</button>
                </Form>
            </dialog>
        })}
    }
}
