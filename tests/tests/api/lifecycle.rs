//! The customer lifecycle beyond registration: accounts an admin disables and enables,
//! staff notes, email verification, and customers deleting their own account.

use serde_json::{Value, json};
use tests::webhook::Webhook;
use tests::{PASSWORD, TestApp, error_code};

const SET_ACTIVE: &str = "mutation($id: ID!, $active: Boolean!) {
    setCustomerActive(id: $id, active: $active) { id active disabledAt } }";
const TRAIL: &str = "query($id: ID!) { customer(id: $id, includeDeleted: true) {
    active disabledAt adminActions { nodes { action details } } } }";
const BY_STATE: &str = "query($active: Boolean) {
    customers(first: 10, filter: { active: $active, hasAccount: true }) { totalCount nodes { email } } }";

async fn actions(app: &TestApp, admin: &str, id: &str) -> Vec<Value> {
    app.data(Some(admin), TRAIL, json!({ "id": id })).await["customer"]["adminActions"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_disabled_customer_cannot_log_in_and_their_sessions_end() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (token, ada) = app.register("ada@example.com").await;
    app.register("bob@example.com").await;

    let disabled = app
        .data(
            Some(&admin),
            SET_ACTIVE,
            json!({ "id": ada, "active": false }),
        )
        .await;
    assert_eq!(disabled["setCustomerActive"]["active"], false);
    assert!(disabled["setCustomerActive"]["disabledAt"].is_string());

    // The session she had ends at once; logging in again is refused, and the refusal
    // says "disabled" only to someone who knows the password.
    let me = app.gql(Some(&token), "{ me { email } }", json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&app.login("ada@example.com", PASSWORD).await),
        "ACCOUNT_DISABLED"
    );
    assert_eq!(
        error_code(&app.login("ada@example.com", "not her password").await),
        "INVALID_CREDENTIALS"
    );

    // Admins still see the record, with its state, and filter by it.
    let trail = app.data(Some(&admin), TRAIL, json!({ "id": ada })).await;
    assert_eq!(trail["customer"]["active"], false);
    let inactive = app
        .data(Some(&admin), BY_STATE, json!({ "active": false }))
        .await;
    assert_eq!(
        inactive["customers"]["nodes"],
        json!([{ "email": "ada@example.com" }])
    );
    let active = app
        .data(Some(&admin), BY_STATE, json!({ "active": true }))
        .await;
    assert_eq!(
        active["customers"]["nodes"],
        json!([{ "email": "bob@example.com" }])
    );
    let everyone = app.data(Some(&admin), BY_STATE, json!({})).await;
    assert_eq!(everyone["customers"]["totalCount"], 2);

    // Disabling twice records once; enabling lets her log in again.
    app.data(
        Some(&admin),
        SET_ACTIVE,
        json!({ "id": ada, "active": false }),
    )
    .await;
    let enabled = app
        .data(
            Some(&admin),
            SET_ACTIVE,
            json!({ "id": ada, "active": true }),
        )
        .await;
    assert_eq!(
        enabled["setCustomerActive"],
        json!({ "id": ada, "active": true, "disabledAt": null })
    );
    assert!(app.login("ada@example.com", PASSWORD).await["data"]["login"]["token"].is_string());
    let recorded: Vec<Value> = actions(&app, &admin, &ada)
        .await
        .into_iter()
        .map(|action| action["action"].clone())
        .collect();
    assert_eq!(
        recorded,
        [json!("CUSTOMER_ENABLE"), json!("CUSTOMER_DISABLE")]
    );
    let disable = &actions(&app, &admin, &ada).await[1];
    assert_eq!(disable["details"], json!({ "sessionsEnded": 1 }));
}

#[tokio::test]
async fn only_admins_disable_and_only_live_customers() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ada_token, ada) = app.register("ada@example.com").await;
    let (_, bob) = app.register("bob@example.com").await;
    for (token, code) in [
        (None, "UNAUTHENTICATED"),
        (Some(ada_token.as_str()), "FORBIDDEN"),
    ] {
        let response = app
            .gql(token, SET_ACTIVE, json!({ "id": bob, "active": false }))
            .await;
        assert_eq!(error_code(&response), code);
    }
    app.data(
        Some(&admin),
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
        json!({ "id": bob }),
    )
    .await;
    for id in [bob, uuid::Uuid::now_v7().to_string()] {
        let response = app
            .gql(
                Some(&admin),
                SET_ACTIVE,
                json!({ "id": id, "active": false }),
            )
            .await;
        assert_eq!(error_code(&response), "NOT_FOUND");
    }
    // Nothing happened to Ada.
    let me = app
        .data(Some(&ada_token), "{ me { active } }", json!({}))
        .await;
    assert_eq!(me["me"]["active"], true);
    assert!(actions(&app, &admin, &ada).await.is_empty());
}

// ---- Staff notes ----

const ADD_NOTE: &str = "mutation($c: ID!, $body: String!) {
    addCustomerNote(customerId: $c, body: $body) { id body author { email } lastEditedBy { email } } }";
