//! The bench fixture: one account of N users, each with a confirmed TOTP app and an imported YubiKey,
//! seeded straight into the database in large transactions (not N HTTP calls), and the file that lets a
//! later run use the same database again.
//!
//! Every user's secrets are derived from one seed (HMAC-SHA256 of the seed and the user's number), so the
//! load generator can make any user's codes without reading the database.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hmac::{Hmac, KeyInit, Mac};
use keyward_core::account::{AccountName, Activation, DisablePolicy, Methods};
use keyward_core::factor::{totp_seal_context, yubikey_seal_context};
use keyward_core::ids::AccountId;
use keyward_core::otp::{Secret, Totp, TotpParams};
use keyward_core::password::{Password, hash_password};
use keyward_core::seal::{KeyRing, MasterKey, new_key_id};
use keyward_core::store::{AccountStore, FactorStore, UnitOfWork, UserStore};
use keyward_core::token::Token;
use keyward_core::user::{Email, Role};
use keyward_core::yubico::{AesKey, PrivateId, PublicId, SoftwareKey, SoftwareKeyState, YubikeyOtp, modhex};
use keyward_core::{UnixTime, client, store::ClientStore};
use keyward_store::SqlStore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::edge;

/// Every user's password, for the login workloads.
pub const PASSWORD: &str = "bench horse battery staple";
/// The account's admin, who has a YubiKey of her own (number [`ADMIN`]) for the admin workloads.
pub const ADMIN_EMAIL: &str = "admin@bench.example";
pub const ADMIN: u64 = u64::MAX;
/// Users are seeded this many to a transaction.
const CHUNK: u64 = 5_000;

/// What a run needs to know about a seeded database, kept as `bench.json` beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fixture {
    pub database_url: String,
    pub users: u64,
    /// Users beside them with no factor yet (`new<n>@bench.example`), for "send to all not yet enrolled".
    #[serde(default)]
    pub unenrolled: u64,
    pub account_id: i64,
    /// The master key ring, as `KEYWARD_MASTER_KEY` takes it.
    pub master_key: String,
    /// Hex: the seed every user's secrets are derived from.
    pub seed: String,
    /// The JSON API's bearer key.
    pub api_key: String,
    /// The Validation Protocol client's id and base64 key.
    pub yubico_client_id: i64,
    pub yubico_client_key: String,
    /// The YubiKey usage counter the next run starts at (each run moves past the positions it used).
    pub next_counter: u16,
    /// The last TOTP step any run used; a later run uses only later steps.
    pub last_totp_step: u64,
}

impl Fixture {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("bench.json")
    }

    pub fn load(dir: &Path) -> anyhow::Result<Option<Fixture>> {
        match std::fs::read_to_string(Fixture::path(dir)) {
            Ok(text) => Ok(Some(serde_json::from_str(&text).context("reading bench.json")?)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).context("reading bench.json"),
        }
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::write(Fixture::path(dir), serde_json::to_string_pretty(self)?).context("writing bench.json")
    }

    fn derive(&self, purpose: &str, user: u64) -> [u8; 32] {
        let seed = hex::decode(&self.seed).unwrap_or_default();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&seed).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.as_bytes());
        mac.update(&user.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// User `n`'s address.
    pub fn email(n: u64) -> String {
        format!("user{n}@bench.example")
    }

    /// User `n`'s authenticator app.
    pub fn totp(&self, n: u64) -> anyhow::Result<Totp> {
        let secret = Secret::from_bytes(&self.derive("totp", n)[..20])?;
        Ok(Totp::new(&secret, TotpParams::default())?)
    }

    /// User `n`'s YubiKey: public id `ccc` + 9 modhex bytes of the number, AES key and private id derived.
    fn yubikey_secrets(&self, n: u64) -> anyhow::Result<(PublicId, AesKey, PrivateId)> {
        let derived = self.derive("yubikey", n);
        let aes = AesKey::from_bytes(derived[..16].try_into()?);
        let private = PrivateId::from_bytes(derived[16..22].try_into()?);
        let [_, _, rest @ ..] = n.to_be_bytes();
        let public = PublicId::parse(&modhex::encode(&[&[0x00][..], &rest].concat()))?;
        Ok((public, aes, private))
    }

    /// The OTP user `n`'s YubiKey types at its `press`-th touch of this run: counter
    /// `next_counter + press / 256`, use `press % 256`, so every press is after the one before.
    pub fn yubikey_otp(
        &self,
        n: u64,
        press: u32,
        rng: &mut impl rand_core::CryptoRng,
    ) -> anyhow::Result<YubikeyOtp> {
        let (public_id, aes, private_id) = self.yubikey_secrets(n)?;
        let counter = u32::from(self.next_counter) + press / 256;
        let mut state = SoftwareKeyState::new(public_id, private_id, rng);
        state.counter = u16::try_from(counter).context("the YubiKeys' counters are used up: seed again")?;
        state.session_use = u8::try_from(press % 256)?;
        SoftwareKey::new(aes, state).press(rng).context("the YubiKeys' counters are used up: seed again")
    }
}

