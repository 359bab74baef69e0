//! Signing keys on both databases: scheduled rotation, pruning, and several instances.

use chrono::{Duration, Utc};
use clavis::config::{Config, KeySettings};
use clavis::keys::{Keys, MasterKeySource};

use crate::on_both_databases;
use crate::support::TestDb;

on_both_databases!(
    scheduled_rotation_publishes_first_then_signs_then_retires,
    instances_starting_together_create_one_key
);

fn settings(dir: &std::path::Path) -> KeySettings {
    KeySettings {
        master_key: MasterKeySource::File(dir.join("master.key")),
        ..Config::load(None).unwrap().keys
    }
}

fn scheduled_rotation_publishes_first_then_signs_then_retires(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let start = Utc::now();
    let lifetime = 3600;
    let keys = Keys::open(&mut db.conn(), settings(dir.path()), lifetime, start).unwrap();
    let first = keys.ring().signing_key(start).unwrap().kid.clone();

    // Not due yet: nothing changes.
    keys.maintain(&mut db.conn(), start + Duration::days(89))
        .unwrap();
    assert_eq!(db.count("signing_keys"), 1);

    // Due after 90 days: a successor is published, but the first key still signs.
    let due = start + Duration::days(90);
    keys.maintain(&mut db.conn(), due).unwrap();
    let ring = keys.ring();
    assert_eq!(ring.published(due).count(), 2);
    assert_eq!(ring.signing_key(due).unwrap().kid, first);

    // After the publish lead (10 minutes) the successor signs; the first stays published
    // while tokens it signed may live.
    let switched = due + Duration::minutes(10);
    let second = ring.signing_key(switched).unwrap().kid.clone();
    assert_ne!(second, first);
    assert!(
        ring.find(&first, switched + Duration::minutes(30))
            .is_some()
    );

    // Once its last token has expired (plus grace) it is unpublished and then deleted.
    let gone = switched + Duration::seconds(lifetime.into()) + Duration::minutes(6);
    assert!(ring.find(&first, gone).is_none());
    keys.maintain(&mut db.conn(), gone).unwrap();
    assert_eq!(db.count("signing_keys"), 1);
    assert_eq!(keys.ring().signing_key(gone).unwrap().kid, second);
}

fn instances_starting_together_create_one_key(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    // Every instance shares one master key, as they must in production.
    Keys::open(&mut db.conn(), settings(dir.path()), 3600, Utc::now()).unwrap();
    let kids: Vec<String> = std::thread::scope(|scope| {
        let instances: Vec<_> = (0..4)
            .map(|_| {
                let settings = settings(dir.path());
                scope.spawn(move || {
                    let keys = Keys::open(&mut db.conn(), settings, 3600, Utc::now()).unwrap();
                    keys.ring().signing_key(Utc::now()).unwrap().kid.clone()
                })
            })
            .collect();
        instances.into_iter().map(|i| i.join().unwrap()).collect()
    });
    assert!(kids.windows(2).all(|pair| pair[0] == pair[1]), "{kids:?}");
    assert_eq!(db.count("signing_keys"), 1);
}

#[test]
fn first_start_on_an_empty_database_races_safely() {
    for db in [TestDb::postgres(), TestDb::sqlite()] {
        let dir = tempfile::tempdir().unwrap();
        // Create the master key file first so the instances share it.
        clavis::keys::MasterKey::load(&MasterKeySource::File(dir.path().join("master.key")))
            .unwrap();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let settings = settings(dir.path());
                let db = &db;
                scope
                    .spawn(move || Keys::open(&mut db.conn(), settings, 3600, Utc::now()).unwrap());
            }
        });
        assert_eq!(db.count("signing_keys"), 1, "exactly one first key");
    }
}
