//! No input crashes the server or poisons a record: every input is bounded where it
//! enters, a stored value that cannot be decoded degrades one field, and malformed
//! requests answer as GraphQL errors.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tests::{PASSWORD, TestApp, error_code};

const CUSTOMERS: &str = "query($filter: CustomerFilterInput) {
    customers(filter: $filter) { totalCount nodes { id email metadata } } }";

/// `{"a":{"a":...}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
}

fn assert_bad_input(response: &Value, field: &str) {
    assert_eq!(error_code(response), "BAD_USER_INPUT", "{response}");
    assert_eq!(
        response["errors"][0]["extensions"]["field"], field,
        "{response}"
    );
}

#[tokio::test]
async fn a_search_of_thousands_of_words_is_refused_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    // Once enough to overflow the stack and abort the process.
    let words = "a ".repeat(15_000);
    let response = app
        .gql(
            Some(&token),
            CUSTOMERS,
            json!({ "filter": { "search": words } }),
        )
        .await;
    assert_bad_input(&response, "filter.search");
    // Nearly a mebibyte of words, just under the body limit.
    let megabyte = "ab ".repeat(340_000);
    let response = app
        .gql(
            Some(&token),
            CUSTOMERS,
            json!({ "filter": { "search": megabyte } }),
        )
        .await;
    assert_bad_input(&response, "filter.search");
    let groups = "query($s: String) { customerGroups(filter: { search: $s }) { totalCount } }";
    let response = app
        .gql(Some(&token), groups, json!({ "s": "x".repeat(1_000_000) }))
        .await;
    assert_bad_input(&response, "filter.search");
    app.still_serves().await;
    // A search within the bounds still works.
    let data = app
        .data(
            Some(&token),
            CUSTOMERS,
            json!({ "filter": { "search": "a b c" } }),
        )
        .await;
    assert_eq!(data["customers"]["totalCount"], 0);
}

#[tokio::test]
async fn a_filter_naming_thousands_of_groups_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let ids: Vec<String> = (0..20_000)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let response = app
        .gql(
            Some(&token),
            CUSTOMERS,
            json!({ "filter": { "groupIds": ids } }),
        )
        .await;
    assert_bad_input(&response, "filter.groupIds");
    app.still_serves().await;
}

#[tokio::test]
async fn a_customer_cannot_be_put_in_thousands_of_groups_at_once() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let ids: Vec<String> = (0..5_000)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let create = "mutation($ids: [ID!]) { createCustomer(email: \"many@example.com\", groupIds: $ids) { id } }";
    let response = app.gql(Some(&token), create, json!({ "ids": ids })).await;
    assert_bad_input(&response, "groupIds");
    let data = app.data(Some(&token), CUSTOMERS, json!({})).await;
    assert_eq!(data["customers"]["totalCount"], 0, "nothing was written");
}

#[tokio::test]
async fn deeply_nested_metadata_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("deep@example.com").await;
    let update = "mutation($m: JSON) { updateMe(metadata: $m) { metadata } }";
    let response = app
        .gql(Some(&token), update, json!({ "m": nested(100) }))
        .await;
    assert_bad_input(&response, "metadata");
    // 128 levels written inline in the document: the parser is never handed it.
    let inline = format!(
        "mutation {{ updateMe(metadata: {}{}) {{ id }} }}",
        "{a: ".repeat(127),
        "{}".to_owned() + &"}".repeat(127)
    );
    let response = app.gql(Some(&token), &inline, json!({})).await;
    assert_eq!(error_code(&response), "INVALID_QUERY", "{response}");
    let data = app
        .data(Some(&token), "{ me { metadata } }", json!({}))
        .await;
    assert!(data["me"]["metadata"].is_null(), "{data}");
    // The deepest accepted value reads back.
    let deepest = nested(api::domain::fields::MAX_METADATA_DEPTH);
    let data = app
        .data(Some(&token), update, json!({ "m": deepest }))
        .await;
    assert_eq!(data["updateMe"]["metadata"], deepest);
}

