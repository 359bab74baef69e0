//! Expiry reminders against a real SMTP server on loopback, with the clock injected: a
//! secret's life walked day by day, replacement and deletion, a mail server that goes down
//! and comes back, an address that keeps failing, and two instances racing on one database.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clavis::config::Config;
use clavis::db::{Database, DbTarget};
use clavis::notify::{Mailer, Mode, Notifier, failing_addresses};
use clavis::notify::{SmtpSettings, SmtpTls};
use clavis::public_url::PublicUrls;
use clavis::users::{self, Person};
use clavis::{devices, orgs, secrets};
use clavis_shared::devices::CreateDevice;
use clavis_shared::dto::{Application, Organisation, Role};
use clavis_shared::validate::expiry_at_end_of;
use std::collections::BTreeSet;

use crate::smtp_sink::{Mail, SmtpSink};
use crate::support::{TestDb, admin, seed, seed_beta};
use crate::{on_both_databases, on_both_databases_async};

on_both_databases!(
    a_secret_is_reminded_at_each_stage_exactly_once_to_its_contacts,
    replacing_or_deleting_a_secret_stops_its_reminders,
    a_key_is_reminded_until_a_newer_key_replaces_it,
    a_device_secret_is_reminded_until_replaced_and_not_while_disabled,
    a_device_certificate_is_reminded_until_a_newer_one_replaces_it,
    a_mail_server_that_is_down_and_back_loses_and_doubles_nothing,
    an_address_that_keeps_failing_is_given_up_audited_and_listed,
    instances_racing_on_one_database_send_each_reminder_once,
);

on_both_databases_async!(two_running_instances_send_each_reminder_once);

const PORTAL: &str = "https://clavis.example.org";
const MIA: &str = "mia.manager@acme.test";
const BOB: &str = "bob.manager@acme.test";
const TEAM: &str = "integration@acme.test";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(hour, minute, 0).unwrap())
}

fn smtp(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        credentials: None,
        from: "Clavis <clavis@example.org>".parse().unwrap(),
    }
}

fn notifier(port: u16) -> Notifier {
    Notifier::new(
        Some(Mailer::new(&smtp(port)).unwrap()),
        PublicUrls::new(&PORTAL.parse().unwrap()),
    )
}

/// Acme with two credential managers (designated by e-mail, never signed in), a viewer, a
/// shared reminder mailbox; an admin; and Beta with a manager of its own.
struct Contacts {
    acme: Organisation,
    app: Application,
    beta_app: Application,
}

fn contacts(test_db: &TestDb, now: DateTime<Utc>) -> Contacts {
    let seeded = seed(test_db);
    let beta = seed_beta(test_db, now);
    let mut conn = test_db.conn();
    let acme = orgs::update(
        &mut conn,
        &seeded.organisation.id,
        &clavis_shared::portal::UpdateOrganisation {
            notification_email: Some(TEAM.to_uppercase()),
            ..Default::default()
        },
        &admin(),
        now,
    )
    .unwrap();
    for (email, role, organisation) in [
        (MIA, Role::CredentialManager, Some(acme.id.as_str())),
        (BOB, Role::CredentialManager, Some(acme.id.as_str())),
        ("vic.viewer@acme.test", Role::Viewer, Some(acme.id.as_str())),
        ("ada.admin@clavis.test", Role::Admin, None),
        (
            "ben.manager@beta.test",
            Role::CredentialManager,
            Some(beta.organisation.id.as_str()),
        ),
    ] {
        users::grant(
            &mut conn,
            &Person::Email(email.into()),
            role,
            organisation,
            &admin(),
            now,
        )
        .unwrap();
    }
    Contacts {
        acme,
        app: seeded.application,
        beta_app: beta.application,
    }
}

fn create_secret(
    test_db: &TestDb,
    client_id: &str,
    name: &str,
    expires_on: NaiveDate,
    now: DateTime<Utc>,
) -> String {
    secrets::create(
        &mut test_db.conn(),
        client_id,
        name,
        expiry_at_end_of(expires_on),
        &admin(),
        now,
    )
    .unwrap()
    .info
    .id
}

