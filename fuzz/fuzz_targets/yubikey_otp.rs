//! A typed YubiKey OTP and modhex: any text either parses or is refused, and a parsed OTP decodes with
//! any key without panicking; modhex that decodes encodes back to itself (lower case).
#![no_main]
use keyward_core::yubico::{AesKey, YubikeyOtp, modhex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(otp) = YubikeyOtp::parse(text) {
        let key = AesKey::from_bytes([7; 16]);
        let _ = keyward_core::yubico::decode(&otp, &key);
        assert!(otp.public_id().as_str().len() <= 16);
    }
    if let Ok(bytes) = modhex::decode(text) {
        assert_eq!(modhex::encode(&bytes), text.to_ascii_lowercase());
    }
});