const NOTES: &str = "query($id: ID!) { customer(id: $id) {
    notes(first: 10) { nodes { id body author { email } lastEditedBy { email } } } } }";

#[tokio::test]
async fn admins_write_edit_and_delete_notes_and_the_trail_keeps_no_text() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ada_token, ada) = app.register("ada@example.com").await;
    let first = app
        .data(
            Some(&admin),
            ADD_NOTE,
            json!({ "c": ada, "body": "  Prefers phone calls\n\tafter 5pm  " }),
        )
        .await["addCustomerNote"]
        .clone();
    assert_eq!(first["body"], "Prefers phone calls\n\tafter 5pm");
    assert_eq!(first["author"]["email"], tests::ADMIN_EMAIL);
    assert!(first["lastEditedBy"].is_null());
    let second = app
        .data(
            Some(&admin),
            ADD_NOTE,
            json!({ "c": ada, "body": "Disputed order #1" }),
        )
        .await["addCustomerNote"]["id"]
        .clone();
    let edited = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { updateCustomerNote(id: $id, body: \"Prefers email\") {
                body lastEditedBy { email } updatedAt createdAt } }",
            json!({ "id": first["id"] }),
        )
        .await["updateCustomerNote"]
        .clone();
    assert_eq!(edited["body"], "Prefers email");
    assert_eq!(edited["lastEditedBy"]["email"], tests::ADMIN_EMAIL);

    let notes = app.data(Some(&admin), NOTES, json!({ "id": ada })).await;
    let listed = &notes["customer"]["notes"]["nodes"];
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["id"], second, "newest first");
    app.data(
        Some(&admin),
        "mutation($id: ID!) { deleteCustomerNote(id: $id) }",
        json!({ "id": second }),
    )
    .await;
    let notes = app.data(Some(&admin), NOTES, json!({ "id": ada })).await;
    assert_eq!(
        notes["customer"]["notes"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let trail = actions(&app, &admin, &ada).await;
    let kinds: Vec<&Value> = trail.iter().map(|a| &a["action"]).collect();
    assert_eq!(
        kinds,
        [
            &json!("NOTE_DELETE"),
            &json!("NOTE_EDIT"),
            &json!("NOTE_ADD"),
            &json!("NOTE_ADD")
        ]
    );
    let text = serde_json::to_string(&trail).unwrap();
    assert!(
        !text.contains("Prefers") && !text.contains("Disputed"),
        "{text}"
    );

    // Customers never see notes, not even their own.
    let mine = app
        .gql(
            Some(&ada_token),
            "{ me { notes { nodes { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&mine), "FORBIDDEN");
    let response = app
        .gql(
            Some(&ada_token),
            ADD_NOTE,
            json!({ "c": ada, "body": "I am great" }),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
}

#[tokio::test]
async fn note_bodies_are_checked_and_only_live_customers_get_notes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, ada) = app.register("ada@example.com").await;
    for body in ["   ".to_owned(), "x".repeat(5_001), "bell\u{7}".to_owned()] {
        let response = app
            .gql(Some(&admin), ADD_NOTE, json!({ "c": ada, "body": body }))
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT");
        assert_eq!(response["errors"][0]["extensions"]["field"], "body");
    }
    let missing = uuid::Uuid::now_v7().to_string();
    for (mutation, variables) in [
        (ADD_NOTE, json!({ "c": missing, "body": "hello" })),
        (
            "mutation($id: ID!) { updateCustomerNote(id: $id, body: \"x\") { id } }",
            json!({ "id": missing }),
        ),
        (
            "mutation($id: ID!) { deleteCustomerNote(id: $id) }",
            json!({ "id": missing }),
        ),
    ] {
        let response = app.gql(Some(&admin), mutation, variables).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{mutation}");
    }
    app.data(
        Some(&admin),
        ADD_NOTE,
        json!({ "c": ada, "body": "Kept after deletion" }),
    )
    .await;
    app.data(
        Some(&admin),
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
        json!({ "id": ada }),
    )
    .await;
    let response = app
        .gql(
            Some(&admin),
            ADD_NOTE,
            json!({ "c": ada, "body": "too late" }),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    let kept = app
        .data(
            Some(&admin),
            "query($id: ID!) { customer(id: $id, includeDeleted: true) { notes { nodes { body } } } }",
            json!({ "id": ada }),
        )
        .await;
    assert_eq!(
        kept["customer"]["notes"]["nodes"],
        json!([{ "body": "Kept after deletion" }])
    );
}

#[tokio::test]
async fn notes_on_a_page_of_customers_cost_the_same_for_any_page_size() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 40).await.unwrap();
    let admin = app.admin_token().await;
    let page = app
        .data(
            Some(&admin),
            "{ customers(first: 30) { nodes { id } } }",
            json!({}),
        )
        .await;
    for id in tests::node_ids(&page["customers"]) {
        for n in 0..2 {
            app.data(
                Some(&admin),
                ADD_NOTE,
                json!({ "c": id, "body": format!("note {n}") }),
            )
            .await;
        }
    }
    let query = "query($n: Int!) { customers(first: $n) { nodes { id
        notes(first: 5) { nodes { body author { email } } } } } }";
    let mut cost = Vec::new();
    for size in [3, 30] {
        let before = app.statements();
        let data = app.data(Some(&admin), query, json!({ "n": size })).await;
        cost.push(app.statements() - before);
        let nodes = data["customers"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), size);
        assert!(
            nodes
                .iter()
                .all(|c| c["notes"]["nodes"].as_array().unwrap().len() == 2)
        );
    }
    assert_eq!(
        cost[0], cost[1],
        "statements for 3 and 30 customers: {cost:?}"
    );
}

