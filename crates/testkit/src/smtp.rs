//! An SMTP sink for tests: Python's aiosmtpd on a free port, recording every event it sees.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An aiosmtpd server on a free port that appends one JSON line per event to a file: `auth` with the
/// credentials it was given, `data` with the envelope and the raw message. It offers AUTH without
/// TLS (so the credentials can be checked) and no STARTTLS. A recipient whose address starts with
/// `refused` is refused (550); a message to one starting with `slow` is accepted after 2 seconds.
const SINK: &str = r#"
import asyncio, json, sys
from aiosmtpd.smtp import SMTP, AuthResult

path = sys.argv[1]

def record(event):
    with open(path, "a") as f:
        f.write(json.dumps(event) + "\n")

def authenticator(server, session, envelope, mechanism, auth_data):
    record({"event": "auth", "mechanism": mechanism,
            "login": auth_data.login.decode(), "password": auth_data.password.decode()})
    return AuthResult(success=True, auth_data=auth_data)

class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.startswith("slow") for r in envelope.rcpt_tos):
            await asyncio.sleep(2)
        record({"event": "data", "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "login": session.login_data.decode() if session.login_data else None,
                "content": envelope.original_content.decode("utf-8")})
        return "250 Message accepted for delivery"

async def main():
    loop = asyncio.get_running_loop()
    factory = lambda: SMTP(Sink(), hostname="sink.test", authenticator=authenticator,
                           auth_require_tls=False)
    server = await loop.create_server(factory, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// The running server; killed when dropped, also when an assertion fails.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl SmtpSink {
    /// Starts the sink, recording into `dir`; `None` (after a loud message, a failure under CI) without aiosmtpd.
    pub fn start(dir: &Path) -> Option<SmtpSink> {
        let python = crate::python_with("aiosmtpd")?;
        Some(Self::start_with(&python, dir))
    }

    /// Starts the sink with a given interpreter.
    pub fn start_with(python: &Path, dir: &Path) -> SmtpSink {
        let log = dir.join("received.jsonl");
        let mut child = Command::new(python)
            .args(["-c", SINK])
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        // The port line arrives once the socket listens: no polling needed.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            panic!("aiosmtpd did not start (printed {line:?})");
        };
        SmtpSink { child, port, log }
    }

    /// What arrived so far: `auth` and `data` events, in order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        match std::fs::read_to_string(&self.log) {
            Ok(text) => text.lines().map(|line| serde_json::from_str(line).unwrap()).collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => panic!("{error}"),
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// The messages received so far (the `data` events).
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.events().into_iter().filter(|event| event["event"] == "data").collect()
    }
}
