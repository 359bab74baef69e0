//! The client certificate of a request, for mutual TLS client authentication (RFC 8705 §2).
//!
//! It comes from one of two places, never both:
//! - from a trusted proxy (`CLAVIS_TRUSTED_PROXIES`), when the operator says those proxies
//!   terminate mutual TLS and replace the header (`CLAVIS_PROXY_CLIENT_CERT`): its
//!   `Client-Cert` header (RFC 9440 §2), a DER certificate as a structured-field byte
//!   sequence (`:base64:`). The proxy's own connection carries no client certificate. The
//!   setting is separate because a certificate is public: a proxy that passes the header
//!   through unchanged would let anyone who has a copy of one authenticate with it;
//! - from anyone else: Clavis's own TLS handshake ([`crate::tls::PresentedChain`]). A
//!   `Client-Cert` header from such a peer is ignored, as RFC 9440 §4 requires: anyone can
//!   write one.

use actix_web::HttpRequest;
use actix_web::web;
use chrono::{DateTime, Utc};

use super::authentication::AuthFailure;
use super::error::OAuthError;
use crate::forwarded::TrustedProxies;
use crate::tls::PresentedChain;

/// The header a TLS-terminating proxy passes the client's certificate in (RFC 9440 §2.2).
pub const CLIENT_CERT: &str = "client-cert";
/// A longer header holds no single certificate Clavis would accept (the body limit is 8 KiB).
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The header a proxy passes the rest of the client's chain in (RFC 9440 §2.3).
pub const CLIENT_CERT_CHAIN: &str = "client-cert-chain";

/// A certificate a client presented, as DER, with the intermediate certificates it sent
/// after it. Public material: it may be logged.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub der: Vec<u8>,
    /// The rest of the chain as the client sent it, for `tls_client_auth`.
    pub intermediates: Vec<Vec<u8>>,
}

/// The client certificate of `req`, if it presented one (see the module's notes on where
/// it comes from).
///
/// # Errors
/// `400 invalid_request` when a trusted proxy's `Client-Cert` header is not one byte
/// sequence, or comes twice: the proxy is misconfigured, and no client should be judged
/// on it.
pub fn presented_certificate(
    req: &HttpRequest,
    proxy_client_cert: bool,
) -> Result<Option<ClientCertificate>, OAuthError> {
    let from_proxy = proxy_client_cert
        && req.peer_addr().is_some_and(|peer| {
            req.app_data::<web::Data<TrustedProxies>>()
                .is_some_and(|proxies| proxies.trusts_peer(peer.ip()))
        });
    if from_proxy {
        let mut lines = req.headers().get_all(CLIENT_CERT);
        let Some(first) = lines.next() else {
            return Ok(None);
        };
        // Two lines: a proxy that appends rather than replaces let the client's through.
        if lines.next().is_some() {
            return Err(malformed_header());
        }
        let der = forwarded_certificate(first.as_bytes())?;
        let intermediates = forwarded_chain(req)?;
        return Ok(Some(ClientCertificate { der, intermediates }));
    }
    Ok(req.conn_data::<PresentedChain>().and_then(|chain| {
        let (first, rest) = chain.0.split_first()?;
        Some(ClientCertificate {
            der: first.as_ref().to_vec(),
            intermediates: rest.iter().map(|der| der.as_ref().to_vec()).collect(),
        })
    }))
}

/// The intermediates a trusted proxy sent in `Client-Cert-Chain`: a list of byte sequences,
/// perhaps over several header lines, which make one list (RFC 9440 §2.3, RFC 9110 §5.3).
fn forwarded_chain(req: &HttpRequest) -> Result<Vec<Vec<u8>>, OAuthError> {
    let lines: Vec<&[u8]> = req
        .headers()
        .get_all(CLIENT_CERT_CHAIN)
        .map(|line| line.as_bytes())
        .collect();
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let joined = lines.join(&b", "[..]);
    if joined.len() > MAX_HEADER_BYTES {
        return Err(malformed_chain());
    }
    let list: sfv::List = sfv::Parser::new(&joined)
        .parse()
        .map_err(|_| malformed_chain())?;
    list.into_iter()
        .map(|member| match member {
            sfv::ListEntry::Item(item) => match item.bare_item.as_byte_sequence() {
                Some(der) if !der.is_empty() => Ok(der.to_vec()),
                _ => Err(malformed_chain()),
            },
            sfv::ListEntry::InnerList(_) => Err(malformed_chain()),
        })
        .collect()
}

fn malformed_chain() -> OAuthError {
    OAuthError::invalid_request(
        "The Client-Cert-Chain header from the proxy is not a list of certificates as RFC \
         9440 section 2.3 encodes them (each DER in base64 between colons, separated by \
         commas). Check the proxy's configuration.",
    )
}

/// Reads a `Client-Cert` value: one structured-field byte sequence (RFC 9440 §2.2).
fn forwarded_certificate(value: &[u8]) -> Result<Vec<u8>, OAuthError> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(malformed_header());
    }
    let item: sfv::Item = sfv::Parser::new(value)
        .parse()
        .map_err(|_| malformed_header())?;
    match item.bare_item.as_byte_sequence() {
        Some(der) if !der.is_empty() => Ok(der.to_vec()),
        _ => Err(malformed_header()),
    }
}

fn malformed_header() -> OAuthError {
    OAuthError::invalid_request(
        "The Client-Cert header from the proxy is not one certificate as RFC 9440 section 2 \
         encodes it (its DER in base64, between colons, in a single header). Check the \
         proxy's configuration: it must replace any Client-Cert the client sent.",
    )
}

/// Whether the `notBefore` of `certificate`, one with the thumbprint of a registered
/// certificate, has come (RFC 5280 §4.1.2.5). Its `notAfter` is the registration's expiry,
/// which the caller checks.
///
/// # Errors
/// [`AuthFailure::CertificateNotYetValid`]; [`AuthFailure::UnknownCertificate`] for DER that
/// does not parse, which no registered certificate's thumbprint can match.
pub fn check_not_before(
    certificate: &ClientCertificate,
    now: DateTime<Utc>,
) -> Result<(), AuthFailure> {
    let (_, parsed) = x509_parser::parse_x509_certificate(&certificate.der)
        .map_err(|_| AuthFailure::UnknownCertificate)?;
    if parsed.validity().not_before.timestamp() > now.timestamp() {
        return Err(AuthFailure::CertificateNotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_cert_header_is_one_byte_sequence() {
        assert_eq!(forwarded_certificate(b":AQID:").unwrap(), [1, 2, 3]);
        for malformed in [
            &b"AQID"[..],
            b":not base64!:",
            b"::",
            b":AQID:, :AQID:",
            b"\"text\"",
        ] {
            let refused = forwarded_certificate(malformed).unwrap_err();
            assert!(refused.description.contains("RFC 9440"), "{malformed:?}");
        }
    }
}
