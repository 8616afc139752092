//! A typed Rust client generated from `schema.graphql` by graphql_client: the
//! operations in `examples/operations/` are checked against the schema when this file
//! compiles (a renamed or removed field they use is a build error), and the stories
//! below run them against a live server. The TypeScript client in
//! `examples/storefront-ts` runs the same operations.

use graphql_client::{GraphQLQuery, QueryBody, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tests::webhook::Webhook;
use tests::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, TestApp};

// The derive reads these files but does not tell cargo: without these, a change to
// the schema alone would not rebuild this file, and a broken operation would pass.
const _: &str = include_str!("../../../schema.graphql");
const _: &str = include_str!("../../../examples/operations/storefront.graphql");
const _: &str = include_str!("../../../examples/operations/admin.graphql");

// The schema's custom scalars, as the generated code names them.
type DateTime = String;
type Long = i64;

// rustfmt re-indents attribute arguments inside macro bodies on every run.
#[rustfmt::skip]
macro_rules! operation {
    ($name:ident, $file:literal) => {
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "../schema.graphql",
            query_path = $file,
            response_derives = "Debug, Clone",
            variables_derives = "Debug"
        )]
        pub struct $name;
    };
}

operation!(PlaceOrder, "../examples/operations/storefront.graphql");
operation!(Register, "../examples/operations/storefront.graphql");
operation!(RequestClaim, "../examples/operations/storefront.graphql");
operation!(ConfirmClaim, "../examples/operations/storefront.graphql");
operation!(MyOrders, "../examples/operations/storefront.graphql");
operation!(AdminLogin, "../examples/operations/admin.graphql");
operation!(FindCustomers, "../examples/operations/admin.graphql");
operation!(Refetch, "../examples/operations/admin.graphql");
operation!(CreateGroup, "../examples/operations/admin.graphql");
operation!(AddToGroup, "../examples/operations/admin.graphql");

