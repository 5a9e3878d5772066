//! A software YubiKey: the counters and clock of a real key, for demos and tests.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::{AesKey, MAX_COUNTER, Position, PrivateId, PublicId, Token, YubikeyOtp, encode};

/// The timestamp is a 24-bit counter of 8 Hz ticks.
const TIMESTAMP_MASK: u32 = 0x00ff_ffff;
/// The most ticks a press moves the timestamp on (8 s at 8 Hz): a person does not touch a key faster.
const MAX_TICKS_BETWEEN_PRESSES: u32 = 64;

/// Everything a software key remembers between touches except its AES key, so it can be saved (as
/// JSON, say) without the secret that makes OTPs; the AES key is handed in again by whoever runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftwareKeyState {
    /// The public id the key types first.
    pub public_id: PublicId,
    /// The private id inside every token.
    pub private_id: PrivateId,
    /// The usage counter of the next OTP (1..=[`MAX_COUNTER`]).
    pub counter: u16,
    /// The session use of the next OTP.
    #[serde(rename = "use")]
    pub session_use: u8,
    /// The 24-bit timestamp of the next OTP.
    pub timestamp: u32,
    /// Set once the key has typed its last possible position (counter 0x7fff, use 0xff): like a real
    /// key, it types nothing more.
    #[serde(default)]
    pub exhausted: bool,
}

impl SoftwareKeyState {
    /// A key just plugged in for the first time: counter 1, use 0, the timestamp at a random start.
    pub fn new(public_id: PublicId, private_id: PrivateId, rng: &mut impl CryptoRng) -> SoftwareKeyState {
        SoftwareKeyState {
            public_id,
            private_id,
            counter: 1,
            session_use: 0,
            timestamp: rng.next_u32() & TIMESTAMP_MASK,
            exhausted: false,
        }
    }

    /// The (counter, use) of the next OTP.
    pub fn position(&self) -> Position {
        Position { counter: self.counter, session_use: self.session_use }
    }
}

/// A software YubiKey: its AES key and its [`SoftwareKeyState`]. Each [`press`](SoftwareKey::press)
/// types an OTP at a strictly greater [`Position`] than the one before, as a real key does.
#[derive(Debug)]
pub struct SoftwareKey {
    key: AesKey,
    state: SoftwareKeyState,
}

impl SoftwareKey {
    /// A key with this AES key in this state.
    pub fn new(key: AesKey, state: SoftwareKeyState) -> SoftwareKey {
        SoftwareKey { key, state }
    }

    /// The state to save after pressing or replugging.
    pub fn state(&self) -> &SoftwareKeyState {
        &self.state
    }

    /// Touches the key: the OTP it types, then use + 1 (wrapping past 0xff into the next counter, as
    /// the Yubico OTP spec describes) and the timestamp a few ticks on. `None` once the key is exhausted
    /// (or its state holds a counter above [`MAX_COUNTER`]); the counter never sets the caps-lock flag.
    pub fn press(&mut self, rng: &mut impl CryptoRng) -> Option<YubikeyOtp> {
        if self.state.exhausted || self.state.counter > MAX_COUNTER {
            self.state.exhausted = true;
            return None;
        }
        let mut random = [0; 2];
        rng.fill_bytes(&mut random);
        let [low0, low1, high, _] = self.state.timestamp.to_le_bytes();
        let token = Token {
            private_id: self.state.private_id,
            counter: self.state.counter,
            triggered_by_caps_lock: false,
            timestamp_low: u16::from_le_bytes([low0, low1]),
            timestamp_high: high,
            session_use: self.state.session_use,
            random: u16::from_le_bytes(random),
        };
        let otp = encode(&self.key, &self.state.public_id, &token);
        match self.state.position().next() {
            Some(next) => (self.state.counter, self.state.session_use) = (next.counter, next.session_use),
            None => self.state.exhausted = true,
        }
        let ticks = 1 + rng.next_u32() % MAX_TICKS_BETWEEN_PRESSES;
        self.state.timestamp = self.state.timestamp.wrapping_add(ticks) & TIMESTAMP_MASK;
        Some(otp)
    }

