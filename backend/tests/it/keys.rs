//! Signing keys on both databases: scheduled rotation, pruning, several instances, and a
//! ring per signing algorithm in use.

use chrono::{DateTime, Duration, Utc};
use clavis::apis;
use clavis::config::Config;
use clavis::keys::{KeySettings, Keys, MasterKeySource, SigningAlgorithm};

use crate::on_both_databases;
use crate::support::{TestDb, admin, jwks_algorithms};

on_both_databases!(
    scheduled_rotation_publishes_first_then_signs_then_retires,
    instances_starting_together_create_one_key,
    each_algorithm_in_use_has_its_own_ring_and_rotation,
    maintenance_gives_an_algorithm_in_use_its_missing_key,
    keys_of_an_algorithm_no_api_uses_go_once_their_tokens_have_expired,
);

const ES256: SigningAlgorithm = SigningAlgorithm::Es256;
const RS256: SigningAlgorithm = SigningAlgorithm::Rs256;
const EDDSA: SigningAlgorithm = SigningAlgorithm::EdDsa;

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
    let first = keys.ring().signing_key(ES256, start).unwrap().kid.clone();

    // Not due yet: nothing changes.
    keys.maintain(&mut db.conn(), start + Duration::days(89))
        .unwrap();
    assert_eq!(db.count("signing_keys"), 1);

    // Due after 90 days: a successor is published, but the first key still signs.
    let due = start + Duration::days(90);
    keys.maintain(&mut db.conn(), due).unwrap();
    let ring = keys.ring();
    assert_eq!(ring.published(due).count(), 2);
    assert_eq!(ring.signing_key(ES256, due).unwrap().kid, first);

    // After the publish lead (10 minutes) the successor signs; the first stays published
    // while tokens it signed may live.
    let switched = due + Duration::minutes(10);
    let second = ring.signing_key(ES256, switched).unwrap().kid.clone();
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
    assert_eq!(keys.ring().signing_key(ES256, gone).unwrap().kid, second);
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
                    keys.ring()
                        .signing_key(ES256, Utc::now())
                        .unwrap()
                        .kid
                        .clone()
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

/// Registers an API signing with `algorithm`, as an admin would (who then prepares its key).
fn register_api(db: &TestDb, code: &str, algorithm: SigningAlgorithm, now: DateTime<Utc>) {
    let new = clavis_shared::portal::CreateApi {
        code: code.into(),
        name: format!("API {code}"),
        audience: format!("https://api.example.org/{}", code.to_lowercase()),
        scopes: Vec::new(),
        signing_alg: Some(algorithm),
        ..Default::default()
    };
    apis::create(&mut db.conn(), &new, &admin(), now).unwrap();
}

fn published_algorithms(keys: &Keys, now: DateTime<Utc>) -> Vec<String> {
    jwks_algorithms(&keys.ring().jwks(now))
}

fn signing_kid(keys: &Keys, algorithm: SigningAlgorithm, now: DateTime<Utc>) -> Option<String> {
    keys.ring()
        .signing_key(algorithm, now)
        .map(|key| key.kid.clone())
}

