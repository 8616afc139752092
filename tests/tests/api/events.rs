//! Events out: every change a merchant system may subscribe to reaches the webhook
//! endpoints that want its type, signed, once per event (retries keep its id), and
//! only once the change committed.

use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sha2::Sha256;
use tests::TestApp;
use tests::webhook::{Received, Webhook};

use crate::claims::{CONFIRM, REQUEST, nth_claim, token};
use crate::orders::{order_input, place};

const EVERYTHING_SECRET: &str = "a secret of the crm, 32 chars...";
const ORDERS_SECRET: &str = "the warehouse's secret, also long";

/// A server whose mail goes to `mail` and whose events go to two endpoints: `crm`
/// wants every type, `warehouse` the order types only.
async fn with_endpoints(mail: &Webhook, crm: &Webhook, warehouse: &Webhook) -> TestApp {
    let endpoints = json!([
        { "name": "crm", "url": crm.url, "events": ["*"], "secret": EVERYTHING_SECRET },
        { "name": "warehouse", "url": warehouse.url, "events": ["order.*"],
          "secret": ORDERS_SECRET },
    ])
    .to_string();
    let mail_url = mail.url.clone();
    TestApp::spawn_with(|settings| {
        settings.outbox_webhook_url = Some(mail_url);
        settings.webhook_endpoints = Some(endpoints);
    })
    .await
}

/// Checks a delivery as a receiver would: the signature over `<timestamp>.<body>`,
/// a fresh timestamp, and the event id in the idempotency header.
fn verify(delivery: &Received, secret: &str) {
    let timestamp = delivery.header("clientele-timestamp").expect("timestamp");
    let signature = delivery.header("clientele-signature").expect("signature");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", delivery.raw).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        signature,
        format!("v1={expected}"),
        "signature of {}",
        delivery.raw
    );
    let sent_at: i64 = timestamp.parse().unwrap();
    assert!((api::db::now().timestamp() - sent_at).abs() < 300);
    let id = delivery.body["id"].as_str().unwrap();
    assert_eq!(delivery.idempotency_key.as_deref(), Some(id));
    assert_eq!(delivery.header("clientele-event-id"), Some(id));
    assert_eq!(delivery.header("content-type"), Some("application/json"));
}

fn types(deliveries: &[Received]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| d.body["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_change_reaches_the_endpoints_that_want_it_signed() {
    let (mail, crm, warehouse) = (
        Webhook::start(0).await,
        Webhook::start(0).await,
        Webhook::start(0).await,
    );
    let app = with_endpoints(&mail, &crm, &warehouse).await;
    let admin = app.admin_token().await;

    // A guest orders, registers, edits their profile and book, and claims the order.
    let order = place(&app, None, order_input(Some("pat@example.com"))).await;
    let guest = app.owner_of(&order["id"]).await["id"].clone();
    let (pat, pat_id) = app.register("pat@example.com").await;
    app.data(
        Some(&pat),
        "mutation { updateMe(firstName: \"Pat\") { id } }",
        json!({}),
    )
    .await;
    app.data(
        Some(&pat),
        "mutation { addShippingAddress(input: { countryCode: \"FR\", city: \"Lyon\" }) { id } }",
        json!({}),
    )
    .await;
    app.data(Some(&pat), REQUEST, json!({ "ids": [order["id"]] }))
        .await;
    let claim = token(&nth_claim(&app, &mail, "pat@example.com", 1).await);
    app.data(Some(&pat), CONFIRM, json!({ "token": claim }))
        .await;
    // An admin moves the order back, groups Pat, deletes, restores and erases them.
    app.data(
        Some(&admin),
        "mutation($o: ID!, $c: ID!) { transferOrder(orderId: $o, customerId: $c) { id } }",
        json!({ "o": order["id"], "c": guest }),
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
        "mutation($g: ID!, $c: ID!) { addCustomersToGroup(groupId: $g, customerIds: [$c]) { id } }",
        json!({ "g": group, "c": pat_id }),
    )
    .await;
    for mutation in ["deleteCustomer", "restoreCustomer", "eraseCustomer"] {
        app.data(
            Some(&admin),
            &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id }} }}"),
            json!({ "id": pat_id }),
        )
        .await;
    }
    app.deliver_outbox().await;

    let everything = crm.received();
    assert_eq!(
        types(&everything),
        [
            "customer.created", // the guest record
            "order.placed",
            "customer.created", // Pat's account
            "customer.updated", // the profile
            "customer.updated", // the address book
            "order.claimed",
            "order.transferred",
            "group.membership_changed",
            "customer.deleted",
            "customer.restored",
            "customer.erased",
        ]
    );
    for delivery in &everything {
        verify(delivery, EVERYTHING_SECRET);
        assert!(delivery.body["occurredAt"].is_string());
    }
    // Thin events: ids, never the email or the address.
    assert!(!everything.iter().any(|d| d.raw.contains("pat@example.com")));
    assert!(!everything.iter().any(|d| d.raw.contains("Lyon")));
    assert_eq!(everything[0].body["data"], json!({ "customerId": guest }));
    assert_eq!(
        everything[1].body["data"],
        json!({ "orderId": order["id"], "customerId": guest })
    );
    assert_eq!(
        everything[5].body["data"],
        json!({ "orderIds": [order["id"]], "customerId": pat_id, "fromCustomerIds": [guest] })
    );
    assert_eq!(
        everything[6].body["data"],
        json!({ "orderId": order["id"], "fromCustomerId": pat_id, "toCustomerId": guest })
    );
    assert_eq!(
        everything[7].body["data"],
        json!({ "groupId": group, "added": [pat_id], "removed": [] })
    );

    // The warehouse gets the order events only, signed with its own secret.
    let orders = warehouse.received();
    assert_eq!(
        types(&orders),
        ["order.placed", "order.claimed", "order.transferred"]
    );
    for delivery in &orders {
        verify(delivery, ORDERS_SECRET);
    }
    // Each event is one delivery per endpoint; the same event has the same id at both.
    assert_eq!(orders[0].body["id"], everything[1].body["id"]);
    // Events are never sent to the mail sink.
    assert!(mail.received().iter().all(|m| m.body.get("type").is_none()));
}

