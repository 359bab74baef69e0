//! Whether a client certificate names what an application registered for `tls_client_auth`
//! (RFC 8705 §2.1.2): its subject distinguished name, or one of its subject alternative
//! names of the registered kind.
//!
//! Distinguished names are compared in one form: parsed from RFC 4514 text (the
//! registration) or from DER (the certificate), written back as RFC 4514 text, with case and
//! runs of spaces ignored. That is what people expect of `CN=Billing, O=Acme` against a
//! certificate whose subject says `cn=billing,o=ACME`, whatever string types the CA used.

use std::net::IpAddr;
use std::str::FromStr;

use clavis_shared::client_auth::{CertificateSubject, SubjectField};
use clavis_shared::validate::ValidationError;
use x509_cert::der::Decode;
use x509_cert::name::RdnSequence;
use x509_parser::extensions::GeneralName;

/// `text`, an RFC 4514 distinguished name, in the form [`names`] compares.
///
/// # Errors
/// A [`ValidationError`] on `tls_client_auth` when it is not an RFC 4514 name.
pub fn canonical_dn(text: &str) -> Result<String, ValidationError> {
    RdnSequence::from_str(&without_spaces_around_separators(text))
        .ok()
        .filter(|name| !name.is_empty())
        // RFC 4514 writes the most specific RDN first, the reverse of the DER order, and
        // x509-cert 0.2 keeps the written order: reversed here, it is the DER order that
        // certificates' subjects are written in below.
        .map(|name| canonical(&RdnSequence(name.0.into_iter().rev().collect())))
        .ok_or_else(|| {
            ValidationError::new(
                "tls_client_auth",
                format!(
                    "\"{}\" is not a distinguished name as RFC 4514 writes one, such as CN=billing,O=Acme,C=GB (commas inside a value are written \\,).",
                    text.trim()
                ),
            )
        })
}

/// `text` without the spaces people write after a comma (`CN=a, O=b`), which RFC 4514's
/// grammar has no room for but RFC 1779 allowed, and every tool prints.
fn without_spaces_around_separators(text: &str) -> String {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if !escaped && (c == ',' || c == '+') {
            pieces.push(std::mem::take(&mut piece).trim().to_owned());
            pieces.push(c.to_string());
            continue;
        }
        escaped = !escaped && c == '\\';
        piece.push(c);
    }
    pieces.push(piece.trim().to_owned());
    pieces.concat()
}

/// `name` as text in its DER order, without case or repeated spaces.
fn canonical(name: &RdnSequence) -> String {
    name.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether the certificate `der` names `registered`. A certificate that does not parse
/// names nothing.
pub fn names(der: &[u8], registered: &CertificateSubject) -> bool {
    let Ok((_, certificate)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    if registered.field == SubjectField::SubjectDn {
        let Ok(expected) = canonical_dn(&registered.value) else {
            return false;
        };
        return RdnSequence::from_der(certificate.subject().as_raw())
            .is_ok_and(|subject| canonical(&subject) == expected);
    }
    let Ok(Some(alternative)) = certificate.subject_alternative_name() else {
        return false;
    };
    let wanted = registered.value.as_str();
    alternative
        .value
        .general_names
        .iter()
        .any(|name| match (registered.field, name) {
            (SubjectField::SanDns, GeneralName::DNSName(dns)) => dns.eq_ignore_ascii_case(wanted),
            (SubjectField::SanUri, GeneralName::URI(uri)) => *uri == wanted,
            (SubjectField::SanEmail, GeneralName::RFC822Name(email)) => {
                email.eq_ignore_ascii_case(wanted)
            }
            (SubjectField::SanIp, GeneralName::IPAddress(octets)) => {
                ip_of(octets).is_some_and(|ip| wanted.parse::<IpAddr>() == Ok(ip))
            }
            _ => false,
        })
}

/// The address in an iPAddress name's octets (RFC 5280 §4.2.1.6: 4 for IPv4, 16 for IPv6).
fn ip_of(octets: &[u8]) -> Option<IpAddr> {
    match octets.len() {
        4 => <[u8; 4]>::try_from(octets).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(octets).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_dn_in_rfc_4514_order_names_the_certificate_subject() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Billing-Service");
        let certificate = params.self_signed(&key).unwrap();
        let registered = |value: &str| CertificateSubject {
            field: SubjectField::SubjectDn,
            value: value.to_owned(),
        };
        assert!(names(
            certificate.der(),
            &registered("CN=billing-service, O=Acme")
        ));
        assert!(!names(
            certificate.der(),
            &registered("O=Acme,CN=billing-service")
        ));
        assert!(!names(certificate.der(), &registered("CN=billing-service")));
    }

    #[test]
    fn distinguished_names_compare_without_case_or_extra_spaces() {
        assert_eq!(
            canonical_dn("CN=Billing,  O=Acme,C=GB").unwrap(),
            canonical_dn("cn=billing,o=ACME,c=gb").unwrap()
        );
        assert_ne!(
            canonical_dn("CN=billing,O=Acme").unwrap(),
            canonical_dn("O=Acme,CN=billing").unwrap()
        );
        for bad in ["billing", "", "CN"] {
            assert_eq!(canonical_dn(bad).unwrap_err().field, "tls_client_auth");
        }
    }
}
