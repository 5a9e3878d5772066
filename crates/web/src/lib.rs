//! Keyward's HTTP face. `app()` builds the whole router, so tests drive it with
//! `tower::ServiceExt::oneshot` and no socket; the binary serves the same router.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use keyward_core::mail::Mailer;
use keyward_core::store::{HealthStore, Store};
use keyward_core::usecase::Services;

pub mod api;
pub mod assets;
pub mod errors;
pub mod guard;
pub mod hasher;
pub mod headers;
pub mod layout;
pub mod metrics;
pub mod pages;
pub mod proxies;
pub mod qr;
pub mod request_id;
pub mod session;

use hasher::BlockingHasher;
use pages::{account, api_clients, auth, enroll, security, security_keys, support, two_factor, wsapi};
use session::CookiePolicy;

/// What the handlers need from the process around them.
pub struct AppState<S, M> {
    /// The use cases with their ports: store, mailer, password hasher, key ring, clock, entropy.
    pub services: Services<S, M, BlockingHasher>,
    /// How session cookies are named and flagged (from the public URL's scheme).
    pub cookies: CookiePolicy,
    pub metrics: Arc<metrics::Metrics>,
    /// A request still running after this long is answered 503.
    pub request_timeout: std::time::Duration,
    /// Whether `/metrics` is served by this router; false when the binary serves [`metrics::router`] on
    /// a listen address of its own, so the figures are not public.
    pub metrics_on_main_listener: bool,
    /// The reverse proxies whose `X-Forwarded-For` names the client (default: none).
    pub trusted_proxies: proxies::TrustedProxies,
}

/// How long a request may run by default: long enough for a password hash queued behind a flood of
/// others, short enough that a stuck request does not hold a connection for ever.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl<S, M> AppState<S, M> {
    pub fn new(services: Services<S, M, BlockingHasher>) -> AppState<S, M> {
        let cookies = CookiePolicy::for_public_url(&services.settings.public_url);
        AppState {
            services,
            cookies,
            metrics: Arc::new(metrics::Metrics::default()),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            metrics_on_main_listener: true,
            trusted_proxies: proxies::TrustedProxies::default(),
        }
    }
}

