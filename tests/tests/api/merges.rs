//! Duplicate customers: the likely duplicates and why, merging one record into another
//! (previewed first), and a customer merging their own guest record through a claim.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::TestApp;

use crate::claims::{REQUEST, nth_claim, token, with_webhook};
use crate::orders::{order_input, place};

const CANDIDATES: &str = "query($id: ID!) { customerMergeCandidates(id: $id) {
    customer { id email } reasons } }";
const MERGE: &str = "mutation($into: ID!, $from: ID!, $preview: Boolean!) {
    mergeCustomers(into: $into, from: $from, preview: $preview) {
        preview ordersMoved addressesMoved groupsJoined notesMoved eventsMoved
        customer { id firstName orderCount amountSpent { amount } groups { name }
                   shippingAddresses { city } deletedAt }
        source { id deletedAt } } }";
const STATE: &str = "query($id: ID!) { customer(id: $id, includeDeleted: true) {
    id deletedAt orderCount groups { name } shippingAddresses { city } consents { purpose granted }
    notes { nodes { body } }
    events(first: 50) { nodes { kind actor } }
    orders(first: 10) { nodes { id transfers { kind } } } } }";
const CREATE: &str = "mutation($email: String!, $first: String, $last: String, $phone: String) {
    createCustomer(email: $email, firstName: $first, lastName: $last, phone: $phone) { id } }";

async fn create(
    app: &TestApp,
    admin: &str,
    email: &str,
    names: (&str, &str),
    phone: &str,
) -> Value {
    app.data(
        Some(admin),
        CREATE,
        json!({ "email": email, "first": names.0, "last": names.1, "phone": phone }),
    )
    .await["createCustomer"]["id"]
        .clone()
}