/// The common start: Acme's contacts, and its secret "prod", created on 4 January 2027,
/// expiring at the end of 31 March 2027.
fn acme_with_a_secret_expiring_on_31_march(test_db: &TestDb) -> Contacts {
    let created = at(day(2027, 1, 4), 9, 0);
    let world = contacts(test_db, created);
    create_secret(
        test_db,
        &world.app.client_id,
        "prod",
        day(2027, 3, 31),
        created,
    );
    world
}

fn recipients(mails: &[Mail]) -> BTreeSet<String> {
    mails.iter().map(|m| m.recipient().to_owned()).collect()
}

fn contacts_of_acme() -> BTreeSet<String> {
    [BOB, TEAM, MIA].map(str::to_owned).into()
}

fn audit_count(test_db: &TestDb, action: &str) -> i64 {
    test_db.count(&format!("audit_events WHERE action = '{action}'"))
}

fn a_secret_is_reminded_at_each_stage_exactly_once_to_its_contacts(test_db: &TestDb) {
    let created = at(day(2027, 1, 4), 9, 0);
    let world = contacts(test_db, created);
    let expires_on = day(2027, 3, 31);
    create_secret(
        test_db,
        &world.app.client_id,
        "prod-2027",
        expires_on,
        created,
    );
    create_secret(
        test_db,
        &world.beta_app.client_id,
        "far",
        day(2027, 12, 31),
        created,
    );
    let sink = SmtpSink::start();
    let notifier = notifier(sink.port());

    let mut walked = Vec::new();
    let mut date = created.date_naive();
    while date <= expires_on + Duration::days(10) {
        // Two passes a day, as instances running every few minutes make: the second sends nothing.
        for hour in [8, 17] {
            notifier
                .run_pass(&test_db.db, at(date, hour, 0), Mode::Send)
                .unwrap();
        }
        let mails = sink.take();
        if !mails.is_empty() {
            assert_eq!(
                mails.len(),
                3,
                "{date}: one mail per contact, once: {mails:?}"
            );
            assert_eq!(recipients(&mails), contacts_of_acme(), "{date}");
            let subject = mails[0].header("Subject").unwrap();
            assert!(
                mails
                    .iter()
                    .all(|m| m.header("Subject").unwrap() == subject)
            );
            walked.push((date, subject));
        }
        date += Duration::days(1);
    }
    let expected: Vec<(NaiveDate, String)> = [
        (day(2027, 2, 17), "expires in 42 days"),
        (day(2027, 3, 10), "expires in 21 days"),
        (day(2027, 3, 24), "expires in 7 days"),
        (day(2027, 3, 25), "expires in 6 days"),
        (day(2027, 3, 26), "expires in 5 days"),
        (day(2027, 3, 27), "expires in 4 days"),
        (day(2027, 3, 28), "expires in 3 days"),
        (day(2027, 3, 29), "expires in 2 days"),
        (day(2027, 3, 30), "expires tomorrow"),
        (day(2027, 3, 31), "expires today"),
        (day(2027, 4, 1), "has expired"),
    ]
    .into_iter()
    .map(|(date, when)| {
        (
            date,
            format!("Client secret \"prod-2027\" of {} {when}", world.app.name),
        )
    })
    .collect();
    assert_eq!(walked, expected);
    assert_eq!(audit_count(test_db, "reminder.sent"), 33);
    assert_eq!(
        test_db.count("reminder_deliveries WHERE status = 'sent'"),
        33
    );
}

