//! Two server instances on one database, as behind a load balancer: the races of the
//! domain rules run across them and still end the way the rules say.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tests::webhook::Webhook;
use tests::{PASSWORD, TestApp};

const REGISTER: &str = "mutation($email: String!, $password: String!) {
    registerCustomer(email: $email, password: $password) { customer { id } } }";
const GUEST_ORDER: &str = r#"mutation { placeOrder(input: { email: "rush@example.com", currencyCode: "EUR",
    lineItems: [{ title: "Tea", quantity: 2, unitPrice: 450 }],
    shippingAddress: { city: "Lyon", countryCode: "FR" } }) { id displayId } }"#;

async fn two_instances(webhook: Option<&Webhook>) -> (TestApp, TestApp) {
    let url = webhook.map(|w| w.url.clone());
    let configure = move |s: &mut api::config::Settings| s.outbox_webhook_url = url.clone();
    let one = TestApp::spawn_with(configure.clone()).await;
    let two = one.spawn_beside(configure).await;
    (one, two)
}

/// The instance that serves the `i`th request of a burst: alternating.
fn pick<'a>(one: &'a TestApp, two: &'a TestApp, i: usize) -> &'a TestApp {
    if i.is_multiple_of(2) { one } else { two }
}

#[tokio::test]
async fn fifty_registrations_of_one_email_across_two_instances_make_one_account() {
    let (one, two) = two_instances(None).await;
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let variables = json!({ "email": "race@example.com", "password": PASSWORD });
            Box::pin(pick(&one, &two, i).gql(None, REGISTER, variables))
        })
        .collect();
    let responses = tests::join_all(attempts).await;
    assert_eq!(
        tests::outcomes(&responses),
        tests::tally(&[("ok", 1), ("EMAIL_TAKEN", 49)]),
        "{responses:#?}"
    );
    let admin = one.admin_token().await;
    let found = two
        .data(
            Some(&admin),
            r#"{ customers(filter: { search: "race@example.com" }) { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(found["customers"]["totalCount"], 1);
}

