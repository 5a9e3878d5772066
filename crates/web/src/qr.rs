//! QR codes of `otpauth://` URIs, as inline SVG for the enrollment page.
//!
//! Inline SVG needs no image route, no `data:` URL and no JavaScript, and it stays sharp at any zoom.
//! The code is drawn black on white with the four-module quiet zone the standard asks for (ISO/IEC
//! 18004 §6.3.8) at 7 px per module: an otpauth URI gives a version 5–7 code (37–45 modules), so
//! about 300 px square, which phone cameras read easily from a laptop screen.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

pub use qrcode::types::QrError;

/// Screen pixels per QR module.
pub const MODULE_PX: u32 = 7;

/// What screen readers announce for the code.
pub const ARIA_LABEL: &str = "QR code for your authenticator app; the secret is also shown as text below";

/// The QR code of `text` as an `<svg>` element, ready to be placed in a page (with askama's `|safe`).
///
/// Error correction level M (15%) keeps the code small while tolerating screen glare and moiré.
/// Fails only when the text is too long for any QR code (about 2,300 bytes at level M).
pub fn qr_svg(text: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let rendered = code
        .render::<svg::Color>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PX, MODULE_PX)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The renderer writes a standalone document; inside HTML the XML declaration is not allowed, and
    // the element needs a role and a label to be announced as one image.
    let element = rendered.find("<svg").map_or(rendered.as_str(), |start| &rendered[start..]);
    Ok(element.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{ARIA_LABEL}\" focusable=\"false\" "),
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/Keyward%20Demo:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Keyward%20Demo&algorithm=SHA1&digits=6&period=30";

    fn attribute<'a>(svg: &'a str, name: &str) -> &'a str {
        let start = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        &svg[start..start + svg[start..].find('"').unwrap()]
    }

    #[test]
    fn an_inline_svg_element_with_an_accessible_name() {
        let svg = qr_svg(URI).unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\""), "{}", &svg[..80]);
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(!svg.contains("<?xml"), "no XML declaration inside HTML");
        assert!(!svg.contains("style="), "CSP forbids inline styles");
        assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("fill=\"#000000\""), "dark modules are black");
        assert!(svg.contains("fill=\"#ffffff\""), "on white");
    }

    #[test]
    fn size_is_whole_modules_plus_the_quiet_zone() {
        let svg = qr_svg(URI).unwrap();
        let code = QrCode::with_error_correction_level(URI.as_bytes(), EcLevel::M).unwrap();
        let expected = (code.width() as u32 + 2 * 4) * MODULE_PX;
        assert_eq!(attribute(&svg, "width"), expected.to_string());
        assert_eq!(attribute(&svg, "height"), expected.to_string());
        assert!((250..=400).contains(&expected), "{expected} px is comfortable to scan from a screen");
    }

    #[test]
    fn different_text_different_code_and_too_long_is_an_error() {
        let other = URI.replace("JBSWY3DP", "KRSXG5CT");
        assert_ne!(qr_svg(URI).unwrap(), qr_svg(&other).unwrap());
        assert_eq!(qr_svg(URI).unwrap(), qr_svg(URI).unwrap(), "deterministic");
        assert!(matches!(qr_svg(&"x".repeat(5_000)), Err(QrError::DataTooLong)));
    }

    /// The real check: a QR decoder reads back exactly the URI.
    #[test]
    fn zbarimg_decodes_the_exact_uri() {
        let Some(rsvg) = keyward_testkit::require("rsvg-convert", "librsvg2-bin") else { return };
        let Some(zbarimg) = keyward_testkit::require("zbarimg", "zbar-tools") else { return };
        let dir = std::env::temp_dir().join(format!("keyward-qr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, uri) in [URI, "otpauth://totp/Keyward:b%C3%B8rge%40example.dk?secret=GEZDGNBVGY3TQOJQ&issuer=Keyward&digits=8&algorithm=SHA256"]
            .into_iter()
            .enumerate()
        {
            let (svg_path, png_path) = (dir.join(format!("{i}.svg")), dir.join(format!("{i}.png")));
            std::fs::write(&svg_path, qr_svg(uri).unwrap()).unwrap();
            keyward_testkit::stdout_of(
                std::process::Command::new(&rsvg).arg("-o").arg(&png_path).arg(&svg_path),
            );
            let output = keyward_testkit::output_of(std::process::Command::new(&zbarimg).args(["-q", "--raw"]).arg(&png_path));
            // zbarimg prints harmless D-Bus noise on stderr: the exit code and stdout are what count.
            assert!(output.status.success(), "zbarimg failed: {}", String::from_utf8_lossy(&output.stderr));
            assert_eq!(String::from_utf8(output.stdout).unwrap().trim_end_matches('\n'), uri);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
