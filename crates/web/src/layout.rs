//! What `templates/layout.html` needs from every page: the title, who is signed in (for the navigation
//! and the log-out form) and an optional notice.
//!
//! A page template extends the layout and carries it in a field named `layout`:
//!
//! ```text
//! #[derive(askama::Template, askama_web::WebTemplate)]
//! #[template(path = "users.html")] // {% extends "layout.html" %}{% block content %}…{% endblock %}
//! struct UsersPage { layout: Layout, users: Vec<UserRow> }
//! ```

/// The page chrome: everything `layout.html` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The page's own title; the layout appends " · Keyward".
    pub title: String,
    /// The signed-in person, or `None` on public pages (sign-up, login, enrollment, errors).
    pub user: Option<SignedIn>,
    /// A message shown above the content ("Changes saved.").
    pub notice: Option<Notice>,
    /// For a user in their account's grace period without a factor: the days left to enroll.
    pub grace_days_left: Option<u64>,
}

impl Layout {
    /// A page for someone not signed in: no navigation.
    pub fn public(title: impl Into<String>) -> Layout {
        Layout { title: title.into(), user: None, notice: None, grace_days_left: None }
    }

    /// A page for a signed-in person.
    pub fn signed_in(title: impl Into<String>, user: SignedIn) -> Layout {
        Layout { title: title.into(), user: Some(user), notice: None, grace_days_left: None }
    }

    /// The same layout with a notice above the content.
    pub fn with_notice(mut self, notice: Notice) -> Layout {
        self.notice = Some(notice);
        self
    }

    /// The stylesheet's content hash, appended to its URL so a new release is never served a stale,
    /// long-cached stylesheet.
    pub fn style_version(&self) -> String {
        crate::assets::STYLE_VERSION.to_string()
    }

    /// The security-key script's content hash, for its URL likewise.
    pub fn script_version(&self) -> String {
        crate::assets::WEBAUTHN_VERSION.to_string()
    }
}

/// The signed-in person as the layout shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// Their e-mail address (the username), shown beside "Log out".
    pub email: String,
    /// The CSRF token for the log-out form (`session::csrf_token` of the session token).
    pub csrf: String,
    /// The navigation groups, in order.
    pub nav: Vec<NavGroup>,
}

/// Where the "Users & Security" page lives; the navigation links to it.
pub const USERS_AND_SECURITY_PATH: &str = "/account/users";
/// Where an account's admins make and revoke API keys.
pub const API_CLIENTS_PATH: &str = "/account/api-clients";

/// Where every account member sees their own factors and recovery codes.
pub const MY_SECURITY_PATH: &str = "/account/security";
/// Where an account's admins read its audit log.
pub const AUDIT_LOG_PATH: &str = "/account/audit";
/// The support console's start page.
pub const SUPPORT_PATH: &str = "/support";

impl SignedIn {
    /// A user of a customer account. Admins get "Account" > "Users & Security", as the help article names
    /// them, the audit log and API clients; everyone gets "My security". `current_path` is the path of the
    /// page being shown, to mark its link with `aria-current`.
    pub fn account_member(
        email: impl Into<String>,
        csrf: String,
        current_path: &str,
        admin: bool,
    ) -> SignedIn {
        let mut links = Vec::new();
        if admin {
            links.push(NavLink::new("Users & Security", USERS_AND_SECURITY_PATH, current_path));
            links.push(NavLink::new("Audit log", AUDIT_LOG_PATH, current_path));
            links.push(NavLink::new("API clients", API_CLIENTS_PATH, current_path));
        }
        links.push(NavLink::new("My security", MY_SECURITY_PATH, current_path));
        let href = if admin { USERS_AND_SECURITY_PATH } else { MY_SECURITY_PATH };
        SignedIn { email: email.into(), csrf, nav: vec![NavGroup { label: "Account", href, links }] }
    }

    /// An operator: the support console only.
    pub fn operator(email: impl Into<String>, csrf: String, current_path: &str) -> SignedIn {
        SignedIn {
            email: email.into(),
            csrf,
            nav: vec![NavGroup {
                label: "Support",
                href: SUPPORT_PATH,
                links: vec![NavLink::new("Lost-device requests", SUPPORT_PATH, current_path)],
            }],
        }
    }
}

/// A labelled group of links ("Account").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavGroup {
    pub label: &'static str,
    /// Where the group's own label leads ("Account" opens "Users & Security").
    pub href: &'static str,
    pub links: Vec<NavLink>,
}

/// One navigation link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavLink {
    pub label: &'static str,
    pub href: &'static str,
    /// Whether this is the page being shown (rendered as `aria-current="page"`).
    pub current: bool,
}

impl NavLink {
    /// A link that is current when `current_path` is `href` or lies below it.
    pub fn new(label: &'static str, href: &'static str, current_path: &str) -> NavLink {
        let current =
            current_path == href || current_path.strip_prefix(href).is_some_and(|rest| rest.starts_with('/'));
        NavLink { label, href, current }
    }
}

