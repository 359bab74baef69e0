use chrono::Duration;
use clavis::db::{DbConn, schema::client_secrets};
use clavis::error::Error;
use clavis::secrets::hash::{self, SecretHash};
use clavis::secrets::{self, value};
use clavis_shared::dto::SecretStatus;
use diesel::prelude::*;

use crate::on_both_databases;
use crate::support::{TestDb, admin, database_contains, seed};

on_both_databases!(
    secret_value_is_shown_once_and_stored_only_as_hash_and_hint,
    expiry_must_be_future_and_within_a_year,
    secret_names_are_required_and_bounded,
    at_most_ten_active_secrets_per_application,
    expired_secrets_do_not_count_towards_the_limit,
    concurrent_creations_respect_the_limit,
    secrets_are_listed_soonest_expiry_first_with_status,
    deleted_secret_is_gone_and_audited,
    secret_of_another_application_cannot_be_deleted,
    unknown_application_has_no_secrets,
);

fn stored_hash(db: &TestDb, secret_id: &str) -> (String, SecretHash) {
    let mut conn = db.conn();
    let conn: &mut DbConn = &mut conn;
    client_secrets::table
        .find(secret_id)
        .select((client_secrets::hint, client_secrets::secret_hash))
        .first(conn)
        .expect("stored secret")
}

