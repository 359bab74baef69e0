//! Signing keys: generated on first start, sealed at rest under the master key, rotated
//! without downtime, and published as a JWKS.
//!
//! A key is published as soon as it is created but signs only from `activates_at`
//! (creation + publish lead), so resource servers have fetched it before they meet it. It
//! signs until its successor activates, and stays published until every token it signed has
//! expired. All instances read the same rows, so they agree on which key signs when.

mod algorithm;
mod master;

pub use algorithm::{Signer, SigningAlgorithm};
pub use master::{MasterKey, MasterKeySource};

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};

use crate::config::KeySettings;
use crate::db::{self, DbConn, schema::signing_keys};
use crate::error::{Error, Result};

const KEYS_JOB: &str = "signing_keys";
/// Kept a little beyond the last token's expiry, for clock skew at resource servers.
const RETIRED_KEY_GRACE: Duration = Duration::minutes(5);

/// A key ready to sign and verify.
pub struct LoadedKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub activates_at: DateTime<Utc>,
    signer: Signer,
    /// base64url of the JWS header, the same for every token this key signs.
    header_b64: String,
    pub jwk: Value,
    pub decoding: jsonwebtoken::DecodingKey,
}

/// Every stored key, oldest activation first.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
    max_token_lifetime: Duration,
}

impl KeyRing {
    /// The key that signs at `now`: the newest one already active.
    pub fn signing_key(&self, now: DateTime<Utc>) -> Option<&LoadedKey> {
        self.keys.iter().rev().find(|key| key.activates_at <= now)
    }

    /// Keys resource servers should trust at `now`: pending, current, and retired ones whose
    /// tokens may still be alive.
    pub fn published(&self, now: DateTime<Utc>) -> impl Iterator<Item = &LoadedKey> {
        self.keys
            .iter()
            .enumerate()
            .filter_map(move |(index, key)| {
                let successor = self.keys.get(index + 1);
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

    /// Signs `claims` as a JWT (`typ: at+jwt`) with the current key.
    pub fn sign<C: Serialize>(&self, claims: &C, now: DateTime<Utc>) -> Result<String> {
        let key = self
            .signing_key(now)
            .ok_or_else(|| Error::Internal("no signing key is active".to_owned()))?;
        let payload =
            serde_json::to_vec(claims).map_err(|e| Error::Internal(format!("claims: {e}")))?;
        let mut jwt = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 120);
        jwt.push_str(&key.header_b64);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jwt);
        let signature = key.signer.sign(jwt.as_bytes()).map_err(Error::Internal)?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jwt);
        Ok(jwt)
    }

