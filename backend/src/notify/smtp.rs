//! Sending mail over SMTP (lettre), one connection per pass's message: reminders are few, and a
//! fresh connection never trips over one the server closed.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::error::{Error, Result};

/// The SMTP server that expiry reminders go through.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, when the server wants them.
    pub credentials: Option<(String, SecretString)>,
    /// The sender, such as `Clavis <clavis@example.org>`.
    pub from: lettre::message::Mailbox,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP: only for a relay on the same machine or a trusted network.
    None,
    /// Upgrade with STARTTLS, which must succeed (port 587 by default).
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
}

impl SmtpTls {
    /// The port that goes with this protection when none is configured.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::Starttls => 587,
            Self::Tls => 465,
        }
    }
}

/// How long one SMTP conversation may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The configured SMTP server and sender.
#[derive(Clone)]
pub struct Mailer {
    transport: SmtpTransport,
    pub from: Mailbox,
    /// `host:port`, for messages about the server.
    server: String,
}

/// Why a message did not go out.
#[derive(Debug, Clone)]
pub struct SendFailure {
    /// The server refused for good (a 5xx reply); otherwise it may work later.
    pub permanent: bool,
    pub reason: String,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings) -> Result<Self> {
        let host = settings.host.as_str();
        let builder = match settings.tls {
            SmtpTls::None => SmtpTransport::builder_dangerous(host),
            SmtpTls::Starttls => SmtpTransport::starttls_relay(host).map_err(tls_error)?,
            SmtpTls::Tls => SmtpTransport::relay(host).map_err(tls_error)?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(TIMEOUT));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from.clone(),
            server: format!("{host}:{}", settings.port),
        })
    }

    /// Sends one message; blocks for the SMTP conversation.
    pub fn send(&self, message: &Message) -> Result<(), SendFailure> {
        self.transport
            .send(message)
            .map(|_| ())
            .map_err(|error| SendFailure {
                permanent: error.is_permanent(),
                reason: format!("SMTP server {}: {error}", self.server),
            })
    }
}

fn tls_error(error: lettre::transport::smtp::Error) -> Error {
    Error::Internal(format!("cannot set up TLS for the SMTP server: {error}"))
}
