//! The admin lists (organisations, applications, APIs, people) over HTTP: search, sort,
//! paging and totals done by the database, bad input refused with a sentence, and who may
//! list what, on both databases.

use chrono::Duration;
use clavis::{apps, orgs, users};
use clavis_shared::portal::{CreateApplication, CreateOrganisation};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::on_both_databases_async;
use crate::portal::{Who, World};
use crate::support::{TestDb, admin};

/// The world of the portal tests plus 30 organisations "Org 00" to "Org 29" (every third
/// with an application), and one named with LIKE's wildcards.
async fn crowded_world(test_db: TestDb, settings: &str) -> World {
    let world = World::start(test_db, settings).await;
    let mut conn = world.server.db.conn();
    let start = clavis::db::now();
    for n in 0..30 {
        // Created a minute apart, so "created" sorts them like their names.
        let now = start + Duration::minutes(n);
        let organisation = orgs::create(
            &mut conn,
            &CreateOrganisation {
                name: format!("Org {n:02}"),
                country: if n % 2 == 0 { "DE" } else { "FR" }.into(),
                ..Default::default()
            },
            &admin(),
            now,
        )
        .unwrap();
        if n % 3 == 0 {
            apps::create(
                &mut conn,
                &CreateApplication {
                    organisation_id: organisation.id,
                    api_codes: vec!["SMC".into()],
                    ..Default::default()
                },
                &admin(),
                now,
            )
            .unwrap();
        }
    }
    orgs::create(
        &mut conn,
        &CreateOrganisation {
            name: "50%_off Traders".into(),
            country: "NL".into(),
            ..Default::default()
        },
        &admin(),
        start,
    )
    .unwrap();
    drop(conn);
    world
}

/// The names of a page's items (`field` of each).
fn names<'a>(page: &'a Value, field: &str) -> Vec<&'a str> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|item| item[field].as_str().unwrap_or_default())
        .collect()
}

async fn admins_search_sort_and_page_organisations_in_the_database(test_db: TestDb) {
    let world = crowded_world(test_db, "").await;
    // 30 + Acme + Beta + the traders.
    let (status, first) = world
        .call(Who::Admin, Method::GET, "/api/v1/organisations", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (&first["total"], &first["page"], &first["per_page"]),
        (&33.into(), &1.into(), &25.into())
    );
    assert_eq!(
        names(&first, "name")[..3],
        ["50%_off Traders", "Acme", "Beta"]
    );
    assert_eq!(names(&first, "name").len(), 25);

    let (_, second) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/organisations?sort=-name&page=2&per_page=10",
            None,
        )
        .await;
    assert_eq!(second["total"], 33);
    assert_eq!(second["page"], 2);
    assert_eq!(names(&second, "name")[0], "Org 19");
    assert_eq!(names(&second, "name")[9], "Org 10");

    // The last page holds the rest; a page past the end is empty but keeps the total.
    let (_, last) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/organisations?page=4&per_page=10",
            None,
        )
        .await;
    assert_eq!(names(&last, "name"), ["Org 27", "Org 28", "Org 29"]);
    let (_, beyond) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/organisations?page=9&per_page=10",
            None,
        )
        .await;
    assert_eq!(
        (beyond["items"].as_array().unwrap().len(), &beyond["total"]),
        (0, &33.into())
    );

    // Search: any letter case, a substring of the name or country.
    let (_, found) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/organisations?q=oRG%202",
            None,
        )
        .await;
    assert_eq!(found["total"], 10);
    assert_eq!(names(&found, "name")[0], "Org 20");
    let (_, by_country) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/organisations?q=fr&sort=-created&per_page=2",
            None,
        )
        .await;
    assert_eq!(by_country["total"], 15);
    assert_eq!(names(&by_country, "name"), ["Org 29", "Org 27"]);
    orgs::create(
        &mut world.server.db.conn(),
        &CreateOrganisation {
            name: "Ünïcode Shipping".into(),
            country: "DE".into(),
            ..Default::default()
        },
        &admin(),
        clavis::db::now(),
    )
    .unwrap();
    // % and _ match themselves, not anything. Letters outside ASCII are found as typed on
    // both databases (and in any case on PostgreSQL, whose lower() folds them).
    for (q, name) in [
        ("%25", "50%_off Traders"),
        ("_", "50%_off Traders"),
        ("0%25_", "50%_off Traders"),
        ("%C3%9Cn%C3%AFcode", "Ünïcode Shipping"),
        ("SHIPPING", "Ünïcode Shipping"),
        ("n%C3%AFC", "Ünïcode Shipping"),
    ] {
        let (_, found) = world
            .call(
                Who::Admin,
                Method::GET,
                &format!("/api/v1/organisations?q={q}"),
                None,
            )
            .await;
        assert_eq!(names(&found, "name"), [name], "q={q}");
    }
    let (_, sorted) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/organisations?sort=country&per_page=1",
            None,
        )
        .await;
    assert_eq!(sorted["items"][0]["country"], "BE");
}

