//! Placing orders as a guest or a customer, and reading them.

use serde_json::{Value, json};
use tests::{PASSWORD, TestApp, error_code, node_ids};

pub const PLACE: &str = "mutation($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
        id displayId email status currencyCode
        subtotal { amount currencyCode } total { amount }
        lineItems { title sku quantity unitPrice { amount } total { amount } }
        shippingAddress { city countryCode } billingAddress { city }
    } }";

pub fn order_input(email: Option<&str>) -> Value {
    json!({
        "email": email,
        "currencyCode": "eur",
        "lineItems": [
            { "title": "Tea", "sku": "T-1", "quantity": 2, "unitPrice": 450 },
            { "title": "Cup", "quantity": 1, "unitPrice": 1200 },
        ],
        "shippingAddress": { "firstName": "Ada", "address1": "1 Main St", "city": "London",
                             "countryCode": "gb" },
    })
}

/// Places an order (as a guest without a token) and returns it.
pub async fn place(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.data(token, PLACE, json!({ "input": input })).await["placeOrder"].clone()
}

#[tokio::test]
async fn guest_orders_join_the_guest_record_of_their_email() {
    let app = TestApp::spawn().await;
    let first = place(&app, None, order_input(Some(" Guest@Example.com "))).await;
    assert_eq!(first["email"], "guest@example.com");
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["currencyCode"], "EUR");
    assert_eq!(
        first["subtotal"],
        json!({ "amount": 2100, "currencyCode": "EUR" })
    );
    assert_eq!(first["total"], json!({ "amount": 2100 }));
    assert_eq!(
        first["lineItems"],
        json!([
            { "title": "Tea", "sku": "T-1", "quantity": 2, "unitPrice": { "amount": 450 }, "total": { "amount": 900 } },
            { "title": "Cup", "sku": null, "quantity": 1, "unitPrice": { "amount": 1200 }, "total": { "amount": 1200 } },
        ])
    );
    assert_eq!(
        first["shippingAddress"],
        json!({ "city": "London", "countryCode": "GB" })
    );
    assert_eq!(first["billingAddress"], Value::Null);
    let guest = app.owner_of(&first["id"]).await;
    assert_eq!(guest["hasAccount"], false);
    assert_eq!(guest["email"], "guest@example.com");

    let second = place(&app, None, order_input(Some("guest@example.com"))).await;
    assert_eq!(app.owner_of(&second["id"]).await["id"], guest["id"]);
    assert_eq!(
        second["displayId"].as_i64().unwrap(),
        first["displayId"].as_i64().unwrap() + 1
    );

    let admin = app.admin_token().await;
    let guest = app
        .data(
            Some(&admin),
            "query($id: ID!) { customer(id: $id) { orders { totalCount } } }",
            json!({ "id": guest["id"] }),
        )
        .await;
    assert_eq!(guest["customer"]["orders"]["totalCount"], 2);
}

#[tokio::test]
async fn fifty_concurrent_guest_orders_make_one_guest_and_fifty_numbered_orders() {
    let app = TestApp::spawn().await;
    let input = order_input(Some("rush@example.com"));
    let attempts: Vec<_> = (0..50)
        .map(|_| Box::pin(app.gql(None, PLACE, json!({ "input": input }))))
        .collect();
    let responses = tests::join_all(attempts).await;
    let mut display_ids = Vec::new();
    for response in &responses {
        assert!(response.get("errors").is_none(), "{response}");
        let order = &response["data"]["placeOrder"];
        display_ids.push(order["displayId"].as_i64().unwrap());
    }
    display_ids.sort();
    assert_eq!(
        display_ids,
        (1..=50).collect::<Vec<_>>(),
        "sequential, no gaps"
    );

    let admin = app.admin_token().await;
    let guests = app
        .data(
            Some(&admin),
            "{ customers(filter: { search: \"rush@example.com\" }) { totalCount nodes { orders { totalCount } } } }",
            json!({}),
        )
        .await;
    assert_eq!(guests["customers"]["totalCount"], 1, "one guest record");
    assert_eq!(guests["customers"]["nodes"][0]["orders"]["totalCount"], 50);
}

