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

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_unavailable_not_internal() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    // Close the server's pool under it: every acquire now fails as if the database
    // had gone away.
    app.db().clone().close().await.unwrap();
    let response = app
        .http()
        .post(format!("{}/graphql", app.base_url))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ customers { totalCount } }" }))
        .send()
        .await
        .unwrap();
    let request_id = tests::request_id(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body}");
    let logged = tests::logs::captured();
    let line = logged
        .lines()
        .find(|line| line.contains(&request_id) && line.contains("database unavailable"))
        .unwrap_or_else(|| panic!("no log line for {request_id}"));
    assert!(line.contains("WARN"), "{line}");
}

#[tokio::test]
async fn every_error_code_is_in_the_schema() {
    let app = TestApp::spawn().await;
    let data = app.data(None, "{ errorCodes }", json!({})).await;
    let codes: Vec<&str> = data["errorCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for code in [
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "BAD_USER_INPUT",
        "INVALID_CREDENTIALS",
        "EMAIL_TAKEN",
        "NAME_TAKEN",
        "INVALID_TOKEN",
        "ALREADY_CLAIMED",
        "RATE_LIMITED",
        "INVALID_QUERY",
        "BAD_REQUEST",
        "TIMEOUT",
        "OVERLOADED",
        "UNAVAILABLE",
        "DATA_UNREADABLE",
        "INTERNAL",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    // The reference table in docs/api.md explains every code the schema has.
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
    for code in &codes {
        assert!(
            docs.contains(&format!("`{code}`")),
            "docs/api.md does not explain {code}"
        );
    }
}

/// Each phase of the engine gives its errors their code: parsing and validation are
/// the document's (INVALID_QUERY), variable values and field arguments are the
/// client's input (BAD_USER_INPUT, naming the field).
#[tokio::test]
async fn engine_errors_are_classified_by_phase() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let cases = [
        ("{ customers { ", json!({}), "INVALID_QUERY", None),
        ("{ noSuchField }", json!({}), "INVALID_QUERY", None),
        (
            "{ customers(first: \"ten\") { totalCount } }",
            json!({}),
            "INVALID_QUERY",
            None,
        ),
        (
            "query($n: Int) { customers(first: $n) { totalCount } }",
            json!({ "n": "ten" }),
            "BAD_USER_INPUT",
            Some("n"),
        ),
        (
            "query($n: Int!) { customers(first: $n) { totalCount } }",
            json!({}),
            "BAD_USER_INPUT",
            Some("n"),
        ),
        // In range for the variable's declared Int, out of range for the argument.
        (
            "query($n: Int) { customers(first: $n) { totalCount } }",
            json!({ "n": 1_i64 << 40 }),
            "BAD_USER_INPUT",
            Some("first"),
        ),
        (
            "query($f: CustomerFilterInput) { customers(filter: $f) { totalCount } }",
            json!({ "f": { "nope": 1 } }),
            "BAD_USER_INPUT",
            Some("f.nope"),
        ),
    ];
    let refused_alike = async |query: &str, variables: &serde_json::Value, code, field| {
        let response = app.gql(Some(&token), query, variables.clone()).await;
        assert_eq!(error_code(&response), code, "{query}: {response}");
        if let Some(field) = field {
            assert_eq!(
                response["errors"][0]["extensions"]["field"], field,
                "{query}: {response}"
            );
        }
    };
    for (query, variables, code, field) in &cases {
        refused_alike(query, variables, *code, *field).await;
    }
    // Once a document has run, the engine validates it quickly (docs/performance.md):
    // wrong variables for it are still refused alike.
    let good = json!({ "n": 5, "f": { "search": "a" } });
    for (query, variables, code, field) in &cases {
        if query.contains('$') {
            let response = app.gql(Some(&token), query, good.clone()).await;
            assert!(response.get("errors").is_none(), "{query}: {response}");
            refused_alike(query, variables, *code, *field).await;
        }
    }
}

#[tokio::test]
async fn each_request_logs_one_line_with_its_outcome_and_never_its_variables() {
    let app = TestApp::spawn().await;
    let response = app
        .http()
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({
            "query": "mutation SignIn($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            "operationName": "SignIn",
            "variables": { "e": "nobody@example.com", "p": "a secret variable" },
        }))
        .send()
        .await
        .unwrap();
    let request_id = tests::request_id(&response);
    let logged = tests::logs::captured();
    let lines: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains(&request_id) && line.contains(" request "))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = lines[0];
    for part in [
        "status=200",
        "operation=\"SignIn\"",
        "codes=\"INVALID_CREDENTIALS\"",
        "principal=\"anonymous\"",
        "duration_ms=",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
    assert!(!logged.contains("a secret variable"));
}
