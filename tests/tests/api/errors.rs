//! Query limits and error hygiene.

use sea_orm::ConnectionTrait;
use serde_json::json;
use tests::{CustomerSpec, TestApp, at, error_code};

#[tokio::test]
async fn documents_that_cannot_run_are_invalid_query() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let too_deep = "{ customers { nodes { orders { nodes { customer { orders { nodes {
        customer { orders { nodes { customer { id } } } } } } } } } } } }";
    // 100 customers x 100 orders x their fields is far over the complexity budget.
    let too_costly = "{ customers(first: 100) { nodes { orders(first: 100) { nodes {
        id email lineItems { id title quantity } customer { id email } } } } } }";
    for query in [
        too_deep,
        too_costly,
        "{ customers { nodes { id }",
        "{ noSuchField }",
    ] {
        let response = app.gql(Some(&token), query, json!({})).await;
        assert_eq!(error_code(&response), "INVALID_QUERY", "{query}");
    }
}

#[tokio::test]
async fn internal_errors_carry_a_request_id_and_no_internals() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let customer = app
        .customer(CustomerSpec {
            email: "a@example.com",
            ..Default::default()
        })
        .await;
    app.order(customer, "a@example.com", at(0), &[("Tea", 1, 100)])
        .await;
    // Break the database under the running server.
    app.db()
        .execute_unprepared("DROP TABLE line_item")
        .await
        .unwrap();
    let response = app
        .gql(
            Some(&token),
            "{ orders { nodes { id lineItems { title } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "INTERNAL");
    let error = &response["errors"][0];
    assert!(error["extensions"]["requestId"].is_string(), "{response}");
    let text = error.to_string().to_lowercase();
    for leak in ["line_item", "select", "sql", "table", "sqlx"] {
        assert!(!text.contains(leak), "error leaks {leak}: {text}");
    }
}
