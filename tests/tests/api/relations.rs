//! Every relation resolves to the right rows, in both directions.

use serde_json::{Value, json};
use tests::{CustomerSpec, TestApp, at, node_ids};
use uuid::Uuid;

struct Store {
    ada: Uuid,
    bob: Uuid,
    gone: Uuid,
    vip: Uuid,
    wholesale: Uuid,
    retired: Uuid,
    ada_home: Uuid,
    ada_work: Uuid,
    ada_orders: [Uuid; 2],
    bob_order: Uuid,
    gone_order: Uuid,
}

/// Ada (registered, two addresses, billing at home, in two live groups and a deleted
/// one, two orders), Bob (guest, one group, one order) and a soft-deleted customer
/// with an order.
async fn store(app: &TestApp) -> Store {
    let ada = app
        .customer(CustomerSpec {
            email: "ada@example.com",
            has_account: true,
            first_name: Some("Ada"),
            last_name: Some("Lovelace"),
            created_at: Some(at(10)),
            ..Default::default()
        })
        .await;
    let bob = app
        .customer(CustomerSpec {
            email: "bob@example.com",
            created_at: Some(at(20)),
            ..Default::default()
        })
        .await;
    let gone = app
        .customer(CustomerSpec {
            email: "gone@example.com",
            has_account: true,
            created_at: Some(at(30)),
            deleted: true,
            ..Default::default()
        })
        .await;
    let ada_home = app.address(ada, "London").await;
    let ada_work = app.address(ada, "Cambridge").await;
    app.set_billing_address(ada, ada_home).await;
    app.address(bob, "Leeds").await;

    let vip = app.group("VIP").await;
    let wholesale = app.group("Wholesale").await;
    let retired = app.group_at("Retired", at(0), true).await;
    app.join(vip, ada).await;
    app.join(wholesale, ada).await;
    app.join(retired, ada).await;
    app.join(vip, bob).await;
    app.join(vip, gone).await;

    let older = app
        .order(
            ada,
            "ada@example.com",
            at(100),
            &[("Tea", 2, 450), ("Cup", 1, 1200)],
        )
        .await;
    let newer = app
        .order(ada, "ada@example.com", at(200), &[("Pot", 1, 3000)])
        .await;
    let bob_order = app
        .order(bob, "bob@example.com", at(150), &[("Tea", 1, 450)])
        .await;
    let gone_order = app
        .order(gone, "gone@example.com", at(50), &[("Mug", 3, 800)])
        .await;
    Store {
        ada,
        bob,
        gone,
        vip,
        wholesale,
        retired,
        ada_home,
        ada_work,
        ada_orders: [newer, older],
        bob_order,
        gone_order,
    }
}

fn ids(values: &Value) -> Vec<String> {
    values
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {values:#}"))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

fn strings(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

#[tokio::test]
async fn customer_relations_resolve_from_the_customer_side() {
    let app = TestApp::spawn().await;
    let s = store(&app).await;
    let token = app.admin_token().await;
    let data = app
        .data(
            Some(&token),
            "query($id: ID!) { customer(id: $id) {
                id email hasAccount
                groups { id name }
                billingAddress { id city customer { id } }
                shippingAddresses { id city customer { id } }
                orders { totalCount nodes { id email total { amount currencyCode }
                    lineItems { title quantity unitPrice { amount } total { amount } }
                    customer { id } } }
            } }",
            json!({ "id": s.ada }),
        )
        .await;
    let ada = &data["customer"];
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["hasAccount"], true);
    // Live groups only, by name.
    assert_eq!(ids(&ada["groups"]), strings(&[s.vip, s.wholesale]));
    assert_eq!(ada["billingAddress"]["id"], s.ada_home.to_string());
    assert_eq!(ada["billingAddress"]["customer"]["id"], s.ada.to_string());
    assert_eq!(
        ids(&ada["shippingAddresses"]),
        strings(&[s.ada_home, s.ada_work])
    );
    for address in ada["shippingAddresses"].as_array().unwrap() {
        assert_eq!(address["customer"]["id"], s.ada.to_string());
    }
    let orders = &ada["orders"];
    assert_eq!(orders["totalCount"], 2);
    assert_eq!(node_ids(orders), strings(&s.ada_orders));
    let older = &orders["nodes"][1];
    assert_eq!(
        older["total"],
        json!({ "amount": 2100, "currencyCode": "EUR" })
    );
    assert_eq!(
        older["lineItems"],
        json!([
            { "title": "Tea", "quantity": 2, "unitPrice": { "amount": 450 }, "total": { "amount": 900 } },
            { "title": "Cup", "quantity": 1, "unitPrice": { "amount": 1200 }, "total": { "amount": 1200 } },
        ])
    );
    assert_eq!(older["customer"]["id"], s.ada.to_string());

    let bob = app
        .data(
            Some(&token),
            "query($id: ID!) { customer(id: $id) {
                billingAddress { id } groups { id } orders { nodes { id } } } }",
            json!({ "id": s.bob }),
        )
        .await;
    assert!(bob["customer"]["billingAddress"].is_null());
    assert_eq!(ids(&bob["customer"]["groups"]), strings(&[s.vip]));
    assert_eq!(
        node_ids(&bob["customer"]["orders"]),
        strings(&[s.bob_order])
    );
}

