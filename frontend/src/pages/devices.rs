//! An organisation's devices (issue 19): the nodes its applications run on. The list, with
//! "Add device"; and one device's page: enable or disable it, its secrets (the application's
//! secrets card, [`super::application::Secrets`]) and its certificates for mutual TLS.

use clavis_shared::devices::{
    AddDeviceCertificate, CreateDevice, Device, DeviceCertificate, UpdateDevice,
};
use leptos::callback::Callback;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::admin::form::{Announcement, FormDialog, area, run, text};
use super::application::Secrets;
use super::confirm::ConfirmDelete;
use crate::api;
use crate::logic;
use crate::widgets::{
    CopyButton, EnabledBadge, ErrorMessage, ErrorSlot, Loading, StatusMessage, may_manage_secrets,
    me, now, page_title,
};

/// The organisation's name, as the person's memberships know it (admins see every one).
fn organisation_name(organisation_id: &str) -> String {
    me().memberships
        .into_iter()
        .find(|m| m.organisation.id == organisation_id)
        .map(|m| m.organisation.name)
        .unwrap_or_default()
}

/// The devices of the organisation in the URL, with "Add device" for its credential managers.
#[component]
pub fn DevicesPage() -> impl IntoView {
    page_title("Devices");
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let version = RwSignal::new(0u32);
    let devices = api::resource(move || {
        version.get();
        format!("/api/v1/organisations/{}/devices", api::encode(&id()))
    });
    move || {
        let id = id();
        let manage = may_manage_secrets(&me(), &id);
        view! {
            <div class="row">
                <h1 class="long-name">
                    {match organisation_name(&id) {
                        name if name.is_empty() => "Devices".to_owned(),
                        name => format!("Devices of {name}"),
                    }}
                </h1>
                {manage.then(|| view! { <NewDevice organisation_id=id.clone() version=version /> })}
            </div>
            <Announcement />
            <section class="card">
                <p class="help">
                    "A device is a node your applications run on. An application that requires a device gets tokens only when its request also proves a device of this organisation: the device's id and one of its secrets in an X-Device-Authorization: Basic header, or a certificate registered to the device, over mutual TLS."
                </p>
                {move || match api::loaded::<Vec<Device>>(devices) {
                    None => view! { <Loading what="devices" /> }.into_any(),
                    Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                    Some(Ok(list)) if list.is_empty() => {
                        view! { <p class="empty">"This organisation has no devices yet."</p> }.into_any()
                    }
                    Some(Ok(list)) => view! { <DeviceTable list=list /> }.into_any(),
                }}
            </section>
        }
    }
}

