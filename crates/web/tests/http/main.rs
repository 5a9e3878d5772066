//! The web application over HTTP, without a socket: each test gets its own SQLite database, a real SMTP
//! server (aiosmtpd) receiving the mail, a clock the test moves, and a browser-like client with a cookie jar.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod app;
mod attack;
mod auth;
mod cloud;
mod input;
mod operations;
mod outbox;
mod rebinding;
mod rollout;
mod routes;
mod security;
mod security_keys;
mod story;
mod support;
