//! Asking before a credential is deleted: one modal for public keys and federated
//! credentials alike (one component in the WASM, not one per kind).

use leptos::callback::Callback;
use leptos::prelude::*;

use crate::api;
use crate::widgets::{ErrorSlot, Modal, me};

/// An `alertdialog` titled `title` that explains `text` and deletes `target` when `button`
/// is pressed. `on_done` gets `deleted` (the status message) after the deletion, `None`
/// when cancelled; a refusal stays in the dialog.
#[component]
pub fn ConfirmDelete(
    #[prop(into)] title: String,
    #[prop(into)] text: String,
    #[prop(into)] button: String,
    target: String,
    #[prop(into)] deleted: String,
    return_focus: RwSignal<Option<String>>,
    on_done: Callback<Option<String>>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let csrf = me().csrf_token;
    let confirm = move |_| {
        let (target, csrf, deleted) = (target.clone(), csrf.clone(), deleted.clone());
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::delete(&target, &csrf).await {
                Ok(_) => on_done.run(Some(deleted)),
                // Gone already (another tab, another person): the list behind is stale.
                Err(failed) if failed.status == 404 => on_done.run(Some(deleted)),
                Err(failed) => {
                    busy.set(false);
                    error.set(Some(failed.message));
                }
            }
        });
    };
    view! {
        <Modal
            labelled_by="confirm-delete-title"
            alert=true
            may_cancel=Signal::derive(move || !busy.get())
            on_cancel=move || on_done.run(None)
            return_focus=return_focus
        >
            <h2 id="confirm-delete-title" class="long-name">{title}</h2>
            <p>{text}</p>
            <ErrorSlot error=error />
            <div class="actions">
                <button type="button" class="secondary" on:click=move |_| on_done.run(None) autofocus=true>
                    "Cancel"
                </button>
                <button type="button" class="danger" on:click=confirm disabled=move || busy.get()>
                    {button}
                </button>
            </div>
        </Modal>
    }
}
