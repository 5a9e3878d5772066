//! The help article's whole story in headless Chromium against a real `keyward serve`: `e2e/story.mjs`
//! (playwright-core driving Debian's chromium), with aiosmtpd receiving the e-mails, zbarimg reading the
//! QR code, oathtool as the authenticator app and `keyward yubikey simulate` as the YubiKeys. The story
//! prints each step; on a failure it names the step, why it failed, the page it was on and the end of
//! the server's log.
//!
//! The screenshots go to a scratch folder here; `node e2e/story.mjs` run by hand refreshes
//! docs/screenshots, which docs/user-guide.md shows.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{output_of, python_with, require};

#[test]
fn the_help_article_story_passes_in_chromium() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(node) = require("node", "nodejs") else { return };
    let Some(chromium) = require("chromium", "chromium") else { return };
    let Some(_) = require("zbarimg", "zbar-tools") else { return };
    let Some(_) = require("rsvg-convert", "librsvg2-bin") else { return };
    let Some(_) = require("oathtool", "oathtool") else { return };
    let Some(python) = python_with("aiosmtpd") else { return };
    if !workspace.join("e2e/node_modules/playwright-core").is_dir() {
        keyward_testkit::missing::<()>("e2e/node_modules/playwright-core", "npm ci --prefix e2e");
        return;
    }
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-screenshots");

    let output = output_of(
        Command::new(node)
            .arg("e2e/story.mjs")
            .current_dir(&workspace)
            .env("KEYWARD_TEST_BIN", env!("CARGO_BIN_EXE_keyward"))
            .env("KEYWARD_TEST_E2E_CHROMIUM", chromium)
            .env("KEYWARD_TEST_PYTHON", python)
            .env("KEYWARD_TEST_E2E_SCREENSHOTS", &screenshots),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser story failed ({}):\n{stdout}\n{stderr}", output.status);
}
