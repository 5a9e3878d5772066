//! Reading the key secrets that the YubiKey personalization tool logs when it programs keys, so that
//! Keyward can validate their OTPs itself. The tool writes one of two CSV layouts:
//!
//! - traditional: `Yubico OTP,<date>,<slot>,<public id modhex>,<private id hex>,<aes key hex>,,,0,0,...`
//!   (between `LOGGING START,<date>` lines);
//! - Yubico format: `<serial>,<public id modhex>,<private id hex>,<aes key hex>,,<ISO time>,`.

use super::{AesKey, PrivateId, PublicId};
use crate::Error;

/// One key's secrets, from one line of the log.
#[derive(Debug)]
pub struct ImportedKey {
    /// The 1-based line it came from.
    pub line: usize,
    pub public_id: PublicId,
    pub private_id: PrivateId,
    pub aes_key: AesKey,
}

/// What a log holds: the keys, and the lines that configure something else (static passwords,
/// OATH-HOTP, challenge-response) and were left out.
#[derive(Debug, Default)]
pub struct ImportLog {
    pub keys: Vec<ImportedKey>,
    pub skipped_lines: Vec<usize>,
}

/// A line that could not be read, with its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub line: usize,
    pub error: Error,
}

/// Reads a whole log. Any malformed line fails the whole read, so an import never half-happens.
pub fn parse_import_log(text: &str) -> Result<ImportLog, Vec<ImportError>> {
    let mut log = ImportLog::default();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let fields: Vec<&str> = raw.trim().split(',').map(str::trim).collect();
        let parsed = match fields.as_slice() {
            [""] => continue,
            [first, ..] if first.starts_with('#') || first.eq_ignore_ascii_case("LOGGING START") => continue,
            ["Yubico OTP", _date, _slot, public_id, private_id, aes_key, ..] => {
                key_from(line, public_id, private_id, aes_key)
            }
            [serial, public_id, private_id, aes_key, ..]
                if !serial.is_empty() && serial.chars().all(|c| c.is_ascii_digit()) =>
            {
                key_from(line, public_id, private_id, aes_key)
            }
            [kind, ..] if is_other_configuration(kind) => {
                log.skipped_lines.push(line);
                continue;
            }
            _ => Err(Error::InvalidImportLine),
        };
        match parsed {
            Ok(key) => log.keys.push(key),
            Err(error) => errors.push(ImportError { line, error }),
        }
    }
    if errors.is_empty() { Ok(log) } else { Err(errors) }
}

fn key_from(line: usize, public_id: &str, private_id: &str, aes_key: &str) -> Result<ImportedKey, Error> {
    Ok(ImportedKey {
        line,
        public_id: PublicId::parse(public_id)?,
        private_id: PrivateId::parse(private_id)?,
        aes_key: AesKey::parse(aes_key)?,
    })
}

fn is_other_configuration(kind: &str) -> bool {
    ["Static Password", "OATH-HOTP", "Challenge-Response", "Static Password: Scan Code"]
        .iter()
        .any(|known| kind.eq_ignore_ascii_case(known))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRADITIONAL: &str = "LOGGING START,11/28/26 10:00 AM\n\
        Yubico OTP,11/28/26 10:01 AM,1,vvccccfhcbij,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db,,,0,0,0,0,0,0,0,0,0,0\n\
        Static Password,11/28/26 10:02 AM,2,,,,,,0,0,0,0,0,0,0,0,0,0\n";
    const YUBICO_FORMAT: &str = "# exported\n\
        4711,vvccccfhcbik,0102030405a6,00112233445566778899aabbccddeeff,,2026-11-28T10:03:00,\n\
        \n\
        4712, vvccccfhcbil , 0102030405a7 , 00112233445566778899AABBCCDDEEFF ,,2026-11-28T10:04:00,\n";

    #[test]
    fn reads_the_traditional_layout() {
        let log = parse_import_log(TRADITIONAL).unwrap();
        assert_eq!(log.keys.len(), 1);
        let key = &log.keys[0];
        assert_eq!((key.line, key.public_id.as_str()), (2, "vvccccfhcbij"));
        assert_eq!(key.private_id.to_hex(), "8792ebfe26cc");
        assert_eq!(key.aes_key.as_bytes()[0], 0xec);
        assert_eq!(log.skipped_lines, vec![3]);
    }

    #[test]
    fn reads_the_yubico_format() {
        let log = parse_import_log(YUBICO_FORMAT).unwrap();
        let ids: Vec<_> = log.keys.iter().map(|k| (k.line, k.public_id.as_str().to_owned())).collect();
        assert_eq!(ids, vec![(2, "vvccccfhcbik".to_owned()), (4, "vvccccfhcbil".to_owned())]);
        assert_eq!(log.keys[1].aes_key.as_bytes()[15], 0xff);
    }

    #[test]
    fn any_bad_line_fails_the_whole_log_and_names_every_bad_line() {
        let text = format!(
            "{YUBICO_FORMAT}4713,vvccccfhcbim,0102,00112233445566778899aabbccddeeff,,x,\nhello,world\n"
        );
        let errors = parse_import_log(&text).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![5, 6]);
        assert_eq!(errors[1].error, Error::InvalidImportLine);
        assert!(
            parse_import_log("Yubico OTP,date,1,NOTMODHEX,8792ebfe26cc,ecde18dbe76fbd0c33330f1c354871db")
                .is_err()
        );
    }

    #[test]
    fn odd_input_never_panics() {
        for text in ["", ",,,,,,", "Yubico OTP", "1,2,3,4", "\u{0}\u{ffff},é,,", &"a,".repeat(100_000)] {
            let _ = parse_import_log(text);
        }
    }
}
