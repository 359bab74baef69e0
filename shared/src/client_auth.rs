//! How an application may prove itself at the token endpoint: the methods it accepts, the
//! certificate subject `tls_client_auth` matches (RFC 8705 §2.1), and whether its tokens
//! must be bound to a certificate (RFC 8705 §3).

use serde::{Deserialize, Serialize};

use crate::validate::{CONTROL_CHARACTERS, ValidationError, has_control_character};

type Checked<T> = Result<T, ValidationError>;

/// The longest certificate subject value accepted, in characters.
pub const MAX_SUBJECT_CHARS: usize = 1_000;

/// A way of proving an application at the token endpoint. The names are those of the
/// `token_endpoint_auth_methods_supported` registry (RFC 8414 §2), except two that group or
/// split them: `client_secret` is a secret in Basic or in the body (RFC 6749 §2.3.1), and
/// `federated_credential` is an assertion issued by a trusted issuer (RFC 7523 §2.2, as
/// `private_key_jwt` is one signed by a key of the application's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    ClientSecret,
    PrivateKeyJwt,
    FederatedCredential,
    SelfSignedTlsClientAuth,
    TlsClientAuth,
}

impl ClientAuthMethod {
    /// Every method, in the order people see them.
    pub const ALL: [Self; 5] = [
        Self::ClientSecret,
        Self::PrivateKeyJwt,
        Self::FederatedCredential,
        Self::SelfSignedTlsClientAuth,
        Self::TlsClientAuth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::FederatedCredential => "federated_credential",
            Self::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            Self::TlsClientAuth => "tls_client_auth",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.as_str() == text)
    }

    /// What people call the method.
    pub fn label(self) -> &'static str {
        match self {
            Self::ClientSecret => "Client secret",
            Self::PrivateKeyJwt => "Assertion signed with its own key",
            Self::FederatedCredential => "Federated credential",
            Self::SelfSignedTlsClientAuth => {
                "Registered certificate (Public keys and certificates), over mutual TLS"
            }
            Self::TlsClientAuth => "CA-issued certificate over mutual TLS",
        }
    }
}

/// Which part of a CA-issued client certificate `tls_client_auth` matches: the metadata
/// names of RFC 8705 §2.1.2, of which a client registers exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SubjectField {
    /// The subject distinguished name, as an RFC 4514 string (`CN=billing,O=Acme,C=GB`).
    #[serde(rename = "tls_client_auth_subject_dn")]
    SubjectDn,
    /// A dNSName subject alternative name.
    #[serde(rename = "tls_client_auth_san_dns")]
    SanDns,
    /// A uniformResourceIdentifier subject alternative name.
    #[serde(rename = "tls_client_auth_san_uri")]
    SanUri,
    /// An iPAddress subject alternative name, IPv4 or IPv6.
    #[serde(rename = "tls_client_auth_san_ip")]
    SanIp,
    /// An rfc822Name (e-mail) subject alternative name.
    #[serde(rename = "tls_client_auth_san_email")]
    SanEmail,
}

impl SubjectField {
    pub const ALL: [Self; 5] = [
        Self::SubjectDn,
        Self::SanDns,
        Self::SanUri,
        Self::SanIp,
        Self::SanEmail,
    ];

    /// The RFC 8705 §2.1.2 metadata name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubjectDn => "tls_client_auth_subject_dn",
            Self::SanDns => "tls_client_auth_san_dns",
            Self::SanUri => "tls_client_auth_san_uri",
            Self::SanIp => "tls_client_auth_san_ip",
            Self::SanEmail => "tls_client_auth_san_email",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.as_str() == text)
    }

    /// What people call the field.
    pub fn label(self) -> &'static str {
        match self {
            Self::SubjectDn => "Subject DN",
            Self::SanDns => "DNS name (SAN)",
            Self::SanUri => "URI (SAN)",
            Self::SanIp => "IP address (SAN)",
            Self::SanEmail => "E-mail address (SAN)",
        }
    }

    /// The field in a sentence, with its article.
    pub fn described(self) -> &'static str {
        match self {
            Self::SubjectDn => "a subject DN",
            Self::SanDns => "a DNS name",
            Self::SanUri => "a URI",
            Self::SanIp => "an IP address",
            Self::SanEmail => "an e-mail address",
        }
    }

    /// An example value, for forms and messages.
    pub fn example(self) -> &'static str {
        match self {
            Self::SubjectDn => "CN=billing,O=Acme,C=GB",
            Self::SanDns => "billing.acme.example",
            Self::SanUri => "spiffe://acme.example/billing",
            Self::SanIp => "192.0.2.10",
            Self::SanEmail => "billing@acme.example",
        }
    }
}

/// What a CA-issued certificate must name for `tls_client_auth` (RFC 8705 §2.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CertificateSubject {
    pub field: SubjectField,
    pub value: String,
}

/// An application's client authentication, as set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetClientAuthentication {
    /// The methods the application accepts; `null` accepts every method it has credentials
    /// for (the default). A method outside the list gets `invalid_client`.
    #[serde(default)]
    pub auth_methods: Option<Vec<ClientAuthMethod>>,
    /// What a CA-issued certificate must name to prove the application (`tls_client_auth`);
    /// `null` when it uses none.
    #[serde(default)]
    pub tls_client_auth: Option<CertificateSubject>,
    /// Issue tokens only over mutual TLS, bound to the client's certificate (RFC 8705 §3).
    #[serde(default)]
    pub require_bound_tokens: bool,
}

