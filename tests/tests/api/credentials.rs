//! Passwords and login emails: change, reset by token, email change by token, and the
//! outbox that carries the tokens.

use entity::{customer_token, outbox_message};
use sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait};
use serde_json::json;
use tests::webhook::Webhook;
use tests::{PASSWORD, TestApp, error_code};

const ME: &str = "{ me { email } }";
const CHANGE_PASSWORD: &str = "mutation($current: String!, $new: String!) {
    changePassword(currentPassword: $current, newPassword: $new) }";
const REQUEST_RESET: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const RESET: &str = "mutation($token: String!, $password: String!) {
    resetPassword(token: $token, newPassword: $password) }";
const REQUEST_EMAIL_CHANGE: &str = "mutation($email: String!, $password: String!) {
    requestEmailChange(newEmail: $email, password: $password) }";
const CONFIRM_EMAIL_CHANGE: &str = "mutation($token: String!) {
    confirmEmailChange(token: $token) { email } }";

async fn with_webhook(refuse_first: usize) -> (TestApp, Webhook) {
    let webhook = Webhook::start(refuse_first).await;
    let url = webhook.url.clone();
    let app = TestApp::spawn_with(|settings| settings.outbox_webhook_url = Some(url)).await;
    (app, webhook)
}

fn token_of(received: &tests::webhook::Received) -> String {
    received.body["payload"]["token"]
        .as_str()
        .expect("a token in the payload")
        .to_owned()
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session_and_tells_the_customer() {
    let (app, webhook) = with_webhook(0).await;
    let (current, _) = app.register("ada@example.com").await;
    let other = app.login("ada@example.com", PASSWORD).await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let wrong = app
        .gql(
            Some(&current),
            CHANGE_PASSWORD,
            json!({ "current": "not it at all", "new": "a new password" }),
        )
        .await;
    assert_eq!(error_code(&wrong), "INVALID_CREDENTIALS");
    let weak = app
        .gql(
            Some(&current),
            CHANGE_PASSWORD,
            json!({ "current": PASSWORD, "new": "short" }),
        )
        .await;
    assert_eq!(error_code(&weak), "BAD_USER_INPUT");
    assert_eq!(weak["errors"][0]["extensions"]["field"], "newPassword");

    app.data(
        Some(&current),
        CHANGE_PASSWORD,
        json!({ "current": PASSWORD, "new": "a new password" }),
    )
    .await;
    app.data(Some(&current), ME, json!({})).await;
    assert_eq!(
        app.error_code(Some(&other), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.login("ada@example.com", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    assert!(app.login("ada@example.com", "a new password").await["data"]["login"].is_object());
    // The customer hears of it, without any secret: if it was not them, they know.
    let notice = webhook
        .delivered(&app, "password_changed", "ada@example.com")
        .await;
    assert_eq!(notice.body["payload"], json!({}));
}

#[tokio::test]
async fn a_password_reset_token_arrives_by_webhook_and_works_once() {
    let (app, webhook) = with_webhook(0).await;
    let (old_session, _) = app.register("ada@example.com").await;

    let answer = app
        .data(None, REQUEST_RESET, json!({ "email": " ADA@example.com" }))
        .await;
    assert_eq!(answer["requestPasswordReset"], true);
    let message = webhook
        .delivered(&app, "password_reset", "ada@example.com")
        .await;
    let token = token_of(&message);
    assert!(token.starts_with("clr_"));
    assert!(message.body["payload"]["expiresAt"].is_string());
    assert_eq!(
        message.idempotency_key.as_deref(),
        message.body["id"].as_str()
    );

    let weak = app
        .gql(None, RESET, json!({ "token": token, "password": "short" }))
        .await;
    assert_eq!(weak["errors"][0]["extensions"]["field"], "newPassword");
    app.data(
        None,
        RESET,
        json!({ "token": token, "password": "brand new secret" }),
    )
    .await;
    // Every session ended; only the new password works.
    assert_eq!(
        app.error_code(Some(&old_session), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.login("ada@example.com", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    assert!(app.login("ada@example.com", "brand new secret").await["data"]["login"].is_object());
    let notice = webhook
        .delivered(&app, "password_changed", "ada@example.com")
        .await;
    assert_eq!(notice.body["payload"], json!({}));
    // Single use.
    let again = app
        .gql(
            None,
            RESET,
            json!({ "token": token, "password": "another new one" }),
        )
        .await;
    assert_eq!(error_code(&again), "INVALID_TOKEN");
    assert_eq!(again["errors"][0]["extensions"]["reason"], "used");
    assert_eq!(again["errors"][0]["extensions"]["field"], "token");
}

#[tokio::test]
async fn password_reset_requests_reveal_nothing_about_accounts() {
    let (app, webhook) = with_webhook(0).await;
    app.register("ada@example.com").await;
    app.customer(tests::CustomerSpec {
        email: "guest@example.com",
        ..Default::default()
    })
    .await;
    for email in [
        "nobody@example.com",
        "guest@example.com",
        "not an email",
        "ada@example.com",
    ] {
        let response = app
            .gql(None, REQUEST_RESET, json!({ "email": email }))
            .await;
        assert_eq!(
            response,
            json!({ "data": { "requestPasswordReset": true } }),
            "{email}"
        );
    }
    webhook
        .delivered(&app, "password_reset", "ada@example.com")
        .await;
    // Only the registered customer got a reset message.
    let recipients: Vec<_> = webhook
        .received()
        .iter()
        .filter(|r| r.body["kind"] == "password_reset")
        .map(|r| r.body["recipient"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recipients, ["ada@example.com"]);
}

#[tokio::test]
async fn expired_and_superseded_reset_tokens_do_not_work() {
    let (app, webhook) = with_webhook(0).await;
    app.register("ada@example.com").await;
    app.data(None, REQUEST_RESET, json!({ "email": "ada@example.com" }))
        .await;
    let first = token_of(
        &webhook
            .delivered(&app, "password_reset", "ada@example.com")
            .await,
    );
    app.data(None, REQUEST_RESET, json!({ "email": "ada@example.com" }))
        .await;
    app.deliver_outbox().await;
    let tokens: Vec<String> = webhook
        .received()
        .iter()
        .filter(|r| r.body["kind"] == "password_reset")
        .map(token_of)
        .collect();
    let second = tokens
        .into_iter()
        .find(|t| *t != first)
        .expect("a second token");
    // Asking again spends the earlier token.
    let superseded = app
        .gql(
            None,
            RESET,
            json!({ "token": first, "password": "brand new secret" }),
        )
        .await;
    assert_eq!(error_code(&superseded), "INVALID_TOKEN");
    assert_eq!(superseded["errors"][0]["extensions"]["reason"], "used");
    // Expire the latest one, a minute ago: within the day housekeeping keeps expired
    // tokens (so the server's start-up sweep, whenever it runs, leaves it alone).
    for token in customer_token::Entity::find().all(app.db()).await.unwrap() {
        customer_token::ActiveModel {
            id: ActiveValue::Unchanged(token.id),
            expires_at: ActiveValue::Set(api::db::now() - chrono::TimeDelta::minutes(1)),
            ..Default::default()
        }
        .update(app.db())
        .await
        .unwrap();
    }
    let expired = app
        .gql(
            None,
            RESET,
            json!({ "token": second, "password": "brand new secret" }),
        )
        .await;
    assert_eq!(error_code(&expired), "INVALID_TOKEN");
    assert_eq!(expired["errors"][0]["extensions"]["reason"], "expired");
    assert!(app.login("ada@example.com", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn changing_the_email_needs_the_password_and_a_token_sent_to_the_new_address() {
    let (app, webhook) = with_webhook(0).await;
    let (token, _) = app.register("ada@example.com").await;

    let wrong = app
        .gql(
            Some(&token),
            REQUEST_EMAIL_CHANGE,
            json!({ "email": "new@example.com", "password": "wrong password" }),
        )
        .await;
    assert_eq!(error_code(&wrong), "INVALID_CREDENTIALS");
    let invalid = app
        .gql(
            Some(&token),
            REQUEST_EMAIL_CHANGE,
            json!({ "email": "nope", "password": PASSWORD }),
        )
        .await;
    assert_eq!(invalid["errors"][0]["extensions"]["field"], "newEmail");

    app.data(
        Some(&token),
        REQUEST_EMAIL_CHANGE,
        json!({ "email": " New@Example.com", "password": PASSWORD }),
    )
    .await;
    let message = webhook
        .delivered(&app, "email_change_confirmation", "new@example.com")
        .await;
    let confirmation = token_of(&message);
    // Nothing changes until the token comes back.
    assert_eq!(
        app.data(Some(&token), ME, json!({})).await["me"]["email"],
        "ada@example.com"
    );

    let changed = app
        .data(None, CONFIRM_EMAIL_CHANGE, json!({ "token": confirmation }))
        .await;
    assert_eq!(changed["confirmEmailChange"]["email"], "new@example.com");
    // Confirmed from another device (no session): every session of the old login
    // ends, so whoever knew it is logged out.
    assert_eq!(
        app.error_code(Some(&token), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    let fresh = app.login("new@example.com", PASSWORD).await;
    let fresh = fresh["data"]["login"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.data(Some(&fresh), ME, json!({})).await["me"]["email"],
        "new@example.com"
    );
    // The old address is told where the account went, without any secret.
    let notice = webhook
        .delivered(&app, "email_changed", "ada@example.com")
        .await;
    assert_eq!(
        notice.body["payload"],
        json!({ "newEmail": "new@example.com" })
    );
    assert_eq!(
        error_code(&app.login("ada@example.com", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    let again = app
        .gql(None, CONFIRM_EMAIL_CHANGE, json!({ "token": confirmation }))
        .await;
    assert_eq!(error_code(&again), "INVALID_TOKEN");
    assert_eq!(again["errors"][0]["extensions"]["reason"], "used");
}

#[tokio::test]
async fn an_email_taken_meanwhile_cannot_be_confirmed() {
    let (app, webhook) = with_webhook(0).await;
    let (token, _) = app.register("ada@example.com").await;
    app.data(
        Some(&token),
        REQUEST_EMAIL_CHANGE,
        json!({ "email": "wanted@example.com", "password": PASSWORD }),
    )
    .await;
    let confirmation = token_of(
        &webhook
            .delivered(&app, "email_change_confirmation", "wanted@example.com")
            .await,
    );
    app.register("wanted@example.com").await;
    let taken = app
        .gql(None, CONFIRM_EMAIL_CHANGE, json!({ "token": confirmation }))
        .await;
    assert_eq!(error_code(&taken), "EMAIL_TAKEN");
    assert_eq!(
        app.data(Some(&token), ME, json!({})).await["me"]["email"],
        "ada@example.com"
    );
}

#[tokio::test]
async fn the_outbox_retries_until_the_webhook_accepts_and_then_forgets_the_secret() {
    // Refuses twice: delivered on the third attempt, after 1 s and 2 s of backoff.
    let (app, webhook) = with_webhook(2).await;
    // Written directly: registering would mail a verification link first.
    app.register_directly("ada@example.com").await;
    app.data(None, REQUEST_RESET, json!({ "email": "ada@example.com" }))
        .await;
    let message = webhook
        .delivered(&app, "password_reset", "ada@example.com")
        .await;
    assert_eq!(message.body["attempt"], 3);
    assert_eq!(webhook.calls(), 3);
    let token = token_of(&message);

    let stored = outbox_message::Entity::find()
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.delivered_at.is_some());
    assert_eq!(stored.attempts, 3);
    assert!(stored.last_error.is_none());
    assert!(!stored.payload.to_string().contains(&token));
    // The token still works: delivery is not use.
    app.data(
        None,
        RESET,
        json!({ "token": token, "password": "brand new secret" }),
    )
    .await;
    webhook
        .delivered(&app, "password_changed", "ada@example.com")
        .await;
}

#[tokio::test]
async fn no_token_ever_reaches_the_logs() {
    // The default sink writes messages to the log: without their secrets.
    let app = TestApp::spawn().await;
    let (session, _) = app.register("ada@example.com").await;
    app.data(None, REQUEST_RESET, json!({ "email": "ada@example.com" }))
        .await;
    app.data(
        Some(&session),
        REQUEST_EMAIL_CHANGE,
        json!({ "email": "new@example.com", "password": PASSWORD }),
    )
    .await;
    let order = app
        .data(
            None,
            "mutation { placeOrder(input: { email: \"ada@example.com\", currencyCode: \"EUR\",
                lineItems: [{ title: \"Tea\", quantity: 1, unitPrice: 100 }],
                shippingAddress: { countryCode: \"DE\" } }) { id } }",
            json!({}),
        )
        .await;
    app.data(
        Some(&session),
        "mutation($ids: [ID!]!) { requestOrderClaim(orderIds: $ids) { id } }",
        json!({ "ids": [order["placeOrder"]["id"]] }),
    )
    .await;
    app.data(
        Some(&session),
        "mutation($password: String!) { requestAccountDeletion(password: $password) }",
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(
        app.deliver_outbox().await,
        5,
        "the log sink takes all five: verification, reset, email change, claim, deletion"
    );
    let logs = tests::logs::captured();
    assert!(
        logs.contains("outbox message"),
        "the log sink wrote nothing"
    );
    for prefix in ["clt_", "clr_", "cle_", "clo_", "clv_", "cld_"] {
        assert!(!logs.contains(prefix), "a {prefix} token reached the logs");
    }
    assert!(!logs.contains(PASSWORD));
}
