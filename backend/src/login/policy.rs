//! What a verified ID token must show to open a session: a second factor, and which roles
//! its claims grant.

use clavis_shared::dto::Role;

use super::oidc::{Identity, strings};
use crate::config::{LoginSettings, RoleClaim};

/// Whether the login used a second factor: an accepted `amr` method or `acr` value.
pub fn is_multi_factor(settings: &LoginSettings, identity: &Identity) -> bool {
    identity
        .amr
        .iter()
        .any(|method| settings.mfa_amr.contains(method))
        || identity
            .acr
            .as_ref()
            .is_some_and(|acr| settings.mfa_acr.contains(acr))
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

    #[test]
    fn a_second_factor_is_an_accepted_amr_or_acr() {
        let rule = settings(&["mfa", "otp"], &["urn:mfa"]);
        let json = serde_json::json!({});
        assert!(is_multi_factor(
            &rule,
            &identity(&["pwd", "otp"], None, json.clone())
        ));
        assert!(is_multi_factor(
            &rule,
            &identity(&["pwd"], Some("urn:mfa"), json.clone())
        ));
        assert!(!is_multi_factor(
            &rule,
            &identity(&["pwd"], Some("urn:pwd"), json.clone())
        ));
        assert!(!is_multi_factor(&rule, &identity(&[], None, json)));
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
