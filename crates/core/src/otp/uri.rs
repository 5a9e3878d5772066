//! The `otpauth://` Key Uri Format that authenticator apps scan from a QR code:
//! `otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::{Algorithm, Digits, Secret, TotpParams};
use crate::Error;

/// Characters written as-is in labels and parameter values: RFC 3986 unreserved, plus `@` so that
/// e-mail addresses stay readable as apps display them.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'@');

/// The longest URI we parse; real ones are under 300 characters.
const MAX_URI_LEN: usize = 4096;

/// A TOTP provisioning URI: who the factor is for, the secret and the parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpAuthUri {
    /// The service the factor belongs to, shown by apps above the code.
    pub issuer: Option<String>,
    /// The account, usually the user's e-mail address.
    pub account: String,
    /// The shared secret.
    pub secret: Secret,
    /// Algorithm, digits and period (T0 cannot be expressed in the format and is always 0).
    pub params: TotpParams,
}

impl OtpAuthUri {
    /// Describes a factor; the issuer and the account may not contain a colon, which separates them in the label.
    pub fn new(
        issuer: Option<&str>,
        account: &str,
        secret: Secret,
        params: TotpParams,
    ) -> Result<OtpAuthUri, Error> {
        if account.trim().is_empty() {
            return Err(Error::InvalidUri("the account name is empty".into()));
        }
        if account.contains(':') || issuer.is_some_and(|issuer| issuer.contains(':')) {
            return Err(Error::InvalidUri("the issuer and the account name may not contain a colon".into()));
        }
        // An app shows them as text: a control character (a tab, a NUL) is no part of a name. (Found by the
        // otpauth_uri fuzz target: a tab was kept here and trimmed away when the printed URI was read.)
        if account.chars().chain(issuer.unwrap_or_default().chars()).any(char::is_control) {
            return Err(Error::InvalidUri(
                "the issuer and the account name may not contain control characters".into(),
            ));
        }
        let uri =
            OtpAuthUri { issuer: issuer.map(str::to_owned), account: account.to_owned(), secret, params };
        // What is made must read back: percent-encoding can make a URI that parsed three times as long.
        // (Found by the otpauth_uri fuzz target.)
        if uri.to_string().len() > MAX_URI_LEN {
            return Err(Error::InvalidUri("the issuer and the account name are too long".into()));
        }
        Ok(uri)
    }

    /// Parses a URI as authenticator apps read it. Unknown parameters (such as `image`) are ignored; when the
    /// label's issuer prefix and the `issuer` parameter differ, the parameter wins, as the format says.
    pub fn parse(text: &str) -> Result<OtpAuthUri, Error> {
        let invalid = |reason: &str| Error::InvalidUri(reason.to_owned());
        if text.len() > MAX_URI_LEN {
            return Err(invalid("too long"));
        }
        let rest = strip_prefix_ignore_case(text.trim(), "otpauth://")
            .ok_or_else(|| invalid("it must start with otpauth://"))?;
        let (kind, rest) = rest.split_once('/').ok_or_else(|| invalid("the type and label are missing"))?;
        if !kind.eq_ignore_ascii_case("totp") {
            return Err(invalid("only the totp type is supported"));
        }
        let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
        let label = decode(label)?;
        let (label_issuer, account) = match label.split_once(':') {
            Some((issuer, account)) => (Some(issuer.to_owned()), account.trim_start().to_owned()),
            None => (None, label.trim_start().to_owned()),
        };
        let mut secret = None;
        let mut issuer = None;
        let mut algorithm = Algorithm::Sha1;
        let mut digits = Digits::SIX;
        let mut period = 30;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "secret" => secret = Some(Secret::from_base32(&value)?),
                "issuer" => issuer = Some(value),
                "algorithm" => algorithm = Algorithm::parse(&value)?,
                "digits" => {
                    digits = Digits::new(value.parse().map_err(|_| invalid("digits is not a number"))?)?
                }
                "period" => period = value.parse().map_err(|_| invalid("period is not a number"))?,
                _ => {}
            }
        }
        let secret = secret.ok_or_else(|| invalid("the secret parameter is missing"))?;
        let params = TotpParams::new(algorithm, digits, period)?;
        OtpAuthUri::new(issuer.or(label_issuer).as_deref(), &account, secret, params)
    }
}

/// The URI, with the issuer both as the label's prefix and as a parameter (the Key Uri Format's advice).
impl fmt::Display for OtpAuthUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = utf8_percent_encode(&self.account, ENCODE);
        f.write_str("otpauth://totp/")?;
        match &self.issuer {
            Some(issuer) => write!(f, "{}:{account}", utf8_percent_encode(issuer, ENCODE))?,
            None => write!(f, "{account}")?,
        }
        write!(f, "?secret={}", self.secret.to_base32())?;
        if let Some(issuer) = &self.issuer {
            write!(f, "&issuer={}", utf8_percent_encode(issuer, ENCODE))?;
        }
        write!(
            f,
            "&algorithm={}&digits={}&period={}",
            self.params.algorithm.name(),
            self.params.digits.get(),
            self.params.period()
        )
    }
}

