//! The one MIME form both mailers send, so the outbox file is exactly what SMTP would carry.

use keyward_core::mail::{MailError, Message};
use lettre::message::{Mailbox, MultiPart};

/// Why a message could not be turned into MIME.
#[derive(Debug, thiserror::Error)]
enum MimeError {
    #[error("the recipient `{0}` is not an address lettre accepts")]
    Recipient(String, #[source] lettre::address::AddressError),
    #[error("the MIME message could not be built")]
    Build(#[source] lettre::error::Error),
}

/// `multipart/alternative` with the text part first: clients show the last part they understand,
/// so HTML wins where it can be shown and the text part serves the rest.
pub(crate) fn build(from: &Mailbox, message: &Message) -> Result<lettre::Message, MailError> {
    let to = message
        .to
        .as_str()
        .parse()
        .map_err(|error| mail_error(MimeError::Recipient(message.to.as_str().to_owned(), error)))?;
    lettre::Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(message.subject.as_str())
        // lettre leaves Message-ID out unless asked, and some receivers (Gmail) refuse mail without
        // one; `None` has lettre make a random one at this host's name.
        .message_id(None)
        .multipart(MultiPart::alternative_plain_html(message.text.clone(), message.html.clone()))
        .map_err(|error| mail_error(MimeError::Build(error)))
}

pub(crate) fn mail_error(error: impl std::error::Error + Send + Sync + 'static) -> MailError {
    MailError(Box::new(error))
}