/// What the first reminder says, and how.
#[test]
fn the_reminder_mail_names_the_secret_its_expiry_and_the_portal_page() {
    let test_db = TestDb::sqlite();
    let created = at(day(2027, 1, 4), 9, 0);
    let world = contacts(&test_db, created);
    create_secret(
        &test_db,
        &world.app.client_id,
        "prod-2027",
        day(2027, 3, 31),
        created,
    );
    let sink = SmtpSink::start();
    notifier(sink.port())
        .run_pass(&test_db.db, at(day(2027, 3, 24), 8, 0), Mode::Send)
        .unwrap();
    let mails = sink.mails();
    let mail = mails.iter().find(|m| m.recipient() == MIA).unwrap();
    assert_eq!(mail.from, "clavis@example.org");
    assert_eq!(mail.header("To").unwrap(), MIA);
    assert!(mail.header("Message-ID").unwrap().contains("@example.org>"));
    let hint = secrets::list(&mut test_db.conn(), &world.app.client_id, created).unwrap()[0]
        .hint
        .clone();
    let decoded = mail.decoded();
    assert!(decoded.contains("multipart/alternative"), "{decoded}");
    assert!(decoded.contains("text/plain") && decoded.contains("text/html"));
    for needle in [
        world.app.name.as_str(),
        world.app.client_id.as_str(),
        "prod-2027",
        hint.as_str(),
        world.acme.name.as_str(),
        "Wednesday 31 March 2027 at 23:59 UTC",
        "expires in 7 days",
        &format!("{PORTAL}/applications/{}", world.app.client_id),
    ] {
        assert!(
            decoded.matches(needle).count() >= 2,
            "{needle} in both parts of {decoded}"
        );
    }
}

fn replacing_or_deleting_a_secret_stops_its_reminders(test_db: &TestDb) {
    let created = at(day(2027, 1, 4), 9, 0);
    let world = contacts(test_db, created);
    let client_id = world.app.client_id.clone();
    create_secret(test_db, &client_id, "old", day(2027, 3, 31), created);
    let sink = SmtpSink::start();
    let notifier = notifier(sink.port());
    let pass = |date| {
        notifier
            .run_pass(&test_db.db, at(date, 8, 0), Mode::Send)
            .unwrap();
        sink.take()
    };
    let expiring = |date| -> Vec<String> {
        secrets::expiring(&mut test_db.conn(), None, at(date, 8, 0))
            .unwrap()
            .into_iter()
            .map(|e| e.secret.name)
            .collect()
    };

    assert_eq!(pass(day(2027, 3, 10)).len(), 3, "21 days left");
    // A newer secret that expires sooner does not replace the old one.
    create_secret(
        test_db,
        &client_id,
        "stopgap",
        day(2027, 3, 30),
        at(day(2027, 3, 11), 9, 0),
    );
    let about = |mails: &[Mail], name: &str| {
        mails
            .iter()
            .filter(|m| {
                m.header("Subject")
                    .unwrap()
                    .contains(&format!("\"{name}\""))
            })
            .count()
    };
    let mails = pass(day(2027, 3, 24));
    assert_eq!(
        about(&mails, "old"),
        3,
        "the old secret still gets its 7-day reminder"
    );
    assert_eq!(about(&mails, "stopgap"), 3, "and the stopgap its own");
    assert_eq!(expiring(day(2027, 3, 24)), ["stopgap", "old"]);

    // A newer secret that expires later does.
    create_secret(
        test_db,
        &client_id,
        "new",
        day(2027, 12, 1),
        at(day(2027, 3, 24), 10, 0),
    );
    let mut date = day(2027, 3, 25);
    while date <= day(2027, 4, 10) {
        let mails = pass(date);
        assert!(mails.is_empty(), "{date}: {mails:?}");
        date += Duration::days(1);
    }
    let statuses: Vec<(String, &str)> =
        secrets::list(&mut test_db.conn(), &client_id, at(day(2027, 3, 25), 8, 0))
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.status.as_str()))
            .collect();
    assert_eq!(
        statuses,
        [
            ("stopgap".to_owned(), "replaced"),
            ("old".to_owned(), "replaced"),
            ("new".to_owned(), "active")
        ],
        "the badges say the same"
    );
    assert!(
        expiring(day(2027, 3, 25)).is_empty(),
        "replaced secrets leave the panel"
    );

    // Deleting a secret stops its reminders at once, even one already waiting to be sent.
    let app_b = &world.beta_app.client_id;
    let doomed = create_secret(test_db, app_b, "doomed", day(2027, 6, 30), created);
    let down = SmtpSink::unused_port();
    let failing = self::notifier(down);
    failing
        .run_pass(&test_db.db, at(day(2027, 6, 23), 8, 0), Mode::Send)
        .unwrap();
    secrets::delete(&mut test_db.conn(), app_b, &doomed, &admin(), created).unwrap();
    let report = notifier
        .run_pass(&test_db.db, at(day(2027, 6, 23), 9, 0), Mode::Send)
        .unwrap();
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(report.attempts[0].outcome, "cancelled");
    assert!(sink.take().is_empty());
    assert_eq!(
        test_db.count("reminder_deliveries WHERE status = 'cancelled'"),
        1
    );
}