    /// Each key and what it does at `now`, newest first (for `clavis keys list`).
    pub fn describe(&self, now: DateTime<Utc>) -> Vec<KeyInfo> {
        let signing = self.signing_key(now).map(|key| key.kid.as_str());
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
                } else if signing == Some(key.kid.as_str()) {
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

    /// Loads the master key and every signing key, generating the first key if there is none.
    /// Fails with a clear message when the master key is missing or wrong.
    pub fn open(
        conn: &mut DbConn,
        settings: KeySettings,
        max_token_lifetime_secs: i32,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let master = MasterKey::load(&settings.master_key).map_err(Error::Internal)?;
        let keys = Self {
            settings,
            master,
            max_token_lifetime: Duration::seconds(max_token_lifetime_secs.into()),
            ring: RwLock::new(Arc::new(KeyRing {
                keys: Vec::new(),
                max_token_lifetime: Duration::zero(),
            })),
        };
        db::with_job_lock(conn, KEYS_JOB, now, |conn| {
            let existing: i64 = signing_keys::table.count().get_result(conn)?;
            if existing == 0 {
                keys.insert_key(conn, now, now)?;
            }
            Ok(())
        })?;
        keys.refresh(conn)?;
        Ok(keys)
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
        let loaded = rows
            .into_iter()
            .map(|row| self.unseal(row))
            .collect::<Result<Vec<_>>>()?;
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

    /// Starts a rotation: a new key, published now, signing after the publish lead.
    pub fn rotate(&self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<String> {
        let kid = db::with_job_lock(conn, KEYS_JOB, now, |conn| {
            self.insert_key(conn, now, now + self.settings.publish_lead)
        })?;
        self.refresh(conn)?;
        Ok(kid)
    }

    /// The scheduled work: rotate when the newest key is due, drop keys no token needs.
    pub fn maintain(&self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<()> {
        db::with_job_lock(conn, KEYS_JOB, now, |conn| {
            let newest: Option<NaiveDateTime> = signing_keys::table
                .select(diesel::dsl::max(signing_keys::created_at))
                .first(conn)?;
            if newest.is_none_or(|created| db::utc(created) + self.settings.rotation_period <= now)
            {
                let kid = self.insert_key(conn, now, now + self.settings.publish_lead)?;
                tracing::info!(%kid, "scheduled signing key rotation started");
            }
            self.prune(conn, now)
        })?;
        self.refresh(conn)
    }

    fn prune(&self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<()> {
        let activations: Vec<(String, NaiveDateTime)> = signing_keys::table
            .order(signing_keys::activates_at)
            .select((signing_keys::kid, signing_keys::activates_at))
            .load(conn)?;
        for pair in activations.windows(2) {
            let (kid, _) = &pair[0];
            let successor_activated = db::utc(pair[1].1);
            if successor_activated + self.max_token_lifetime + RETIRED_KEY_GRACE <= now {
                diesel::delete(signing_keys::table.find(kid)).execute(conn)?;
                tracing::info!(%kid, "removed a retired signing key no token needs any more");
            }
        }
        Ok(())
    }

    fn insert_key(
        &self,
        conn: &mut DbConn,
        now: DateTime<Utc>,
        activates_at: DateTime<Utc>,
    ) -> Result<String> {
        let algorithm = self.settings.algorithm;
        let der = algorithm.generate().map_err(Error::Internal)?;
        let kid = db::new_id();
        let signer = Signer::from_pkcs8(algorithm, &der).map_err(Error::Internal)?;
        let row = KeyRow {
            sealed_private_key: self.master.seal(&der, &kid).map_err(Error::Internal)?,
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

    fn unseal(&self, row: KeyRow) -> Result<LoadedKey> {
        let der = self
            .master
            .open(&row.sealed_private_key, &row.kid)
            .ok_or_else(|| self.unopenable(&row.kid))?;
        let algorithm: SigningAlgorithm = row.algorithm.parse().map_err(Error::Internal)?;
        let signer = Signer::from_pkcs8(algorithm, &der).map_err(Error::Internal)?;
        let jwk: Value = serde_json::from_str(&row.public_jwk)
            .map_err(|e| Error::Internal(format!("stored JWK: {e}")))?;
        let decoding = jsonwebtoken::DecodingKey::from_jwk(
            &serde_json::from_value(jwk.clone())
                .map_err(|e| Error::Internal(format!("stored JWK: {e}")))?,
        )
        .map_err(|e| Error::Internal(format!("stored JWK: {e}")))?;
        let header = json!({ "alg": algorithm.as_str(), "typ": "at+jwt", "kid": row.kid });
        Ok(LoadedKey {
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            kid: row.kid,
            algorithm,
            activates_at: db::utc(row.activates_at),
            signer,
            jwk,
            decoding,
        })
    }

    fn unopenable(&self, kid: &str) -> Error {
        let source = match &self.settings.master_key {
            MasterKeySource::Inline(_) => "the master key in CLAVIS_MASTER_KEY".to_owned(),
            MasterKeySource::File(path) => format!("the master key file {}", path.display()),
        };
        let hint = if self.master.newly_created {
            " That file did not exist and was just created: restore the original (or set CLAVIS_MASTER_KEY) and delete the new one."
        } else {
            " Use the master key this database's keys were sealed with."
        };
        Error::Internal(format!(
            "the signing key {kid} cannot be opened with {source}.{hint}"
        ))
    }
}

/// `GET /.well-known/jwks.json`: the public keys that verify Clavis's access tokens.
/// Cached for at most half the publish lead, so a new key is fetched before it signs.
pub async fn jwks(keys: web::Data<Keys>) -> HttpResponse {
    let max_age = (keys.settings.publish_lead.num_seconds() / 2).clamp(0, 300);
    HttpResponse::Ok()
        .insert_header(("Cache-Control", format!("public, max-age={max_age}")))
        .json(keys.ring().jwks(Utc::now()))
}
