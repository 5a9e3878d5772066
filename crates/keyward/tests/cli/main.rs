//! The `keyward` binary, driven as people and scripts drive it. Where a standard has another
//! implementation, the binary's output is checked against it: every peer here (oathtool, pyotp,
//! ykgenerate/ykparse, yubiotp, ykclient, yubico-client, pam_yubico) is a tool we did not write. All these tests build into this one binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod crash;
mod nodes;
mod operations;
mod serve;
mod storage;
mod tools;
mod totp;
mod validation;
mod yubikey;
