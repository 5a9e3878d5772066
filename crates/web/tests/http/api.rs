//! The JSON API from a plain HTTP client, as an integrator reads it in the OpenAPI document: a key made
//! on the API clients page, the account and its users, verifying a user's code, problems for every
//! mistake, and a revoked key refused.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::app::{TestApp, spawn_app};
use crate::auth::sign_up;
use crate::rebinding::enroll;
use crate::story::add_user;

const ALICE: &str = "alice@acme.example";

/// One request to the API; the status, the content type and the body as JSON (or `Null`).
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<(&str, &str)>,
) -> (StatusCode, String, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let request = match body {
        Some((content_type, body)) => {
            request.header(header::CONTENT_TYPE, content_type).body(Body::from(body.to_owned())).unwrap()
        }
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.router.clone().oneshot(request).await.unwrap();
    app.deliver_mail().await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, content_type, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Every property the document's schema `name` requires is in `value`.
fn conforms(document: &Value, name: &str, value: &Value) {
    let schema = &document["components"]["schemas"][name];
    for required in schema["required"].as_array().unwrap() {
        let field = required.as_str().unwrap();
        assert!(value.get(field).is_some(), "{name} requires {field}: {value}");
    }
}

fn assert_problem(answer: &(StatusCode, String, Value), status: StatusCode) {
    assert_eq!(answer.0, status, "{}", answer.2);
    assert_eq!(answer.1, "application/problem+json");
    assert_eq!(answer.2["status"], status.as_u16());
    assert!(!answer.2["detail"].as_str().unwrap().is_empty(), "a problem says what is wrong");
}

#[tokio::test]
async fn an_application_verifies_codes_through_the_json_api() {
    let Some(app) = spawn_app("api").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let policy = [("totp", "on"), ("yubikey", "on"), ("policy", "Call +45 33 12 34 56 first")];
    admin.submit("/account/two-factor", "/account/two-factor", &policy).await;
    add_user(&app, &mut admin, ALICE).await;
    let alices_app = enroll(&app, &mut admin, &mut app.browser(), ALICE).await;
    sign_up(&app, "Other", "boss@other.example").await;

    // The document lists every route, and the router serves each one (401 without a key, never 404).
    let (status, _, document) = call(&app, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "{}", document["openapi"]);
    let mut routes = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            routes.insert(format!("{} {path}", method.to_uppercase()));
            let answer = call(&app, &method.to_uppercase(), path, None, None).await;
            assert_problem(&answer, StatusCode::UNAUTHORIZED);
        }
    }
    let expected: BTreeSet<String> = [
        "POST /api/v1/verify",
        "GET /api/v1/users",
        "GET /api/v1/account",
        "POST /api/v1/users",
        "POST /api/v1/users/{id}/totp",
        "POST /api/v1/users/{id}/totp/confirm",
        "POST /api/v1/users/{id}/invitation",
        "POST /api/v1/users/{id}/yubikeys",
    ]
    .map(String::from)
    .into();
    assert_eq!(routes, expected);
    assert_problem(&call(&app, "GET", "/api/v1/nothing-here", None, None).await, StatusCode::NOT_FOUND);
    let wrong_method = call(&app, "DELETE", "/api/v1/users", None, None).await;
    assert_problem(&wrong_method, StatusCode::METHOD_NOT_ALLOWED);

    // The admin makes a key on the API clients page; it is shown once.
    let made = admin.submit("/account/api-clients", "/account/api-clients", &[("name", "Billing app")]).await;
    let key = made.element_text("api-key");
    assert_eq!(key.len(), 43, "{}", made.body);
    assert!(!admin.get("/account/api-clients").await.contains(&key), "shown only once");
    assert_problem(
        &call(&app, "GET", "/api/v1/account", Some("not-a-key"), None).await,
        StatusCode::UNAUTHORIZED,
    );

    let (status, _, account) = call(&app, "GET", "/api/v1/account", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    conforms(&document, "AccountAnswer", &account);
    assert_eq!((account["name"].as_str(), account["active"].as_bool()), (Some("ACME"), Some(false)));
    assert_eq!((account["users"].as_u64(), account["enrolled"].as_u64()), (Some(2), Some(1)));
    let (_, _, users) = call(&app, "GET", "/api/v1/users", Some(&key), None).await;
    conforms(&document, "UsersAnswer", &users);
    let alice = users["users"].as_array().unwrap().iter().find(|u| u["email"] == ALICE).unwrap().clone();
    conforms(&document, "UserEntry", &alice);
    assert_eq!(
        (alice["status"].as_str(), alice["factors"].clone()),
        (Some("enrolled"), serde_json::json!(["totp"]))
    );
    assert!(!users.to_string().contains("boss@other.example"), "only its own account");

    // Verifying: a fresh code once, then a replay, a wrong code; mistakes are problems.
    let json = "application/json";
    let verify = |body: String| {
        let (app, key) = (&app, key.clone());
        async move { call(app, "POST", "/api/v1/verify", Some(&key), Some((json, &body))).await }
    };
    app.advance(30);
    let code = alices_app.code_at(app.now()).unwrap().to_string();
    let body = serde_json::json!({"email": ALICE, "otp": code}).to_string();
    let (status, _, first) = verify(body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    conforms(&document, "VerifyAnswer", &first);
    assert_eq!((first["verdict"].as_str(), first["factor"].as_str()), (Some("ok"), Some("totp")));
    let verdicts = &document["components"]["schemas"]["VerifyAnswer"]["properties"]["verdict"]["enum"];
    assert!(verdicts.as_array().unwrap().contains(&first["verdict"]), "{verdicts}");
    assert_eq!(verify(body).await.2["verdict"], "replayed");
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(
        verify(serde_json::json!({"email": ALICE, "otp": wrong}).to_string()).await.2["verdict"],
        "invalid"
    );

    let other = serde_json::json!({"email": "boss@other.example", "otp": "123456"}).to_string();
    assert_problem(&verify(other).await, StatusCode::NOT_FOUND);
    assert_problem(&verify("{not json".into()).await, StatusCode::BAD_REQUEST);
    let unknown_field = serde_json::json!({"email": ALICE, "otp": "1", "admin": true}).to_string();
    assert_problem(&verify(unknown_field).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(
        &verify(serde_json::json!({"email": ALICE}).to_string()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let form = call(&app, "POST", "/api/v1/verify", Some(&key), Some(("text/plain", "email=x"))).await;
    assert_problem(&form, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"email\":\"{}\",\"otp\":\"1\"}}", "a".repeat(100_000));
    assert_problem(&verify(huge).await, StatusCode::PAYLOAD_TOO_LARGE);

    // Enrolling through the API alone: add Bob, start his app, confirm its first code, verify the next.
    let post = |path: String, body: Value| {
        let (app, key) = (&app, key.clone());
        async move { call(app, "POST", &path, Some(&key), Some((json, &body.to_string()))).await }
    };
    let (status, _, added) =
        post("/api/v1/users".into(), serde_json::json!({"email": "bob@acme.example"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{added}");
    conforms(&document, "AddUserAnswer", &added);
    let (_, _, users) = call(&app, "GET", "/api/v1/users", Some(&key), None).await;
    let bob = users["users"].as_array().unwrap().iter().find(|u| u["email"] == "bob@acme.example").unwrap();
    let bob_id = bob["id"].as_i64().unwrap();
    let (status, _, started) = post(format!("/api/v1/users/{bob_id}/totp"), serde_json::json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    conforms(&document, "StartTotpAnswer", &started);
    let uri = started["otpauth_uri"].as_str().unwrap();
    let parsed = keyward_core::otp::OtpAuthUri::parse(uri).unwrap();
    let bobs_app = keyward_core::otp::Totp::new(&parsed.secret, parsed.params).unwrap();
    let code = bobs_app.code_at(app.now()).unwrap().to_string();
    let confirm = format!("/api/v1/users/{bob_id}/totp/confirm");
    let (status, _, confirmed) = post(confirm.clone(), serde_json::json!({"code": code})).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    conforms(&document, "ConfirmTotpAnswer", &confirmed);
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    assert_problem(&post(confirm, serde_json::json!({"code": code})).await, StatusCode::UNPROCESSABLE_ENTITY);
    app.advance(30);
    let next = bobs_app.code_at(app.now()).unwrap().to_string();
    let (_, _, verdict) =
        verify(serde_json::json!({"email": "bob@acme.example", "otp": next}).to_string()).await;
    assert_eq!(verdict["verdict"], "ok");

    // Alice has an app: a new one needs her current code, not the key alone.
    let alice_id = alice["id"].as_i64().unwrap();
    let owed = post(format!("/api/v1/users/{alice_id}/totp"), serde_json::json!({})).await;
    assert_problem(&owed, StatusCode::UNPROCESSABLE_ENTITY);
    let current = alices_app.code_at(app.now()).unwrap().to_string();
    let proven =
        post(format!("/api/v1/users/{alice_id}/totp"), serde_json::json!({"current_otp": current})).await;
    assert_eq!(proven.0, StatusCode::CREATED, "{}", proven.2);
    assert_problem(
        &post("/api/v1/users/nobody/totp".into(), serde_json::json!({})).await,
        StatusCode::NOT_FOUND,
    );

    // An enrollment e-mail, and a YubiKey registered by a touch (Alice must prove her app first).
    let before = app.links_to("bob@acme.example").len();
    let (status, _, sent) = post(format!("/api/v1/users/{bob_id}/invitation"), Value::Null).await;
    assert_eq!((status, sent["email"].as_str()), (StatusCode::ACCEPTED, Some("bob@acme.example")), "{sent}");
    let links = app.links_to("bob@acme.example");
    assert!(links.len() > before && links.last().unwrap().starts_with("/enroll/"), "{links:?}");
    let mut yubikey = crate::story::imported_key(&app, "vvcccccccccc", 3).await;
    let yubikeys = format!("/api/v1/users/{alice_id}/yubikeys");
    let touch = crate::story::touch(&mut yubikey);
    assert_problem(
        &post(yubikeys.clone(), serde_json::json!({"otp": touch})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    app.advance(30);
    let current = alices_app.code_at(app.now()).unwrap().to_string();
    let touch = crate::story::touch(&mut yubikey);
    let (status, _, registered) =
        post(yubikeys, serde_json::json!({"otp": touch, "current_otp": current})).await;
    assert_eq!(
        (status, registered["public_id"].as_str()),
        (StatusCode::CREATED, Some("vvcccccccccc")),
        "{registered}"
    );
    conforms(&document, "RegisterYubikeyAnswer", &registered);

    // A Validation Protocol client of the account validates its users' keys, and no one else's.
    let made = admin.submit("/account/api-clients", "/account/api-clients/yubico", &[("name", "VPN")]).await;
    let (yubico_id, yubico_key) = (made.element_text("yubico-id"), made.element_text("yubico-key"));
    assert_eq!(yubico_key.len(), 28, "{}", made.body);
    let status_of =
        |answer: &str| answer.lines().find_map(|l| l.strip_prefix("status=")).unwrap_or("").to_owned();
    let ask = format!("/wsapi/2.0/verify?id={yubico_id}&nonce=abcdefghijklmnopqrst&otp=");
    let answer = app.browser().get(&format!("{ask}{}", crate::story::touch(&mut yubikey))).await.body;
    assert_eq!(status_of(&answer), "OK", "{answer}");
    let mut stranger = crate::story::imported_key(&app, "vvccccccccdd", 4).await;
    let answer = app.browser().get(&format!("{ask}{}", crate::story::touch(&mut stranger))).await.body;
    assert_eq!(status_of(&answer), "BAD_OTP", "a key of nobody in the account: {answer}");
    let page = admin.get("/account/api-clients").await;
    let remove = [("csrf", page.csrf()), ("id", yubico_id.clone())];
    let remove: Vec<(&str, &str)> = remove.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(admin.post("/account/api-clients/yubico/remove", &remove).await.contains("was removed"));
    let answer = app.browser().get(&format!("{ask}{}", crate::story::touch(&mut yubikey))).await.body;
    assert_eq!(status_of(&answer), "NO_SUCH_CLIENT", "{answer}");

    // Revoked, the key stops working.
    let page = admin.get("/account/api-clients").await;
    let id = page.hidden("id");
    admin.post("/account/api-clients/revoke", &[("csrf", &page.csrf()), ("id", &id)]).await;
    assert_problem(&call(&app, "GET", "/api/v1/account", Some(&key), None).await, StatusCode::UNAUTHORIZED);
}

/// Schemathesis, generating requests from the OpenAPI document against a served router, finds no 5xx
/// and no answer the document does not describe (status, content type, body schema).
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_every_answer_in_the_document() {
    let Some(python) = keyward_testkit::python_with("schemathesis") else { return };
    let Some(app) = spawn_app("schemathesis").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    let policy = [("totp", "on"), ("yubikey", "on"), ("policy", "Call +45 33 12 34 56 first")];
    admin.submit("/account/two-factor", "/account/two-factor", &policy).await;
    add_user(&app, &mut admin, ALICE).await;
    let made = admin.submit("/account/api-clients", "/account/api-clients", &[("name", "Fuzzer")]).await;
    let key = made.element_text("api-key");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = app.router.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    let work = std::env::temp_dir().join(format!("keyward-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let schemathesis = python.with_file_name("schemathesis");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(schemathesis)
            .current_dir(&work)
            .arg("run")
            .args([&format!("http://127.0.0.1:{port}/api/openapi.json"), "-H", &format!("Authorization: Bearer {key}")])
            .args(["--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"])
            .args(["--max-examples", "30", "--generation-database", "none", "--no-color", "--seed", "7"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains("passed"), "{report}");
}
