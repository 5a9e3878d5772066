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

/// The enrollment link; `admin` when it goes to one of the account's administrators, who turned it on
/// (or whose colleague did) rather than being asked by one.
pub(crate) fn enrollment(
    to: &Email,
    account: &str,
    link: &str,
    hours: u64,
    admin: bool,
    methods: crate::account::Methods,
) -> Message {
    let why = if admin {
        format!(
            "You are an administrator of {account}, which uses two-factor authentication: set up your own."
        )
    } else {
        format!("Your administrator at {account} has turned on two-factor authentication.")
    };
    let how = match (methods.totp, methods.webauthn) {
        (true, false) => {
            "Open the link below on your computer, with your phone ready: the page shows a QR code to scan \
             with Google Authenticator, Authy or another authenticator app. Then type the first one-time \
             password and click Verify."
        }
        (false, _) => {
            "Open the link below on your computer, with your security key plugged in (or your phone or \
             computer's passkey ready), and register it."
        }
        (true, true) => {
            "Open the link below on your computer: scan its QR code with Google Authenticator, Authy or \
             another authenticator app and type the first one-time password, or register a security key or \
             passkey."
        }
    };
    with_link(
        to,
        &format!("Set up two-factor authentication for {account}"),
        &[&why, how, &format!("The link works once and for {hours} hours.")],
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

/// To each admin of an account when two-factor authentication is turned on or off.
pub(crate) fn two_factor_switched(to: &Email, account: &str, by: &Email, on: bool) -> Message {
    let (subject, line) = if on {
        (
            format!("Two-factor authentication is now on for {account}"),
            format!(
                "{by} activated two-factor authentication for {account}. From now on every login asks for a \
                 one-time password after the password."
            ),
        )
    } else {
        (
            format!("Two-factor authentication was turned off for {account}"),
            format!(
                "{by} deactivated two-factor authentication for {account}. Logins now need the password only."
            ),
        )
    };
    notice(to, &subject, &[&line, "If this was not expected, check with the other administrators now."])
}

/// To the person who asked, when a lost-device request is opened for them.
pub(crate) fn disable_request_opened(to: &Email, contact: &str) -> Message {
    notice(
        to,
        "We received your request to reset two-factor authentication",
        &[
            "A request to remove the second factor from your Keyward login was opened. Support will follow \
             your company's policy before deciding: expect them to contact you or your administrator.",
            &format!("You gave this way to reach you: {contact}"),
            "If you did not ask for this, tell your administrator now: someone knows your password.",
        ],
    )
}

/// To the account's admins, when a lost-device request is opened for one of their users.
pub(crate) fn disable_request_opened_admin(to: &Email, user: &Email, reason: &str) -> Message {
    notice(
        to,
        &format!("{user} asked support to reset their two-factor authentication"),
        &[
            &format!(
                "A request to remove the second factor of {user} was opened. The reason given: {reason}"
            ),
            "Support follows your account's policy for disabling two-factor authentication before deciding, \
             and may contact you.",
        ],
    )
}

/// To the user whose factors were removed after an approved request or an admin's reset.
pub(crate) fn factors_reset(to: &Email, enrollment_follows: bool) -> Message {
    let next = if enrollment_follows {
        "A separate e-mail brings a link to set up a new authenticator app."
    } else {
        "Ask your administrator to register a new YubiKey for you."
    };
    notice(
        to,
        "Your two-factor authentication was reset",
        &[
            "The second factors of your Keyward login (apps, YubiKeys and recovery codes) were removed, and \
             you were logged out everywhere.",
            next,
            "If you did not ask for this, tell your administrator now.",
        ],
    )
}

/// To the account's admins, when support approved a request for one of their users.
pub(crate) fn disable_request_approved_admin(to: &Email, user: &Email, how: &str) -> Message {
    notice(
        to,
        &format!("Support reset the two-factor authentication of {user}"),
        &[
            &format!(
                "Following your account's policy, support approved the request of {user}: their second \
                 factors were removed and they must enroll again."
            ),
            &format!("How the policy was followed: {how}"),
        ],
    )
}

/// To the person whose factor it was (`user` themselves) or an admin of theirs, when a request was denied.
pub(crate) fn disable_request_denied(to: &Email, user: &Email, why: &str) -> Message {
    let subject = if to == user {
        "Your request to reset two-factor authentication was denied".to_owned()
    } else {
        format!("Support denied the request of {user}")
    };
    notice(
        to,
        &subject,
        &[
            &format!("Support denied the request to remove the second factor of {user}. The reason: {why}"),
            "The second factor is still asked at every login. Talk to your administrator if you still need \
             help.",
        ],
    )
}

/// To a user whose recovery codes were replaced.
pub(crate) fn recovery_codes_replaced(to: &Email) -> Message {
    notice(
        to,
        "New recovery codes for your Keyward login",
        &[
            "New recovery codes were made for your login; the old ones no longer work.",
            "If this was not you, tell your administrator now.",
        ],
    )
}

/// Before the grace deadline: the days left to set up a second factor.
pub(crate) fn enrollment_reminder(
    to: &Email,
    account: &str,
    days: u64,
    last_day: &str,
    link: Option<String>,
) -> Message {
    let subject = match days {
        1 => "Set up two-factor authentication today".to_owned(),
        n => format!("{n} days left to set up two-factor authentication"),
    };
    let when = format!(
        "{account} requires two-factor authentication. You can log in with your password alone until {last_day} \
         (UTC); after that, only with a second factor."
    );
    match link {
        Some(link) => with_link(
            to,
            &subject,
            &[
                &when,
                "Open the link below on your computer, with your phone and its authenticator app ready.",
            ],
            &link,
            "Set up two-factor authentication",
            "The link replaces any earlier one. If you did not expect this e-mail, tell your administrator.",
        ),
        None => notice(to, &subject, &[&when, "Ask your administrator to register your YubiKey."]),
    }
}

/// To the user who registered a security key or passkey (from the enrollment link or My security).
pub(crate) fn security_key_added(to: &Email, name: &str) -> Message {
    notice(
        to,
        "A security key was added to your Keyward login",
        &[
            &format!("The security key or passkey \"{name}\" can now be used as your second factor."),
            "If this was not you, tell your administrator now.",
        ],
    )
}

/// To the user whose security key signed with a counter that went backwards, and to the account's admins.
pub(crate) fn security_key_counter_regressed(to: &Email, user: &Email, name: &str) -> Message {
    notice(
        to,
        "A security key may have been copied",
        &[
            &format!(
                "A login of {user} with the security key \"{name}\" was refused: the key's signature counter \
                 went backwards, which happens when a copy of the key is used beside the original."
            ),
            "If the key was not reset on purpose, remove it on My security and register a new one, and tell \
             your administrator.",
        ],
    )
}
