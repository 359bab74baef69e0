//! Signing keys: generated on first start, sealed at rest under the master key, rotated
//! without downtime, and published as a JWKS.
//!
//! Each API signs with its own algorithm (ES256, RS256 or EdDSA), so there is a ring of keys
//! per algorithm in use: the configured default (`CLAVIS_TOKEN_SIGNING_ALG`) and every
//! algorithm an API has chosen. Within a ring, a key is published as soon as it is created
//! but signs only from `activates_at` (creation + publish lead), so resource servers have
//! fetched it before they meet it. It signs until its successor activates, and stays
//! published until every token it signed has expired. The first key of an algorithm that has
//! no key yet signs at once: no resource server can have cached a key set holding it, so a
//! lead would only delay the API. All instances read the same rows, so they agree on which
//! key signs when.

mod algorithm;
mod error;
mod master;

pub use algorithm::{Signer, SigningAlgorithm, jwt_algorithm};
pub use error::{KeyError, MalformedMasterKey};
pub use master::{MasterKey, MasterKeySource};

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};

use crate::db::{
    self, DbConn,
    schema::{apis, signing_keys},
};
use crate::error::Result;

/// Signing keys: algorithm, where the master key that seals them comes from, and rotation.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// What APIs that chose no algorithm sign with (`CLAVIS_TOKEN_SIGNING_ALG`).
    pub algorithm: SigningAlgorithm,
    pub master_key: MasterKeySource,
    /// A new key is generated when the newest is this old.
    pub rotation_period: chrono::Duration,
    /// A new key is published this long before it signs, so resource servers fetch it first.
    pub publish_lead: chrono::Duration,
}

const KEYS_JOB: &str = "signing_keys";
/// Kept a little beyond the last token's expiry, for clock skew at resource servers.
const RETIRED_KEY_GRACE: Duration = Duration::minutes(5);

/// A key ready to sign and verify.
pub struct LoadedKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    signer: Signer,
    /// base64url of the JWS header, the same for every token this key signs.
    header_b64: String,
    pub jwk: Value,
    pub decoding: jsonwebtoken::DecodingKey,
}

/// Every stored key, grouped by algorithm (one ring each), oldest activation first within
/// each group.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
    max_token_lifetime: Duration,
}

impl KeyRing {
    /// The key that signs `algorithm` at `now`: the newest one of that algorithm already
    /// active.
    pub fn signing_key(
        &self,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Option<&LoadedKey> {
        self.keys
            .iter()
            .rev()
            .find(|key| key.algorithm == algorithm && key.activates_at <= now)
    }

    /// The algorithms that have a key signing at `now`, for the discovery document.
    pub fn signing_algorithms(&self, now: DateTime<Utc>) -> Vec<SigningAlgorithm> {
        SigningAlgorithm::ALL
            .into_iter()
            .filter(|algorithm| self.signing_key(*algorithm, now).is_some())
            .collect()
    }

    /// Keys resource servers should trust at `now`, of every algorithm: pending, current,
    /// and retired ones whose tokens may still be alive.
    pub fn published(&self, now: DateTime<Utc>) -> impl Iterator<Item = &LoadedKey> {
        self.keys
            .iter()
            .enumerate()
            .filter_map(move |(index, key)| {
                let successor = self
                    .keys
                    .get(index + 1)
                    .filter(|next| next.algorithm == key.algorithm);
                let alive = successor.is_none_or(|next| {
                    next.activates_at + self.max_token_lifetime + RETIRED_KEY_GRACE > now
                });
                alive.then_some(key)
            })
    }

    /// A published key by its id, for verifying a token.
    pub fn find(&self, kid: &str, now: DateTime<Utc>) -> Option<&LoadedKey> {
        self.published(now).find(|key| key.kid == kid)
    }

    /// Signs `claims` as a JWT (`typ: at+jwt`) with the current key of `algorithm`.
    /// [`KeyError::NotReady`] when this instance has no such key yet: it appears once the
    /// key maintenance (or the change to the API that chose the algorithm) has made one.
    pub fn sign<C: Serialize>(
        &self,
        claims: &C,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<String, KeyError> {
        let key = self
            .signing_key(algorithm, now)
            .ok_or(KeyError::NotReady(algorithm))?;
        let payload = serde_json::to_vec(claims).map_err(KeyError::Claims)?;
        let mut jwt = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 120);
        jwt.push_str(&key.header_b64);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jwt);
        let signature = key.signer.sign(jwt.as_bytes())?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jwt);
        Ok(jwt)
    }

    /// Each key and what it does at `now`, by algorithm, newest first (for `clavis keys list`).
    pub fn describe(&self, now: DateTime<Utc>) -> Vec<KeyInfo> {
        let published: Vec<&str> = self.published(now).map(|key| key.kid.as_str()).collect();
        self.keys
            .iter()
            .rev()
            .map(|key| KeyInfo {
                kid: key.kid.clone(),
                algorithm: key.algorithm.as_str(),
                activates_at: key.activates_at,
                state: if key.activates_at > now {
                    "published, not yet signing"
                } else if self
                    .signing_key(key.algorithm, now)
                    .is_some_and(|signing| signing.kid == key.kid)
                {
                    "signing"
                } else if published.contains(&key.kid.as_str()) {
                    "retired, still published"
                } else {
                    "retired"
                },
            })
            .collect()
    }

    /// The JWKS document of the keys published at `now`.
    pub fn jwks(&self, now: DateTime<Utc>) -> Value {
        json!({ "keys": self.published(now).map(|key| key.jwk.clone()).collect::<Vec<_>>() })
    }
}

