//! A real SMTP server on loopback that keeps what it receives for the test to read back. It
//! speaks enough ESMTP for lettre (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT), can
//! refuse chosen recipients with a permanent 550, can be stopped and started again on
//! the same port to play a mail server that goes down and comes back, and can hold senders
//! at `RCPT` (to catch a sender in the middle of a send, as the cluster suite does).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw message (headers and body), dot-stuffing undone.
    pub data: String,
    /// The user name it authenticated as, if it did.
    pub user: Option<String>,
}

impl Mail {
    /// A header's value (the first one of that name).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_lowercase());
        self.data
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }

    /// The message with quoted-printable undone, to search the text and HTML parts.
    pub fn decoded(&self) -> String {
        decode_quoted_printable(&self.data)
    }

    pub fn recipient(&self) -> &str {
        self.to.first().map(String::as_str).unwrap_or_default()
    }
}

#[derive(Default)]
struct Shared {
    inbox: Mutex<Vec<Mail>>,
    refused: Mutex<Vec<String>>,
    /// While set, every `RCPT` waits before it is answered.
    holding: AtomicBool,
    /// The `MAIL FROM` of each session waiting at `RCPT`.
    held: Mutex<Vec<String>>,
}

pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    pub fn start() -> Self {
        Self::listen(TcpListener::bind("127.0.0.1:0").unwrap(), Arc::default())
    }

    /// A port that is free now and that nothing listens on: a mail server that is down.
    pub fn unused_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Listens on `port`: a server coming back where it was.
    pub fn start_on(port: u16) -> Self {
        Self::listen(
            TcpListener::bind(("127.0.0.1", port)).unwrap(),
            Arc::default(),
        )
    }

    fn listen(listener: TcpListener, shared: Arc<Shared>) -> Self {
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || accept(listener, shared, stop))
        };
        Self {
            port,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Refuses mail to `address` with a permanent error from now on.
    pub fn refuse(&self, address: &str) {
        self.shared.refused.lock().unwrap().push(address.to_owned());
    }

    /// Makes every sender wait at `RCPT` until [`SmtpSink::release`]: a send caught in the
    /// middle, before the message is accepted.
    #[allow(dead_code)] // the cluster suite's (tests/cluster); not the it tests'
    pub fn hold(&self) {
        self.shared.holding.store(true, Ordering::SeqCst);
    }

    /// Lets the held senders go on.
    #[allow(dead_code)] // the cluster suite's (tests/cluster); not the it tests'
    pub fn release(&self) {
        self.shared.holding.store(false, Ordering::SeqCst);
    }

    /// The senders (`MAIL FROM`) waiting at `RCPT` now.
    #[allow(dead_code)] // the cluster suite's (tests/cluster); not the it tests'
    pub fn held(&self) -> Vec<String> {
        self.shared.held.lock().unwrap().clone()
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared.inbox.lock().unwrap().clone()
    }

    /// Empties the inbox and returns what was in it.
    pub fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.shared.inbox.lock().unwrap())
    }

    /// Stops listening; connections are refused until a server starts on the port again.
    pub fn stop(mut self) -> u16 {
        self.shutdown();
        self.port
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = converse(stream, &shared);
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    }
}

/// One SMTP session.
fn converse(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut reply = |text: &str| out.write_all(format!("{text}\r\n").as_bytes());
    reply("220 sink.test ESMTP ready")?;
    let (mut from, mut to, mut user) = (String::new(), Vec::new(), None);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_uppercase();
        match verb.as_str() {
            "EHLO" => reply("250-sink.test\r\n250-AUTH PLAIN\r\n250 8BITMIME")?,
            "HELO" => reply("250 sink.test")?,
            "AUTH" => {
                user = plain_user(line.split_whitespace().nth(2).unwrap_or_default());
                reply("235 2.7.0 authenticated")?;
            }
            "MAIL" => {
                from = address(line);
                to.clear();
                reply("250 2.1.0 ok")?;
            }
            "RCPT" => {
                let recipient = address(line);
                wait_while_holding(shared, &from);
                if shared.refused.lock().unwrap().contains(&recipient) {
                    reply("550 5.1.1 mailbox unavailable")?;
                } else {
                    to.push(recipient);
                    reply("250 2.1.5 ok")?;
                }
            }
            "DATA" => {
                reply("354 end with <CRLF>.<CRLF>")?;
                let data = read_data(&mut reader)?;
                shared.inbox.lock().unwrap().push(Mail {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                    user: user.clone(),
                });
                reply("250 2.0.0 queued")?;
            }
            "RSET" | "NOOP" => reply("250 2.0.0 ok")?,
            "QUIT" => {
                reply("221 2.0.0 bye")?;
                return Ok(());
            }
            _ => reply("502 5.5.2 command not recognised")?,
        }
    }
}

fn wait_while_holding(shared: &Shared, from: &str) {
    if !shared.holding.load(Ordering::SeqCst) {
        return;
    }
    shared.held.lock().unwrap().push(from.to_owned());
    while shared.holding.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut held = shared.held.lock().unwrap();
    if let Some(at) = held.iter().position(|sender| sender == from) {
        held.remove(at);
    }
}

fn read_data(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut data = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(data);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line == "." {
            return Ok(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(line));
        data.push_str("\r\n");
    }
}

/// The address inside `MAIL FROM:<…>` or `RCPT TO:<…>`.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_lowercase())
        .unwrap_or_default()
}

/// The user of `AUTH PLAIN` (base64 of "\0user\0password").
fn plain_user(encoded: &str) -> Option<String> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split('\0').nth(1).map(str::to_owned)
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
