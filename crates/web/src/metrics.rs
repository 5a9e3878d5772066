//! Prometheus metrics at `/metrics`, in the text exposition format (version 0.0.4), kept in a
//! `prometheus-client` registry of our own (no process-global state, so tests and several servers in one
//! process do not share counters).
//!
//! Labels come from small enums and the router's route templates, never from what clients send. Every
//! series of the enum-labelled families is created at start-up, so dashboards see zeros rather than
//! missing series.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Extension, MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_core::mail::{MailError, Mailer, Message};
use keyward_core::verdict::{FactorKind, Verdict};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Where the metrics are served.
pub const PATH: &str = "/metrics";

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The route label of requests that matched no route: one series for all of them, so scanners probing
/// random paths cannot create unbounded series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the latency buckets, in seconds: fine-grained around the 10 ms OTP target, coarse
/// up to the seconds a slow password hash under load may take.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How a password login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginResult {
    /// Signed in; no second factor needed.
    Success,
    /// The password was right; a second factor is owed.
    SecondFactorRequired,
    /// Wrong password or unknown user (one result: the page does not tell them apart either).
    Failed,
    /// Not checked: the username or the client address is throttled.
    Throttled,
}

impl LoginResult {
    const ALL: [LoginResult; 4] = [
        LoginResult::Success,
        LoginResult::SecondFactorRequired,
        LoginResult::Failed,
        LoginResult::Throttled,
    ];
    fn label(self) -> &'static str {
        match self {
            LoginResult::Success => "success",
            LoginResult::SecondFactorRequired => "second_factor_required",
            LoginResult::Failed => "failed",
            LoginResult::Throttled => "throttled",
        }
    }
}

/// How sending an e-mail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailResult {
    Sent,
    /// One attempt failed (it is tried again, or given up).
    Failed,
    /// The last attempt failed: the message stays undelivered, shown to the account's admins.
    GivenUp,
}

impl MailResult {
    const ALL: [MailResult; 3] = [MailResult::Sent, MailResult::Failed, MailResult::GivenUp];
    fn label(self) -> &'static str {
        match self {
            MailResult::Sent => "sent",
            MailResult::Failed => "failed",
            MailResult::GivenUp => "given_up",
        }
    }
}

/// Which budget refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThrottleBudget {
    /// Password guesses (per username and per client address).
    Password,
    /// One-time password guesses (per user).
    Otp,
}

impl ThrottleBudget {
    const ALL: [ThrottleBudget; 2] = [ThrottleBudget::Password, ThrottleBudget::Otp];
    fn label(self) -> &'static str {
        match self {
            ThrottleBudget::Password => "password",
            ThrottleBudget::Otp => "otp",
        }
    }
}

