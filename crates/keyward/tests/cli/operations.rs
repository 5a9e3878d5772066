//! `keyward serve` as an operator runs it: the master key it needs, SIGTERM while requests run, metrics
//! on their own address, processes started together, private files, and a configuration that refuses typos.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::tools;

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `keyward` in `dir`, with none of the caller's `KEYWARD_*` settings.
pub(crate) fn keyward(dir: &Path) -> Command {
    let mut command = tools::keyward();
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYWARD_") {
            command.env_remove(name);
        }
    }
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn stderr_of_failure(command: &mut Command) -> String {
    let output = tools::output_of(command);
    assert!(!output.status.success(), "should fail: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One HTTP/1.1 exchange on a fresh connection; the whole response as text.
pub(crate) fn exchange(port: u16, request: &str) -> std::io::Result<String> {
    exchange_then(port, request, || {})
}

/// [`exchange`], calling `sent` once the request is written and before the answer is read.
fn exchange_then(port: u16, request: &str, sent: impl FnOnce()) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(request.as_bytes())?;
    sent();
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

pub(crate) fn get(port: u16, path: &str) -> std::io::Result<String> {
    exchange(port, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
}

/// A server process, killed when the test ends however it ends.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn start(command: &mut Command) -> Server {
        let port = free_port();
        let child = command
            .arg("serve")
            .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Server { child, port }
    }

    /// Waits until `/readyz` answers 200.
    pub(crate) fn ready(&mut self) -> &mut Server {
        let started = Instant::now();
        loop {
            if let Ok(response) = get(self.port, "/readyz")
                && response.starts_with("HTTP/1.1 200")
            {
                return self;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited with {status} before it was ready");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "never ready on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a power cut or the OOM killer would; returns once the process is gone.
    pub(crate) fn kill_hard(&mut self) {
        self.signal("KILL");
        self.wait(Duration::from_secs(10));
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-s", name, &pid]).status().unwrap().success());
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The login form's CSRF cookie and field, as a browser would get them.
fn login_form(port: u16) -> (String, String) {
    let page = get(port, "/login").unwrap();
    let cookie = page
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|value| value.split(';').next())
        .unwrap_or_else(|| panic!("no cookie: {page}"))
        .to_owned();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let field = page[start..].split('"').next().unwrap().to_owned();
    (cookie, field)
}

fn post_login(
    port: u16,
    cookie: &str,
    csrf: &str,
    email: &str,
    sent: impl FnOnce(),
) -> std::io::Result<String> {
    let body = format!("csrf={csrf}&email={}&password=wrong-password-123", email.replace('@', "%40"));
    exchange_then(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        sent,
    )
}

pub(crate) fn yubikey_log(dir: &Path) {
    std::fs::write(
        dir.join("keys.csv"),
        "Yubico OTP,11/28/26 10:01 AM,1,vvcccbdefghi,0a0b0c0d0e0f,00112233445566778899aabbccddeeff,,,0,0,0,0,0,0,0,0,0,0\n",
    )
    .unwrap();
}

#[test]
fn serve_refuses_to_start_without_the_keys_its_secrets_are_sealed_under() {
    let dir = scratch("missing-key");
    yubikey_log(&dir);
    tools::stdout_of(keyward(&dir).args(["yubikey", "import", "keys.csv"]));
    let key_file = dir.join("keyward-data/master.key");
    let text = std::fs::read_to_string(&key_file).unwrap();
    let id = text.split(':').next().unwrap().to_owned();
    assert!(id.len() > "2026-12-01".len(), "the id is more than the date: {id}");

    std::fs::rename(&key_file, dir.join("master.key.moved")).unwrap();
    let stderr = stderr_of_failure(keyward(&dir).arg("serve"));
    assert!(stderr.contains(&id) && stderr.contains("master.key"), "{stderr}");
    assert!(!key_file.exists(), "no key was made where sealed values exist");

    let generated = tools::stdout_of(keyward(&dir).args(["keys", "generate"]));
    let other = tools::stdout_of(keyward(&dir).args(["keys", "generate"]));
    assert_ne!(generated, other);
    assert_ne!(generated.split(':').next(), other.split(':').next(), "ids differ on one day");
    let stderr = stderr_of_failure(keyward(&dir).arg("serve").env("KEYWARD_MASTER_KEY", generated.trim()));
    assert!(stderr.contains(&id) && stderr.contains("KEYWARD_MASTER_KEY"), "{stderr}");

    // The right key, from the environment this time, with an older one after it.
    let ring = format!("{},{}", text.trim(), generated.trim());
    let mut server = Server::start(keyward(&dir).env("KEYWARD_MASTER_KEY", ring));
    server.ready();
}

#[test]
fn postgres_nodes_never_make_a_key_of_their_own() {
    let Some(url) = std::env::var("KEYWARD_TEST_DATABASE_URL").ok().or_else(|| {
        keyward_testkit::missing("PostgreSQL", "set KEYWARD_TEST_DATABASE_URL or start PostgreSQL")
    }) else {
        return;
    };
    let dir = scratch("pg-key");
    let database = format!("keyward_ops_{}", std::process::id());
    let admin = |sql: &str| {
        let status = Command::new("psql").args([url.as_str(), "-qAtc", sql]).status().unwrap();
        assert!(status.success(), "{sql}");
    };
    admin(&format!("DROP DATABASE IF EXISTS {database}"));
    admin(&format!("CREATE DATABASE {database}"));
    let base = url.rsplit_once('/').unwrap().0;
    let database_url = format!("{base}/{database}?sslmode=require");
    let node = |key: Option<&str>| {
        let mut command = keyward(&dir);
        command.env("KEYWARD_DATABASE_URL", &database_url);
        if let Some(key) = key {
            command.env("KEYWARD_MASTER_KEY", key);
        }
        command
    };
    let stderr = stderr_of_failure(node(None).arg("serve"));
    assert!(stderr.contains("keyward keys generate"), "{stderr}");
    assert!(!dir.join("keyward-data/master.key").exists());

    let key = tools::stdout_of(keyward(&dir).args(["keys", "generate"])).trim().to_owned();
    yubikey_log(&dir);
    tools::stdout_of(node(Some(&key)).args(["yubikey", "import", "keys.csv"]));
    let stranger = tools::stdout_of(keyward(&dir).args(["keys", "generate"])).trim().to_owned();
    let stderr = stderr_of_failure(node(Some(&stranger)).arg("serve"));
    assert!(stderr.contains(key.split(':').next().unwrap()), "names the missing id: {stderr}");
    let mut server = Server::start(&mut node(Some(&key)));
    server.ready();
    drop(server);
    admin(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
}

#[test]
fn sigterm_lets_the_logins_in_flight_finish_then_exits_zero() {
    let dir = scratch("sigterm");
    let metrics_port = free_port();
    let mut server = Server::start(
        keyward(&dir)
            .env("KEYWARD_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
            .env("KEYWARD_SHUTDOWN_TIMEOUT_SECS", "60"),
    );
    server.ready();
    let port = server.port;
    let (cookie, csrf) = login_form(port);
    // Password checks at once (the per-address budget's free ten): argon2 runs two at a time, so most
    // of them wait in line when the signal comes.
    const LOGINS: usize = 10;
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let logins: Vec<_> = (0..LOGINS)
        .map(|n| {
            let (cookie, csrf, sent) = (cookie.clone(), csrf.clone(), sent_tx.clone());
            std::thread::spawn(move || {
                let response = post_login(port, &cookie, &csrf, &format!("user{n}@example.com"), || {
                    let _ = sent.send(());
                });
                (response, Instant::now())
            })
        })
        .collect();
    for _ in 0..LOGINS {
        sent_rx.recv().unwrap();
    }
    // Written is not yet accepted (a connection still in the kernel's backlog when the listener closes
    // is reset, and a proxy retries it). The backlog is first in, first out: once a health check made
    // after them is answered, every login is in the server's hands.
    assert!(get(port, "/healthz").unwrap().starts_with("HTTP/1.1 200"));
    let signalled = Instant::now();
    server.signal("TERM");
    let mut after_signal = 0;
    for login in logins {
        let (response, answered) = login.join().unwrap();
        let response = response.expect("answered, not cut off");
        assert!(response.starts_with("HTTP/1.1 422"), "{}", response.lines().next().unwrap_or(""));
        assert!(response.contains("Log in"), "the whole page arrived");
        after_signal += usize::from(answered > signalled);
    }
    assert!(after_signal > 0, "every login ended before the signal: the test proved nothing");
    assert!(server.wait(Duration::from_secs(30)).success(), "exit code 0");
    assert!(get(port, "/healthz").is_err(), "no longer listening");
}

#[test]
fn metrics_move_after_a_login_and_are_served_only_on_their_own_address() {
    let dir = scratch("metrics");
    let metrics_port = free_port();
    let mut server =
        Server::start(keyward(&dir).env("KEYWARD_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")));
    server.ready();
    let (cookie, csrf) = login_form(server.port);
    let before = get(metrics_port, "/metrics").unwrap();
    assert!(before.contains("keyward_login_attempts_total{result=\"failed\"} 0"), "{before}");
    post_login(server.port, &cookie, &csrf, "nobody@example.com", || {}).unwrap();
    let after = get(metrics_port, "/metrics").unwrap();
    assert!(after.contains("keyward_login_attempts_total{result=\"failed\"} 1"), "{after}");
    assert!(after.contains("route=\"/login\""), "request durations by route: {after}");
    assert!(get(server.port, "/metrics").unwrap().starts_with("HTTP/1.1 404"), "not on the public listener");
}

#[test]
fn ten_processes_started_together_on_a_fresh_data_directory_all_come_up() {
    let dir = scratch("ten");
    let mut servers: Vec<Server> = (0..10).map(|_| Server::start(&mut keyward(&dir))).collect();
    for server in &mut servers {
        server.ready();
    }
    let key = std::fs::read_to_string(dir.join("keyward-data/master.key")).unwrap();
    assert_eq!(key.lines().count(), 1, "one key, made once");
    let data = dir.join("keyward-data");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory is private");
    for file in ["keyward.db", "keyward.db-wal", "keyward.db-shm", "master.key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file} is private");
    }
    for server in &servers {
        server.signal("TERM");
    }
    for server in &mut servers {
        assert!(server.wait(Duration::from_secs(30)).success());
    }
}

#[test]
fn an_unknown_variable_stops_the_start_and_config_masks_secrets() {
    let dir = scratch("config");
    let stderr = stderr_of_failure(keyward(&dir).arg("serve").env("KEYWARD_DATABSE_URL", "postgres://db/kw"));
    assert!(stderr.contains("KEYWARD_DATABSE_URL") && stderr.contains("KEYWARD_DATABASE_URL"), "{stderr}");
    assert!(!dir.join("keyward-data").exists(), "nothing was started");
    let shown = tools::stdout_of(
        keyward(&dir)
            .arg("config")
            .env("KEYWARD_SMTP_URL", "smtps://mailer:hunter2@mail.example.com")
            .env("KEYWARD_ISSUER", "Example Corp"),
    );
    assert!(shown.contains("smtp_url = smtps://mailer:****@mail.example.com"), "{shown}");
    assert!(shown.contains("issuer = Example Corp"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn yubikey_secrets_can_come_from_a_file_or_standard_input_instead_of_the_command_line() {
    let dir = scratch("key-file");
    let key = "00112233445566778899aabbccddeeff";
    let simulate = |key_args: &[&str]| {
        let mut command = keyward(&dir);
        command.args(["yubikey", "simulate", "--private-id", "0a0b0c0d0e0f", "--public-id", "vvcccbdefghi"]);
        command.args(["--state", "key.json"]).args(key_args);
        command
    };
    let otp = tools::stdout_of(&mut simulate(&["--key", key]));
    let from_arg = tools::stdout_of(keyward(&dir).args(["yubikey", "decode", "--key", key, &otp]));
    std::fs::write(dir.join("aes.key"), format!("{key}\n")).unwrap();
    let from_file =
        tools::stdout_of(keyward(&dir).args(["yubikey", "decode", "--key-file", "aes.key", &otp]));
    assert_eq!(from_file, from_arg);
    let mut child = keyward(&dir)
        .args(["yubikey", "decode", "--key-file", "-", &otp])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(key.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim(), from_arg);
    // simulate reads it the same way, and the next touch decodes with a higher use counter.
    let next = tools::stdout_of(&mut simulate(&["--key-file", "aes.key"]));
    let decoded: serde_json::Value = serde_json::from_str(&tools::stdout_of(
        keyward(&dir).args(["yubikey", "decode", "--key", key, &next]),
    ))
    .unwrap();
    let first: serde_json::Value = serde_json::from_str(&from_arg).unwrap();
    assert!(decoded["use"].as_u64() > first["use"].as_u64(), "{decoded} after {first}");
    let stderr = stderr_of_failure(keyward(&dir).args(["yubikey", "decode", &otp]));
    assert!(stderr.contains("--key"), "{stderr}");
}

/// The repository's `deploy/` folder.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = tools::require("systemd-analyze", "systemd") else { return };
    let dir = scratch("systemd");
    let unit = std::fs::read_to_string(deploy_dir().join("keyward.service")).unwrap();
    let verify = |text: &str| {
        // The unit names the installed binary; verify checks that it is executable, so a stand-in.
        let installed = "ExecStart=/usr/local/bin/keyward ";
        assert!(text.contains(installed), "{text}");
        std::fs::write(dir.join("keyward.service"), text.replace(installed, "ExecStart=/bin/true ")).unwrap();
        let output = tools::output_of(
            Command::new(&analyze)
                .args(["verify", "--man=no", "--generators=no", "keyward.service"])
                .current_dir(&dir)
                .env_remove("SYSTEMD_LOG_LEVEL"),
        );
        (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (ok, stderr) = verify(&unit);
    assert!(ok && stderr.trim().is_empty(), "systemd-analyze verify complained:\n{stderr}");
    // The check can fail: a misspelt option only warns, and the warning is what the test reads.
    let (_, stderr) = verify(&unit.replace("ProtectSystem=", "ProtectSystm="));
    assert!(stderr.contains("ProtectSystm"), "a misspelt option went unnoticed: {stderr}");
}

#[test]
fn the_example_configuration_is_accepted_as_it_is() {
    let dir = scratch("example-config");
    let example = deploy_dir().join("keyward.toml");
    let shown = tools::stdout_of(keyward(&dir).arg("--config").arg(&example).arg("config"));
    assert!(shown.contains("public_url = https://2fa.example.com"), "{shown}");
    assert!(shown.contains("log_format = json"), "{shown}");
}

#[test]
fn operators_are_added_listed_and_removed_from_the_command_line() {
    let dir = scratch("operators");
    let added = tools::stdout_of(keyward(&dir).args(["operator", "add", "Olga@Support.example"]));
    assert!(
        added.contains("one-time set-up link (valid 72 hours): http://127.0.0.1:8080/password/"),
        "{added}"
    );
    let listed = tools::stdout_of(keyward(&dir).args(["operator", "list"]));
    assert!(listed.starts_with("olga@support.example\tsetting up\t"), "{listed}");
    let twice = stderr_of_failure(keyward(&dir).args(["operator", "add", "olga@support.example"]));
    assert!(twice.contains("olga@support.example is already an operator."), "{twice}");
    let not_an_address = stderr_of_failure(keyward(&dir).args(["operator", "add", "olga"]));
    assert!(not_an_address.contains("is not an e-mail address"), "{not_an_address}");

    let removed = tools::stdout_of(keyward(&dir).args(["operator", "remove", "olga@support.example"]));
    assert!(removed.contains("olga@support.example can no longer log in"), "{removed}");
    let listed = tools::stdout_of(keyward(&dir).args(["operator", "list"]));
    assert!(listed.starts_with("olga@support.example\tremoved\t"), "{listed}");
    let unknown = stderr_of_failure(keyward(&dir).args(["operator", "remove", "nobody@support.example"]));
    assert!(unknown.contains("There is no operator nobody@support.example."), "{unknown}");
    let back = tools::stdout_of(keyward(&dir).args(["operator", "add", "olga@support.example"]));
    assert!(back.contains("/password/"), "a removed operator can be let back in: {back}");
    let audit = tools::stdout_of(keyward(&dir).args(["audit", "verify"]));
    assert!(audit.contains("3 events"), "added, removed, added again, on an intact chain: {audit}");
}
