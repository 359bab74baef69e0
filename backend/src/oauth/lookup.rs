//! Reads the stored credentials the token endpoint checks, for many requests at once.
//!
//! Every request must see its secret as stored after it arrived, so that a deletion, an
//! expiry or a disabled application applies to the very next request. A query per request,
//! each handed to a blocking thread and back, spends more on thread hops and round trips than
//! on the work. Here requests queue for a few dedicated threads, each with its own
//! connection: a thread takes every request already waiting and answers them all with one
//! query. Each query starts after all of its requests arrived, so batching keeps that rule;
//! an idle endpoint answers a lone request at once, without waiting to fill a batch.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

use crate::client_keys::{self, KeyedClient};
use crate::db::{DbConn, DbTarget};
use crate::devices::{self, StoredDeviceSecret};
use crate::error::Error;
use crate::federation::{self, FederatedClient};
use crate::secrets::{self, StoredCredential};
use crate::telemetry;

/// The most requests one query answers; more wait for the next.
const MAX_BATCH: usize = 256;
/// Threads (and connections) reading credentials: one can query while another gathers.
const READERS: usize = 2;

type Answer<T> = Result<Option<T>, Error>;

/// One request's question, with where its answer goes.
enum Request {
    /// A client secret, by its id, if it belongs to `client_id`.
    Secret {
        client_id: String,
        secret_id: String,
        reply: oneshot::Sender<Answer<StoredCredential>>,
    },
    /// The keys of `client_id`, for `private_key_jwt`.
    Keys {
        client_id: String,
        reply: oneshot::Sender<Answer<KeyedClient>>,
    },
    /// The federated credentials of `client_id`.
    Federated {
        client_id: String,
        reply: oneshot::Sender<Answer<FederatedClient>>,
    },
    /// A device secret, by its id, if it belongs to the device `device_id`.
    DeviceSecret {
        device_id: String,
        secret_id: String,
        reply: oneshot::Sender<Answer<StoredDeviceSecret>>,
    },
}

/// Hands credential reads to the reader threads, which stop when this is dropped.
pub struct CredentialLookup {
    queue: Sender<Request>,
}

impl CredentialLookup {
    /// Starts the readers; they connect to `target` when the first request comes.
    pub fn start(target: &DbTarget) -> Self {
        let (queue, requests) = mpsc::channel();
        let requests = Arc::new(Mutex::new(requests));
        for reader in 0..READERS {
            let (requests, target) = (Arc::clone(&requests), target.clone());
            std::thread::Builder::new()
                .name(format!("credential-reader-{reader}"))
                .spawn(move || read_batches(&target, &requests))
                .expect("the operating system can start a thread");
        }
        Self { queue }
    }

