//! `GET /wsapi/2.0/verify`: the Yubico Validation Protocol 2.0, answered as plain `key=value` lines.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase;
use keyward_core::verdict::FactorKind;
use keyward_core::wsapi::Status;

use super::SharedState;

/// The path Yubico's clients append to a server's base URL.
pub const VERIFY_PATH: &str = "/wsapi/2.0/verify";

pub async fn verify<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    RawQuery(query): RawQuery,
) -> Response {
    let body =
        match usecase::answer_verify_request(&state.services, query.as_deref().unwrap_or_default()).await {
            Ok(answer) => {
                if let Some(verdict) = answer.verdict {
                    state.metrics.record_otp(FactorKind::Yubikey, verdict);
                }
                answer.response.body()
            }
            Err(failure) => {
                // The protocol's own word for a failure on our side; the cause goes to the log only.
                let cause = crate::errors::cause_chain(&failure);
                tracing::error!(%cause, "a Validation Protocol request failed");
                format!("status={}\r\n\r\n", Status::BackendError.as_str())
            }
        };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
