//! The customer's own address book: add, change, remove, choose the billing address;
//! never another customer's.

use serde_json::{Value, json};
use tests::{TestApp, error_code};

const ADD: &str = "mutation($input: AddressInput!, $billing: Boolean! = false) {
    addShippingAddress(input: $input, useAsBilling: $billing) {
        id firstName address1 city postalCode countryCode metadata customer { email } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateAddressInput!) {
    updateAddress(id: $id, input: $input) { id firstName company city countryCode } }";
const DELETE: &str = "mutation($id: ID!) { deleteAddress(id: $id) }";
const SET_BILLING: &str =
    "mutation($id: ID!) { setBillingAddress(id: $id) { billingAddress { id } } }";
const BOOK: &str = "{ me { billingAddress { id } shippingAddresses { id city } } }";

fn home() -> Value {
    json!({ "firstName": "Ada", "address1": "1 Main St", "city": "London",
            "postalCode": "N1 9GU", "countryCode": " gb ", "metadata": { "door": "blue" } })
}

async fn add(app: &TestApp, token: &str, input: Value, billing: bool) -> String {
    let data = app
        .data(
            Some(token),
            ADD,
            json!({ "input": input, "billing": billing }),
        )
        .await;
    data["addShippingAddress"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn customers_build_their_address_book() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("ada@example.com").await;
    let added = app
        .data(
            Some(&token),
            ADD,
            json!({ "input": home(), "billing": true }),
        )
        .await;
    let address = &added["addShippingAddress"];
    assert_eq!(address["countryCode"], "GB");
    assert_eq!(address["metadata"], json!({ "door": "blue" }));
    assert_eq!(address["customer"]["email"], "ada@example.com");
    let home_id = address["id"].as_str().unwrap().to_owned();
    let work_id = add(
        &app,
        &token,
        json!({ "city": "Paris", "countryCode": "FR" }),
        false,
    )
    .await;

    let book = app.data(Some(&token), BOOK, json!({})).await;
    assert_eq!(book["me"]["billingAddress"]["id"], home_id);
    assert_eq!(
        book["me"]["shippingAddresses"],
        json!([{ "id": home_id, "city": "London" }, { "id": work_id, "city": "Paris" }])
    );

    let moved = app
        .data(Some(&token), SET_BILLING, json!({ "id": work_id }))
        .await;
    assert_eq!(moved["setBillingAddress"]["billingAddress"]["id"], work_id);

    // Omitted fields stay, null clears, new values replace.
    let updated = app
        .data(
            Some(&token),
            UPDATE,
            json!({ "id": home_id, "input": { "firstName": null, "company": "Analytical Engines",
                                               "countryCode": "ie" } }),
        )
        .await;
    assert_eq!(
        updated["updateAddress"],
        json!({ "id": home_id, "firstName": null, "company": "Analytical Engines",
                "city": "London", "countryCode": "IE" })
    );

    // Deleting the billing address leaves the customer without one.
    app.data(Some(&token), DELETE, json!({ "id": work_id }))
        .await;
    let book = app.data(Some(&token), BOOK, json!({})).await;
    assert!(book["me"]["billingAddress"].is_null());
    assert_eq!(
        book["me"]["shippingAddresses"],
        json!([{ "id": home_id, "city": "London" }])
    );
}

const SET_SHIPPING: &str = "mutation($id: ID!) {
    setDefaultShippingAddress(id: $id) { defaultShippingAddress { id } billingAddress { id } } }";
const DEFAULTS: &str = "{ me { billingAddress { id } defaultShippingAddress { id city } } }";

