//! Bounded input: every form refuses oversized and untypable fields with a 4xx on both backends, and a
//! flood of huge addresses does not grow the database.

use axum::http::StatusCode;

use crate::app::{TestApp, spawn_app, spawn_app_on_postgres};
use crate::auth::{PASSWORD, sign_up};

/// The forms, each with fields that are otherwise valid.
const PRE_LOGIN_FORMS: &[(&str, &[(&str, &str)])] = &[
    ("/signup", &[("account_name", "Initech"), ("email", "peter@initech.example"), ("password", PASSWORD)]),
    ("/login", &[("email", "boss@acme.example"), ("password", PASSWORD)]),
    ("/password/forgot", &[("email", "boss@acme.example")]),
];
const ADMIN_FORMS: &[(&str, &[(&str, &str)])] = &[
    ("/account/users", &[("email", "alice@acme.example")]),
    ("/account/two-factor", &[("totp", "on"), ("policy", "Call +1 555 0100 first")]),
];

async fn refuses_malformed_fields(app: &TestApp) {
    let mut admin = sign_up(app, "ACME", "boss@acme.example").await;
    let long = "a".repeat(6000);
    let huge = "b".repeat(1 << 20);
    let bad_values: [(&str, String, StatusCode); 4] = [
        ("a NUL byte", "x\0y".into(), StatusCode::UNPROCESSABLE_ENTITY),
        ("an escape", "x\u{1b}[2Jy".into(), StatusCode::UNPROCESSABLE_ENTITY),
        ("6,000 characters", long, StatusCode::UNPROCESSABLE_ENTITY),
        ("a megabyte", huge, StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (path, fields) in PRE_LOGIN_FORMS.iter().chain(ADMIN_FORMS) {
        let is_admin_form = ADMIN_FORMS.iter().any(|(admin_path, _)| admin_path == path);
        for (index, (name, _)) in fields.iter().enumerate() {
            for (what, value, expected) in &bad_values {
                let mut with_bad: Vec<(&str, &str)> = fields.to_vec();
                with_bad[index] = (name, value);
                let mut browser = if is_admin_form { admin.clone() } else { app.browser() };
                let page = browser.submit(path, path, &with_bad).await;
                assert_eq!(page.status, *expected, "{path}, {name} with {what}: {}", page.body);
                assert!(page.body.len() < 20_000, "{path}: the answer does not echo the input");
            }
        }
    }
    // Nothing was stored from the refused forms.
    let users = admin.get("/account/users").await;
    assert!(!users.contains("alice@acme.example"), "no user was added");
    assert!(admin.get("/account/two-factor").await.status.is_success());
}

#[tokio::test]
async fn malformed_and_oversized_fields_are_refused_on_sqlite() {
    let Some(app) = spawn_app("input-sqlite").await else { return };
    refuses_malformed_fields(&app).await;
}

#[tokio::test]
async fn malformed_and_oversized_fields_are_refused_on_postgres() {
    let Some(app) = spawn_app_on_postgres("input-postgres").await else { return };
    refuses_malformed_fields(&app).await;
    app.finish().await;
}

/// 50 logins and 50 "Forgot password" requests each with a distinct address of 4,900 characters (under
/// the field limit, far over an address's 254), beside the same with short addresses.
async fn flood_grows_the_database_by(app: &TestApp, address_chars: usize) -> u64 {
    let before = app.database_size().await;
    let mut browser = app.browser_at("192.0.2.7");
    for n in 0..50 {
        let mut address = format!("{n}-");
        address.push_str(&"x".repeat(address_chars.saturating_sub(address.len() + 12)));
        address.push_str("@example.com");
        let page = browser.submit("/login", "/login", &[("email", &address), ("password", PASSWORD)]).await;
        assert!(page.status.is_client_error(), "{}", page.status);
        let page = browser.submit("/password/forgot", "/password/forgot", &[("email", &address)]).await;
        assert_eq!(page.status, StatusCode::OK, "the same answer as for any address");
        app.advance(61); // past the per-address budget
    }
    app.database_size().await.saturating_sub(before)
}

async fn huge_addresses_cost_what_short_ones_do(app: &TestApp) {
    let short = flood_grows_the_database_by(app, 20).await;
    let huge = flood_grows_the_database_by(app, 4900).await;
    // Stored as typed, 100 addresses of 4,900 characters would add at least 490 KB.
    assert!(huge <= short + 64 * 1024, "short addresses grew it by {short} bytes, huge ones by {huge}");
}

#[tokio::test]
async fn a_flood_of_huge_addresses_does_not_grow_the_database_on_sqlite() {
    let Some(app) = spawn_app("flood-sqlite").await else { return };
    huge_addresses_cost_what_short_ones_do(&app).await;
}

#[tokio::test]
async fn a_flood_of_huge_addresses_does_not_grow_the_database_on_postgres() {
    let Some(app) = spawn_app_on_postgres("flood-postgres").await else { return };
    huge_addresses_cost_what_short_ones_do(&app).await;
    app.finish().await;
}