/// A key as `clavis keys list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub algorithm: &'static str,
    pub activates_at: DateTime<Utc>,
    pub state: &'static str,
}

/// The signing keys of this instance, refreshed from the database.
pub struct Keys {
    settings: KeySettings,
    master: MasterKey,
    max_token_lifetime: Duration,
    ring: RwLock<Arc<KeyRing>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    algorithm: String,
    sealed_private_key: String,
    public_jwk: String,
    created_at: NaiveDateTime,
    activates_at: NaiveDateTime,
}

impl Keys {
    /// A key for sealing something else than signing keys, derived from the master key for
    /// one `purpose` (see [`MasterKey::derive`]).
    pub fn derive_key(&self, purpose: &str) -> MasterKey {
        self.master.derive(purpose)
    }

    /// Loads the master key and every signing key, then generates a key (signing at once) for
    /// each algorithm in use that has none. Fails with a clear message when the master key is
    /// missing or wrong, before sealing anything with it.
    pub fn open(
        conn: &mut DbConn,
        settings: KeySettings,
        max_token_lifetime_secs: i32,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let master = MasterKey::load(&settings.master_key)?;
        let keys = Self {
            settings,
            master,
            max_token_lifetime: Duration::seconds(max_token_lifetime_secs.into()),
            ring: RwLock::new(Arc::new(KeyRing {
                keys: Vec::new(),
                max_token_lifetime: Duration::zero(),
            })),
        };
        keys.refresh(conn)?;
        db::with_job_lock(conn, KEYS_JOB, now, |conn| {
            let in_use = keys.algorithms_in_use(conn)?;
            keys.start_missing(conn, &in_use, now)
        })?;
        keys.refresh(conn)?;
        Ok(keys)
    }

    /// For each algorithm that has a key, at `now`: the age of its newest key, and the time
    /// until the scheduled rotation makes the next one (negative when it is overdue, until
    /// the key maintenance runs). From the keys this instance has loaded; no database read.
    pub fn rotation_schedule(
        &self,
        now: DateTime<Utc>,
    ) -> Vec<(SigningAlgorithm, Duration, Duration)> {
        let ring = self.ring();
        SigningAlgorithm::ALL
            .into_iter()
            .filter_map(|algorithm| {
                let newest = ring
                    .keys
                    .iter()
                    .rev()
                    .find(|key| key.algorithm == algorithm)?;
                let age = now - newest.created_at;
                Some((algorithm, age, self.settings.rotation_period - age))
            })
            .collect()
    }

    /// What an API signs with when it has chosen nothing: the configured
    /// `CLAVIS_TOKEN_SIGNING_ALG`. New APIs store it; APIs registered before APIs had their
    /// own algorithm (`None`) follow it.
    pub fn algorithm_for(&self, chosen: Option<SigningAlgorithm>) -> SigningAlgorithm {
        chosen.unwrap_or(self.settings.algorithm)
    }

