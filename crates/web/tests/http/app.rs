//! `spawn_app()`: the router with test ports, and a client that keeps cookies and reads forms.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use keyward_core::UnixTime;
use keyward_core::ports::{Clock, CloudValidator, Entropy};
use keyward_core::seal::{KeyRing, MasterKey};
use keyward_core::usecase::{Services, Settings};
use keyward_mail::{AnyMailer, SmtpMailer};
use keyward_store::SqlStore;
use keyward_testkit::postgres::FreshDatabase;
use keyward_testkit::smtp::SmtpSink;
use keyward_web::hasher::BlockingHasher;
use keyward_web::metrics::{CountingMailer, Metrics};
use keyward_web::{AppState, app};
use keyward_webauthn::RelyingParty;
use tower::ServiceExt;

/// 2026-11-28T10:00:00Z, at the start of a TOTP step.
pub const START: u64 = 1_795_860_000;
/// Where the test app is reached: links in its e-mails start with it, and it is the relying party of
/// security keys.
pub const PUBLIC_URL: &str = "http://localhost";

/// A clock the test sets.
#[derive(Default)]
pub struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

/// Deterministic, never-repeating bytes (splitmix64), so tokens differ and failures replay.
pub struct TestEntropy(Mutex<u64>);

impl TestEntropy {
    pub fn new(seed: u64) -> TestEntropy {
        TestEntropy(Mutex::new(seed))
    }
}

impl Entropy for TestEntropy {
    fn fill(&self, buffer: &mut [u8]) {
        let mut state = self.0.lock().unwrap();
        for byte in buffer {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *byte = (z ^ (z >> 31)) as u8;
        }
    }
}

pub struct TestApp {
    pub router: Router,
    pub store: SqlStore,
    pub clock: Arc<TestClock>,
    pub keys: KeyRing,
    pub sink: SmtpSink,
    dir: std::path::PathBuf,
    pub backend: Backend,
    /// Delivers the outbox to the sink: after each request a browser sends, and before `received`.
    postman: Postman,
}

/// The outbox's delivery worker, as the server runs it: on a timer (for mail queued after an answer), and
/// here also right after each request, one pass at a time, so a test reads the mail of a request as soon
/// as it has the answer.
#[derive(Clone)]
pub struct Postman(Arc<Worker>);

/// The worker's services, the lock that makes its passes one at a time, and whether it is stopped.
pub struct Worker {
    services: Services<SqlStore, AnyMailer, BlockingHasher>,
    one_pass: tokio::sync::Mutex<()>,
    paused: AtomicBool,
}