/// Seeds a fresh database at `database_url` with `users` users and returns the fixture describing it.
pub async fn seed(database_url: &str, users: u64, unenrolled: u64) -> anyhow::Result<Fixture> {
    let store = SqlStore::connect(database_url).await.context("connecting to the database")?;
    store.migrate().await.context("migrating")?;
    let mut rng = edge::rng();
    let now = edge::now();
    let ring = KeyRing::new(MasterKey::generate(&new_key_id(now, &mut rng), &mut rng)?);
    let hash = hash_password(&Password::parse(PASSWORD)?, &mut rng)?;
    let (account, admin) =
        store.create_account(&AccountName::parse("Bench")?, &Email::parse(ADMIN_EMAIL)?, &hash, now).await?;
    let methods = Methods { totp: true, yubikey: true, webauthn: false };
    let policy = DisablePolicy::parse(
        "Call the user back at the number on file, then write to support@bench.example.",
    )?;
    store.update_two_factor_settings(account.id, methods, &policy).await?;
    store.set_activation(account.id, Some(Activation { by: admin.id, at: now })).await?;
    let api_key = Token::generate(32, &mut rng);
    store.insert_api_client(account.id, "bench", &api_key.hash(), now).await?;
    let (yubico, yubico_key) = client::add_yubico_client(&store, &ring, &mut rng, None, "bench", now).await?;
    let mut seed = [0; 32];
    rand_core::Rng::fill_bytes(&mut rng, &mut seed);
    let fixture = Fixture {
        database_url: database_url.to_owned(),
        users,
        unenrolled,
        account_id: account.id.0,
        master_key: ring.to_text().trim_end().to_owned(),
        seed: hex::encode(seed),
        api_key: api_key.as_str().to_owned(),
        yubico_client_id: yubico.id,
        yubico_client_key: yubico_key.to_base64().to_string(),
        next_counter: 1,
        last_totp_step: 0,
    };
    let (public_id, aes, private_id) = fixture.yubikey_secrets(ADMIN)?;
    let plain = [&aes.as_bytes()[..], &private_id.as_bytes()[..]].concat();
    store
        .import_yubikey(&public_id, &ring.seal(&plain, &yubikey_seal_context(&public_id), &mut rng)?, now)
        .await?;
    store.register_yubikey(&public_id, admin.id, now).await?;
    let began = std::time::Instant::now();
    let mut first = 0;
    while first < users {
        let last = (first + CHUNK).min(users);
        seed_users(&store, &ring, &fixture, account.id, first..last, &hash, now).await?;
        first = last;
        eprintln!("seeded {last} of {users} users ({:.0} s)", began.elapsed().as_secs_f64());
    }
    store
        .atomically(async {
            for n in 0..unenrolled {
                let email = Email::parse(&format!("new{n}@bench.example"))?;
                store.insert_user(account.id, &email, Role::User, Some(&hash), now).await?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    store.close().await;
    Ok(fixture)
}

async fn seed_users(
    store: &SqlStore,
    ring: &KeyRing,
    fixture: &Fixture,
    account: AccountId,
    numbers: std::ops::Range<u64>,
    hash: &keyward_core::password::PasswordHash,
    now: UnixTime,
) -> anyhow::Result<()> {
    let mut rng = edge::rng();
    store
        .atomically(async {
            for n in numbers {
                let user = store
                    .insert_user(account, &Email::parse(&Fixture::email(n))?, Role::User, Some(hash), now)
                    .await?;
                let secret =
                    ring.seal(&fixture.derive("totp", n)[..20], &totp_seal_context(user.id), &mut rng)?;
                let factor = store.insert_totp_factor(user.id, &secret, TotpParams::default(), now).await?;
                // Step 0 confirms the app without using up any step a run will type.
                store.consume_totp_step(factor.id, 0, 0, now).await?;
                let (public_id, aes, private_id) = fixture.yubikey_secrets(n)?;
                let plain = [&aes.as_bytes()[..], &private_id.as_bytes()[..]].concat();
                let sealed = ring.seal(&plain, &yubikey_seal_context(&public_id), &mut rng)?;
                store.import_yubikey(&public_id, &sealed, now).await?;
                store.register_yubikey(&public_id, user.id, now).await?;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await
}