/// A public key of the application `client_id`, expiring at the end of `expires_on`.
fn add_key(
    test_db: &TestDb,
    client_id: &str,
    name: &str,
    expires_on: NaiveDate,
    now: DateTime<Utc>,
) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    clavis::client_keys::add(
        &mut test_db.conn(),
        client_id,
        name,
        &key.public_key_pem(),
        Some(expiry_at_end_of(expires_on)),
        &admin(),
        now,
    )
    .unwrap();
}

fn a_key_is_reminded_until_a_newer_key_replaces_it(test_db: &TestDb) {
    let created = at(day(2027, 1, 4), 9, 0);
    let world = contacts(test_db, created);
    let client_id = world.app.client_id.clone();
    add_key(
        test_db,
        &client_id,
        "signing 2027",
        day(2027, 3, 31),
        created,
    );
    let sink = SmtpSink::start();
    let notifier = notifier(sink.port());
    let pass = |date| {
        notifier
            .run_pass(&test_db.db, at(date, 8, 0), Mode::Send)
            .unwrap();
        sink.take()
    };
    let mails = pass(day(2027, 3, 10));
    assert_eq!(recipients(&mails), contacts_of_acme(), "21 days left");
    let subject = mails[0].header("Subject").unwrap();
    assert_eq!(
        subject,
        format!(
            "Public key \"signing 2027\" of {} expires in 21 days",
            world.app.name
        )
    );
    let decoded = mails[0].decoded();
    assert!(
        decoded.contains("Add a new key or certificate"),
        "{decoded}"
    );

    // A secret that expires later does not replace a key.
    create_secret(
        test_db,
        &client_id,
        "later secret",
        day(2027, 6, 30),
        at(day(2027, 3, 11), 9, 0),
    );
    assert_eq!(pass(day(2027, 3, 24)).len(), 3, "7 days left");
    // A newer key that expires later does.
    add_key(
        test_db,
        &client_id,
        "signing 2027b",
        day(2027, 6, 30),
        at(day(2027, 3, 25), 9, 0),
    );
    assert!(
        pass(day(2027, 3, 30)).is_empty(),
        "replaced: no more reminders"
    );
}

fn create_device_secret(
    test_db: &TestDb,
    device_id: &str,
    name: &str,
    expires_on: NaiveDate,
    now: DateTime<Utc>,
) -> String {
    devices::create_secret(
        &mut test_db.conn(),
        device_id,
        name,
        "",
        expiry_at_end_of(expires_on),
        &admin(),
        now,
    )
    .unwrap()
    .info
    .id
}

