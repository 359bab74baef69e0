use clavis::error::Error;
use clavis::{apis, orgs};

use crate::on_both_databases;
use crate::support::{TestDb, admin};

on_both_databases!(
    organisation_is_created_listed_and_found,
    organisation_names_are_unique_ignoring_case,
    invalid_organisation_writes_nothing,
    api_is_created_with_its_scopes,
    api_codes_and_audiences_are_unique,
    invalid_api_writes_nothing,
);

fn new_org(name: &str, country: &str) -> clavis_shared::portal::CreateOrganisation {
    clavis_shared::portal::CreateOrganisation {
        name: name.into(),
        country: country.into(),
        sandbox: false,
        notification_email: None,
    }
}

fn organisation_is_created_listed_and_found(db: &TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    let created = orgs::create(
        &mut conn,
        &new_org("  Acme Logistics ", "nl"),
        &admin(),
        now,
    )
    .unwrap();
    assert_eq!(created.name, "Acme Logistics");
    assert_eq!(created.country, "NL");
    assert!(!created.sandbox);
    assert_eq!(created.created_at, now);
    let sandbox = orgs::create(
        &mut conn,
        &clavis_shared::portal::CreateOrganisation {
            name: "Dummy".into(),
            country: "BE".into(),
            sandbox: true,
            notification_email: None,
        },
        &admin(),
        now,
    )
    .unwrap();
    assert!(sandbox.sandbox);

    let listed = orgs::list(&mut conn).unwrap();
    assert_eq!(listed, vec![created.clone(), sandbox]);
    assert_eq!(orgs::find(&mut conn, "acme logistics").unwrap(), created);
    assert_eq!(orgs::find(&mut conn, &created.id).unwrap(), created);
    assert!(matches!(
        orgs::find(&mut conn, "Nobody"),
        Err(Error::NotFound(_))
    ));
    assert_eq!(db.count("audit_events"), 2);
}

fn organisation_names_are_unique_ignoring_case(db: &TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    orgs::create(&mut conn, &new_org("Acme", "NL"), &admin(), now).unwrap();
    let duplicate = orgs::create(&mut conn, &new_org("ACME", "DE"), &admin(), now).unwrap_err();
    assert!(
        matches!(&duplicate, Error::Conflict(m) if m == "An organisation named \"ACME\" already exists."),
        "{duplicate}"
    );
    assert_eq!(db.count("organisations"), 1);
    assert_eq!(db.count("audit_events"), 1);
}

fn invalid_organisation_writes_nothing(db: &TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    for (name, country, field) in [
        ("", "NL", "name"),
        ("Acme", "XX", "country"),
        ("Acme", "Netherlands", "country"),
    ] {
        match orgs::create(&mut conn, &new_org(name, country), &admin(), now) {
            Err(Error::Invalid(invalid)) => assert_eq!(invalid.field, field),
            other => panic!("expected a validation error for {name:?}/{country:?}, got {other:?}"),
        }
    }
    assert_eq!(db.count("organisations"), 0);
    assert_eq!(db.count("audit_events"), 0);
}

fn smc() -> clavis_shared::portal::CreateApi {
    clavis_shared::portal::CreateApi {
        code: "smc".into(),
        name: "Ship Manifests".into(),
        audience: "https://api.example.org/smc".into(),
        scopes: vec![
            "manifest.write".into(),
            "manifest.read".into(),
            "manifest.read".into(),
        ],
        ..Default::default()
    }
}

fn api_is_created_with_its_scopes(db: &TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    let created = apis::create(&mut conn, &smc(), &admin(), now).unwrap();
    assert_eq!(created.code, "SMC");
    assert_eq!(created.scopes, vec!["manifest.write", "manifest.read"]);
    let dm = apis::create(
        &mut conn,
        &clavis_shared::portal::CreateApi {
            code: "DM".into(),
            name: "Documents".into(),
            audience: "urn:example:dm".into(),
            scopes: Vec::new(),
            ..Default::default()
        },
        &admin(),
        now,
    )
    .unwrap();
    let listed = apis::list(&mut conn).unwrap();
    assert_eq!(
        listed.iter().map(|a| a.code.as_str()).collect::<Vec<_>>(),
        vec!["DM", "SMC"]
    );
    assert_eq!(listed[0], dm);
    assert_eq!(listed[1].scopes, vec!["manifest.read", "manifest.write"]);
    assert_eq!(apis::find_by_code(&mut conn, "smc").unwrap().id, created.id);
    assert!(matches!(
        apis::find_by_code(&mut conn, "XYZ"),
        Err(Error::NotFound(_))
    ));
    assert_eq!(db.count("api_scopes"), 2);
}

fn api_codes_and_audiences_are_unique(db: &TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    apis::create(&mut conn, &smc(), &admin(), now).unwrap();
    let same_code = clavis_shared::portal::CreateApi {
        audience: "https://other.example.org".into(),
        ..smc()
    };
    assert!(matches!(
        apis::create(&mut conn, &same_code, &admin(), now),
        Err(Error::Conflict(_))
    ));
    let same_audience = clavis_shared::portal::CreateApi {
        code: "OTHER".into(),
        ..smc()
    };
    assert!(matches!(
        apis::create(&mut conn, &same_audience, &admin(), now),
        Err(Error::Conflict(_))
    ));
    assert_eq!(db.count("apis"), 1);
    assert_eq!(db.count("api_scopes"), 2);
}

fn invalid_api_writes_nothing(db: &TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    let cases = [
        (
            clavis_shared::portal::CreateApi {
                code: "S".into(),
                ..smc()
            },
            "code",
        ),
        (
            clavis_shared::portal::CreateApi {
                name: " ".into(),
                ..smc()
            },
            "name",
        ),
        (
            clavis_shared::portal::CreateApi {
                audience: "not a uri".into(),
                ..smc()
            },
            "audience",
        ),
        (
            clavis_shared::portal::CreateApi {
                scopes: vec!["ok".into(), "bad\"scope".into()],
                ..smc()
            },
            "scopes",
        ),
    ];
    for (new, field) in cases {
        match apis::create(&mut conn, &new, &admin(), now) {
            Err(Error::Invalid(invalid)) => assert_eq!(invalid.field, field),
            other => panic!("expected a validation error on {field}, got {other:?}"),
        }
    }
    assert_eq!(db.count("apis"), 0);
    assert_eq!(db.count("api_scopes"), 0);
}
