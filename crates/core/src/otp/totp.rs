//! TOTP, RFC 6238: HOTP whose counter is the number of time steps since T0.

use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::hotp::Hotp;
use super::{Algorithm, Code, Digits, Secret};
use crate::{Error, UnixTime};

/// How far a factor's learned clock offset may drift, in steps either way.
pub const MAX_CLOCK_OFFSET: i64 = 10;

/// The parameters of a TOTP factor (RFC 6238 §4.1): hash, digits, step length X and start time T0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC hash function.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: Digits,
    /// The time step X in seconds.
    period: u64,
    /// The Unix time T0 at which step 0 begins.
    t0: u64,
}

impl Default for TotpParams {
    /// SHA-1, 6 digits, 30 seconds, T0 = 0: what every authenticator app honours.
    fn default() -> TotpParams {
        TotpParams { algorithm: Algorithm::Sha1, digits: Digits::SIX, period: 30, t0: 0 }
    }
}

impl TotpParams {
    /// Parameters with T0 = 0; the period must be 1 to 3600 seconds.
    pub fn new(algorithm: Algorithm, digits: Digits, period: u64) -> Result<TotpParams, Error> {
        if !(1..=3600).contains(&period) {
            return Err(Error::InvalidPeriod(period));
        }
        Ok(TotpParams { algorithm, digits, period, t0: 0 })
    }

    /// The same parameters counting steps from `t0` instead of the Unix epoch.
    pub fn with_t0(self, t0: UnixTime) -> TotpParams {
        TotpParams { t0: t0.seconds(), ..self }
    }

    /// The time step in seconds.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// The start time T0.
    pub fn t0(&self) -> UnixTime {
        UnixTime(self.t0)
    }
}

/// A successful verification: the step that matched (what replay protection stores) and the
/// factor's clock offset learned from it, in steps, bounded to ±[`MAX_CLOCK_OFFSET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The time step whose code was typed.
    pub step: u64,
    /// That step minus the step of `now`.
    pub clock_offset: i64,
}

/// A TOTP generator and verifier for one secret.
#[derive(Clone)]
pub struct Totp {
    hotp: Hotp,
    params: TotpParams,
}

impl Totp {
    /// Keys a generator with the factor's secret and parameters.
    pub fn new(secret: &Secret, params: TotpParams) -> Result<Totp, Error> {
        Ok(Totp { hotp: Hotp::new(secret, params.algorithm, params.digits)?, params })
    }

    /// The parameters.
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// T = floor((now - T0) / X), RFC 6238 §4.2.
    pub fn step_at(&self, now: UnixTime) -> Result<u64, Error> {
        let elapsed = now.seconds().checked_sub(self.params.t0).ok_or(Error::BeforeEpoch)?;
        Ok(elapsed / self.params.period)
    }

    /// The code of a given step.
    pub fn code_for_step(&self, step: u64) -> Code {
        self.hotp.code(step)
    }

    /// The code an app shows at `now`.
    pub fn code_at(&self, now: UnixTime) -> Result<Code, Error> {
        Ok(self.code_for_step(self.step_at(now)?))
    }