/// A device secret is reminded as a client secret is, to the device's organisation, naming
/// the device and linking to its page; a reminder waiting to be sent when the device is
/// disabled is cancelled, a disabled device gets none, and a newer secret of the same device
/// (not of another one) stops them.
fn a_device_secret_is_reminded_until_replaced_and_not_while_disabled(test_db: &TestDb) {
    let created = at(day(2027, 1, 4), 9, 0);
    let world = contacts(test_db, created);
    let ward = create_device(test_db, &world, "ward-3-node", created);
    let lab = create_device(test_db, &world, "lab-node", created);
    create_device_secret(test_db, &ward, "node 2027", day(2027, 3, 31), created);
    let port = SmtpSink::unused_port();
    let notifier = notifier(port);
    let pass = |now| notifier.run_pass(&test_db.db, now, Mode::Send).unwrap();

    // The mail server is down at the 21-day stage; the device is disabled before the retry.
    let first = at(day(2027, 3, 10), 8, 0);
    assert!(pass(first).attempts.iter().all(|a| a.outcome == "retrying"));
    set_device_enabled(test_db, &ward, false);
    let sink = SmtpSink::start_on(port);
    let report = pass(first + Duration::minutes(5));
    assert_eq!(report.attempts.len(), 3);
    assert!(
        report
            .attempts
            .iter()
            .all(|a| a.outcome == "cancelled"
                && a.detail.as_deref() == Some("the device was disabled")),
        "{:?}",
        report.attempts
    );
    assert!(sink.take().is_empty(), "nothing sent for a disabled device");
    assert!(
        pass(at(day(2027, 3, 24), 8, 0)).due.is_empty(),
        "disabled: nothing due"
    );

    set_device_enabled(test_db, &ward, true);
    let mails = pass_and_take(&notifier, test_db, &sink, day(2027, 3, 25));
    assert_eq!(recipients(&mails), contacts_of_acme(), "6 days left");
    assert_eq!(
        mails[0].header("Subject").unwrap(),
        "Device secret \"node 2027\" of ward-3-node expires in 6 days"
    );
    let decoded = mails[0].decoded();
    for needle in [
        "of the device ward-3-node",
        &format!("device_id: {ward}"),
        &format!("{PORTAL}/devices/{ward}"),
        "Create a new secret",
    ] {
        assert!(decoded.contains(needle), "{needle} in {decoded}");
    }
    assert!(!decoded.contains("client_id"), "{decoded}");
    let sent = test_db.count(&format!(
        "audit_events WHERE action = 'reminder.sent' AND details LIKE '%{ward}%'"
    ));
    assert_eq!(sent, 3, "the audit trail names the device");

    // Another device's newer secret does not replace it; its own does.
    create_device_secret(
        test_db,
        &lab,
        "lab",
        day(2027, 6, 30),
        at(day(2027, 3, 25), 9, 0),
    );
    assert_eq!(
        pass_and_take(&notifier, test_db, &sink, day(2027, 3, 26)).len(),
        3
    );
    create_device_secret(
        test_db,
        &ward,
        "node 2027b",
        day(2027, 6, 30),
        at(day(2027, 3, 26), 9, 0),
    );
    assert!(
        pass_and_take(&notifier, test_db, &sink, day(2027, 3, 27)).is_empty(),
        "replaced: no more reminders"
    );
}

/// A device certificate is reminded until a newer certificate of the same device replaces it.
fn a_device_certificate_is_reminded_until_a_newer_one_replaces_it(test_db: &TestDb) {
    let created = at(day(2027, 1, 4), 9, 0);
    let world = contacts(test_db, created);
    let ward = create_device(test_db, &world, "ward-3-node", created);
    let sink = SmtpSink::start();
    let notifier = notifier(sink.port());
    // rcgen's certificates run to their notAfter: the registration's expiry.
    add_device_certificate(test_db, &ward, "node cert", day(2027, 3, 31), created);
    let mails = pass_and_take(&notifier, test_db, &sink, day(2027, 3, 24));
    assert_eq!(recipients(&mails), contacts_of_acme());
    assert_eq!(
        mails[0].header("Subject").unwrap(),
        "Device certificate \"node cert\" of ward-3-node expires in 7 days"
    );
    assert!(mails[0].decoded().contains("Add a new certificate"));
    // A newer secret of the device does not replace a certificate.
    create_device_secret(
        test_db,
        &ward,
        "secret",
        day(2027, 6, 30),
        at(day(2027, 3, 24), 9, 0),
    );
    assert_eq!(
        pass_and_take(&notifier, test_db, &sink, day(2027, 3, 25)).len(),
        3
    );
    add_device_certificate(
        test_db,
        &ward,
        "node cert b",
        day(2027, 6, 30),
        at(day(2027, 3, 25), 9, 0),
    );
    assert!(pass_and_take(&notifier, test_db, &sink, day(2027, 3, 26)).is_empty());
}