    /// Unplugs the key and plugs it in again: counter + 1, use back to 0, and the timestamp restarts at
    /// a random value, as a real key's power-up does. Past [`MAX_COUNTER`] the key is exhausted.
    pub fn replug(&mut self, rng: &mut impl CryptoRng) {
        match self.state.counter.checked_add(1).filter(|&counter| counter <= MAX_COUNTER) {
            Some(counter) => (self.state.counter, self.state.session_use) = (counter, 0),
            None => self.state.exhausted = true,
        }
        self.state.timestamp = rng.next_u32() & TIMESTAMP_MASK;
    }
}

#[cfg(test)]
mod tests {

    use super::super::verify;
    use super::*;

    use crate::test_rng::SplitMix as TestRng;

    const KEY: &str = "ecde18dbe76fbd0c33330f1c354871db";

    fn fresh(rng: &mut TestRng) -> SoftwareKey {
        let state = SoftwareKeyState::new(
            PublicId::parse("vvccccbbdddd").unwrap(),
            PrivateId::parse("8792ebfe26cc").unwrap(),
            rng,
        );
        SoftwareKey::new(AesKey::parse(KEY).unwrap(), state)
    }

    fn typed(key: &mut SoftwareKey, rng: &mut TestRng) -> Token {
        let otp = key.press(rng).unwrap();
        assert_eq!(otp.public_id().as_str(), "vvccccbbdddd");
        verify(&otp, &AesKey::parse(KEY).unwrap(), &PrivateId::parse("8792ebfe26cc").unwrap()).unwrap()
    }

    #[test]
    fn a_fresh_key_starts_at_counter_one_use_zero() {
        let mut rng = TestRng(1);
        let mut key = fresh(&mut rng);
        let token = typed(&mut key, &mut rng);
        assert_eq!(token.position(), Position { counter: 1, session_use: 0 });
        assert!(!token.triggered_by_caps_lock);
        assert_eq!(key.state().position(), Position { counter: 1, session_use: 1 });
    }

    #[test]
    fn presses_advance_use_and_timestamp() {
        let mut rng = TestRng(2);
        let mut key = fresh(&mut rng);
        let first = typed(&mut key, &mut rng);
        let second = typed(&mut key, &mut rng);
        assert!(second.position().is_after(first.position()));
        assert_eq!(second.session_use, 1);
        let ticks = (second.timestamp().wrapping_sub(first.timestamp())) & TIMESTAMP_MASK;
        assert!((1..=MAX_TICKS_BETWEEN_PRESSES).contains(&ticks), "{ticks}");
    }

    #[test]
    fn use_wraps_into_the_next_counter() {
        let mut rng = TestRng(3);
        let mut key = fresh(&mut rng);
        let mut last = typed(&mut key, &mut rng).position();
        for _ in 0..300 {
            let next = typed(&mut key, &mut rng).position();
            assert!(next.is_after(last), "{next:?} after {last:?}");
            last = next;
        }
        assert_eq!(last, Position { counter: 2, session_use: 44 });
    }

    #[test]
    fn a_replug_advances_the_counter_and_restarts_use() {
        let mut rng = TestRng(4);
        let mut key = fresh(&mut rng);
        typed(&mut key, &mut rng);
        let before = typed(&mut key, &mut rng);
        key.replug(&mut rng);
        let after = typed(&mut key, &mut rng);
        assert_eq!(after.position(), Position { counter: 2, session_use: 0 });
        assert!(after.position().is_after(before.position()));
    }

    #[test]
    fn an_exhausted_key_types_nothing() {
        let mut rng = TestRng(5);
        let mut key = fresh(&mut rng);
        key.state.counter = MAX_COUNTER;
        key.state.session_use = 0xfe;
        assert_eq!(
            typed(&mut key, &mut rng).position(),
            Position { counter: MAX_COUNTER, session_use: 0xfe }
        );
        assert_eq!(
            typed(&mut key, &mut rng).position(),
            Position { counter: MAX_COUNTER, session_use: 0xff }
        );
        assert!(key.press(&mut rng).is_none());
        key.replug(&mut rng);
        assert!(key.press(&mut rng).is_none());

        let mut replugged = fresh(&mut rng);
        replugged.state.counter = MAX_COUNTER;
        replugged.replug(&mut rng);
        assert!(replugged.press(&mut rng).is_none());

        let mut edited = fresh(&mut rng);
        edited.state.counter = 0x8000;
        assert!(edited.press(&mut rng).is_none());
    }
}
