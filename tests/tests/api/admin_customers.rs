//! Admins manage customers: create, update, soft delete and restore, with the audit
//! trail recording each change.

use serde_json::{Value, json};
use tests::{CustomerSpec, PASSWORD, TestApp, at, error_code, node_ids};

const CREATE: &str = "mutation($email: String!, $first: String, $meta: JSON, $groups: [ID!]) {
    createCustomer(email: $email, firstName: $first, metadata: $meta, groupIds: $groups) {
        id email hasAccount firstName metadata groups { name } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateCustomerInput!) {
    updateCustomer(id: $id, input: $input) {
        id email firstName lastName phone metadata groups { name } } }";
const DELETE: &str = "mutation($id: ID!) { deleteCustomer(id: $id) { id deletedAt } }";
const RESTORE: &str = "mutation($id: ID!) { restoreCustomer(id: $id) { id email deletedAt } }";
const TRAIL: &str = "query($id: ID!) { customer(id: $id, includeDeleted: true) {
    adminActions { nodes { action admin { email } details customerGroupId } } } }";

async fn create_group(app: &TestApp, admin: &str, name: &str) -> String {
    app.data(
        Some(admin),
        "mutation($name: String!) { createCustomerGroup(name: $name) { id } }",
        json!({ "name": name }),
    )
    .await["createCustomerGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn actions(trail: &Value) -> Vec<String> {
    trail["customer"]["adminActions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn admins_create_customers_without_accounts() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vip = create_group(&app, &admin, "VIP").await;
    let data = app
        .data(
            Some(&admin),
            CREATE,
            json!({ "email": " Walk.In@Example.com ", "first": "Wally",
                    "meta": { "source": "shop" }, "groups": [vip] }),
        )
        .await;
    let created = &data["createCustomer"];
    assert_eq!(created["email"], "walk.in@example.com");
    assert_eq!(created["hasAccount"], false);
    assert_eq!(created["metadata"], json!({ "source": "shop" }));
    assert_eq!(created["groups"], json!([{ "name": "VIP" }]));

    // The same email rules as everywhere: one live record without an account.
    let again = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "email": "WALK.IN@example.com" }),
        )
        .await;
    assert_eq!(error_code(&again), "EMAIL_TAKEN");
    assert_eq!(
        again["errors"][0]["extensions"]["conflictingCustomerId"],
        created["id"]
    );
    // A registered customer with the email is another kind of record.
    app.register("walk.in@example.com").await;

    let bad_group = app
        .gql(
            Some(&admin),
            CREATE,
            json!({ "email": "x@example.com", "groups": [uuid::Uuid::now_v7()] }),
        )
        .await;
    assert_eq!(error_code(&bad_group), "NOT_FOUND");
    assert_eq!(bad_group["errors"][0]["extensions"]["field"], "groupIds");
    let none = app
        .data(
            Some(&admin),
            "{ customers(filter: { search: \"x@example.com\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(none["customers"]["totalCount"], 0, "nothing half-written");

    let trail = app
        .data(Some(&admin), TRAIL, json!({ "id": created["id"] }))
        .await;
    assert_eq!(actions(&trail), ["GROUP_ADD_CUSTOMER", "CUSTOMER_CREATE"]);
    assert_eq!(
        trail["customer"]["adminActions"]["nodes"][0]["admin"]["email"],
        tests::ADMIN_EMAIL
    );
}

#[tokio::test]
async fn updating_a_customer_keeps_the_email_rule_and_merges_metadata() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (token, ada) = app.register("ada@example.com").await;
    app.register("bob@example.com").await;
    let gold = create_group(&app, &admin, "Gold").await;
    let silver = create_group(&app, &admin, "Silver").await;

    let updated = app
        .data(
            Some(&admin),
            UPDATE,
            json!({ "id": ada, "input": { "email": "Ada@New.example", "firstName": "Ada",
                    "phone": "+1", "metadata": { "a": 1, "b": 2 }, "groupIds": [gold, silver] } }),
        )
        .await;
    assert_eq!(
        updated["updateCustomer"],
        json!({ "id": ada, "email": "ada@new.example", "firstName": "Ada", "lastName": null,
                "phone": "+1", "metadata": { "a": 1, "b": 2 },
                "groups": [{ "name": "Gold" }, { "name": "Silver" }] })
    );
    // The login email moved with it.
    assert!(app.login("ada@new.example", PASSWORD).await["data"]["login"].is_object());
    assert_eq!(
        app.data(Some(&token), "{ me { email } }", json!({})).await["me"]["email"],
        "ada@new.example"
    );

    let merged = app
        .data(
            Some(&admin),
            UPDATE,
            json!({ "id": ada, "input": { "metadata": { "b": null, "c": 3 }, "phone": null,
                    "groupIds": [silver] } }),
        )
        .await;
    let customer = &merged["updateCustomer"];
    assert_eq!(customer["metadata"], json!({ "a": 1, "c": 3 }));
    assert_eq!(customer["phone"], Value::Null);
    assert_eq!(customer["firstName"], "Ada");
    assert_eq!(customer["groups"], json!([{ "name": "Silver" }]));

    let taken = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": ada, "input": { "email": "BOB@example.com" } }),
        )
        .await;
    assert_eq!(error_code(&taken), "EMAIL_TAKEN");
    assert!(taken["errors"][0]["extensions"]["conflictingCustomerId"].is_string());
    let invalid = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": ada, "input": { "email": "nope" } }),
        )
        .await;
    assert_eq!(invalid["errors"][0]["extensions"]["field"], "email");
    let missing = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": uuid::Uuid::now_v7(), "input": {} }),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}