#[tokio::test]
async fn fifty_guest_orders_across_two_instances_make_one_guest_and_gapless_numbers() {
    let (one, two) = two_instances(None).await;
    let attempts: Vec<_> = (0..50)
        .map(|i| Box::pin(pick(&one, &two, i).gql(None, GUEST_ORDER, json!({}))))
        .collect();
    let responses = tests::join_all(attempts).await;
    let mut display_ids: Vec<i64> = responses
        .iter()
        .map(|r| {
            assert!(r.get("errors").is_none(), "{r:#}");
            r["data"]["placeOrder"]["displayId"].as_i64().unwrap()
        })
        .collect();
    display_ids.sort_unstable();
    assert_eq!(display_ids, (1..=50).collect::<Vec<_>>());
    let admin = one.admin_token().await;
    let guests = two
        .data(
            Some(&admin),
            r#"{ customers(filter: { search: "rush@example.com" }) { totalCount nodes { hasAccount orders { totalCount } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(guests["customers"]["totalCount"], 1);
    assert_eq!(guests["customers"]["nodes"][0]["hasAccount"], false);
    assert_eq!(guests["customers"]["nodes"][0]["orders"]["totalCount"], 50);
}

#[tokio::test]
async fn concurrent_confirmations_of_one_claim_across_two_instances_let_one_through() {
    let webhook = Webhook::start(0).await;
    let (one, two) = two_instances(Some(&webhook)).await;
    let order = one.data(None, GUEST_ORDER, json!({})).await["placeOrder"]["id"].clone();
    let (sam, _) = two.register("rush@example.com").await;
    one.data(
        Some(&sam),
        "mutation($ids: [ID!]!) { requestOrderClaim(orderIds: $ids) { id } }",
        json!({ "ids": [order] }),
    )
    .await;
    let message = webhook
        .delivered(&two, "order_claim", "rush@example.com")
        .await;
    let token = message.body["payload"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirm = "mutation($token: String!) { confirmOrderClaim(token: $token) { id } }";
    let attempts: Vec<_> = (0..8)
        .map(|i| Box::pin(pick(&one, &two, i).gql(Some(&sam), confirm, json!({ "token": token }))))
        .collect();
    let responses = tests::join_all(attempts).await;
    assert_eq!(
        tests::outcomes(&responses),
        tests::tally(&[("ok", 1), ("INVALID_TOKEN", 7)]),
        "{responses:#?}"
    );
    let mine = two
        .data(Some(&sam), "{ me { orders { totalCount } } }", json!({}))
        .await;
    assert_eq!(mine["me"]["orders"]["totalCount"], 1);
}

/// Admins on both instances add and remove overlapping customers at once: every change
/// applies whole, members are never doubled, and the audit trail has one row per
/// membership that actually changed.
#[tokio::test]
async fn concurrent_group_changes_across_two_instances_apply_whole() {
    let (one, two) = two_instances(None).await;
    let admin = one.admin_token().await;
    let mut customers = Vec::new();
    for i in 0..12 {
        customers.push(json!(
            one.register_directly(&format!("c{i}@example.com")).await
        ));
    }
    let group = one
        .data(
            Some(&admin),
            r#"mutation { createCustomerGroup(name: "Busy") { id } }"#,
            json!({}),
        )
        .await["createCustomerGroup"]["id"]
        .clone();
    let add = "mutation($g: ID!, $c: [ID!]!) { addCustomersToGroup(groupId: $g, customerIds: $c) { id } }";
    let remove = "mutation($g: ID!, $c: [ID!]!) { removeCustomersFromGroup(groupId: $g, customerIds: $c) { id } }";
    // Eight overlapping adds of the first ten, and four removals of the last two
    // (never added, so removing them changes nothing).
    let mut attempts = Vec::new();
    for i in 0..8 {
        let slice: Vec<Value> = customers[i..(i + 3).min(10)].to_vec();
        attempts.push(Box::pin(pick(&one, &two, i).gql(
            Some(&admin),
            add,
            json!({ "g": group, "c": slice }),
        )));
    }
    for i in 0..4 {
        attempts.push(Box::pin(pick(&one, &two, i).gql(
            Some(&admin),
            remove,
            json!({ "g": group, "c": customers[10..12].to_vec() }),
        )));
    }
    for response in tests::join_all(attempts).await {
        assert!(response.get("errors").is_none(), "{response:#}");
    }
    let members = two
        .data(
            Some(&admin),
            "query($g: ID!) { customerGroup(id: $g) { customers(first: 50) { totalCount nodes { id } }
                adminActions(first: 100) { nodes { action customerId } } } }",
            json!({ "g": group }),
        )
        .await;
    let ids: BTreeSet<String> = members["customerGroup"]["customers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = customers[..10]
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(members["customerGroup"]["customers"]["totalCount"], 10);
    let mut added: BTreeMap<String, usize> = BTreeMap::new();
    for action in members["customerGroup"]["adminActions"]["nodes"]
        .as_array()
        .unwrap()
    {
        if action["action"] == "GROUP_ADD_CUSTOMER" {
            *added
                .entry(action["customerId"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(added.len(), 10, "{added:?}");
    assert!(
        added.values().all(|n| *n == 1),
        "one row per real addition: {added:?}"
    );
}

/// Both instances deliver the outbox at once: every message arrives, and any
/// message that arrives twice (at-least-once) carries the same `Idempotency-Key`.
#[tokio::test]
async fn two_instances_deliver_the_outbox_once_each_message_and_lose_none() {
    use entity::outbox_message;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let webhook = Webhook::start(0).await;
    let (one, two) = two_instances(Some(&webhook)).await;
    for i in 0..20 {
        one.register_directly(&format!("m{i}@example.com")).await;
        pick(&one, &two, i)
            .data(
                None,
                "mutation($email: String!) { requestPasswordReset(email: $email) }",
                json!({ "email": format!("m{i}@example.com") }),
            )
            .await;
    }
    let (a, b) = tokio::join!(one.deliver_outbox(), two.deliver_outbox());
    assert!(a + b >= 20, "{a} + {b} attempts");
    let stored = outbox_message::Entity::find().all(one.db()).await.unwrap();
    assert_eq!(stored.len(), 20);
    assert!(stored.iter().all(|m| m.delivered_at.is_some()));
    let mut keys: BTreeMap<String, BTreeSet<Option<String>>> = BTreeMap::new();
    for received in webhook.received() {
        keys.entry(received.body["id"].as_str().unwrap().to_owned())
            .or_default()
            .insert(received.idempotency_key.clone());
    }
    assert_eq!(keys.len(), 20, "every message arrived");
    for (id, seen) in &keys {
        assert_eq!(seen.len(), 1, "{id} arrived with different keys: {seen:?}");
        assert_eq!(seen.iter().next().unwrap().as_deref(), Some(id.as_str()));
    }
    let undelivered = outbox_message::Entity::find()
        .filter(outbox_message::Column::DeliveredAt.is_null())
        .count(one.db())
        .await
        .unwrap();
    assert_eq!(undelivered, 0);
    eprintln!(
        "outbox across two instances: {} receipts for 20 messages",
        webhook.received().len()
    );
}

/// Both instances fan out the same new events at once: each event becomes one
/// delivery per endpoint, never two, and none is lost.
#[tokio::test]
async fn two_instances_fan_out_each_event_once() {
    use entity::outbox_message;
    use sea_orm::EntityTrait;
    let crm = Webhook::start(0).await;
    let endpoints = json!([{ "name": "crm", "url": crm.url, "events": ["*"],
                              "secret": "a secret of thirty-two characters" }])
    .to_string();
    let configure = move |s: &mut api::config::Settings| {
        s.webhook_endpoints = Some(endpoints.clone());
    };
    let one = TestApp::spawn_with(configure.clone()).await;
    let two = one.spawn_beside(configure).await;
    for i in 0..30 {
        pick(&one, &two, i)
            .data(
                None,
                "mutation($email: String!) { placeOrder(input: { email: $email, currencyCode: \"EUR\",
                    lineItems: [{ title: \"Tea\", quantity: 1, unitPrice: 450 }],
                    shippingAddress: { countryCode: \"FR\" } }) { id } }",
                json!({ "email": format!("fan{i}@example.com") }),
            )
            .await;
    }
    tokio::join!(one.deliver_outbox(), two.deliver_outbox());
    let deliveries: Vec<_> = outbox_message::Entity::find()
        .all(one.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.recipient == "webhook:crm")
        .collect();
    // 30 guests created and 30 orders placed.
    assert_eq!(deliveries.len(), 60);
    let events: BTreeSet<String> = deliveries
        .iter()
        .map(|m| m.payload["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), 60, "one delivery per event");
    let received: BTreeSet<String> = crm
        .received()
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received, events);
}
