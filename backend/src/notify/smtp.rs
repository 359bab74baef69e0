//! Sending mail over SMTP (lettre), one connection per pass's message: reminders are few, and a
//! fresh connection never trips over one the server closed.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

use crate::config::{SmtpSettings, SmtpTls};
use crate::error::{Error, Result};

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
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
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
