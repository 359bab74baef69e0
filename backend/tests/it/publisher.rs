//! A server of JSON documents on real HTTPS, standing for a partner's `jwks_uri` or a
//! workload platform's OpenID Connect issuer (discovery document and key set). Its
//! certificate comes from a test CA that only Clavis's `outbound_ca_file` trusts; what it
//! serves can change while it runs, and it counts the fetches of each path.

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::client_keys::ClientKey;
use crate::server::loopback_listener;
use crate::tls::TestCa;

/// Documents by path, and how often each was fetched.
#[derive(Default)]
struct Served {
    documents: HashMap<String, Value>,
    fetches: HashMap<String, usize>,
}

pub(crate) struct Publisher {
    /// `https://127.0.0.1:<port>`, without a trailing slash.
    pub(crate) base: String,
    /// The key set's URL: `<base>/jwks.json`.
    pub(crate) url: String,
    served: Arc<Mutex<Served>>,
    pub(crate) handle: ServerHandle,
    /// Holds the CA's certificate as `ca.pem`, for `outbound_ca_file`.
    pub(crate) dir: tempfile::TempDir,
}

impl Publisher {
    pub(crate) fn start(ca: &TestCa) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca.issue(7, 30);
        let settings = clavis::tls::TlsSettings {
            cert_file: dir.path().join("cert.pem"),
            key_file: dir.path().join("key.pem"),
        };
        std::fs::write(&settings.cert_file, cert).unwrap();
        std::fs::write(&settings.key_file, key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
        let tls = clavis::tls::ServedCertificate::load(&settings)
            .unwrap()
            .server_config();
        let served = Arc::new(Mutex::new(Served::default()));
        let shared = Arc::clone(&served);
        let (listener, base) = loopback_listener();
        // A thread and runtime of its own: it answers even while the test blocks (on a
        // `clavis` command, say).
        let (handed, handle) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let shared = Arc::clone(&shared);
                    App::new().default_service(web::to(move |req: HttpRequest| {
                        let mut served = shared.lock().unwrap();
                        *served.fetches.entry(req.path().to_owned()).or_default() += 1;
                        let document = served.documents.get(req.path()).cloned();
                        async move {
                            match document {
                                Some(document) => HttpResponse::Ok()
                                    .content_type("application/json")
                                    .body(document.to_string()),
                                None => HttpResponse::NotFound().finish(),
                            }
                        }
                    }))
                })
                .workers(1)
                .listen_rustls_0_23(listener, tls)
                .unwrap()
                .run();
                handed.send(server.handle()).unwrap();
                server.await
            })
        });
        let handle = handle.recv().unwrap();
        let base = base.replace("http://", "https://");
        let publisher = Self {
            url: format!("{base}/jwks.json"),
            base,
            served,
            handle,
            dir,
        };
        publisher.serve("/jwks.json", json!({ "keys": [] }));
        publisher
    }

    /// Serves `document` at `path` from now on.
    pub(crate) fn serve(&self, path: &str, document: Value) {
        let mut served = self.served.lock().unwrap();
        served.documents.insert(path.to_owned(), document);
    }

    /// Serves these keys at `/jwks.json` from now on, each with its `kid`.
    pub(crate) fn publish(&self, keys: &[(&ClientKey, &str)]) {
        let jwks: Vec<Value> = keys
            .iter()
            .map(|(key, kid)| {
                let mut jwk = clavis::client_keys::public_key::read(&key.pair.public_key_pem())
                    .unwrap()
                    .jwk;
                jwk["kid"] = json!(kid);
                jwk
            })
            .collect();
        self.serve("/jwks.json", json!({ "keys": jwks }));
    }

    /// Fetches of the key set so far.
    pub(crate) fn fetches(&self) -> usize {
        self.fetches_of("/jwks.json")
    }

    pub(crate) fn fetches_of(&self, path: &str) -> usize {
        let served = self.served.lock().unwrap();
        served.fetches.get(path).copied().unwrap_or_default()
    }

    /// The `outbound_ca_file` setting that makes Clavis trust this publisher.
    pub(crate) fn ca_setting(&self) -> String {
        format!(
            "outbound_ca_file = \"{}\"\n",
            self.dir.path().join("ca.pem").display()
        )
    }
}
