//! Syncing customers from other systems: upserts by external id or email, and bulk
//! updates and deletes with a result per row.

use serde_json::{Value, json};
use tests::{TestApp, error_code};

const UPSERT: &str = "mutation($input: UpsertCustomerInput!) {
    upsertCustomer(input: $input) { created customer { id email externalId firstName metadata hasAccount } } }";

async fn upsert(app: &TestApp, admin: &str, input: Value) -> Value {
    app.data(Some(admin), UPSERT, json!({ "input": input }))
        .await["upsertCustomer"]
        .clone()
}

async fn trail(app: &TestApp, admin: &str, id: &Value) -> Vec<Value> {
    app.data(
        Some(admin),
        "query($id: ID!) { customer(id: $id, includeDeleted: true) { adminActions { nodes { action details } } } }",
        json!({ "id": id }),
    )
    .await["customer"]["adminActions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].clone())
        .collect()
}

#[tokio::test]
async fn an_upsert_creates_then_updates_by_external_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let first = upsert(
        &app,
        &admin,
        json!({ "externalId": " ERP-1 ", "email": "Ada@Example.com", "firstName": "Ada",
                "metadata": { "tier": "gold" } }),
    )
    .await;
    assert_eq!(first["created"], true);
    let customer = &first["customer"];
    assert_eq!(customer["externalId"], "ERP-1");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["hasAccount"], false);

    // The other system changed the email and added a key: same customer, merged.
    let second = upsert(
        &app,
        &admin,
        json!({ "externalId": "ERP-1", "email": "ada@new.example", "metadata": { "region": "EU" } }),
    )
    .await;
    assert_eq!(second["created"], false);
    assert_eq!(second["customer"]["id"], customer["id"]);
    assert_eq!(second["customer"]["email"], "ada@new.example");
    assert_eq!(
        second["customer"]["firstName"], "Ada",
        "omitted fields stay"
    );
    assert_eq!(
        second["customer"]["metadata"],
        json!({ "tier": "gold", "region": "EU" })
    );
    assert_eq!(
        trail(&app, &admin, &customer["id"]).await,
        [json!("CUSTOMER_UPDATE"), json!("CUSTOMER_CREATE")]
    );
}

#[tokio::test]
async fn an_upsert_without_a_known_external_id_matches_by_email_and_links_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // A guest record and a registered customer share the email: the account wins.
    app.data(
        None,
        r#"mutation { placeOrder(input: { email: "sam@example.com", currencyCode: "EUR",
            lineItems: [{ title: "Tea", quantity: 1, unitPrice: 450 }],
            shippingAddress: { countryCode: "GB" } }) { id } }"#,
        json!({}),
    )
    .await;
    let (_, sam) = app.register("sam@example.com").await;
    let linked = upsert(
        &app,
        &admin,
        json!({ "externalId": "CRM-7", "email": "sam@example.com" }),
    )
    .await;
    assert_eq!(linked["created"], false);
    assert_eq!(linked["customer"]["id"], sam);
    assert_eq!(linked["customer"]["externalId"], "CRM-7");
    // Without an external id, the email alone matches.
    let again = upsert(
        &app,
        &admin,
        json!({ "email": "sam@example.com", "firstName": "Sam" }),
    )
    .await;
    assert_eq!(again["customer"]["id"], sam);
    assert_eq!(again["customer"]["externalId"], "CRM-7");
    // A different external id for the same email is refused, not silently relinked.
    let response = app
        .gql(
            Some(&admin),
            UPSERT,
            json!({ "input": { "externalId": "CRM-8", "email": "sam@example.com" } }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(
        response["errors"][0]["extensions"]["field"],
        "input.externalId"
    );
}

#[tokio::test]
async fn external_ids_are_unique_among_live_customers() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let create = "mutation($email: String!, $ext: String) {
        createCustomer(email: $email, externalId: $ext) { id externalId } }";
    let first = app
        .data(
            Some(&admin),
            create,
            json!({ "email": "a@example.com", "ext": "X-1" }),
        )
        .await["createCustomer"]["id"]
        .clone();
    let taken = app
        .gql(
            Some(&admin),
            create,
            json!({ "email": "b@example.com", "ext": "X-1" }),
        )
        .await;
    assert_eq!(error_code(&taken), "EXTERNAL_ID_TAKEN");
    assert_eq!(
        taken["errors"][0]["extensions"]["conflictingCustomerId"],
        first
    );
    let second = app
        .data(
            Some(&admin),
            create,
            json!({ "email": "b@example.com", "ext": "X-2" }),
        )
        .await["createCustomer"]["id"]
        .clone();
    let update = "mutation($id: ID!, $ext: String) {
        updateCustomer(id: $id, input: { externalId: $ext }) { externalId } }";
    let clash = app
        .gql(Some(&admin), update, json!({ "id": second, "ext": "X-1" }))
        .await;
    assert_eq!(error_code(&clash), "EXTERNAL_ID_TAKEN");
    // Deleting frees it; restoring the first then clashes with its new holder.
    app.data(
        Some(&admin),
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
        json!({ "id": first }),
    )
    .await;
    app.data(Some(&admin), update, json!({ "id": second, "ext": "X-1" }))
        .await;
    let restore = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { restoreCustomer(id: $id) { id } }",
            json!({ "id": first }),
        )
        .await;
    assert_eq!(error_code(&restore), "EXTERNAL_ID_TAKEN");
    // `null` clears it; customers never see it.
    let cleared = app
        .data(Some(&admin), update, json!({ "id": second, "ext": null }))
        .await;
    assert_eq!(cleared["updateCustomer"]["externalId"], Value::Null);
    let (token, _) = app.register("c@example.com").await;
    let mine = app
        .gql(Some(&token), "{ me { externalId } }", json!({}))
        .await;
    assert_eq!(error_code(&mine), "FORBIDDEN");
}

