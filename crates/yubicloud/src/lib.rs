//! Keyward as a client of YubiCloud: asks Yubico Validation Protocol 2.0 servers whether a YubiKey OTP
//! is valid, for keys "as shipped", whose AES secret Keyward never sees (DESIGN.md, "Factors: YubiKey
//! OTP", YubiCloud mode).
//!
//! The protocol's logic (signatures, nonce, request and response formats, the echo checks) lives in
//! [`keyward_core::wsapi`]; this crate adds only the HTTP around it.
//!
//! # Several servers: in parallel, first usable answer wins
//!
//! Like Yubico's C client `ykclient` (and `pam_yubico`, which uses it), [`YubiCloudClient::verify`] sends
//! the same request (one nonce) to every configured server at once and takes the first answer that
//! passes every check of [`keyward_core::wsapi::VerifyResponse::check`] and carries a verdict on the OTP
//! (`OK`, `BAD_OTP`, `REPLAYED_OTP`); the other requests are then cancelled. Sequential fail-over would
//! make a slow or dead first server cost a whole timeout on every login; in parallel, the answer comes as
//! fast as the fastest healthy server. Yubico's servers of a pool sync with each other, so the request
//! arriving at several of them is expected: the others answer `REPLAYED_REQUEST` (same OTP and nonce),
//! which, as in `ykclient`, is not a verdict and is passed over.
//!
//! Where we differ from `ykclient`, on purpose: a response with a bad signature, a wrong echo, a malformed
//! body, `BACKEND_ERROR` or `NOT_ENOUGH_ANSWERS` does not end the wait. It counts as "this server gave no
//! answer" and another server may still answer; such a response can never be taken for a verdict, so
//! waiting costs no safety and saves a login when one server (or the path to it) misbehaves. Today's
//! YubiCloud is one load-balanced URL ([`YUBICLOUD_URL`]); several URLs matter for self-hosted pools.
//!
//! # Randomness
//!
//! The nonce comes from the caller's `rng`, used before the first `.await`, so the returned future holds
//! no reference to it (only `crates/keyward/src/adapters.rs` reads the operating system's randomness).
//!
//! # TLS
//!
//! reqwest 0.13 with rustls and the *ring* provider (reqwest's `rustls-no-provider`; we build the
//! `rustls::ClientConfig` ourselves), verifying certificates against the operating system's trust store
//! (rustls-platform-verifier, which reqwest uses anyway), so a self-hosted server with an in-house CA works
//! once its CA is installed. No aws-lc-rs, no OpenSSL.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keyward_core::wsapi::{ClientKey, Nonce, ResponseError, Status, VerifyRequest, VerifyResponse};
use keyward_core::yubico::YubikeyOtp;
use rand_core::CryptoRng;
use reqwest::Url;
use rustls_platform_verifier::BuilderVerifierExt;
use tokio::task::JoinSet;

/// YubiCloud's verify endpoint. Yubico retired `api2`…`api5.yubico.com` in favour of this one
/// load-balanced name.
pub const YUBICLOUD_URL: &str = "https://api.yubico.com/wsapi/2.0/verify";

/// The largest response body read. A verify response is a few hundred bytes; more is not one, and a
/// limit keeps a hostile or broken server from filling memory.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What a validation server said about the OTP, once its answer passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `OK`: the OTP is valid and was not seen before; the key's owner touched it just now.
    Valid,
    /// `BAD_OTP`: the server does not accept the OTP: malformed, not decrypting, or of a key it does not
    /// know. Counts as a wrong OTP.
    BadOtp,
    /// `REPLAYED_OTP`: the OTP was already used (perhaps captured and typed again). Counts as a wrong OTP.
    Replayed,
}

impl Verdict {
    /// The verdict an answer's status carries, if it carries one.
    fn of(status: Status) -> Option<Verdict> {
        match status {
            Status::Ok => Some(Verdict::Valid),
            Status::BadOtp => Some(Verdict::BadOtp),
            Status::ReplayedOtp => Some(Verdict::Replayed),
            _ => None,
        }
    }
}

/// Why one server gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerFailure {
    /// No complete answer within the configured timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection or the HTTP exchange failed (refused, reset, TLS or certificate error).
    #[error("the request failed: {0}")]
    Transport(String),
    /// An HTTP status other than 200.
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    /// A body larger than a verify response can be.
    #[error("the answer is larger than {MAX_BODY_BYTES} bytes: not a verify response")]
    TooLarge,
    /// A body that is not UTF-8 text.
    #[error("the answer is not UTF-8 text")]
    NotText,
    /// A body that is not a trustworthy answer to our request: malformed, unsigned or badly signed, or
    /// echoing another OTP or nonce.
    #[error("{0}")]
    Response(#[from] ResponseError),
    /// A status that is no verdict on the OTP: the server's trouble (`BACKEND_ERROR`,
    /// `NOT_ENOUGH_ANSWERS`), a pool peer's echo (`REPLAYED_REQUEST`) or a refusal of our request
    /// (`BAD_SIGNATURE`, `MISSING_PARAMETER`, `NO_SUCH_CLIENT`, `OPERATION_NOT_ALLOWED`).
    #[error("the server answered {0}")]
    Status(Status),
}