/// The application's router.
pub fn app<S: Store + 'static, M: Mailer + 'static>(state: AppState<S, M>) -> Router {
    let metrics = state.metrics.clone();
    let metrics_route = if state.metrics_on_main_listener {
        Router::new().route(metrics::PATH, get(metrics::serve))
    } else {
        Router::new()
    };
    let request_context = request_id::RequestContext {
        entropy: Arc::clone(&state.services.entropy),
        timeout: state.request_timeout,
    };
    Router::new()
        .route("/", get(auth::home::<S, M>))
        .route("/signup", get(auth::sign_up_page::<S, M>).post(auth::sign_up::<S, M>))
        .route("/signup/{token}", get(auth::sign_up_link::<S, M>).post(auth::confirm_sign_up::<S, M>))
        .route("/login", get(auth::login_page::<S, M>).post(auth::log_in::<S, M>))
        .route("/login/otp", get(auth::otp_page_get::<S, M>).post(auth::otp_submit::<S, M>))
        .route(support::LOST_PATH, get(support::lost_page::<S, M>).post(support::lost::<S, M>))
        .route(security_keys::LOGIN_OPTIONS_PATH, post(security_keys::login_options::<S, M>))
        .route("/step-up", get(auth::step_up_page::<S, M>).post(auth::step_up_submit::<S, M>))
        .route("/logout", post(auth::log_out::<S, M>))
        .route("/password/forgot", get(auth::forgot_page::<S, M>).post(auth::forgot::<S, M>))
        .route("/password/{token}", get(auth::password_page::<S, M>).post(auth::set_password::<S, M>))
        .route(
            layout::USERS_AND_SECURITY_PATH,
            get(account::users_page::<S, M>).post(account::add_user::<S, M>),
        )
        .route("/account/users/reset", post(security::reset_factors::<S, M>))
        .route("/account/users/password-link", post(account::resend_password_link::<S, M>))
        .route("/account/users.csv", get(account::users_csv::<S, M>))
        .route(layout::MY_SECURITY_PATH, get(security::my_security::<S, M>))
        .route("/account/security/recovery-codes", post(security::new_recovery_codes::<S, M>))
        .route("/account/security/app", post(security::my_app::<S, M>))
        .route("/account/security/yubikey", post(security::my_yubikey::<S, M>))
        .route(security_keys::MINE_PATH, post(security_keys::register_mine::<S, M>))
        .route(security_keys::MINE_OPTIONS_PATH, post(security_keys::mine_options::<S, M>))
        .route(security_keys::MINE_REMOVE_PATH, post(security_keys::remove_mine::<S, M>))
        .route("/account/security/forget-browsers", post(security::forget_browsers::<S, M>))
        .route("/account/security/app/verify", post(security::my_app_verify::<S, M>))
        .route(layout::AUDIT_LOG_PATH, get(security::audit_log::<S, M>))
        .route(layout::API_CLIENTS_PATH, get(api_clients::page::<S, M>).post(api_clients::create::<S, M>))
        .route("/account/api-clients/revoke", post(api_clients::revoke::<S, M>))
        .route("/account/api-clients/yubico", post(api_clients::create_yubico::<S, M>))
        .route("/account/api-clients/yubico/remove", post(api_clients::remove_yubico::<S, M>))
        .route(
            "/account/two-factor",
            get(two_factor::settings::<S, M>).post(two_factor::save_settings::<S, M>),
        )
        .route(
            "/account/two-factor/totp",
            get(two_factor::totp::<S, M>).post(two_factor::send_enrollment::<S, M>),
        )
        .route(
            "/account/two-factor/yubikey",
            get(two_factor::yubikey::<S, M>).post(two_factor::register_yubikey::<S, M>),
        )
        .route("/account/two-factor/yubikey/remove", post(two_factor::remove_yubikey::<S, M>))
        .route(
            two_factor::SECURITY_KEYS,
            get(two_factor::security_keys::<S, M>).post(two_factor::send_enrollment_for_keys::<S, M>),
        )
        .route(
            "/account/two-factor/activate",
            get(two_factor::activate_page::<S, M>).post(two_factor::activate::<S, M>),
        )
        .route("/account/two-factor/deadline", post(two_factor::move_deadline::<S, M>))
        .route("/account/two-factor/remember", post(two_factor::remember_days::<S, M>))
        .route("/account/two-factor/activate/app", post(two_factor::own_app::<S, M>))
        .route("/account/two-factor/activate/verify", post(two_factor::own_app_verify::<S, M>))
        .route(
            "/account/two-factor/deactivate",
            get(two_factor::deactivate_page::<S, M>).post(two_factor::deactivate::<S, M>),
        )
        .route("/enroll/{token}", get(enroll::enroll_page::<S, M>))
        .route("/enroll/{token}/password", post(enroll::enroll_password::<S, M>))
        .route("/enroll/{token}/verify", post(enroll::enroll_verify::<S, M>))
        .route("/enroll/{token}/security-key", post(security_keys::enroll::<S, M>))
        .route("/enroll/{token}/security-key/options", post(security_keys::enroll_options::<S, M>))
        .route(layout::SUPPORT_PATH, get(support::home::<S, M>))
        .route(
            guard::SUPPORT_LOGIN_PATH,
            get(auth::support_login_page::<S, M>).post(auth::support_log_in::<S, M>),
        )
        .route(support::SETUP_PATH, get(support::setup_page::<S, M>).post(support::setup_verify::<S, M>))
        .route(support::SETUP_YUBIKEY_PATH, post(support::setup_yubikey::<S, M>))
        .route("/support/accounts/{id}", get(support::account::<S, M>))
        .route("/support/accounts/{id}/requests", post(support::open_request::<S, M>))
        .route("/support/requests/{id}", get(support::request::<S, M>))
        .route("/support/requests/{id}/approve", post(support::approve::<S, M>))
        .route("/support/requests/{id}/deny", post(support::deny::<S, M>))
        .route(wsapi::VERIFY_PATH, get(wsapi::verify::<S, M>))
        .merge(api::router::<S, M>())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S, M>))
        .merge(metrics_route)
        .route(assets::STYLE_PATH, get(assets::style_css))
        .route(assets::WEBAUTHN_PATH, get(assets::webauthn_js))
        // Layers wrap only the routes added above them: keep new routes above this line. The last
        // added is the outermost: the request id and its span surround everything, so a panic caught
        // below it is logged with the id and answered with the 500 page that shows it.
        .layer(axum::extract::DefaultBodyLimit::max(session::MAX_FORM_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(errors::panic_response))
        .layer(axum::middleware::from_fn_with_state(metrics.clone(), metrics::track))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn_with_state(request_context, request_id::track))
        .layer(Extension(metrics))
        .with_state(Arc::new(state))
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok\n"
}

/// The process can serve: its database answers.
async fn readyz<S: HealthStore, M>(State(state): State<Arc<AppState<S, M>>>) -> impl IntoResponse {
    match state.services.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(error) => {
            tracing::warn!(error = &error as &dyn std::error::Error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the database does not answer\n")
        }
    }
}
