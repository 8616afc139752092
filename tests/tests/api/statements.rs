//! N+1 guard: a page with every relation expanded costs the same number of SQL
//! statements whatever its size, because every relation goes through a dataloader.
//!
//! Each query reaches every loader from one place only. A loader reached from two
//! places (say `address.customer` and `order.customer`) batches the keys of both when
//! their parents arrive together and makes two statements when they do not: still
//! independent of the page size, but not a fixed number to assert on.

use serde_json::{Value, json};
use tests::TestApp;

const CUSTOMERS: &str = "query($size: Int!) {
    customers(first: $size) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes {
            id email hasAccount
            groups { id name customers(first: 3) { totalCount nodes { id } } }
            billingAddress { id city } defaultShippingAddress { id }
            shippingAddresses { id countryCode customer { id email } }
            sessions { id lastUsedAt }
            consents { purpose granted }
            orders(first: 4) {
                totalCount
                nodes { id displayId total { amount } lineItems { title total { amount } } }
            }
        }
    }
}";

/// Statements executed to answer one request, and its data.
async fn measure(app: &TestApp, token: &str, query: &str, variables: Value) -> (u64, Value) {
    let before = app.statements();
    let data = app.data(Some(token), query, variables).await;
    (app.statements() - before, data)
}

fn nodes(data: &Value, list: &str) -> usize {
    data[list]["nodes"].as_array().unwrap().len()
}

#[tokio::test]
async fn customer_pages_cost_a_fixed_number_of_statements() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 300).await.unwrap();
    let token = app.admin_token().await;

    let (small, small_data) = measure(&app, &token, CUSTOMERS, json!({ "size": 10 })).await;
    let (large, large_data) = measure(&app, &token, CUSTOMERS, json!({ "size": 100 })).await;
    assert_eq!(nodes(&small_data, "customers"), 10);
    assert_eq!(nodes(&large_data, "customers"), 100);
    // The seed gives most customers addresses, groups and orders, so every loader ran.
    let expanded = large_data["customers"]["nodes"].as_array().unwrap();
    assert!(
        expanded
            .iter()
            .any(|c| !c["orders"]["nodes"].as_array().unwrap().is_empty())
    );
    assert!(
        expanded
            .iter()
            .any(|c| !c["groups"].as_array().unwrap().is_empty())
    );
    assert!(expanded.iter().any(|c| c["billingAddress"].is_object()));
    eprintln!("customers page: {small} statements for 10, {large} for 100");
    assert_eq!(small, large, "statement count grew with the page size");
    // Session, page, count, and one per relation: a fixed, small number.
    assert!(large <= 14, "{large} statements");
}

#[tokio::test]
async fn group_and_order_pages_cost_a_fixed_number_of_statements() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 300).await.unwrap();
    let token = app.admin_token().await;

    let groups = "query($size: Int!) { customerGroups(first: $size) { nodes {
        id customers(first: 10) { totalCount nodes { id groups { id } orders(first: 2) { nodes { id } } } } } } }";
    let (small, _) = measure(&app, &token, groups, json!({ "size": 2 })).await;
    let (large, data) = measure(&app, &token, groups, json!({ "size": 20 })).await;
    assert_eq!(nodes(&data, "customerGroups"), 20);
    eprintln!("groups page: {small} statements for 2, {large} for 20");
    assert_eq!(small, large);

    let orders = "query($size: Int!) { orders(first: $size) { totalCount nodes {
        id lineItems { id } customer { id billingAddress { id } groups { id } } } } }";
    let (small, _) = measure(&app, &token, orders, json!({ "size": 10 })).await;
    let (large, data) = measure(&app, &token, orders, json!({ "size": 100 })).await;
    assert_eq!(nodes(&data, "orders"), 100);
    eprintln!("orders page: {small} statements for 10, {large} for 100");
    assert_eq!(small, large);
}

