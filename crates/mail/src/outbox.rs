//! The embedded default: every message becomes an `.eml` file in a folder, and its links are logged.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use keyward_core::mail::{MailError, Mailer, Message};
use lettre::message::Mailbox;

use crate::ConfigError;
use crate::mime::{self, mail_error};

/// Digits of the sequence number at the front of each file name: enough that plain name order is
/// sending order for any outbox a person will read.
const SEQUENCE_DIGITS: usize = 12;

/// How many taken names one message skips before giving up: only another process on the same folder
/// (or a person copying files in) takes our names, and each retry jumps past the highest present.
const MAX_ATTEMPTS: u32 = 100;

/// The next sequence number of each outbox folder (by canonical path) this process writes to.
static COUNTERS: LazyLock<Mutex<HashMap<PathBuf, Arc<AtomicU64>>>> = LazyLock::new(Default::default);

/// Writes each message into a folder as `<sequence>-<recipient>.eml`, e.g.
/// `000000000007-alice@example.com.eml`: the exact MIME message SMTP would carry, which any mail
/// client opens. It then logs recipient, subject, file and every link of the message, so a first run
/// can follow enrollment without a mail server.
///
/// The sequence continues after the highest one already in the folder, so names sort in sending
/// order across restarts; this needs neither the clock nor randomness. All mailers of one process on
/// one folder share a counter, so their numbers never repeat. A file is created only if its name is
/// free (`O_EXCL`), so even two processes on one folder never overwrite each other's messages (they
/// may then share a number, the recipient telling the files apart).
///
/// The log lines carry live enrollment links: this mailer is for a first run and development, not
/// for a deployment with real users.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
    next: Arc<AtomicU64>,
}

impl OutboxMailer {
    /// Creates the folder if it is missing and continues its numbering.
    pub fn new(dir: &Path, from: &str) -> Result<OutboxMailer, ConfigError> {
        let from = crate::parse_from(from)?;
        let outbox_error = |source| ConfigError::Outbox { path: dir.to_owned(), source };
        fs::create_dir_all(dir).map_err(outbox_error)?;
        let next = highest_sequence(dir).map_err(outbox_error)?.map_or(1, |seq| seq + 1);
        let canonical = fs::canonicalize(dir).map_err(outbox_error)?;
        let counter = {
            // A panic elsewhere while holding the lock leaves the map itself intact.
            let mut counters = COUNTERS.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(counters.entry(canonical).or_default())
        };
        counter.fetch_max(next, Ordering::Relaxed);
        Ok(OutboxMailer { dir: dir.to_owned(), from, next: counter })
    }

    /// The folder the messages go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A message that could not be written.
#[derive(Debug, thiserror::Error)]
enum OutboxError {
    #[error("the message could not be written to the outbox folder {}", dir.display())]
    Write {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the outbox writer stopped before finishing")]
    Stopped(#[source] tokio::task::JoinError),
}

impl Mailer for OutboxMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let bytes = mime::build(&self.from, message)?.formatted();
        let recipient = file_safe(message.to.as_str());
        let (dir, next) = (self.dir.clone(), Arc::clone(&self.next));
        // File system calls block; keep them off the async workers.
        let written = tokio::task::spawn_blocking(move || write_new(&dir, &next, &recipient, &bytes))
            .await
            .map_err(|error| mail_error(OutboxError::Stopped(error)))?;
        let path =
            written.map_err(|source| mail_error(OutboxError::Write { dir: self.dir.clone(), source }))?;
        tracing::info!(
            to = %message.to,
            subject = %message.subject,
            path = %path.display(),
            "e-mail written to the outbox (no SMTP server configured)"
        );
        for link in &message.links {
            tracing::info!(to = %message.to, %link, "link in that e-mail");
        }
        Ok(())
    }
}

/// Writes `bytes` under the next free name and returns its path.
fn write_new(dir: &Path, next: &AtomicU64, recipient: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    // The folder may have been removed since start-up; putting it back costs nothing.
    fs::create_dir_all(dir)?;
    for _ in 0..MAX_ATTEMPTS {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{seq:0SEQUENCE_DIGITS$}-{recipient}.eml"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(bytes)?;
                return Ok(path);
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                // Another writer got there first: continue after the highest name now present.
                if let Some(highest) = highest_sequence(dir)? {
                    next.fetch_max(highest + 1, Ordering::Relaxed);
                }
            }
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free file name in the outbox folder"))
}

/// The highest sequence number at the front of an `.eml` name in `dir`.
fn highest_sequence(dir: &Path) -> io::Result<Option<u64>> {
    let mut highest = None;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str().filter(|name| name.ends_with(".eml")) else { continue };
        let digits = name.split('-').next().unwrap_or_default();
        if let Ok(seq) = digits.parse::<u64>() {
            highest = highest.max(Some(seq));
        }
    }
    Ok(highest)
}

/// The recipient as a file name part: letters, digits and `@._+-` kept, anything else (a path
/// separator above all) replaced, and the length bounded.
fn file_safe(address: &str) -> String {
    address
        .chars()
        .take(100)
        .map(|c| if c.is_ascii_alphanumeric() || "@._+-".contains(c) { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_become_harmless_file_name_parts() {
        assert_eq!(file_safe("alice@example.com"), "alice@example.com");
        assert_eq!(file_safe("a/b\\c:d é@x.org"), "a_b_c_d__@x.org");
        assert_eq!(file_safe(&"x".repeat(300)).len(), 100);
    }
}