fn secret_value_is_shown_once_and_stored_only_as_hash_and_hint(db: &TestDb) {
    let seeded = seed(db);
    let now = clavis::db::now();
    let created = {
        let mut conn = db.conn();
        secrets::create(
            &mut conn,
            &seeded.application.client_id,
            " deploy ",
            now + Duration::days(90),
            &admin(),
            now,
        )
        .unwrap()
    };
    assert_eq!(created.info.name, "deploy");
    assert_eq!(created.info.hint, &created.value[..3]);
    assert_eq!(created.info.status, SecretStatus::Active);
    assert_eq!(created.info.created_by, "cli:tester");
    assert_eq!(created.value.len(), value::VALUE_LEN);
    assert_eq!(
        value::secret_id_of(&created.value).unwrap().to_string(),
        created.info.id
    );

    let (hint, phc) = stored_hash(db, &created.info.id);
    assert_eq!(hint, created.info.hint);
    assert!(phc.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(hash::verify(&created.value, &phc));
    assert!(
        !database_contains(db, &created.value),
        "the value must be stored nowhere"
    );
    assert!(!database_contains(
        db,
        &created.value[3 + value::MARKER.len()..]
    ));

    let listed = secrets::list(&mut db.conn(), &seeded.application.client_id, now).unwrap();
    assert_eq!(listed, vec![created.info.clone()]);
    let audit_details: Vec<String> = {
        use clavis::db::schema::audit_events;
        let mut conn = db.conn();
        let conn: &mut DbConn = &mut conn;
        audit_events::table
            .filter(audit_events::action.eq("secret.create"))
            .select(audit_events::details)
            .load(conn)
            .unwrap()
    };
    assert_eq!(audit_details.len(), 1);
    assert!(audit_details[0].contains(&created.info.hint));
}

fn expiry_must_be_future_and_within_a_year(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let client_id = &seeded.application.client_id;
    for expires_at in [now, now - Duration::days(1), now + Duration::days(367)] {
        match secrets::create(&mut conn, client_id, "x", expires_at, &admin(), now) {
            Err(Error::Invalid(invalid)) => assert_eq!(invalid.field, "expires_at"),
            other => panic!("expected refusal for {expires_at}, got {other:?}"),
        }
    }
    let latest =
        clavis_shared::validate::expiry_at_end_of(clavis_shared::validate::latest_expiry_date(now));
    assert!(secrets::create(&mut conn, client_id, "a year", latest, &admin(), now).is_ok());
    assert_eq!(db.count("client_secrets"), 1);
}

fn secret_names_are_required_and_bounded(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    for name in ["", "   ", &"n".repeat(65)] {
        let refused = secrets::create(
            &mut conn,
            &seeded.application.client_id,
            name,
            now + Duration::days(30),
            &admin(),
            now,
        );
        assert!(
            matches!(refused, Err(Error::Invalid(ref v)) if v.field == "name"),
            "{refused:?}"
        );
    }
    assert_eq!(db.count("client_secrets"), 0);
    assert_eq!(db.count("audit_events"), 3, "only the seed's events");
}

fn at_most_ten_active_secrets_per_application(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let client_id = &seeded.application.client_id;
    for n in 0..10 {
        secrets::create(
            &mut conn,
            client_id,
            &format!("s{n}"),
            now + Duration::days(30),
            &admin(),
            now,
        )
        .unwrap();
    }
    let eleventh = secrets::create(
        &mut conn,
        client_id,
        "s10",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap_err();
    assert_eq!(
        eleventh.to_string(),
        "This application already has 10 active secrets, the most allowed. Delete one it no longer uses first."
    );
    assert_eq!(db.count("client_secrets"), 10);
}

fn expired_secrets_do_not_count_towards_the_limit(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let then = clavis::db::now();
    let client_id = &seeded.application.client_id;
    for n in 0..10 {
        secrets::create(
            &mut conn,
            client_id,
            &format!("old{n}"),
            then + Duration::days(1),
            &admin(),
            then,
        )
        .unwrap();
    }
    let later = then + Duration::days(2);
    secrets::create(
        &mut conn,
        client_id,
        "new",
        later + Duration::days(30),
        &admin(),
        later,
    )
    .unwrap();
    let listed = secrets::list(&mut conn, client_id, later).unwrap();
    assert_eq!(
        listed
            .iter()
            .filter(|s| s.status == SecretStatus::Expired)
            .count(),
        10
    );
}

fn concurrent_creations_respect_the_limit(db: &TestDb) {
    let seeded = seed(db);
    let now = clavis::db::now();
    let created: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let client_id = seeded.application.client_id.clone();
                scope.spawn(move || {
                    let mut conn = db.conn();
                    (0..4)
                        .filter(|n| {
                            let name = format!("w{worker}-{n}");
                            match secrets::create(
                                &mut conn,
                                &client_id,
                                &name,
                                now + Duration::days(30),
                                &admin(),
                                now,
                            ) {
                                Ok(_) => true,
                                Err(Error::Conflict(_)) => false,
                                Err(other) => panic!("unexpected error: {other}"),
                            }
                        })
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(created, 10);
    assert_eq!(db.count("client_secrets"), 10);
}

fn secrets_are_listed_soonest_expiry_first_with_status(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let client_id = &seeded.application.client_id;
    let late = secrets::create(
        &mut conn,
        client_id,
        "late",
        now + Duration::days(200),
        &admin(),
        now,
    )
    .unwrap();
    let soon = secrets::create(
        &mut conn,
        client_id,
        "soon",
        now + Duration::days(10),
        &admin(),
        now,
    )
    .unwrap();
    let listed = secrets::list(&mut conn, client_id, now).unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["soon", "late"]
    );
    assert_eq!(listed[0].status, SecretStatus::Expiring);
    assert_eq!(listed[1].status, SecretStatus::Active);
    assert_eq!(listed[0].expires_at, soon.info.expires_at);
    assert_eq!(listed[1].id, late.info.id);
    assert_eq!(listed[1].last_used_at, None);
}

fn deleted_secret_is_gone_and_audited(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let client_id = &seeded.application.client_id;
    let keep = secrets::create(
        &mut conn,
        client_id,
        "keep",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    let drop = secrets::create(
        &mut conn,
        client_id,
        "drop",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    let deleted = secrets::delete(&mut conn, client_id, &drop.info.id, &admin(), now).unwrap();
    assert_eq!(deleted.name, "drop");
    let remaining = secrets::list(&mut conn, client_id, now).unwrap();
    assert_eq!(remaining, vec![keep.info]);
    let again = secrets::delete(&mut conn, client_id, &drop.info.id, &admin(), now);
    assert!(matches!(again, Err(Error::NotFound(_))));
    use clavis::db::schema::audit_events;
    let conn: &mut DbConn = &mut conn;
    let deletions: Vec<(Option<String>, String)> = audit_events::table
        .filter(audit_events::action.eq("secret.delete"))
        .select((audit_events::secret_id, audit_events::actor))
        .load(conn)
        .unwrap();
    assert_eq!(
        deletions,
        vec![(Some(drop.info.id), "cli:tester".to_owned())]
    );
}

fn secret_of_another_application_cannot_be_deleted(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let other = clavis::apps::create(
        &mut conn,
        &clavis_shared::portal::CreateApplication {
            organisation_id: seeded.organisation.id.clone(),
            name: Some("Other".into()),
            api_codes: vec!["SMC".into()],
            ..Default::default()
        },
        &admin(),
        now,
    )
    .unwrap();
    let secret = secrets::create(
        &mut conn,
        &seeded.application.client_id,
        "mine",
        now + Duration::days(30),
        &admin(),
        now,
    )
    .unwrap();
    let refused = secrets::delete(&mut conn, &other.client_id, &secret.info.id, &admin(), now);
    assert!(matches!(refused, Err(Error::NotFound(_))));
    assert_eq!(db.count("client_secrets"), 1);
}

fn unknown_application_has_no_secrets(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let unknown = "00000000-0000-0000-0000-000000000000";
    assert!(matches!(
        secrets::list(&mut conn, unknown, now),
        Err(Error::NotFound(_))
    ));
    let created = secrets::create(
        &mut conn,
        unknown,
        "x",
        now + Duration::days(30),
        &admin(),
        now,
    );
    assert!(matches!(created, Err(Error::NotFound(_))));
    assert_eq!(db.count("client_secrets"), 0);
}
