//! People: users and admins of an account, and operators (support staff).

use std::fmt;

use crate::ids::{AccountId, UserId};
use crate::password::PasswordHash;
use crate::{Error, UnixTime};

/// What a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Runs an account: configures two-factor authentication, adds users.
    Admin,
    /// Belongs to an account and logs in to it.
    User,
    /// Support staff of whoever runs Keyward: reaches only the support console.
    Operator,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Operator => "operator",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Result<Role, Error> {
        match text {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            "operator" => Ok(Role::Operator),
            other => Err(Error::CorruptRecord(format!("unknown role {other:?}"))),
        }
    }
}

/// An e-mail address, the username people log in with. Stored lower-cased so that
/// `Alice@Example.com` and `alice@example.com` are one person.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` without spaces, at most 254 characters (RFC 5321's path limit).
    pub fn parse(text: &str) -> Result<Email, Error> {
        let email = text.trim();
        let invalid = || Error::InvalidEmail(email.chars().take(64).collect());
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// A person with a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: Email,
    pub role: Role,
    /// `None` until the person sets a password from the e-mailed link.
    pub password_hash: Option<PasswordHash>,
    pub created_at: UnixTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(Email::parse(" Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        assert_eq!(Email::parse("ops+2fa@sub.example.org").unwrap().as_str(), "ops+2fa@sub.example.org");
    }

    #[test]
    fn non_addresses_are_refused() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
            "a@b..com",
            "a@exa_mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(300))).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Admin, Role::User, Role::Operator] {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("root").is_err());
    }
}
