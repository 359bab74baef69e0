use clavis::error::Error;
use clavis::{apis, apps, orgs};
use clavis_shared::dto::{ApiGrant, Environment};

use crate::on_both_databases;
use crate::support::{TestDb, admin, seed};

on_both_databases!(
    application_gets_conventional_name_and_all_scopes,
    convention_is_checked_against_country_and_apis,
    supplied_guid_becomes_the_client_id,
    client_ids_are_unique,
    sandbox_organisations_only_have_sandbox_applications,
    application_rules_refuse_bad_input_and_write_nothing,
    application_can_be_disabled_and_enabled,
    applications_are_listed_per_organisation,
    concurrent_writers_all_succeed,
);

fn new_app(organisation: &str) -> clavis_shared::portal::CreateApplication {
    clavis_shared::portal::CreateApplication {
        organisation_id: organisation.into(),
        api_codes: vec!["SMC".into()],
        ..Default::default()
    }
}

fn application_gets_conventional_name_and_all_scopes(db: &TestDb) {
    let seeded = seed(db);
    let app = &seeded.application;
    assert_eq!(app.name, "Partner-NL-Acme-SMC");
    assert_eq!(app.organisation_id, seeded.organisation.id);
    assert_eq!(app.environment, Environment::Production);
    assert!(app.enabled);
    assert_eq!(app.token_lifetime_secs, 3600);
    assert_eq!(app.created_by, "cli:tester");
    assert!(uuid::Uuid::parse_str(&app.client_id).is_ok());
    assert_eq!(
        app.grants,
        vec![ApiGrant {
            api_code: "SMC".into(),
            audience: "https://api.example.org/smc".into(),
            scopes: vec!["manifest.read".into(), "manifest.write".into()],
        }]
    );
    let mut conn = db.conn();
    assert_eq!(
        &apps::find_by_client_id(&mut conn, &app.client_id).unwrap(),
        app
    );
    assert_eq!(
        apps::suggest_name(&mut conn, "acme", "smc").unwrap(),
        "Partner-NL-Acme-SMC"
    );
}

fn convention_is_checked_against_country_and_apis(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let named = |name: &str| clavis_shared::portal::CreateApplication {
        name: Some(name.into()),
        ..new_app(&seeded.organisation.id)
    };
    let wrong_country =
        apps::create(&mut conn, &named("Partner-DE-Acme-SMC"), &admin(), now).unwrap_err();
    assert_eq!(
        wrong_country.to_string(),
        "\"Partner-DE-Acme-SMC\" names country DE but the organisation is in NL. Suggested name: Partner-NL-Acme-SMC"
    );
    let unknown_api =
        apps::create(&mut conn, &named("Partner-NL-Acme-XYZ"), &admin(), now).unwrap_err();
    assert!(
        matches!(&unknown_api, Error::Invalid(v) if v.message.contains("no API has that code")),
        "{unknown_api}"
    );
    let malformed = apps::create(&mut conn, &named("Partner-NL-SMC"), &admin(), now).unwrap_err();
    assert!(matches!(malformed, Error::Invalid(_)));
    let free_name = apps::create(&mut conn, &named("Acme reporting"), &admin(), now).unwrap();
    assert_eq!(free_name.name, "Acme reporting");
    let duplicate = apps::create(&mut conn, &named("ACME REPORTING"), &admin(), now).unwrap_err();
    assert!(matches!(duplicate, Error::Conflict(_)), "{duplicate}");
    assert_eq!(db.count("applications"), 2);
}

fn supplied_guid_becomes_the_client_id(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let new = clavis_shared::portal::CreateApplication {
        name: Some("Legacy".into()),
        client_id: Some("{8F2B9C4E-1D3A-4E5F-9A7B-6C8D0E1F2A3B}".into()),
        ..new_app(&seeded.organisation.id)
    };
    let created = apps::create(&mut conn, &new, &admin(), clavis::db::now()).unwrap();
    assert_eq!(created.client_id, "8f2b9c4e-1d3a-4e5f-9a7b-6c8d0e1f2a3b");
    let found = apps::find_by_client_id(&mut conn, "8F2B9C4E-1D3A-4E5F-9A7B-6C8D0E1F2A3B").unwrap();
    assert_eq!(found.id, created.id);
    // Found by the same rule it was created by: any way of writing the GUID.
    for written in [
        "{8F2B9C4E-1D3A-4E5F-9A7B-6C8D0E1F2A3B}",
        "8f2b9c4e1d3a4e5f9a7b6c8d0e1f2a3b",
        "urn:uuid:8f2b9c4e-1d3a-4e5f-9a7b-6c8d0e1f2a3b",
    ] {
        let found = apps::find_by_client_id(&mut conn, written).unwrap();
        assert_eq!(found.id, created.id, "{written}");
    }
}

fn client_ids_are_unique(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let new = clavis_shared::portal::CreateApplication {
        name: Some("Copy".into()),
        client_id: Some(seeded.application.client_id.to_uppercase()),
        ..new_app(&seeded.organisation.id)
    };
    let err = apps::create(&mut conn, &new, &admin(), clavis::db::now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "The client_id {} already belongs to another application.",
            seeded.application.client_id
        )
    );
    assert_eq!(db.count("applications"), 1);
}

