//! Outgoing e-mail as the domain sees it: a message and a port to send it through. The binary chooses
//! the adapter (SMTP, or the outbox folder of the embedded default).

use std::future::Future;

use crate::user::Email;

/// One e-mail, with a plain-text and an HTML part saying the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The links the message carries (enrollment, password reset), so the outbox adapter can log them
    /// for someone following the story without a mail server.
    pub links: Vec<String>,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[error("the e-mail could not be sent")]
pub struct MailError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Sends e-mail.
pub trait Mailer: Send + Sync {
    /// Sends a message the person is waiting for (a link they asked for); a failure is theirs to know.
    fn send(&self, message: &Message) -> impl Future<Output = Result<(), MailError>> + Send;

    /// Sends a notice (an alert, "your factor changed") whose delivery neither the answer nor its timing
    /// may depend on. By default it is sent at once; a server's mailer delivers it after the answer and
    /// logs a failure.
    fn send_later(&self, message: Message) -> impl Future<Output = Result<(), MailError>> + Send {
        async move { self.send(&message).await }
    }
}