impl ServerFailure {
    /// The status of a server that refused our request because of how we are configured.
    fn refusal(&self) -> Option<Status> {
        match self {
            ServerFailure::Status(
                status @ (Status::BadSignature
                | Status::MissingParameter
                | Status::NoSuchClient
                | Status::OperationNotAllowed),
            ) => Some(*status),
            _ => None,
        }
    }
}

/// One server and how it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The verify URL of the server, without the query (which holds the OTP).
    pub url: String,
    /// What went wrong.
    pub failure: ServerFailure,
}

impl fmt::Display for ServerError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.url, self.failure)
    }
}

/// Why no verdict could be had. None of these says anything about the OTP: the user is not to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The client's configuration cannot work; the message says what to change.
    #[error("the YubiCloud client configuration is not usable: {0}")]
    Config(String),
    /// A server refused our request because of our configuration (`BAD_SIGNATURE`, `MISSING_PARAMETER`,
    /// `NO_SUCH_CLIENT`, `OPERATION_NOT_ALLOWED`) and no other server gave a verdict. The refusal may come
    /// unsigned or signed under another key (a server that does not know our id or key cannot sign for
    /// it); it is believed only this far: as the likeliest explanation of getting no verdict.
    #[error(
        "the validation server {url} refused our request with {status}: check the configured client id \
         and API key (https://upgrade.yubico.com/getapikey/ issues them)"
    )]
    Refused {
        /// The server that refused.
        url: String,
        /// Its answer.
        status: Status,
    },
    /// No server gave a usable answer; one entry per configured server.
    #[error("no validation server gave a usable answer ({})", list(.0))]
    NoAnswer(Vec<ServerError>),
}

