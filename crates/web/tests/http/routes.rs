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

/// Who may reach a page (answered 200) among the visitors of the matrix, by the page's path.
fn allowed(route: &str, who: &str) -> Option<bool> {
    let member = matches!(who, "a user" | "an admin" | "an admin of another account");
    let admin = matches!(who, "an admin" | "an admin of another account");
    Some(match route {
        // Open to all, whatever the session; where one goes next is not access.
        "/" | "/signup" | "/login" | "/password/forgot" | "/healthz" | "/readyz" | "/metrics"
        | "/support/login" => {
            return None;
        }
        r if r.starts_with("/static/") || r.starts_with("/api/") || r.starts_with("/wsapi/") => return None,
        // A link's page with a token nobody was given: nobody.
        r if r.starts_with("/signup/") || r.starts_with("/password/") || r.starts_with("/enroll/") => false,
        "/login/otp" | "/login/lost" => who == "a member between the steps",
        // Only for an operator between the steps of their first login: none of these visitors.
        "/support/setup" => false,
        "/step-up" | "/account/security" => member,
        r if r.starts_with("/account/") => admin,
        // The console's pages of an id may be 404 for the operator too: only the others are checked.
        r if r.starts_with("/support/accounts/") || r.starts_with("/support/requests/") => {
            if who == "an operator" {
                return None;
            }
            false
        }
        r if r.starts_with("/support") => who == "an operator",
        other => panic!("{other}: say who may reach it in allowed()"),
    })
}

/// Every page of the router × every kind of visitor: anonymous, between the login's two steps, a user, an
/// admin, an admin of another account, an operator. Each reaches exactly the pages of its role.
#[tokio::test]
async fn the_authorization_matrix_of_every_page_and_every_kind_of_visitor() {
    let Some(app) = spawn_app("authorization-matrix").await else { return };
    let mut visitors = people(&app).await;
    // A user with an app, fully logged in.
    let mut admin = visitors[0].1.clone();
    crate::story::add_user(&app, &mut admin, "bob@acme.example").await;
    let mut bob = app.browser();
    let app_of_bob = crate::rebinding::enroll(&app, &mut admin, &mut bob, "bob@acme.example").await;
    let mut user = app.browser();
    log_in(&mut user, "bob@acme.example", PASSWORD).await;
    app.advance(30);
    let code = app_of_bob.code_at(app.now()).unwrap().to_string();
    let in_ = user.submit("/login/otp", "/login/otp", &[("otp", &code)]).await;
    assert_eq!(in_.location.as_deref(), Some("/"), "{}", in_.body);
    visitors.push(("a user", user));
    let mut other = sign_up(&app, "Other Co", "mallory@other.example").await;
    let every_method =
        [("totp", "on"), ("yubikey", "on"), ("webauthn", "on"), ("policy", "Call +45 70 20 30 40")];
    other.submit("/account/two-factor", "/account/two-factor", &every_method).await;
    visitors.push(("an admin of another account", other));
    visitors.push(("an anonymous visitor", app.browser()));

    let mut cells = 0;
    for route in get_routes() {
        for (who, browser) in &visitors {
            let Some(may) = allowed(&route, who) else { continue };
            let page = browser.clone().get(&route).await;
            cells += 1;
            // A method's tab the account did not choose sends its admin to the Settings tab, a sensitive
            // page asks for a step-up first: the visitor is let in, further along.
            let further = page
                .location
                .as_deref()
                .is_some_and(|to| to == "/account/two-factor" || to.starts_with("/step-up?"));
            let reached = page.status == StatusCode::OK || (page.status == StatusCode::SEE_OTHER && further);
            assert_eq!(reached, may, "{who} at {route}: {} {:?}", page.status, page.location);
        }
    }
    assert!(cells >= 120, "{cells} cells of the matrix checked");
}
