//! Integration tests: every test runs against SQLite and against the local PostgreSQL,
//! each in a database of its own.

mod support;

mod apps;
mod cli;
mod http;
mod organisations;
mod secrets;
mod storage;
mod users;