fn list(errors: &[ServerError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A Validation Protocol 2.0 client of one or more servers (YubiCloud or self-hosted `yubikey-val`,
/// or another Keyward).
#[derive(Debug, Clone)]
pub struct YubiCloudClient {
    client_id: u64,
    key: Option<Arc<ClientKey>>,
    urls: Vec<Url>,
    timeout: Duration,
    http: reqwest::Client,
}

impl YubiCloudClient {
    /// A client with id `client_id` and, normally, its API `key` (both from
    /// <https://upgrade.yubico.com/getapikey/> for YubiCloud), asking the verify endpoints `urls` (full
    /// URLs such as [`YUBICLOUD_URL`], without a query) and waiting at most `timeout` for answers.
    ///
    /// With a key, every request is signed and every answer's signature checked. Without one, answers
    /// are trusted as far as the connection is, so only `https://` URLs are accepted then: over plain
    /// HTTP anyone on the path could answer `OK`.
    pub fn new(
        client_id: u64,
        key: Option<ClientKey>,
        urls: Vec<String>,
        timeout: Duration,
    ) -> Result<YubiCloudClient, Error> {
        if urls.is_empty() {
            return Err(Error::Config("no validation server URL is configured".to_owned()));
        }
        if timeout.is_zero() {
            return Err(Error::Config("the timeout must be longer than zero".to_owned()));
        }
        let urls = urls.iter().map(|text| check_url(text, key.is_some())).collect::<Result<Vec<_>, _>>()?;
        Ok(YubiCloudClient { client_id, key: key.map(Arc::new), urls, timeout, http: http_client(timeout)? })
    }

    /// The configured client id.
    pub fn client_id(&self) -> u64 {
        self.client_id
    }

    /// Asks the configured servers whether `otp` is valid (see the crate documentation for how several
    /// servers are asked). `rng` makes the request's nonce; it is used before this returns, so the
    /// future does not borrow it.
    ///
    /// `Ok` holds the verdict of the first server whose answer passed all checks; `Err` means no server
    /// gave one, which is never the user's fault. The future must run on a Tokio runtime: each server's
    /// request is a task, so the losers can be cancelled.
    pub fn verify(
        &self,
        otp: &YubikeyOtp,
        rng: &mut impl CryptoRng,
    ) -> impl Future<Output = Result<Verdict, Error>> + Send + 'static {
        let request = VerifyRequest::new(self.client_id, otp.clone(), Nonce::generate(rng));
        let this = self.clone();
        async move { this.ask(request).await }
    }

    /// Sends `request` to every server at once and returns the first verdict.
    async fn ask(&self, request: VerifyRequest) -> Result<Verdict, Error> {
        let query = request.query(self.key.as_deref());
        let mut pending = JoinSet::new();
        for (index, url) in self.urls.iter().enumerate() {
            let mut url = url.clone();
            url.set_query(Some(&query));
            let (http, timeout) = (self.http.clone(), self.timeout);
            pending.spawn(async move {
                let body = match tokio::time::timeout(timeout, fetch(&http, url)).await {
                    Ok(result) => result,
                    Err(_) => Err(ServerFailure::Timeout(timeout)),
                };
                (index, body)
            });
        }

        let mut failures: Vec<Option<ServerFailure>> = vec![None; self.urls.len()];
        while let Some(joined) = pending.join_next().await {
            let (index, body) = match joined {
                Ok(answer) => answer,
                // A task that panicked or was cancelled: there is no index to blame, and the others may
                // still answer. Its server is reported below as having given no answer.
                Err(_) => continue,
            };
            let outcome = body.and_then(|body| judge(&body, &request, self.key.as_deref()));
            match outcome {
                // Dropping `pending` on return aborts the requests still running.
                Ok(verdict) => return Ok(verdict),
                Err(failure) => {
                    if let Some(slot) = failures.get_mut(index) {
                        *slot = Some(failure);
                    }
                }
            }
        }

        let errors: Vec<ServerError> = self
            .urls
            .iter()
            .zip(failures)
            .map(|(url, failure)| ServerError {
                url: url.to_string(),
                failure: failure
                    .unwrap_or_else(|| ServerFailure::Transport("the request was lost".to_owned())),
            })
            .collect();
        // A refusal is a configuration problem someone must fix; report it as such rather than as an
        // outage, even when other servers failed in other ways.
        if let Some((url, status)) =
            errors.iter().find_map(|error| error.failure.refusal().map(|status| (error.url.clone(), status)))
        {
            return Err(Error::Refused { url, status });
        }
        Err(Error::NoAnswer(errors))
    }
}

/// What one server's answer says, once checked by [`VerifyResponse::check`].
fn judge(body: &str, request: &VerifyRequest, key: Option<&ClientKey>) -> Result<Verdict, ServerFailure> {
    let response = VerifyResponse::parse(body)?;
    match response.check(request, key) {
        Ok(status) => Verdict::of(status).ok_or(ServerFailure::Status(status)),
        Err(error @ (ResponseError::MissingSignature | ResponseError::BadSignature)) => {
            // A server that does not know our id has no key to sign with (`yubikey-val` signs such
            // answers with an empty key), and one that holds another key for our id signs with that. So a
            // refusal cannot be verified; read unverified, it only names the configuration problem in
            // the error, and it is never taken for a verdict on the OTP.
            let refusal = response
                .status()
                .ok()
                .map(ServerFailure::Status)
                .filter(|failure| failure.refusal().is_some());
            Err(refusal.unwrap_or(ServerFailure::Response(error)))
        }
        Err(error) => Err(error.into()),
    }
}

/// One GET, returning the body of a 200 answer of at most [`MAX_BODY_BYTES`].
async fn fetch(http: &reqwest::Client, url: Url) -> Result<String, ServerFailure> {
    // `without_url`: reqwest's messages name the URL, whose query holds the OTP and the signature.
    let transport = |error: reqwest::Error| ServerFailure::Transport(error.without_url().to_string());
    let mut response = http.get(url).send().await.map_err(transport)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(ServerFailure::HttpStatus(response.status().as_u16()));
    }
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(ServerFailure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ServerFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| ServerFailure::NotText)
}

/// A verify URL as configured: http or https, with a host, without a query (ours is appended), and
/// https when answers cannot be checked with a key.
fn check_url(text: &str, signed: bool) -> Result<Url, Error> {
    let invalid = |why: &str| Error::Config(format!("the validation server URL {text:?} {why}"));
    let url = Url::parse(text.trim()).map_err(|error| invalid(&format!("is not a URL: {error}")))?;
    match url.scheme() {
        "https" => {}
        "http" if signed => {}
        "http" => {
            return Err(invalid(
                "uses plain HTTP while no API key is configured: anyone on the path could answer OK; \
                 configure the client's API key or use https",
            ));
        }
        _ => return Err(invalid("must start with https:// (or http:// with an API key)")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "must not have a query or fragment: the request's parameters are appended to it",
        ));
    }
    Ok(url)
}

/// The HTTP client: rustls with ring (see the crate documentation), no redirects, no HTTP/2.
fn http_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    let tls_error = |error: rustls::Error| Error::Config(format!("TLS cannot be set up: {error}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_platform_verifier()
        .map_err(tls_error)?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        // A verify endpoint answers directly; following a redirect could only lead somewhere the
        // configuration did not name, possibly over plain HTTP.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .user_agent(concat!("keyward-yubicloud/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| Error::Config(format!("the HTTP client cannot be built: {error}")))
}
