//! The otpauth:// Key Uri Format: what parses prints as a URI that parses to the same thing.
#![no_main]
use keyward_core::otp::OtpAuthUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(uri) = OtpAuthUri::parse(text) {
        let printed = uri.to_string();
        let again = OtpAuthUri::parse(&printed).expect("a printed URI parses");
        assert_eq!(again.to_string(), printed);
    }
});