/// Sends one typed operation over HTTP, as any client would, and returns its data;
/// a response with errors fails the test.
async fn run<V: Serialize, D: DeserializeOwned>(
    app: &TestApp,
    token: Option<&str>,
    body: QueryBody<V>,
) -> D {
    let mut request = app.http().post(format!("{}/graphql", app.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response: Response<D> = request
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(response.errors.is_none(), "{:?}", response.errors);
    response.data.unwrap()
}

#[tokio::test]
async fn the_storefront_story_through_the_typed_client() {
    let webhook = Webhook::start(0).await;
    let url = webhook.url.clone();
    let app = TestApp::spawn_with(|s| s.outbox_webhook_url = Some(url)).await;
    let email = "sam@example.com";

    // A guest orders, then registers with the same email.
    let input = place_order::PlaceOrderInput {
        email: Some(email.to_owned()),
        currency_code: "EUR".to_owned(),
        line_items: vec![place_order::LineItemInput {
            title: "Tea".to_owned(),
            sku: None,
            quantity: 2,
            unit_price: 450,
        }],
        shipping_address: place_order::OrderAddressInput {
            first_name: Some("Sam".to_owned()),
            last_name: None,
            company: None,
            address1: Some("1 High Street".to_owned()),
            address2: None,
            city: Some("Leeds".to_owned()),
            province: None,
            postal_code: Some("LS1 1AA".to_owned()),
            country_code: "GB".to_owned(),
            phone: None,
        },
        billing_address: None,
    };
    let placed: place_order::ResponseData = run(
        &app,
        None,
        PlaceOrder::build_query(place_order::Variables { input }),
    )
    .await;
    let order = placed.place_order;
    assert_eq!(order.total.amount, 900);
    assert_eq!(order.total.currency_code, "EUR");

    let registered: register::ResponseData = run(
        &app,
        None,
        Register::build_query(register::Variables {
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
            first_name: Some("Sam".to_owned()),
        }),
    )
    .await;
    let session = registered.register_customer;
    assert!(session.customer.has_account);
    let token = session.token.as_str();

    // The claim: a request, a token by mail, the confirmation.
    let _: request_claim::ResponseData = run(
        &app,
        Some(token),
        RequestClaim::build_query(request_claim::Variables {
            order_ids: vec![order.id.clone()],
        }),
    )
    .await;
    let mail = webhook.delivered(&app, "order_claim", email).await;
    let claim_token = mail.body["payload"]["token"].as_str().unwrap().to_owned();
    let confirmed: confirm_claim::ResponseData = run(
        &app,
        Some(token),
        ConfirmClaim::build_query(confirm_claim::Variables { token: claim_token }),
    )
    .await;
    assert_eq!(confirmed.confirm_order_claim.len(), 1);
    assert_eq!(
        confirmed.confirm_order_claim[0].display_id,
        order.display_id
    );

    let mine: my_orders::ResponseData = run(
        &app,
        Some(token),
        MyOrders::build_query(my_orders::Variables),
    )
    .await;
    assert_eq!(mine.me.email, email);
    assert_eq!(mine.me.orders.total_count, 1);
    assert_eq!(mine.me.orders.nodes[0].id, order.id);
    assert!(matches!(
        mine.me.orders.nodes[0].status,
        my_orders::OrderStatus::PENDING
    ));
}

#[tokio::test]
async fn the_admin_story_through_the_typed_client() {
    let app = TestApp::spawn().await;
    app.admin_token().await; // creates the admin
    app.register("grace@example.com").await;
    let login: admin_login::ResponseData = run(
        &app,
        None,
        AdminLogin::build_query(admin_login::Variables {
            email: ADMIN_EMAIL.to_owned(),
            password: ADMIN_PASSWORD.to_owned(),
        }),
    )
    .await;
    let admin = login.admin_login.token.as_str();

    let found: find_customers::ResponseData = run(
        &app,
        Some(admin),
        FindCustomers::build_query(find_customers::Variables {
            search: "grace".to_owned(),
        }),
    )
    .await;
    assert_eq!(found.customers.total_count, 1);
    assert!(matches!(
        found.customers.total_count_precision,
        find_customers::CountPrecision::EXACT
    ));
    let grace = &found.customers.nodes[0];
    assert!(grace.has_account);
    assert_eq!(grace.orders.total_count, 0);

    let group: create_group::ResponseData = run(
        &app,
        Some(admin),
        CreateGroup::build_query(create_group::Variables {
            name: "Newsletter".to_owned(),
        }),
    )
    .await;
    let added: add_to_group::ResponseData = run(
        &app,
        Some(admin),
        AddToGroup::build_query(add_to_group::Variables {
            group_id: group.create_customer_group.id.clone(),
            customer_ids: vec![grace.id.clone()],
        }),
    )
    .await;
    assert_eq!(added.add_customers_to_group.customers.total_count, 1);

    // A normalised cache refetches the customer by id alone.
    let refetched: refetch::ResponseData = run(
        &app,
        Some(admin),
        Refetch::build_query(refetch::Variables {
            id: grace.id.clone(),
        }),
    )
    .await;
    let node = refetched.node.unwrap();
    assert_eq!(node.id, grace.id);
    let refetch::RefetchNodeOn::Customer(customer) = node.on else {
        panic!("node {} is not a Customer: {:?}", grace.id, node.on);
    };
    assert_eq!(customer.email, "grace@example.com");
    assert_eq!(customer.groups[0].name, "Newsletter");
}

/// graphql_client sends the whole operations file and names the operation to run: the
/// other operations' variables are not required (only the chosen operation's
/// variables are coerced, as the specification says), but a wrong value for the chosen
/// one still is refused.
#[tokio::test]
async fn a_document_of_several_operations_needs_the_variables_of_the_one_it_runs_only() {
    let app = TestApp::spawn().await;
    let document = "query One($id: ID!) { node(id: $id) { id } }
        query Two($name: String!) { __typename customers(first: 1, filter: { search: $name }) { totalCount } }";
    let body = serde_json::json!({ "query": document, "operationName": "One",
        "variables": { "id": uuid::Uuid::now_v7().to_string() } });
    let response: serde_json::Value = app
        .http()
        .post(format!("{}/graphql", app.base_url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        response["data"]["node"],
        serde_json::Value::Null,
        "{response}"
    );
    assert!(response.get("errors").is_none(), "{response}");
    let wrong = serde_json::json!({ "query": document, "operationName": "One",
        "variables": { "id": 5.5 } });
    let response: serde_json::Value = app
        .http()
        .post(format!("{}/graphql", app.base_url))
        .json(&wrong)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tests::error_code(&response), "BAD_USER_INPUT", "{response}");
}
