//! A real haproxy from Debian in front of the instances: round-robin, health checks every
//! 500 ms on `/healthz` (the process answers; `/readyz` would take both instances out while
//! PostgreSQL restarts, and the suite wants to see how Clavis answers then), and connection
//! failures, and requests a stopping instance closed unanswered, redispatched to the other
//! server. It adds `X-Forwarded-For` and
//! `X-Forwarded-Proto`, which Clavis believes because `CLAVIS_TRUSTED_PROXIES` names it.

use std::process::{Child, Command, Stdio};

pub struct Haproxy {
    pub base: String,
    process: Child,
    _dir: tempfile::TempDir,
}

/// How long haproxy waits for an instance's answer: longer than Clavis's own longest wait
/// (a database connection, 10 s), so Clavis, not the balancer, decides when a request fails.
pub const SERVER_TIMEOUT_SECS: u64 = 20;

impl Haproxy {
    /// Starts haproxy in the foreground on loopback `port`, balancing over `servers`
    /// (`(name, port)`).
    pub fn start(port: u16, servers: &[(&str, u16)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, haproxy_config(port, servers)).unwrap();
        let process = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (Debian package haproxy) must be installed for the cluster suite");
        crate::wait_for_port(port);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            process,
            _dir: dir,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn haproxy_config(port: u16, servers: &[(&str, u16)]) -> String {
    let servers: String = servers
        .iter()
        .map(|(name, port)| format!("    server {name} 127.0.0.1:{port} check\n"))
        .collect();
    format!(
        "global
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server {SERVER_TIMEOUT_SECS}s
    retries 3
    # A stopping instance closes its idle keep-alive connections; a request haproxy sent on
    # one at that moment gets no answer. haproxy's documented remedy: retry it elsewhere.
    retry-on conn-failure empty-response
    option redispatch 1
    option forwardfor
frontend clavis
    bind 127.0.0.1:{port}
    http-request set-header X-Forwarded-Proto http
    default_backend instances
backend instances
    balance roundrobin
    option httpchk GET /healthz
    default-server inter 500ms fall 2 rise 1
{servers}"
    )
}