// ---- Email verification ----

const VERIFY: &str =
    "mutation($token: String!) { verifyEmail(token: $token) { email emailVerifiedAt } }";
const RESEND: &str = "mutation($email: String!) { resendVerification(email: $email) }";
const VERIFIED: &str = "{ me { emailVerifiedAt } }";

async fn with_webhook(configure: impl FnOnce(&mut api::config::Settings)) -> (TestApp, Webhook) {
    let webhook = Webhook::start(0).await;
    let url = webhook.url.clone();
    let app = TestApp::spawn_with(|s| {
        s.outbox_webhook_url = Some(url);
        configure(s);
    })
    .await;
    (app, webhook)
}

/// The token of the `n`-th (1-based) message of `kind` to `recipient`, once delivered.
async fn mailed(app: &TestApp, webhook: &Webhook, kind: &str, recipient: &str, n: usize) -> String {
    app.deliver_outbox().await;
    let messages: Vec<_> = webhook
        .received()
        .into_iter()
        .filter(|r| r.body["kind"] == kind && r.body["recipient"] == recipient)
        .collect();
    messages
        .get(n - 1)
        .unwrap_or_else(|| panic!("no {kind} message {n} for {recipient}"))
        .body["payload"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn mail_count(webhook: &Webhook, kind: &str) -> usize {
    webhook
        .received()
        .iter()
        .filter(|r| r.body["kind"] == kind)
        .count()
}

#[tokio::test]
async fn registration_mails_a_verification_link_that_verifies_once() {
    let (app, webhook) = with_webhook(|_| {}).await;
    let (session, _) = app.register("ada@example.com").await;
    assert!(app.data(Some(&session), VERIFIED, json!({})).await["me"]["emailVerifiedAt"].is_null());
    let token = mailed(&app, &webhook, "verify_email", "ada@example.com", 1).await;
    assert!(token.starts_with("clv_"));
    // With the setting off nothing is refused meanwhile.
    assert!(app.login("ada@example.com", PASSWORD).await["data"]["login"].is_object());
    let verified = app.data(None, VERIFY, json!({ "token": token })).await;
    assert_eq!(verified["verifyEmail"]["email"], "ada@example.com");
    assert!(verified["verifyEmail"]["emailVerifiedAt"].is_string());
    let again = app.gql(None, VERIFY, json!({ "token": token })).await;
    assert_eq!(error_code(&again), "INVALID_TOKEN");
    assert_eq!(again["errors"][0]["extensions"]["reason"], "used");
    // Verified customers get no new link.
    app.data(None, RESEND, json!({ "email": "ada@example.com" }))
        .await;
    app.deliver_outbox().await;
    assert_eq!(mail_count(&webhook, "verify_email"), 1);
}

#[tokio::test]
async fn with_verification_required_an_unverified_customer_cannot_log_in_or_claim() {
    let (app, webhook) = with_webhook(|s| s.require_email_verification = true).await;
    let guest_order = app
        .data(
            None,
            r#"mutation { placeOrder(input: { email: "sam@example.com", currencyCode: "EUR",
                lineItems: [{ title: "Tea", quantity: 1, unitPrice: 450 }],
                shippingAddress: { countryCode: "GB" } }) { id } }"#,
            json!({}),
        )
        .await["placeOrder"]["id"]
        .clone();
    let (session, _) = app.register("sam@example.com").await;
    assert_eq!(
        error_code(&app.login("sam@example.com", PASSWORD).await),
        "EMAIL_NOT_VERIFIED"
    );
    assert_eq!(
        error_code(&app.login("sam@example.com", "not the password").await),
        "INVALID_CREDENTIALS",
        "without the password, nothing is revealed"
    );
    let claim = "mutation($ids: [ID!]!) { requestOrderClaim(orderIds: $ids) { id } }";
    let refused = app
        .gql(Some(&session), claim, json!({ "ids": [guest_order] }))
        .await;
    assert_eq!(error_code(&refused), "EMAIL_NOT_VERIFIED");

    // A new link supersedes the first; the new one verifies.
    let first = mailed(&app, &webhook, "verify_email", "sam@example.com", 1).await;
    assert_eq!(
        app.data(None, RESEND, json!({ "email": "sam@example.com" }))
            .await["resendVerification"],
        true
    );
    let second = mailed(&app, &webhook, "verify_email", "sam@example.com", 2).await;
    let stale = app.gql(None, VERIFY, json!({ "token": first })).await;
    assert_eq!(error_code(&stale), "INVALID_TOKEN");
    app.data(None, VERIFY, json!({ "token": second })).await;
    assert!(app.login("sam@example.com", PASSWORD).await["data"]["login"].is_object());
    app.data(Some(&session), claim, json!({ "ids": [guest_order] }))
        .await;
    app.allow_undelivered(); // the claim mail
}

