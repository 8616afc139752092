//! Admins manage customer groups and their members.

use serde_json::{Value, json};
use tests::{TestApp, error_code};

const CREATE: &str = "mutation($name: String!, $meta: JSON) {
    createCustomerGroup(name: $name, metadata: $meta) { id name metadata } }";
const UPDATE: &str = "mutation($id: ID!, $name: String, $meta: JSON) {
    updateCustomerGroup(id: $id, name: $name, metadata: $meta) { id name metadata } }";
const DELETE: &str = "mutation($id: ID!) { deleteCustomerGroup(id: $id) { id deletedAt } }";
const ADD: &str = "mutation($g: ID!, $c: [ID!]!) {
    addCustomersToGroup(groupId: $g, customerIds: $c) { customers { totalCount } } }";
const REMOVE: &str = "mutation($g: ID!, $c: [ID!]!) {
    removeCustomersFromGroup(groupId: $g, customerIds: $c) { customers { totalCount } } }";

async fn group(app: &TestApp, admin: &str, name: &str) -> String {
    app.data(Some(admin), CREATE, json!({ "name": name })).await["createCustomerGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn emails_in(app: &TestApp, admin: &str, group_ids: Value) -> Vec<String> {
    let data = app
        .data(
            Some(admin),
            "query($groups: [ID!]) { customers(first: 100, filter: { groupIds: $groups },
                sort: { field: EMAIL, direction: ASC }) { totalCount nodes { email } } }",
            json!({ "groups": group_ids }),
        )
        .await;
    let emails: Vec<String> = data["customers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(data["customers"]["totalCount"], emails.len());
    emails
}

#[tokio::test]
async fn group_names_are_unique_among_live_groups_whatever_their_case() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let created = app
        .data(
            Some(&admin),
            CREATE,
            json!({ "name": "  VIP ", "meta": { "discount": 10 } }),
        )
        .await;
    assert_eq!(created["createCustomerGroup"]["name"], "VIP");
    let vip = created["createCustomerGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.error_code(Some(&admin), CREATE, json!({ "name": "vip" }))
            .await,
        "NAME_TAKEN"
    );
    let blank = app
        .gql(Some(&admin), CREATE, json!({ "name": "   " }))
        .await;
    assert_eq!(blank["errors"][0]["extensions"]["field"], "name");

    // Rename onto a taken name.
    let wholesale = group(&app, &admin, "Wholesale").await;
    let renamed = app
        .gql(
            Some(&admin),
            UPDATE,
            json!({ "id": wholesale, "name": "Vip" }),
        )
        .await;
    assert_eq!(error_code(&renamed), "NAME_TAKEN");
    let ok = app
        .data(
            Some(&admin),
            UPDATE,
            json!({ "id": vip, "name": "VIP Gold", "meta": { "tier": 1 } }),
        )
        .await;
    assert_eq!(
        ok["updateCustomerGroup"],
        json!({ "id": vip, "name": "VIP Gold", "metadata": { "discount": 10, "tier": 1 } })
    );

    // Delete, then reuse the name; deleting again is NOT_FOUND.
    let deleted = app
        .data(Some(&admin), DELETE, json!({ "id": wholesale }))
        .await;
    assert!(deleted["deleteCustomerGroup"]["deletedAt"].is_string());
    assert_eq!(
        app.error_code(Some(&admin), DELETE, json!({ "id": wholesale }))
            .await,
        "NOT_FOUND"
    );
    let reused = group(&app, &admin, "wholesale").await;
    assert_ne!(reused, wholesale);
    let names = app
        .data(
            Some(&admin),
            "{ customerGroups(filter: { includeDeleted: true }) { nodes { name deletedAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        names["customerGroups"]["nodes"],
        json!([
            { "name": "VIP Gold", "deletedAt": null },
            { "name": "Wholesale", "deletedAt": deleted["deleteCustomerGroup"]["deletedAt"] },
            { "name": "wholesale", "deletedAt": null },
        ])
    );
}

