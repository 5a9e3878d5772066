//! The Yubico Validation Protocol 2.0 ("wsapi"): the signed question "is this OTP valid?" and its answer,
//! as spoken by YubiCloud, `yubikey-val`, `ykclient`, `pam_yubico` and the Python `yubico-client`.
//!
//! Everything here is the protocol's pure logic, shared by Keyward's client of YubiCloud
//! (`keyward-yubicloud`) and its own `/wsapi/2.0/verify` server: signatures, nonces, the request's query
//! string and the response's `key=value` lines. Nothing here sends a request, reads a clock or the
//! operating system's randomness.
//!
//! The specification is Yubico's "Validation Protocol Version 2.0" (`yubikey-val`,
//! `doc/Validation_Protocol_V2.0.adoc`); section names below refer to it:
//!
//! - **Generating signatures**: HMAC-SHA-1 under the base64-decoded client API key over all key/value
//!   pairs except `h`, sorted by key, each written `key=value`, joined with `&`, without URL-encoding; the
//!   MAC is base64-encoded (RFC 4648) and sent as `h`. [`sign`] and [`verify_signature`].
//! - **Request**: an HTTP GET with `id`, `otp`, `nonce` (16 to 40 characters of random unique data) and
//!   optionally `h`, `timestamp`, `sl` and `timeout`, URL-encoded. [`VerifyRequest`], [`Nonce`] and, on the
//!   server side, [`QueryParams`].
//! - **Response**: `key=value` lines with `otp`, `nonce`, `h`, `t`, `status` and optionally `timestamp`,
//!   `sessioncounter`, `sessionuse` and `sl`. [`VerifyResponse`] and [`Status`].
//! - **Verification**: "the client MUST verify that the otp in the response is the same as the otp
//!   supplied in the request"; [`VerifyResponse::check`] also checks the nonce, as `ykclient` does, so an
//!   old genuine answer replayed by a man in the middle is refused.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rand_core::CryptoRng;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::yubico::YubikeyOtp;
use crate::{Error, UnixTime};

type HmacSha1 = Hmac<Sha1>;

/// The HMAC-SHA-1 block size in bytes (RFC 2104 §2, "B"): the longest client key we accept, so that the
/// key is used as is rather than hashed first.
const HMAC_SHA1_BLOCK: usize = 64;
/// The shortest client key we accept. YubiCloud and `yubikey-val` issue 20-byte keys; anything much
/// shorter is almost certainly a pasting mistake, and a weak MAC key.
const MIN_CLIENT_KEY_BYTES: usize = 16;
/// The size of the keys [`ClientKey::generate`] makes, as YubiCloud's and `yubikey-val`'s.
const GENERATED_CLIENT_KEY_BYTES: usize = 20;

/// The shortest nonce the protocol allows ("Request": "a 16 to 40 character long string").
pub const MIN_NONCE_CHARS: usize = 16;
/// The longest nonce the protocol allows.
pub const MAX_NONCE_CHARS: usize = 40;
/// The length of the nonces [`Nonce::generate`] makes: 32 characters of a 62-letter alphabet, about
/// 190 bits, so a nonce never repeats.
const GENERATED_NONCE_CHARS: usize = 32;
/// The nonce alphabet. The specification says only "random unique data"; `yubikey-val` accepts letters
/// and digits only, so that is what we send and accept.
const NONCE_ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The signature parameter, left out of what is signed.
const SIGNATURE_PARAM: &str = "h";

/// What a query-string value is escaped with: everything but RFC 3986's unreserved characters. This
/// escapes the `+`, `/` and `=` of a base64 signature, which the specification ("Introduction") singles
/// out, since a server decoding `application/x-www-form-urlencoded` reads a bare `+` as a space.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A Validation Protocol client's API key: the shared HMAC-SHA-1 key, decoded from the base64 text
/// YubiCloud hands out ("Generating signatures": "remember to base64decode the API key").
///
/// The bytes are wiped from memory when the value is dropped, and `Debug` never shows them.
#[derive(Clone)]
pub struct ClientKey {
    bytes: Zeroizing<Vec<u8>>,
}

impl ClientKey {
    /// Reads the key as YubiCloud shows it: standard base64 (RFC 4648 §4, padded) of 16 to 64 bytes.
    /// Surrounding whitespace is ignored, as keys are pasted from web pages and files.
    pub fn from_base64(text: &str) -> Result<ClientKey, Error> {
        let decoded = Zeroizing::new(
            data_encoding::BASE64
                .decode(text.trim().as_bytes())
                .map_err(|_| Error::InvalidClientKey("it is not base64 (RFC 4648, with `=` padding)"))?,
        );
        ClientKey::from_bytes(&decoded)
    }

    /// Takes the raw key bytes (16 to 64 of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<ClientKey, Error> {
        if !(MIN_CLIENT_KEY_BYTES..=HMAC_SHA1_BLOCK).contains(&bytes.len()) {
            return Err(Error::InvalidClientKey("it must decode to 16 to 64 bytes"));
        }
        Ok(ClientKey { bytes: Zeroizing::new(bytes.to_vec()) })
    }

    /// A fresh 20-byte key, the size YubiCloud issues, for a server registering a new client.
    pub fn generate(rng: &mut impl CryptoRng) -> ClientKey {
        let mut bytes = Zeroizing::new(vec![0; GENERATED_CLIENT_KEY_BYTES]);
        rng.fill_bytes(&mut bytes);
        ClientKey { bytes }
    }

    /// The key as base64, the form a client's configuration holds. The text is secret: show it once.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE64.encode(&self.bytes))
    }

    /// The raw key bytes, for sealing at rest.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// An HMAC-SHA-1 instance keyed with this key.
    ///
    /// RFC 2104 §2 pads a key shorter than the block with zeros; handing HMAC the zero-padded block is
    /// the same MAC and uses the infallible constructor, so no error path exists for a key we accepted.
    fn mac(&self) -> HmacSha1 {
        let mut block = hmac::digest::Key::<HmacSha1>::default();
        let len = self.bytes.len().min(HMAC_SHA1_BLOCK);
        if let (Some(head), Some(key)) = (block.get_mut(..len), self.bytes.get(..len)) {
            head.copy_from_slice(key);
        }
        let mac = HmacSha1::new(&block);
        block.as_mut_slice().zeroize();
        mac
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ClientKey(<hidden>)")
    }
}

