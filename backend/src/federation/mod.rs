//! Federated workload identity: a workload proves an application with a token its own
//! platform issued (a Kubernetes service account token, a CI job's OIDC token, a SPIFFE
//! JWT-SVID), so nothing secret is stored or rotated (as Entra's federated identity
//! credentials and Keycloak's federated client authentication).
//!
//! Admins trust OpenID Connect issuers (`issuers`); credential managers add federated
//! credentials to applications, each naming a trusted issuer, the exact subject and the
//! audience to accept (`credentials`); both over the portal API (`http`). The token
//! endpoint checks such tokens in `oauth::federated`, with the issuer's keys from
//! [`crate::key_sets`].

mod credentials;
pub mod http;
mod issuers;

pub use credentials::{
    FederatedClient, StoredFederated, add, delete, federated_clients, list, record_last_used,
};
pub use issuers::{check_discovery, issuer_identifier, list_issuers, trust, untrust};
