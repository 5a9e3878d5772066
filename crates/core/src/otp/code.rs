//! One-time codes as typed by people: 6 to 8 decimal digits.

use std::fmt;

use crate::Error;

/// How many decimal digits a code has (RFC 4226 §5.3 allows 6 to 8 in practice; apps show 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, what every authenticator app shows by default.
    pub const SIX: Digits = Digits(6);
    /// Eight digits, as in the RFC 6238 Appendix B vectors.
    pub const EIGHT: Digits = Digits(8);

    /// Accepts 6, 7 or 8.
    pub fn new(digits: u32) -> Result<Digits, Error> {
        match digits {
            6..=8 => Ok(Digits(digits as u8)),
            other => Err(Error::InvalidDigits(other)),
        }
    }

    /// The number of digits.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }

    /// 10^digits, the modulus of RFC 4226 §5.3 step 3.
    pub(crate) fn modulus(self) -> u32 {
        10u32.pow(self.get())
    }
}

/// A one-time code: its value and how many digits it was written with (leading zeros matter).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code {
    value: u32,
    digits: Digits,
}

impl Code {
    pub(crate) fn new(value: u32, digits: Digits) -> Code {
        Code { value, digits }
    }

    /// Parses what a person typed: 6 to 8 digits; spaces (as apps display "123 456") are ignored.
    pub fn parse(text: &str) -> Result<Code, Error> {
        let mut value: u32 = 0;
        let mut count: u32 = 0;
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            let digit = c.to_digit(10).ok_or(Error::InvalidCode)?;
            count += 1;
            if count > 8 {
                return Err(Error::InvalidCode);
            }
            value = value * 10 + digit;
        }
        let digits = Digits::new(count).map_err(|_| Error::InvalidCode)?;
        Ok(Code { value, digits })
    }

    /// The numeric value (without leading zeros).
    pub fn value(self) -> u32 {
        self.value
    }

    /// The number of digits.
    pub fn digits(self) -> Digits {
        self.digits
    }
}

/// Written with its leading zeros, as an app shows it.
impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = self.digits.get() as usize)
    }
}

/// A code is a credential: debug output does not show it.
impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({} digits)", self.digits.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_six_to_eight_digits_keeping_leading_zeros() {
        let code = Code::parse("012345").unwrap();
        assert_eq!(code.value(), 12345);
        assert_eq!(code.to_string(), "012345");
        assert_eq!(Code::parse(" 070 818 04 ").unwrap().to_string(), "07081804");
        assert_eq!(Code::parse("1234567").unwrap().digits().get(), 7);
    }

    #[test]
    fn refuses_anything_else() {
        for bad in ["", "12345", "123456789", "12345a", "１２３４５６", "-123456", &"9".repeat(10_000)]
        {
            assert_eq!(Code::parse(bad), Err(Error::InvalidCode), "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_code() {
        assert!(!format!("{:?}", Code::parse("123456").unwrap()).contains("123456"));
    }

    #[test]
    fn digits_outside_six_to_eight_are_refused() {
        assert_eq!(Digits::new(5), Err(Error::InvalidDigits(5)));
        assert_eq!(Digits::new(9), Err(Error::InvalidDigits(9)));
        assert_eq!(Digits::new(8).unwrap(), Digits::EIGHT);
    }
}