#[tokio::test]
async fn resending_reveals_nothing_and_is_limited_per_recipient() {
    let (app, webhook) = with_webhook(|s| s.mails_per_recipient = 1).await;
    app.register("ada@example.com").await;
    app.data(
        None,
        r#"mutation { placeOrder(input: { email: "guest@example.com", currencyCode: "EUR",
            lineItems: [{ title: "Tea", quantity: 1, unitPrice: 450 }],
            shippingAddress: { countryCode: "GB" } }) { id } }"#,
        json!({}),
    )
    .await;
    for email in [
        "ada@example.com",
        "ada@example.com",
        "guest@example.com",
        "nobody@example.com",
        "not an email",
    ] {
        let answer = app.gql(None, RESEND, json!({ "email": email })).await;
        assert_eq!(
            answer,
            json!({ "data": { "resendVerification": true } }),
            "{email}"
        );
    }
    app.deliver_outbox().await;
    // The registration's link and one resend (the second is past the limit); nothing
    // to the guest or the unknown address.
    let recipients: Vec<Value> = webhook
        .received()
        .iter()
        .filter(|r| r.body["kind"] == "verify_email")
        .map(|r| r.body["recipient"].clone())
        .collect();
    assert_eq!(
        recipients,
        [json!("ada@example.com"), json!("ada@example.com")]
    );
}

#[tokio::test]
async fn a_confirmed_email_change_verifies_and_an_old_link_verifies_nothing() {
    let (app, webhook) = with_webhook(|_| {}).await;
    let (session, ada) = app.register("ada@example.com").await;
    let old_link = mailed(&app, &webhook, "verify_email", "ada@example.com", 1).await;
    app.data(
        Some(&session),
        "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }",
        json!({ "e": "new@example.com", "p": PASSWORD }),
    )
    .await;
    let change = mailed(
        &app,
        &webhook,
        "email_change_confirmation",
        "new@example.com",
        1,
    )
    .await;
    let confirmed = app
        .data(
            None,
            "mutation($t: String!) { confirmEmailChange(token: $t) { email emailVerifiedAt } }",
            json!({ "t": change }),
        )
        .await;
    assert!(confirmed["confirmEmailChange"]["emailVerifiedAt"].is_string());
    // The link mailed to the old address is for an address she no longer uses.
    let stale = app.gql(None, VERIFY, json!({ "token": old_link })).await;
    assert_eq!(error_code(&stale), "INVALID_TOKEN");
    // An address an admin types in is not verified.
    let admin = app.admin_token().await;
    let updated = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { updateCustomer(id: $id, input: { email: \"typed@example.com\" }) { emailVerifiedAt } }",
            json!({ "id": ada }),
        )
        .await;
    assert!(updated["updateCustomer"]["emailVerifiedAt"].is_null());
    app.allow_undelivered(); // the email_changed notice to the old address
}

// ---- Self-service deletion ----

const REQUEST_DELETION: &str = "mutation($p: String!) { requestAccountDeletion(password: $p) }";
const CONFIRM_DELETION: &str = "mutation($t: String!) { confirmAccountDeletion(token: $t) }";

#[tokio::test]
async fn a_customer_deletes_their_own_account_with_password_and_mailed_token() {
    let (app, webhook) = with_webhook(|_| {}).await;
    let admin = app.admin_token().await;
    let (session, ada) = app.register("ada@example.com").await;
    let order = app
        .data(
            Some(&session),
            r#"mutation { placeOrder(input: { currencyCode: "EUR",
                lineItems: [{ title: "Tea", quantity: 1, unitPrice: 450 }],
                shippingAddress: { countryCode: "GB" } }) { id } }"#,
            json!({}),
        )
        .await["placeOrder"]["id"]
        .clone();

    // A session alone is not enough: the password, then the mailed token.
    let wrong = app
        .gql(
            Some(&session),
            REQUEST_DELETION,
            json!({ "p": "not my password" }),
        )
        .await;
    assert_eq!(error_code(&wrong), "INVALID_CREDENTIALS");
    app.data(Some(&session), REQUEST_DELETION, json!({ "p": PASSWORD }))
        .await;
    let token = mailed(
        &app,
        &webhook,
        "account_deletion_confirmation",
        "ada@example.com",
        1,
    )
    .await;
    assert!(token.starts_with("cld_"));
    // Nothing changed yet.
    app.data(Some(&session), "{ me { id } }", json!({})).await;

    assert_eq!(
        app.data(None, CONFIRM_DELETION, json!({ "t": token }))
            .await["confirmAccountDeletion"],
        true
    );
    // As the admin delete: sessions end, login fails, the email is free, orders stay.
    let me = app.gql(Some(&session), "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&app.login("ada@example.com", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    let kept = app
        .data(
            Some(&admin),
            "query($id: ID!, $o: ID!) { customer(id: $id, includeDeleted: true) { deletedAt }
                order(id: $o) { customer { id } } }",
            json!({ "id": ada, "o": order }),
        )
        .await;
    assert!(kept["customer"]["deletedAt"].is_string());
    assert_eq!(kept["order"]["customer"]["id"], ada);
    app.deliver_outbox().await;
    assert_eq!(mail_count(&webhook, "account_deleted"), 1);
    app.register("ada@example.com").await;
    let again = app.gql(None, CONFIRM_DELETION, json!({ "t": token })).await;
    assert_eq!(error_code(&again), "INVALID_TOKEN");
    // The trail of admin actions has none: the customer did it.
    assert!(actions(&app, &admin, &ada).await.is_empty());
}

