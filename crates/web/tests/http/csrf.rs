//! Every state-changing route of the router refuses a form without its CSRF token, and one with a wrong
//! token. The routes are read from the router's own source (`src/lib.rs`), so a new form is covered the
//! day it is added; a path constant this test does not know fails it until it is named here.

use axum::http::StatusCode;

use crate::app::{Browser, Page, TestApp, spawn_app};
use crate::auth::{PASSWORD, log_in, sign_up};

const ROUTER_SOURCE: &str = include_str!("../../src/lib.rs");
const EXPIRED: &str = "This form has expired.";

/// The paths of every route with a POST handler, constants resolved, path parameters filled in.
fn post_routes() -> Vec<String> {
    let mut routes = Vec::new();
    let mut rest = ROUTER_SOURCE;
    while let Some(start) = rest.find(".route(") {
        rest = &rest[start + ".route(".len()..];
        // The call's arguments, up to its closing parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .expect("a closing parenthesis");
        let (path, handlers) = rest[..end].split_once(',').expect("a path and its handlers");
        if handlers.contains("post(") {
            routes.push(fill(resolve(path.trim())));
        }
    }
    routes
}

fn resolve(path: &str) -> &str {
    if let Some(literal) = path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        return literal;
    }
    match path {
        "layout::USERS_AND_SECURITY_PATH" => keyward_web::layout::USERS_AND_SECURITY_PATH,
        "layout::API_CLIENTS_PATH" => keyward_web::layout::API_CLIENTS_PATH,
        "support::LOST_PATH" => keyward_web::pages::support::LOST_PATH,
        "support::SETUP_PATH" => keyward_web::pages::support::SETUP_PATH,
        "support::SETUP_YUBIKEY_PATH" => keyward_web::pages::support::SETUP_YUBIKEY_PATH,
        "guard::SUPPORT_LOGIN_PATH" => keyward_web::guard::SUPPORT_LOGIN_PATH,
        other => panic!("the router posts to {other}: name its value in tests/http/csrf.rs"),
    }
}

fn fill(path: &str) -> String {
    path.replace("{token}", &"t".repeat(43)).replace("{id}", "1")
}

/// A refusal that changed nothing: the expired-form page, or the guard's answer before any form is read.
fn refused(page: &Page) -> bool {
    let sent_away = page.status == StatusCode::SEE_OTHER
        && matches!(page.location.as_deref(), Some("/login" | "/login/otp" | "/support/login"));
    (page.status == StatusCode::FORBIDDEN) || sent_away
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_wrong_csrf_token() {
    let Some(app) = spawn_app("csrf-walk").await else { return };
    let routes = post_routes();
    assert!(routes.len() >= 35, "the router's forms were read: {routes:?}");
    for expected in ["/login", "/support/requests/1/approve", "/account/two-factor/deactivate"] {
        assert!(routes.iter().any(|r| r == expected), "{expected} in {routes:?}");
    }
    let browsers = people(&app).await;
    for route in &routes {
        let mut checked = false;
        for (who, browser) in browsers.iter() {
            let mut browser = browser.clone();
            for fields in
                [vec![("email", "eve@evil.example")], vec![("csrf", "guess"), ("email", "eve@evil.example")]]
            {
                let page = browser.post(route, &fields).await;
                assert!(
                    refused(&page),
                    "{who} posting {route} with {fields:?}: {} {}",
                    page.status,
                    page.body
                );
                checked |= page.status == StatusCode::FORBIDDEN && page.contains(EXPIRED);
            }
        }
        assert!(checked, "{route}: no kind of visitor reached its CSRF check");
    }
    assert!(!app.browser().get("/account/users").await.contains("eve@evil.example"));
}

/// A browser for each kind of session the forms serve: an admin, an operator, a member between the two
/// steps of a login, each also holding a pre-login CSRF cookie.
async fn people(app: &TestApp) -> Vec<(&'static str, Browser)> {
    let mut admin = sign_up(app, "ACME", "boss@acme.example").await;
    let settings = [("totp", "on"), ("policy", "Call +45 33 12 34 56 first")];
    admin.submit("/account/two-factor", "/account/two-factor", &settings).await;
    crate::story::add_user(app, &mut admin, "alice@acme.example").await;
    crate::story::own_app_from_activate(app, &mut admin, PASSWORD).await;
    let confirm = admin.get("/account/two-factor/activate").await;
    admin.post("/account/two-factor/activate", &[("csrf", &confirm.csrf())]).await;
    let mut pending = app.browser();
    log_in(&mut pending, "alice@acme.example", PASSWORD).await;
    let link = app.add_operator("olga@support.example").await;
    let mut operator = app.browser();
    operator.submit(&link, &link, &[("password", PASSWORD)]).await;
    operator
        .submit(
            "/support/login",
            "/support/login",
            &[("email", "olga@support.example"), ("password", PASSWORD)],
        )
        .await;
    let qr = operator.get("/support/setup").await;
    let code = crate::story::totp_of(&qr.element_text("secret")).code_at(app.now()).unwrap().to_string();
    operator.post("/support/setup", &[("csrf", &qr.csrf()), ("otp", &code)]).await;
    assert_eq!(operator.get("/support").await.status, StatusCode::OK);
    let mut all =
        vec![("an admin", admin), ("a member between the steps", pending), ("an operator", operator)];
    for (_, browser) in &mut all {
        browser.get("/login").await;
    }
    all
}
