//! Client certificates over Clavis's own TLS (RFC 8705 §2): every handshake asks for one, none
//! is required, and whatever a client presents is kept with its connection for the token
//! endpoint to judge.
//!
//! The handshake only checks that the client holds the certificate's private key (its
//! CertificateVerify signature). Which certificates authenticate which application is the
//! token endpoint's decision, per application: a self-signed certificate registered to it
//! (`self_signed_tls_client_auth`), which no CA list could express. Refusing a certificate in
//! the handshake would also cost the client a clear `invalid_client` answer and the audit
//! trail its reason; an expired certificate is therefore accepted here and refused there.

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::any::Any;
use std::sync::Arc;

/// The certificate chain a client presented in the TLS handshake of its connection, its own
/// certificate first, as actix keeps it in the connection's data
/// (`HttpRequest::conn_data`).
#[derive(Debug, Clone)]
pub struct PresentedChain(pub Arc<[CertificateDer<'static>]>);

/// Asks every client for a certificate, requires none, and accepts any whose private key
/// the client proves it holds (see the module's notes).
#[derive(Debug)]
pub struct OptionalClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl OptionalClientCertificate {
    /// Checks handshake signatures with `algorithms` (the crypto provider's).
    pub fn new(algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self { algorithms }
    }
}

impl ClientCertVerifier for OptionalClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No hints: a self-signed certificate has no CA to name, and clients that filter by
    /// the hints would then offer none.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `HttpServer::on_connect`: keeps the chain a TLS client presented as the connection's
/// [`PresentedChain`]. Plain TCP connections, and TLS clients without a certificate, get none.
pub fn keep_presented_chain(connection: &dyn Any, data: &mut Extensions) {
    let Some(tls) =
        connection.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
    else {
        return;
    };
    if let Some(chain) = tls.get_ref().1.peer_certificates()
        && !chain.is_empty()
    {
        data.insert(PresentedChain(chain.iter().cloned().collect()));
    }
}
