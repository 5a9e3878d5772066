//! Crash safety: `keyward serve` killed with SIGKILL again and again while it verifies YubiKey OTPs and
//! adds users through the JSON API, on SQLite and on PostgreSQL, then started again. Afterwards: no OTP
//! accepted before a crash is accepted again, every acknowledged user is there with their `user.added`
//! event and their password e-mail (the outbox delivers what was committed), the audit chain verifies,
//! and SQLite's own integrity check passes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_testkit::postgres::FreshDatabase;

use crate::operations::{Server, exchange, get, keyward, scratch, yubikey_log};
use crate::tools;

const MASTER_KEY: &str = "crash:3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const KILLS: usize = 8;

/// A browser over raw HTTP/1.1: a cookie jar, and forms posted with their CSRF field.
struct Client {
    port: u16,
    cookies: BTreeMap<String, String>,
}

impl Client {
    fn send(&mut self, method: &str, path: &str, headers: &str, body: &str) -> String {
        let cookies = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: {cookies}\r\n{headers}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let response = exchange(self.port, &request).unwrap();
        for line in response.lines().filter_map(|line| line.strip_prefix("set-cookie: ")) {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        response
    }

    fn get(&mut self, path: &str) -> String {
        self.send("GET", path, "", "")
    }

    /// Opens `page`, then posts `fields` with its CSRF token to `action`.
    fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> String {
        let form = self.get(page);
        let mut body = format!("csrf={}", between(&form, "name=\"csrf\" value=\"", "\""));
        for (name, value) in fields {
            body.push_str(&format!("&{name}={}", encode(value)));
        }
        self.send("POST", action, "Content-Type: application/x-www-form-urlencoded\r\n", &body)
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub(crate) fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?} in {text}")) + start.len();
    text[from..].split(end).next().unwrap()
}

/// The e-mails the outbox folder under `data` holds, as text (quoted-printable soft line breaks undone).
pub(crate) fn mails(data: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data.join("keyward-data/outbox")) else { return Vec::new() };
    entries
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .map(|mail| mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "="))
        .collect()
}

/// Waits up to `limit` for `probe` to find something.
fn waited_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Signs an account up through the pages, turns on authenticator apps and makes an API key; the key. The e-mail is looked for in the
/// outbox folders of `data` (one per node: any node's worker may deliver it).
pub(crate) fn api_key(port: u16, data: &[&Path]) -> String {
    let mut admin = Client { port, cookies: BTreeMap::new() };
    let fields = [
        ("account_name", "Crash Test"),
        ("email", "admin@crash.example"),
        ("password", "crash-test-password"),
    ];
    admin.submit("/signup", "/signup", &fields);
    let link = waited_for("the sign-up e-mail", Duration::from_secs(30), || {
        data.iter().flat_map(|dir| mails(dir)).find_map(|mail| {
            mail.find("/signup/").map(|at| mail[at..].split_whitespace().next().unwrap().to_owned())
        })
    });
    let link = link.trim_end_matches(['.', ')', '"', '>']).to_owned();
    admin.submit(&link, &link, &[]);
    let settings = [("totp", "on"), ("policy", "Support calls +45 70 20 30 40 first.")];
    admin.submit("/account/two-factor", "/account/two-factor", &settings);
    let made = admin.submit("/account/api-clients", "/account/api-clients", &[("name", "crash load")]);
    between(&made, "<code id=\"api-key\">", "<").to_owned()
}

pub(crate) fn add_user(port: u16, key: &str, email: &str) -> std::io::Result<String> {
    api(port, key, "POST", "/api/v1/users", &format!("{{\"email\":\"{email}\"}}"))
}

fn status_of(answer: &str) -> String {
    answer.lines().find_map(|line| line.strip_prefix("status=")).unwrap_or_default().to_owned()
}

/// What the load saw acknowledged.
#[derive(Default)]
struct Acknowledged {
    otps: Vec<String>,
    users: Vec<String>,
    /// Users whose app the API confirmed.
    enrolled: Vec<String>,
}