    /// Checks `code` against the steps within `window` of the step of `now` shifted by the factor's
    /// `clock_offset` (clamped to ±[`MAX_CLOCK_OFFSET`]). Only steps after `last_used_step` are candidates,
    /// so a code is never accepted twice; the caller still stores the returned step with an atomic
    /// conditional update, which is what makes single use hold across concurrent requests.
    ///
    /// Every candidate is computed and compared in constant time, so timing tells nothing about
    /// which step (if any) matched.
    pub fn verify(
        &self,
        code: Code,
        now: UnixTime,
        window: u64,
        clock_offset: i64,
        last_used_step: Option<u64>,
    ) -> Option<Match> {
        let current = self.step_at(now).ok()?;
        if code.digits() != self.params.digits {
            return None;
        }
        let center = current as i128 + i128::from(clock_offset.clamp(-MAX_CLOCK_OFFSET, MAX_CLOCK_OFFSET));
        let lowest = (center - i128::from(window)).max(0);
        let lowest = match last_used_step {
            Some(used) => lowest.max(i128::from(used) + 1),
            None => lowest,
        };
        let highest = center + i128::from(window);
        let mut found = subtle::Choice::from(0);
        let mut matched_step = 0u64;
        let mut step = lowest;
        while step <= highest {
            let Ok(candidate) = u64::try_from(step) else { break };
            let equal = self.code_for_step(candidate).value().ct_eq(&code.value());
            matched_step.conditional_assign(&candidate, equal & !found);
            found |= equal;
            step += 1;
        }
        if !bool::from(found) {
            return None;
        }
        let offset = (i128::from(matched_step) - current as i128)
            .clamp(i128::from(-MAX_CLOCK_OFFSET), i128::from(MAX_CLOCK_OFFSET)) as i64;
        Some(Match { step: matched_step, clock_offset: offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc6238(algorithm: Algorithm) -> Totp {
        let seed: &[u8] = match algorithm {
            Algorithm::Sha1 => b"12345678901234567890",
            Algorithm::Sha256 => b"12345678901234567890123456789012",
            Algorithm::Sha512 => b"1234567890123456789012345678901234567890123456789012345678901234",
        };
        let params = TotpParams::new(algorithm, Digits::EIGHT, 30).unwrap();
        Totp::new(&Secret::from_bytes(seed).unwrap(), params).unwrap()
    }

    /// RFC 6238 Appendix B, every row, all three algorithms.
    #[test]
    fn rfc6238_appendix_b() {
        let table: [(u64, [&str; 3]); 6] = [
            (59, ["94287082", "46119246", "90693936"]),
            (1111111109, ["07081804", "68084774", "25091201"]),
            (1111111111, ["14050471", "67062674", "99943326"]),
            (1234567890, ["89005924", "91819424", "93441116"]),
            (2000000000, ["69279037", "90698825", "38618901"]),
            (20000000000, ["65353130", "77737706", "47863826"]),
        ];
        for (time, codes) in table {
            for (algorithm, want) in
                [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512].into_iter().zip(codes)
            {
                let got = rfc6238(algorithm).code_at(UnixTime(time)).unwrap();
                assert_eq!(got.to_string(), want, "{algorithm:?} at {time}");
            }
        }
    }

    fn default_totp() -> Totp {
        Totp::new(&Secret::from_bytes(b"12345678901234567890").unwrap(), TotpParams::default()).unwrap()
    }

    #[test]
    fn accepts_one_step_either_side_and_reports_the_step() {
        let totp = default_totp();
        let now = UnixTime(1_700_000_015);
        let current = totp.step_at(now).unwrap();
        for delta in [-1i64, 0, 1] {
            let step = (current as i64 + delta) as u64;
            let code = totp.code_for_step(step);
            assert_eq!(totp.verify(code, now, 1, 0, None), Some(Match { step, clock_offset: delta }));
        }
        for delta in [-2i64, 2] {
            let code = totp.code_for_step((current as i64 + delta) as u64);
            assert_eq!(totp.verify(code, now, 1, 0, None), None, "step {delta} is outside the window");
        }
    }

    #[test]
    fn the_learned_clock_offset_moves_the_window_but_is_bounded() {
        let totp = default_totp();
        let now = UnixTime(1_700_000_015);
        let current = totp.step_at(now).unwrap();
        let late = totp.code_for_step(current + 5);
        assert_eq!(totp.verify(late, now, 1, 0, None), None);
        assert_eq!(totp.verify(late, now, 1, 4, None), Some(Match { step: current + 5, clock_offset: 5 }));
        let far = totp.code_for_step(current + 12);
        assert_eq!(totp.verify(far, now, 1, 11, None), None, "offset clamps to 10, window reaches 11");
        let edge = totp.code_for_step(current + 11);
        assert_eq!(totp.verify(edge, now, 1, 50, None), Some(Match { step: current + 11, clock_offset: 10 }));
    }

    #[test]
    fn used_steps_are_not_candidates() {
        let totp = default_totp();
        let now = UnixTime(1_700_000_015);
        let current = totp.step_at(now).unwrap();
        let code = totp.code_for_step(current);
        assert_eq!(totp.verify(code, now, 1, 0, Some(current)), None);
        assert_eq!(totp.verify(code, now, 1, 0, Some(current - 1)).map(|m| m.step), Some(current));
    }

    #[test]
    fn wrong_codes_and_wrong_lengths_fail() {
        let totp = default_totp();
        let now = UnixTime(1_700_000_015);
        let right = totp.code_at(now).unwrap();
        let wrong = Code::parse(&format!("{:06}", (right.value() + 1) % 1_000_000)).unwrap();
        assert_eq!(totp.verify(wrong, now, 1, 0, None), None);
        let eight = Code::parse(&format!("00{right}")).unwrap();
        assert_eq!(
            totp.verify(eight, now, 1, 0, None),
            None,
            "an 8-digit code never matches a 6-digit factor"
        );
    }

    #[test]
    fn edges_of_time_do_not_panic() {
        let totp = default_totp();
        let code = totp.code_for_step(0);
        assert_eq!(totp.verify(code, UnixTime(0), 1, 0, None).map(|m| m.step), Some(0));
        assert_eq!(totp.verify(code, UnixTime(0), 1, -10, None), None, "the window lies before step 0");
        assert!(totp.verify(code, UnixTime(u64::MAX), 1, 10, None).is_none());
        let later = TotpParams::default().with_t0(UnixTime(100));
        let totp = Totp::new(&Secret::from_bytes(b"k").unwrap(), later).unwrap();
        assert_eq!(totp.step_at(UnixTime(99)), Err(Error::BeforeEpoch));
        assert_eq!(totp.step_at(UnixTime(130)), Ok(1));
        assert_eq!(totp.verify(code, UnixTime(99), 1, 0, None), None);
    }

    #[test]
    fn periods_outside_one_second_to_one_hour_are_refused() {
        assert_eq!(TotpParams::new(Algorithm::Sha1, Digits::SIX, 0), Err(Error::InvalidPeriod(0)));
        assert_eq!(TotpParams::new(Algorithm::Sha1, Digits::SIX, 3601), Err(Error::InvalidPeriod(3601)));
        assert_eq!(TotpParams::new(Algorithm::Sha1, Digits::SIX, 60).unwrap().period(), 60);
    }
}