/// The HMAC-SHA-1 over `params` ("Generating signatures"), `h` left out.
fn mac_over(params: &[(&str, &str)], key: &ClientKey) -> HmacSha1 {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(name, _)| *name != SIGNATURE_PARAM).collect();
    // A stable sort by key alone: the specification orders by key and says nothing of repeated keys, which
    // every parser here refuses anyway.
    sorted.sort_by(|left, right| left.0.as_bytes().cmp(right.0.as_bytes()));
    let mut mac = key.mac();
    for (index, (name, value)) in sorted.into_iter().enumerate() {
        if index > 0 {
            mac.update(b"&");
        }
        mac.update(name.as_bytes());
        mac.update(b"=");
        mac.update(value.as_bytes());
    }
    mac
}

/// Signs a set of key/value pairs as the specification's "Generating signatures" says: HMAC-SHA-1 under
/// `key` over the pairs sorted by key, joined `key=value` with `&`, values as they are (no URL-encoding),
/// any `h` left out; the result is base64 (RFC 4648), the value of `h`.
pub fn sign(params: &[(&str, &str)], key: &ClientKey) -> String {
    data_encoding::BASE64.encode(&mac_over(params, key).finalize().into_bytes())
}

/// Checks the `h` among `params` against the signature of the other pairs ("Verifying signatures"), in
/// constant time. False when `h` is missing, repeated or not base64.
pub fn verify_signature(params: &[(&str, &str)], key: &ClientKey) -> bool {
    let mut signatures = params.iter().filter(|(name, _)| *name == SIGNATURE_PARAM);
    let (Some((_, signature)), None) = (signatures.next(), signatures.next()) else {
        return false;
    };
    let Ok(claimed) = data_encoding::BASE64.decode(signature.as_bytes()) else {
        return false;
    };
    let expected = mac_over(params, key).finalize().into_bytes();
    // `ct_eq` on slices of different lengths is false without looking at the contents.
    bool::from(expected.as_slice().ct_eq(&claimed))
}

/// The `nonce` of a request: 16 to 40 characters of random unique data ("Request"), letters and digits
/// here. The server echoes it, which binds its answer to this one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    /// A fresh 32-character nonce of letters and digits.
    pub fn generate(rng: &mut impl CryptoRng) -> Nonce {
        let mut nonce = String::with_capacity(GENERATED_NONCE_CHARS);
        let mut buffer = [0u8; GENERATED_NONCE_CHARS];
        while nonce.len() < GENERATED_NONCE_CHARS {
            rng.fill_bytes(&mut buffer);
            for byte in buffer {
                // Rejection sampling: 248 is the largest multiple of 62 not above 256, so the bytes
                // below it map uniformly onto the alphabet.
                if byte < 248 && nonce.len() < GENERATED_NONCE_CHARS {
                    nonce.push(char::from(NONCE_ALPHABET[usize::from(byte % 62)]));
                }
            }
        }
        Nonce(nonce)
    }

    /// Reads a nonce sent by a client: 16 to 40 ASCII letters and digits.
    pub fn parse(text: &str) -> Result<Nonce, Error> {
        let acceptable = (MIN_NONCE_CHARS..=MAX_NONCE_CHARS).contains(&text.len())
            && text.bytes().all(|byte| byte.is_ascii_alphanumeric());
        if acceptable { Ok(Nonce(text.to_owned())) } else { Err(Error::InvalidNonce) }
    }

    /// The nonce's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The `sl` of a request ("Request"): how much of its validation server pool a server must sync with
/// before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncLevel {
    /// A percentage, 0 to 100.
    Percent(u8),
    /// The server's configured "fast" level.
    Fast,
    /// The server's configured "secure" level.
    Secure,
}

impl SyncLevel {
    /// Reads `0`..`100`, `fast` or `secure`.
    pub fn parse(text: &str) -> Option<SyncLevel> {
        match text {
            "fast" => Some(SyncLevel::Fast),
            "secure" => Some(SyncLevel::Secure),
            // Digits only: `u8::from_str` would also take a leading `+`.
            _ if !text.is_empty() && text.len() <= 3 && text.bytes().all(|byte| byte.is_ascii_digit()) => {
                text.parse().ok().filter(|percent| *percent <= 100).map(SyncLevel::Percent)
            }
            _ => None,
        }
    }
}

impl fmt::Display for SyncLevel {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncLevel::Percent(percent) => write!(formatter, "{percent}"),
            SyncLevel::Fast => formatter.write_str("fast"),
            SyncLevel::Secure => formatter.write_str("secure"),
        }
    }
}