#[tokio::test]
async fn the_soft_delete_story() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (token, ada) = app.register("ada@example.com").await;
    let ada_id: uuid::Uuid = ada.parse().unwrap();
    let vip = create_group(&app, &admin, "VIP").await;
    app.data(
        Some(&admin),
        "mutation($g: ID!, $c: [ID!]!) { addCustomersToGroup(groupId: $g, customerIds: $c) { id } }",
        json!({ "g": vip, "c": [ada] }),
    )
    .await;
    let order = app
        .order(ada_id, "ada@example.com", at(0), &[("Tea", 1, 100)])
        .await;
    let home = app.address(ada_id, "London").await;

    // Delete: hidden from every normal read, session dead, login refused.
    let deleted = app.data(Some(&admin), DELETE, json!({ "id": ada })).await;
    assert!(deleted["deleteCustomer"]["deletedAt"].is_string());
    assert_eq!(
        app.error_code(Some(&token), "{ me { id } }", json!({}))
            .await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.login("ada@example.com", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    let reads = app
        .data(
            Some(&admin),
            "query($vip: ID!) {
                customers { totalCount nodes { id } }
                customerGroup(id: $vip) { customers { totalCount nodes { id } } }
            }",
            json!({ "vip": vip }),
        )
        .await;
    assert_eq!(reads["customers"]["totalCount"], 0);
    assert_eq!(reads["customerGroup"]["customers"]["totalCount"], 0);
    assert_eq!(
        app.error_code(
            Some(&admin),
            "query($id: ID!) { customer(id: $id) { id } }",
            json!({ "id": ada })
        )
        .await,
        "NOT_FOUND"
    );
    // Deleting twice is NOT_FOUND.
    assert_eq!(
        app.error_code(Some(&admin), DELETE, json!({ "id": ada }))
            .await,
        "NOT_FOUND"
    );

    // The email is free: a new registration creates a new record.
    let (_, newcomer) = app.register("ada@example.com").await;
    assert_ne!(newcomer, ada);

    // Restoring would give the email two live registered records: refused, named.
    let refused = app.gql(Some(&admin), RESTORE, json!({ "id": ada })).await;
    assert_eq!(error_code(&refused), "EMAIL_TAKEN");
    assert_eq!(
        refused["errors"][0]["extensions"]["conflictingCustomerId"],
        newcomer
    );

    // The old record is still there with include-deleted, its order and address intact.
    let history = app
        .data(
            Some(&admin),
            "query($id: ID!) {
                customer(id: $id, includeDeleted: true) { email deletedAt
                    orders { nodes { id customer { id } } } shippingAddresses { id } }
                customers(filter: { includeDeleted: true, search: \"ada\" }) { totalCount }
            }",
            json!({ "id": ada }),
        )
        .await;
    let old = &history["customer"];
    assert!(old["deletedAt"].is_string());
    assert_eq!(node_ids(&old["orders"]), [order.to_string()]);
    assert_eq!(
        old["shippingAddresses"],
        json!([{ "id": home.to_string() }])
    );
    assert_eq!(history["customers"]["totalCount"], 2);

    // Once the newcomer is gone, the old record can come back.
    app.data(Some(&admin), DELETE, json!({ "id": newcomer }))
        .await;
    let restored = app.data(Some(&admin), RESTORE, json!({ "id": ada })).await;
    assert_eq!(restored["restoreCustomer"]["deletedAt"], Value::Null);
    assert!(app.login("ada@example.com", PASSWORD).await["data"]["login"].is_object());
    // Restoring a live customer is NOT_FOUND.
    assert_eq!(
        app.error_code(Some(&admin), RESTORE, json!({ "id": ada }))
            .await,
        "NOT_FOUND"
    );

    let trail = app.data(Some(&admin), TRAIL, json!({ "id": ada })).await;
    assert_eq!(
        actions(&trail),
        ["CUSTOMER_RESTORE", "CUSTOMER_DELETE", "GROUP_ADD_CUSTOMER"]
    );
}

#[tokio::test]
async fn a_guest_record_is_restored_next_to_a_registered_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let guest = app
        .customer(CustomerSpec {
            email: "pat@example.com",
            ..Default::default()
        })
        .await;
    app.data(Some(&admin), DELETE, json!({ "id": guest })).await;
    app.register("pat@example.com").await;
    // Different kinds: no conflict.
    let restored = app
        .data(Some(&admin), RESTORE, json!({ "id": guest }))
        .await;
    assert_eq!(restored["restoreCustomer"]["email"], "pat@example.com");
}

#[tokio::test]
async fn customer_management_is_for_admins_only() {
    let app = TestApp::spawn().await;
    let (customer, id) = app.register("ada@example.com").await;
    for (mutation, variables) in [
        (CREATE, json!({ "email": "x@example.com" })),
        (UPDATE, json!({ "id": id, "input": { "firstName": "X" } })),
        (DELETE, json!({ "id": id })),
        (RESTORE, json!({ "id": id })),
    ] {
        assert_eq!(
            app.error_code(None, mutation, variables.clone()).await,
            "UNAUTHENTICATED"
        );
        assert_eq!(
            app.error_code(Some(&customer), mutation, variables).await,
            "FORBIDDEN"
        );
    }
    assert_eq!(
        app.error_code(
            Some(&customer),
            "{ me { adminActions { nodes { id } } } }",
            json!({})
        )
        .await,
        "FORBIDDEN"
    );
}