/// The URI carries the secret: debug output names only the account.
impl fmt::Debug for OtpAuthUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpAuthUri")
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn decode(text: &str) -> Result<String, Error> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Error::InvalidUri("a percent-encoded part is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> Secret {
        Secret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn writes_the_key_uri_format() {
        let uri =
            OtpAuthUri::new(Some("ACME Co"), "john.doe@email.com", secret(), TotpParams::default()).unwrap();
        assert_eq!(
            uri.to_string(),
            "otpauth://totp/ACME%20Co:john.doe@email.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn reads_what_apps_are_given() {
        let uri = OtpAuthUri::parse(
            "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example&image=x",
        )
        .unwrap();
        assert_eq!(uri.issuer.as_deref(), Some("Example"));
        assert_eq!(uri.account, "alice@google.com");
        assert_eq!(uri.secret.to_base32(), "JBSWY3DPEHPK3PXP");
        assert_eq!(uri.params, TotpParams::default());

        let uri = OtpAuthUri::parse(
            "OTPAUTH://TOTP/Big%20Corp%3A%20bob?secret=jbsw y3dp&algorithm=sha512&digits=8&period=60",
        )
        .unwrap();
        assert_eq!(uri.issuer.as_deref(), Some("Big Corp"));
        assert_eq!(uri.account, "bob");
        assert_eq!(uri.params, TotpParams::new(Algorithm::Sha512, Digits::EIGHT, 60).unwrap());

        let uri = OtpAuthUri::parse("otpauth://totp/Label:carol?secret=JBSWY3DP&issuer=Param").unwrap();
        assert_eq!(uri.issuer.as_deref(), Some("Param"), "the parameter wins over the label");
    }

    #[test]
    fn reads_back_what_it_printed_and_refuses_control_characters_in_names() {
        // From the otpauth_uri fuzz target: a tab before the account name survived one reading and not the
        // next.
        let tab =
            OtpAuthUri::parse("otpauth://totp/%09alice?secret=JBSWY3DPEHPK3PXP&issuer=Keyward").unwrap();
        assert_eq!(tab.to_string(), OtpAuthUri::parse(&tab.to_string()).unwrap().to_string());
        assert!(tab.to_string().starts_with("otpauth://totp/Keyward:alice?"), "{tab}");
        let long = format!("otpauth://totp/{}?secret=JBSWY3DPEHPK3PXP", "\u{e9}".repeat(MAX_URI_LEN / 3));
        assert!(
            long.len() <= MAX_URI_LEN && OtpAuthUri::parse(&long).is_err(),
            "its printed form would be too long"
        );
        let control = "otpauth://totp/%09%01alice?secret=JBSWY3DPEHPK3PXP&issuer=Keyward";
        assert!(matches!(OtpAuthUri::parse(control), Err(Error::InvalidUri(_))));
        assert!(OtpAuthUri::parse("otpauth://totp/Keyward:al%00ice?secret=JBSWY3DPEHPK3PXP").is_err());
        let spaced =
            OtpAuthUri::parse("otpauth://totp/%20alice?secret=JBSWY3DPEHPK3PXP&issuer=Keyward").unwrap();
        let printed = spaced.to_string();
        assert_eq!(OtpAuthUri::parse(&printed).unwrap().to_string(), printed);
    }

    #[test]
    fn refuses_what_is_not_a_totp_uri() {
        for bad in [
            "",
            "http://totp/a?secret=JBSWY3DP",
            "otpauth://hotp/a?secret=JBSWY3DP&counter=1",
            "otpauth://totp/a?issuer=x",
            "otpauth://totp/a?secret=11111111",
            "otpauth://totp/a?secret=JBSWY3DP&digits=9",
            "otpauth://totp/a?secret=JBSWY3DP&digits=six",
            "otpauth://totp/a?secret=JBSWY3DP&period=0",
            "otpauth://totp/a?secret=JBSWY3DP&algorithm=MD5",
            "otpauth://totp/%FF?secret=JBSWY3DP",
            "otpauth://totp/?secret=JBSWY3DP",
            "otpauth://totp",
        ] {
            assert!(OtpAuthUri::parse(bad).is_err(), "{bad:?}");
        }
        assert!(OtpAuthUri::parse(&format!("otpauth://totp/a?secret={}", "A".repeat(10_000))).is_err());
    }

    #[test]
    fn colons_in_names_are_refused_when_building() {
        assert!(OtpAuthUri::new(Some("A:B"), "c", secret(), TotpParams::default()).is_err());
        assert!(OtpAuthUri::new(Some("A"), "b:c", secret(), TotpParams::default()).is_err());
        assert!(OtpAuthUri::new(Some("A"), " ", secret(), TotpParams::default()).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let uri = OtpAuthUri::new(Some("A"), "b", secret(), TotpParams::default()).unwrap();
        assert!(!format!("{uri:?}").contains("GEZDGNBV"));
    }

    proptest! {
        #[test]
        fn round_trips(
            issuer in proptest::option::of("[^:\\p{Cc}]{1,20}"),
            account in "[a-zA-Z0-9][^:\\p{Cc}]{0,30}",
            bytes in proptest::collection::vec(any::<u8>(), 10..=64),
            algorithm in prop_oneof![Just(Algorithm::Sha1), Just(Algorithm::Sha256), Just(Algorithm::Sha512)],
            digits in 6u32..=8,
            period in 1u64..=3600,
        ) {
            let params = TotpParams::new(algorithm, Digits::new(digits).unwrap(), period).unwrap();
            let uri = OtpAuthUri::new(issuer.as_deref(), &account, Secret::from_bytes(&bytes).unwrap(), params).unwrap();
            prop_assert_eq!(OtpAuthUri::parse(&uri.to_string()).unwrap(), uri);
        }

        #[test]
        fn any_text_parses_or_errs_without_panicking(text in "(otpauth://totp/)?.{0,200}") {
            let _ = OtpAuthUri::parse(&text);
        }
    }
}