/// A verify request ("Request"): what a client asks a validation server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRequest {
    /// The client id, which tells the server whose key signs its answer.
    pub id: u64,
    /// The OTP the YubiKey typed.
    pub otp: YubikeyOtp,
    /// Random unique data the server echoes.
    pub nonce: Nonce,
    /// `timestamp=1`: ask for the key's internal timestamp and session counters in the answer.
    pub timestamp: bool,
    /// `sl`: the sync level; absent lets the server decide.
    pub sl: Option<SyncLevel>,
    /// `timeout`: seconds the server may wait for sync answers; absent lets the server decide.
    pub timeout: Option<u32>,
}

impl VerifyRequest {
    /// A request with only the required parameters, leaving `timestamp`, `sl` and `timeout` to the server.
    pub fn new(id: u64, otp: YubikeyOtp, nonce: Nonce) -> VerifyRequest {
        VerifyRequest { id, otp, nonce, timestamp: false, sl: None, timeout: None }
    }

    /// The request's parameters with their raw (not URL-encoded) values, unsigned: what the signature
    /// covers. The OTP is written as the key types it, lower-case modhex, and the server echoes it.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("id", self.id.to_string()),
            ("otp", self.otp.to_string()),
            ("nonce", self.nonce.to_string()),
        ];
        if self.timestamp {
            params.push(("timestamp", "1".to_owned()));
        }
        if let Some(sl) = self.sl {
            params.push(("sl", sl.to_string()));
        }
        if let Some(timeout) = self.timeout {
            params.push(("timeout", timeout.to_string()));
        }
        params
    }

    /// The query string to append to the verify URL after `?`: the parameters URL-encoded for transport
    /// and, given a key, the signature `h` over their raw values ("Request": "this request need not be
    /// signed", but a signed one lets the server refuse forged requests made in our name).
    pub fn query(&self, key: Option<&ClientKey>) -> String {
        let mut params = self.params();
        if let Some(key) = key {
            let signature = sign(&borrowed(&params), key);
            params.push((SIGNATURE_PARAM, signature));
        }
        params
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, QUERY_VALUE)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The request a server received, read from its decoded query parameters. The signature is not
    /// checked here: check [`QueryParams::signature_valid`] with the key of the client named by `id`.
    pub fn from_params(params: &QueryParams) -> Result<VerifyRequest, RequestError> {
        let required = |name: &'static str| params.get(name).ok_or(RequestError::MissingParameter(name));
        // `yubikey-val` answers MISSING_PARAMETER for an id that is not a number; so do we.
        let id = parse_decimal(required("id")?).ok_or(RequestError::InvalidParameter("id"))?;
        let nonce = Nonce::parse(required("nonce")?).map_err(|_| RequestError::InvalidParameter("nonce"))?;
        let otp = YubikeyOtp::parse(required("otp")?).map_err(|_| RequestError::BadOtp)?;
        let timestamp = match params.get("timestamp") {
            None | Some("0") => false,
            Some("1") => true,
            Some(_) => return Err(RequestError::InvalidParameter("timestamp")),
        };
        let sl = match params.get("sl") {
            None => None,
            Some(text) => Some(SyncLevel::parse(text).ok_or(RequestError::InvalidParameter("sl"))?),
        };
        let timeout = match params.get("timeout") {
            None => None,
            Some(text) => Some(
                parse_decimal(text)
                    .and_then(|seconds| u32::try_from(seconds).ok())
                    .ok_or(RequestError::InvalidParameter("timeout"))?,
            ),
        };
        Ok(VerifyRequest { id, otp, nonce, timestamp, sl, timeout })
    }
}

/// A decimal number of ASCII digits only (no sign, no spaces), as the protocol's integers are written.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn borrowed<'a>(params: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    params.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

/// Why a server cannot act on a verify request; [`RequestError::status`] is the answer to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A required parameter (`id`, `otp`, `nonce`) is absent.
    #[error("the request lacks the parameter {0:?}")]
    MissingParameter(&'static str),
    /// A parameter's value is not of its form (a non-numeric `id`, a short `nonce`, an `sl` above 100).
    #[error("the request's parameter {0:?} is malformed")]
    InvalidParameter(&'static str),
    /// A parameter appears twice: which one the signature meant would be ambiguous.
    #[error("the request repeats the parameter {0:?}")]
    DuplicateParameter(String),
    /// The `otp` is not a Yubico OTP (32 to 48 modhex characters).
    #[error("the request's otp is not a Yubico OTP")]
    BadOtp,
}

impl RequestError {
    /// The status a server answers with, as `yubikey-val` does: BAD_OTP for a malformed OTP,
    /// MISSING_PARAMETER for everything else the request got wrong.
    pub fn status(&self) -> Status {
        match self {
            RequestError::BadOtp => Status::BadOtp,
            _ => Status::MissingParameter,
        }
    }
}

/// The decoded parameters of a query string as a server receives them, in their order, each name once.
///
/// A server checks the signature over exactly these pairs (any parameter it does not know included,
/// since the client signed them), then reads them with [`VerifyRequest::from_params`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Reads a query string (without the `?`) as `application/x-www-form-urlencoded`: `&`-separated
    /// `name=value` pairs, `+` a space, `%XX` escapes. Invalid escapes and non-UTF-8 bytes are kept
    /// lossily rather than refused, so such a request fails later with a clear status; a repeated name is
    /// refused.
    pub fn parse(query: &str) -> Result<QueryParams, RequestError> {
        let mut params: Vec<(String, String)> = Vec::new();
        // A set, so that a query of thousands of parameters costs linear time, not quadratic.
        let mut seen = HashSet::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (form_decode(name), form_decode(value));
            if !seen.insert(name.clone()) {
                return Err(RequestError::DuplicateParameter(name));
            }
            params.push((name, value));
        }
        Ok(QueryParams(params))
    }

    /// The value of one parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The pairs, in the order received.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect()
    }

    /// Whether the request carries an `h` at all ("Request": signing is optional for the client).
    pub fn is_signed(&self) -> bool {
        self.get(SIGNATURE_PARAM).is_some()
    }

    /// Whether `h` is the signature of the other parameters under `key` (constant time).
    pub fn signature_valid(&self, key: &ClientKey) -> bool {
        verify_signature(&self.pairs(), key)
    }
}

