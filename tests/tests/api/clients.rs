//! What browser and generated clients rely on: GraphiQL served by the server itself,
//! CORS, Relay's object identification, and the metrics operators scrape. The browser
//! itself runs in `.ci/browser` (headless Chromium through the real GraphiQL UI).

use serde_json::{Value, json};
use tests::TestApp;

/// Every `src` and `href` the page names, in document order.
fn references(page: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = page;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').unwrap();
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn graphiql_and_everything_it_loads_come_from_the_server() {
    let app = TestApp::spawn().await;
    let page = app
        .http()
        .get(format!("{}/graphql", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("connect-src 'self';"), "{policy}");
    assert!(
        !policy.contains("http"),
        "the policy names a host: {policy}"
    );
    let page = page.text().await.unwrap();
    let files = references(&page);
    assert_eq!(files.len(), 6, "{files:?}");
    for file in files {
        assert!(
            file.starts_with("graphql/assets/"),
            "{file} is not one of the server's own files"
        );
        let response = app
            .http()
            .get(format!("{}/{file}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        let media = response.headers()["content-type"].to_str().unwrap();
        let expected = if file.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert_eq!(media, expected, "{file}");
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty(), "{file}");
    }
    let unknown = app
        .http()
        .get(format!("{}/graphql/assets/secrets.txt", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn without_graphiql_its_files_are_not_served_either() {
    let app = TestApp::spawn_with(|s| s.graphiql = false).await;
    let response = app
        .http()
        .get(format!("{}/graphql/assets/start.js", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

// ---- CORS ----

const SHOP: &str = "https://shop.example.com";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/graphql", app.base_url),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap()
}

async fn cross_origin_post(app: &TestApp, origin: &str) -> reqwest::Response {
    app.http()
        .post(format!("{}/graphql", app.base_url))
        .header("origin", origin)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::spawn().await;
    let answer = preflight(&app, SHOP).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let post = cross_origin_post(&app, SHOP).await;
    assert_eq!(post.status(), 200);
    assert_eq!(header(&post, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_allows_the_listed_origins_only_and_never_credentials() {
    let app = TestApp::spawn_with(|s| {
        s.cors_allowed_origins = vec![SHOP.to_owned(), "http://localhost:3000".to_owned()];
    })
    .await;
    let answer = preflight(&app, SHOP).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(SHOP));
    let methods = header(&answer, "access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&answer, "access-control-allow-headers").unwrap();
    assert!(headers.contains("authorization"), "{headers}");
    assert!(headers.contains("content-type"), "{headers}");
    // A storefront on a site of its own sends the consistency token back and reads
    // the new one (docs/scaling.md).
    assert!(headers.contains("clientele-consistency"), "{headers}");
    assert_eq!(header(&answer, "access-control-max-age"), Some("600"));
    assert_eq!(header(&answer, "access-control-allow-credentials"), None);

    let post = cross_origin_post(&app, SHOP).await;
    assert_eq!(header(&post, "access-control-allow-origin"), Some(SHOP));
    let exposed = header(&post, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert!(exposed.contains("clientele-consistency"), "{exposed}");
    assert!(header(&post, "vary").unwrap().contains("origin"));
    let body: Value = post.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");

    // Another origin gets no grant (the browser then withholds the response), and a
    // near miss is another origin.
    for stranger in [
        "https://evil.example",
        "https://shop.example.com.evil.example",
    ] {
        let answer = preflight(&app, stranger).await;
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{stranger}"
        );
        let post = cross_origin_post(&app, stranger).await;
        assert_eq!(
            header(&post, "access-control-allow-origin"),
            None,
            "{stranger}"
        );
    }
}

#[tokio::test]
async fn a_malformed_cors_origin_stops_the_server_from_starting() {
    for bad in [
        "shop.example.com",
        "https://shop.example.com/",
        "ftp://x",
        "https://*.example.com",
    ] {
        let mut settings = api::config::Settings::defaults().unwrap();
        settings.database_url = "sqlite::memory:".to_owned();
        settings.cors_allowed_origins = vec![bad.to_owned()];
        let error = api::app::App::build(&settings)
            .await
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_else(|| panic!("{bad} was accepted"));
        assert!(error.contains("--cors-allowed-origins"), "{error}");
    }
}

#[tokio::test]
async fn cors_with_a_star_allows_any_origin_without_credentials() {
    let app = TestApp::spawn_with(|s| s.cors_allowed_origins = vec!["*".to_owned()]).await;
    let post = cross_origin_post(&app, "https://anywhere.example").await;
    assert_eq!(header(&post, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&post, "access-control-allow-credentials"), None);
}

// ---- Relay object identification ----

const NODE: &str = "query($id: ID!) { node(id: $id) {
    __typename id
    ... on Customer { email }
    ... on CustomerGroup { name }
    ... on Order { displayId }
    ... on Address { city }
} }";

const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }";

/// A customer with an address, an order and a group, another customer's order, and a
/// deleted customer.
struct World {
    ada: uuid::Uuid,
    ada_token: String,
    address: uuid::Uuid,
    order: uuid::Uuid,
    group: uuid::Uuid,
    other_order: uuid::Uuid,
    deleted: uuid::Uuid,
}

async fn world(app: &TestApp) -> World {
    let (ada_token, ada) = app.register("ada@example.com").await;
    let ada: uuid::Uuid = ada.parse().unwrap();
    let address = app.address(ada, "London").await;
    let order = app
        .order(ada, "ada@example.com", tests::at(0), &[("Tea", 1, 400)])
        .await;
    let group = app.group("VIP").await;
    app.join(group, ada).await;
    let bob = app.register_directly("bob@example.com").await;
    let other_order = app
        .order(bob, "bob@example.com", tests::at(1), &[("Cake", 1, 900)])
        .await;
    let deleted = app
        .customer(tests::CustomerSpec {
            email: "gone@example.com",
            deleted: true,
            ..Default::default()
        })
        .await;
    World {
        ada,
        ada_token,
        address,
        order,
        group,
        other_order,
        deleted,
    }
}

async fn node(app: &TestApp, token: Option<&str>, id: uuid::Uuid) -> Value {
    app.data(token, NODE, json!({ "id": id.to_string() })).await["node"].clone()
}

#[tokio::test]
async fn node_finds_every_type_an_admin_may_see() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let admin = app.admin_token().await;
    let admin = Some(admin.as_str());
    let customer = node(&app, admin, w.ada).await;
    assert_eq!(customer["__typename"], "Customer");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["id"], w.ada.to_string());
    assert_eq!(node(&app, admin, w.group).await["name"], "VIP");
    assert_eq!(node(&app, admin, w.address).await["city"], "London");
    let order = node(&app, admin, w.order).await;
    assert_eq!(order["__typename"], "Order");
    assert!(order["displayId"].is_number());
    assert_eq!(
        node(&app, admin, w.other_order).await["__typename"],
        "Order"
    );
    // A soft-deleted customer is not found, as `customer(id:)` without includeDeleted.
    assert_eq!(node(&app, admin, w.deleted).await, Value::Null);
    assert_eq!(node(&app, admin, uuid::Uuid::now_v7()).await, Value::Null);
}

#[tokio::test]
async fn node_shows_a_customer_their_own_objects_only() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let ada = Some(w.ada_token.as_str());
    assert_eq!(node(&app, ada, w.ada).await["email"], "ada@example.com");
    assert_eq!(node(&app, ada, w.address).await["city"], "London");
    assert_eq!(node(&app, ada, w.order).await["__typename"], "Order");
    // Another customer's order, a group, a deleted customer: all null, as unknown ids.
    for hidden in [w.other_order, w.group, w.deleted] {
        assert_eq!(node(&app, ada, hidden).await, Value::Null);
    }
    for anything in [w.ada, w.address, w.order, w.group] {
        assert_eq!(node(&app, None, anything).await, Value::Null);
    }
    let code = app
        .error_code(None, NODE, json!({ "id": "not-a-uuid" }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn nodes_keeps_the_order_of_its_ids() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let ada = Some(w.ada_token.as_str());
    let ids = [
        w.order,
        w.other_order,
        uuid::Uuid::now_v7(),
        w.ada,
        w.address,
    ];
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let data = app.data(ada, NODES, json!({ "ids": ids })).await;
    let types: Vec<&Value> = data["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| &node["__typename"])
        .collect();
    assert_eq!(
        types,
        [
            &json!("Order"),
            &Value::Null,
            &Value::Null,
            &json!("Customer"),
            &json!("Address")
        ]
    );
}

#[tokio::test]
async fn nodes_cost_the_same_for_any_number_of_ids() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 60).await.unwrap();
    let admin = app.admin_token().await;
    let all = app
        .data(
            Some(&admin),
            "{ customers(first: 50) { nodes { id } } }",
            json!({}),
        )
        .await;
    let customer_ids = tests::node_ids(&all["customers"]);
    let mut cost = Vec::new();
    for size in [2, 50] {
        let before = app.statements();
        let data = app
            .data(Some(&admin), NODES, json!({ "ids": customer_ids[..size] }))
            .await;
        cost.push(app.statements() - before);
        assert_eq!(data["nodes"].as_array().unwrap().len(), size);
        assert!(
            data["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["__typename"] == "Customer")
        );
    }
    assert_eq!(cost[0], cost[1], "statements for 2 and 50 ids: {cost:?}");
    let aliased = format!(
        "{{ a: node(id: \"{}\") {{ id }} b: node(id: \"{}\") {{ id }} }}",
        customer_ids[0], customer_ids[1]
    );
    let before = app.statements();
    app.data(Some(&admin), &aliased, json!({})).await;
    assert_eq!(
        app.statements() - before,
        cost[0],
        "two aliased node fields"
    );

    let too_many: Vec<String> = (0..101).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let code = app
        .error_code(Some(&admin), NODES, json!({ "ids": too_many }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn every_node_type_implements_the_interface_in_the_schema() {
    let sdl = api::graphql::sdl();
    for implementor in ["Customer", "CustomerGroup", "Order", "Address"] {
        let declaration = format!("type {implementor} implements Node");
        assert!(sdl.contains(&declaration), "{declaration}");
    }
    assert!(sdl.contains("node(id: ID!): Node"));
    assert!(sdl.contains("nodes(ids: [ID!]!): [Node]!"));
}

// ---- Metrics ----

async fn scrape(url: &str) -> String {
    let response = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    response.text().await.unwrap()
}

/// The value of one sample line, by its name and labels as printed.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_outcome() {
    let app = TestApp::spawn_with(|s| s.mails_per_recipient = 1).await;
    let admin = app.admin_token().await;
    for _ in 0..3 {
        app.data(
            Some(&admin),
            "query Lookup { customers(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    }
    app.gql(
        None,
        "query Lookup { customers(first: 1) { totalCount } }",
        json!({}),
    )
    .await;
    app.gql(None, "{ nope }", json!({})).await;
    // A throttle that refuses silently (mail) still counts.
    app.register("mailer@example.com").await;
    for _ in 0..2 {
        app.gql(
            None,
            "mutation { requestPasswordReset(email: \"mailer@example.com\") }",
            json!({}),
        )
        .await;
    }
    app.allow_undelivered();
    let text = scrape(&app.base_url).await;
    let count = |series: &str| value(&text, series);
    assert_eq!(
        count(
            "clientele_graphql_request_duration_seconds_count{operation=\"Lookup\",outcome=\"ok\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        count("clientele_graphql_request_duration_seconds_count{operation=\"Lookup\",outcome=\"UNAUTHENTICATED\"}")
            .or(count("clientele_graphql_request_duration_seconds_count{operation=\"Lookup\",outcome=\"FORBIDDEN\"}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(
            "clientele_graphql_request_duration_seconds_bucket{operation=\"Lookup\",outcome=\"ok\",le=\"+Inf\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        count(
            "clientele_graphql_request_duration_seconds_count{operation=\"\",outcome=\"INVALID_QUERY\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(count("clientele_graphql_errors_total{code=\"INVALID_QUERY\"}").unwrap() >= 1.0);
    assert!(count("clientele_graphql_requests_total").unwrap() >= 8.0);
    assert!(count("clientele_sql_statements_total").unwrap() > 0.0);
    // Process-wide: other tests in this process may have been throttled too.
    assert!(
        count("clientele_throttled_total{scope=\"password_reset_mail\"}").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert_eq!(count("clientele_db_pool_max_connections"), Some(5.0));
    assert!(count("clientele_db_pool_connections{state=\"in_use\"}").is_some());
    assert!(count("clientele_db_pool_connections{state=\"idle\"}").is_some());
    assert_eq!(count("clientele_db_pool_waiting_requests"), Some(0.0));
    // The one reset mail that was sent is waiting for the worker.
    let pending = count("clientele_outbox_pending_messages{state=\"waiting\"}").unwrap();
    assert!(pending >= 1.0, "{text}");
    assert_eq!(
        count("clientele_outbox_pending_messages{state=\"failing\"}"),
        Some(0.0)
    );
    // Nothing in the scrape names a caller or a query.
    assert!(!text.contains("mailer@example.com"));
    assert!(!text.contains("totalCount"));
}

#[tokio::test]
async fn metrics_can_live_on_an_address_of_their_own() {
    let app = TestApp::spawn_with(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let public = app
        .http()
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "metrics are off the public port");
    let apart = app.metrics_url.clone().unwrap();
    assert!(
        scrape(&apart)
            .await
            .contains("clientele_graphql_requests_total")
    );
}