fn create_device(test_db: &TestDb, world: &Contacts, name: &str, now: DateTime<Utc>) -> String {
    let new = CreateDevice {
        name: name.to_owned(),
        device_id: None,
    };
    devices::create(&mut test_db.conn(), &world.acme.id, &new, &admin(), now)
        .unwrap()
        .device_id
}

fn set_device_enabled(test_db: &TestDb, device_id: &str, enabled: bool) {
    devices::set_enabled(
        &mut test_db.conn(),
        device_id,
        enabled,
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
}

/// Registers a self-signed certificate (rcgen) valid until the end of `expires_on`.
fn add_device_certificate(
    test_db: &TestDb,
    device_id: &str,
    name: &str,
    expires_on: NaiveDate,
    now: DateTime<Utc>,
) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec![format!("{name}.test").replace(' ', "-")]).unwrap();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let time_of = |at: DateTime<Utc>| {
        epoch + std::time::Duration::from_secs(u64::try_from(at.timestamp()).unwrap())
    };
    params.not_before = time_of(now);
    params.not_after = time_of(expiry_at_end_of(expires_on));
    let pem = params.self_signed(&key).unwrap().pem();
    devices::certificates::add(&mut test_db.conn(), device_id, name, &pem, &admin(), now).unwrap();
}

/// One pass at 08:00 on `date` with a working mail server, and what it sent.
fn pass_and_take(
    notifier: &Notifier,
    test_db: &TestDb,
    sink: &SmtpSink,
    date: NaiveDate,
) -> Vec<Mail> {
    notifier
        .run_pass(&test_db.db, at(date, 8, 0), Mode::Send)
        .unwrap();
    sink.take()
}

fn a_mail_server_that_is_down_and_back_loses_and_doubles_nothing(test_db: &TestDb) {
    acme_with_a_secret_expiring_on_31_march(test_db);
    let port = SmtpSink::unused_port();
    let notifier = notifier(port);
    let first = at(day(2027, 2, 17), 8, 0);
    let pass = |now| notifier.run_pass(&test_db.db, now, Mode::Send).unwrap();

    let report = pass(first);
    assert_eq!(report.attempts.len(), 3);
    assert!(report.attempts.iter().all(|a| a.outcome == "retrying"));
    assert_eq!(
        test_db.count("reminder_deliveries WHERE status = 'pending' AND attempts = 1"),
        3
    );
    assert!(
        pass(first + Duration::seconds(30)).attempts.is_empty(),
        "waits a minute before trying again"
    );

    let sink = SmtpSink::start_on(port);
    let report = pass(first + Duration::minutes(2));
    assert!(report.attempts.iter().all(|a| a.outcome == "sent"));
    assert_eq!(recipients(&sink.take()), contacts_of_acme());
    for later in [first + Duration::minutes(10), first + Duration::days(1)] {
        assert!(pass(later).attempts.is_empty());
    }
    assert!(sink.take().is_empty(), "nothing sent twice");

    // A longer outage: the address counts as failing after three attempts, then recovers.
    let port = sink.stop();
    let second = at(day(2027, 3, 10), 8, 0);
    for minutes in [0, 1, 3] {
        pass(second + Duration::minutes(minutes));
    }
    assert_eq!(audit_count(test_db, "reminder.undeliverable"), 3);
    let failing = failing_addresses(&mut test_db.conn(), Duration::days(30), second).unwrap();
    assert_eq!(failing.len(), 3);
    assert!(failing.iter().all(|f| f.organisation_name == "Acme"));
    assert!(
        failing[0].last_error.contains(&format!("127.0.0.1:{port}")),
        "{failing:?}"
    );

    let sink = SmtpSink::start_on(port);
    let back = second + Duration::hours(2);
    pass(back);
    assert_eq!(recipients(&sink.take()), contacts_of_acme());
    assert!(
        failing_addresses(&mut test_db.conn(), Duration::days(30), back)
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit_count(test_db, "reminder.sent"), 6);
}