fn form_decode(text: &str) -> String {
    percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// The `status` of a verify response ("Response", status table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK`: the OTP is valid.
    Ok,
    /// `BAD_OTP`: the OTP is invalid format (or, in practice, unknown or not decrypting).
    BadOtp,
    /// `REPLAYED_OTP`: the OTP has already been seen by the service.
    ReplayedOtp,
    /// `BAD_SIGNATURE`: the request's HMAC signature verification failed.
    BadSignature,
    /// `MISSING_PARAMETER`: the request lacks a parameter.
    MissingParameter,
    /// `NO_SUCH_CLIENT`: the request id does not exist.
    NoSuchClient,
    /// `OPERATION_NOT_ALLOWED`: the request id is not allowed to verify OTPs.
    OperationNotAllowed,
    /// `BACKEND_ERROR`: unexpected error in the server.
    BackendError,
    /// `NOT_ENOUGH_ANSWERS`: the server could not get the requested number of syncs before the timeout.
    NotEnoughAnswers,
    /// `REPLAYED_REQUEST`: the server has seen the OTP/nonce combination before.
    ReplayedRequest,
}

impl Status {
    /// Every status, in the specification's order.
    pub const ALL: [Status; 10] = [
        Status::Ok,
        Status::BadOtp,
        Status::ReplayedOtp,
        Status::BadSignature,
        Status::MissingParameter,
        Status::NoSuchClient,
        Status::OperationNotAllowed,
        Status::BackendError,
        Status::NotEnoughAnswers,
        Status::ReplayedRequest,
    ];

    /// The status as written on the wire, e.g. `REPLAYED_OTP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadOtp => "BAD_OTP",
            Status::ReplayedOtp => "REPLAYED_OTP",
            Status::BadSignature => "BAD_SIGNATURE",
            Status::MissingParameter => "MISSING_PARAMETER",
            Status::NoSuchClient => "NO_SUCH_CLIENT",
            Status::OperationNotAllowed => "OPERATION_NOT_ALLOWED",
            Status::BackendError => "BACKEND_ERROR",
            Status::NotEnoughAnswers => "NOT_ENOUGH_ANSWERS",
            Status::ReplayedRequest => "REPLAYED_REQUEST",
        }
    }

    /// Reads a status as written on the wire (exact, upper case).
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ResponseError;

    fn from_str(text: &str) -> Result<Status, ResponseError> {
        Status::parse(text).ok_or_else(|| ResponseError::UnknownStatus(text.to_owned()))
    }
}

/// Why a verify response cannot be trusted or understood. A client treats each as "this server gave no
/// answer", never as a verdict on the OTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// A non-empty line without `=`: not a verify response (an error page of a proxy, say).
    #[error("line {0} of the response is not `key=value`: this is not a Validation Protocol 2.0 answer")]
    MalformedLine(usize),
    /// A parameter appears twice: which one the signature meant would be ambiguous.
    #[error("the response repeats the parameter {0:?}")]
    DuplicateParameter(String),
    /// A name or value that cannot be written as a response line (empty name, `=` in a name, control
    /// characters such as a line break).
    #[error("{0:?} cannot be written into a response line")]
    UnwritableParameter(String),
    /// A key is configured but the response carries no `h`.
    #[error("the response is not signed although a client key is configured")]
    MissingSignature,
    /// The response's `h` does not verify under the client key.
    #[error(
        "the response's signature does not verify under the client key: \
         it was forged or altered on the way, or the configured key is not this client id's"
    )]
    BadSignature,
    /// The response has no `status`.
    #[error("the response has no status")]
    MissingStatus,
    /// The response's `status` is none of the specification's.
    #[error("the response's status {0:?} is not a Validation Protocol 2.0 status")]
    UnknownStatus(String),
    /// The response's `otp` is not the one we sent (or is missing from an OK): a cut-and-paste attack.
    #[error("the response does not echo the OTP of the request: it answers another request")]
    OtpMismatch,
    /// The response's `nonce` is not the one we sent (or is missing from an OK): a replayed answer.
    #[error("the response does not echo the nonce of the request: it answers another request")]
    NonceMismatch,
}

/// A verify response ("Response"): `key=value` lines, one parameter each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyResponse {
    params: Vec<(String, String)>,
}