/// The devices, one line each: a list rather than a table, which reads as well on a phone.
#[component]
fn DeviceTable(list: Vec<Device>) -> impl IntoView {
    view! {
        <ul class="plain rows">
            {list
                .into_iter()
                .map(|device| {
                    view! {
                        <li>
                            <A href=format!("/devices/{}", device.device_id) attr:class="long-name">{device.name}</A>
                            " " <EnabledBadge enabled=device.enabled /> " "
                            <span class="muted">
                                {format!(
                                    "{} active secret{} · added {} · id ",
                                    device.active_secrets,
                                    if device.active_secrets == 1 { "" } else { "s" },
                                    logic::date(device.created_at),
                                )}
                                <code>{device.device_id}</code>
                            </span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// "Add device": a name, and a GUID when the device already has one.
#[component]
fn NewDevice(organisation_id: String, version: RwSignal<u32>) -> impl IntoView {
    let (label, guid) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let path = format!(
        "/api/v1/organisations/{}/devices",
        api::encode(&organisation_id)
    );
    let create = Callback::new(move |close: Callback<()>| {
        let supplied = guid.get().trim().to_owned();
        let body = CreateDevice {
            name: label.get(),
            device_id: (!supplied.is_empty()).then_some(supplied),
        };
        let said = format!(
            "Added the device “{}”. Open it to create its first secret.",
            body.name.trim()
        );
        let done = move || {
            label.set(String::new());
            guid.set(String::new());
            close.run(());
        };
        run(api::post(&path, &body, &csrf), error, version, said, done);
    });
    let inputs = Callback::new(move |()| {
        vec![
            text("device-label", "Name", label, "ward-3-node"),
            text(
                "device-guid",
                "Device id: a GUID it already has (optional; Clavis makes one otherwise)",
                guid,
                "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
            ),
        ]
    });
    view! {
        <FormDialog
            opener="Add device"
            opener_label="Add device"
            title="Add a device"
            inputs=inputs
            submit="Add device"
            on_submit=create
            error=error
        />
    }
}

/// One device: its id, enabling and disabling it, its secrets and its certificates.
#[component]
pub fn DevicePage() -> impl IntoView {
    page_title("Device");
    let params = use_params_map();
    let device_id = move || params.read().get("device_id").unwrap_or_default();
    let device = api::resource(move || format!("/api/v1/devices/{}", api::encode(&device_id())));
    move || match api::loaded::<Device>(device) {
        None => view! { <Loading what="the device" /> }.into_any(),
        Some(Ok(device)) => view! { <DeviceView device=device /> }.into_any(),
        Some(Err(error)) => view! {
            <section class="card">
                <h1>"Device"</h1>
                <ErrorMessage error=error />
            </section>
        }
        .into_any(),
    }
}

#[component]
fn DeviceView(device: Device) -> impl IntoView {
    page_title(device.name.clone());
    let manage = may_manage_secrets(&me(), &device.organisation_id);
    let organisation = organisation_name(&device.organisation_id);
    let enabled = RwSignal::new(device.enabled);
    let status = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let csrf = me().csrf_token;
    let path = format!("/api/v1/devices/{}", device.device_id);
    let toggle = {
        let path = path.clone();
        move |_| {
            let body = UpdateDevice {
                enabled: !enabled.get_untracked(),
            };
            let call = api::patch(&path, &body, &csrf);
            status.set(None);
            error.set(None);
            leptos::task::spawn_local(async move {
                match call.await {
                    Ok(_) => {
                        enabled.set(body.enabled);
                        status.set(Some(if body.enabled {
                            "The device is enabled: it proves itself again from the next token request on.".to_owned()
                        } else {
                            "The device is disabled: applications that require a device get no tokens on it.".to_owned()
                        }));
                    }
                    Err(failed) => error.set(Some(failed.message)),
                }
            });
        }
    };
    view! {
        <section class="card">
            <p class="crumb">
                <A href=format!("/organisations/{}/devices", device.organisation_id)>
                    {format!("Devices of {organisation}")}
                </A>
            </p>
            <h1 class="long-name">
                {device.name.clone()} " " {move || view! { <EnabledBadge enabled=enabled.get() /> }}
            </h1>
            <dl class="facts">
                <dt>"device_id"</dt>
                <dd>
                    <code id="device-id">{device.device_id.clone()}</code>
                    " "
                    <CopyButton text=device.device_id.clone() label="Copy the device_id" select="device-id" />
                </dd>
                <dt>"How it proves itself"</dt>
                <dd>
                    "In each token request, beside the application's own credentials: "
                    <code>"X-Device-Authorization: Basic base64(device_id:secret)"</code>
                    ", or one of its certificates over mutual TLS."
                </dd>
            </dl>
            {manage
                .then(|| {
                    view! {
                        <button type="button" class="secondary" on:click=toggle>
                            {move || if enabled.get() { "Disable device" } else { "Enable device" }}
                        </button>
                    }
                })}
            <StatusMessage message=status />
            <ErrorSlot error=error />
        </section>
        <Secrets
            base=path.clone()
            holder="device"
            holder_name=device.name.clone()
            organisation_id=device.organisation_id.clone()
            organisation_name=organisation
        />
        <Certificates path=format!("{path}/certificates") manage=manage />
    }
}

/// The id of the certificates heading: where focus goes after a deleted row is gone.
const CERTIFICATES_TITLE: &str = "certificates-title";

/// The device's certificates for mutual TLS: the table, "Add certificate" and deleting one.
#[component]
fn Certificates(path: String, manage: bool) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let listed = {
        let path = path.clone();
        api::resource(move || {
            version.get();
            path.clone()
        })
    };
    let doomed = RwSignal::new(None::<DeviceCertificate>);
    let status = RwSignal::new(None::<String>);
    let return_focus = RwSignal::new(None::<String>);
    let deleted = Callback::new(move |message: Option<String>| {
        if let Some(message) = message {
            return_focus.set(Some(CERTIFICATES_TITLE.to_owned()));
            status.set(Some(message));
            version.update(|v| *v += 1);
        }
        doomed.set(None);
    });
    let now = now();
    view! {
        <section class="card" aria-labelledby=CERTIFICATES_TITLE>
            <div class="row">
                <h2 id=CERTIFICATES_TITLE tabindex="-1">"Certificates for mutual TLS"</h2>
                {manage.then(|| view! { <AddCertificate path=path.clone() version=version /> })}
            </div>
            <Announcement />
            <StatusMessage message=status />
            <p class="help">
                "Instead of a secret, the device can present one of these certificates over mutual TLS. Register only the certificate: its private key stays on the device."
            </p>
            {move || match api::loaded::<Vec<DeviceCertificate>>(listed) {
                None => view! { <Loading what="certificates" /> }.into_any(),
                Some(Err(error)) => view! { <ErrorMessage error=error /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p class="empty">"This device has no certificates."</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <ul class="plain rows">
                        {list
                            .into_iter()
                            .map(|certificate| {
                                let chosen = certificate.clone();
                                view! {
                                    <li>
                                        <strong class="long-name">{certificate.name.clone()}</strong>
                                        " " <span class="description">{certificate.subject}</span>
                                        <span class="muted">
                                            "thumbprint "
                                            <code title=certificate.certificate_sha256.clone()>
                                                {certificate.certificate_sha256.chars().take(8).collect::<String>()}
                                            </code>
                                            {format!(
                                                " · expires {} ({}) · last used {}",
                                                logic::date(certificate.expires_at),
                                                logic::expiry_phrase(certificate.expires_at, now),
                                                certificate.last_used_at.map(logic::date_time).unwrap_or_else(|| "never".to_owned()),
                                            )}
                                        </span>
                                        {manage.then(|| view! {
                                            " "
                                            <button
                                                type="button"
                                                class="danger"
                                                aria-label=format!("Delete the certificate {}", certificate.name)
                                                on:click=move |_| {
                                                    status.set(None);
                                                    doomed.set(Some(chosen.clone()));
                                                }
                                            >
                                                "Delete"
                                            </button>
                                        })}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any(),
            }}
        </section>
        {move || {
            doomed
                .get()
                .map(|certificate| {
                    view! {
                        <ConfirmDelete
                            title=format!("Delete the certificate “{}”?", certificate.name)
                            text=format!(
                                "The certificate “{}” ({}) proves the device no more from the next token request on. This cannot be undone.",
                                certificate.name,
                                certificate.subject,
                            )
                            button="Delete certificate"
                            target=format!("{path}/{}", certificate.id)
                            deleted=format!("The certificate “{}” was deleted.", certificate.name)
                            return_focus=return_focus
                            on_done=deleted
                        />
                    }
                })
        }}
    }
}

/// "Add certificate": a name and the certificate's PEM text.
#[component]
fn AddCertificate(path: String, version: RwSignal<u32>) -> impl IntoView {
    let (label, pem) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let error = RwSignal::new(None);
    let csrf = me().csrf_token;
    let add = Callback::new(move |close: Callback<()>| {
        let body = AddDeviceCertificate {
            name: label.get(),
            certificate: pem.get(),
        };
        let said = format!("Added the certificate “{}”.", body.name.trim());
        let done = move || {
            label.set(String::new());
            pem.set(String::new());
            close.run(());
        };
        run(api::post(&path, &body, &csrf), error, version, said, done);
    });
    let inputs = Callback::new(move |()| {
        vec![
            text("certificate-label", "Name", label, "ward-3 node 2027"),
            area(
                "certificate-pem",
                "Certificate (PEM)",
                pem,
                "-----BEGIN CERTIFICATE-----",
            ),
        ]
    });
    view! {
        <FormDialog
            opener="Add certificate"
            opener_label="Add certificate"
            title="Add a certificate"
            inputs=inputs
            submit="Add certificate"
            on_submit=add
            error=error
        />
    }
}