/// Encodes an enum label value by its `label()`.
macro_rules! label_value {
    ($($kind:ty),*) => {$(
        impl EncodeLabelValue for $kind {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                encoder.write_str(self.label())
            }
        }
    )*};
}
label_value!(LoginResult, MailResult, ThrottleBudget);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OtpLabels {
    factor: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LoginLabel {
    result: LoginResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MailLabel {
    result: MailResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BudgetLabel {
    budget: ThrottleBudget,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The process's metrics. Cheap to bump from any handler; shared as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    otp: Family<OtpLabels, Counter>,
    logins: Family<LoginLabel, Counter>,
    emails: Family<MailLabel, Counter>,
    throttled: Family<BudgetLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let metrics = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            durations: Family::new_with_constructor(latency_histogram),
            otp: Family::default(),
            logins: Family::default(),
            emails: Family::default(),
            throttled: Family::default(),
        };
        // `inc_by(0)` creates the series without counting anything.
        for factor in FactorKind::ALL {
            for result in Verdict::ALL {
                metrics.record_otp_by(factor, result, 0);
            }
        }
        for result in LoginResult::ALL {
            metrics.logins.get_or_create(&LoginLabel { result }).inc_by(0);
        }
        for result in MailResult::ALL {
            metrics.emails.get_or_create(&MailLabel { result }).inc_by(0);
        }
        for budget in ThrottleBudget::ALL {
            metrics.throttled.get_or_create(&BudgetLabel { budget }).inc_by(0);
        }
        metrics.register()
    }
}

impl Metrics {
    fn register(mut self) -> Metrics {
        let registry = &mut self.registry;
        // Counter names get their `_total` suffix from the encoder.
        registry.register(
            "keyward_http_requests",
            "HTTP requests answered, by route template and status",
            self.requests.clone(),
        );
        registry.register(
            "keyward_http_request_duration_seconds",
            "Time to answer HTTP requests, by route template",
            self.durations.clone(),
        );
        registry.register(
            "keyward_otp_verifications",
            "One-time password verifications, by factor and result",
            self.otp.clone(),
        );
        registry.register(
            "keyward_login_attempts",
            "Password login attempts, by result",
            self.logins.clone(),
        );
        registry.register("keyward_emails", "E-mails handed to the mailer, by result", self.emails.clone());
        registry.register(
            "keyward_throttle_refusals",
            "Attempts refused by a throttle, by budget",
            self.throttled.clone(),
        );
        self
    }

    /// Records one answered request.
    pub fn record_request(&self, route: &str, status: u16, elapsed: std::time::Duration) {
        self.requests.get_or_create(&RequestLabels { route: route.to_owned(), status }).inc();
        self.durations.get_or_create(&RouteLabels { route: route.to_owned() }).observe(elapsed.as_secs_f64());
    }

    /// Records one OTP verification.
    pub fn record_otp(&self, factor: FactorKind, verdict: Verdict) {
        self.record_otp_by(factor, verdict, 1);
    }

    fn record_otp_by(&self, factor: FactorKind, verdict: Verdict, count: u64) {
        self.otp
            .get_or_create(&OtpLabels { factor: factor.as_str(), result: verdict.as_str() })
            .inc_by(count);
    }

    /// Records one password login attempt.
    pub fn record_login(&self, result: LoginResult) {
        self.logins.get_or_create(&LoginLabel { result }).inc();
    }

    /// Records the messages the delivery worker gave up on.
    pub fn record_given_up(&self, count: u64) {
        self.emails.get_or_create(&MailLabel { result: MailResult::GivenUp }).inc_by(count);
    }

    /// Records one e-mail handed to the mailer.
    pub fn record_email(&self, result: MailResult) {
        self.emails.get_or_create(&MailLabel { result }).inc();
    }

    /// Records one attempt refused by a throttle.
    pub fn record_throttled(&self, budget: ThrottleBudget) {
        self.throttled.get_or_create(&BudgetLabel { budget }).inc();
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        if let Err(error) = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry) {
            // Only a label value that cannot be written fails; ours are fixed strings and templates.
            tracing::error!(%error, "the metrics could not be encoded");
        }
        out
    }
}

/// Middleware (`from_fn_with_state(metrics, track)`): counts and times each request by its route
/// template, and makes the metrics available to handlers as `Extension<Arc<Metrics>>`.
pub async fn track(
    axum::extract::State(metrics): axum::extract::State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |path| path.as_str().to_owned());
    request.extensions_mut().insert(Arc::clone(&metrics));
    // A monotonic clock measures durations; it is not the wall clock the domain must not read.
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.record_request(&route, response.status().as_u16(), started.elapsed());
    response
}

/// A [`Mailer`] that counts each attempt to send, and each failure, around the real one.
pub struct CountingMailer<M> {
    inner: M,
    metrics: Arc<Metrics>,
}

impl<M> CountingMailer<M> {
    pub fn new(inner: M, metrics: Arc<Metrics>) -> CountingMailer<M> {
        CountingMailer { inner, metrics }
    }
}

impl<M: Mailer> Mailer for CountingMailer<M> {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let sent = self.inner.send(message).await;
        self.metrics.record_email(if sent.is_ok() { MailResult::Sent } else { MailResult::Failed });
        sent
    }
}

/// `/metrics` alone, for a listener of its own.
pub fn router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route(PATH, axum::routing::get(serve)).layer(axum::Extension(metrics))
}

