pub mod admin;
pub mod application;
pub mod audit;
pub mod client_keys;
pub mod dashboard;
pub mod federated;
pub mod not_found;
pub mod signin;
