//! The YubiKey personalization tool's CSV log, both layouts, as `keyward yubikey import` reads it.
#![no_main]
use keyward_core::yubico::parse_import_log;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = parse_import_log(text);
});
