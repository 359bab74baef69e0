//! Clavis: a self-service portal for client secrets and an OAuth 2.0 authorization server
//! for machine-to-machine APIs.
//!
//! One module per domain (organisations, APIs, applications, secrets, client keys, federated
//! credentials, users, audit, notify), each with its logic and queries side by side; `db` holds storage, `jobs` the
//! background work, `app` wires every route and starts the jobs.

pub mod access;
pub mod apis;
pub mod app;
pub mod apps;
pub mod audit;
pub mod cli;
pub mod client_keys;
pub mod config;
pub mod db;
pub mod devices;
pub mod error;
pub mod federation;
pub mod forwarded;
pub mod health;
pub mod jobs;
pub mod key_sets;
pub mod keys;
pub mod logging;
pub mod login;
pub mod notify;
pub mod oauth;
pub mod openapi;
pub mod orgs;
pub mod paging;
pub mod public_url;
pub mod request_id;
pub mod resource_server;
pub mod secrets;
pub mod serve;
pub mod session;
pub mod site;
pub mod storable_text;
pub mod telemetry;
pub mod tls;
pub mod users;