#[tokio::test]
async fn a_deletion_token_does_nothing_else_and_nothing_for_anyone_else() {
    let (app, webhook) = with_webhook(|_| {}).await;
    let (session, _) = app.register("ada@example.com").await;
    app.data(Some(&session), REQUEST_DELETION, json!({ "p": PASSWORD }))
        .await;
    let token = mailed(
        &app,
        &webhook,
        "account_deletion_confirmation",
        "ada@example.com",
        1,
    )
    .await;
    // Not a password-reset token, nor a verification one.
    let reset = app
        .gql(
            None,
            "mutation($t: String!) { resetPassword(token: $t, newPassword: \"a brand new one\") }",
            json!({ "t": token }),
        )
        .await;
    assert_eq!(error_code(&reset), "INVALID_TOKEN");
    let verify = app.gql(None, VERIFY, json!({ "token": token })).await;
    assert_eq!(error_code(&verify), "INVALID_TOKEN");
    // Anonymous callers cannot ask.
    let anonymous = app
        .gql(None, REQUEST_DELETION, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    // Two deletions in one request are refused before anything runs.
    let twice = app
        .gql(
            None,
            "mutation($t: String!) { a: confirmAccountDeletion(token: $t) b: confirmAccountDeletion(token: $t) }",
            json!({ "t": token }),
        )
        .await;
    assert_eq!(error_code(&twice), "INVALID_QUERY");
    app.data(Some(&session), "{ me { id } }", json!({})).await;
}

// ---- Numbers admins sort by ----

const NUMBERS: &str = "query($id: ID!) { customer(id: $id, includeDeleted: true) {
    orderCount lastOrderAt amountSpent { amount currencyCode }
    orders(first: 100) { totalCount nodes { createdAt status total { amount currencyCode } } } } }";

fn order_input(email: Option<&str>, currency: &str, unit_price: i64) -> Value {
    json!({
        "email": email,
        "currencyCode": currency,
        "lineItems": [{ "title": "Tea", "quantity": 1, "unitPrice": unit_price }],
        "shippingAddress": { "countryCode": "GB" },
    })
}

async fn place(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.data(
        token,
        "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id createdAt } }",
        json!({ "input": input }),
    )
    .await["placeOrder"]
        .clone()
}