    /// Makes sure `algorithm` has a key before an API starts using it, so no token request
    /// waits for key generation: generates the first one (signing at once) if there is none,
    /// then reloads.
    pub fn prepare(
        &self,
        conn: &mut DbConn,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<()> {
        db::with_job_lock(conn, KEYS_JOB, now, |conn| {
            self.start_missing(conn, &[algorithm], now)
        })?;
        self.refresh(conn)
    }

    /// The keys as last loaded.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .map(|ring| Arc::clone(&ring))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// Reloads the keys from the database (other instances may have rotated).
    pub fn refresh(&self, conn: &mut DbConn) -> Result<()> {
        let rows = signing_keys::table
            .order(signing_keys::activates_at)
            .select(KeyRow::as_select())
            .load(conn)?;
        let mut loaded = rows
            .into_iter()
            .map(|row| self.unseal(row))
            .collect::<Result<Vec<_>, KeyError>>()?;
        // Grouped here, not by the database, whose collation would order the groups
        // differently on PostgreSQL and SQLite. The sort is stable: activation order stays.
        loaded.sort_by_key(|key| key.algorithm);
        let ring = Arc::new(KeyRing {
            keys: loaded,
            max_token_lifetime: self.max_token_lifetime,
        });
        match self.ring.write() {
            Ok(mut current) => *current = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(())
    }

    /// Starts a rotation of `only` that algorithm, or of every algorithm in use: a new key
    /// each, published now and signing after the publish lead (at once for an algorithm that
    /// had no key). Returns the new keys' ids.
    pub fn rotate(
        &self,
        conn: &mut DbConn,
        only: Option<SigningAlgorithm>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let kids = db::with_job_lock(conn, KEYS_JOB, now, |conn| {
            let algorithms = match only {
                Some(algorithm) => vec![algorithm],
                None => self.algorithms_in_use(conn)?,
            };
            algorithms
                .into_iter()
                .map(|algorithm| self.insert_successor(conn, algorithm, now))
                .collect::<Result<Vec<_>>>()
        })?;
        self.refresh(conn)?;
        Ok(kids)
    }

    /// The scheduled work: give each algorithm in use a key if it has none, rotate each whose
    /// newest key is due, and drop keys no token needs.
    pub fn maintain(&self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<()> {
        db::with_job_lock(conn, KEYS_JOB, now, |conn| {
            let in_use = self.algorithms_in_use(conn)?;
            for &algorithm in &in_use {
                let due = newest_created(conn, algorithm)?
                    .is_none_or(|created| created + self.settings.rotation_period <= now);
                if due {
                    let kid = self.insert_successor(conn, algorithm, now)?;
                    tracing::info!(%kid, %algorithm, "scheduled signing key rotation started");
                }
            }
            self.prune(conn, &in_use, now)
        })?;
        self.refresh(conn)
    }

    /// The configured default and every algorithm an API has chosen, in a fixed order.
    fn algorithms_in_use(&self, conn: &mut DbConn) -> Result<Vec<SigningAlgorithm>> {
        let chosen: Vec<Option<String>> = apis::table
            .select(apis::signing_alg)
            .distinct()
            .load(conn)?;
        Ok(SigningAlgorithm::ALL
            .into_iter()
            .filter(|algorithm| {
                *algorithm == self.settings.algorithm
                    || chosen.iter().flatten().any(|c| c == algorithm.as_str())
            })
            .collect())
    }

    /// Gives each of `algorithms` that has no key one that signs at once.
    fn start_missing(
        &self,
        conn: &mut DbConn,
        algorithms: &[SigningAlgorithm],
        now: DateTime<Utc>,
    ) -> Result<()> {
        for &algorithm in algorithms {
            if newest_created(conn, algorithm)?.is_none() {
                let kid = self.insert_key(conn, algorithm, now, now)?;
                tracing::info!(%kid, %algorithm, "first signing key of this algorithm, signing at once");
            }
        }
        Ok(())
    }

    /// A new key of `algorithm`: signing after the publish lead, or at once when it is the
    /// first (see the module docs).
    fn insert_successor(
        &self,
        conn: &mut DbConn,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let activates_at = match newest_created(conn, algorithm)? {
            Some(_) => now + self.settings.publish_lead,
            None => now,
        };
        self.insert_key(conn, algorithm, now, activates_at)
    }

    /// Deletes retired keys whose tokens have all expired. In a ring still in use that is
    /// once a successor has signed for a token lifetime (plus grace). The newest key of an
    /// algorithm no API uses any more signed at most until it would have been rotated, so it
    /// goes a token lifetime (plus grace) after that.
    fn prune(
        &self,
        conn: &mut DbConn,
        in_use: &[SigningAlgorithm],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut rows: Vec<(String, String, NaiveDateTime, NaiveDateTime)> = signing_keys::table
            .order(signing_keys::activates_at)
            .select((
                signing_keys::kid,
                signing_keys::algorithm,
                signing_keys::created_at,
                signing_keys::activates_at,
            ))
            .load(conn)?;
        rows.sort_by(|a, b| a.1.cmp(&b.1));
        let needed_for = self.max_token_lifetime + RETIRED_KEY_GRACE;
        for (index, (kid, algorithm, created_at, _)) in rows.iter().enumerate() {
            let successor = rows.get(index + 1).filter(|next| &next.1 == algorithm);
            let last_signed = match successor {
                Some((_, _, _, successor_activates)) => db::utc(*successor_activates),
                None if in_use.iter().any(|a| a.as_str() == algorithm) => continue,
                None => {
                    db::utc(*created_at)
                        + self.settings.rotation_period
                        + self.settings.publish_lead
                }
            };
            if last_signed + needed_for <= now {
                diesel::delete(signing_keys::table.find(kid)).execute(conn)?;
                tracing::info!(%kid, %algorithm, "removed a retired signing key no token needs any more");
            }
        }
        Ok(())
    }

    fn insert_key(
        &self,
        conn: &mut DbConn,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
        activates_at: DateTime<Utc>,
    ) -> Result<String> {
        let der = algorithm::generate(algorithm)?;
        let kid = db::new_id();
        let signer = Signer::from_pkcs8(algorithm, &der)?;
        let row = KeyRow {
            sealed_private_key: self.master.seal(&der, &kid)?,
            public_jwk: signer.public_jwk(&kid).to_string(),
            algorithm: algorithm.as_str().to_owned(),
            created_at: now.naive_utc(),
            activates_at: activates_at.naive_utc(),
            kid,
        };
        diesel::insert_into(signing_keys::table)
            .values(&row)
            .execute(conn)?;
        Ok(row.kid)
    }

    fn unseal(&self, row: KeyRow) -> Result<LoadedKey, KeyError> {
        let der = self
            .master
            .open(&row.sealed_private_key, &row.kid)
            .ok_or_else(|| self.unopenable(&row.kid))?;
        let algorithm: SigningAlgorithm =
            row.algorithm.parse().map_err(KeyError::UnknownAlgorithm)?;
        let signer = Signer::from_pkcs8(algorithm, &der)?;
        let jwk: Value = serde_json::from_str(&row.public_jwk).map_err(stored_jwk)?;
        let decoding = jsonwebtoken::DecodingKey::from_jwk(
            &serde_json::from_value(jwk.clone()).map_err(stored_jwk)?,
        )
        .map_err(stored_jwk)?;
        let header = json!({ "alg": algorithm.as_str(), "typ": "at+jwt", "kid": row.kid });
        Ok(LoadedKey {
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            kid: row.kid,
            algorithm,
            created_at: db::utc(row.created_at),
            activates_at: db::utc(row.activates_at),
            signer,
            jwk,
            decoding,
        })
    }

    fn unopenable(&self, kid: &str) -> KeyError {
        let master = match &self.settings.master_key {
            MasterKeySource::Inline(_) => "the master key in CLAVIS_MASTER_KEY".to_owned(),
            MasterKeySource::File(path) => format!("the master key file {}", path.display()),
        };
        let hint = if self.master.newly_created {
            " That file did not exist and was just created: restore the original (or set CLAVIS_MASTER_KEY) and delete the new one."
        } else {
            " Use the master key this database's keys were sealed with."
        };
        KeyError::Unopenable {
            kid: kid.to_owned(),
            master,
            hint,
        }
    }
}

/// A stored public key that does not parse as a JWK.
fn stored_jwk(error: impl std::fmt::Display) -> KeyError {
    KeyError::StoredJwk(error.to_string())
}

/// `GET /.well-known/jwks.json`: the public keys that verify Clavis's access tokens.
/// Cached for at most half the publish lead, so a new key is fetched before it signs.
pub async fn jwks(keys: web::Data<Keys>) -> HttpResponse {
    let max_age = (keys.settings.publish_lead.num_seconds() / 2).clamp(0, 300);
    HttpResponse::Ok()
        .insert_header(("Cache-Control", format!("public, max-age={max_age}")))
        .json(keys.ring().jwks(Utc::now()))
}

/// When the newest key of `algorithm` was created; `None` when it has none.
fn newest_created(conn: &mut DbConn, algorithm: SigningAlgorithm) -> Result<Option<DateTime<Utc>>> {
    let newest: Option<NaiveDateTime> = signing_keys::table
        .filter(signing_keys::algorithm.eq(algorithm.as_str()))
        .select(diesel::dsl::max(signing_keys::created_at))
        .first(conn)?;
    Ok(newest.map(db::utc))
}
