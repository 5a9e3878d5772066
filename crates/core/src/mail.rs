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

/// Sends e-mail. Use cases do not call it: they queue messages in the outbox with their change, and the
/// delivery worker (`usecase::deliver_mail`) sends them through this port.
pub trait Mailer: Send + Sync {
    fn send(&self, message: &Message) -> impl Future<Output = Result<(), MailError>> + Send;
}