fn kinds(state: &Value) -> Vec<String> {
    state["customer"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn candidates_are_listed_with_their_reasons() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ana, ana_id) = app.register("ana@example.com").await;
    app.data(
        Some(&ana),
        "mutation { updateMe(firstName: \"Ana\", lastName: \"Lima\", phone: \"+33 1 23 45 67 89\") { id } }",
        json!({}),
    )
    .await;
    app.data(
        Some(&ana),
        "mutation { addShippingAddress(input: { countryCode: \"FR\", postalCode: \"75 001\" }) { id } }",
        json!({}),
    )
    .await;
    // Her guest record, a record with her phone, one with her name and postcode, one
    // with her name elsewhere, and a deleted one with her phone.
    let order = place(&app, None, order_input(Some("ana@example.com"))).await;
    let guest = app.owner_of(&order["id"]).await["id"].clone();
    let phone = create(
        &app,
        &admin,
        "a.lima@example.com",
        ("A", "L"),
        "+33 1 23 45 67 89",
    )
    .await;
    let named = create(&app, &admin, "ana.l@example.com", ("ana", "LIMA"), "0").await;
    app.address(named.as_str().unwrap().parse().unwrap(), "Paris")
        .await;
    entity::address::Entity::update_many()
        .col_expr(
            entity::address::Column::PostalCode,
            sea_orm::sea_query::Expr::val("75001"),
        )
        .filter(
            entity::address::Column::CustomerId.eq(named
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()),
        )
        .exec(app.db())
        .await
        .unwrap();
    let elsewhere = create(&app, &admin, "ana2@example.com", ("Ana", "Lima"), "1").await;
    app.address(elsewhere.as_str().unwrap().parse().unwrap(), "Lyon")
        .await;
    let gone = create(
        &app,
        &admin,
        "gone@example.com",
        ("G", "G"),
        "+33 1 23 45 67 89",
    )
    .await;
    app.data(
        Some(&admin),
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
        json!({ "id": gone }),
    )
    .await;

    let found = app
        .data(Some(&admin), CANDIDATES, json!({ "id": ana_id }))
        .await["customerMergeCandidates"]
        .clone();
    assert_eq!(
        found,
        json!([
            { "customer": { "id": guest, "email": "ana@example.com" }, "reasons": ["SAME_EMAIL"] },
            { "customer": { "id": phone, "email": "a.lima@example.com" }, "reasons": ["SAME_PHONE"] },
            { "customer": { "id": named, "email": "ana.l@example.com" },
              "reasons": ["SAME_NAME_AND_POSTCODE"] },
        ])
    );
    assert_eq!(
        app.error_code(Some(&ana), CANDIDATES, json!({ "id": ana_id }))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn a_merge_moves_everything_and_its_preview_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // The guest: two orders, an address, a note, a group. The account: one order.
    let first = place(&app, None, order_input(Some("bo@example.com"))).await;
    place(&app, None, order_input(Some("bo@example.com"))).await;
    let guest = app.owner_of(&first["id"]).await["id"].clone();
    let guest_id: uuid::Uuid = guest.as_str().unwrap().parse().unwrap();
    app.address(guest_id, "Porto").await;
    app.data(
        Some(&admin),
        "mutation($c: ID!) { addCustomerNote(customerId: $c, body: \"called twice\") { id } }",
        json!({ "c": guest }),
    )
    .await;
    let vip = app.group("VIP").await;
    app.join(vip, guest_id).await;
    app.data(
        Some(&admin),
        "mutation($c: ID!) { setCustomerConsent(customerId: $c, purpose: SMS_MARKETING, granted: true) { id } }",
        json!({ "c": guest }),
    )
    .await;
    let (bo, bo_id) = app.register("bo@example.com").await;
    place(&app, Some(&bo), order_input(None)).await;

    let preview = app
        .data(
            Some(&admin),
            MERGE,
            json!({ "into": bo_id, "from": guest, "preview": true }),
        )
        .await["mergeCustomers"]
        .clone();
    assert_eq!(preview["preview"], true);
    assert_eq!(preview["ordersMoved"], 2);
    assert_eq!(preview["addressesMoved"], 1);
    assert_eq!(preview["groupsJoined"], 1);
    assert_eq!(preview["notesMoved"], 1);
    let untouched = app.data(Some(&admin), STATE, json!({ "id": guest })).await;
    assert!(untouched["customer"]["deletedAt"].is_null());
    assert_eq!(untouched["customer"]["orderCount"], 2);
    assert_eq!(untouched["customer"]["groups"], json!([{ "name": "VIP" }]));
    let events_before = entity::event::Entity::find()
        .all(app.db())
        .await
        .unwrap()
        .len();

    let merged = app
        .data(
            Some(&admin),
            MERGE,
            json!({ "into": bo_id, "from": guest, "preview": false }),
        )
        .await["mergeCustomers"]
        .clone();
    // The preview said exactly what the merge did.
    for count in [
        "ordersMoved",
        "addressesMoved",
        "groupsJoined",
        "notesMoved",
        "eventsMoved",
    ] {
        assert_eq!(merged[count], preview[count], "{count}");
    }
    assert_eq!(merged["preview"], false);
    let into = &merged["customer"];
    assert_eq!(into["orderCount"], 3);
    assert_eq!(into["amountSpent"], json!([{ "amount": 6300 }]));
    assert_eq!(into["groups"], json!([{ "name": "VIP" }]));
    assert_eq!(into["shippingAddresses"], json!([{ "city": "Porto" }]));
    assert!(merged["source"]["deletedAt"].is_string());

    let bo_state = app.data(Some(&admin), STATE, json!({ "id": bo_id })).await;
    assert_eq!(
        bo_state["customer"]["notes"]["nodes"],
        json!([{ "body": "called twice" }])
    );
    assert_eq!(
        bo_state["customer"]["consents"],
        json!([{ "purpose": "SMS_MARKETING", "granted": true }])
    );
    let kinds_of_bo = kinds(&bo_state);
    assert_eq!(kinds_of_bo[0], "CUSTOMER_MERGE");
    assert!(
        kinds_of_bo.contains(&"ORDER_PLACE".to_owned()),
        "the guest's timeline moved"
    );
    let merged_orders = bo_state["customer"]["orders"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["transfers"] == json!([{ "kind": "MERGE" }]))
        .count();
    assert_eq!(merged_orders, 2);
    let guest_state = app.data(Some(&admin), STATE, json!({ "id": guest })).await;
    assert_eq!(kinds(&guest_state), ["CUSTOMER_MERGE"]);
    assert_eq!(guest_state["customer"]["orderCount"], 0);
    // One customer.merged event, for the merge and not for its preview.
    let events = entity::event::Entity::find().all(app.db()).await.unwrap();
    assert_eq!(events.len(), events_before + 1);
    let last = events.iter().max_by_key(|e| e.id).unwrap();
    assert_eq!(last.kind, "customer.merged");
    assert_eq!(last.data["fromCustomerId"], guest);
}

#[tokio::test]
async fn a_merge_refuses_what_would_lose_data() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ann, ann_id) = app.register("ann@example.com").await;
    let order = place(&app, None, order_input(Some("guest@example.com"))).await;
    let guest = app.owner_of(&order["id"]).await["id"].clone();
    let attempt =
        |into: &Value, from: &Value| json!({ "into": into, "from": from, "preview": false });
    let ann_json = json!(ann_id);
    assert_eq!(
        app.error_code(Some(&admin), MERGE, attempt(&ann_json, &ann_json))
            .await,
        "BAD_USER_INPUT"
    );
    // An account into a guest record would lose its login.
    assert_eq!(
        app.error_code(Some(&admin), MERGE, attempt(&guest, &ann_json))
            .await,
        "BAD_USER_INPUT"
    );
    let missing = json!(uuid::Uuid::now_v7().to_string());
    assert_eq!(
        app.error_code(Some(&admin), MERGE, attempt(&ann_json, &missing))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(Some(&ann), MERGE, attempt(&ann_json, &guest))
            .await,
        "FORBIDDEN"
    );
    // Nothing moved.
    assert_eq!(app.owner_of(&order["id"]).await["id"], guest);
}

#[tokio::test]
async fn a_customer_merges_their_guest_record_through_a_claim() {
    let (app, webhook) = with_webhook().await;
    let admin = app.admin_token().await;
    let first = place(&app, None, order_input(Some("cy@example.com"))).await;
    let second = place(&app, None, order_input(Some("cy@example.com"))).await;
    let guest = app.owner_of(&first["id"]).await["id"].clone();
    let (cy, cy_id) = app.register("cy@example.com").await;
    // She claims one order and merges the guest record: the other order comes too.
    app.data(Some(&cy), REQUEST, json!({ "ids": [first["id"]] }))
        .await;
    let claim = token(&nth_claim(&app, &webhook, "cy@example.com", 1).await);
    let claimed = app
        .data(
            Some(&cy),
            "mutation($token: String!) { confirmOrderClaim(token: $token, mergeGuestRecord: true) { id } }",
            json!({ "token": claim }),
        )
        .await;
    assert_eq!(claimed["confirmOrderClaim"], json!([{ "id": first["id"] }]));
    assert_eq!(app.owner_of(&second["id"]).await["id"], cy_id);
    let guest_state = app.data(Some(&admin), STATE, json!({ "id": guest })).await;
    assert!(guest_state["customer"]["deletedAt"].is_string());
    let mine = app
        .data(
            Some(&cy),
            "{ me { orderCount events(first: 5) { nodes { kind actor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(mine["me"]["orderCount"], 2);
    assert_eq!(
        mine["me"]["events"]["nodes"][0],
        json!({ "kind": "CUSTOMER_MERGE", "actor": "CUSTOMER" })
    );
}