#[tokio::test]
async fn a_default_shipping_address_beside_the_billing_one() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("ada@example.com").await;
    let none = app.data(Some(&token), DEFAULTS, json!({})).await;
    assert!(none["me"]["defaultShippingAddress"].is_null());

    // One address can be both at once, in the add itself.
    let added = app
        .data(
            Some(&token),
            "mutation($input: AddressInput!) {
                addShippingAddress(input: $input, useAsBilling: true, useAsDefaultShipping: true) { id } }",
            json!({ "input": home() }),
        )
        .await;
    let home_id = added["addShippingAddress"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let both = app.data(Some(&token), DEFAULTS, json!({})).await;
    assert_eq!(both["me"]["billingAddress"]["id"], home_id);
    assert_eq!(both["me"]["defaultShippingAddress"]["id"], home_id);

    // Moving the shipping default leaves billing where it was.
    let work_id = add(
        &app,
        &token,
        json!({ "city": "Paris", "countryCode": "FR" }),
        false,
    )
    .await;
    let moved = app
        .data(Some(&token), SET_SHIPPING, json!({ "id": work_id }))
        .await;
    assert_eq!(
        moved["setDefaultShippingAddress"],
        json!({ "defaultShippingAddress": { "id": work_id }, "billingAddress": { "id": home_id } })
    );

    // Deleting it clears the default, and only that one.
    app.data(Some(&token), DELETE, json!({ "id": work_id }))
        .await;
    let after = app.data(Some(&token), DEFAULTS, json!({})).await;
    assert!(after["me"]["defaultShippingAddress"].is_null());
    assert_eq!(after["me"]["billingAddress"]["id"], home_id);

    // Another customer's address, or a missing one, is NOT_FOUND and changes nothing.
    let (bob, _) = app.register("bob@example.com").await;
    for id in [home_id.clone(), uuid::Uuid::now_v7().to_string()] {
        let response = app.gql(Some(&bob), SET_SHIPPING, json!({ "id": id })).await;
        assert_eq!(error_code(&response), "NOT_FOUND");
    }
    let bobs = app.data(Some(&bob), DEFAULTS, json!({})).await;
    assert!(bobs["me"]["defaultShippingAddress"].is_null());
    // And with the address gone, the default cannot point at it.
    let response = app
        .gql(Some(&token), SET_SHIPPING, json!({ "id": work_id }))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
}

#[tokio::test]
async fn another_customers_address_is_not_found() {
    let app = TestApp::spawn().await;
    let (ada, _) = app.register("ada@example.com").await;
    let (bob, _) = app.register("bob@example.com").await;
    let adas = add(&app, &ada, home(), true).await;
    let missing = uuid::Uuid::now_v7().to_string();
    for id in [&adas, &missing] {
        for (mutation, variables) in [
            (UPDATE, json!({ "id": id, "input": { "city": "Stolen" } })),
            (DELETE, json!({ "id": id })),
            (SET_BILLING, json!({ "id": id })),
        ] {
            let response = app.gql(Some(&bob), mutation, variables).await;
            assert_eq!(error_code(&response), "NOT_FOUND", "{mutation}");
        }
    }
    // Ada's book is untouched.
    let book = app.data(Some(&ada), BOOK, json!({})).await;
    assert_eq!(book["me"]["billingAddress"]["id"], adas);
    assert_eq!(book["me"]["shippingAddresses"][0]["city"], "London");
}

#[tokio::test]
async fn address_input_is_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("ada@example.com").await;
    for (input, field) in [
        (json!({ "countryCode": "XX" }), "countryCode"),
        (json!({ "countryCode": "DEU" }), "countryCode"),
        (json!({ "countryCode": "UK" }), "countryCode"),
        (
            json!({ "countryCode": "DE", "city": "x".repeat(201) }),
            "city",
        ),
        (
            json!({ "countryCode": "DE", "postalCode": "1".repeat(21) }),
            "postalCode",
        ),
        (json!({ "countryCode": "DE", "metadata": 5 }), "metadata"),
    ] {
        let response = app.gql(Some(&token), ADD, json!({ "input": input })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{input}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{input}"
        );
    }
    let id = add(&app, &token, home(), false).await;
    let bad = app
        .gql(
            Some(&token),
            UPDATE,
            json!({ "id": id, "input": { "countryCode": "ZZ" } }),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "countryCode");
    let book = app.data(Some(&token), BOOK, json!({})).await;
    assert_eq!(book["me"]["shippingAddresses"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_address_book_needs_a_customer_session() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let id = uuid::Uuid::now_v7().to_string();
    for (mutation, variables) in [
        (ADD, json!({ "input": home() })),
        (UPDATE, json!({ "id": id, "input": {} })),
        (DELETE, json!({ "id": id })),
        (SET_BILLING, json!({ "id": id })),
    ] {
        assert_eq!(
            app.error_code(None, mutation, variables.clone()).await,
            "UNAUTHENTICATED"
        );
        assert_eq!(
            app.error_code(Some(&admin), mutation, variables).await,
            "FORBIDDEN"
        );
    }
}
