//! Cost of the OTP checks on the login path, in nanoseconds per operation.
//! Run: `cargo bench -p keyward-core --bench otp`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use divan::{Bencher, black_box};
use keyward_core::UnixTime;
use keyward_core::otp::{Algorithm, Code, Digits, Secret, Totp, TotpParams};

fn main() {
    divan::main();
}

const NOW: UnixTime = UnixTime(1_800_000_000);

fn totp(algorithm: Algorithm) -> Totp {
    let params = TotpParams::new(algorithm, Digits::SIX, 30).unwrap();
    Totp::new(&Secret::from_bytes(&[0x5a; 20]).unwrap(), params).unwrap()
}

/// Verification with a ±1 window of a code typed correctly: three HMACs, compared in constant time.
#[divan::bench(args = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512])]
fn totp_verify_window_1(bencher: Bencher, algorithm: Algorithm) {
    let totp = totp(algorithm);
    let code = totp.code_at(NOW).unwrap();
    bencher.bench(|| totp.verify(black_box(code), black_box(NOW), 1, 0, None));
}

/// The whole check as a request does it: parse the typed text, key the HMAC, verify.
#[divan::bench]
fn totp_parse_key_and_verify(bencher: Bencher) {
    let secret = Secret::from_bytes(&[0x5a; 20]).unwrap();
    let typed = totp(Algorithm::Sha1).code_at(NOW).unwrap().to_string();
    bencher.bench(|| {
        let code = Code::parse(black_box(&typed)).unwrap();
        let totp = Totp::new(black_box(&secret), TotpParams::default()).unwrap();
        totp.verify(code, black_box(NOW), 1, 0, None)
    });
}

/// A YubiKey OTP as a request checks it: parse the typed text, AES-decrypt, CRC, compare the private id.
#[divan::bench]
fn yubico_parse_decrypt_and_verify(bencher: Bencher) {
    use keyward_core::yubico::{AesKey, PrivateId, YubikeyOtp, verify};
    let key = AesKey::parse("ecde18dbe76fbd0c33330f1c354871db").unwrap();
    let private_id = PrivateId::parse("8792ebfe26cc").unwrap();
    let typed = "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh";
    bencher.bench(|| {
        let otp = YubikeyOtp::parse(black_box(typed)).unwrap();
        verify(&otp, black_box(&key), black_box(&private_id))
    });
}
