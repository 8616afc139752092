//! Customers, addresses and groups answer their plain fields in one pass over their
//! selection (`graphql/plain.rs`), and go to the executor whole for what it alone
//! handles (here: an object selected twice under one key, whose selections it merges).
//! Both must give the same response: the same values and keys.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tests::{CustomerSpec, TestApp};

const ADDRESS_FIELDS: &str = "id firstName lastName company address1 address2 city province \
    postalCode countryCode phone createdAt updatedAt";
const GROUP_FIELDS: &str = "id name createdAt updatedAt deletedAt";
const CUSTOMER_FIELDS: &str = "__typename id email firstName lastName phone hasAccount active \
    disabledAt erasedAt emailVerifiedAt orderCount lastOrderAt createdAt updatedAt deletedAt";

/// Selections that send their object to the executor (module docs), under `forced`.
const FORCE_CUSTOMER: &str = "forced: groups { id } forced: groups { name }";
const FORCE_ADDRESS: &str = "forced: customer { id } forced: customer { email }";
const FORCE_GROUP: &str = "forced: customers(first: 1) { totalCount } \
    forced: customers(first: 1) { pageInfo { hasNextPage } }";

/// Removes every `key` from the objects in `value`; how many it removed.
fn take_out(value: &mut Value, key: &str) -> usize {
    match value {
        Value::Object(object) => {
            let here = usize::from(object.remove(key).is_some());
            here + object.values_mut().map(|v| take_out(v, key)).sum::<usize>()
        }
        Value::Array(items) => items.iter_mut().map(|v| take_out(v, key)).sum(),
        _ => 0,
    }
}

/// The selections tried on an address, each of which the one pass takes.
fn address_selections() -> Vec<String> {
    vec![
        ADDRESS_FIELDS.to_owned(),
        "__typename town: city city town: city id zip: postalCode".to_owned(),
        "...Where ... on Node { id } ... { phone __typename } ... on Address { city }".to_owned(),
        "company @include(if: $yes) phone @skip(if: $yes) ...Where @include(if: $no) \
         ... on Address @skip(if: $no) { countryCode }"
            .to_owned(),
        format!("... on Node {{ ... on Address {{ {ADDRESS_FIELDS} }} }} id"),
    ]
}

/// The response's text, as the server wrote it.
async fn text(app: &TestApp, token: &str, query: &str, variables: Value) -> String {
    let response = app
        .http()
        .post(format!("{}/graphql", app.base_url))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let text = response.text().await.unwrap();
    assert!(!text.contains("\"errors\""), "{query}: {text}");
    text
}

