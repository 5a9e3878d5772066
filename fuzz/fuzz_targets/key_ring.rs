//! The master key text (`KEYWARD_MASTER_KEY` or the key file): what parses prints back to itself.
#![no_main]
use keyward_core::seal::KeyRing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(ring) = KeyRing::parse(text) {
        let printed = ring.to_text();
        assert_eq!(*KeyRing::parse(&printed).expect("printed keys parse").to_text(), *printed);
    }
});
