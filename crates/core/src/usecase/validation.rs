//! Keyward as a Yubico Validation Protocol 2.0 server (`GET /wsapi/2.0/verify`), for Yubico's own clients
//! (`ykclient`, `pam_yubico`, the Python client): OTPs of keys whose secret was imported, under the same
//! (counter, use) rule and the same single conditional update as logins, so an OTP accepted here is
//! refused at a login and the other way round. Every answer is signed with the client's key, except
//! NO_SUCH_CLIENT and a request that names no client, where no key is known.

use super::{Failure, Services};
use crate::Error;
use crate::client::yubico_client_seal_context;
use crate::mail::Mailer;
use crate::ports::PasswordHasher;
use crate::store::Store;
use crate::validate::{Rejection, check_local_yubikey_otp};
use crate::verdict::Verdict;
use crate::wsapi::{ClientKey, QueryParams, Status, VerifyRequest, VerifyResponse};

/// The answer to one verify request.
#[derive(Debug)]
pub struct ValidationAnswer {
    pub response: VerifyResponse,
    /// What the OTP check found, when the request got that far (for the metrics).
    pub verdict: Option<Verdict>,
}

fn unwritable(error: crate::wsapi::ResponseError) -> Failure {
    Failure::Internal(Error::ProtocolAnswer(error.to_string()))
}

/// Answers the verify request in `query` (the raw query string, without `?`).
pub async fn answer_verify_request<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    query: &str,
) -> Result<ValidationAnswer, Failure> {
    let now = services.now().protocol_timestamp();
    let unsigned = |status: Status| -> Result<ValidationAnswer, Failure> {
        let params = [("t", now.as_str()), ("status", status.as_str())];
        let response = VerifyResponse::unsigned(&params).map_err(unwritable)?;
        Ok(ValidationAnswer { response, verdict: None })
    };
    let Ok(params) = QueryParams::parse(query) else { return unsigned(Status::MissingParameter) };
    let Some(id) = params.get("id").and_then(|id| id.parse::<i64>().ok()) else {
        return unsigned(Status::MissingParameter);
    };
    let Some(client) = services.store.find_yubico_client(id).await? else {
        return unsigned(Status::NoSuchClient);
    };
    let key = ClientKey::from_bytes(&services.keys.open(&client.key, &yubico_client_seal_context(id))?)
        .map_err(|_| {
            Failure::Internal(Error::CorruptRecord(format!("the key of Validation Protocol client {id}")))
        })?;
    // Echo what the client sent, so it can match the answer to its request; a value that could not be
    // one line of the answer (a line break, say) is left out.
    let echo =
        |name| params.get(name).filter(|value| !value.chars().any(char::is_control)).unwrap_or_default();
    let (otp, nonce) = (echo("otp"), echo("nonce"));
    let signed = |status: Status, extra: &[(&str, String)], verdict: Option<Verdict>| {
        let mut answer: Vec<(&str, &str)> = vec![("t", now.as_str())];
        if !otp.is_empty() {
            answer.push(("otp", otp));
        }
        if !nonce.is_empty() {
            answer.push(("nonce", nonce));
        }
        answer.extend(extra.iter().map(|(name, value)| (*name, value.as_str())));
        answer.push(("status", status.as_str()));
        let response = VerifyResponse::signed(&answer, &key).map_err(unwritable)?;
        Ok::<_, Failure>(ValidationAnswer { response, verdict })
    };
    if params.is_signed() && !params.signature_valid(&key) {
        return signed(Status::BadSignature, &[], None);
    }
    let request = match VerifyRequest::from_params(&params) {
        Ok(request) => request,
        Err(error) => return signed(error.status(), &[], None),
    };
    let sl = request.sl.map(|_| ("sl", "100".to_owned()));
    let with_sl = |mut extra: Vec<(&'static str, String)>| {
        extra.extend(sl.clone());
        extra
    };
    // A client of one account validates only that account's keys; one made by the operator, any key.
    if let Some(account) = client.account_id {
        let owner = match services.store.find_yubikey(request.otp.public_id()).await?.and_then(|k| k.user_id)
        {
            Some(user_id) => services.store.find_user(user_id).await?,
            None => None,
        };
        if owner.is_none_or(|owner| owner.account_id != account) {
            return signed(Status::BadOtp, &with_sl(Vec::new()), Some(Verdict::Invalid));
        }
    }
    let nonce = Some(request.nonce.as_str());
    match check_local_yubikey_otp(&services.store, &services.keys, &request.otp, nonce).await? {
        Ok(accepted) => {
            let mut extra = Vec::new();
            if request.timestamp {
                extra.push(("timestamp", accepted.token.timestamp().to_string()));
                extra.push(("sessioncounter", accepted.token.counter.to_string()));
                extra.push(("sessionuse", accepted.token.session_use.to_string()));
            }
            signed(Status::Ok, &with_sl(extra), Some(Verdict::Ok))
        }
        Err(Rejection::Replayed(position)) => {
            let Some(key) = services.store.find_yubikey(request.otp.public_id()).await? else {
                return signed(Status::ReplayedOtp, &with_sl(Vec::new()), Some(Verdict::Replayed));
            };
            let status =
                if services.store.is_repeated_request(key.id, position, request.nonce.as_str()).await? {
                    Status::ReplayedRequest
                } else {
                    Status::ReplayedOtp
                };
            signed(status, &with_sl(Vec::new()), Some(Verdict::Replayed))
        }
        Err(Rejection::UnknownKey(_) | Rejection::NotLocal(_) | Rejection::Invalid(_)) => {
            signed(Status::BadOtp, &with_sl(Vec::new()), Some(Verdict::Invalid))
        }
    }
}
