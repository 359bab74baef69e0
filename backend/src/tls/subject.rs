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
        // x509-cert reads RFC 4514 text (most specific RDN first) into DER order, and writes
        // it back the same way, so both sides compare in RFC 4514 order.
        .map(|name| canonical(&name))
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
            pieces.push(unpadded(&std::mem::take(&mut piece)).to_owned());
            pieces.push(c.to_string());
            continue;
        }
        escaped = !escaped && c == '\\';
        piece.push(c);
    }
    pieces.push(unpadded(&piece).to_owned());
    pieces.concat()
}

/// `piece` without the spaces around it, keeping an escaped trailing space (`a\ `), which
/// belongs to the value.
fn unpadded(piece: &str) -> &str {
    let piece = piece.trim_start_matches(' ');
    let mut end = piece.len();
    while piece[..end].ends_with(' ') && !piece[..end].ends_with("\\ ") {
        end -= 1;
    }
    &piece[..end]
}

/// `name` as RFC 4514 text, with ASCII case and runs of spaces ignored. Only ASCII: Unicode
/// case folding and whitespace would let look-alikes (the Kelvin sign for `k`, a no-break
/// space) match a registered name.
fn canonical(name: &RdnSequence) -> String {
    name.to_string()
        .split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// The subject and issuer of the certificate `der` as RFC 4514 text, for people comparing
/// a refused certificate with a registration; `None` when it does not parse.
pub fn subject_and_issuer(der: &[u8]) -> Option<(String, String)> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let text = |raw: &[u8]| RdnSequence::from_der(raw).ok().map(|name| name.to_string());
    Some((
        text(certificate.subject().as_raw())?,
        text(certificate.issuer().as_raw())?,
    ))
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
        // Most significant first, as CAs issue them (rcgen's default has a CN in front).
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in [
            (rcgen::DnType::CountryName, "GB"),
            (rcgen::DnType::OrganizationName, "Acme"),
            (rcgen::DnType::OrganizationalUnitName, "Banking"),
            (rcgen::DnType::CommonName, "Billing-Service"),
        ] {
            params.distinguished_name.push(kind, value);
        }
        let certificate = params.self_signed(&key).unwrap();
        let registered = |value: &str| CertificateSubject {
            field: SubjectField::SubjectDn,
            value: value.to_owned(),
        };
        let der = certificate.der();
        assert!(names(
            der,
            &registered("CN=billing-service, OU=Banking, O=Acme, C=GB")
        ));
        assert!(!names(
            der,
            &registered("C=GB,O=Acme,OU=Banking,CN=billing-service")
        ));
        assert!(!names(der, &registered("CN=billing-service,O=Acme,C=GB")));
        // A look-alike: the Kelvin sign folds to k in Unicode, not in ASCII.
        assert!(!names(
            der,
            &registered("CN=billing-service,OU=Ban\u{212A}ing,O=Acme,C=GB")
        ));
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
        assert_ne!(
            canonical_dn("CN=a\\ ,O=b").unwrap(),
            canonical_dn("CN=a,O=b").unwrap(),
            "an escaped trailing space belongs to the value"
        );
        for bad in ["billing", "", "CN"] {
            assert_eq!(canonical_dn(bad).unwrap_err().field, "tls_client_auth");
        }
    }
}