impl Postman {
    fn start(services: Services<SqlStore, AnyMailer, BlockingHasher>) -> Postman {
        let postman = Postman(Arc::new(Worker {
            services,
            one_pass: tokio::sync::Mutex::new(()),
            paused: AtomicBool::new(false),
        }));
        let weak = Arc::downgrade(&postman.0);
        tokio::spawn(async move {
            while let Some(postman) = weak.upgrade().map(Postman) {
                postman.deliver().await;
                drop(postman);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        postman
    }

    async fn deliver(&self) {
        let _one_pass_at_a_time = self.0.one_pass.lock().await;
        if self.0.paused.load(Ordering::SeqCst) {
            return;
        }
        keyward_core::usecase::deliver_mail(&self.0.services, 10_000).await.unwrap();
    }
}

fn services_over(
    store: &SqlStore,
    sink: &SmtpSink,
    keys: &KeyRing,
    clock: &Arc<TestClock>,
    seed: u64,
) -> Services<SqlStore, AnyMailer, BlockingHasher> {
    let entropy: Arc<dyn Entropy> = Arc::new(TestEntropy::new(seed));
    let mailer =
        SmtpMailer::from_url(&format!("smtp://127.0.0.1:{}?tls=none", sink.port), "k@localhost").unwrap();
    Services {
        store: store.clone(),
        mailer: AnyMailer::Smtp(mailer),
        hasher: BlockingHasher::new(entropy.clone()),
        keys: KeyRing::parse(&keys.to_text()).unwrap(),
        settings: Settings { public_url: PUBLIC_URL.into(), ..Settings::default() },
        clock: clock.clone(),
        entropy,
        cloud: None,
        webauthn: Arc::new(RelyingParty::for_public_url(PUBLIC_URL, "Keyward")),
    }
}

pub async fn spawn_app(name: &str) -> Option<TestApp> {
    spawn_app_with(name, None).await
}

/// The app with a YubiCloud validator.
pub async fn spawn_app_with(name: &str, cloud: Option<Arc<dyn CloudValidator>>) -> Option<TestApp> {
    spawn(name, cloud, Backend::Sqlite).await
}

/// The app on a fresh PostgreSQL database (`None`, loudly, when there is no server; a failure under CI).
pub async fn spawn_app_on_postgres(name: &str) -> Option<TestApp> {
    let database = FreshDatabase::create().await?;
    spawn(name, None, Backend::Postgres(database)).await
}

/// Where a test app keeps its data.
pub enum Backend {
    Sqlite,
    Postgres(FreshDatabase),
}

async fn spawn(name: &str, cloud: Option<Arc<dyn CloudValidator>>, backend: Backend) -> Option<TestApp> {
    let dir = std::env::temp_dir().join(format!("keyward-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sink = SmtpSink::start(&dir)?;
    let url = match &backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("keyward.db").display()),
        Backend::Postgres(database) => database.url.clone(),
    };
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(TestClock(AtomicU64::new(START)));
    let entropy: Arc<dyn Entropy> = Arc::new(TestEntropy(Mutex::new(name.len() as u64)));
    let keys = KeyRing::new(MasterKey::from_bytes("test", &[7; 32]).unwrap());
    let metrics = Arc::new(Metrics::default());
    let mailer =
        SmtpMailer::from_url(&format!("smtp://127.0.0.1:{}?tls=none", sink.port), "Keyward <k@localhost>")
            .unwrap();
    let services = Services {
        store: store.clone(),
        mailer: CountingMailer::new(AnyMailer::Smtp(mailer), Arc::clone(&metrics)),
        hasher: BlockingHasher::new(entropy.clone()),
        keys: KeyRing::parse(&keys.to_text()).unwrap(),
        settings: Settings { public_url: PUBLIC_URL.into(), ..Settings::default() },
        clock: clock.clone(),
        entropy,
        cloud,
        webauthn: Arc::new(RelyingParty::for_public_url(PUBLIC_URL, "Keyward")),
    };
    let mut state = AppState::new(services);
    state.metrics = metrics;
    state.trusted_proxies = keyward_web::proxies::TrustedProxies::parse("10.0.0.0/8").unwrap();
    let router = app(state);
    let postman = Postman::start(services_over(&store, &sink, &keys, &clock, 0));
    Some(TestApp { router, store, clock, keys, sink, dir, backend, postman })
}

impl TestApp {
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Drops the test's PostgreSQL database (a failing test leaves it, to be looked at).
    pub async fn finish(self) {
        if let Backend::Postgres(database) = self.backend {
            self.store.close().await;
            database.drop_database().await;
        }
    }

    /// The database's size on disk in bytes (for SQLite, the file with its write-ahead log).
    pub async fn database_size(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite => ["keyward.db", "keyward.db-wal"]
                .iter()
                .filter_map(|file| std::fs::metadata(self.dir.join(file)).ok())
                .map(|metadata| metadata.len())
                .sum(),
            Backend::Postgres(database) => database.size().await as u64,
        }
    }

    /// Services over this app's store, clock and keys, for what runs outside a request (the CLI, the
    /// reminders); `seed` makes its random tokens differ from the app's.
    pub fn services(&self, seed: u64) -> Services<SqlStore, AnyMailer, BlockingHasher> {
        services_over(&self.store, &self.sink, &self.keys, &self.clock, seed)
    }

    /// `keyward operator add EMAIL`: the set-up link's path.
    pub async fn add_operator(&self, email: &str) -> String {
        let seed = email.bytes().fold(1000u64, |seed, b| seed.wrapping_mul(31).wrapping_add(u64::from(b)));
        let link = keyward_core::usecase::add_operator(&self.services(seed), email).await.unwrap();
        link.strip_prefix(PUBLIC_URL).unwrap().to_owned()
    }

    pub fn advance(&self, seconds: u64) {
        self.clock.0.fetch_add(seconds, Ordering::SeqCst);
    }

    pub fn browser(&self) -> Browser {
        Browser {
            router: self.router.clone(),
            cookies: HashMap::new(),
            peer: None,
            headers: Vec::new(),
            postman: self.postman.clone(),
        }
    }

    /// A browser whose requests come from `address` (as the socket peer).
    pub fn browser_at(&self, address: &str) -> Browser {
        Browser { peer: Some(SocketAddr::new(address.parse().unwrap(), 40000)), ..self.browser() }
    }

    /// The links in the mails sent to `to`, newest last.
    pub fn links_to(&self, to: &str) -> Vec<String> {
        let mut links = Vec::new();
        for message in self.sink.messages() {
            if message["rcpt_tos"].as_array().unwrap().iter().any(|r| r == to) {
                let content = message["content"].as_str().unwrap().replace("=\r\n", "").replace("=3D", "=");
                for part in content.split(PUBLIC_URL).skip(1) {
                    let path: String =
                        part.chars().take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<').collect();
                    links.push(path);
                }
            }
        }
        links.dedup();
        links
    }

    /// Whether a mail to `to` whose subject contains `subject` arrives within 10 seconds (notices are
    /// sent after the answer).
    /// Stops (`true`) or restarts the delivery worker, as if no node ran it.
    pub async fn pause_mail(&self, paused: bool) {
        let _between_passes = self.postman.0.one_pass.lock().await;
        self.postman.0.paused.store(paused, Ordering::SeqCst);
    }

    /// Services whose mail server refuses every connection, for a delivery worker that fails.
    pub fn services_with_mail_down(&self) -> Services<SqlStore, AnyMailer, BlockingHasher> {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut services = self.services(7);
        services.mailer = AnyMailer::Smtp(
            SmtpMailer::from_url(&format!("smtp://127.0.0.1:{closed}?tls=none"), "k@localhost").unwrap(),
        );
        services
    }

    /// Delivers what the outbox holds now, as the server's worker would.
    pub async fn deliver_mail(&self) {
        self.postman.deliver().await;
    }

    pub async fn received(&self, to: &str, subject: &str) -> bool {
        self.postman.deliver().await;
        eventually(|| self.subjects_to(to).iter().any(|s| s.contains(subject)).then_some(())).await.is_some()
    }

    /// The subjects of the mails sent to `to`.
    pub fn subjects_to(&self, to: &str) -> Vec<String> {
        self.sink
            .messages()
            .iter()
            .filter(|m| m["rcpt_tos"].as_array().unwrap().iter().any(|r| r == to))
            .map(|m| {
                let content = m["content"].as_str().unwrap();
                content.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
            })
            .collect()
    }
}

/// Polls `probe` for up to 10 seconds (for work done after the answer, such as a queued e-mail).
pub async fn eventually<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..200 {
        if let Some(found) = probe() {
            return Some(found);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// A response as the tests look at it.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        self.hidden("csrf")
    }

    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The text of the element with this id.
    pub fn element_text(&self, id: &str) -> String {
        let marker = format!("id=\"{id}\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no #{id} in {}", self.body));
        let after = &self.body[start..];
        let open = after.find('>').unwrap() + 1;
        after[open..].split('<').next().unwrap().to_owned()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

/// A browser: keeps cookies, follows nothing by itself.
#[derive(Clone)]
pub struct Browser {
    router: Router,
    cookies: HashMap<String, String>,
    peer: Option<SocketAddr>,
    headers: Vec<(String, String)>,
    postman: Postman,
}

impl Browser {
    /// Sends `name: value` with every request from now on.
    pub fn with_header(mut self, name: &str, value: &str) -> Browser {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Plants a cookie, as a page of another site (or an attacker at the same computer) might.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    /// The value of the cookie `name`, if the browser holds it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Whether the browser holds a cookie whose name ends with `suffix`.
    pub fn has_cookie(&self, suffix: &str) -> bool {
        self.cookies.keys().any(|name| name.ends_with(suffix))
    }

    async fn send(&mut self, mut request: Request<Body>) -> Page {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        for (name, value) in &self.headers {
            request.headers_mut().append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                header::HeaderValue::from_str(value).unwrap(),
            );
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        self.postman.deliver().await;
        for value in response.headers().get_all(header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers.get(header::LOCATION).map(|l| l.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
        Page { status, location, headers, body: String::from_utf8(body.to_vec()).unwrap() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request =
            Request::get(path).header(header::COOKIE, self.cookie_header()).body(Body::empty()).unwrap();
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String =
            fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Opens `form_page`, then posts `fields` with the page's CSRF token to `action`.
    pub async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form_page).await;
        assert!(page.status.is_success(), "{form_page}: {} {}", page.status, page.body);
        let csrf = page.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