#[tokio::test]
async fn audit_trails_and_order_transfers_load_in_fixed_statements() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 300).await.unwrap();
    let token = app.admin_token().await;
    // Every customer on the first page gets audit entries; one gets a transferred order.
    let page = app
        .data(
            Some(&token),
            "{ customers(first: 100) { nodes { id } } }",
            json!({}),
        )
        .await;
    let ids: Vec<Value> = page["customers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    app.data(
        Some(&token),
        "mutation { createCustomerGroup(name: \"Audited\") { id } }",
        json!({}),
    )
    .await;
    let group = app
        .data(
            Some(&token),
            "{ customerGroups(filter: { search: \"Audited\" }) { nodes { id } } }",
            json!({}),
        )
        .await["customerGroups"]["nodes"][0]["id"]
        .clone();
    app.data(
        Some(&token),
        "mutation($g: ID!, $ids: [ID!]!) { addCustomersToGroup(groupId: $g, customerIds: $ids) { id } }",
        json!({ "g": group, "ids": ids }),
    )
    .await;

    let order = app
        .data(
            Some(&token),
            "{ orders(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await["orders"]["nodes"][0]["id"]
        .clone();
    app.data(
        Some(&token),
        "mutation($o: ID!, $c: ID!) { transferOrder(orderId: $o, customerId: $c) { id } }",
        json!({ "o": order, "c": ids[0] }),
    )
    .await;

    let trails = "query($size: Int!) { customers(first: $size) { nodes {
        adminActions(first: 3) { nodes { action admin { email } } }
        events(first: 3) { nodes { kind actor } }
        orders(first: 2) { nodes { transfers { kind toCustomerId } } } } } }";
    let (small, _) = measure(&app, &token, trails, json!({ "size": 10 })).await;
    let (large, data) = measure(&app, &token, trails, json!({ "size": 100 })).await;
    // (The order moved away from this customer, so its newest action may be that.)
    let actions = data["customers"]["nodes"][1]["adminActions"]["nodes"]
        .as_array()
        .unwrap();
    let joined = actions
        .iter()
        .find(|a| a["action"] == "GROUP_ADD_CUSTOMER")
        .expect("the membership is on the trail");
    assert_eq!(joined["admin"]["email"], tests::ADMIN_EMAIL);
    let events = data["customers"]["nodes"][1]["events"]["nodes"]
        .as_array()
        .unwrap();
    assert!(events.iter().any(|e| e["actor"] == "ADMIN"), "{events:?}");
    let transferred = data["customers"]["nodes"][0]["orders"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["transfers"][0]["kind"] == "ADMIN_TRANSFER");
    assert!(transferred, "{data}");
    eprintln!("audit trails: {small} statements for 10, {large} for 100");
    assert_eq!(small, large);
}

const SEARCH_PAGE: &str = "query($size: Int!, $search: String) {
    customers(first: $size, filter: { search: $search }) {
        totalCount totalCountPrecision
        nodes { id billingAddress { id } shippingAddresses { id } groups { id } }
    }
}";

#[tokio::test]
async fn search_and_count_cost_a_fixed_number_of_statements() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 300).await.unwrap();
    let token = app.admin_token().await;
    let variables = |size: i32, search: &str| json!({ "size": size, "search": search });

    // "hopper" matches about one customer in 24; "a" (one letter: no trigram to look
    // up) matches most of them.
    for search in ["hopper", "a", "grace hopper"] {
        let (small, _) = measure(&app, &token, SEARCH_PAGE, variables(2, search)).await;
        let (large, data) = measure(&app, &token, SEARCH_PAGE, variables(100, search)).await;
        let total = data["customers"]["totalCount"].as_u64().unwrap();
        assert!(total > 0, "{search}");
        assert_eq!(data["customers"]["totalCountPrecision"], "EXACT");
        assert_eq!(nodes(&data, "customers") as u64, total.min(100));
        eprintln!("search {search:?}: {small} statements for 2, {large} for 100");
        assert_eq!(small, large, "statement count grew with the page size");
    }

    // totalCount and totalCountPrecision share one count statement.
    let count_only = "query($search: String) { customers(first: 1, filter: { search: $search }) {
        totalCount } }";
    let both = "query($search: String) { customers(first: 1, filter: { search: $search }) {
        totalCount totalCountPrecision } }";
    let (one, _) = measure(&app, &token, count_only, json!({ "search": "hopper" })).await;
    let (two, _) = measure(&app, &token, both, json!({ "search": "hopper" })).await;
    assert_eq!(one, two);
}