/// The stored numbers of a customer agree with their orders, counted the slow way.
async fn assert_numbers_exact(app: &TestApp, admin: &str, id: &Value) -> Value {
    let data = app.data(Some(admin), NUMBERS, json!({ "id": id })).await;
    let customer = &data["customer"];
    let orders = customer["orders"]["nodes"].as_array().unwrap();
    assert_eq!(
        customer["orderCount"], customer["orders"]["totalCount"],
        "{customer}"
    );
    let newest = orders
        .iter()
        .map(|o| o["createdAt"].as_str().unwrap())
        .max();
    assert_eq!(customer["lastOrderAt"].as_str(), newest, "{customer}");
    let mut spent: std::collections::BTreeMap<String, i64> = Default::default();
    for order in orders.iter().filter(|o| o["status"] != "CANCELED") {
        *spent
            .entry(order["total"]["currencyCode"].as_str().unwrap().to_owned())
            .or_default() += order["total"]["amount"].as_i64().unwrap();
    }
    let stored: std::collections::BTreeMap<String, i64> = customer["amountSpent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["currencyCode"].as_str().unwrap().to_owned(),
                m["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored, spent, "{customer}");
    customer.clone()
}

#[tokio::test]
async fn order_numbers_follow_orders_claims_and_transfers() {
    let (app, webhook) = with_webhook(|_| {}).await;
    let admin = app.admin_token().await;
    place(&app, None, order_input(Some("sam@example.com"), "EUR", 450)).await;
    let guest_order = place(&app, None, order_input(Some("sam@example.com"), "GBP", 700)).await;
    let owner = app
        .data(
            Some(&admin),
            "query($id: ID!) { order(id: $id) { customer { id } } }",
            json!({ "id": guest_order["id"] }),
        )
        .await["order"]["customer"]["id"]
        .clone();
    let guest = assert_numbers_exact(&app, &admin, &owner).await;
    assert_eq!(guest["orderCount"], 2);
    assert_eq!(
        guest["amountSpent"],
        json!([{ "amount": 450, "currencyCode": "EUR" }, { "amount": 700, "currencyCode": "GBP" }])
    );

    // Sam registers and claims the GBP order: it moves, with its numbers.
    let (sam, sam_id) = app.register("sam@example.com").await;
    let sam_id = json!(sam_id);
    assert_eq!(
        assert_numbers_exact(&app, &admin, &sam_id).await["orderCount"],
        0
    );
    app.data(
        Some(&sam),
        "mutation($ids: [ID!]!) { requestOrderClaim(orderIds: $ids) { id } }",
        json!({ "ids": [guest_order["id"]] }),
    )
    .await;
    let token = mailed(&app, &webhook, "order_claim", "sam@example.com", 1).await;
    app.data(
        Some(&sam),
        "mutation($t: String!) { confirmOrderClaim(token: $t) { id } }",
        json!({ "t": token }),
    )
    .await;
    let claimed = assert_numbers_exact(&app, &admin, &sam_id).await;
    assert_eq!(claimed["orderCount"], 1);
    assert_eq!(claimed["lastOrderAt"], guest_order["createdAt"]);
    let left = assert_numbers_exact(&app, &admin, &owner).await;
    assert_eq!(left["orderCount"], 1);
    assert_eq!(
        left["amountSpent"],
        json!([{ "amount": 450, "currencyCode": "EUR" }])
    );

    // An admin moves it back: both sides follow.
    app.data(
        Some(&admin),
        "mutation($o: ID!, $c: ID!) { transferOrder(orderId: $o, customerId: $c) { id } }",
        json!({ "o": guest_order["id"], "c": owner }),
    )
    .await;
    assert_eq!(
        assert_numbers_exact(&app, &admin, &sam_id).await["orderCount"],
        0
    );
    assert!(assert_numbers_exact(&app, &admin, &sam_id).await["lastOrderAt"].is_null());
    assert_eq!(
        assert_numbers_exact(&app, &admin, &owner).await["orderCount"],
        2
    );
}

#[tokio::test]
async fn order_numbers_stay_exact_under_concurrent_orders_and_transfers() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ada, ada_id) = app.register("ada@example.com").await;
    let (_, bob_id) = app.register("bob@example.com").await;
    let seed: Vec<Value> = {
        let mut placed = Vec::new();
        for _ in 0..10 {
            placed.push(place(&app, Some(&ada), order_input(None, "EUR", 100)).await);
        }
        placed
    };
    // At once: Ada orders 20 more, 20 guest orders arrive for one email, and an admin
    // moves Ada's first 10 orders to Bob.
    let mut work = Vec::new();
    for _ in 0..20 {
        let app = &app;
        let ada = ada.clone();
        work.push(Box::pin(async move {
            place(app, Some(&ada), order_input(None, "EUR", 100)).await;
        })
            as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
        work.push(Box::pin(async move {
            place(
                app,
                None,
                order_input(Some("guest@example.com"), "USD", 250),
            )
            .await;
        }));
    }
    for order in &seed {
        let app = &app;
        let admin = admin.clone();
        let bob_id = bob_id.clone();
        let order_id = order["id"].clone();
        work.push(Box::pin(async move {
            app.data(
                Some(&admin),
                "mutation($o: ID!, $c: ID!) { transferOrder(orderId: $o, customerId: $c) { id } }",
                json!({ "o": order_id, "c": bob_id }),
            )
            .await;
        }));
    }
    tests::join_all(work).await;
    let ada_numbers = assert_numbers_exact(&app, &admin, &json!(ada_id)).await;
    assert_eq!(ada_numbers["orderCount"], 20);
    let bob_numbers = assert_numbers_exact(&app, &admin, &json!(bob_id)).await;
    assert_eq!(
        bob_numbers["amountSpent"],
        json!([{ "amount": 1000, "currencyCode": "EUR" }])
    );
    let guests = app
        .data(
            Some(&admin),
            "{ customers(first: 5, filter: { hasAccount: false }) { nodes { id orderCount } } }",
            json!({}),
        )
        .await;
    let guest = &guests["customers"]["nodes"][0];
    assert_eq!(guest["orderCount"], 20);
    assert_numbers_exact(&app, &admin, &guest["id"]).await;
}

#[tokio::test]
async fn customers_filter_and_sort_by_their_order_numbers_with_working_cursors() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    // Five customers with 0, 1, 2, 3 and 1 orders.
    for (n, orders) in [0, 1, 2, 3, 1].into_iter().enumerate() {
        let email = format!("c{n}@example.com");
        let (token, id) = app.register(&email).await;
        for _ in 0..orders {
            place(&app, Some(&token), order_input(None, "EUR", 100)).await;
        }
        ids.push((id, orders));
    }
    let query = "query($filter: CustomerFilterInput, $sort: CustomerSort, $after: String) {
        customers(first: 2, after: $after, filter: $filter, sort: $sort) {
            pageInfo { hasNextPage endCursor } nodes { email orderCount lastOrderAt } } }";
    // Walk every page of the order-count sort, descending; ties by id.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .data(
                Some(&admin),
                query,
                json!({ "sort": { "field": "ORDER_COUNT", "direction": "DESC" }, "after": after }),
            )
            .await;
        let page = &data["customers"];
        for node in page["nodes"].as_array().unwrap() {
            seen.push(node["orderCount"].as_i64().unwrap());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, [3, 2, 1, 1, 0]);
    // Ascending by last order: the customer who never ordered first.
    let data = app
        .data(
            Some(&admin),
            query,
            json!({ "sort": { "field": "LAST_ORDER_AT", "direction": "ASC" } }),
        )
        .await;
    assert!(data["customers"]["nodes"][0]["lastOrderAt"].is_null());
    assert_eq!(data["customers"]["nodes"][0]["email"], "c0@example.com");

    // Filters: a count range, and a last-order range.
    let count = |filter: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.data(
                Some(&admin),
                "query($filter: CustomerFilterInput) { customers(first: 10, filter: $filter) { totalCount } }",
                json!({ "filter": filter }),
            )
            .await["customers"]["totalCount"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(count(json!({ "orderCountMin": 1 })).await, 4);
    assert_eq!(
        count(json!({ "orderCountMin": 1, "orderCountMax": 2 })).await,
        3
    );
    assert_eq!(count(json!({ "orderCountMax": 0 })).await, 1);
    let past = "2000-01-01T00:00:00Z";
    assert_eq!(count(json!({ "lastOrderAfter": past })).await, 4);
    assert_eq!(count(json!({ "lastOrderBefore": past })).await, 0);
}