impl VerifyResponse {
    /// Reads a response body: lines of `key=value` (the value may itself contain `=`, as base64 does),
    /// ended by CRLF or LF; blank lines are skipped. A line without `=`, an empty key or a repeated key
    /// is refused. Nothing is checked yet: see [`VerifyResponse::check`].
    pub fn parse(body: &str) -> Result<VerifyResponse, ResponseError> {
        let mut params: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        for (index, line) in body.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once('=').filter(|(name, _)| !name.is_empty()) else {
                return Err(ResponseError::MalformedLine(index + 1));
            };
            if !seen.insert(name) {
                return Err(ResponseError::DuplicateParameter(name.to_owned()));
            }
            params.push((name.to_owned(), value.to_owned()));
        }
        Ok(VerifyResponse { params })
    }

    /// A response for a server to send, signed under the client's key: the `params` in their order,
    /// then `h` (any `h` among `params` is replaced).
    pub fn signed(params: &[(&str, &str)], key: &ClientKey) -> Result<VerifyResponse, ResponseError> {
        let mut response = VerifyResponse::unsigned(params)?;
        let signature = sign(params, key);
        response.params.push((SIGNATURE_PARAM.to_owned(), signature));
        Ok(response)
    }

    /// A response without `h`, for the rare answer a server cannot sign: NO_SUCH_CLIENT, where no key is
    /// known. Clients with a key refuse it, as they should.
    pub fn unsigned(params: &[(&str, &str)]) -> Result<VerifyResponse, ResponseError> {
        let mut response = VerifyResponse { params: Vec::with_capacity(params.len() + 1) };
        for (name, value) in params.iter().filter(|(name, _)| *name != SIGNATURE_PARAM) {
            let writable_name =
                !name.is_empty() && !name.contains('=') && !name.chars().any(|c| c.is_control() || c == ' ');
            if !writable_name {
                return Err(ResponseError::UnwritableParameter((*name).to_owned()));
            }
            if value.chars().any(char::is_control) {
                return Err(ResponseError::UnwritableParameter(format!("{name}={value}")));
            }
            if response.get(name).is_some() {
                return Err(ResponseError::DuplicateParameter((*name).to_owned()));
            }
            response.params.push(((*name).to_owned(), (*value).to_owned()));
        }
        Ok(response)
    }

    /// The value of one parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// All parameters, `h` included, in the order received.
    pub fn params(&self) -> Vec<(&str, &str)> {
        self.params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect()
    }

    /// The `status`, unchecked.
    pub fn status(&self) -> Result<Status, ResponseError> {
        self.get("status").ok_or(ResponseError::MissingStatus)?.parse()
    }

    /// Checks the response against the request it answers and returns its status:
    ///
    /// 1. Given a key, the signature `h` must verify ("Verifying signatures"). Without a key the response
    ///    is only as trustworthy as the connection (HTTPS with a verified certificate).
    /// 2. The status must be one of the specification's.
    /// 3. `otp` and `nonce` must equal the request's exactly ("Verification": against cut-and-paste; the
    ///    nonce against replayed answers, as `ykclient` checks). An `OK` must carry both; other statuses
    ///    must echo them when present, since servers leave them out of some error answers.
    ///
    /// Any failure means the server gave no usable answer; it never says the OTP is wrong.
    pub fn check(&self, request: &VerifyRequest, key: Option<&ClientKey>) -> Result<Status, ResponseError> {
        if let Some(key) = key {
            if self.get(SIGNATURE_PARAM).is_none() {
                return Err(ResponseError::MissingSignature);
            }
            if !verify_signature(&self.params(), key) {
                return Err(ResponseError::BadSignature);
            }
        }
        let status = self.status()?;
        let must_echo = status == Status::Ok;
        let echoes = |name: &str, sent: &str| match self.get(name) {
            Some(echoed) => echoed == sent,
            None => !must_echo,
        };
        if !echoes("otp", &request.otp.to_string()) {
            return Err(ResponseError::OtpMismatch);
        }
        if !echoes("nonce", request.nonce.as_str()) {
            return Err(ResponseError::NonceMismatch);
        }
        Ok(status)
    }

    /// The body to send: one `key=value` line per parameter, CRLF-terminated, then an empty line, as
    /// `yubikey-val` writes it.
    pub fn body(&self) -> String {
        let mut body = String::new();
        for (name, value) in &self.params {
            body.push_str(name);
            body.push('=');
            body.push_str(value);
            body.push_str("\r\n");
        }
        body.push_str("\r\n");
        body
    }
}

/// The `t` of a response ("Response": "Timestamp in UTC") as `yubikey-val` writes it:
/// `YYYY-MM-DDTHH:MM:SSZ0` followed by three digits of milliseconds, here `000` since the domain's time
/// has whole seconds.
pub fn response_time(now: UnixTime) -> String {
    let seconds = now.seconds();
    let (year, month, day) = now.civil_date();
    let of_day = seconds % 86_400;
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z0000")
}

#[cfg(test)]
mod tests {

    use proptest::prelude::*;

    use super::*;

    /// The signature vector of DESIGN.md ("Test vectors").
    const VECTOR_KEY: &str = "9Tt8Gg51VG/dthDKgopt0n8IXVI=";
    const VECTOR_NONCE: &str = "aef3a7835277a28da831005c2ae3b919e2076a62";
    const VECTOR_OTP: &str = "vvincrediblegfnchniugtdcbrleehenethrlbihdijv";
    const VECTOR_SIGNATURE: &str = "0GdEtTBQs00W0AW0qRnCzvD7RGs=";

    use crate::test_rng::SplitMix as TestRng;

    fn key() -> ClientKey {
        ClientKey::from_base64(VECTOR_KEY).unwrap()
    }

    fn request() -> VerifyRequest {
        VerifyRequest::new(27655, YubikeyOtp::parse(VECTOR_OTP).unwrap(), Nonce::parse(VECTOR_NONCE).unwrap())
    }

    fn ok_response(request: &VerifyRequest) -> VerifyResponse {
        let otp = request.otp.to_string();
        let params = [
            ("t", "2026-11-02T10:00:00Z0000"),
            ("otp", otp.as_str()),
            ("nonce", request.nonce.as_str()),
            ("sl", "100"),
            ("status", "OK"),
        ];
        VerifyResponse::signed(&params, &key()).unwrap()
    }

