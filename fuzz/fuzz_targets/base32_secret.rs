//! A TOTP secret typed in base32 (case, spaces and padding forgiven): what parses prints back to the same
//! secret.
#![no_main]
use keyward_core::otp::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(secret) = Secret::from_base32(text) {
        let again = Secret::from_base32(&secret.to_base32()).expect("printed base32 parses");
        assert_eq!(again.as_bytes(), secret.as_bytes());
    }
});
