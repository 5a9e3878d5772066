//! The e-mails Keyward sends, each with a text and an HTML part.

use crate::mail::Message;
use crate::user::Email;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A message with one call to action: a sentence, a link, and what to do if it was not expected.
fn with_link(to: &Email, subject: &str, lines: &[&str], link: &str, action: &str, footer: &str) -> Message {
    let text = format!("{}\n\n{action}:\n{link}\n\n{footer}\n", lines.join("\n\n"));
    let paragraphs: String = lines.iter().map(|line| format!("<p>{}</p>\n", escape(line))).collect();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><body>\n{paragraphs}<p><a href=\"{link}\">{action}</a></p>\n\
         <p>{}</p>\n</body></html>\n",
        escape(footer),
        link = escape(link),
        action = escape(action)
    );
    Message { to: to.clone(), subject: subject.to_owned(), text, html, links: vec![link.to_owned()] }
}

/// A message without a link.
fn notice(to: &Email, subject: &str, lines: &[&str]) -> Message {
    let text = format!("{}\n", lines.join("\n\n"));
    let paragraphs: String = lines.iter().map(|line| format!("<p>{}</p>\n", escape(line))).collect();
    let html = format!("<!doctype html>\n<html lang=\"en\"><body>\n{paragraphs}</body></html>\n");
    Message { to: to.clone(), subject: subject.to_owned(), text, html, links: Vec::new() }
}

pub(crate) fn enrollment(to: &Email, account: &str, link: &str, hours: u64) -> Message {
    with_link(
        to,
        &format!("Set up two-factor authentication for {account}"),
        &[
            &format!("Your administrator at {account} has turned on two-factor authentication."),
            "Open the link below on your computer, with your phone ready: the page shows a QR code to scan with \
             Google Authenticator, Authy or another authenticator app. Then type the first one-time password \
             and click Verify.",
            &format!("The link works once and for {hours} hours."),
        ],
        link,
        "Set up two-factor authentication",
        "If you did not expect this e-mail, tell your administrator.",
    )
}

pub(crate) fn set_password(to: &Email, account: &str, link: &str) -> Message {
    with_link(
        to,
        &format!("You have been added to {account} on Keyward"),
        &[&format!("An administrator of {account} added you. Choose your password to log in.")],
        link,
        "Choose your password",
        "The link works once. If you did not expect this e-mail, you can ignore it.",
    )
}

pub(crate) fn reset_password(to: &Email, link: &str) -> Message {
    with_link(
        to,
        "Reset your Keyward password",
        &["Someone asked to reset the password of this account. If it was you, choose a new password."],
        link,
        "Choose a new password",
        "The link works once and for one hour. Your second factor is still asked at login. \
         If you did not ask for this, ignore this e-mail.",
    )
}

pub(crate) fn wrong_codes(to: &Email, attempts: u32) -> Message {
    notice(
        to,
        "Wrong one-time passwords at your Keyward login",
        &[
            &format!(
                "{attempts} wrong one-time passwords were typed after the correct password of your account."
            ),
            "If this was not you, your password is known to someone else: change it now and tell your \
             administrator.",
        ],
    )
}

pub(crate) fn wrong_passwords(to: &Email, attempts: u32, address: &str) -> Message {
    let from = if address.is_empty() { String::new() } else { format!(" (the last from {address})") };
    notice(
        to,
        "Wrong passwords at your Keyward login",
        &[
            &format!(
                "{attempts} wrong passwords for your account were typed in a browser you have not logged in \
                 with before{from}. Further attempts from there now have to wait, up to 15 minutes each."
            ),
            "Browsers where you have logged in before are not affected: you can keep logging in there.",
            "If this was not you, someone is guessing your password. You need do nothing; if your password \
             is one you use elsewhere, change it.",
        ],
    )
}

pub(crate) fn recovery_code_used(to: &Email, remaining: usize) -> Message {
    notice(
        to,
        "A recovery code was used to log in",
        &[
            "One of your recovery codes was just used to log in to your account.",
            &format!(
                "{remaining} unused recovery codes remain. If this was not you, tell your administrator now."
            ),
        ],
    )
}

/// A factor was added to or removed from the user's login ("A new authenticator app was added").
pub(crate) fn factor_changed(to: &Email, change: &str) -> Message {
    notice(
        to,
        "Your two-factor authentication changed",
        &[
            &format!("{change} Any other browser where you were logged in has been logged out."),
            "If this was not you or your administrator, tell your administrator now.",
        ],
    )
}

pub(crate) fn password_changed(to: &Email) -> Message {
    notice(
        to,
        "Your Keyward password was changed",
        &[
            "The password of your account was just changed with a link sent to this address. You were \
             logged out everywhere, and links sent to you before no longer work.",
            "If this was not you, someone can read your e-mail: tell your administrator now. Your second \
             factor is still asked at every login.",
        ],
    )
}

pub(crate) fn confirm_sign_up(to: &Email, account: &str, link: &str) -> Message {
    with_link(
        to,
        &format!("Confirm your address to create {account} on Keyward"),
        &[&format!(
            "Someone signed up for a Keyward account named {account} with this address. Open the link to \
             create it; you become its first admin."
        )],
        link,
        "Create the account",
        "The link works for 24 hours. If you did not sign up, ignore this e-mail: nothing is created.",
    )
}

pub(crate) fn already_signed_up(to: &Email, base: &str) -> Message {
    with_link(
        to,
        "You already have a Keyward login",
        &[
            "Someone tried to sign up for a new Keyward account with this address, which already has a \
             login. One address belongs to one account, so nothing was created.",
            &format!(
                "If it was you, log in at {base}/login; if you forgot your password, choose a new one below."
            ),
        ],
        &format!("{base}/password/forgot"),
        "Reset your password",
        "If this was not you, you need do nothing.",
    )
}

pub(crate) fn already_elsewhere(to: &Email, account: &str) -> Message {
    notice(
        to,
        &format!("{account} tried to add you on Keyward"),
        &[
            &format!(
                "An administrator of {account} tried to add this address to their Keyward account. It already \
                 has a Keyward login in another account, and one address belongs to one account, so nothing \
                 changed."
            ),
            &format!("If you expected it, give the administrator of {account} another address of yours."),
        ],
    )
}