fn each_algorithm_in_use_has_its_own_ring_and_rotation(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let start = Utc::now();
    let keys = Keys::open(&mut db.conn(), settings(dir.path()), 3600, start).unwrap();
    assert_eq!(published_algorithms(&keys, start), ["ES256"]);
    assert!(signing_kid(&keys, RS256, start).is_none());

    // The first RS256 key signs at once: no resource server can have cached it.
    register_api(db, "REG", RS256, start);
    keys.prepare(&mut db.conn(), RS256, start).unwrap();
    let first_rs = signing_kid(&keys, RS256, start).expect("an RS256 key signs at once");
    let first_es = signing_kid(&keys, ES256, start).unwrap();
    assert_eq!(published_algorithms(&keys, start), ["ES256", "RS256"]);
    keys.prepare(&mut db.conn(), RS256, start).unwrap();
    assert_eq!(db.count("signing_keys"), 2, "preparing again adds nothing");

    // Rotating one algorithm leaves the other alone; its successor waits for the lead.
    let later = start + Duration::minutes(1);
    let rotated = keys.rotate(&mut db.conn(), Some(RS256), later).unwrap();
    assert_eq!(rotated.len(), 1);
    assert_eq!(db.count("signing_keys"), 3);
    assert_eq!(signing_kid(&keys, RS256, later).unwrap(), first_rs);
    let after_lead = later + Duration::minutes(10);
    assert_eq!(signing_kid(&keys, RS256, after_lead).unwrap(), rotated[0]);
    assert_eq!(signing_kid(&keys, ES256, after_lead).unwrap(), first_es);

    // Rotating without --alg rotates every algorithm in use.
    let rotated_all = keys.rotate(&mut db.conn(), None, after_lead).unwrap();
    assert_eq!(rotated_all.len(), 2);
    assert_eq!(db.count("signing_keys"), 5);
    let described = keys.ring().describe(after_lead);
    for algorithm in ["ES256", "RS256"] {
        assert!(
            described
                .iter()
                .any(|key| key.algorithm == algorithm && key.state == "published, not yet signing"),
            "{algorithm} has a pending key"
        );
    }

    // The schedule rotates each ring when its own newest key is due.
    let due = after_lead + Duration::days(90);
    keys.maintain(&mut db.conn(), due).unwrap();
    let ring = keys.ring();
    let signing_after = |algorithm| ring.signing_key(algorithm, due + Duration::minutes(10));
    assert!(
        !rotated_all.contains(&signing_after(ES256).unwrap().kid),
        "ES256 rotated on schedule"
    );
    assert!(
        !rotated_all.contains(&signing_after(RS256).unwrap().kid),
        "RS256 rotated on schedule"
    );
    assert!(keys.rotate(&mut db.conn(), Some(EDDSA), due).is_ok());
    assert!(
        signing_kid(&keys, EDDSA, due).is_some(),
        "a first key made by hand signs at once too"
    );
}

fn maintenance_gives_an_algorithm_in_use_its_missing_key(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let keys = Keys::open(&mut db.conn(), settings(dir.path()), 3600, now).unwrap();
    // An API that chose EdDSA on an instance whose key generation failed.
    register_api(db, "EDX", EDDSA, now);
    assert!(signing_kid(&keys, EDDSA, now).is_none());
    keys.maintain(&mut db.conn(), now).unwrap();
    assert!(signing_kid(&keys, EDDSA, now).is_some(), "signs at once");
    assert_eq!(published_algorithms(&keys, now), ["ES256", "EdDSA"]);

    // A fresh instance starting meets no gap either.
    let other = Keys::open(&mut db.conn(), settings(dir.path()), 3600, now).unwrap();
    assert_eq!(
        signing_kid(&other, EDDSA, now),
        signing_kid(&keys, EDDSA, now)
    );
    assert_eq!(db.count("signing_keys"), 2);
}

fn keys_of_an_algorithm_no_api_uses_go_once_their_tokens_have_expired(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let start = Utc::now();
    let lifetime = 3600;
    let keys = Keys::open(&mut db.conn(), settings(dir.path()), lifetime, start).unwrap();
    register_api(db, "REG", RS256, start);
    keys.prepare(&mut db.conn(), RS256, start).unwrap();

    // REG moves to ES256: its RS256 tokens stay verifiable while they may live.
    apis::update(
        &mut db.conn(),
        "REG",
        &clavis_shared::portal::UpdateApi {
            signing_alg: Some(ES256),
            ..Default::default()
        },
        &admin(),
        start + Duration::days(1),
    )
    .unwrap();
    let rotation = Duration::days(90) + Duration::minutes(10);
    let still_needed = start + rotation + Duration::seconds(lifetime.into());
    keys.maintain(&mut db.conn(), still_needed).unwrap();
    assert!(published_algorithms(&keys, still_needed).contains(&"RS256".to_owned()));
    assert_eq!(db.count("signing_keys"), 3, "RS256 is not rotated any more");

    let expired = still_needed + Duration::minutes(6);
    keys.maintain(&mut db.conn(), expired).unwrap();
    assert_eq!(published_algorithms(&keys, expired), ["ES256"]);
    assert!(signing_kid(&keys, RS256, expired).is_none());
}
