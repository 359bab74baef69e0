//! What a verified ID token must show to open a session: a second factor, and which roles
//! its claims grant.

use clavis_shared::dto::Role;

use super::oidc::{Identity, strings};
use super::{LoginSettings, RoleClaim};

/// The three factor classes of RFC 8176 §1 (something you know, have, are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactorClass {
    Knowledge,
    Possession,
    Inherence,
}

/// The factor class an `amr` method (RFC 8176 §2) proves, if any.
///
/// `fido` is not registered by RFC 8176; Entra ID sends it for a FIDO2 security key. The key
/// is something you have, and the `amr` does not say whether its PIN or biometric was checked
/// (Entra adds `mfa` when it was), so it counts as possession only. `user` is RFC 8176's "user
/// presence test": it shows that someone touched the device, not who, so it proves no factor.
/// `geo`, `mca`, `rba` and `wia` describe the channel or risk, not a factor; `mfa` is a claim
/// about the whole sign-in, handled by the configured methods that prove MFA alone.
fn factor_class(method: &str) -> Option<FactorClass> {
    match method {
        "pwd" | "pin" | "kba" => Some(FactorClass::Knowledge),
        "otp" | "sms" | "tel" | "hwk" | "swk" | "sc" | "fido" => Some(FactorClass::Possession),
        "face" | "fpt" | "iris" | "retina" | "vbm" => Some(FactorClass::Inherence),
        _ => None,
    }
}

/// Whether the sign-in used more than one factor. It did when the ID token's `amr` holds a
/// method that proves MFA alone (`CLAVIS_OIDC_MFA_AMR`, default `mfa`), or methods from two
/// different RFC 8176 factor classes (`pwd` + `otp`), or when its `acr` is one of
/// `CLAVIS_OIDC_MFA_ACR`. Any number of methods of one class (`otp` alone, `sms` + `swk`)
/// is one factor.
pub fn is_multi_factor(settings: &LoginSettings, identity: &Identity) -> bool {
    let proven_alone = identity
        .amr
        .iter()
        .any(|method| settings.mfa_amr.contains(method));
    let strong_context = identity
        .acr
        .as_ref()
        .is_some_and(|acr| settings.mfa_acr.contains(acr));
    proven_alone || strong_context || spans_two_classes(&identity.amr)
}

fn spans_two_classes(amr: &[String]) -> bool {
    let mut classes = amr.iter().filter_map(|method| factor_class(method));
    classes
        .next()
        .is_some_and(|first| classes.any(|other| other != first))
}

/// Refuses a configuration under which one factor would pass as MFA: a method of a single
/// factor class (such as `otp`) listed as proving MFA alone.
pub fn check_settings(settings: &LoginSettings) -> Result<(), String> {
    match settings
        .mfa_amr
        .iter()
        .find(|method| factor_class(method).is_some())
    {
        Some(single) => Err(format!(
            "oidc_mfa_amr (CLAVIS_OIDC_MFA_AMR) lists \"{single}\", which is one factor (RFC 8176); \
             list only values that prove multi-factor authentication alone, such as mfa. Two \
             methods of different classes (pwd and otp) are accepted without configuration."
        )),
        None => Ok(()),
    }
}

/// A role the ID token's claims grant in the organisation they name (its id or name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRole {
    pub organisation: String,
    pub role: Role,
}

