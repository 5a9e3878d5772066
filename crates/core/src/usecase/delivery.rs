//! Delivering the outbox: every e-mail a use case queued with its change is sent here, by a worker on
//! any node. Each message is claimed by one conditional update and held for a lease while it is sent; a
//! failure is tried again after 30 s, 1, 2, 4, … minutes, and after [`MAIL_ATTEMPTS`] attempts (about an
//! hour) it is given up and shown to the account's admins on Users & Security.
//!
//! A worker that dies between the mail server's acceptance and marking the message delivered sends it
//! again when the lease ends: at least once, and once unless a node dies at that moment.

use super::{Failure, Services};
use crate::UnixTime;
use crate::error::cause_chain;
use crate::mail::Mailer;
use crate::ports::PasswordHasher;
use crate::store::{QueuedMail, Store};
use crate::user::User;

/// Attempts before a message is given up on.
pub const MAIL_ATTEMPTS: u32 = 8;
/// How long a worker holds a message it is sending (lettre gives up on an SMTP exchange after 60 s): a
/// message whose worker died is sent by another this long after.
const LEASE_SECS: u64 = 60;
/// The wait before the second attempt; it doubles with each further one.
const FIRST_RETRY_SECS: u64 = 30;

/// What one pass of [`deliver_mail`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: u64,
    /// Failed this time, to be tried again.
    pub retried: u64,
    /// Failed for the last time.
    pub given_up: u64,
}

/// Sends every message due now, one after another, until none is left (or `max` were tried).
pub async fn deliver_mail<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    max: u64,
) -> Result<Delivery, Failure> {
    let mut done = Delivery::default();
    while done.delivered + done.retried + done.given_up < max {
        let now = services.now();
        let lease = UnixTime(now.seconds().saturating_add(LEASE_SECS));
        let Some(mail) = services.store.claim_mail(now, lease).await? else { break };
        match services.mailer.send(&mail.message).await {
            Ok(()) => {
                services.store.mail_delivered(mail.id, services.now()).await?;
                done.delivered += 1;
            }
            Err(error) => {
                let cause = cause_chain(&error);
                let retry_at = retry_at(&mail, services.now());
                services.store.mail_not_delivered(mail.id, &cause, retry_at, services.now()).await?;
                if retry_at.is_some() { done.retried += 1 } else { done.given_up += 1 }
            }
        }
    }
    Ok(done)
}

/// When a message that just failed is tried again: 30 s after its first attempt, doubling, until
/// [`MAIL_ATTEMPTS`] were made.
fn retry_at(mail: &QueuedMail, now: UnixTime) -> Option<UnixTime> {
    if mail.attempts >= MAIL_ATTEMPTS {
        return None;
    }
    let wait = FIRST_RETRY_SECS.saturating_mul(1 << mail.attempts.saturating_sub(1).min(20));
    Some(UnixTime(now.seconds().saturating_add(wait)))
}

/// E-mails to the users of the admin's account that were given up on, newest twenty first.
pub async fn undelivered_mail<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
) -> Result<Vec<QueuedMail>, Failure> {
    super::people::require_admin(admin)?;
    Ok(services.store.undelivered_mail(admin.account_id, 20).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Message;
    use crate::user::Email;

    fn queued(attempts: u32) -> QueuedMail {
        let message = Message {
            to: Email::parse("a@example.com").unwrap(),
            subject: String::new(),
            text: String::new(),
            html: String::new(),
            links: Vec::new(),
        };
        QueuedMail { id: 1, message, attempts, created_at: UnixTime(0), last_error: None }
    }

    #[test]
    fn retries_wait_30_seconds_then_double_and_stop_after_eight_attempts() {
        let now = UnixTime(1000);
        let waits: Vec<Option<u64>> =
            (1..=MAIL_ATTEMPTS).map(|n| retry_at(&queued(n), now).map(|at| at.seconds() - 1000)).collect();
        assert_eq!(waits, [Some(30), Some(60), Some(120), Some(240), Some(480), Some(960), Some(1920), None]);
    }
}