    #[test]
    fn the_design_vector_signs_as_expected() {
        let params = [("id", "27655"), ("nonce", VECTOR_NONCE), ("otp", VECTOR_OTP)];
        assert_eq!(sign(&params, &key()), VECTOR_SIGNATURE);
    }

    #[test]
    fn signing_sorts_by_key_and_leaves_out_h() {
        let shuffled = [("otp", VECTOR_OTP), ("h", "anything"), ("id", "27655"), ("nonce", VECTOR_NONCE)];
        assert_eq!(sign(&shuffled, &key()), VECTOR_SIGNATURE);
        let signed = [("otp", VECTOR_OTP), ("id", "27655"), ("h", VECTOR_SIGNATURE), ("nonce", VECTOR_NONCE)];
        assert!(verify_signature(&signed, &key()));
    }

    #[test]
    fn the_signed_request_query_carries_the_vector_signature_url_encoded() {
        let query = request().query(Some(&key()));
        assert_eq!(
            query,
            format!("id=27655&otp={VECTOR_OTP}&nonce={VECTOR_NONCE}&h=0GdEtTBQs00W0AW0qRnCzvD7RGs%3D")
        );
        assert_eq!(request().query(None), format!("id=27655&otp={VECTOR_OTP}&nonce={VECTOR_NONCE}"));
    }

    #[test]
    fn a_server_reads_and_verifies_the_query_a_client_writes() {
        let mut request = request();
        request.timestamp = true;
        request.sl = Some(SyncLevel::Secure);
        request.timeout = Some(8);
        let params = QueryParams::parse(&request.query(Some(&key()))).unwrap();
        assert!(params.is_signed());
        assert!(params.signature_valid(&key()));
        assert_eq!(VerifyRequest::from_params(&params).unwrap(), request);
        let other = ClientKey::from_base64("oBVbNt7IZehZGR99rvq8d6RZ1DM=").unwrap();
        assert!(!params.signature_valid(&other));
    }

    #[test]
    fn a_plus_in_a_query_is_a_space_as_forms_encode_it() {
        let params = QueryParams::parse("id=1&h=ab+c%2Bd%3D&x").unwrap();
        assert_eq!(params.get("h"), Some("ab c+d="));
        assert_eq!(params.get("x"), Some(""));
        assert_eq!(QueryParams::parse("id=1&id=2"), Err(RequestError::DuplicateParameter("id".to_owned())));
    }

    #[test]
    fn malformed_requests_get_the_statuses_yubikey_val_sends() {
        let cases = [
            ("otp=x&nonce=aaaaaaaaaaaaaaaa", Status::MissingParameter),
            ("id=abc&otp=x&nonce=aaaaaaaaaaaaaaaa", Status::MissingParameter),
            ("id=1&otp=x&nonce=short", Status::MissingParameter),
            ("id=1&nonce=aaaaaaaaaaaaaaaa", Status::MissingParameter),
            ("id=1&otp=notanotp&nonce=aaaaaaaaaaaaaaaa", Status::BadOtp),
            (&format!("id=1&otp={VECTOR_OTP}&nonce=aaaaaaaaaaaaaaaa&sl=101"), Status::MissingParameter),
            (&format!("id=1&otp={VECTOR_OTP}&nonce=aaaaaaaaaaaaaaaa&timeout=-1"), Status::MissingParameter),
            (&format!("id=1&otp={VECTOR_OTP}&nonce=aaaaaaaaaaaaaaaa&timestamp=2"), Status::MissingParameter),
        ];
        for (query, status) in cases {
            let error = VerifyRequest::from_params(&QueryParams::parse(query).unwrap()).unwrap_err();
            assert_eq!(error.status(), status, "{query}: {error}");
        }
    }

    #[test]
    fn client_keys_are_base64_of_16_to_64_bytes_and_hidden_from_debug() {
        assert_eq!(key().as_bytes().len(), 20);
        assert_eq!(*key().to_base64(), VECTOR_KEY);
        assert_eq!(ClientKey::from_base64(&format!(" {VECTOR_KEY}\n")).unwrap().as_bytes(), key().as_bytes());
        assert!(matches!(ClientKey::from_base64("not base64!"), Err(Error::InvalidClientKey(_))));
        assert!(matches!(ClientKey::from_base64("AAAA"), Err(Error::InvalidClientKey(_))));
        assert!(ClientKey::from_bytes(&[7; 64]).is_ok());
        assert!(matches!(ClientKey::from_bytes(&[7; 65]), Err(Error::InvalidClientKey(_))));
        assert_eq!(format!("{:?}", key()), "ClientKey(<hidden>)");
        let generated = ClientKey::generate(&mut TestRng(1));
        assert_eq!(generated.as_bytes().len(), 20);
        assert_eq!(ClientKey::from_base64(&generated.to_base64()).unwrap().as_bytes(), generated.as_bytes());
    }

    #[test]
    fn generated_nonces_are_32_letters_and_digits_and_differ() {
        let mut rng = TestRng(7);
        let first = Nonce::generate(&mut rng);
        let second = Nonce::generate(&mut rng);
        assert_eq!(first.as_str().len(), 32);
        assert!(first.as_str().bytes().all(|byte| byte.is_ascii_alphanumeric()));
        assert_ne!(first, second);
        assert_eq!(Nonce::parse(first.as_str()), Ok(first));
    }

