//! The workloads and the driver: K connections, each sending its next request as soon as the last one
//! answered, for a fixed time; every answer checked, every latency kept.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;
use keyward_core::wsapi::{ClientKey, Nonce, VerifyRequest};

use crate::edge;
use crate::fixture::{self, Fixture, PASSWORD};
use crate::http::{Connection, csrf_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// `GET /healthz`: what the server does for any request, with no work behind it.
    Trivial,
    /// `POST /api/v1/verify` with a fresh, valid code.
    Verify,
    /// `GET /wsapi/2.0/verify`, signed, with a fresh YubiKey OTP.
    Wsapi,
    /// A whole login: the sign-in page, the password, the second-step page, the code.
    Login,
    /// The sign-in page and a correct password, again and again: argon2 for every request.
    Password,
    /// `GET --page` as the account's admin (logged in once per connection): an admin page as the account grows.
    Page,
    /// "Add user" as the admin, a new address each time.
    AddUser,
    /// "Send enrollment e-mail" to all users not yet enrolled, as the admin.
    SendToAll,
}

impl Workload {
    /// Whether each connection logs in as the account's admin first.
    pub fn as_admin(self) -> bool {
        matches!(self, Workload::Page | Workload::AddUser | Workload::SendToAll)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Factor {
    /// The user's YubiKey: every touch is a fresh OTP, so any rate can be sustained.
    Yubikey,
    /// The user's app at the current step: each user once per 30-second step; when every user has been
    /// used in a step, connections wait for the next step (reported as `waited`).
    Totp,
}

/// The codes the runs type: whose turn it is, each user's presses and last TOTP step.
pub struct Codes {
    pub fixture: Fixture,
    /// The page [`Workload::Page`] asks for.
    pub page: String,
    next_user: AtomicU64,
    presses: Vec<AtomicU32>,
    totp_steps: Vec<AtomicU64>,
    /// Users with a request in flight: a person does not type two codes at once, and an OTP overtaken by
    /// the next one of the same key would rightly be refused as replayed.
    busy: Vec<AtomicBool>,
    pub waited: AtomicU64,
    /// Users added by [`Workload::AddUser`] so far.
    added: AtomicU64,
    /// Touches of the admin's YubiKey so far.
    admin_presses: AtomicU32,
}

impl Codes {
    pub fn new(fixture: Fixture, page: String) -> Codes {
        let users = usize::try_from(fixture.users).unwrap_or(usize::MAX);
        let last = fixture.last_totp_step;
        Codes {
            next_user: AtomicU64::new(0),
            presses: (0..users).map(|_| AtomicU32::new(0)).collect(),
            totp_steps: (0..users).map(|_| AtomicU64::new(last)).collect(),
            busy: (0..users).map(|_| AtomicBool::new(false)).collect(),
            waited: AtomicU64::new(0),
            added: AtomicU64::new(0),
            admin_presses: AtomicU32::new(0),
            fixture,
            page,
        }
    }

    /// The next user without a request in flight, theirs until the [`Turn`] is dropped.
    async fn next_user(&self) -> Turn<'_> {
        loop {
            let n = self.next_user.fetch_add(1, Ordering::Relaxed) % self.fixture.users;
            if !self.busy[n as usize].swap(true, Ordering::Acquire) {
                return Turn { codes: self, n };
            }
            tokio::task::yield_now().await;
        }
    }

    /// A user and a code nobody typed before.
    async fn fresh(&self, factor: Factor) -> anyhow::Result<(Turn<'_>, String)> {
        let turn = self.next_user().await;
        let code = self.code_for(turn.n, factor).await?;
        Ok((turn, code))
    }

    /// A code of user `n` nobody typed before.
    async fn code_for(&self, n: u64, factor: Factor) -> anyhow::Result<String> {
        match factor {
            Factor::Yubikey => self.press(n),
            Factor::Totp => loop {
                let totp = self.fixture.totp(n)?;
                let step = totp.step_at(edge::now())?;
                if self.totp_steps[n as usize].fetch_max(step, Ordering::Relaxed) < step {
                    return Ok(totp.code_for_step(step).to_string());
                }
                self.waited.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            },
        }
    }

    fn press(&self, n: u64) -> anyhow::Result<String> {
        let press = self.presses[n as usize].fetch_add(1, Ordering::Relaxed);
        Ok(self.fixture.yubikey_otp(n, press, &mut edge::rng())?.to_string())
    }

    /// The fixture to save after a run: counters and steps past everything this run typed.
    pub fn fixture_after(&self) -> Fixture {
        let most_presses = self.presses.iter().map(|p| p.load(Ordering::Relaxed)).max().unwrap_or(0);
        let most_presses = most_presses.max(self.admin_presses.load(Ordering::Relaxed));
        let counters = u16::try_from(most_presses / 256 + 1).unwrap_or(u16::MAX);
        let last_step = self.totp_steps.iter().map(|s| s.load(Ordering::Relaxed)).max().unwrap_or(0);
        Fixture {
            next_counter: self.fixture.next_counter.saturating_add(counters),
            last_totp_step: last_step.max(self.fixture.last_totp_step),
            ..self.fixture.clone()
        }
    }
}

/// A user's turn: nobody else sends a request for them until it ends.
struct Turn<'a> {
    codes: &'a Codes,
    n: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.codes.busy[self.n as usize].store(false, Ordering::Release);
    }
}

