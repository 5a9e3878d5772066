//! Every route of the router, read from its own source (`src/lib.rs`) so that a new one is covered the day
//! it is added (a path constant this test does not know fails it until it is named here): every form
//! refuses a missing or wrong CSRF token, and every answer to every kind of visitor carries the security
//! headers and flagged cookies.

use axum::http::StatusCode;

use crate::app::{Browser, Page, TestApp, spawn_app};
use crate::auth::{PASSWORD, log_in, sign_up};

const ROUTER_SOURCE: &str = include_str!("../../src/lib.rs");
const EXPIRED: &str = "This form has expired.";

/// The paths of every route with a POST handler, constants resolved, path parameters filled in.
fn post_routes() -> Vec<String> {
    routes_with("post(")
}

/// The same for GET handlers.
fn get_routes() -> Vec<String> {
    routes_with("get(")
}

fn routes_with(method: &str) -> Vec<String> {
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
        if handlers.contains(method) {
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
        "layout::MY_SECURITY_PATH" => keyward_web::layout::MY_SECURITY_PATH,
        "layout::AUDIT_LOG_PATH" => keyward_web::layout::AUDIT_LOG_PATH,
        "layout::SUPPORT_PATH" => keyward_web::layout::SUPPORT_PATH,
        "metrics::PATH" => keyward_web::metrics::PATH,
        "wsapi::VERIFY_PATH" => keyward_web::pages::wsapi::VERIFY_PATH,
        "assets::STYLE_PATH" => keyward_web::assets::STYLE_PATH,
        "assets::WEBAUTHN_PATH" => keyward_web::assets::WEBAUTHN_PATH,
        "two_factor::SECURITY_KEYS" => keyward_web::pages::two_factor::SECURITY_KEYS,
        "security_keys::LOGIN_OPTIONS_PATH" => keyward_web::pages::security_keys::LOGIN_OPTIONS_PATH,
        "security_keys::MINE_PATH" => keyward_web::pages::security_keys::MINE_PATH,
        "security_keys::MINE_OPTIONS_PATH" => keyward_web::pages::security_keys::MINE_OPTIONS_PATH,
        "security_keys::MINE_REMOVE_PATH" => keyward_web::pages::security_keys::MINE_REMOVE_PATH,
        other => panic!("the router routes {other}: name its value in tests/http/routes.rs"),
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

#[tokio::test]
async fn every_page_to_every_visitor_carries_the_security_headers_and_flagged_cookies() {
    let Some(app) = spawn_app("headers-walk").await else { return };
    let routes = get_routes();
    assert!(routes.len() >= 25, "the router's pages were read: {routes:?}");
    let mut visitors = people(&app).await;
    visitors.push(("an anonymous visitor", app.browser()));
    let mut answers = 0;
    for route in &routes {
        for (who, browser) in &visitors {
            let page = browser.clone().get(route).await;
            answers += 1;
            let context = format!("{who} at {route}: {}", page.status);
            assert!(!page.status.is_server_error(), "{context} {}", page.body);
            let header = |name: &str| {
                page.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
            };
            assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{context}");
            assert!(header("content-security-policy").contains("default-src 'self'"), "{context}");
            assert_eq!(header("x-content-type-options"), "nosniff", "{context}");
            assert_eq!(header("x-frame-options"), "DENY", "{context}");
            assert_eq!(header("referrer-policy"), "no-referrer", "{context}");
            if !route.starts_with("/static/") {
                assert_eq!(header("cache-control"), "no-store", "{context}");
            }
            for cookie in page.headers.get_all("set-cookie") {
                let cookie = cookie.to_str().unwrap();
                assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite="), "{context}: {cookie}");
                assert!(cookie.contains("Path=/"), "{context}: {cookie}");
            }
        }
    }
    assert!(answers >= 100, "{answers} answers checked");
}
