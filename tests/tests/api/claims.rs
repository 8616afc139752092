//! Claiming guest orders into an account: the whole story, every failure, and the
//! races.

use entity::order_claim;
use sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait};
use serde_json::{Value, json};
use tests::webhook::{Received, Webhook};
use tests::{TestApp, error_code, node_ids};

use crate::orders::{order_input, place};

pub(crate) const REQUEST: &str =
    "mutation($ids: [ID!]!) { requestOrderClaim(orderIds: $ids) { id expiresAt } }";
pub(crate) const CONFIRM: &str = "mutation($token: String!) {
    confirmOrderClaim(token: $token) { id displayId customer { id } } }";
const CANCEL: &str = "mutation($id: ID!) { cancelOrderClaim(requestId: $id) }";
const TRANSFER: &str = "mutation($order: ID!, $customer: ID!) {
    transferOrder(orderId: $order, customerId: $customer) { id customer { id } } }";

pub(crate) async fn with_webhook() -> (TestApp, Webhook) {
    let webhook = Webhook::start(0).await;
    let url = webhook.url.clone();
    let app = TestApp::spawn_with(|settings| settings.outbox_webhook_url = Some(url)).await;
    (app, webhook)
}

pub(crate) fn token(message: &Received) -> String {
    message.body["payload"]["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Delivers what is due and returns the `n`-th claim message to `email` (1-based).
pub(crate) async fn nth_claim(app: &TestApp, webhook: &Webhook, email: &str, n: usize) -> Received {
    app.deliver_outbox().await;
    let claims: Vec<Received> = webhook
        .received()
        .into_iter()
        .filter(|r| r.body["kind"] == "order_claim" && r.body["recipient"] == email)
        .collect();
    claims
        .get(n - 1)
        .cloned()
        .unwrap_or_else(|| panic!("claim message {n} for {email} was not sent"))
}

async fn owner_of(app: &TestApp, admin: &str, order: &Value) -> Value {
    let query = "query($id: ID!) { order(id: $id) { customer { id } } }";
    app.data(Some(admin), query, json!({ "id": order["id"] }))
        .await["order"]["customer"]["id"]
        .clone()
}

async fn request(app: &TestApp, token: &str, ids: Value) -> Value {
    app.data(Some(token), REQUEST, json!({ "ids": ids })).await["requestOrderClaim"].clone()
}

#[tokio::test]
async fn a_guest_claims_their_orders_after_registering() {
    let (app, webhook) = with_webhook().await;
    let admin = app.admin_token().await;
    // A guest places two orders, then registers with the same email.
    let first = place(&app, None, order_input(Some("sam@example.com"))).await;
    let second = place(&app, None, order_input(Some("sam@example.com"))).await;
    let guest = owner_of(&app, &admin, &first).await;
    let (sam, sam_id) = app.register("sam@example.com").await;
    assert_ne!(json!(sam_id), guest, "registering created a second record");

    // The request covers both orders, plus ids that are not claimable; the answer is
    // the same handle whatever they were.
    let (other, _) = app.register("other@example.com").await;
    let others_order = place(&app, Some(&other), order_input(None)).await;
    let handle = request(
        &app,
        &sam,
        json!([
            first["id"],
            second["id"],
            others_order["id"],
            uuid::Uuid::now_v7()
        ]),
    )
    .await;
    assert!(handle["id"].is_string() && handle["expiresAt"].is_string());
    let message = nth_claim(&app, &webhook, "sam@example.com", 1).await;
    assert_eq!(
        message.body["payload"]["orderDisplayIds"],
        json!([first["displayId"], second["displayId"]])
    );
    let claim_token = token(&message);
    assert!(claim_token.starts_with("clo_"));
    // No claim went to the registered customer's order email.
    assert!(
        webhook
            .received()
            .iter()
            .filter(|r| r.body["kind"] == "order_claim")
            .all(|r| r.body["recipient"] != "other@example.com")
    );

    // Only the customer who asked can confirm.
    let stolen = app
        .gql(Some(&other), CONFIRM, json!({ "token": claim_token }))
        .await;
    assert_eq!(error_code(&stolen), "INVALID_TOKEN");
    assert_eq!(stolen["errors"][0]["extensions"]["reason"], "invalid");

    let claimed = app
        .data(Some(&sam), CONFIRM, json!({ "token": claim_token }))
        .await;
    let claimed_ids: Vec<&Value> = claimed["confirmOrderClaim"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(claimed_ids, [&first["id"], &second["id"]]);

    // The customer sees both orders at once; the guest record stays, without orders.
    let mine = app
        .data(
            Some(&sam),
            "{ me { orders { totalCount nodes { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine["me"]["orders"]["totalCount"], 2);
    assert_eq!(
        node_ids(&mine["me"]["orders"]),
        [
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    let seen = app
        .data(
            Some(&admin),
            "query($guest: ID!, $order: ID!) {
                customer(id: $guest) { hasAccount orders { totalCount } }
                order(id: $order) { customer { id } transfers { kind fromCustomerId toCustomerId admin { email } createdAt } }
            }",
            json!({ "guest": guest, "order": first["id"] }),
        )
        .await;
    assert_eq!(
        seen["customer"],
        json!({ "hasAccount": false, "orders": { "totalCount": 0 } })
    );
    assert_eq!(seen["order"]["customer"]["id"], sam_id);
    let transfer = &seen["order"]["transfers"][0];
    assert_eq!(transfer["kind"], "CLAIM");
    assert_eq!(transfer["fromCustomerId"], guest);
    assert_eq!(transfer["toCustomerId"], sam_id);
    assert_eq!(transfer["admin"], Value::Null);
    assert!(transfer["createdAt"].is_string());

    // The token is spent.
    let replay = app
        .gql(Some(&sam), CONFIRM, json!({ "token": claim_token }))
        .await;
    assert_eq!(error_code(&replay), "INVALID_TOKEN");
    assert_eq!(replay["errors"][0]["extensions"]["reason"], "used");
}

#[tokio::test]
async fn expired_cancelled_and_overtaken_claims_change_nothing() {
    let (app, webhook) = with_webhook().await;
    let admin = app.admin_token().await;
    let order = place(&app, None, order_input(Some("sam@example.com"))).await;
    let guest = owner_of(&app, &admin, &order).await;
    let (sam, _) = app.register("sam@example.com").await;

    // Expired.
    request(&app, &sam, json!([order["id"]])).await;
    let expired = token(&nth_claim(&app, &webhook, "sam@example.com", 1).await);
    for claim in order_claim::Entity::find().all(app.db()).await.unwrap() {
        order_claim::ActiveModel {
            id: ActiveValue::Unchanged(claim.id),
            expires_at: ActiveValue::Set(tests::at(0)),
            ..Default::default()
        }
        .update(app.db())
        .await
        .unwrap();
    }
    let response = app
        .gql(Some(&sam), CONFIRM, json!({ "token": expired }))
        .await;
    assert_eq!(response["errors"][0]["extensions"]["reason"], "expired");
    assert_eq!(owner_of(&app, &admin, &order).await, guest);

    // Cancelled.
    let handle = request(&app, &sam, json!([order["id"]])).await;
    let cancelled = token(&nth_claim(&app, &webhook, "sam@example.com", 2).await);
    assert_eq!(
        app.data(Some(&sam), CANCEL, json!({ "id": handle["id"] }))
            .await["cancelOrderClaim"],
        true
    );
    let response = app
        .gql(Some(&sam), CONFIRM, json!({ "token": cancelled }))
        .await;
    assert_eq!(error_code(&response), "INVALID_TOKEN");
    assert_eq!(response["errors"][0]["extensions"]["reason"], "used");
    assert_eq!(owner_of(&app, &admin, &order).await, guest);

    // Overtaken: an admin moved the order after the request.
    request(&app, &sam, json!([order["id"]])).await;
    let overtaken = token(&nth_claim(&app, &webhook, "sam@example.com", 3).await);
    let (_, pat) = app.register("pat@example.com").await;
    app.data(
        Some(&admin),
        TRANSFER,
        json!({ "order": order["id"], "customer": pat }),
    )
    .await;
    let response = app
        .gql(Some(&sam), CONFIRM, json!({ "token": overtaken }))
        .await;
    assert_eq!(error_code(&response), "ALREADY_CLAIMED");
    assert_eq!(owner_of(&app, &admin, &order).await, json!(pat));
    // Unknown tokens.
    let response = app
        .gql(Some(&sam), CONFIRM, json!({ "token": "clo_made_up" }))
        .await;
    assert_eq!(response["errors"][0]["extensions"]["reason"], "invalid");
}

#[tokio::test]
async fn two_claims_of_the_same_orders_let_only_the_first_through() {
    let (app, webhook) = with_webhook().await;
    let order = place(&app, None, order_input(Some("sam@example.com"))).await;
    let (sam, sam_id) = app.register("sam@example.com").await;
    request(&app, &sam, json!([order["id"]])).await;
    request(&app, &sam, json!([order["id"]])).await;
    let first = token(&nth_claim(&app, &webhook, "sam@example.com", 1).await);
    let second = token(&nth_claim(&app, &webhook, "sam@example.com", 2).await);
    let claimed = app
        .data(Some(&sam), CONFIRM, json!({ "token": second }))
        .await;
    assert_eq!(claimed["confirmOrderClaim"][0]["customer"]["id"], sam_id);
    let response = app
        .gql(Some(&sam), CONFIRM, json!({ "token": first }))
        .await;
    assert_eq!(error_code(&response), "ALREADY_CLAIMED");
}

#[tokio::test]
async fn concurrent_confirmations_of_one_token_let_exactly_one_through() {
    let (app, webhook) = with_webhook().await;
    let (sam, _) = app.register("sam@example.com").await;
    for round in 1..=4 {
        let order = place(&app, None, order_input(Some("sam@example.com"))).await;
        request(&app, &sam, json!([order["id"]])).await;
        let claim = token(&nth_claim(&app, &webhook, "sam@example.com", round).await);
        let attempts: Vec<_> = (0..8)
            .map(|_| Box::pin(app.gql(Some(&sam), CONFIRM, json!({ "token": claim }))))
            .collect();
        let responses = tests::join_all(attempts).await;
        assert_eq!(
            tests::outcomes(&responses),
            tests::tally(&[("ok", 1), ("INVALID_TOKEN", 7)]),
            "round {round}: {responses:#?}"
        );
    }
    let mine = app
        .data(Some(&sam), "{ me { orders { totalCount } } }", json!({}))
        .await;
    assert_eq!(mine["me"]["orders"]["totalCount"], 4);
}

#[tokio::test]
async fn canceled_and_registered_orders_are_not_claimable() {
    use sea_orm::ActiveModelTrait;
    let (app, webhook) = with_webhook().await;
    let canceled = place(&app, None, order_input(Some("sam@example.com"))).await;
    entity::order::ActiveModel {
        id: ActiveValue::Unchanged(canceled["id"].as_str().unwrap().parse().unwrap()),
        status: ActiveValue::Set(entity::order::OrderStatus::Canceled),
        ..Default::default()
    }
    .update(app.db())
    .await
    .unwrap();
    let (sam, _) = app.register("sam@example.com").await;
    let (other, _) = app.register("other@example.com").await;
    let registered = place(&app, Some(&other), order_input(None)).await;
    let handle = request(&app, &sam, json!([canceled["id"], registered["id"]])).await;
    assert!(handle["id"].is_string());
    // A later, claimable order proves the worker ran: the earlier request sent nothing.
    let open = place(&app, None, order_input(Some("sam@example.com"))).await;
    request(&app, &sam, json!([open["id"]])).await;
    let message = nth_claim(&app, &webhook, "sam@example.com", 1).await;
    assert_eq!(
        message.body["payload"]["orderDisplayIds"],
        json!([open["displayId"]])
    );
    let claims = webhook.received();
    let claims = claims.iter().filter(|r| r.body["kind"] == "order_claim");
    assert_eq!(claims.count(), 1);
}

#[tokio::test]
async fn claims_need_a_customer_session_and_transfers_an_admin() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (sam, sam_id) = app.register("sam@example.com").await;
    let order = place(&app, None, order_input(Some("sam@example.com"))).await;
    let ids = json!({ "ids": [order["id"]] });
    assert_eq!(
        app.error_code(None, REQUEST, ids.clone()).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.error_code(Some(&admin), REQUEST, ids).await,
        "FORBIDDEN"
    );
    let confirm = json!({ "token": "clo_x" });
    assert_eq!(
        app.error_code(None, CONFIRM, confirm.clone()).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.error_code(Some(&admin), CONFIRM, confirm).await,
        "FORBIDDEN"
    );

    let move_it = json!({ "order": order["id"], "customer": sam_id });
    assert_eq!(
        app.error_code(None, TRANSFER, move_it.clone()).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.error_code(Some(&sam), TRANSFER, move_it.clone()).await,
        "FORBIDDEN"
    );
    let ghost = json!({ "order": order["id"], "customer": uuid::Uuid::now_v7() });
    assert_eq!(
        app.error_code(Some(&admin), TRANSFER, ghost).await,
        "NOT_FOUND"
    );

    let moved = app.data(Some(&admin), TRANSFER, move_it).await;
    assert_eq!(moved["transferOrder"]["customer"]["id"], sam_id);
    let recorded = app
        .data(
            Some(&admin),
            "query($order: ID!, $sam: ID!) {
                order(id: $order) { transfers { kind admin { email } toCustomerId } }
                customer(id: $sam) { adminActions { nodes { action details } } }
            }",
            json!({ "order": order["id"], "sam": sam_id }),
        )
        .await;
    assert_eq!(
        recorded["order"]["transfers"],
        json!([{ "kind": "ADMIN_TRANSFER", "admin": { "email": tests::ADMIN_EMAIL }, "toCustomerId": sam_id }])
    );
    let action = &recorded["customer"]["adminActions"]["nodes"][0];
    assert_eq!(action["action"], "ORDER_TRANSFER");
    assert_eq!(action["details"]["orderId"], order["id"]);
    // Transfers are for admins' eyes.
    let hidden = app
        .gql(
            Some(&sam),
            "query($id: ID!) { order(id: $id) { transfers { kind } } }",
            json!({ "id": order["id"] }),
        )
        .await;
    assert_eq!(error_code(&hidden), "FORBIDDEN");
}