/// What one phase measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of each successful request (a whole login counts as one), in microseconds.
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn per_second(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let index = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[index]) / 1000.0
    }
}

/// Runs `workload` over `connections` connections spread over `nodes` for `duration`. Each connection
/// comes from its own loopback address (127.1.x.y), as distinct clients would.
pub async fn drive(
    nodes: &[SocketAddr],
    connections: usize,
    duration: Duration,
    workload: Workload,
    factor: Factor,
    codes: &Arc<Codes>,
    first_source: u32,
) -> anyhow::Result<Outcome> {
    // Connections are opened (and the admin logged in) before the clock starts.
    let mut opening = Vec::with_capacity(connections);
    for index in 0..connections {
        let node = nodes[index % nodes.len()];
        let source = IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + first_source + index as u32));
        let codes = Arc::clone(codes);
        opening.push(tokio::spawn(async move {
            let mut connection = Connection::open(node, Some(source)).await?;
            if workload.as_admin() {
                admin_login(&mut connection, &codes).await?;
            }
            Ok::<_, anyhow::Error>((node, source, connection))
        }));
    }
    let mut opened = Vec::with_capacity(connections);
    for task in opening {
        opened.push(task.await.context("opening a connection failed")??);
    }
    let began = Instant::now();
    let deadline = began + duration;
    let mut tasks = Vec::with_capacity(connections);
    for (node, source, connection) in opened {
        let codes = Arc::clone(codes);
        tasks.push(tokio::spawn(async move {
            run_connection(connection, node, source, deadline, workload, factor, &codes).await
        }));
    }
    let mut outcome = Outcome::default();
    for task in tasks {
        outcome.merge(task.await.context("a connection's task failed")??);
    }
    outcome.elapsed = began.elapsed();
    Ok(outcome)
}

async fn run_connection(
    mut connection: Connection,
    node: SocketAddr,
    source: IpAddr,
    deadline: Instant,
    workload: Workload,
    factor: Factor,
    codes: &Codes,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::default();
    while Instant::now() < deadline {
        let began = Instant::now();
        match one(&mut connection, workload, factor, codes).await {
            Ok(()) => {
                outcome.latencies_us.push(u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX))
            }
            Err(error) => {
                outcome.errors += 1;
                outcome.first_error.get_or_insert_with(|| format!("{error:#}"));
                // A broken connection is opened again; a refused answer is simply counted.
                connection = Connection::open(node, Some(source)).await?;
                if workload.as_admin() {
                    admin_login(&mut connection, codes).await?;
                }
            }
        }
    }
    Ok(outcome)
}

/// One request of `workload` (a whole login for [`Workload::Login`]), its answer checked.
pub async fn one(
    connection: &mut Connection,
    workload: Workload,
    factor: Factor,
    codes: &Codes,
) -> anyhow::Result<()> {
    match workload {
        Workload::Trivial => trivial(connection).await,
        Workload::Verify => verify(connection, codes, factor).await,
        Workload::Wsapi => wsapi(connection, codes).await,
        Workload::Login => login(connection, codes, factor).await,
        Workload::Password => password(connection, codes).await.map(|_| ()),
        Workload::Page => page(connection, codes).await,
        Workload::AddUser => {
            let n = codes.added.fetch_add(1, Ordering::Relaxed);
            let email = format!("added{n}-{}@bench.example", codes.fixture.next_counter);
            admin_form(connection, "/account/users", &[("email", &email)]).await
        }
        Workload::SendToAll => admin_form(connection, "/account/two-factor/totp", &[("user", "all")]).await,
    }
}

