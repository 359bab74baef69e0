//! When each secret, key and federated credential was last used, gathered in memory and written in batches, so
//! the token endpoint does no database write per request.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

use super::authentication::Credential;
use crate::db::{Database, DbConn};
use crate::error::Result;
use crate::{client_keys, devices, federation, secrets};

#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<Credential, DateTime<Utc>>>,
}

impl LastUsed {
    pub fn record(&self, credential: &Credential, at: DateTime<Utc>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let latest = pending.entry(credential.clone()).or_insert(at);
        *latest = (*latest).max(at);
    }

    /// Writes what was gathered; on failure it is kept for the next flush.
    pub async fn flush(&self, db: &Database) -> Result<()> {
        let batch: Vec<(Credential, DateTime<Utc>)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        let written = batch.clone();
        if let Err(error) = db.run(move |conn| write(conn, &written)).await {
            for (credential, at) in batch {
                self.record(&credential, at);
            }
            return Err(error);
        }
        Ok(())
    }
}

/// The secrets' times, then the keys', the devices' secrets', the federated credentials'.
fn write(conn: &mut DbConn, used: &[(Credential, DateTime<Utc>)]) -> Result<()> {
    let (mut secrets_used, mut keys_used, mut federated_used) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut device_secrets_used, mut device_certificates_used) = (Vec::new(), Vec::new());
    for (credential, at) in used {
        match credential {
            Credential::Secret { id } => secrets_used.push((id.clone(), *at)),
            Credential::Key { id, .. } => keys_used.push((id.clone(), *at)),
            Credential::Federated { id, .. } => federated_used.push((id.clone(), *at)),
            Credential::DeviceSecret { id } => device_secrets_used.push((id.clone(), *at)),
            Credential::DeviceCertificate { id } => {
                device_certificates_used.push((id.clone(), *at));
            }
            // A key set's keys, and a CA's certificates, have no row of their own to note
            // the time in.
            Credential::JwksUri { .. } | Credential::CaIssuedCertificate { .. } => {}
        }
    }
    secrets::record_last_used(conn, &secrets_used)?;
    client_keys::record_last_used(conn, &keys_used)?;
    devices::record_last_used(conn, &device_secrets_used)?;
    devices::certificates::record_last_used(conn, &device_certificates_used)?;
    federation::record_last_used(conn, &federated_used)
}
