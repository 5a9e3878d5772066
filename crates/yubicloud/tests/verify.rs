#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The client against fake validation servers on 127.0.0.1 that answer as YubiCloud does, or misbehave
//! in the ways the client must survive: forged signatures, answers to other requests, silence.
//! Then Yubico's own C client (`ykclient`) against the same fake server, which cross-checks the
//! server half of `keyward_core::wsapi` that the fake server is built from.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::TestRng;
use keyward_core::UnixTime;
use keyward_core::wsapi::{
    ClientKey, QueryParams, ResponseError, Status, VerifyRequest, VerifyResponse, response_time,
};
use keyward_core::yubico::YubikeyOtp;
use keyward_yubicloud::{Error, ServerFailure, Verdict, YubiCloudClient};

const CLIENT_ID: u64 = 27655;
const KEY: &str = "9Tt8Gg51VG/dthDKgopt0n8IXVI=";
const OTHER_KEY: &str = "oBVbNt7IZehZGR99rvq8d6RZ1DM=";
const OTP: &str = "vvincrediblegfnchniugtdcbrleehenethrlbihdijv";
const OTHER_OTP: &str = "vvincrediblegfnchniugtdcbrleehenethrlbihdijc";
const VERIFY_PATH: &str = "/wsapi/2.0/verify";

fn key() -> ClientKey {
    ClientKey::from_base64(KEY).unwrap()
}

/// How a fake server answers.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// A genuine, correctly signed answer with this status, echoing the request.
    Genuine(Status),
    /// An answer signed with another key: forged, or altered on the way.
    ForgedSignature,
    /// A signed answer echoing another OTP: a cut-and-paste of an answer to someone else's request.
    WrongOtp,
    /// A signed answer echoing another nonce: a replay of an old answer.
    WrongNonce,
    /// An unsigned answer with this status, as a server sends when it has no key for the client id.
    Unsigned(Status),
    /// Accepts the connection and never answers.
    Silent,
    /// An HTTP 503 error page.
    Unavailable,
    /// A body far larger than any verify response.
    Huge,
}

struct FakeState {
    behaviour: Behaviour,
    key: ClientKey,
    requests: AtomicUsize,
    /// Requests that carried a valid signature `h`.
    signed_requests: AtomicUsize,
    /// The nonces of the well-formed requests, in order.
    nonces: Mutex<Vec<String>>,
}

struct FakeServer {
    url: String,
    state: Arc<FakeState>,
}

impl FakeServer {
    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    fn signed_requests(&self) -> usize {
        self.state.signed_requests.load(Ordering::SeqCst)
    }
}

/// Starts a fake validation server on a random port of 127.0.0.1; it lives as long as the test's runtime.
async fn fake_server(behaviour: Behaviour) -> FakeServer {
    let state = Arc::new(FakeState {
        behaviour,
        key: key(),
        requests: AtomicUsize::new(0),
        signed_requests: AtomicUsize::new(0),
        nonces: Mutex::default(),
    });
    let router = Router::new().route(VERIFY_PATH, get(answer)).with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    FakeServer { url: format!("http://{address}{VERIFY_PATH}"), state }
}

/// The fake server's handler: checks the request as YubiCloud does, then answers per its behaviour.
async fn answer(State(state): State<Arc<FakeState>>, RawQuery(query): RawQuery) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let key = &state.key;
    let params = match QueryParams::parse(query.as_deref().unwrap_or_default()) {
        Ok(params) => params,
        Err(error) => return signed(key, &[("status", error.status().as_str())]),
    };
    let request = match VerifyRequest::from_params(&params) {
        Ok(request) => request,
        Err(error) => return signed(key, &[("status", error.status().as_str())]),
    };
    let otp = request.otp.to_string();
    let nonce = request.nonce.to_string();
    state.nonces.lock().unwrap().push(nonce.clone());
    if params.is_signed() {
        if !params.signature_valid(key) {
            return signed(key, &[("otp", &otp), ("nonce", &nonce), ("status", "BAD_SIGNATURE")]);
        }
        state.signed_requests.fetch_add(1, Ordering::SeqCst);
    }
    let t = response_time(UnixTime(1_798_761_600));
    let answer = |otp: &str, nonce: &str, status: Status| {
        vec![
            ("t", t.clone()),
            ("otp", otp.to_owned()),
            ("nonce", nonce.to_owned()),
            ("sl", "100".to_owned()),
            ("status", status.as_str().to_owned()),
        ]
    };
    match state.behaviour {
        Behaviour::Genuine(status) => signed(key, &borrow(&answer(&otp, &nonce, status))),
        Behaviour::ForgedSignature => {
            signed(&ClientKey::from_base64(OTHER_KEY).unwrap(), &borrow(&answer(&otp, &nonce, Status::Ok)))
        }
        Behaviour::WrongOtp => signed(key, &borrow(&answer(OTHER_OTP, &nonce, Status::Ok))),
        Behaviour::WrongNonce => {
            signed(key, &borrow(&answer(&otp, "ThisIsAnOldNonceFromBefore", Status::Ok)))
        }
        Behaviour::Unsigned(status) => {
            VerifyResponse::unsigned(&borrow(&answer(&otp, &nonce, status))).unwrap().body().into_response()
        }
        Behaviour::Silent => std::future::pending().await,
        Behaviour::Unavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "<html>down for maintenance</html>").into_response()
        }
        Behaviour::Huge => "status=OK\n".repeat(10_000).into_response(),
    }
}