#[tokio::test]
async fn membership_changes_are_batched_idempotent_and_all_or_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, ada) = app.register("ada@example.com").await;
    let (_, bob) = app.register("bob@example.com").await;
    let (_, cy) = app.register("cy@example.com").await;
    let gold = group(&app, &admin, "Gold").await;
    let silver = group(&app, &admin, "Silver").await;

    let added = app
        .data(Some(&admin), ADD, json!({ "g": gold, "c": [ada, bob] }))
        .await;
    assert_eq!(added["addCustomersToGroup"]["customers"]["totalCount"], 2);
    // Adding members again: no error, no duplicate.
    let again = app
        .data(
            Some(&admin),
            ADD,
            json!({ "g": gold, "c": [ada, bob, ada] }),
        )
        .await;
    assert_eq!(again["addCustomersToGroup"]["customers"]["totalCount"], 2);

    // One bad id: nothing changes, and the error names it.
    let ghost = uuid::Uuid::now_v7().to_string();
    let refused = app
        .gql(Some(&admin), ADD, json!({ "g": silver, "c": [cy, ghost] }))
        .await;
    assert_eq!(error_code(&refused), "NOT_FOUND");
    assert_eq!(refused["errors"][0]["extensions"]["ids"], json!([ghost]));
    assert_eq!(refused["errors"][0]["extensions"]["field"], "customerIds");
    assert!(emails_in(&app, &admin, json!([silver])).await.is_empty());

    app.data(Some(&admin), ADD, json!({ "g": silver, "c": [bob, cy] }))
        .await;
    // Overlapping groups: each member once, exactly the members.
    assert_eq!(
        emails_in(&app, &admin, json!([gold, silver])).await,
        ["ada@example.com", "bob@example.com", "cy@example.com"]
    );
    assert_eq!(
        emails_in(&app, &admin, json!([gold])).await,
        ["ada@example.com", "bob@example.com"]
    );
    assert_eq!(
        emails_in(&app, &admin, json!([silver])).await,
        ["bob@example.com", "cy@example.com"]
    );
    // A customer's groups, cheaply.
    let of_bob = app
        .data(
            Some(&admin),
            "query($id: ID!) { customerGroups(filter: { customerId: $id }) { nodes { name } } }",
            json!({ "id": bob }),
        )
        .await;
    assert_eq!(
        of_bob["customerGroups"]["nodes"],
        json!([{ "name": "Gold" }, { "name": "Silver" }])
    );

    // Removing: non-members are fine, unknown ids refuse the batch.
    let removed = app
        .data(Some(&admin), REMOVE, json!({ "g": gold, "c": [bob, cy] }))
        .await;
    assert_eq!(
        removed["removeCustomersFromGroup"]["customers"]["totalCount"],
        1
    );
    let refused = app
        .gql(
            Some(&admin),
            REMOVE,
            json!({ "g": gold, "c": [ada, ghost] }),
        )
        .await;
    assert_eq!(error_code(&refused), "NOT_FOUND");
    assert_eq!(
        emails_in(&app, &admin, json!([gold])).await,
        ["ada@example.com"]
    );

    // A deleted group's memberships stop counting.
    app.data(Some(&admin), DELETE, json!({ "id": silver }))
        .await;
    assert!(emails_in(&app, &admin, json!([silver])).await.is_empty());
    let bobs = app
        .data(
            Some(&admin),
            "query($id: ID!) { customer(id: $id) { groups { name } } }",
            json!({ "id": bob }),
        )
        .await;
    assert_eq!(bobs["customer"]["groups"], json!([]));
    // And a deleted group takes no new members.
    assert_eq!(
        app.error_code(Some(&admin), ADD, json!({ "g": silver, "c": [ada] }))
            .await,
        "NOT_FOUND"
    );

    let trail = app
        .data(
            Some(&admin),
            "query($id: ID!) { customerGroup(id: $id) { adminActions(first: 10) {
                nodes { action customerId } } } }",
            json!({ "id": gold }),
        )
        .await;
    let actions: Vec<(String, Value)> = trail["customerGroup"]["adminActions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_owned(),
                a["customerId"].clone(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("GROUP_REMOVE_CUSTOMER".to_owned(), json!(bob)),
            // One batch records its customers in id order; the trail is newest first.
            ("GROUP_ADD_CUSTOMER".to_owned(), json!(bob)),
            ("GROUP_ADD_CUSTOMER".to_owned(), json!(ada)),
            ("GROUP_CREATE".to_owned(), Value::Null),
        ]
    );
}

#[tokio::test]
async fn group_management_is_for_admins_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (customer, id) = app.register("ada@example.com").await;
    let gold = group(&app, &admin, "Gold").await;
    for (mutation, variables) in [
        (CREATE, json!({ "name": "Mine" })),
        (UPDATE, json!({ "id": gold, "name": "Mine" })),
        (DELETE, json!({ "id": gold })),
        (ADD, json!({ "g": gold, "c": [id] })),
        (REMOVE, json!({ "g": gold, "c": [id] })),
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
}