fn sandbox_organisations_only_have_sandbox_applications(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let dummy = clavis_shared::portal::CreateOrganisation {
        name: "Dummy Partner".into(),
        country: "NL".into(),
        sandbox: true,
        notification_email: None,
    };
    orgs::create(&mut conn, &dummy, &admin(), now).unwrap();
    let sandbox_app = apps::create(&mut conn, &new_app("Dummy Partner"), &admin(), now).unwrap();
    assert_eq!(sandbox_app.environment, Environment::Sandbox);
    assert_eq!(sandbox_app.name, "Partner-NL-DummyPartner-SMC");
    let production = clavis_shared::portal::CreateApplication {
        name: Some("Prod".into()),
        environment: Some(Environment::Production),
        ..new_app("Dummy Partner")
    };
    match apps::create(&mut conn, &production, &admin(), now) {
        Err(Error::Invalid(invalid)) => assert_eq!(invalid.field, "environment"),
        other => panic!("expected refusal, got {other:?}"),
    }
}

fn application_rules_refuse_bad_input_and_write_nothing(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let org = seeded.organisation.id.clone();
    let invalid_field = |new: clavis_shared::portal::CreateApplication,
                         conn: &mut clavis::db::PooledConn| {
        match apps::create(conn, &new, &admin(), now) {
            Err(Error::Invalid(invalid)) => invalid.field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    };
    assert_eq!(
        invalid_field(
            clavis_shared::portal::CreateApplication {
                api_codes: vec![],
                ..new_app(&org)
            },
            &mut conn
        ),
        "apis"
    );
    assert_eq!(
        invalid_field(
            clavis_shared::portal::CreateApplication {
                token_lifetime_secs: Some(10),
                ..new_app(&org)
            },
            &mut conn
        ),
        "token_lifetime"
    );
    assert_eq!(
        invalid_field(
            clavis_shared::portal::CreateApplication {
                client_id: Some("nope".into()),
                ..new_app(&org)
            },
            &mut conn
        ),
        "client_id"
    );
    assert_eq!(
        invalid_field(
            clavis_shared::portal::CreateApplication {
                description: "x".repeat(501),
                ..new_app(&org)
            },
            &mut conn
        ),
        "description"
    );
    let unknown_api = clavis_shared::portal::CreateApplication {
        api_codes: vec!["SMC".into(), "NOPE".into()],
        ..new_app(&org)
    };
    assert!(matches!(
        apps::create(&mut conn, &unknown_api, &admin(), now),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        apps::create(&mut conn, &new_app("Nobody"), &admin(), now),
        Err(Error::NotFound(_))
    ));
    assert_eq!(db.count("applications"), 1);
    assert_eq!(db.count("application_apis"), 1);
    assert_eq!(db.count("application_scopes"), 2);
}

fn application_can_be_disabled_and_enabled(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let client_id = &seeded.application.client_id;
    let before = db.count("audit_events");
    assert!(
        !apps::set_enabled(&mut conn, client_id, false, &admin(), now)
            .unwrap()
            .enabled
    );
    assert!(
        !apps::find_by_client_id(&mut conn, client_id)
            .unwrap()
            .enabled
    );
    assert!(
        apps::set_enabled(&mut conn, client_id, true, &admin(), now)
            .unwrap()
            .enabled
    );
    assert!(
        apps::find_by_client_id(&mut conn, client_id)
            .unwrap()
            .enabled
    );
    assert_eq!(db.count("audit_events"), before + 2);
    assert!(matches!(
        apps::set_enabled(
            &mut conn,
            "00000000-0000-0000-0000-000000000000",
            false,
            &admin(),
            now
        ),
        Err(Error::NotFound(_))
    ));
}

fn applications_are_listed_per_organisation(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let other = clavis_shared::portal::CreateOrganisation {
        name: "Beta".into(),
        country: "DE".into(),
        sandbox: false,
        notification_email: None,
    };
    orgs::create(&mut conn, &other, &admin(), now).unwrap();
    let dm = clavis_shared::portal::CreateApi {
        code: "DM".into(),
        name: "Docs".into(),
        audience: "urn:dm".into(),
        scopes: vec!["docs".into()],
        ..Default::default()
    };
    apis::create(&mut conn, &dm, &admin(), now).unwrap();
    let beta = clavis_shared::portal::CreateApplication {
        api_codes: vec!["DM".into(), "SMC".into()],
        ..new_app("Beta")
    };
    let beta_app = apps::create(&mut conn, &beta, &admin(), now).unwrap();
    assert_eq!(beta_app.name, "Partner-DE-Beta-DM");
    assert_eq!(beta_app.grants.len(), 2);

    assert_eq!(
        apps::list(&mut conn, Some("Acme")).unwrap(),
        vec![seeded.application.clone()]
    );
    assert_eq!(
        apps::list(&mut conn, Some("beta")).unwrap(),
        vec![beta_app.clone()]
    );
    assert_eq!(apps::list(&mut conn, None).unwrap().len(), 2);
}

/// Writers that read before they write (as creating an application does) must queue, not
/// fail with "database is locked" on SQLite.
fn concurrent_writers_all_succeed(db: &TestDb) {
    let seeded = seed(db);
    let now = clavis::db::now();
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let organisation = seeded.organisation.id.clone();
            scope.spawn(move || {
                let mut conn = db.conn();
                for n in 0..5 {
                    let new = clavis_shared::portal::CreateApplication {
                        name: Some(format!("app {worker}-{n}")),
                        ..new_app(&organisation)
                    };
                    apps::create(&mut conn, &new, &admin(), now)
                        .expect("concurrent creation succeeds");
                }
            });
        }
    });
    assert_eq!(db.count("applications"), 21);
}
