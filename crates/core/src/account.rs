//! Accounts (customer companies) and the two-factor settings their admins choose.

use crate::ids::{AccountId, UserId};
use crate::{Error, UnixTime};

/// The reserved account that operators (support staff) hang off. It is no customer's: no search lists it,
/// and operators reach no account page (the web's role guards keep them to the support console).
pub const OPERATORS_ACCOUNT: AccountId = AccountId(0);

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: AccountName,
    /// The factors the account's users may enroll.
    pub methods: Methods,
    /// What support must do before disabling someone's two-factor authentication.
    pub disable_policy: Option<DisablePolicy>,
    /// Set while two-factor authentication is active for the whole account.
    pub activation: Option<Activation>,
    pub created_at: UnixTime,
    /// While active: until when users without a factor may still finish a login with their password.
    pub enroll_by: Option<UnixTime>,
    /// Which reminder before `enroll_by` went out last: 0 (none yet), 7 (a week before), 1 (a day before).
    pub reminders_sent: u8,
    /// "Remember this browser": for how many days a browser may skip the second factor (0: off).
    pub remember_days: u8,
}

impl Account {
    /// Whether users without a factor may still log in with their password alone at `now`.
    pub fn in_grace(&self, now: UnixTime) -> bool {
        self.activation.is_some() && self.enroll_by.is_some_and(|deadline| now < deadline)
    }
}

/// The methods an admin chose under "Configure two-factor authentication".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods {
    /// "TOTP apps on your smartphone".
    pub totp: bool,
    /// "YubiKey".
    pub yubikey: bool,
    /// "Security keys and passkeys" (WebAuthn).
    pub webauthn: bool,
}

impl Methods {
    /// Whether users enroll from an e-mailed link: to set up an app or register a security key (YubiKeys
    /// are registered by an admin's touch instead).
    pub fn enroll_by_link(&self) -> bool {
        self.totp || self.webauthn
    }
}

/// Who turned two-factor authentication on, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activation {
    pub by: UserId,
    pub at: UnixTime,
}

/// An account's display name: 1 to 100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(text: &str) -> Result<AccountName, Error> {
        let name = text.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::InvalidName { what: "the account name", max: 100 });
        }
        Ok(AccountName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The "Policy for disabling two-factor authentication": free text that must name a contact who can
/// confirm a disable request — an e-mail address or a phone number — so support can follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisablePolicy(String);

impl DisablePolicy {
    /// The longest policy we keep.
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(text: &str) -> Result<DisablePolicy, Error> {
        let policy = text.trim();
        let typed = |c: char| !c.is_control() || matches!(c, '\n' | '\r' | '\t');
        if policy.is_empty() || policy.chars().count() > Self::MAX_CHARS || !policy.chars().all(typed) {
            return Err(Error::InvalidName { what: "the policy", max: Self::MAX_CHARS });
        }
        if !(names_email(policy) || names_phone(policy)) {
            return Err(Error::PolicyWithoutContact);
        }
        Ok(DisablePolicy(policy.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn names_email(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '<' | '>'))
        .any(|word| crate::user::Email::parse(word.trim_end_matches('.')).is_ok())
}

/// A run of at least seven digits, allowing the separators people write in phone numbers.
fn names_phone(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        match c {
            '0'..='9' => {
                digits += 1;
                if digits >= 7 {
                    return true;
                }
            }
            ' ' | '-' | '.' | '(' | ')' | '+' | '/' => {}
            _ => digits = 0,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_must_name_an_email_address_or_a_phone_number() {
        for good in [
            "Call Jane Doe, our office manager, at +45 33 12 34 56 before disabling.",
            "Ask it@example.com to confirm by e-mail.",
            "Confirm with (555) 123-4567.",
            "Mail: security@corp.example.",
        ] {
            assert!(DisablePolicy::parse(good).is_ok(), "{good}");
        }
        for bad in ["Just do it.", "Ask Jane at room 12", "call 123-45", "   ", "mail jane@"] {
            assert!(DisablePolicy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(DisablePolicy::parse("Ask the boss"), Err(Error::PolicyWithoutContact));
        assert!(DisablePolicy::parse(&format!("a@b.example {}", "x".repeat(4000))).is_err());
    }

    #[test]
    fn account_names_are_trimmed_and_bounded() {
        assert_eq!(AccountName::parse("  ACME  ").unwrap().as_str(), "ACME");
        assert!(AccountName::parse(" ").is_err());
        assert!(AccountName::parse(&"x".repeat(101)).is_err());
    }
}