/// A message above the page content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub text: String,
}

impl Notice {
    /// Something went well ("Changes saved.").
    pub fn success(text: impl Into<String>) -> Notice {
        Notice { kind: NoticeKind::Success, text: text.into() }
    }
    /// Something worth knowing ("An enrollment e-mail was sent to …").
    pub fn info(text: impl Into<String>) -> Notice {
        Notice { kind: NoticeKind::Info, text: text.into() }
    }
    /// Something the person must fix ("The one-time password is not valid.").
    pub fn error(text: impl Into<String>) -> Notice {
        Notice { kind: NoticeKind::Error, text: text.into() }
    }
}

/// How a notice looks and how assistive technology announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Success,
    Info,
    Error,
}

impl NoticeKind {
    /// The CSS classes of `static/style.css`.
    pub fn css_class(&self) -> &'static str {
        match self {
            NoticeKind::Success => "notice notice-success",
            NoticeKind::Info => "notice notice-info",
            NoticeKind::Error => "notice notice-error",
        }
    }

    /// Errors interrupt a screen reader (`alert`); the others wait their turn (`status`).
    pub fn aria_role(&self) -> &'static str {
        match self {
            NoticeKind::Error => "alert",
            NoticeKind::Success | NoticeKind::Info => "status",
        }
    }
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;

    #[derive(Template)]
    #[template(
        source = "{% extends \"layout.html\" %}{% block content %}<h1>{{ heading }}</h1>{% endblock %}",
        ext = "html"
    )]
    struct Page {
        layout: Layout,
        heading: String,
    }

    #[test]
    fn public_pages_have_no_navigation_and_escape_their_text() {
        let html =
            Page { layout: Layout::public("Log in <now>"), heading: "Log in & go".into() }.render().unwrap();
        assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">"), "{html}");
        assert!(html.contains("<title>Log in &#60;now&#62; · Keyward</title>"), "{html}");
        assert!(html.contains("<h1>Log in &#38; go</h1>"), "{html}");
        assert!(html.contains("<main id=\"main\""), "{html}");
        assert!(!html.contains("<nav"), "no navigation when nobody is signed in");
        assert!(!html.contains("Log out"));
        let stylesheets = html.matches("rel=\"stylesheet\"").count();
        assert_eq!(stylesheets, 1);
        assert!(html.contains(&format!("href=\"/static/style.css?v={}\"", crate::assets::STYLE_VERSION)));
        assert!(!html.contains("style="), "CSP forbids inline styles");
        assert!(!html.contains("<script"), "the UI works without JavaScript");
    }

    #[test]
    fn signed_in_pages_show_account_users_and_security_and_a_protected_logout() {
        let user = SignedIn::account_member("ada@example.com", "tok-123".into(), "/account/users/7", true);
        let layout =
            Layout::signed_in("Users & Security", user).with_notice(Notice::success("Changes saved."));
        let html = Page { layout, heading: "Users".into() }.render().unwrap();
        let account = html.find(">Account<").expect("the Account group");
        let users = html.find(">Users &#38; Security</a>").expect("the Users & Security link");
        assert!(account < users, "Account > Users & Security");
        assert!(html.contains("<a href=\"/account/users\" aria-current=\"page\">"), "{html}");
        assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"tok-123\">"), "{html}");
        assert!(html.contains("ada@example.com"));
        assert!(
            html.contains("<div class=\"notice notice-success\" role=\"status\">Changes saved.</div>"),
            "{html}"
        );
        assert!(!html.contains("style="));
    }

    #[test]
    fn each_role_sees_only_what_it_can_use() {
        let labels = |signed_in: SignedIn| -> Vec<&'static str> {
            signed_in.nav.iter().flat_map(|group| group.links.iter().map(|link| link.label)).collect()
        };
        let admin = SignedIn::account_member("a@example.com", String::new(), "/", true);
        assert_eq!(labels(admin), ["Users & Security", "Audit log", "API clients", "My security"]);
        let user = SignedIn::account_member("u@example.com", String::new(), "/", false);
        assert_eq!(user.nav[0].href, MY_SECURITY_PATH);
        assert_eq!(labels(user), ["My security"]);
        assert_eq!(
            labels(SignedIn::operator("o@example.com", String::new(), "/support")),
            ["Lost-device requests"]
        );
    }

    #[test]
    fn current_link_matching() {
        assert!(NavLink::new("U", "/account/users", "/account/users").current);
        assert!(NavLink::new("U", "/account/users", "/account/users/3/totp").current);
        assert!(!NavLink::new("U", "/account/users", "/account/usersettings").current);
        assert!(!NavLink::new("U", "/account/users", "/").current);
        assert_eq!(NoticeKind::Error.aria_role(), "alert");
    }
}
