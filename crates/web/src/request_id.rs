//! Every request carries an id: taken from the client's `x-request-id` when it is a sensible token (a
//! proxy or load balancer in front usually sets one), otherwise made here. The id is in the span of
//! every log line the request writes, in the response's `x-request-id`, and on the 500 page as the
//! reference a person quotes to support, so one string joins what they saw to what the log says.
//!
//! The same middleware bounds how long a request may take and writes one log line per answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_core::ports::Entropy;
use tracing::Instrument;

use crate::errors::AppError;

/// The header that carries the id, both ways.
pub const HEADER: &str = "x-request-id";

/// The longest id accepted from a client; longer ones are replaced, never truncated.
const MAX_LEN: usize = 64;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The id of the request being answered on this task, if any.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// A client's id is kept only when it is short and made of characters safe in logs and headers.
fn accepted(value: &HeaderValue) -> Option<Arc<str>> {
    let text = value.to_str().ok()?;
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    (!text.is_empty() && text.len() <= MAX_LEN && text.chars().all(fine)).then(|| Arc::from(text))
}

/// 16 random bytes as hex.
fn fresh(entropy: &dyn Entropy) -> Arc<str> {
    let mut bytes = [0u8; 16];
    entropy.fill(&mut bytes);
    Arc::from(data_encoding::HEXLOWER.encode(&bytes))
}

/// What the middleware needs.
#[derive(Clone)]
pub struct RequestContext {
    pub entropy: Arc<dyn Entropy>,
    /// A request still running after this is answered 503 (and its work dropped).
    pub timeout: Duration,
}

/// Middleware (`from_fn_with_state(context, request_id::track)`): gives the request its id, runs it in a
/// span and within the timeout, logs the answer and returns the id in the response.
pub async fn track(State(context): State<RequestContext>, request: Request, next: Next) -> Response {
    let id = request.headers().get(HEADER).and_then(accepted).unwrap_or_else(|| fresh(&*context.entropy));
    // The route template, never the path: paths of e-mailed links carry their token.
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), route = %route);
    let started = Instant::now();
    let work = async move {
        match tokio::time::timeout(context.timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => AppError::TimedOut(context.timeout).into_response(),
        }
    };
    let mut response = CURRENT.scope(Arc::clone(&id), work.instrument(span.clone())).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_taken_from_clients() {
        let take = |text: &str| accepted(&HeaderValue::from_str(text).unwrap()).map(|id| id.to_string());
        assert_eq!(take("7f3a-99.b_c:1").as_deref(), Some("7f3a-99.b_c:1"));
        assert_eq!(take(""), None);
        assert_eq!(take(&"a".repeat(65)), None, "too long");
        assert_eq!(take("a b"), None, "spaces could forge log fields");
        assert_eq!(take("a\"b"), None);
        assert_eq!(take(&"a".repeat(64)).map(|id| id.len()), Some(64));
    }
}