#[tokio::test]
async fn a_refused_delivery_is_retried_with_the_same_event() {
    let (mail, crm, warehouse) = (
        Webhook::start(0).await,
        Webhook::start(2).await,
        Webhook::start(0).await,
    );
    let app = with_endpoints(&mail, &crm, &warehouse).await;
    place(&app, None, order_input(Some("lee@example.com"))).await;
    app.deliver_outbox().await;
    // Refused twice, then accepted: two events (the guest, the order), four calls
    // for the refused first attempts, each event received once.
    let received = crm.received();
    assert_eq!(types(&received), ["customer.created", "order.placed"]);
    assert_eq!(crm.calls(), 4);
    for delivery in &received {
        verify(delivery, EVERYTHING_SECRET);
    }
    let (attempted, delivered): (Vec<i32>, Vec<bool>) = entity::outbox_message::Entity::find()
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.recipient == "webhook:crm")
        .map(|m| (m.attempts, m.delivered_at.is_some()))
        .unzip();
    assert_eq!(attempted.iter().sum::<i32>(), 4);
    assert!(delivered.iter().all(|d| *d));
}

#[tokio::test]
async fn a_change_that_fails_publishes_nothing() {
    let (mail, crm, warehouse) = (
        Webhook::start(0).await,
        Webhook::start(0).await,
        Webhook::start(0).await,
    );
    let app = with_endpoints(&mail, &crm, &warehouse).await;
    app.register("kai@example.com").await;
    let before = entity::event::Entity::find().count(app.db()).await.unwrap();
    // Registering a taken email, and an order whose second line is invalid.
    let taken = app
        .gql(
            None,
            "mutation { registerCustomer(email: \"kai@example.com\", password: \"another fine one\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(tests::error_code(&taken), "EMAIL_TAKEN");
    let mut bad = order_input(Some("new@example.com"));
    bad["lineItems"][1]["quantity"] = json!(0);
    let refused = app
        .gql(
            None,
            "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }",
            json!({ "input": bad }),
        )
        .await;
    assert_eq!(tests::error_code(&refused), "BAD_USER_INPUT");
    let after = entity::event::Entity::find().count(app.db()).await.unwrap();
    assert_eq!(before, after);
    app.deliver_outbox().await;
    assert_eq!(types(&crm.received()), ["customer.created"]);
}

#[tokio::test]
async fn without_endpoints_events_are_dispatched_to_nobody_and_swept() {
    let app = TestApp::spawn().await;
    place(&app, None, order_input(Some("ivy@example.com"))).await;
    app.deliver_outbox().await;
    let events = entity::event::Entity::find().all(app.db()).await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.dispatched_at.is_some()));
    let deliveries = entity::outbox_message::Entity::find()
        .all(app.db())
        .await
        .unwrap();
    assert!(
        deliveries
            .iter()
            .all(|m| !m.recipient.starts_with("webhook:"))
    );
    // A day after dispatch, housekeeping removes them (this sweep, or the one the
    // server started with, if it ran late).
    use sea_orm::sea_query::Expr;
    entity::event::Entity::update_many()
        .col_expr(
            entity::event::Column::DispatchedAt,
            Expr::val(api::db::now() - chrono::TimeDelta::days(2)),
        )
        .exec(app.db())
        .await
        .unwrap();
    let swept = app.housekeep().await.events;
    let left = entity::event::Entity::find().count(app.db()).await.unwrap();
    assert_eq!((swept <= 2, left), (true, 0));
}

#[tokio::test]
async fn start_up_refuses_endpoints_it_cannot_serve() {
    let good = json!({ "name": "crm", "url": "https://crm.example.com/hooks",
                       "events": ["customer.*"], "secret": EVERYTHING_SECRET });
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let with = |key: &str, value: Value| {
        let mut endpoint = good.clone();
        endpoint[key] = value;
        json!([endpoint])
    };
    cases.push((with("name", json!("CRM!")), "name"));
    cases.push((with("url", json!("ftp://crm.example.com")), "url"));
    cases.push((with("events", json!(["customer.exploded"])), "event type"));
    cases.push((with("events", json!([])), "empty"));
    cases.push((with("secret", json!("short")), "secret"));
    cases.push((json!([good, good]), "twice"));
    cases.push((json!({ "name": "crm" }), "list"));
    for (setting, problem) in cases {
        let setting = setting.to_string();
        let error = api::delivery::Endpoints::parse(Some(&setting))
            .err()
            .unwrap_or_else(|| panic!("accepted {setting}"));
        assert!(error.contains(problem), "{problem}: {error}");
    }
    assert!(api::delivery::Endpoints::parse(Some(&json!([good]).to_string())).is_ok());
}
