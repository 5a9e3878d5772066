//! Secrets at rest: a TOTP secret and a YubiKey's AES key and private id, stored the way Keyward stores them,
//! cannot be found in the raw database — not in SQLite's file and WAL, not in a `pg_dump` — as raw bytes,
//! hex or base32.

use std::process::Command;

use keyward_core::factor::{totp_seal_context, yubikey_seal_context};
use keyward_core::otp::TotpParams;
use keyward_core::seal::{KeyRing, MasterKey};
use keyward_core::store::FactorStore;
use keyward_core::yubico::PublicId;

use crate::harness::{NOW, TestDb, account_with_user};

const TOTP_SECRET: &[u8; 20] = b"KnownTotpSecret!2026";
const AES_KEY: [u8; 16] =
    [0xec, 0xde, 0x18, 0xdb, 0xe7, 0x6f, 0xbd, 0x0c, 0x33, 0x33, 0x0f, 0x1c, 0x35, 0x48, 0x71, 0xdb];
const PRIVATE_ID: [u8; 6] = [0x87, 0x92, 0xeb, 0xfe, 0x26, 0xcc];

/// A deterministic generator: what matters here is that the secrets are sealed, not how the nonces look.
struct Counter(u8);
impl rand_core::TryRng for Counter {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from(self.0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from(self.0))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            self.0 = self.0.wrapping_add(37);
            *byte = self.0;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Counter {}

/// Every form a secret could leak in: raw, lower and upper hex, base32 (with and without padding).
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let base32 = data_encoding::BASE32.encode(secret);
    vec![
        secret.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        base32.clone().into_bytes(),
        base32.trim_end_matches('=').to_owned().into_bytes(),
    ]
}

fn assert_absent(haystack: &[u8], where_: &str) {
    for secret in [&TOTP_SECRET[..], &AES_KEY[..], &PRIVATE_ID[..]] {
        for form in forms(secret) {
            assert!(
                !haystack.windows(form.len()).any(|window| window == form.as_slice()),
                "{where_} contains a secret in the form {:?}",
                String::from_utf8_lossy(&form)
            );
        }
    }
}

async fn secrets_do_not_appear_in_a_raw_dump(db: &TestDb) {
    let store = &db.store;
    let (_, user) = account_with_user(store, "at-rest").await;
    let mut rng = Counter(0);
    let ring = KeyRing::new(MasterKey::generate("k1", &mut rng).unwrap());
    let sealed = ring.seal(TOTP_SECRET, &totp_seal_context(user.id), &mut rng).unwrap();
    store.insert_totp_factor(user.id, &sealed, TotpParams::default(), NOW).await.unwrap();
    let public_id = PublicId::parse("dteffuje").unwrap();
    let yubikey_secret = [&AES_KEY[..], &PRIVATE_ID[..]].concat();
    let sealed = ring.seal(&yubikey_secret, &yubikey_seal_context(&public_id), &mut rng).unwrap();
    store.import_yubikey(&public_id, &sealed, NOW).await.unwrap();

    if db.is_postgres() {
        let Some(pg_dump) = keyward_testkit::require("pg_dump", "postgresql-client") else { return };
        let dump = Command::new(pg_dump).arg(&db.url).output().unwrap();
        assert!(dump.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&dump.stderr));
        assert!(
            String::from_utf8_lossy(&dump.stdout).contains("COPY public.totp_factors"),
            "the dump has the data"
        );
        assert_absent(&dump.stdout, "pg_dump");
    } else {
        let path = db.url.trim_start_matches("sqlite://").to_owned();
        let mut raw = Vec::new();
        for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
            raw.extend(std::fs::read(&file).unwrap_or_default());
        }
        assert!(raw.len() > 4096, "the raw files were read");
        assert_absent(&raw, "the SQLite file and its WAL");
    }
    // And the check itself can fail: the plain secret is found when it is there.
    let mut planted = b"....".to_vec();
    planted.extend(forms(&AES_KEY)[1].clone());
    assert!(std::panic::catch_unwind(|| assert_absent(&planted, "a planted buffer")).is_err());
}

contract!(secrets_do_not_appear_in_a_raw_dump);