#[tokio::test]
async fn concurrent_upserts_of_one_new_customer_create_it_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut work = Vec::new();
    for n in 0..10 {
        let app = &app;
        let admin = admin.clone();
        work.push(Box::pin(async move {
            upsert(
                app,
                &admin,
                json!({ "externalId": "ERP-9", "email": "race@example.com", "firstName": format!("Try {n}") }),
            )
            .await
        }));
    }
    let results = tests::join_all(work).await;
    let created = results.iter().filter(|r| r["created"] == true).count();
    assert_eq!(created, 1, "{results:?}");
    let ids: std::collections::BTreeSet<String> = results
        .iter()
        .map(|r| r["customer"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
}

#[tokio::test]
async fn bulk_updates_and_deletes_answer_row_by_row() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let created = upsert(
            &app,
            &admin,
            json!({ "email": format!("c{n}@example.com") }),
        )
        .await;
        ids.push(created["customer"]["id"].clone());
    }
    let missing = uuid::Uuid::now_v7().to_string();
    let bulk = app
        .data(
            Some(&admin),
            "mutation($updates: [CustomerUpdate!]!) { updateCustomers(updates: $updates) {
                id customer { firstName } error { code field message } } }",
            json!({ "updates": [
                { "id": ids[0], "input": { "firstName": "First" } },
                { "id": ids[1], "input": { "email": "not an email" } },
                { "id": missing, "input": { "firstName": "Nobody" } },
                { "id": ids[2], "input": { "firstName": "Third" } },
            ] }),
        )
        .await;
    let rows = bulk["updateCustomers"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["customer"]["firstName"], "First");
    assert_eq!(rows[1]["error"]["code"], "BAD_USER_INPUT");
    assert_eq!(rows[1]["error"]["field"], "email");
    assert_eq!(rows[2]["id"], missing);
    assert_eq!(rows[2]["error"]["code"], "NOT_FOUND");
    assert_eq!(rows[3]["customer"]["firstName"], "Third");
    assert_eq!(trail(&app, &admin, &ids[0]).await[0], "CUSTOMER_UPDATE");

    let deleted = app
        .data(
            Some(&admin),
            "mutation($ids: [ID!]!) { deleteCustomers(ids: $ids) { id customer { deletedAt } error { code } } }",
            json!({ "ids": [ids[0], ids[0], missing] }),
        )
        .await;
    let rows = deleted["deleteCustomers"].as_array().unwrap();
    assert!(rows[0]["customer"]["deletedAt"].is_string());
    assert_eq!(rows[1]["error"]["code"], "NOT_FOUND", "deleted already");
    assert_eq!(rows[2]["error"]["code"], "NOT_FOUND");
    assert_eq!(trail(&app, &admin, &ids[0]).await[0], "CUSTOMER_DELETE");

    let too_many: Vec<Value> = (0..101)
        .map(|_| json!(uuid::Uuid::now_v7().to_string()))
        .collect();
    let response = app
        .gql(
            Some(&admin),
            "mutation($ids: [ID!]!) { deleteCustomers(ids: $ids) { id } }",
            json!({ "ids": too_many }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    // Customers and anonymous callers cannot sync.
    let (token, _) = app.register("x@example.com").await;
    for (caller, code) in [
        (Some(token.as_str()), "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ] {
        let response = app
            .gql(
                caller,
                UPSERT,
                json!({ "input": { "email": "y@example.com" } }),
            )
            .await;
        assert_eq!(error_code(&response), code);
    }
}
