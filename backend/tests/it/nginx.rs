//! A real nginx from Debian in front of Clavis, for the tests and the benchmark (which
//! includes this file): run in the foreground from a config written to a directory of its own.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};

/// A real nginx from Debian in front of Clavis, in the foreground, from a config written to
/// a directory of its own; stopped when dropped.
pub struct Nginx {
    pub base: String,
    process: Child,
    _dir: tempfile::TempDir,
}

/// The server certificate of an nginx that terminates mutual TLS itself: it asks clients for
/// a certificate and passes it on as `Client-Cert` (RFC 9440), with the repository's
/// `deploy/nginx/client_cert.js`.
#[allow(dead_code)] // The benchmark, which includes this file, has no mutual TLS.
pub struct MutualTls<'a> {
    pub cert_file: &'a Path,
    pub key_file: &'a Path,
}

impl Nginx {
    /// Starts nginx on a free loopback port, forwarding everything to `upstream`
    /// (`http://host:port`).
    pub fn start(upstream: &str) -> Self {
        Self::start_with(upstream, None)
    }

    /// As [`Self::start`], on HTTPS with client certificates ([`MutualTls`]).
    #[allow(dead_code)] // As MutualTls.
    pub fn start_mutual_tls(upstream: &str, tls: &MutualTls<'_>) -> Self {
        Self::start_with(upstream, Some(tls))
    }

    fn start_with(upstream: &str, tls: Option<&MutualTls<'_>>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("nginx.conf");
        std::fs::write(&config, nginx_config(dir.path(), port, upstream, tls)).unwrap();
        let process = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&config)
            .args(["-g", "daemon off;"])
            .spawn()
            .expect("nginx (Debian package nginx) must be installed for these tests");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let nginx = Self {
            base: format!("{scheme}://127.0.0.1:{port}"),
            process,
            _dir: dir,
        };
        nginx.wait_until_listening(port);
        nginx
    }

    fn wait_until_listening(&self, port: u16) {
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("nginx did not start listening on {port}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too (SIGKILL would orphan them).
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a typical TLS-terminating nginx sends on: the client appended to
/// `X-Forwarded-For`, and the scheme it used; with [`MutualTls`], the client's certificate.
fn nginx_config(dir: &Path, port: u16, upstream: &str, tls: Option<&MutualTls<'_>>) -> String {
    let upstream = upstream.trim_start_matches("http://");
    let dir = dir.display();
    let (module, http, server, location) = match tls {
        None => Default::default(),
        Some(tls) => (
            "load_module /usr/lib/nginx/modules/ngx_http_js_module.so;",
            format!(
                "js_import client_cert from {}/../deploy/nginx/client_cert.js;
    js_set $client_cert_rfc9440 client_cert.header;",
                env!("CARGO_MANIFEST_DIR")
            ),
            format!(
                "ssl_certificate {};
        ssl_certificate_key {};
        ssl_verify_client optional_no_ca;",
                tls.cert_file.display(),
                tls.key_file.display()
            ),
            "proxy_set_header Client-Cert $client_cert_rfc9440;",
        ),
    };
    let listen = if tls.is_some() { " ssl" } else { "" };
    format!(
        "{module}
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream clavis {{ server {upstream}; keepalive 16; }}
    {http}
    server {{
        listen 127.0.0.1:{port}{listen};
        {server}
        location / {{
            {location}
            proxy_pass http://clavis;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"
    )
}
