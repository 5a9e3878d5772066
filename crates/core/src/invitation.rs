//! E-mailed links: enrollment (set up a TOTP app), setting a first password, resetting a forgotten one.

use crate::ids::{InvitationId, UserId};
use crate::token::TokenHash;
use crate::{Error, UnixTime};

/// What a link lets its holder do (always together with something else they must prove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Enroll a TOTP app; the page also asks for the user's password.
    Enrollment,
    /// Set the first password of a newly added user.
    SetPassword,
    /// Reset a forgotten password; never bypasses the second factor.
    ResetPassword,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Enrollment => "enrollment",
            Purpose::SetPassword => "set_password",
            Purpose::ResetPassword => "reset_password",
        }
    }

    pub fn parse(text: &str) -> Result<Purpose, Error> {
        match text {
            "enrollment" => Ok(Purpose::Enrollment),
            "set_password" => Ok(Purpose::SetPassword),
            "reset_password" => Ok(Purpose::ResetPassword),
            other => Err(Error::CorruptRecord(format!("unknown link purpose {other:?}"))),
        }
    }
}

/// An e-mailed link as stored: only the hash of its 256-bit token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub user_id: UserId,
    pub purpose: Purpose,
    pub token_hash: TokenHash,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set when used, or when a newer link of the same purpose voided it.
    pub closed_at: Option<UnixTime>,
}

impl Invitation {
    /// Whether the link can still be used at `now`.
    pub fn is_open(&self, now: UnixTime) -> bool {
        self.closed_at.is_none() && now < self.expires_at
    }
}
