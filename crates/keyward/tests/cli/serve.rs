//! `keyward serve` on defaults: it starts, creates its data directory and answers health checks.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::tools;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyward-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_starts_on_defaults_and_answers_health_checks() {
    let dir = scratch_dir("serve");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Only the port differs from the embedded defaults, so parallel test runs do not collide.
    let _server = Server(
        tools::keyward()
            .arg("serve")
            .current_dir(&dir)
            .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let health = loop {
        match get(port, "/healthz") {
            Ok(response) => break response,
            Err(error) if started.elapsed() > Duration::from_secs(20) => panic!("never answered: {error}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    assert!(get(port, "/readyz").unwrap().starts_with("HTTP/1.1 200"));
    let home = get(port, "/").unwrap();
    assert!(home.starts_with("HTTP/1.1 303") && home.contains("location: /login"), "{home}");
    let login = get(port, "/login").unwrap();
    assert!(login.starts_with("HTTP/1.1 200") && login.contains("Log in"), "{login}");
    assert!(get(port, "/missing").unwrap().starts_with("HTTP/1.1 404"));
    assert!(dir.join("keyward-data").is_dir(), "the default data directory is created");
}

#[test]
fn serve_refuses_a_bad_configuration_with_a_reason() {
    let dir = scratch_dir("badconfig");
    std::fs::write(dir.join("keyward.toml"), "listen = \"127.0.0.1:0\"\nunknown_key = 1\n").unwrap();
    let output = tools::output_of(tools::keyward().arg("serve").current_dir(&dir));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("keyward.toml") && stderr.contains("unknown_key"), "{stderr}");

    let output =
        tools::output_of(tools::keyward().arg("serve").current_dir(&dir).args(["--config", "nope.toml"]));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope.toml"));
}
