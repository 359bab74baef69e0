use clavis::error::Error;
use clavis::users::{self, Person};
use clavis_shared::dto::Role;

use crate::on_both_databases;
use crate::support::{TestDb, admin, seed};

on_both_databases!(
    roles_can_be_granted_before_first_login,
    one_person_gets_one_record_across_grants,
    role_and_organisation_must_fit,
    duplicate_grants_are_refused,
    roles_can_be_revoked,
    the_last_admin_role_cannot_be_revoked,
    two_admins_removing_each_other_at_once_leave_one,
    sign_ins_claim_designations_only_by_subject_or_verified_email,
);

fn identity(subject: &str, email: &str, verified: bool) -> users::LoginIdentity {
    users::LoginIdentity {
        issuer: "https://idp.example.org".into(),
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: verified,
        name: Some("Ann".into()),
    }
}

fn sign_ins_claim_designations_only_by_subject_or_verified_email(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let by_email = users::grant(
        &mut conn,
        &Person::Email("ann@example.org".into()),
        Role::Viewer,
        Some("acme"),
        &admin(),
        now,
    )
    .unwrap();
    let by_subject = users::grant(
        &mut conn,
        &Person::Subject("sub-bob".into()),
        Role::Viewer,
        Some("acme"),
        &admin(),
        now,
    )
    .unwrap();

    // An unverified address claims nothing: a new record, and the address is not stored.
    let stranger = users::record_login(
        &mut conn,
        &identity("sub-x", "ann@example.org", false),
        &[],
        now,
    )
    .unwrap();
    assert_ne!(stranger.id, by_email.user_id);
    assert_eq!(stranger.email, None);

    let ann = users::record_login(
        &mut conn,
        &identity("sub-ann", "Ann@Example.org", true),
        &[],
        now,
    )
    .unwrap();
    assert_eq!(ann.id, by_email.user_id);
    let bob = users::record_login(
        &mut conn,
        &identity("sub-bob", "bob@example.org", true),
        &[],
        now,
    )
    .unwrap();
    assert_eq!(bob.id, by_subject.user_id);
    assert_eq!(bob.email.as_deref(), Some("bob@example.org"));

    // The next sign-in finds the same record by issuer and subject, and bootstraps admins.
    let again = users::record_login(
        &mut conn,
        &identity("sub-ann", "ann@example.org", true),
        &["ann@example.org".to_owned()],
        now,
    )
    .unwrap();
    assert_eq!(again.id, ann.id);
    assert_eq!(db.count("users"), 3);
    let admins = users::list(&mut conn)
        .unwrap()
        .into_iter()
        .filter(|a| a.role == Role::Admin && a.user_id == ann.id)
        .count();
    assert_eq!(admins, 1);
}

fn roles_can_be_granted_before_first_login(db: &TestDb) {
    let seeded = seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let manager = users::grant(
        &mut conn,
        &Person::Email(" Ann@Example.ORG ".into()),
        Role::CredentialManager,
        Some("acme"),
        &admin(),
        now,
    )
    .unwrap();
    assert_eq!(manager.email.as_deref(), Some("ann@example.org"));
    assert_eq!(
        manager.organisation_id.as_deref(),
        Some(seeded.organisation.id.as_str())
    );
    assert_eq!(manager.role, Role::CredentialManager);
    let platform_admin = users::grant(
        &mut conn,
        &Person::Subject("sub-42".into()),
        Role::Admin,
        None,
        &admin(),
        now,
    )
    .unwrap();
    assert_eq!(platform_admin.subject.as_deref(), Some("sub-42"));
    assert_eq!(platform_admin.organisation_id, None);
    assert_eq!(db.count("users"), 2);
    let listed = users::list(&mut conn).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&manager) && listed.contains(&platform_admin));
}

fn one_person_gets_one_record_across_grants(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let ann = Person::Email("ann@example.org".into());
    let viewer = users::grant(&mut conn, &ann, Role::Viewer, Some("Acme"), &admin(), now).unwrap();
    let promoted = users::grant(
        &mut conn,
        &Person::Email("ANN@example.org".into()),
        Role::Admin,
        None,
        &admin(),
        now,
    )
    .unwrap();
    assert_eq!(viewer.user_id, promoted.user_id);
    assert_eq!(db.count("users"), 1);
    assert_eq!(db.count("role_assignments"), 2);
}