fn borrow<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

fn signed(key: &ClientKey, params: &[(&str, &str)]) -> Response {
    VerifyResponse::signed(params, key).unwrap().body().into_response()
}

fn client(urls: &[&FakeServer], timeout: Duration) -> YubiCloudClient {
    let urls = urls.iter().map(|server| server.url.clone()).collect();
    YubiCloudClient::new(CLIENT_ID, Some(key()), urls, timeout).unwrap()
}

async fn verify(client: &YubiCloudClient) -> Result<Verdict, Error> {
    client.verify(&YubikeyOtp::parse(OTP).unwrap(), &mut TestRng(1)).await
}

/// The failures of a `NoAnswer`, in the order of the configured URLs.
fn failures(result: Result<Verdict, Error>) -> Vec<ServerFailure> {
    match result {
        Err(Error::NoAnswer(errors)) => errors.into_iter().map(|error| error.failure).collect(),
        other => panic!("expected NoAnswer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_genuine_ok_is_a_valid_otp() {
    let server = fake_server(Behaviour::Genuine(Status::Ok)).await;
    assert_eq!(verify(&client(&[&server], Duration::from_secs(10))).await, Ok(Verdict::Valid));
    assert_eq!(
        (server.requests(), server.signed_requests()),
        (1, 1),
        "a client with a key signs its requests"
    );
}

#[tokio::test]
async fn an_unsigned_client_over_plain_http_is_refused_at_configuration() {
    let error = YubiCloudClient::new(
        CLIENT_ID,
        None,
        vec!["http://127.0.0.1:1/verify".into()],
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(error, Error::Config(ref message) if message.contains("plain HTTP")), "{error}");
    assert!(
        YubiCloudClient::new(
            CLIENT_ID,
            None,
            vec!["https://api.yubico.com/wsapi/2.0/verify".into()],
            Duration::from_secs(1)
        )
        .is_ok()
    );
    for bad in ["", "ftp://example.org/verify", "https://example.org/verify?id=1", "not a url"] {
        let result = YubiCloudClient::new(CLIENT_ID, Some(key()), vec![bad.into()], Duration::from_secs(1));
        assert!(matches!(result, Err(Error::Config(_))), "{bad:?}");
    }
    assert!(matches!(
        YubiCloudClient::new(CLIENT_ID, Some(key()), vec![], Duration::from_secs(1)),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn a_forged_signature_is_no_answer() {
    let server = fake_server(Behaviour::ForgedSignature).await;
    let result = verify(&client(&[&server], Duration::from_secs(10))).await;
    assert_eq!(failures(result), [ServerFailure::Response(ResponseError::BadSignature)]);
}

#[tokio::test]
async fn an_answer_echoing_another_otp_is_no_answer() {
    let server = fake_server(Behaviour::WrongOtp).await;
    let result = verify(&client(&[&server], Duration::from_secs(10))).await;
    assert_eq!(failures(result), [ServerFailure::Response(ResponseError::OtpMismatch)]);
}

#[tokio::test]
async fn an_answer_echoing_another_nonce_is_no_answer() {
    let server = fake_server(Behaviour::WrongNonce).await;
    let result = verify(&client(&[&server], Duration::from_secs(10))).await;
    assert_eq!(failures(result), [ServerFailure::Response(ResponseError::NonceMismatch)]);
}

#[tokio::test]
async fn replayed_and_bad_otps_are_verdicts() {
    let replayed = fake_server(Behaviour::Genuine(Status::ReplayedOtp)).await;
    assert_eq!(verify(&client(&[&replayed], Duration::from_secs(10))).await, Ok(Verdict::Replayed));
    let bad = fake_server(Behaviour::Genuine(Status::BadOtp)).await;
    assert_eq!(verify(&client(&[&bad], Duration::from_secs(10))).await, Ok(Verdict::BadOtp));
}

#[tokio::test]
async fn a_silent_server_does_not_hold_up_the_answer_of_another() {
    let silent = fake_server(Behaviour::Silent).await;
    let genuine = fake_server(Behaviour::Genuine(Status::Ok)).await;
    let timeout = Duration::from_secs(60);
    let started = Instant::now();
    assert_eq!(verify(&client(&[&silent, &genuine], timeout)).await, Ok(Verdict::Valid));
    // Not a performance assertion: only that the client did not wait out the silent server.
    assert!(started.elapsed() < timeout / 2, "waited {:?}", started.elapsed());
    assert_eq!((silent.requests(), genuine.requests()), (1, 1), "both servers are asked at once");
}

#[tokio::test]
async fn silence_alone_times_out() {
    let silent = fake_server(Behaviour::Silent).await;
    let timeout = Duration::from_millis(300);
    assert_eq!(failures(verify(&client(&[&silent], timeout)).await), [ServerFailure::Timeout(timeout)]);
}

#[tokio::test]
async fn a_forged_answer_does_not_end_the_wait_for_a_genuine_one() {
    for bad in [Behaviour::ForgedSignature, Behaviour::WrongNonce, Behaviour::Unavailable, Behaviour::Huge] {
        let bad = fake_server(bad).await;
        let genuine = fake_server(Behaviour::Genuine(Status::Ok)).await;
        assert_eq!(verify(&client(&[&bad, &genuine], Duration::from_secs(10))).await, Ok(Verdict::Valid));
    }
}

#[tokio::test]
async fn a_pool_peers_replayed_request_is_passed_over() {
    // Servers of a pool sync: the one that got our request second sees the same OTP and nonce again.
    let peer = fake_server(Behaviour::Genuine(Status::ReplayedRequest)).await;
    let genuine = fake_server(Behaviour::Genuine(Status::Ok)).await;
    assert_eq!(verify(&client(&[&peer, &genuine], Duration::from_secs(10))).await, Ok(Verdict::Valid));
    assert_eq!(
        failures(verify(&client(&[&peer], Duration::from_secs(10))).await),
        [ServerFailure::Status(Status::ReplayedRequest)]
    );
}

#[tokio::test]
async fn server_trouble_is_reported_per_server() {
    let down = fake_server(Behaviour::Unavailable).await;
    let huge = fake_server(Behaviour::Huge).await;
    let backend = fake_server(Behaviour::Genuine(Status::BackendError)).await;
    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let urls = vec![
        down.url.clone(),
        huge.url.clone(),
        backend.url.clone(),
        format!("http://{closed}{VERIFY_PATH}"),
    ];
    let client = YubiCloudClient::new(CLIENT_ID, Some(key()), urls, Duration::from_secs(10)).unwrap();
    let result = verify(&client).await;
    let Err(Error::NoAnswer(errors)) = &result else { panic!("expected NoAnswer, got {result:?}") };
    assert_eq!(errors[0].failure, ServerFailure::HttpStatus(503));
    assert_eq!(errors[1].failure, ServerFailure::TooLarge);
    assert_eq!(errors[2].failure, ServerFailure::Status(Status::BackendError));
    assert!(matches!(errors[3].failure, ServerFailure::Transport(_)), "{:?}", errors[3]);
    // The URLs are reported without the query, which holds the OTP.
    let message = result.unwrap_err().to_string();
    assert!(!message.contains(OTP), "{message}");
}

#[tokio::test]
async fn a_refusal_of_our_request_is_a_configuration_error() {
    let server = fake_server(Behaviour::Genuine(Status::NoSuchClient)).await;
    let result = verify(&client(&[&server], Duration::from_secs(10))).await;
    assert_eq!(result, Err(Error::Refused { url: server.url.clone(), status: Status::NoSuchClient }));

    // The fake server checks request signatures as YubiCloud does: a client with the wrong key is refused.
    let wrong_key = ClientKey::from_base64(OTHER_KEY).unwrap();
    let client =
        YubiCloudClient::new(CLIENT_ID, Some(wrong_key), vec![server.url.clone()], Duration::from_secs(10))
            .unwrap();
    // The server's BAD_SIGNATURE is signed with the id's real key, which this client does not hold: it
    // cannot be verified, but it still names the problem.
    assert_eq!(
        verify(&client).await,
        Err(Error::Refused { url: server.url.clone(), status: Status::BadSignature })
    );
}

#[tokio::test]
async fn an_unsigned_refusal_names_the_problem_but_an_unsigned_ok_is_no_answer() {
    let no_such_client = fake_server(Behaviour::Unsigned(Status::NoSuchClient)).await;
    assert_eq!(
        verify(&client(&[&no_such_client], Duration::from_secs(10))).await,
        Err(Error::Refused { url: no_such_client.url.clone(), status: Status::NoSuchClient })
    );
    for status in [Status::Ok, Status::ReplayedOtp, Status::BadOtp] {
        let unsigned = fake_server(Behaviour::Unsigned(status)).await;
        let result = verify(&client(&[&unsigned], Duration::from_secs(10))).await;
        assert_eq!(failures(result), [ServerFailure::Response(ResponseError::MissingSignature)], "{status}");
    }
    // A refusal does not outrank a genuine verdict from another server.
    let genuine = fake_server(Behaviour::Genuine(Status::Ok)).await;
    assert_eq!(
        verify(&client(&[&no_such_client, &genuine], Duration::from_secs(10))).await,
        Ok(Verdict::Valid)
    );
}

#[tokio::test]
async fn every_request_gets_a_fresh_nonce() {
    let server = fake_server(Behaviour::Genuine(Status::Ok)).await;
    let client = client(&[&server], Duration::from_secs(10));
    let otp = YubikeyOtp::parse(OTP).unwrap();
    let mut rng = TestRng(5);
    for _ in 0..3 {
        assert_eq!(client.verify(&otp, &mut rng).await, Ok(Verdict::Valid));
    }
    let mut nonces = server.state.nonces.lock().unwrap().clone();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "{nonces:?}");
}

/// Yubico's C client against the fake server: it signs its requests, which `QueryParams` must verify,
/// and checks our signed answers, echoes and statuses with its own code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ykclient_accepts_our_signed_answers() {
    let Some(ykclient) = keyward_testkit::require("ykclient", "libykclient-dev") else { return };
    // ykclient's documented exit codes: 0 OK, 2 replayed OTP, 3 any other OTP failure; others for errors.
    let cases = [
        (Behaviour::Genuine(Status::Ok), Some(0)),
        (Behaviour::Genuine(Status::ReplayedOtp), Some(2)),
        (Behaviour::Genuine(Status::BadOtp), Some(3)),
    ];
    for (behaviour, expected) in cases {
        let server = fake_server(behaviour).await;
        let ykclient = ykclient.clone();
        let url = server.url.clone();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(ykclient)
                .args(["--url", &url, "--apikey", KEY, &CLIENT_ID.to_string(), OTP])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            output.status.code(),
            expected,
            "{behaviour:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!((server.requests(), server.signed_requests()), (1, 1), "ykclient signs with --apikey");
    }

    // A forged answer must not pass ykclient either: it is not OK (0), whatever error it reports.
    let forged = fake_server(Behaviour::ForgedSignature).await;
    let url = forged.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(ykclient)
            .args(["--url", &url, "--apikey", KEY, &CLIENT_ID.to_string(), OTP])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_ne!(output.status.code(), Some(0), "ykclient accepted a forged answer");
}

/// The TLS stack (rustls with ring) is set up and used: an https URL pointing at a plain-HTTP server
/// fails in the handshake, as a transport failure, rather than panicking for want of a crypto provider.
#[tokio::test]
async fn https_goes_through_rustls_with_ring() {
    let plain = fake_server(Behaviour::Genuine(Status::Ok)).await;
    let url = plain.url.replace("http://", "https://");
    let client = YubiCloudClient::new(CLIENT_ID, None, vec![url], Duration::from_secs(10)).unwrap();
    let failures = failures(verify(&client).await);
    assert!(matches!(failures[..], [ServerFailure::Transport(_)]), "{failures:?}");
}
