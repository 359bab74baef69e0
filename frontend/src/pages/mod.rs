pub mod admin;
pub mod application;
pub mod audit;
pub mod dashboard;
pub mod not_found;
pub mod signin;
