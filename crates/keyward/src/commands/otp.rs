//! `keyward otp totp` and `keyward otp uri`: compute what an authenticator app would show or scan.

use anyhow::Context;
use keyward_core::UnixTime;
use keyward_core::otp::{Algorithm, Digits, OtpAuthUri, Secret, Totp, TotpParams};

use crate::adapters;
use crate::cli::{AlgorithmArg, OtpCommand, TotpParamArgs};

pub fn run(command: OtpCommand) -> anyhow::Result<()> {
    let line = match command {
        OtpCommand::Totp(args) => {
            let totp = match (&args.uri, &args.secret) {
                (Some(uri), _) => {
                    let uri = OtpAuthUri::parse(uri).context("--uri")?;
                    Totp::new(&uri.secret, uri.params)?
                }
                (None, Some(secret)) => {
                    let secret = Secret::from_base32(secret).context("--secret")?;
                    Totp::new(&secret, params(&args.params)?)?
                }
                (None, None) => anyhow::bail!("give --secret or --uri"),
            };
            let now = args.time.map(UnixTime).unwrap_or_else(adapters::now);
            totp.code_at(now)?.to_string()
        }
        OtpCommand::Uri(args) => {
            let secret = Secret::from_base32(&args.secret).context("--secret")?;
            OtpAuthUri::new(Some(&args.issuer), &args.account, secret, params(&args.params)?)?.to_string()
        }
    };
    super::print_line(&line);
    Ok(())
}

fn params(args: &TotpParamArgs) -> anyhow::Result<TotpParams> {
    let algorithm = match args.algorithm {
        AlgorithmArg::Sha1 => Algorithm::Sha1,
        AlgorithmArg::Sha256 => Algorithm::Sha256,
        AlgorithmArg::Sha512 => Algorithm::Sha512,
    };
    let digits = Digits::new(args.digits).context("--digits")?;
    TotpParams::new(algorithm, digits, args.period).context("--period")
}