/// A JSON API call with the bearer `key`; the whole response.
pub(crate) fn api(port: u16, key: &str, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    exchange(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// Enrolls an app for the user `id` through the API (start, then the first code from `keyward otp totp`);
/// whether the confirmation was acknowledged.
fn enroll_app(port: u16, key: &str, id: &str, dir: &Path) -> std::io::Result<bool> {
    let started = api(port, key, "POST", &format!("/api/v1/users/{id}/totp"), "{}")?;
    if !started.starts_with("HTTP/1.1 201") {
        return Ok(false);
    }
    let uri = between(&started, "\"otpauth_uri\":\"", "\"").replace("\\u0026", "&");
    let code = tools::stdout_of(keyward(dir).args(["otp", "totp", "--uri", &uri])).trim().to_owned();
    let confirmed = api(
        port,
        key,
        "POST",
        &format!("/api/v1/users/{id}/totp/confirm"),
        &format!("{{\"code\":\"{code}\"}}"),
    )?;
    Ok(confirmed.starts_with("HTTP/1.1 200"))
}

fn crash_again_and_again(name: &str, env: &[(&str, &str)], sqlite_file: Option<&str>) {
    let dir = scratch(name);
    yubikey_log(&dir);
    assert!(
        tools::stdout_of(keyward(&dir).envs(env.iter().copied()).args(["yubikey", "import", "keys.csv"]))
            .contains("imported 1")
    );
    let added = tools::stdout_of(keyward(&dir).envs(env.iter().copied()).args(["yubikey", "client", "add"]));
    let id = between(&added, "id=", " ").to_owned();
    let start = || {
        let mut server = Server::start(keyward(&dir).envs(env.iter().copied()));
        server.ready();
        server
    };
    let mut server = start();
    let key = api_key(server.port, &[&dir]);
    // People to enroll during the crashes, made before them.
    for n in 0..60 {
        assert!(
            add_user(server.port, &key, &format!("enrollee{n}@crash.example"))
                .unwrap()
                .starts_with("HTTP/1.1 202")
        );
    }
    let listed = api(server.port, &key, "GET", "/api/v1/users", "").unwrap();
    let enrollees: Vec<(String, String)> = (0..60)
        .map(|n| {
            let email = format!("enrollee{n}@crash.example");
            let before = &listed[..listed.find(&format!(",\"email\":\"{email}\"")).expect(&listed)];
            (before[before.rfind("\"id\":").unwrap() + 5..].to_owned(), email)
        })
        .collect();
    let enrollees = Arc::new(Mutex::new(enrollees.into_iter()));
    let seen = Arc::new(Mutex::new(Acknowledged::default()));
    let mut next_user = 0;
    for kill in 0..KILLS {
        let running = Arc::new(AtomicBool::new(true));
        let port = server.port;
        // Two loads at once: OTP after OTP through the Validation Protocol, and users added by the API.
        let otps = {
            let (running, seen, dir, id) = (Arc::clone(&running), Arc::clone(&seen), dir.clone(), id.clone());
            std::thread::spawn(move || {
                let mut n = kill * 100_000;
                while running.load(Ordering::SeqCst) {
                    let otp = crate::validation::touch(&dir);
                    n += 1;
                    let Ok(answer) =
                        get(port, &format!("/wsapi/2.0/verify?id={id}&otp={otp}&nonce=crashnonce{n:010}"))
                    else {
                        break;
                    };
                    if status_of(&answer) == "OK" {
                        seen.lock().unwrap().otps.push(otp);
                    }
                }
            })
        };
        let users = {
            let (running, seen, key) = (Arc::clone(&running), Arc::clone(&seen), key.clone());
            let first = next_user;
            std::thread::spawn(move || {
                let mut n = first;
                while running.load(Ordering::SeqCst) {
                    let email = format!("user{n}@crash.example");
                    n += 1;
                    let Ok(answer) = add_user(port, &key, &email) else { break };
                    if answer.starts_with("HTTP/1.1 202") {
                        seen.lock().unwrap().users.push(email);
                    }
                }
                n
            })
        };
        let enrollments = {
            let (running, seen, key, dir, enrollees) =
                (Arc::clone(&running), Arc::clone(&seen), key.clone(), dir.clone(), Arc::clone(&enrollees));
            std::thread::spawn(move || {
                while running.load(Ordering::SeqCst) {
                    let Some((id, email)) = enrollees.lock().unwrap().next() else { break };
                    match enroll_app(port, &key, &id, &dir) {
                        Ok(true) => seen.lock().unwrap().enrolled.push(email),
                        Ok(false) => {}
                        Err(_) => break,
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300 + 90 * kill as u64));
        server.kill_hard();
        running.store(false, Ordering::SeqCst);
        otps.join().unwrap();
        enrollments.join().unwrap();
        next_user = users.join().unwrap();
        server = start();
    }

    let seen = seen.lock().unwrap();
    assert!(
        seen.otps.len() >= KILLS && seen.users.len() >= KILLS,
        "load ran: {} OTPs, {} users",
        seen.otps.len(),
        seen.users.len()
    );
    for (n, otp) in seen.otps.iter().enumerate() {
        let again =
            get(server.port, &format!("/wsapi/2.0/verify?id={id}&otp={otp}&nonce=afterthecrash{n:07}"))
                .unwrap();
        assert_eq!(status_of(&again), "REPLAYED_OTP", "an OTP accepted before a crash, again after it");
    }
    let listed = exchange(
        server.port,
        &format!("GET /api/v1/users HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n\r\n"),
    )
    .unwrap();
    for email in &seen.users {
        assert!(listed.contains(&format!("\"{email}\"")), "{email} was acknowledged, then lost");
    }
    for email in &seen.enrolled {
        let enrolled = format!("\"email\":\"{email}\",\"role\":\"user\",\"status\":\"enrolled\"");
        assert!(listed.contains(&enrolled), "{email}'s app was acknowledged, then lost");
    }
    // Every acknowledged user's password e-mail leaves the outbox: at once, or, where a kill caught a
    // worker sending it, once its 60-second lease has run out.
    let delivered = waited_for("every acknowledged user's e-mail", Duration::from_secs(90), || {
        let all = mails(&dir);
        seen.users.iter().all(|email| all.iter().any(|mail| mail.contains(email.as_str()))).then_some(all)
    });
    let audit = tools::stdout_of(keyward(&dir).envs(env.iter().copied()).args(["audit", "verify"]));
    assert!(audit.contains("the audit log is intact"), "{audit}");
    drop(server);
    let database = sqlite_file.map(|file| dir.join(file));
    let events = count(env, &database, "SELECT COUNT(*) FROM audit_events WHERE action = 'user.added'");
    assert!(
        events >= seen.users.len(),
        "{events} user.added events for {} acknowledged users",
        seen.users.len()
    );
    // Whatever a kill interrupted: no confirmed app without its recovery codes or its totp.enrolled event.
    let confirmed = "FROM totp_factors t WHERE t.confirmed_at IS NOT NULL AND NOT EXISTS";
    let without_codes =
        format!("SELECT COUNT(*) {confirmed} (SELECT 1 FROM recovery_codes r WHERE r.user_id = t.user_id)");
    let without_event = format!(
        "SELECT COUNT(*) {confirmed} (SELECT 1 FROM audit_events e WHERE e.action = 'totp.enrolled' \
         AND e.target = 'user:' || t.user_id)"
    );
    assert_eq!((count(env, &database, &without_codes), count(env, &database, &without_event)), (0, 0));
    let mut per_user: BTreeMap<&str, usize> = BTreeMap::new();
    for email in &seen.users {
        per_user.insert(email, delivered.iter().filter(|mail| mail.contains(email.as_str())).count());
    }
    let twice = per_user.values().filter(|count| **count > 1).count();
    if let Some(file) = sqlite_file {
        assert_eq!(sqlite(&dir.join(file), "PRAGMA integrity_check"), "ok");
    }
    eprintln!(
        "{name}: {KILLS} SIGKILLs; {} OTPs, {} users and {} app enrollments acknowledged, none lost or accepted \
         twice; every user's e-mail delivered, {twice} of them twice (a kill between the delivery and its record)",
        seen.otps.len(),
        seen.users.len(),
        seen.enrolled.len(),
    );
}

/// One value of `sql` on the SQLite file, through Python's sqlite3 (a reader we did not write).
fn sqlite(file: &Path, sql: &str) -> String {
    let script = format!(
        "import sqlite3; print(sqlite3.connect({:?}).execute({sql:?}).fetchone()[0])",
        file.display().to_string()
    );
    tools::stdout_of(std::process::Command::new("python3").args(["-c", &script])).trim().to_owned()
}

/// One count from the database, through a client we did not write (Python's sqlite3, or psql).
fn count(env: &[(&str, &str)], sqlite_file: &Option<std::path::PathBuf>, sql: &str) -> usize {
    let text = match sqlite_file {
        Some(file) => sqlite(file, sql),
        None => {
            let url = env.iter().find(|(name, _)| *name == "KEYWARD_DATABASE_URL").unwrap().1;
            tools::stdout_of(std::process::Command::new("psql").args([url, "-tAc", sql])).trim().to_owned()
        }
    };
    text.parse().unwrap_or_else(|_| panic!("a count: {text}"))
}

#[test]
fn sigkill_during_a_mixed_load_loses_nothing_on_sqlite() {
    crash_again_and_again(
        "crash-sqlite",
        &[("KEYWARD_MASTER_KEY", MASTER_KEY)],
        Some("keyward-data/keyward.db"),
    );
}

#[test]
fn sigkill_during_a_mixed_load_loses_nothing_on_postgres() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = runtime.block_on(FreshDatabase::create()) else { return };
    let env = [("KEYWARD_DATABASE_URL", database.url.as_str()), ("KEYWARD_MASTER_KEY", MASTER_KEY)];
    crash_again_and_again("crash-postgres", &env, None);
    runtime.block_on(database.drop_database());
}