#[tokio::test]
async fn order_numbers_on_a_page_cost_the_same_for_any_page_size() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 60).await.unwrap();
    let admin = app.admin_token().await;
    let query =
        "query($n: Int!) { customers(first: $n, sort: { field: ORDER_COUNT, direction: DESC }) {
        nodes { orderCount lastOrderAt amountSpent { amount currencyCode } } } }";
    let mut cost = Vec::new();
    for size in [3, 50] {
        let before = app.statements();
        let data = app.data(Some(&admin), query, json!({ "n": size })).await;
        cost.push(app.statements() - before);
        let nodes = data["customers"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), size);
        assert!(
            nodes[0]["orderCount"].as_i64().unwrap() > 0,
            "the seed's numbers are set"
        );
    }
    assert_eq!(
        cost[0], cost[1],
        "statements for 3 and 50 customers: {cost:?}"
    );
}

// ---- The timeline ----

const TIMELINE: &str = "query($id: ID!) { customer(id: $id, includeDeleted: true) {
    events(first: 50) { nodes { kind actor admin { email } details createdAt } } } }";
const MY_TIMELINE: &str =
    "{ me { events(first: 50) { nodes { kind actor admin { email } details } } } }";

fn kinds(events: &Value) -> Vec<String> {
    events["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_timeline_has_every_change_whoever_made_it() {
    let (app, webhook) = with_webhook(|_| {}).await;
    let admin = app.admin_token().await;
    let (ada, ada_id) = app.register("ada@example.com").await;
    let link = mailed(&app, &webhook, "verify_email", "ada@example.com", 1).await;
    app.data(None, VERIFY, json!({ "token": link })).await;
    app.data(
        Some(&ada),
        "mutation { updateMe(firstName: \"Ada\", phone: \"+44 1\") { id } }",
        json!({}),
    )
    .await;
    let add = "mutation($input: AddressInput!) { addShippingAddress(input: $input, useAsBilling: true) { id } }";
    let home = app
        .data(
            Some(&ada),
            add,
            json!({ "input": { "city": "London", "countryCode": "GB" } }),
        )
        .await["addShippingAddress"]["id"]
        .clone();
    let work = app
        .data(
            Some(&ada),
            add,
            json!({ "input": { "city": "Paris", "countryCode": "FR" } }),
        )
        .await["addShippingAddress"]["id"]
        .clone();
    app.data(
        Some(&ada),
        "mutation($id: ID!) { setDefaultShippingAddress(id: $id) { id } }",
        json!({ "id": home }),
    )
    .await;
    app.data(
        Some(&ada),
        "mutation($id: ID!) { updateAddress(id: $id, input: { city: \"Lyon\" }) { id } }",
        json!({ "id": work }),
    )
    .await;
    app.data(
        Some(&ada),
        "mutation($id: ID!) { deleteAddress(id: $id) }",
        json!({ "id": work }),
    )
    .await;
    app.data(
        Some(&ada),
        "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
        json!({ "c": PASSWORD, "n": "another fine password" }),
    )
    .await;
    place(&app, Some(&ada), order_input(None, "EUR", 450)).await;
    app.data(
        Some(&admin),
        ADD_NOTE,
        json!({ "c": ada_id, "body": "VIP" }),
    )
    .await;
    let group = app
        .data(
            Some(&admin),
            "mutation { createCustomerGroup(name: \"VIP\") { id } }",
            json!({}),
        )
        .await["createCustomerGroup"]["id"]
        .clone();
    app.data(
        Some(&admin),
        "mutation($g: ID!, $c: [ID!]!) { addCustomersToGroup(groupId: $g, customerIds: $c) { id } }",
        json!({ "g": group, "c": [ada_id] }),
    )
    .await;

    let staff = app
        .data(Some(&admin), TIMELINE, json!({ "id": ada_id }))
        .await;
    let events = &staff["customer"]["events"];
    assert_eq!(
        kinds(events),
        [
            "GROUP_ADD_CUSTOMER",
            "NOTE_ADD",
            "ORDER_PLACE",
            "PASSWORD_CHANGE",
            "ADDRESS_DELETE",
            "ADDRESS_UPDATE",
            "SHIPPING_ADDRESS_SET",
            "BILLING_ADDRESS_SET",
            "ADDRESS_ADD",
            "BILLING_ADDRESS_SET",
            "ADDRESS_ADD",
            "PROFILE_CHANGE",
            "EMAIL_VERIFIED",
            "REGISTERED",
        ]
    );
    let nodes = events["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["actor"], "ADMIN");
    assert_eq!(nodes[0]["admin"]["email"], tests::ADMIN_EMAIL);
    assert_eq!(nodes[2]["actor"], "CUSTOMER");
    assert!(nodes[2]["admin"].is_null());
    assert_eq!(
        nodes[11]["details"],
        json!({ "fields": ["firstName", "phone"] })
    );
    // The admins' part of it is the audit trail, not a second copy of it.
    let trail: Vec<String> = actions(&app, &admin, &ada_id)
        .await
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(trail, ["GROUP_ADD_CUSTOMER", "NOTE_ADD"]);

    // Ada's own view: no staff notes, no staff identities or details.
    let mine = app.data(Some(&ada), MY_TIMELINE, json!({})).await;
    let mine_kinds = kinds(&mine["me"]["events"]);
    assert!(
        !mine_kinds.contains(&"NOTE_ADD".to_owned()),
        "{mine_kinds:?}"
    );
    assert_eq!(mine_kinds.len(), 13);
    let joined = &mine["me"]["events"]["nodes"][0];
    assert_eq!(joined["kind"], "GROUP_ADD_CUSTOMER");
    assert_eq!(joined["actor"], "ADMIN");
    assert!(joined["admin"].is_null() && joined["details"].is_null());
    // Another customer sees only their own.
    let (bob, _) = app.register("bob@example.com").await;
    let bobs = app.data(Some(&bob), MY_TIMELINE, json!({})).await;
    assert_eq!(kinds(&bobs["me"]["events"]), ["REGISTERED"]);
    app.allow_undelivered(); // the password-changed notice
}

#[tokio::test]
async fn orders_that_move_show_on_both_timelines() {
    let (app, webhook) = with_webhook(|_| {}).await;
    let admin = app.admin_token().await;
    let guest_order = place(&app, None, order_input(Some("sam@example.com"), "EUR", 450)).await;
    let guest = app
        .data(
            Some(&admin),
            "query($id: ID!) { order(id: $id) { customer { id } } }",
            json!({ "id": guest_order["id"] }),
        )
        .await["order"]["customer"]["id"]
        .clone();
    let (sam, sam_id) = app.register("sam@example.com").await;
    app.data(
        Some(&sam),
        "mutation($ids: [ID!]!) { requestOrderClaim(orderIds: $ids) { id } }",
        json!({ "ids": [guest_order["id"]] }),
    )
    .await;
    let token = mailed(&app, &webhook, "order_claim", "sam@example.com", 1).await;
    app.data(
        Some(&sam),
        "mutation($t: String!) { confirmOrderClaim(token: $t) { id } }",
        json!({ "t": token }),
    )
    .await;
    let (_, bob_id) = app.register("bob@example.com").await;
    app.data(
        Some(&admin),
        "mutation($o: ID!, $c: ID!) { transferOrder(orderId: $o, customerId: $c) { id } }",
        json!({ "o": guest_order["id"], "c": bob_id }),
    )
    .await;
    let timeline = |id: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.data(Some(&admin), TIMELINE, json!({ "id": id })).await["customer"]["events"]
                .clone()
        }
    };
    let guest_events = timeline(guest.clone()).await;
    assert_eq!(kinds(&guest_events), ["ORDER_CLAIM", "ORDER_PLACE"]);
    assert_eq!(guest_events["nodes"][1]["actor"], "GUEST");
    assert_eq!(guest_events["nodes"][0]["details"]["toCustomerId"], sam_id);
    assert_eq!(
        kinds(&timeline(json!(sam_id)).await),
        ["ORDER_TRANSFER", "ORDER_CLAIM", "REGISTERED"]
    );
    assert_eq!(
        kinds(&timeline(json!(bob_id)).await),
        ["ORDER_TRANSFER", "REGISTERED"]
    );
}