/// Posts an admin form with the CSRF token of the page it is on; the answer must be a redirect back or the
/// page again with a success notice.
async fn admin_form(connection: &mut Connection, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<()> {
    let page = connection.get(path, &[]).await?;
    let csrf = csrf_of(&page.text()).context("the page has no form")?.to_owned();
    let fields = [&[("csrf", csrf.as_str())][..], fields].concat();
    let answer = connection.post_form(path, &fields).await?;
    if !(answer.status == 303 || answer.status == 200 && answer.text().contains("notice-success")) {
        bail!("{path} answered {}: {}", answer.status, answer.excerpt());
    }
    Ok(())
}

async fn page(connection: &mut Connection, codes: &Codes) -> anyhow::Result<()> {
    let answer = connection.get(&codes.page, &[]).await?;
    if answer.status != 200 {
        bail!("{} answered {} to {:?}", codes.page, answer.status, answer.location);
    }
    Ok(())
}

/// Logs the connection in as the account's admin: password, then the admin's app.
pub async fn admin_login(connection: &mut Connection, codes: &Codes) -> anyhow::Result<()> {
    let page = connection.get("/login", &[]).await?;
    let csrf = csrf_of(&page.text()).context("the sign-in page has no CSRF token")?.to_owned();
    let fields = [("csrf", csrf.as_str()), ("email", fixture::ADMIN_EMAIL), ("password", PASSWORD)];
    let answer = connection.post_form("/login", &fields).await?;
    if answer.location.as_deref() != Some("/login/otp") {
        bail!("the admin's password step answered {} to {:?}", answer.status, answer.location);
    }
    let page = connection.get("/login/otp", &[]).await?;
    let csrf = csrf_of(&page.text()).context("the second step has no CSRF token")?.to_owned();
    let press = codes.admin_presses.fetch_add(1, Ordering::Relaxed);
    let otp = codes.fixture.yubikey_otp(fixture::ADMIN, press, &mut edge::rng())?.to_string();
    let answer = connection.post_form("/login/otp", &[("csrf", &csrf), ("otp", &otp)]).await?;
    if answer.status != 303 || answer.location.as_deref().is_none_or(|to| to.starts_with("/login")) {
        bail!("the admin's second step answered {}: {}", answer.status, answer.excerpt());
    }
    Ok(())
}

async fn trivial(connection: &mut Connection) -> anyhow::Result<()> {
    let answer = connection.get("/healthz", &[]).await?;
    if answer.status != 200 {
        bail!("/healthz answered {}", answer.status);
    }
    Ok(())
}

async fn verify(connection: &mut Connection, codes: &Codes, factor: Factor) -> anyhow::Result<()> {
    let (turn, otp) = codes.fresh(factor).await?;
    let body = serde_json::json!({ "email": Fixture::email(turn.n), "otp": otp }).to_string();
    let bearer = format!("Bearer {}", codes.fixture.api_key);
    let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
    let answer = connection.post("/api/v1/verify", &headers, body).await?;
    if answer.status != 200 || !answer.text().contains("\"verdict\":\"ok\"") {
        bail!("verify answered {}: {}", answer.status, answer.excerpt());
    }
    Ok(())
}

async fn wsapi(connection: &mut Connection, codes: &Codes) -> anyhow::Result<()> {
    let key = ClientKey::from_base64(&codes.fixture.yubico_client_key)?;
    let (_turn, otp) = codes.fresh(Factor::Yubikey).await?;
    let id = u64::try_from(codes.fixture.yubico_client_id)?;
    let request = VerifyRequest::new(id, otp.parse()?, Nonce::generate(&mut edge::rng()));
    let answer = connection.get(&format!("/wsapi/2.0/verify?{}", request.query(Some(&key))), &[]).await?;
    if answer.status != 200 || !answer.text().contains("status=OK") {
        bail!("the Validation Protocol answered {}: {}", answer.status, answer.excerpt());
    }
    Ok(())
}

/// The sign-in page and a correct password; the user's turn, for the second step.
async fn password<'a>(connection: &mut Connection, codes: &'a Codes) -> anyhow::Result<Turn<'a>> {
    connection.forget_cookies();
    let turn = codes.next_user().await;
    let n = turn.n;
    let page = connection.get("/login", &[]).await?;
    let csrf = csrf_of(&page.text()).context("the sign-in page has no CSRF token")?.to_owned();
    let email = Fixture::email(n);
    let answer =
        connection.post_form("/login", &[("csrf", &csrf), ("email", &email), ("password", PASSWORD)]).await?;
    if answer.status != 303 || answer.location.as_deref() != Some("/login/otp") {
        bail!("the password step answered {} to {:?}: {}", answer.status, answer.location, answer.excerpt());
    }
    Ok(turn)
}

async fn login(connection: &mut Connection, codes: &Codes, factor: Factor) -> anyhow::Result<()> {
    let turn = password(connection, codes).await?;
    let page = connection.get("/login/otp", &[]).await?;
    let csrf = csrf_of(&page.text()).context("the second step has no CSRF token")?.to_owned();
    let otp = codes.code_for(turn.n, factor).await?;
    let answer = connection.post_form("/login/otp", &[("csrf", &csrf), ("otp", &otp)]).await?;
    if answer.status != 303 || answer.location.as_deref().is_none_or(|to| to.starts_with("/login")) {
        bail!("the second step answered {} to {:?}: {}", answer.status, answer.location, answer.excerpt());
    }
    Ok(())
}