fn role_and_organisation_must_fit(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let ann = Person::Email("ann@example.org".into());
    let refusals = [
        users::grant(&mut conn, &ann, Role::Admin, Some("Acme"), &admin(), now),
        users::grant(
            &mut conn,
            &ann,
            Role::CredentialManager,
            None,
            &admin(),
            now,
        ),
        users::grant(&mut conn, &ann, Role::Viewer, None, &admin(), now),
        users::grant(
            &mut conn,
            &Person::Email("not-an-email".into()),
            Role::Admin,
            None,
            &admin(),
            now,
        ),
        users::grant(
            &mut conn,
            &Person::Subject("  ".into()),
            Role::Admin,
            None,
            &admin(),
            now,
        ),
    ];
    for refusal in refusals {
        assert!(matches!(refusal, Err(Error::Invalid(_))), "{refusal:?}");
    }
    let unknown_org = users::grant(&mut conn, &ann, Role::Viewer, Some("Nobody"), &admin(), now);
    assert!(matches!(unknown_org, Err(Error::NotFound(_))));
    assert_eq!(db.count("users"), 0);
    assert_eq!(db.count("role_assignments"), 0);
}

fn duplicate_grants_are_refused(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let ann = Person::Email("ann@example.org".into());
    users::grant(&mut conn, &ann, Role::Admin, None, &admin(), now).unwrap();
    let again = users::grant(&mut conn, &ann, Role::Admin, None, &admin(), now).unwrap_err();
    assert_eq!(
        again.to_string(),
        "ann@example.org already has the admin role there."
    );
    users::grant(&mut conn, &ann, Role::Viewer, Some("Acme"), &admin(), now).unwrap();
    let again = users::grant(&mut conn, &ann, Role::Viewer, Some("Acme"), &admin(), now);
    assert!(matches!(again, Err(Error::Conflict(_))));
    assert_eq!(db.count("role_assignments"), 2);
}

fn roles_can_be_revoked(db: &TestDb) {
    seed(db);
    let mut conn = db.conn();
    let now = clavis::db::now();
    let granted = users::grant(
        &mut conn,
        &Person::Email("ann@example.org".into()),
        Role::Viewer,
        Some("Acme"),
        &admin(),
        now,
    )
    .unwrap();
    let revoked = users::revoke(&mut conn, &granted.id, &admin(), now).unwrap();
    assert_eq!(revoked, granted);
    assert_eq!(db.count("role_assignments"), 0);
    assert!(matches!(
        users::revoke(&mut conn, &granted.id, &admin(), now),
        Err(Error::NotFound(_))
    ));
}

fn grant_admin(conn: &mut clavis::db::DbConn, email: &str) -> clavis_shared::dto::RoleAssignment {
    let person = Person::Email(email.into());
    users::grant(
        conn,
        &person,
        Role::Admin,
        None,
        &admin(),
        clavis::db::now(),
    )
    .unwrap()
}

fn the_last_admin_role_cannot_be_revoked(db: &TestDb) {
    let mut conn = db.conn();
    let now = clavis::db::now();
    let ann = grant_admin(&mut conn, "ann@example.org");
    let bob = grant_admin(&mut conn, "bob@example.org");
    users::revoke(&mut conn, &ann.id, &admin(), now).unwrap();
    let Err(Error::Conflict(message)) = users::revoke(&mut conn, &bob.id, &admin(), now) else {
        panic!("the last admin role was revoked");
    };
    assert_eq!(
        message,
        "This is the last admin role: removing it would leave nobody who can manage Clavis. \
         Grant the admin role to someone else first."
    );
    assert_eq!(db.count("role_assignments"), 1);
    // Another role of the same person, or anyone's non-admin role, still goes.
    let viewer = users::grant(
        &mut conn,
        &Person::Email("bob@example.org".into()),
        Role::Viewer,
        Some(&seed(db).organisation.id),
        &admin(),
        now,
    )
    .unwrap();
    users::revoke(&mut conn, &viewer.id, &admin(), now).unwrap();
}

/// Each revoke alone would leave an admin; together they would leave none. The second waits
/// for the first (a row lock on PostgreSQL, the write lock on SQLite) and is refused.
fn two_admins_removing_each_other_at_once_leave_one(db: &TestDb) {
    let mut first = db.conn();
    let ann = grant_admin(&mut first, "ann@example.org");
    let bob = grant_admin(&mut first, "bob@example.org");
    let (started, wait_started) = std::sync::mpsc::channel();
    let second = std::thread::scope(|scope| {
        let result = clavis::db::write_transaction(&mut first, |conn| {
            users::revoke(conn, &ann.id, &admin(), clavis::db::now())?;
            let second = scope.spawn(|| {
                let mut conn = db.conn();
                started.send(()).unwrap();
                users::revoke(&mut conn, &bob.id, &admin(), clavis::db::now())
            });
            wait_started.recv().unwrap();
            // Give the second revoke time to reach the lock while this transaction holds it.
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(second)
        });
        result.unwrap().join().unwrap()
    });
    assert!(matches!(second, Err(Error::Conflict(_))), "{second:?}");
    assert_eq!(db.count("role_assignments"), 1);
}