/// `GET /metrics`.
pub async fn serve(Extension(metrics): Extension<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render())
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use tower::ServiceExt;

    use std::time::Duration;

    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn counters_render_with_help_type_and_labels() {
        let metrics = Metrics::default();
        metrics.record_otp(FactorKind::Totp, Verdict::Ok);
        metrics.record_otp(FactorKind::Totp, Verdict::Ok);
        metrics.record_otp(FactorKind::Yubikey, Verdict::Replayed);
        metrics.record_login(LoginResult::Failed);
        metrics.record_email(MailResult::Sent);
        metrics.record_request("/login", 200, Duration::from_millis(3));
        let text = metrics.render();
        let lines = lines(&text);
        for expected in [
            "# HELP keyward_otp_verifications_total One-time password verifications, by factor and result.",
            "# TYPE keyward_otp_verifications_total counter",
            "keyward_otp_verifications_total{factor=\"totp\",result=\"ok\"} 2",
            "keyward_otp_verifications_total{factor=\"totp\",result=\"invalid\"} 0",
            "keyward_otp_verifications_total{factor=\"yubikey\",result=\"replayed\"} 1",
            "keyward_otp_verifications_total{factor=\"recovery_code\",result=\"throttled\"} 0",
            "# TYPE keyward_login_attempts_total counter",
            "keyward_login_attempts_total{result=\"failed\"} 1",
            "keyward_login_attempts_total{result=\"success\"} 0",
            "keyward_emails_total{result=\"sent\"} 1",
            "keyward_emails_total{result=\"failed\"} 0",
            "# TYPE keyward_http_requests_total counter",
            "# TYPE keyward_http_request_duration_seconds histogram",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(text.ends_with('\n'));
        // Every sample line is `name{labels} value` with a numeric value.
        for line in lines.iter().filter(|line| !line.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn histograms_are_cumulative_and_count_everything() {
        let metrics = Metrics::default();
        metrics.record_request("/login", 200, Duration::from_micros(800)); // ≤ 0.001
        metrics.record_request("/login", 200, Duration::from_millis(7)); // ≤ 0.01
        metrics.record_request("/login", 422, Duration::from_millis(10)); // ≤ 0.01 (bounds are inclusive)
        metrics.record_request("/login", 429, Duration::from_secs(60)); // only +Inf
        let text = metrics.render();
        let lines = lines(&text);
        for expected in [
            "keyward_http_requests_total{route=\"/login\",status=\"200\"} 2",
            "keyward_http_requests_total{route=\"/login\",status=\"422\"} 1",
            "keyward_http_requests_total{route=\"/login\",status=\"429\"} 1",
            "keyward_http_request_duration_seconds_bucket{route=\"/login\",le=\"0.001\"} 1",
            "keyward_http_request_duration_seconds_bucket{route=\"/login\",le=\"0.005\"} 1",
            "keyward_http_request_duration_seconds_bucket{route=\"/login\",le=\"0.01\"} 3",
            "keyward_http_request_duration_seconds_bucket{route=\"/login\",le=\"30\"} 3",
            "keyward_http_request_duration_seconds_bucket{route=\"/login\",le=\"+Inf\"} 4",
            "keyward_http_request_duration_seconds_count{route=\"/login\"} 4",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        let sum = lines
            .iter()
            .find_map(|line| {
                line.strip_prefix("keyward_http_request_duration_seconds_sum{route=\"/login\"} ")
            })
            .unwrap();
        assert!((sum.parse::<f64>().unwrap() - 60.0178).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.record_request("/a\"b\\c\nd", 200, Duration::ZERO);
        assert!(metrics.render().contains("route=\"/a\\\"b\\\\c\\nd\",status=\"200\"} 1"));
    }

    #[tokio::test]
    async fn the_middleware_counts_by_route_template_and_serves_the_text() {
        let metrics = Arc::new(Metrics::default());
        let router = Router::new()
            .route("/users/{id}", get(|| async { "user" }))
            .route(PATH, get(serve))
            .layer(from_fn_with_state(Arc::clone(&metrics), track));
        for path in ["/users/1", "/users/2", "/nope/1", "/nope/2"] {
            router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        }
        let response = router.oneshot(Request::get(PATH).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains("keyward_http_requests_total{route=\"/users/{id}\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("keyward_http_requests_total{route=\"unmatched\",status=\"404\"} 2\n"),
            "{text}"
        );
        assert!(!text.contains("/users/1"), "ids never become labels");
        assert!(!text.contains("/nope"), "unmatched paths never become labels");
    }
}
