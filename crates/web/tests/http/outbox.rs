//! Durable e-mail: a change and its message are committed together, the page answers without waiting
//! for a mail server, and a message the mail server never takes is retried, given up after about an hour,
//! and shown to the account's admins, who send the link again.

use axum::http::StatusCode;
use keyward_core::usecase::{MAIL_ATTEMPTS, deliver_mail};

use crate::app::spawn_app;
use crate::auth::{PASSWORD, log_in, sign_up};

const DAVE: &str = "dave@acme.example";

#[tokio::test]
async fn a_mail_server_that_fails_loses_nothing_and_what_it_never_takes_is_shown_to_the_admin() {
    let Some(app) = spawn_app("outbox").await else { return };
    let mut admin = sign_up(&app, "ACME", "boss@acme.example").await;
    app.pause_mail(true).await;
    let added = admin.submit("/account/users", "/account/users", &[("email", DAVE)]).await;
    assert_eq!(added.status, StatusCode::OK, "no mail server needed to answer: {}", added.body);
    assert!(added.contains(DAVE) && added.contains("no password yet"), "{}", added.body);
    let log = admin.get("/account/audit").await;
    assert!(log.contains("user.added"), "the change and its audit event: {}", log.body);
    assert!(app.links_to(DAVE).is_empty(), "nothing delivered while no worker runs");

    // A worker whose mail server refuses: tried again after 30 s, 1, 2, … minutes, then given up.
    let failing = app.services_with_mail_down();
    let mut passes = Vec::new();
    for _ in 0..MAIL_ATTEMPTS {
        let delivery = deliver_mail(&failing, 100).await.unwrap();
        passes.push((delivery.delivered, delivery.retried, delivery.given_up));
        app.advance(3600);
    }
    let mut expected = vec![(0, 1, 0); MAIL_ATTEMPTS as usize - 1];
    expected.push((0, 0, 1));
    assert_eq!(passes, expected);
    // Hours went by: the admin logs in again.
    log_in(&mut admin, "boss@acme.example", PASSWORD).await;
    let users = admin.get("/account/users").await;
    assert!(users.contains("These e-mails could not be delivered"), "{}", users.body);
    assert!(users.contains(&format!("To {DAVE}")), "{}", users.body);

    // The admin sends the link again; with a working mail server it arrives, once.
    app.pause_mail(false).await;
    let id = crate::story::user_id(&app, DAVE).await;
    let again = admin.submit("/account/users", "/account/users/password-link", &[("user_id", &id)]).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(app.links_to(DAVE).len(), 1, "the new link, and not the one given up on");
    app.deliver_mail().await;
    assert_eq!(app.links_to(DAVE).len(), 1, "delivered once");
    app.finish().await;
}