/// An application's client authentication, with what this Clavis can check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientAuthentication {
    #[serde(flatten)]
    pub settings: SetClientAuthentication,
    /// Whether client certificates reach this Clavis (its own TLS, or a proxy sending
    /// `Client-Cert`): without them no certificate method works, and no token can be bound.
    pub mutual_tls: bool,
    /// Whether CA certificates are configured for `tls_client_auth` (`CLAVIS_MTLS_CA_FILE`).
    pub tls_client_auth_ca: bool,
}

impl SetClientAuthentication {
    /// The settings in one form: methods sorted without repeats, the subject value trimmed.
    /// A subject DN is checked further by the backend, which parses it.
    ///
    /// # Errors
    /// On `auth_methods` for an empty list; on `tls_client_auth` for `tls_client_auth`
    /// chosen without a subject, or for a value that is empty, too long, holds control
    /// characters, or is not of its field's form.
    pub fn checked(mut self) -> Checked<Self> {
        if let Some(methods) = &mut self.auth_methods {
            methods.sort_unstable();
            methods.dedup();
            if methods.is_empty() {
                return Err(ValidationError::new(
                    "auth_methods",
                    "Choose at least one method, or accept every method the application has credentials for.",
                ));
            }
            if methods.contains(&ClientAuthMethod::TlsClientAuth) && self.tls_client_auth.is_none()
            {
                return Err(ValidationError::new(
                    "tls_client_auth",
                    "A CA-issued certificate is accepted only with the subject DN or alternative name it must carry: give one.",
                ));
            }
        }
        if let Some(subject) = &mut self.tls_client_auth {
            subject.value = subject_value(subject.field, &subject.value)?;
        }
        Ok(self)
    }
}

/// `value` trimmed, if it can be what `field` names.
fn subject_value(field: SubjectField, value: &str) -> Checked<String> {
    let value = value.trim();
    let invalid = |message: String| Err(ValidationError::new("tls_client_auth", message));
    if value.is_empty() || value.chars().count() > MAX_SUBJECT_CHARS {
        return invalid(format!(
            "Give {} of 1 to {MAX_SUBJECT_CHARS} characters, such as {}.",
            field.described(),
            field.example()
        ));
    }
    if has_control_character(value) {
        return invalid(format!(
            "The certificate subject may not hold {CONTROL_CHARACTERS}."
        ));
    }
    let well_formed = match field {
        SubjectField::SubjectDn => value.contains('='),
        SubjectField::SanDns => value
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(is_dns_character)),
        SubjectField::SanUri => value
            .split_once(':')
            .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty()),
        SubjectField::SanIp => value.parse::<std::net::IpAddr>().is_ok(),
        SubjectField::SanEmail => value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
    };
    if !well_formed {
        return invalid(format!(
            "\"{value}\" is not {}: write it as {}.",
            field.described(),
            field.example()
        ));
    }
    Ok(match field {
        SubjectField::SanDns => value.to_ascii_lowercase(),
        _ => value.to_owned(),
    })
}

/// A character of a DNS name as certificates carry it (letters, digits, hyphens, and the
/// wildcard of RFC 6125 §6.4.3).
fn is_dns_character(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '*'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(field: SubjectField, value: &str) -> SetClientAuthentication {
        SetClientAuthentication {
            auth_methods: None,
            tls_client_auth: Some(CertificateSubject {
                field,
                value: value.to_owned(),
            }),
            require_bound_tokens: false,
        }
    }

    #[test]
    fn methods_are_sorted_without_repeats_and_never_empty() {
        let set = SetClientAuthentication {
            auth_methods: Some(vec![
                ClientAuthMethod::PrivateKeyJwt,
                ClientAuthMethod::ClientSecret,
                ClientAuthMethod::PrivateKeyJwt,
            ]),
            ..SetClientAuthentication::default()
        };
        assert_eq!(
            set.checked().unwrap().auth_methods.unwrap(),
            [
                ClientAuthMethod::ClientSecret,
                ClientAuthMethod::PrivateKeyJwt
            ]
        );
        let none = SetClientAuthentication {
            auth_methods: Some(Vec::new()),
            ..SetClientAuthentication::default()
        };
        assert_eq!(none.checked().unwrap_err().field, "auth_methods");
    }

    #[test]
    fn tls_client_auth_needs_a_subject() {
        let set = SetClientAuthentication {
            auth_methods: Some(vec![ClientAuthMethod::TlsClientAuth]),
            ..SetClientAuthentication::default()
        };
        assert!(set.checked().unwrap_err().message.contains("subject DN"));
    }

    #[test]
    fn subject_values_have_their_field_form() {
        for (field, good) in [
            (SubjectField::SubjectDn, " CN=billing,O=Acme "),
            (SubjectField::SanDns, "Billing.Acme.example"),
            (SubjectField::SanUri, "spiffe://acme.example/billing"),
            (SubjectField::SanIp, "2001:db8::1"),
            (SubjectField::SanEmail, "ops@acme.example"),
        ] {
            assert!(subject(field, good).checked().is_ok(), "{good}");
        }
        assert_eq!(
            subject(SubjectField::SanDns, "Billing.Acme.example")
                .checked()
                .unwrap()
                .tls_client_auth
                .unwrap()
                .value,
            "billing.acme.example"
        );
        for (field, bad) in [
            (SubjectField::SubjectDn, "billing"),
            (SubjectField::SanDns, "bad host.example"),
            (SubjectField::SanUri, "no-scheme"),
            (SubjectField::SanIp, "192.0.2"),
            (SubjectField::SanEmail, "nobody"),
            (SubjectField::SanDns, "   "),
            (SubjectField::SubjectDn, "CN=a\u{7}"),
        ] {
            let refused = subject(field, bad).checked().unwrap_err();
            assert_eq!(refused.field, "tls_client_auth", "{bad}");
        }
    }
}
