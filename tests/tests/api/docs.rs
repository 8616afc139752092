//! Every GraphQL example in README.md and docs/ runs against a seeded server, in the
//! order it appears on its page, and must succeed; documentation cannot rot unseen.
//!
//! An example's leading comments say how to run it:
//! - `# as: admin` or `# as: customer` (the customer is Ada, `ada@example.com`, with
//!   the password `a fine password`); anonymous otherwise;
//! - `# expect: CODE` when the example shows an error: it must fail with that code.
//!
//! Subscriptions run over WebSocket and must start without an error.
//!
//! Examples that need ids declare variables; the test fills `$customerId`, `$groupId`,
//! `$orderId` (seeded), `$addressId` (one of Ada's addresses), `$guestOrderId` (a
//! guest order placed with Ada's email, which she may claim), `$adaId` (Ada's own id)
//! and `$guestId` (the guest record of that order).

use serde_json::{Value, json};
use tests::{TestApp, error_code};

struct Example {
    page: String,
    line: usize,
    query: String,
    caller: Option<String>,
    expect: Option<String>,
}

fn examples(page: &str, text: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if line.trim() != "```graphql" {
            continue;
        }
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| l.trim() != "```")
            .collect();
        let directive = |name: &str| {
            body.iter()
                .filter_map(|l| l.trim().strip_prefix('#'))
                .filter_map(|l| l.trim().strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .next()
        };
        found.push(Example {
            page: page.to_owned(),
            line: number + 1,
            query: body.join("\n"),
            caller: directive("as:"),
            expect: directive("expect:"),
        });
    }
    found
}

fn pages() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut pages = vec![format!("{root}/README.md")];
    let mut docs: Vec<String> = std::fs::read_dir(format!("{root}/docs"))
        .expect("docs/")
        .map(|entry| entry.unwrap().path().display().to_string())
        .filter(|path| path.ends_with(".md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

/// Whether the document's operation is a subscription (its first word, past the
/// comments).
fn is_subscription(query: &str) -> bool {
    query
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .is_some_and(|line| line.starts_with("subscription"))
}

/// A server with demo data, Ada, and the ids the examples may ask for.
async fn seeded() -> (TestApp, String, String, Value) {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 30).await.unwrap();
    let admin = app.admin_token().await;
    let (ada, ada_id) = app.register("ada@example.com").await;
    let address = app
        .data(
            Some(&ada),
            "mutation { addShippingAddress(input: { countryCode: \"GB\", city: \"London\" }) { id } }",
            json!({}),
        )
        .await["addShippingAddress"]["id"]
        .clone();
    let guest_order = app
        .data(
            None,
            "mutation { placeOrder(input: { email: \"ada@example.com\", currencyCode: \"EUR\",
                lineItems: [{ title: \"Tea\", quantity: 1, unitPrice: 450 }],
                shippingAddress: { countryCode: \"GB\" } }) { id } }",
            json!({}),
        )
        .await["placeOrder"]["id"]
        .clone();
    let ids = app
        .data(
            Some(&admin),
            "{ customers(first: 1, filter: { hasAccount: true }) { nodes { id } }
               customerGroups(first: 1) { nodes { id } } orders(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    let variables = json!({
        "customerId": ids["customers"]["nodes"][0]["id"],
        "groupId": ids["customerGroups"]["nodes"][0]["id"],
        "orderId": ids["orders"]["nodes"][0]["id"],
        "addressId": address,
        "guestOrderId": guest_order,
        "adaId": ada_id,
        "guestId": app.owner_of(&guest_order).await["id"],
    });
    (app, admin, ada, variables)
}

#[tokio::test]
async fn every_graphql_example_in_the_documentation_runs() {
    let mut total = 0;
    for (page, text) in pages() {
        let examples = examples(&page, &text);
        if examples.is_empty() {
            continue;
        }
        let (app, admin, ada, all_variables) = seeded().await;
        // Examples that request mail leave it for the outbox; nobody reads it here.
        app.allow_undelivered();
        for example in examples {
            let token = match example.caller.as_deref() {
                Some("admin") => Some(admin.as_str()),
                Some("customer") => Some(ada.as_str()),
                None => None,
                Some(other) => panic!("{}:{}: unknown caller {other}", example.page, example.line),
            };
            // Only the variables the example declares.
            let variables: serde_json::Map<String, Value> = all_variables
                .as_object()
                .unwrap()
                .iter()
                .filter(|(name, _)| example.query.contains(&format!("${name}")))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            let place = format!("{}:{}", example.page, example.line);
            if is_subscription(&example.query) {
                // Over WebSocket, as clients run them.
                let ran = crate::subscriptions::runs(
                    &app,
                    token.unwrap_or_default(),
                    &example.query,
                    Value::Object(variables),
                )
                .await;
                assert!(ran.is_ok(), "{place}: {ran:?}");
                total += 1;
                continue;
            }
            let response = app
                .gql(token, &example.query, Value::Object(variables))
                .await;
            match &example.expect {
                None => assert!(response.get("errors").is_none(), "{place}: {response:#}"),
                Some(code) => assert_eq!(&error_code(&response), code, "{place}: {response:#}"),
            }
            total += 1;
        }
    }
    assert!(total >= 20, "only {total} examples found");
    println!("docs: {total} GraphQL examples ran");
}