async fn bad_list_queries_get_422_saying_what_is_wrong(test_db: TestDb) {
    let world = crowded_world(test_db, "").await;
    for (path, field, says) in [
        (
            "/api/v1/organisations?page=0",
            "page",
            "page must be a whole number from 1",
        ),
        ("/api/v1/organisations?page=two", "page", "not \"two\""),
        (
            "/api/v1/organisations?per_page=101",
            "per_page",
            "from 1 to 100",
        ),
        (
            "/api/v1/organisations?sort=colour",
            "sort",
            "sort by name, country, created",
        ),
        (
            "/api/v1/apis?sort=-scopes",
            "sort",
            "sort by code, name, audience, created",
        ),
        (
            "/api/v1/applications?sort=secret",
            "sort",
            "sort by name, organisation, client_id, environment, enabled, created",
        ),
        (
            "/api/v1/people?sort=password",
            "sort",
            "sort by email, name, last_sign_in, created",
        ),
        ("/api/v1/people?role=owner", "role", "is not a role"),
        ("/api/v1/people?per_page=-1", "per_page", "from 1 to 100"),
    ] {
        let (status, body) = world.call(Who::Admin, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
    let (status, body) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/applications?organisation=nope",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

async fn applications_are_searched_by_name_client_id_and_organisation(test_db: TestDb) {
    let world = crowded_world(test_db, "").await;
    // Acme's and Beta's, and one of every third of the 30.
    let (status, all) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/applications?per_page=100",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 12);
    // By name: Partner-BE-Beta-SMC, Partner-DE-Org-00-SMC, …, Partner-NL-Acme-SMC.
    assert_eq!(all["items"][0]["organisation_name"], "Beta");
    assert_eq!(all["items"][11]["organisation_name"], "Acme");
    assert_eq!(all["items"][0]["grants"][0]["api_code"], "SMC");

    let part = &world.app_b.client_id[9..18].to_uppercase();
    let (_, by_client_id) = world
        .call(
            Who::Admin,
            Method::GET,
            &format!("/api/v1/applications?q={part}"),
            None,
        )
        .await;
    assert_eq!(
        names(&by_client_id, "client_id"),
        [world.app_b.client_id.as_str()]
    );

    let (_, by_organisation) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/applications?q=org%202&sort=-organisation",
            None,
        )
        .await;
    assert_eq!(
        names(&by_organisation, "organisation_name"),
        ["Org 27", "Org 24", "Org 21"]
    );
    let (_, one) = world
        .call(
            Who::Admin,
            Method::GET,
            &format!("/api/v1/applications?organisation={}", world.beta.id),
            None,
        )
        .await;
    assert_eq!(names(&one, "client_id"), [world.app_b.client_id.as_str()]);
    assert_eq!(one["total"], 1);

    // Every order and a search read page by page give the whole list's order, page by page.
    for query in [
        "sort=-name",
        "sort=organisation",
        "sort=client_id",
        "q=smc&sort=-created",
    ] {
        let (_, whole) = world
            .call(
                Who::Admin,
                Method::GET,
                &format!("/api/v1/applications?{query}&per_page=100"),
                None,
            )
            .await;
        let mut paged = Vec::new();
        for page in 1..=3 {
            let (status, part) = world
                .call(
                    Who::Admin,
                    Method::GET,
                    &format!("/api/v1/applications?{query}&per_page=5&page={page}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{part}");
            assert_eq!(part["total"], whole["total"], "{query}");
            paged.extend(names(&part, "client_id").into_iter().map(str::to_owned));
        }
        assert_eq!(paged, names(&whole, "client_id"), "{query}");
    }

    let (_, apis) = world
        .call(Who::Admin, Method::GET, "/api/v1/apis?q=manifest", None)
        .await;
    assert_eq!(
        (names(&apis, "code"), &apis["total"]),
        (vec!["SMC"], &1.into())
    );
    let (_, none) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/apis?q=nothing-like-it",
            None,
        )
        .await;
    assert_eq!(
        (none["items"].as_array().unwrap().len(), &none["total"]),
        (0, &0.into())
    );
}

async fn people_are_filtered_by_organisation_and_role_with_their_last_sign_in(test_db: TestDb) {
    let world = crowded_world(test_db, "").await;
    let mut conn = world.server.db.conn();
    let signed_in = clavis::db::now();
    let mia = users::LoginIdentity {
        issuer: "https://idp.example.org".into(),
        subject: "mia".into(),
        email: Some(crate::portal::email_of(Who::Manager).into()),
        email_verified: true,
        name: Some("Mia Manager".into()),
    };
    users::record_login(&mut conn, &mia, &[], signed_in).unwrap();
    drop(conn);

    let (status, everyone) = world
        .call(Who::Admin, Method::GET, "/api/v1/people", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{everyone}");
    assert_eq!(
        names(&everyone, "email"),
        [
            "ada.admin@clavis.test",
            "ben.manager@beta.test",
            "mia.manager@acme.test",
            "vic.viewer@acme.test"
        ]
    );
    let (_, recent) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/people?sort=-last_sign_in",
            None,
        )
        .await;
    assert_eq!(recent["items"][0]["email"], "mia.manager@acme.test");
    assert_eq!(recent["items"][0]["name"], "Mia Manager");
    assert!(
        recent["items"][0]["last_sign_in_at"].is_string(),
        "{recent}"
    );
    assert!(
        recent["items"][1]["last_sign_in_at"].is_null(),
        "never signed in: {recent}"
    );
    assert_eq!(recent["items"][0]["roles"][0]["role"], "credential_manager");
    assert_eq!(recent["items"][0]["roles"][0]["organisation_name"], "Acme");

    let acme = &world.acme.id;
    let (_, at_acme) = world
        .call(
            Who::Admin,
            Method::GET,
            &format!("/api/v1/people?organisation={acme}"),
            None,
        )
        .await;
    assert_eq!(
        names(&at_acme, "email"),
        ["mia.manager@acme.test", "vic.viewer@acme.test"]
    );
    let (_, viewers) = world
        .call(
            Who::Admin,
            Method::GET,
            &format!("/api/v1/people?organisation={acme}&role=viewer"),
            None,
        )
        .await;
    assert_eq!(
        (names(&viewers, "email"), &viewers["total"]),
        (vec!["vic.viewer@acme.test"], &1.into())
    );
    let (_, managers) = world
        .call(
            Who::Admin,
            Method::GET,
            "/api/v1/people?role=credential_manager&q=BETA",
            None,
        )
        .await;
    assert_eq!(names(&managers, "email"), ["ben.manager@beta.test"]);
    let (_, admins) = world
        .call(Who::Admin, Method::GET, "/api/v1/people?role=admin", None)
        .await;
    assert_eq!(names(&admins, "email"), ["ada.admin@clavis.test"]);
    assert!(admins["items"][0]["roles"][0]["organisation_id"].is_null());
}

async fn only_admins_list_applications_apis_and_people_and_contacts_their_organisations(
    test_db: TestDb,
) {
    let world = crowded_world(test_db, "").await;
    for path in [
        "/api/v1/applications",
        "/api/v1/apis",
        "/api/v1/people",
        "/api/v1/reminders/status",
    ] {
        for (who, want) in [
            (Who::Anonymous, StatusCode::UNAUTHORIZED),
            (Who::Viewer, StatusCode::FORBIDDEN),
            (Who::OtherManager, StatusCode::FORBIDDEN),
            (Who::Manager, StatusCode::FORBIDDEN),
            (Who::Admin, StatusCode::OK),
        ] {
            let (status, body) = world.call(who, Method::GET, path, None).await;
            assert_eq!(status, want, "{who:?} {path}: {body}");
        }
    }
    // A contact searches only their own organisations, whatever they ask for.
    let (status, own) = world
        .call(Who::Viewer, Method::GET, "/api/v1/organisations?q=e", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(
        (names(&own, "name"), &own["total"]),
        (vec!["Acme"], &1.into())
    );
    let (_, none) = world
        .call(
            Who::OtherManager,
            Method::GET,
            "/api/v1/organisations?q=acme",
            None,
        )
        .await;
    assert_eq!(none["total"], 0);
    let (status, _) = world
        .call(Who::Anonymous, Method::GET, "/api/v1/organisations", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn admins_see_whether_reminders_are_sent(test_db: TestDb) {
    let off = World::start(test_db, "").await;
    let (_, status) = off
        .call(Who::Admin, Method::GET, "/api/v1/reminders/status", None)
        .await;
    assert_eq!(status, serde_json::json!({ "enabled": false }));
    // Contacts are told too, where they read who gets their reminders.
    let path = format!("/api/v1/organisations/{}/reminder-recipients", off.acme.id);
    let (_, recipients) = off.call(Who::Manager, Method::GET, &path, None).await;
    assert_eq!(recipients["reminders_sent"], false);
}

async fn reminders_are_on_with_an_smtp_server(test_db: TestDb) {
    let on = World::start(
        test_db,
        "smtp_host = \"127.0.0.1\"\nsmtp_port = 2525\nsmtp_from = \"clavis@example.org\"",
    )
    .await;
    let (_, status) = on
        .call(Who::Admin, Method::GET, "/api/v1/reminders/status", None)
        .await;
    assert_eq!(status, serde_json::json!({ "enabled": true }));
    let path = format!("/api/v1/organisations/{}/reminder-recipients", on.acme.id);
    let (_, recipients) = on.call(Who::Viewer, Method::GET, &path, None).await;
    assert_eq!(recipients["reminders_sent"], true);
}

on_both_databases_async!(
    admins_search_sort_and_page_organisations_in_the_database,
    bad_list_queries_get_422_saying_what_is_wrong,
    applications_are_searched_by_name_client_id_and_organisation,
    people_are_filtered_by_organisation_and_role_with_their_last_sign_in,
    only_admins_list_applications_apis_and_people_and_contacts_their_organisations,
    admins_see_whether_reminders_are_sent,
    reminders_are_on_with_an_smtp_server,
);