fn an_address_that_keeps_failing_is_given_up_audited_and_listed(test_db: &TestDb) {
    let world = acme_with_a_secret_expiring_on_31_march(test_db);
    let sink = SmtpSink::start();
    sink.refuse(BOB);
    let notifier = notifier(sink.port());
    let first = at(day(2027, 2, 17), 8, 0);
    let outcomes = |minutes| {
        notifier
            .run_pass(&test_db.db, first + Duration::minutes(minutes), Mode::Send)
            .unwrap()
            .attempts
            .into_iter()
            .map(|a| (a.recipient, a.outcome))
            .collect::<Vec<_>>()
    };
    let tried = outcomes(0);
    assert_eq!(tried.len(), 3);
    assert!(tried.contains(&(BOB.into(), "retrying")));
    assert_eq!(outcomes(1), [(BOB.to_owned(), "retrying")]);
    assert_eq!(outcomes(3), [(BOB.to_owned(), "failed")]);
    assert!(outcomes(60).is_empty(), "given up");
    let delivered = recipients(&sink.take());
    assert_eq!(delivered, [TEAM, MIA].map(str::to_owned).into());
    assert_eq!(audit_count(test_db, "reminder.undeliverable"), 1);
    let failing = failing_addresses(&mut test_db.conn(), Duration::days(30), first).unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].recipient, BOB);
    assert_eq!(failing[0].organisation_id, world.acme.id);
    assert!(failing[0].last_error.contains("550"), "{failing:?}");
}

/// Two instances (each with its own connection pool) run every pass at the same moment.
fn instances_racing_on_one_database_send_each_reminder_once(test_db: &TestDb) {
    acme_with_a_secret_expiring_on_31_march(test_db);
    let sink = SmtpSink::start();
    let other = Database::open(DbTarget::parse(&test_db.url).unwrap(), 4).unwrap();
    let barrier = std::sync::Barrier::new(2);
    let walk = |db: &Database| {
        let notifier = notifier(sink.port());
        let mut date = day(2027, 3, 20);
        while date <= day(2027, 4, 2) {
            barrier.wait();
            notifier.run_pass(db, at(date, 8, 0), Mode::Send).unwrap();
            date += Duration::days(1);
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| walk(&test_db.db));
        scope.spawn(|| walk(&other));
    });
    let mails = sink.take();
    let mut seen = BTreeSet::new();
    for mail in &mails {
        let key = (mail.recipient().to_owned(), mail.header("Subject").unwrap());
        assert!(seen.insert(key.clone()), "sent twice: {key:?}");
    }
    // The 21-day reminder (the latest stage reached when the walk starts), d7 … d0 and the
    // final notice, to three contacts.
    assert_eq!(mails.len(), 3 * 10);
}

/// Two `clavis serve` instances, with their reminder loops, on one database.
async fn two_running_instances_send_each_reminder_once(test_db: TestDb) {
    let now = clavis::db::now();
    let world = contacts(&test_db, now - Duration::days(30));
    let expires_on = (now + Duration::days(7)).date_naive();
    create_secret(
        &test_db,
        &world.app.client_id,
        "prod",
        expires_on,
        now - Duration::days(30),
    );
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("clavis.toml");
    std::fs::write(
        &config_file,
        format!(
            "database_url = \"{}\"\npublic_url = \"{PORTAL}\"\nmaster_key_file = \"{}\"\n\
             log_level = \"warn\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"none\"\n\
             smtp_from = \"Clavis <clavis@example.org>\"\nreminder_interval_secs = 1\n",
            test_db.url,
            dir.path().join("master.key").display(),
            sink.port()
        ),
    )
    .unwrap();
    let config = Config::load(Some(&config_file)).unwrap();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let db = Database::open(config.database.clone(), 4).unwrap();
        instances.push(clavis::app::start(&config, db).await.unwrap().1);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sink.mails().len() < 3 && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Several more passes of both instances.
    actix_web::rt::time::sleep(std::time::Duration::from_secs(3)).await;
    for instance in instances {
        instance.shutdown().await;
    }
    let mails = sink.mails();
    assert_eq!(recipients(&mails), contacts_of_acme());
    assert_eq!(mails.len(), 3, "each reminder once: {mails:?}");
    assert!(
        mails[0]
            .header("Subject")
            .unwrap()
            .ends_with("expires in 7 days")
    );
}
