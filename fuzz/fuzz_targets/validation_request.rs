//! A Yubico Validation Protocol 2.0 request's query string, as `/wsapi/2.0/verify` reads it.
#![no_main]
use keyward_core::wsapi::{QueryParams, VerifyRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    if let Ok(params) = QueryParams::parse(query) {
        let _ = VerifyRequest::from_params(&params);
    }
});