/// The roles the configured role claim grants: credential manager wins over viewer.
pub fn claimed_roles(rule: Option<&RoleClaim>, identity: &Identity) -> Option<ClaimedRole> {
    let rule = rule?;
    let organisation = identity
        .claims
        .get(&rule.organisation_claim)?
        .as_str()?
        .trim()
        .to_owned();
    if organisation.is_empty() {
        return None;
    }
    let names = strings(identity.claims.get(&rule.claim));
    let role = if names.contains(&rule.manager_value) {
        Role::CredentialManager
    } else if rule
        .viewer_value
        .as_ref()
        .is_some_and(|viewer| names.contains(viewer))
    {
        Role::Viewer
    } else {
        return None;
    };
    Some(ClaimedRole { organisation, role })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(amr: &[&str], acr: &[&str]) -> LoginSettings {
        LoginSettings {
            issuer: "https://idp.example.org".into(),
            client_id: "clavis".into(),
            client_secret: None,
            redirect_url: "https://clavis.example.org/auth/callback".parse().unwrap(),
            post_logout_redirect_url: "https://clavis.example.org/".parse().unwrap(),
            scopes: vec!["openid".into()],
            mfa_amr: amr.iter().map(|s| s.to_string()).collect(),
            mfa_acr: acr.iter().map(|s| s.to_string()).collect(),
            acr_values: vec![],
            role_claim: None,
            support_contact: None,
        }
    }

    fn identity(amr: &[&str], acr: Option<&str>, claims: serde_json::Value) -> Identity {
        Identity {
            issuer: "https://idp.example.org".into(),
            subject: "sub".into(),
            email: None,
            email_verified: false,
            name: None,
            amr: amr.iter().map(|s| s.to_string()).collect(),
            acr: acr.map(str::to_owned),
            claims: claims.as_object().cloned().unwrap_or_default(),
            ignored_claims: Vec::new(),
        }
    }

    fn multi_factor(amr: &[&str], acr: Option<&str>) -> bool {
        is_multi_factor(
            &settings(&["mfa"], &["urn:mfa"]),
            &identity(amr, acr, serde_json::json!({})),
        )
    }

    const KNOWLEDGE: [&str; 3] = ["pwd", "pin", "kba"];
    const POSSESSION: [&str; 7] = ["otp", "sms", "tel", "hwk", "swk", "sc", "fido"];
    const INHERENCE: [&str; 5] = ["face", "fpt", "iris", "retina", "vbm"];

    #[test]
    fn methods_of_two_different_classes_are_multi_factor() {
        for (first, second) in [
            (&KNOWLEDGE[..], &POSSESSION[..]),
            (&KNOWLEDGE[..], &INHERENCE[..]),
            (&POSSESSION[..], &INHERENCE[..]),
        ] {
            for a in first {
                for b in second {
                    assert!(multi_factor(&[a, b], None), "{a} + {b}");
                    assert!(multi_factor(&[b, "user", a], None), "{b} + {a}");
                }
            }
        }
    }

    #[test]
    fn methods_of_one_class_are_a_single_factor() {
        for class in [&KNOWLEDGE[..], &POSSESSION[..], &INHERENCE[..]] {
            for a in class {
                assert!(!multi_factor(&[a], None), "{a} alone");
                for b in class {
                    assert!(!multi_factor(&[a, b], None), "{a} + {b}");
                }
            }
        }
        for lone in ["otp", "sms", "swk"] {
            assert!(!multi_factor(&[lone], None), "{lone}");
        }
        assert!(!multi_factor(&["sms", "swk", "otp"], None));
    }

    #[test]
    fn methods_without_a_factor_class_add_nothing() {
        for other in ["user", "geo", "mca", "rba", "wia", "made-up"] {
            assert!(!multi_factor(&["pwd", other], None), "pwd + {other}");
            assert!(!multi_factor(&["otp", other], None), "otp + {other}");
        }
        assert!(!multi_factor(&[], None));
    }

    #[test]
    fn a_configured_amr_or_acr_proves_multi_factor_alone() {
        assert!(multi_factor(&["mfa"], None));
        assert!(multi_factor(&["pwd", "mfa"], None), "Entra ID");
        assert!(multi_factor(&[], Some("urn:mfa")));
        assert!(multi_factor(&["pwd"], Some("urn:mfa")));
        assert!(!multi_factor(&["pwd"], Some("urn:pwd")));
        assert!(!multi_factor(&["otp"], Some("urn:other")));
        let without_defaults = settings(&[], &[]);
        let mfa_only = identity(&["mfa"], Some("urn:mfa"), serde_json::json!({}));
        assert!(!is_multi_factor(&without_defaults, &mfa_only));
        let two = identity(&["pwd", "otp"], None, serde_json::json!({}));
        assert!(is_multi_factor(&without_defaults, &two));
    }

    #[test]
    fn a_single_factor_cannot_be_configured_to_prove_mfa() {
        assert!(check_settings(&settings(&["mfa", "x-strong"], &[])).is_ok());
        for single in ["otp", "sms", "swk", "pwd", "fido", "face"] {
            let err = check_settings(&settings(&["mfa", single], &[])).unwrap_err();
            assert!(
                err.contains("CLAVIS_OIDC_MFA_AMR") && err.contains(single),
                "{err}"
            );
        }
    }

    #[test]
    fn the_role_claim_grants_a_role_in_the_named_organisation() {
        let rule = RoleClaim {
            claim: "roles".into(),
            manager_value: "credential_management".into(),
            viewer_value: Some("credential_view".into()),
            organisation_claim: "org".into(),
        };
        let manager = identity(
            &[],
            None,
            serde_json::json!({"roles": ["x", "credential_management"], "org": "Acme"}),
        );
        assert_eq!(
            claimed_roles(Some(&rule), &manager),
            Some(ClaimedRole {
                organisation: "Acme".into(),
                role: Role::CredentialManager
            })
        );
        let viewer = identity(
            &[],
            None,
            serde_json::json!({"roles": "credential_view", "org": "Acme"}),
        );
        assert_eq!(
            claimed_roles(Some(&rule), &viewer).map(|c| c.role),
            Some(Role::Viewer)
        );
        let no_org = identity(
            &[],
            None,
            serde_json::json!({"roles": ["credential_management"]}),
        );
        assert_eq!(claimed_roles(Some(&rule), &no_org), None);
        assert_eq!(claimed_roles(None, &manager), None);
    }
}