    /// The secret `secret_id` if it exists and belongs to the application `client_id`.
    pub async fn find(&self, client_id: &str, secret_id: String) -> Answer<StoredCredential> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::Secret {
            client_id: client_id.to_owned(),
            secret_id,
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// The application `client_id` with its public keys, if it has any.
    pub async fn keys_of(&self, client_id: &str) -> Answer<KeyedClient> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::Keys {
            client_id: client_id.to_owned(),
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// The application `client_id` with its federated credentials, if it has any.
    pub async fn federated_of(&self, client_id: &str) -> Answer<FederatedClient> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::Federated {
            client_id: client_id.to_owned(),
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// The device secret `secret_id` if it exists and belongs to the device `device_id`.
    pub async fn device_secret(
        &self,
        device_id: String,
        secret_id: String,
    ) -> Answer<StoredDeviceSecret> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::DeviceSecret {
            device_id,
            secret_id,
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    fn ask(&self, request: Request) -> Result<(), Error> {
        self.queue.send(request).map_err(|_| stopped())
    }
}

fn stopped() -> Error {
    Error::Unavailable("the credential readers have stopped".to_owned())
}

/// A reader thread: answers batches until the lookup is dropped.
fn read_batches(target: &DbTarget, requests: &Mutex<Receiver<Request>>) {
    let mut conn = None;
    while let Some(batch) = next_batch(requests) {
        metrics::histogram!(telemetry::CREDENTIAL_BATCH_SIZE).record(batch.len() as f64);
        let ids = batch_ids(&batch);
        let secrets = (!ids.secrets.is_empty()).then(|| {
            read(&mut conn, target, |conn| {
                secrets::credentials(conn, &ids.secrets)
            })
        });
        let keys = (!ids.keyed.is_empty()).then(|| {
            read(&mut conn, target, |conn| {
                client_keys::keyed_clients(conn, &ids.keyed)
            })
        });
        let federated = (!ids.federated.is_empty()).then(|| {
            read(&mut conn, target, |conn| {
                federation::federated_clients(conn, &ids.federated)
            })
        });
        let device_secrets = (!ids.device_secrets.is_empty()).then(|| {
            read(&mut conn, target, |conn| {
                devices::credentials(conn, &ids.device_secrets)
            })
        });
        answer(batch, secrets, keys, federated, device_secrets);
    }
}

/// Waits for a request, then takes every other one already queued (up to [`MAX_BATCH`]).
fn next_batch(requests: &Mutex<Receiver<Request>>) -> Option<Vec<Request>> {
    let requests = requests.lock().unwrap_or_else(PoisonError::into_inner);
    let first = requests.recv().ok()?;
    let mut batch = Vec::with_capacity(16);
    batch.push(first);
    batch.extend(requests.try_iter().take(MAX_BATCH - 1));
    Some(batch)
}

/// What one batch asks about, each list distinct: a few busy clients send most requests.
#[derive(Default)]
struct BatchIds<'a> {
    secrets: Vec<&'a str>,
    /// Clients whose keys are asked for.
    keyed: Vec<&'a str>,
    /// Clients whose federated credentials are asked for.
    federated: Vec<&'a str>,
    device_secrets: Vec<&'a str>,
}

fn batch_ids(batch: &[Request]) -> BatchIds<'_> {
    let mut ids = BatchIds::default();
    for request in batch {
        match request {
            Request::Secret { secret_id, .. } => ids.secrets.push(secret_id.as_str()),
            Request::Keys { client_id, .. } => ids.keyed.push(client_id.as_str()),
            Request::Federated { client_id, .. } => ids.federated.push(client_id.as_str()),
            Request::DeviceSecret { secret_id, .. } => {
                ids.device_secrets.push(secret_id.as_str());
            }
        }
    }
    for list in [
        &mut ids.secrets,
        &mut ids.keyed,
        &mut ids.federated,
        &mut ids.device_secrets,
    ] {
        list.sort_unstable();
        list.dedup();
    }
    ids
}

/// One query for the batch on this reader's connection. A connection the server dropped
/// (a restart, say) is replaced and the read tried once more: it is only a read, and the
/// requests waiting on it need not fail.
fn read<T>(
    conn: &mut Option<DbConn>,
    target: &DbTarget,
    query: impl Fn(&mut DbConn) -> Result<T, Error>,
) -> Result<T, Error> {
    match read_once(conn, target, &query) {
        Err(error) if error.is_lost_connection() => read_once(conn, target, &query),
        found => found,
    }
}

/// One query; forgets the connection when the server dropped it, so the next opens anew.
fn read_once<T>(
    conn: &mut Option<DbConn>,
    target: &DbTarget,
    query: impl Fn(&mut DbConn) -> Result<T, Error>,
) -> Result<T, Error> {
    let connection = match conn {
        Some(connection) => connection,
        None => conn.insert(target.connect().map_err(|error| {
            Error::Unavailable(format!("cannot connect to the {target}: {error}"))
        })?),
    };
    let found = query(connection);
    if found.as_ref().is_err_and(Error::is_lost_connection) {
        *conn = None;
    }
    found
}

type Found<T> = Option<Result<HashMap<String, T>, Error>>;

/// Gives each request its own credential, or the failure of its read, which every request
/// of that read shares.
fn answer(
    batch: Vec<Request>,
    secrets: Found<StoredCredential>,
    keys: Found<KeyedClient>,
    federated: Found<FederatedClient>,
    device_secrets: Found<StoredDeviceSecret>,
) {
    for found in [
        secrets.as_ref().map(|found| found.as_ref().err()),
        keys.as_ref().map(|found| found.as_ref().err()),
        federated.as_ref().map(|found| found.as_ref().err()),
        device_secrets.as_ref().map(|found| found.as_ref().err()),
    ]
    .into_iter()
    .flatten()
    .flatten()
    {
        tracing::error!(error = %found, requests = batch.len(), "cannot read client credentials");
    }
    // The requester may have gone (its connection closed): nothing to tell.
    for request in batch {
        match request {
            Request::Secret {
                client_id,
                secret_id,
                reply,
            } => {
                let _ = reply.send(own(&secrets, &secret_id, |stored: &StoredCredential| {
                    stored.application.client_id == client_id
                }));
            }
            Request::Keys { client_id, reply } => {
                let _ = reply.send(own(&keys, &client_id, |_: &KeyedClient| true));
            }
            Request::Federated { client_id, reply } => {
                let _ = reply.send(own(&federated, &client_id, |_: &FederatedClient| true));
            }
            Request::DeviceSecret {
                device_id,
                secret_id,
                reply,
            } => {
                let belongs = |stored: &StoredDeviceSecret| stored.device_id == device_id;
                let _ = reply.send(own(&device_secrets, &secret_id, belongs));
            }
        }
    }
}

/// The entry `id` of a read, if it passes `belongs`; a failed read is `Unavailable`.
fn own<T: Clone>(found: &Found<T>, id: &str, belongs: impl Fn(&T) -> bool) -> Answer<T> {
    match found {
        Some(Ok(found)) => Ok(found.get(id).filter(|entry| belongs(entry)).cloned()),
        _ => Err(Error::Unavailable(
            "the credentials cannot be read right now".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::ClientApplication;

    fn stored(secret_id: &str, client_id: &str) -> StoredCredential {
        StoredCredential {
            secret_id: secret_id.to_owned(),
            secret_hash: "$argon2id$…".into(),
            expires_at: chrono::Utc::now(),
            application: ClientApplication {
                id: format!("app-{client_id}"),
                client_id: client_id.to_owned(),
                organisation_id: "org".to_owned(),
                environment: "production".to_owned(),
                enabled: true,
                token_lifetime_secs: 3600,
                tokens_revoked_before: None,
                auth_methods: None,
                tls_client_auth_field: None,
                tls_client_auth_value: None,
                require_bound_tokens: false,
                requires_device: false,
            },
            grants: Vec::new(),
        }
    }

    fn request(
        client_id: &str,
        secret_id: &str,
    ) -> (Request, oneshot::Receiver<Answer<StoredCredential>>) {
        let (reply, answer) = oneshot::channel();
        let request = Request::Secret {
            client_id: client_id.to_owned(),
            secret_id: secret_id.to_owned(),
            reply,
        };
        (request, answer)
    }

    fn found_secret(answer: &mut oneshot::Receiver<Answer<StoredCredential>>) -> Option<String> {
        answer.try_recv().unwrap().unwrap().map(|c| c.secret_id)
    }

    #[test]
    fn a_batch_answers_each_request_for_its_own_client() {
        let (own, mut own_answer) = request("client-a", "s1");
        let (again, mut again_answer) = request("client-a", "s1");
        let (foreign, mut foreign_answer) = request("client-b", "s1");
        let (missing, mut missing_answer) = request("client-b", "s2");
        let batch = vec![own, again, foreign, missing];
        assert_eq!(batch_ids(&batch).secrets, vec!["s1", "s2"]);
        let found = HashMap::from([("s1".to_owned(), stored("s1", "client-a"))]);
        answer(batch, Some(Ok(found)), None, None, None);
        assert_eq!(found_secret(&mut own_answer).as_deref(), Some("s1"));
        assert_eq!(found_secret(&mut again_answer).as_deref(), Some("s1"));
        assert_eq!(found_secret(&mut foreign_answer), None);
        assert_eq!(found_secret(&mut missing_answer), None);
    }

    #[test]
    fn a_failed_read_fails_every_request_of_the_batch() {
        let (first, mut first_answer) = request("client-a", "s1");
        let (second, mut second_answer) = request("client-b", "s2");
        answer(
            vec![first, second],
            Some(Err(Error::Internal("connection refused".to_owned()))),
            None,
            None,
            None,
        );
        for answer in [&mut first_answer, &mut second_answer] {
            assert!(matches!(
                answer.try_recv().unwrap(),
                Err(Error::Unavailable(_))
            ));
        }
    }

    #[test]
    fn a_stored_credential_never_prints_its_hash() {
        let shown = format!("{:?}", stored("s1", "client-a"));
        assert!(!shown.contains("$argon2id$"), "{shown}");
    }
}