#[tokio::test]
async fn a_logged_in_customers_order_is_theirs_and_carries_their_email() {
    let app = TestApp::spawn().await;
    let (token, id) = app.register("ada@example.com").await;
    let mut input = order_input(Some("someone.else@example.com"));
    input["billingAddress"] = json!({ "city": "Paris", "countryCode": "FR" });
    let order = place(&app, Some(&token), input).await;
    assert_eq!(order["email"], "ada@example.com");
    assert_eq!(app.owner_of(&order["id"]).await["id"], id);
    assert_eq!(order["billingAddress"], json!({ "city": "Paris" }));
    let mine = app
        .data(
            Some(&token),
            "{ me { orders { nodes { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        node_ids(&mine["me"]["orders"]),
        [order["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn an_order_keeps_its_address_when_the_book_changes() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("ada@example.com").await;
    let address = app
        .data(
            Some(&token),
            "mutation { addShippingAddress(input: { city: \"London\", countryCode: \"GB\" }) { id } }",
            json!({}),
        )
        .await["addShippingAddress"]["id"]
        .clone();
    let order = place(&app, Some(&token), order_input(None)).await;
    app.data(
        Some(&token),
        "mutation($id: ID!) { updateAddress(id: $id, input: { city: \"Leeds\" }) { id } }",
        json!({ "id": address }),
    )
    .await;
    let read = app
        .data(
            Some(&token),
            "query($id: ID!) { order(id: $id) { shippingAddress { city } } }",
            json!({ "id": order["id"] }),
        )
        .await;
    assert_eq!(read["order"]["shippingAddress"]["city"], "London");
}

#[tokio::test]
async fn bad_orders_name_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut input = order_input(Some("guest@example.com"));
        change(&mut input);
        input
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|i| i["email"] = Value::Null), "email"),
        (with(&|i| i["email"] = json!("not an email")), "email"),
        (with(&|i| i["currencyCode"] = json!("EURO")), "currencyCode"),
        (with(&|i| i["currencyCode"] = json!("XXX")), "currencyCode"),
        (with(&|i| i["lineItems"] = json!([])), "lineItems"),
        (
            with(&|i| i["lineItems"][1]["quantity"] = json!(0)),
            "lineItems.1.quantity",
        ),
        (
            with(&|i| i["lineItems"][0]["unitPrice"] = json!(-1)),
            "lineItems.0.unitPrice",
        ),
        (
            with(&|i| i["lineItems"][0]["title"] = json!("  ")),
            "lineItems.0.title",
        ),
        (
            with(&|i| {
                i["lineItems"][0]["quantity"] = json!(i32::MAX);
                i["lineItems"][0]["unitPrice"] = json!(i64::MAX / 2);
            }),
            "lineItems",
        ),
        (
            with(&|i| i["shippingAddress"]["countryCode"] = json!("UK")),
            "shippingAddress.countryCode",
        ),
    ];
    for (input, field) in cases {
        let response = app.gql(None, PLACE, json!({ "input": input })).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{field}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response}"
        );
    }
    let admin = app.admin_token().await;
    let nothing = app
        .data(
            Some(&admin),
            "{ orders { totalCount } customers { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        nothing,
        json!({ "orders": { "totalCount": 0 }, "customers": { "totalCount": 0 } })
    );
}

#[tokio::test]
async fn orders_are_read_by_their_owner_and_admins_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ada, _) = app.register("ada@example.com").await;
    let (bob, _) = app.register("bob@example.com").await;
    let order = place(&app, Some(&ada), order_input(None)).await;
    let read = "query($id: ID!) { order(id: $id) { id email } }";
    let id = json!({ "id": order["id"] });
    assert_eq!(
        app.data(Some(&ada), read, id.clone()).await["order"]["id"],
        order["id"]
    );
    assert_eq!(
        app.data(Some(&admin), read, id.clone()).await["order"]["id"],
        order["id"]
    );
    assert_eq!(
        app.error_code(Some(&bob), read, id.clone()).await,
        "NOT_FOUND"
    );
    assert_eq!(app.error_code(None, read, id).await, "UNAUTHENTICATED");
    // Admins do not place orders; customers do not list all orders.
    assert_eq!(
        app.error_code(
            Some(&admin),
            PLACE,
            json!({ "input": order_input(Some("a@example.com")) })
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(Some(&ada), "{ orders { totalCount } }", json!({}))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn customer_orders_filter_by_status_and_time() {
    use sea_orm::{ActiveModelTrait, ActiveValue};
    let app = TestApp::spawn().await;
    let (token, id) = app.register("ada@example.com").await;
    let ada: uuid::Uuid = id.parse().unwrap();
    let old = app
        .order(ada, "ada@example.com", tests::at(0), &[("Tea", 1, 1)])
        .await;
    let done = app
        .order(ada, "ada@example.com", tests::at(100), &[("Tea", 1, 1)])
        .await;
    let new = app
        .order(ada, "ada@example.com", tests::at(200), &[("Tea", 1, 1)])
        .await;
    entity::order::ActiveModel {
        id: ActiveValue::Unchanged(done),
        status: ActiveValue::Set(entity::order::OrderStatus::Completed),
        ..Default::default()
    }
    .update(app.db())
    .await
    .unwrap();
    let query = "query($filter: CustomerOrderFilterInput) {
        me { orders(filter: $filter) { totalCount nodes { id } } } }";
    let ids = |data: Value| node_ids(&data["me"]["orders"]);
    let all = app.data(Some(&token), query, json!({})).await;
    assert_eq!(all["me"]["orders"]["totalCount"], 3);
    assert_eq!(
        ids(all),
        [new.to_string(), done.to_string(), old.to_string()]
    );
    let completed = app
        .data(
            Some(&token),
            query,
            json!({ "filter": { "status": "COMPLETED" } }),
        )
        .await;
    assert_eq!(completed["me"]["orders"]["totalCount"], 1);
    assert_eq!(ids(completed), [done.to_string()]);
    let window = app
        .data(
            Some(&token),
            query,
            json!({ "filter": { "createdAfter": tests::at(50), "createdBefore": tests::at(200) } }),
        )
        .await;
    assert_eq!(ids(window), [done.to_string()]);
}

#[tokio::test]
async fn a_deleted_guests_email_gets_a_new_guest_record() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let first = place(&app, None, order_input(Some("pat@example.com"))).await;
    app.data(
        Some(&admin),
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
        json!({ "id": app.owner_of(&first["id"]).await["id"] }),
    )
    .await;
    let second = place(&app, None, order_input(Some("pat@example.com"))).await;
    assert_ne!(
        app.owner_of(&second["id"]).await["id"],
        app.owner_of(&first["id"]).await["id"]
    );
    // The login of a registered customer with that email is unaffected.
    app.register("pat@example.com").await;
    assert!(app.login("pat@example.com", PASSWORD).await["data"]["login"].is_object());
}