#[tokio::test]
async fn group_members_resolve_from_the_group_side() {
    let app = TestApp::spawn().await;
    let s = store(&app).await;
    let token = app.admin_token().await;
    let data = app
        .data(
            Some(&token),
            "query($vip: ID!, $wholesale: ID!) {
                vip: customerGroup(id: $vip) { name customers { totalCount nodes { id groups { name } } } }
                wholesale: customerGroup(id: $wholesale) { customers { totalCount nodes { id } } }
            }",
            json!({ "vip": s.vip, "wholesale": s.wholesale }),
        )
        .await;
    // Live members, newest customer first; the soft-deleted member is left out.
    let vip = &data["vip"]["customers"];
    assert_eq!(node_ids(vip), strings(&[s.bob, s.ada]));
    assert_eq!(vip["totalCount"], 2);
    assert_eq!(
        vip["nodes"][1]["groups"],
        json!([{ "name": "VIP" }, { "name": "Wholesale" }])
    );
    assert_eq!(node_ids(&data["wholesale"]["customers"]), strings(&[s.ada]));
    assert_eq!(data["wholesale"]["customers"]["totalCount"], 1);

    let code = app
        .error_code(
            Some(&token),
            "query($id: ID!) { customerGroup(id: $id) { id } }",
            json!({ "id": s.retired }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let retired = app
        .data(
            Some(&token),
            "query($id: ID!) { customerGroup(id: $id, includeDeleted: true) { name deletedAt } }",
            json!({ "id": s.retired }),
        )
        .await;
    assert_eq!(retired["customerGroup"]["name"], "Retired");
    assert!(retired["customerGroup"]["deletedAt"].is_string());
}

#[tokio::test]
async fn orders_and_addresses_lead_back_to_their_customer() {
    let app = TestApp::spawn().await;
    let s = store(&app).await;
    let token = app.admin_token().await;
    let data = app
        .data(
            Some(&token),
            "{ orders(first: 10) { totalCount nodes { id displayId customer { id email deletedAt } } } }",
            json!({}),
        )
        .await;
    let orders = &data["orders"];
    assert_eq!(orders["totalCount"], 4);
    // Newest first.
    assert_eq!(
        node_ids(orders),
        strings(&[s.ada_orders[0], s.bob_order, s.ada_orders[1], s.gone_order])
    );
    let owners: Vec<&str> = orders["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["customer"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        owners,
        [
            "ada@example.com",
            "bob@example.com",
            "ada@example.com",
            "gone@example.com"
        ]
    );
    // An order keeps showing its customer after a soft delete, marked as deleted.
    let gone = &orders["nodes"][3]["customer"];
    assert_eq!(gone["id"], s.gone.to_string());
    assert!(gone["deletedAt"].is_string());

    let one = app
        .data(
            Some(&token),
            "query($id: ID!) { order(id: $id) { customer { billingAddress { customer { id } } } } }",
            json!({ "id": s.ada_orders[1] }),
        )
        .await;
    assert_eq!(
        one["order"]["customer"]["billingAddress"]["customer"]["id"],
        s.ada.to_string()
    );
}

#[tokio::test]
async fn soft_deleted_customers_are_hidden_unless_asked_for() {
    let app = TestApp::spawn().await;
    let s = store(&app).await;
    let token = app.admin_token().await;
    let query = "query($id: ID!, $all: Boolean!) {
        customer(id: $id, includeDeleted: $all) { email deletedAt orders { nodes { id } } } }";
    let code = app
        .error_code(Some(&token), query, json!({ "id": s.gone, "all": false }))
        .await;
    assert_eq!(code, "NOT_FOUND");
    let data = app
        .data(Some(&token), query, json!({ "id": s.gone, "all": true }))
        .await;
    assert_eq!(data["customer"]["email"], "gone@example.com");
    assert_eq!(
        node_ids(&data["customer"]["orders"]),
        strings(&[s.gone_order])
    );

    let bad_id = app
        .error_code(
            Some(&token),
            query,
            json!({ "id": "not-a-uuid", "all": false }),
        )
        .await;
    assert_eq!(bad_id, "BAD_USER_INPUT");
}
