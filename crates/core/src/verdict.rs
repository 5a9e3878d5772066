//! What checking a one-time password finds, and which kind of factor it was for: one answer that every
//! surface (the login's second step, the JSON API, the Yubico Validation Protocol) reports in its own words.

use crate::otp::Code;
use crate::yubico::YubikeyOtp;

/// The kinds of factor a typed one-time password can prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    /// A code from an authenticator app (RFC 6238).
    Totp,
    /// A Yubico OTP typed by a key's touch.
    Yubikey,
    /// One of the user's single-use recovery codes.
    RecoveryCode,
    /// A security key or passkey (WebAuthn): nothing typed, a signed challenge.
    SecurityKey,
}

impl FactorKind {
    pub const ALL: [FactorKind; 4] =
        [FactorKind::Totp, FactorKind::Yubikey, FactorKind::RecoveryCode, FactorKind::SecurityKey];

    /// The factor a typed one-time password is for, by its shape: 6–8 digits are a TOTP code, 32–48
    /// modhex characters a YubiKey OTP, anything else is tried as a recovery code.
    pub fn of_typed(typed: &str) -> FactorKind {
        let typed = typed.trim();
        if Code::parse(typed).is_ok() {
            FactorKind::Totp
        } else if YubikeyOtp::parse(typed).is_ok() {
            FactorKind::Yubikey
        } else {
            FactorKind::RecoveryCode
        }
    }

    /// Its name in metrics, logs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Yubikey => "yubikey",
            FactorKind::RecoveryCode => "recovery_code",
            FactorKind::SecurityKey => "security_key",
        }
    }
}

/// How checking a one-time password ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Right, and not used before: it is used now.
    Ok,
    /// Wrong, malformed, or for a factor that is not the user's.
    Invalid,
    /// Right, but already used (a replay, or a concurrent request that won).
    Replayed,
    /// Not checked: too many wrong attempts; try again later.
    Throttled,
    /// Not checked: the user has no factor this could be for.
    NotEnrolled,
}

impl Verdict {
    pub const ALL: [Verdict; 5] =
        [Verdict::Ok, Verdict::Invalid, Verdict::Replayed, Verdict::Throttled, Verdict::NotEnrolled];

    /// Its name in metrics, logs and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Invalid => "invalid",
            Verdict::Replayed => "replayed",
            Verdict::Throttled => "throttled",
            Verdict::NotEnrolled => "not_enrolled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_value_is_classified_by_its_shape() {
        assert_eq!(FactorKind::of_typed(" 123456 "), FactorKind::Totp);
        assert_eq!(FactorKind::of_typed("12345678"), FactorKind::Totp);
        let otp = "vvccccccccccdkbtvrrjnhkrntnjgkfgfdbclhlfcbbk";
        assert_eq!(FactorKind::of_typed(otp), FactorKind::Yubikey);
        assert_eq!(FactorKind::of_typed("abcd-efgh-ijkl-mnop"), FactorKind::RecoveryCode);
        assert_eq!(FactorKind::of_typed(""), FactorKind::RecoveryCode);
    }

    #[test]
    fn serialised_names_are_the_names() {
        for verdict in Verdict::ALL {
            assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.as_str());
        }
        for factor in FactorKind::ALL {
            assert_eq!(serde_json::to_value(factor).unwrap(), factor.as_str());
        }
    }

    #[test]
    fn names_are_distinct() {
        let factors: std::collections::HashSet<_> = FactorKind::ALL.iter().map(|f| f.as_str()).collect();
        let verdicts: std::collections::HashSet<_> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!((factors.len(), verdicts.len()), (FactorKind::ALL.len(), Verdict::ALL.len()));
    }
}