#[tokio::test]
async fn a_record_whose_metadata_cannot_be_decoded_still_lists_logs_in_and_is_repaired() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, id) = app.register("poisoned@example.com").await;
    app.register("healthy@example.com").await;
    // serde_json refuses 128 levels; the database holds them happily.
    let poison = nested(130).to_string();
    let cast = if app.is_postgres() { "::jsonb" } else { "" };
    let backend = app.db().get_database_backend();
    app.db()
        .execute_raw(Statement::from_string(
            backend,
            format!("UPDATE customer SET metadata = '{poison}'{cast} WHERE email = 'poisoned@example.com'"),
        ))
        .await
        .unwrap();

    // The page answers; only the one field of the one row is an error.
    let page = app.gql(Some(&admin), CUSTOMERS, json!({})).await;
    assert_eq!(page["data"]["customers"]["totalCount"], 2, "{page}");
    let errors = page["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{page}");
    assert_eq!(errors[0]["extensions"]["code"], "DATA_UNREADABLE");
    assert_eq!(errors[0]["path"][3], "metadata", "{page}");

    // The customer still logs in and reads their record.
    let login = app.login("poisoned@example.com", PASSWORD).await;
    let token = login["data"]["login"]["token"]
        .as_str()
        .expect("logged in")
        .to_owned();
    let me = app
        .data(Some(&token), "{ me { id email } }", json!({}))
        .await;
    assert_eq!(me["me"]["id"], id.as_str());

    // An admin overwrites the field; then clears it.
    let update = "mutation($id: ID!, $m: JSON) {
        updateCustomer(id: $id, input: { metadata: $m }) { metadata } }";
    let repaired = app
        .data(
            Some(&admin),
            update,
            json!({ "id": id, "m": { "repaired": true } }),
        )
        .await;
    assert_eq!(
        repaired["updateCustomer"]["metadata"],
        json!({ "repaired": true })
    );
    let cleared = app
        .data(Some(&admin), update, json!({ "id": id, "m": null }))
        .await;
    assert!(cleared["updateCustomer"]["metadata"].is_null());
    let page = app.data(Some(&admin), CUSTOMERS, json!({})).await;
    assert_eq!(page["customers"]["totalCount"], 2);
}

#[tokio::test]
async fn malformed_requests_answer_as_graphql_errors() {
    let app = TestApp::spawn().await;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("invalid JSON", b"{\"query\": ".to_vec()),
        (
            "invalid UTF-8",
            b"{\"query\": \"{ __typename \xff }\"}".to_vec(),
        ),
        (
            "variables not an object",
            br#"{"query": "{ __typename }", "variables": [1]}"#.to_vec(),
        ),
        ("no query", br#"{"variables": {}}"#.to_vec()),
        ("a batch", br#"[{"query": "{ __typename }"}]"#.to_vec()),
        ("a string", br#""{ __typename }""#.to_vec()),
    ];
    for (what, body) in bodies {
        let before = app.statements();
        let response = app.post_raw("application/json", body).await;
        assert_eq!(response.status(), 400, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{what}"
        );
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
        assert_eq!(error_code(&body), "BAD_REQUEST", "{what}: {body}");
        assert!(
            !text.contains("Error("),
            "{what}: Rust debug text in {text}"
        );
        assert_eq!(app.statements(), before, "{what}");
    }
    app.still_serves().await;
}

/// The introspection query GraphiQL and GraphQL Code Generator send (graphql-js's
/// `getIntrospectionQuery` with every option on).
pub const STANDARD_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name description isRepeatable locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) {
    name description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name
      ofType { kind name } } } } } } } } }
}
"#;

#[tokio::test]
async fn the_standard_introspection_query_runs_and_shows_every_type() {
    let app = TestApp::spawn().await;
    let data = app.data(None, STANDARD_INTROSPECTION, json!({})).await;
    let types = data["__schema"]["types"].as_array().unwrap();
    let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
    let sdl =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap();
    let declared = async_graphql::parser::parse_schema(&sdl).unwrap();
    for definition in declared.definitions {
        if let async_graphql::parser::types::TypeSystemDefinition::Type(ty) = definition {
            let name = ty.node.name.node.to_string();
            assert!(
                names.contains(&name.as_str()),
                "{name} is missing from introspection"
            );
        }
    }
    let codes = types.iter().find(|t| t["name"] == "ErrorCode").unwrap();
    let values: Vec<&str> = codes["enumValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(values.contains(&"DATA_UNREADABLE") && values.contains(&"UNAVAILABLE"));
}

/// Found by the fuzzer (seed 1, case 2695): PostgreSQL refuses U+0000 in text and JSON,
/// which answered INTERNAL; now every backend refuses it as input.
#[tokio::test]
async fn nul_characters_are_refused_as_input() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("nul@example.com").await;
    let update = "mutation($m: JSON) { updateMe(metadata: $m) { metadata } }";
    let response = app
        .gql(
            Some(&token),
            update,
            json!({ "m": { "k": { "k": "a\u{0}b" } } }),
        )
        .await;
    assert_bad_input(&response, "metadata");
    let admin = app.admin_token().await;
    let response = app
        .gql(
            Some(&admin),
            CUSTOMERS,
            json!({ "filter": { "search": "a\u{0}b" } }),
        )
        .await;
    assert_bad_input(&response, "filter.search");
    use base64::Engine;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({ "o": "customer.created_at", "k": "x\u{0}", "i": uuid::Uuid::now_v7() }).to_string(),
    );
    let page = "query($a: String) { customers(after: $a) { totalCount } }";
    let response = app.gql(Some(&admin), page, json!({ "a": cursor })).await;
    assert_bad_input(&response, "after");
}
