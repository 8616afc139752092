//! The customer lifecycle beyond registration: accounts an admin disables and enables.

use serde_json::{Value, json};
use tests::{PASSWORD, TestApp, error_code};

const SET_ACTIVE: &str = "mutation($id: ID!, $active: Boolean!) {
    setCustomerActive(id: $id, active: $active) { id active disabledAt } }";
const TRAIL: &str = "query($id: ID!) { customer(id: $id) {
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
        notes(first: 5) { nodes { body author { email } lastEditedBy { email } } } } } }";
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
