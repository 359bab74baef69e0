//! Integration tests: every test runs against SQLite and against the local PostgreSQL,
//! each in a database of its own.

// The harness around the tests (servers, fixtures, helpers) is test code too: an unwrap there
// is a test failing, as in the #[test] functions themselves.
#![allow(clippy::unwrap_used)]

mod nginx;
mod process;
mod publisher;
mod server;
mod smtp_sink;
mod support;

mod apps;
mod audit;
mod backup;
mod bad_text;
mod cli;
mod client_keys;
mod devices;
mod federated;
mod http;
mod introspection;
mod jwks_uri;
mod keys;
mod login;
mod metrics;
mod modules;
mod mtls;
mod oauth;
mod organisations;
mod package;
mod paging;
mod portal;
mod proxy;
mod reminders;
mod request_ids;
mod secrets;
mod storage;
mod tls;
mod users;