#[tokio::test]
async fn plain_objects_answer_as_the_executor_does() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ada = app
        .customer(CustomerSpec {
            email: "ada@example.com",
            has_account: true,
            first_name: Some("Ada"),
            last_name: Some("Lovelace"),
            ..Default::default()
        })
        .await;
    let home = app.address(ada, "London").await;
    app.address(ada, "Paris").await;
    app.set_billing_address(ada, home).await;
    for name in ["VIP", "Wholesale"] {
        let group = app.group(name).await;
        app.join(group, ada).await;
    }
    // A count, a time and a string JSON must escape, written by the one pass too.
    let tab = if app.is_postgres() {
        "chr(9)"
    } else {
        "char(9)"
    };
    app.db()
        .execute_raw(Statement::from_string(
            app.db().get_database_backend(),
            format!(
                r#"UPDATE customer SET order_count = 3, last_order_at = created_at,
                   phone = '+44 "20" \ 7946' || {tab} WHERE email = 'ada@example.com'"#
            ),
        ))
        .await
        .unwrap();
    let variables = json!({ "id": ada.to_string(), "yes": true, "no": false });
    let query = |address: &str, group: &str| {
        format!(
            "query($id: ID!, $yes: Boolean!, $no: Boolean!) {{ customer(id: $id) {{ \
             {CUSTOMER_FIELDS} billingAddress {{ {address} }} shippingAddresses {{ {address} }} \
             groups {{ {group} }} email @include(if: $yes) hasAccount @skip(if: $no) \
             defaultShippingAddress {{ ...Where }} }} }} \
             fragment Where on Address {{ city countryCode postalCode }}"
        )
    };
    let mut compared = 0;
    for address in address_selections() {
        for group in [GROUP_FIELDS, "__typename n: name ... on Node { id } name"] {
            let one_pass = text(&app, &admin, &query(&address, group), variables.clone()).await;
            // An object selected twice under one key sends the customer, each address
            // and each group to the executor; that key is then taken out everywhere.
            let executor = text(
                &app,
                &admin,
                &query(
                    &format!("{address} {FORCE_ADDRESS}"),
                    &format!("{group} {FORCE_GROUP}"),
                )
                .replacen(
                    "billingAddress",
                    &format!("{FORCE_CUSTOMER} billingAddress"),
                    1,
                ),
                variables.clone(),
            )
            .await;
            let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
            let mut executor = parse(&executor);
            // The customer, one address billed, two in the book, two groups.
            assert_eq!(take_out(&mut executor, "forced"), 6);
            assert_eq!(parse(&one_pass), executor);
            compared += 1;
        }
    }
    assert_eq!(compared, 10);
    // An object whose every field is skipped: the executor answers null (here for the
    // customer, which it resolves), and so does the one pass (for its addresses).
    let data = app
        .data(
            Some(&admin),
            "query($id: ID!, $yes: Boolean!) { customer(id: $id) { email @skip(if: $yes) } \
             again: customer(id: $id) { billingAddress { city @skip(if: $yes) } \
             shippingAddresses { city @skip(if: $yes) } groups { name @skip(if: $yes) } } }",
            json!({ "id": ada.to_string(), "yes": true }),
        )
        .await;
    assert_eq!(
        data,
        json!({ "customer": null, "again": {
            "billingAddress": null, "shippingAddresses": [null, null], "groups": [null, null]
        } })
    );
    // A field that loads (the address's customer) is resolved beside the plain ones.
    let data = app
        .data(
            Some(&admin),
            "query($id: ID!) { customer(id: $id) { shippingAddresses { city customer { email } } } }",
            json!({ "id": ada.to_string() }),
        )
        .await;
    let book = data["customer"]["shippingAddresses"].as_array().unwrap();
    assert_eq!(book.len(), 2);
    assert!(
        book.iter()
            .all(|address| address["customer"]["email"] == "ada@example.com")
    );
}

/// Each object of a page is written from its own selection (plain.rs): siblings
/// answer the same keys in order, two selections in one request each their own, and
/// a field that fails on one object leaves that object's key out and no other's.
#[tokio::test]
async fn each_object_of_a_page_answers_its_own_selection_in_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.register("healthy@example.com").await;
    app.register("poisoned@example.com").await;
    // serde_json refuses 130 levels of nesting; the database holds them happily.
    let poison = (1..130).fold(json!({}), |inner, _| json!({ "a": inner }));
    let cast = if app.is_postgres() { "::jsonb" } else { "" };
    app.db()
        .execute_raw(Statement::from_string(
            app.db().get_database_backend(),
            format!(
                "UPDATE customer SET metadata = '{poison}'{cast} \
                 WHERE email = 'poisoned@example.com'"
            ),
        ))
        .await
        .unwrap();
    let by_email = "sort: { field: EMAIL, direction: ASC }";
    let query = format!(
        "{{ a: customers({by_email}) {{ nodes {{ email metadata hasAccount }} }} \
         b: customers({by_email}) {{ nodes {{ hasAccount email }} }} }}"
    );
    let response = app
        .http()
        .post(format!("{}/graphql", app.base_url))
        .bearer_auth(&admin)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The text as written: the order of keys is part of what is checked.
    let a = r#""a":{"nodes":[{"email":"healthy@example.com","metadata":null,"hasAccount":true},{"email":"poisoned@example.com","hasAccount":true}]}"#;
    let b = r#""b":{"nodes":[{"hasAccount":true,"email":"healthy@example.com"},{"hasAccount":true,"email":"poisoned@example.com"}]}"#;
    assert!(response.contains(a), "{response}");
    assert!(response.contains(b), "{response}");
    let errors = serde_json::from_str::<Value>(&response).unwrap()["errors"].clone();
    assert_eq!(errors.as_array().map(Vec::len), Some(1), "{response}");
    assert_eq!(errors[0]["path"], json!(["a", "nodes", 1, "metadata"]));
}
