//! Shared by the mail tests: a sample message and an independent MIME reader (Python's `email`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use keyward_core::mail::Message;
use keyward_core::user::Email;

/// Long enough, and full of `=` and `&`, that quoted-printable must wrap and escape it: the link has
/// to come back whole from a real MIME parser.
pub const ENROLL_LINK: &str = "https://keyward.example/enroll?token=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6&account=42";
pub const RESET_LINK: &str = "https://keyward.example/password?token=abc=def";

pub fn message(to: &str, subject: &str) -> Message {
    Message {
        to: Email::parse(to).unwrap(),
        subject: subject.to_owned(),
        text: format!(
            "Hello,\n\nset up two-factor authentication here:\n{ENROLL_LINK}\n\nOr reset: {RESET_LINK}\n"
        ),
        html: format!("<p>Hello,</p><p><a href=\"{ENROLL_LINK}\">Set up two-factor authentication</a></p>"),
        links: vec![ENROLL_LINK.to_owned(), RESET_LINK.to_owned()],
    }
}

/// A fresh, empty folder under Cargo's per-test-target temporary directory, one per test (left in
/// place after the run, for a look at what was written).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("keyward-mail-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Reads raw messages with Python's standard `email` package, a parser independent of lettre, and
/// returns for each: its content type, From, To, Subject and its parts (type and decoded content).
pub fn parse_mime(python: &Path, raw_messages: &[String]) -> Vec<serde_json::Value> {
    const PROGRAM: &str = r#"
import email, email.policy, json, sys
out = []
for raw in json.load(sys.stdin):
    msg = email.message_from_bytes(raw.encode("utf-8"), policy=email.policy.default)
    parts = [{"type": p.get_content_type(), "content": p.get_content()} for p in msg.iter_parts()]
    out.append({"type": msg.get_content_type(), "from": str(msg["From"]), "to": str(msg["To"]),
                "subject": str(msg["Subject"]), "message_id": str(msg["Message-ID"]), "defects": len(msg.defects), "parts": parts})
print(json.dumps(out))
"#;
    let parsed = keyward_testkit::python_json(python, PROGRAM, &serde_json::json!(raw_messages));
    parsed.as_array().unwrap().clone()
}

/// Checks one parsed message against [`message`]'s content.
pub fn assert_sample(parsed: &serde_json::Value, to: &str, subject: &str, from: &str) {
    assert_eq!(parsed["type"], "multipart/alternative", "{parsed:#}");
    assert_eq!(parsed["to"], to);
    assert_eq!(parsed["subject"], subject);
    assert_eq!(parsed["from"], from);
    assert_eq!(parsed["defects"], 0, "{parsed:#}");
    assert!(parsed["message_id"].as_str().unwrap().starts_with('<'), "{parsed:#}");
    let parts = parsed["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{parsed:#}");
    assert_eq!(parts[0]["type"], "text/plain");
    assert_eq!(parts[1]["type"], "text/html");
    let text = parts[0]["content"].as_str().unwrap();
    let html = parts[1]["content"].as_str().unwrap();
    assert!(text.contains(ENROLL_LINK) && text.contains(RESET_LINK), "links in the text part: {text}");
    assert!(html.contains(&format!("href=\"{ENROLL_LINK}\"")), "link in the HTML part: {html}");
}