    #[test]
    fn nonces_are_16_to_40_letters_and_digits() {
        assert!(Nonce::parse(&"a".repeat(16)).is_ok());
        assert!(Nonce::parse(&"a".repeat(40)).is_ok());
        assert_eq!(Nonce::parse(&"a".repeat(15)), Err(Error::InvalidNonce));
        assert_eq!(Nonce::parse(&"a".repeat(41)), Err(Error::InvalidNonce));
        assert_eq!(Nonce::parse("aaaaaaaaaaaaaaa-"), Err(Error::InvalidNonce));
        assert_eq!(Nonce::parse("ééééééééééééééé"), Err(Error::InvalidNonce));
    }

    #[test]
    fn statuses_round_trip_through_their_wire_names() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(status.to_string().parse::<Status>(), Ok(status));
        }
        assert_eq!(Status::parse("ok"), None);
        assert_eq!("NOPE".parse::<Status>(), Err(ResponseError::UnknownStatus("NOPE".to_owned())));
    }

    #[test]
    fn sync_levels_are_percentages_fast_or_secure() {
        assert_eq!(SyncLevel::parse("0"), Some(SyncLevel::Percent(0)));
        assert_eq!(SyncLevel::parse("100"), Some(SyncLevel::Percent(100)));
        assert_eq!(SyncLevel::parse("fast"), Some(SyncLevel::Fast));
        assert_eq!(SyncLevel::parse("secure"), Some(SyncLevel::Secure));
        for bad in ["101", "+5", "-1", "", "1000", "FAST"] {
            assert_eq!(SyncLevel::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_signed_response_round_trips_and_checks() {
        let request = request();
        let response = ok_response(&request);
        let body = response.body();
        assert!(body.contains("\r\nstatus=OK\r\nh="));
        assert!(body.ends_with("\r\n\r\n"));
        let parsed = VerifyResponse::parse(&body).unwrap();
        assert_eq!(parsed, response);
        assert_eq!(parsed.check(&request, Some(&key())), Ok(Status::Ok));
        assert_eq!(parsed.check(&request, None), Ok(Status::Ok));
    }

    #[test]
    fn a_response_in_yubicloud_layout_parses() {
        // The layout YubiCloud sends: `h` first, LF or CRLF line ends, a blank line at the end.
        let body = "h=abc=\nt=2026-11-02T10:00:00Z0123\notp=x\nnonce=y\nsl=25\nstatus=OK\n\n";
        let parsed = VerifyResponse::parse(body).unwrap();
        assert_eq!(parsed.get("h"), Some("abc="));
        assert_eq!(parsed.status(), Ok(Status::Ok));
        assert_eq!(VerifyResponse::parse("<html>\n</html>"), Err(ResponseError::MalformedLine(1)));
        assert_eq!(
            VerifyResponse::parse("status=OK\nstatus=BAD_OTP\n"),
            Err(ResponseError::DuplicateParameter("status".to_owned()))
        );
    }

    #[test]
    fn check_refuses_forged_and_unrelated_answers() {
        let request = request();
        let other_key = ClientKey::from_base64("oBVbNt7IZehZGR99rvq8d6RZ1DM=").unwrap();
        let otp = request.otp.to_string();
        let answer = |otp: &str, nonce: &str, status: &str, key: &ClientKey| {
            VerifyResponse::signed(&[("otp", otp), ("nonce", nonce), ("status", status)], key).unwrap()
        };

        let forged = answer(&otp, VECTOR_NONCE, "OK", &other_key);
        assert_eq!(forged.check(&request, Some(&key())), Err(ResponseError::BadSignature));
        let unsigned =
            VerifyResponse::unsigned(&[("otp", &otp), ("nonce", VECTOR_NONCE), ("status", "OK")]).unwrap();
        assert_eq!(unsigned.check(&request, Some(&key())), Err(ResponseError::MissingSignature));
        assert_eq!(unsigned.check(&request, None), Ok(Status::Ok));

        let other_otp = "vvincrediblegfnchniugtdcbrleehenethrlbihdijc";
        assert_eq!(
            answer(other_otp, VECTOR_NONCE, "OK", &key()).check(&request, Some(&key())),
            Err(ResponseError::OtpMismatch)
        );
        assert_eq!(
            answer(&otp.to_uppercase(), VECTOR_NONCE, "OK", &key()).check(&request, Some(&key())),
            Err(ResponseError::OtpMismatch)
        );
        assert_eq!(
            answer(&otp, "bef3a7835277a28da831005c2ae3b919e2076a62", "OK", &key())
                .check(&request, Some(&key())),
            Err(ResponseError::NonceMismatch)
        );
        assert_eq!(
            answer(&otp, VECTOR_NONCE, "REPLAYED_OTP", &key()).check(&request, Some(&key())),
            Ok(Status::ReplayedOtp)
        );
        assert_eq!(
            answer(&otp, VECTOR_NONCE, "MAYBE", &key()).check(&request, Some(&key())),
            Err(ResponseError::UnknownStatus("MAYBE".to_owned()))
        );
        let no_status = VerifyResponse::signed(&[("otp", otp.as_str())], &key()).unwrap();
        assert_eq!(no_status.check(&request, Some(&key())), Err(ResponseError::MissingStatus));
    }

    #[test]
    fn an_ok_must_echo_but_an_error_may_leave_the_echo_out() {
        let request = request();
        let ok_without_echo = VerifyResponse::signed(&[("status", "OK")], &key()).unwrap();
        assert_eq!(ok_without_echo.check(&request, Some(&key())), Err(ResponseError::OtpMismatch));
        let otp = request.otp.to_string();
        let ok_without_nonce = VerifyResponse::signed(&[("otp", &otp), ("status", "OK")], &key()).unwrap();
        assert_eq!(ok_without_nonce.check(&request, Some(&key())), Err(ResponseError::NonceMismatch));
        let no_client = VerifyResponse::unsigned(&[("status", "NO_SUCH_CLIENT")]).unwrap();
        assert_eq!(no_client.check(&request, None), Ok(Status::NoSuchClient));
    }

    #[test]
    fn responses_refuse_lines_that_would_smuggle_parameters() {
        let injected = VerifyResponse::signed(&[("otp", "x\r\nstatus=OK")], &key());
        assert!(matches!(injected, Err(ResponseError::UnwritableParameter(_))));
        assert!(matches!(
            VerifyResponse::unsigned(&[("a=b", "1")]),
            Err(ResponseError::UnwritableParameter(_))
        ));
        assert!(matches!(VerifyResponse::unsigned(&[("", "1")]), Err(ResponseError::UnwritableParameter(_))));
        assert_eq!(
            VerifyResponse::unsigned(&[("a", "1"), ("a", "2")]),
            Err(ResponseError::DuplicateParameter("a".to_owned()))
        );
    }

    #[test]
    fn response_times_are_utc_in_yubikey_val_format() {
        assert_eq!(response_time(UnixTime(0)), "1970-01-01T00:00:00Z0000");
        assert_eq!(response_time(UnixTime(1_234_567_890)), "2009-02-13T23:31:30Z0000");
        assert_eq!(response_time(UnixTime(951_782_400)), "2000-02-29T00:00:00Z0000");
    }

    /// Parameter names and values as they may appear on the wire: no `&`, `=` in names, no line breaks.
    fn params_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::btree_map("[a-g]{1,6}", "[ -~]{0,20}", 1..8)
            .prop_map(|map| map.into_iter().filter(|(name, _)| name != "h").collect::<Vec<_>>())
            .prop_filter("at least one pair", |params| !params.is_empty())
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(params in params_strategy(), key_bytes in prop::collection::vec(any::<u8>(), 16..=64)) {
            let key = ClientKey::from_bytes(&key_bytes).unwrap();
            let mut pairs: Vec<(&str, &str)> = params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let signature = sign(&pairs, &key);
            pairs.push(("h", signature.as_str()));
            prop_assert!(verify_signature(&pairs, &key));
            // The order of the pairs does not matter, only their content.
            pairs.reverse();
            prop_assert!(verify_signature(&pairs, &key));
        }

        #[test]
        fn the_padded_key_is_the_same_mac_as_hmacs_own_key_handling(
            key_bytes in prop::collection::vec(any::<u8>(), 16..=64),
            message in "[ -~]{0,40}",
        ) {
            let key = ClientKey::from_bytes(&key_bytes).unwrap();
            let ours = sign(&[("m", &message)], &key);
            let reference = HmacSha1::new_from_slice(&key_bytes).unwrap()
                .chain_update(format!("m={message}").as_bytes())
                .finalize()
                .into_bytes();
            prop_assert_eq!(ours, data_encoding::BASE64.encode(&reference));
        }

        #[test]
        fn any_altered_parameter_fails_verification(
            params in params_strategy(),
            victim in any::<prop::sample::Index>(),
            change in "[ -~]{1,5}",
        ) {
            let key = ClientKey::from_bytes(&[42; 20]).unwrap();
            let pairs: Vec<(&str, &str)> = params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let signature = sign(&pairs, &key);
            let index = victim.index(params.len());
            let altered_value = format!("{}{change}", params[index].1);
            let altered_name = format!("{}x", params[index].0);

            let mut with_value = pairs.clone();
            with_value[index].1 = &altered_value;
            with_value.push(("h", &signature));
            prop_assert!(!verify_signature(&with_value, &key));

            let mut with_name = pairs.clone();
            with_name[index].0 = &altered_name;
            with_name.push(("h", &signature));
            prop_assert!(!verify_signature(&with_name, &key));

            let mut dropped = pairs.clone();
            dropped.remove(index);
            dropped.push(("h", &signature));
            prop_assert!(!verify_signature(&dropped, &key));

            let mut added = pairs.clone();
            added.push(("zz", "1"));
            added.push(("h", &signature));
            prop_assert!(!verify_signature(&added, &key));
        }

        #[test]
        fn response_parse_never_panics(body in "\\PC{0,300}") {
            if let Ok(response) = VerifyResponse::parse(&body) {
                let _ = response.check(&request(), Some(&key()));
            }
        }

        #[test]
        fn response_parse_never_panics_on_line_structured_text(
            lines in prop::collection::vec("[a-z=\\r ]{0,6}=?[ -~\\r]{0,12}", 0..10)
        ) {
            let body = lines.join("\n");
            if let Ok(response) = VerifyResponse::parse(&body) {
                let _ = response.check(&request(), None);
            }
        }

        #[test]
        fn query_parse_never_panics(query in "\\PC{0,200}") {
            if let Ok(params) = QueryParams::parse(&query) {
                let _ = VerifyRequest::from_params(&params);
                let _ = params.signature_valid(&key());
            }
        }

        #[test]
        fn signed_responses_survive_the_wire(params in params_strategy()) {
            let pairs: Vec<(&str, &str)> = params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let response = VerifyResponse::signed(&pairs, &key()).unwrap();
            let parsed = VerifyResponse::parse(&response.body()).unwrap();
            prop_assert!(verify_signature(&parsed.params(), &key()));
        }
    }
}
