//! Customer accounts: registration and the email rule, login, the profile.

use sea_orm::EntityTrait;
use serde_json::json;
use tests::{ADMIN_EMAIL, CustomerSpec, PASSWORD, TestApp, at, error_code, node_ids};

const REGISTER: &str = "mutation($email: String!, $password: String!, $firstName: String,
        $lastName: String, $phone: String) {
    registerCustomer(email: $email, password: $password, firstName: $firstName,
        lastName: $lastName, phone: $phone) {
        token expiresAt customer { id email hasAccount firstName lastName phone } } }";

const ME: &str = "{ me { id email hasAccount firstName lastName phone metadata } }";

async fn customers_with_email(app: &TestApp, email: &str) -> Vec<entity::customer::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::customer::Entity::find()
        .filter(entity::customer::Column::Email.eq(email))
        .all(app.db())
        .await
        .unwrap()
}

/// The stored hash, which no customer read returns (only `customer_credential` maps it).
async fn password_hash(app: &TestApp, customer: uuid::Uuid) -> Option<String> {
    entity::customer_credential::Entity::find_by_id(customer)
        .one(app.db())
        .await
        .unwrap()
        .and_then(|credential| credential.password_hash)
}

#[tokio::test]
async fn registering_creates_a_registered_customer_and_logs_them_in() {
    let app = TestApp::spawn().await;
    let data = app
        .data(
            None,
            REGISTER,
            json!({ "email": "  Hello@Example.COM ", "password": PASSWORD,
                    "firstName": " Ada ", "lastName": "Lovelace", "phone": "+44 20 1234" }),
        )
        .await;
    let session = &data["registerCustomer"];
    assert_eq!(
        session["customer"],
        json!({ "id": session["customer"]["id"], "email": "hello@example.com", "hasAccount": true,
                "firstName": "Ada", "lastName": "Lovelace", "phone": "+44 20 1234" })
    );
    let token = session["token"].as_str().unwrap();
    let me = app.data(Some(token), ME, json!({})).await;
    assert_eq!(me["me"]["id"], session["customer"]["id"]);
    // The password is stored as an argon2id hash, never as given.
    let stored = customers_with_email(&app, "hello@example.com").await;
    let hash = password_hash(&app, stored[0].id).await.unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn registering_a_guest_email_creates_a_second_record() {
    let app = TestApp::spawn().await;
    let guest = app
        .customer(CustomerSpec {
            email: "shopper@example.com",
            first_name: Some("Guest"),
            ..Default::default()
        })
        .await;
    let (_, registered) = app.register("Shopper@Example.com").await;
    assert_ne!(registered, guest.to_string());
    let both = customers_with_email(&app, "shopper@example.com").await;
    assert_eq!(both.len(), 2);
    let untouched = both.iter().find(|c| c.id == guest).unwrap();
    assert!(!untouched.has_account);
    assert_eq!(untouched.first_name.as_deref(), Some("Guest"));
    assert!(password_hash(&app, guest).await.is_none());
}

#[tokio::test]
async fn registering_a_registered_email_is_email_taken_whatever_its_case() {
    let app = TestApp::spawn().await;
    app.register("taken@example.com").await;
    let response = app
        .gql(
            None,
            REGISTER,
            json!({ "email": " TAKEN@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&response), "EMAIL_TAKEN");
    assert_eq!(
        customers_with_email(&app, "taken@example.com").await.len(),
        1
    );
}

#[tokio::test]
async fn an_admin_email_never_blocks_a_registration() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (customer, _) = app.register(ADMIN_EMAIL).await;
    // Two separate identities with one email: each logs in to its own side.
    let me = app.data(Some(&customer), ME, json!({})).await;
    assert_eq!(me["me"]["email"], ADMIN_EMAIL);
    let current = app
        .data(Some(&admin), "{ currentAdmin { email } }", json!({}))
        .await;
    assert_eq!(current["currentAdmin"]["email"], ADMIN_EMAIL);
}

#[tokio::test]
async fn a_soft_deleted_customers_email_can_be_registered_again() {
    let app = TestApp::spawn().await;
    app.customer(CustomerSpec {
        email: "returning@example.com",
        has_account: true,
        deleted: true,
        ..Default::default()
    })
    .await;
    let (token, _) = app.register("returning@example.com").await;
    let me = app.data(Some(&token), ME, json!({})).await;
    assert_eq!(me["me"]["email"], "returning@example.com");
    assert_eq!(
        customers_with_email(&app, "returning@example.com")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    for round in 0..8 {
        let email = format!("race{round}@example.com");
        // In flight together: the server handles each on its own task.
        let attempts: Vec<_> = (0..6)
            .map(|_| {
                Box::pin(app.gql(
                    None,
                    REGISTER,
                    json!({ "email": email, "password": PASSWORD }),
                ))
            })
            .collect();
        let responses = tests::join_all(attempts).await;
        assert_eq!(
            tests::outcomes(&responses),
            tests::tally(&[("ok", 1), ("EMAIL_TAKEN", 5)]),
            "round {round}: {responses:#?}"
        );
        assert_eq!(customers_with_email(&app, &email).await.len(), 1);
    }
}

#[tokio::test]
async fn bad_registrations_name_the_offending_field() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(201);
    for (variables, field) in [
        (
            json!({ "email": "not-an-email", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "email": "a@example.com", "password": "short" }),
            "password",
        ),
        (
            json!({ "email": "a@example.com", "password": "p".repeat(129) }),
            "password",
        ),
        (
            json!({ "email": "a@example.com", "password": "        " }),
            "password",
        ),
        (
            json!({ "email": "a@example.com", "password": PASSWORD, "firstName": long }),
            "firstName",
        ),
        (
            json!({ "email": "a@example.com", "password": PASSWORD, "lastName": long }),
            "lastName",
        ),
        (
            json!({ "email": "a@example.com", "password": PASSWORD, "phone": "1".repeat(51) }),
            "phone",
        ),
    ] {
        let response = app.gql(None, REGISTER, variables.clone()).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{variables}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{variables}"
        );
    }
    assert!(customers_with_email(&app, "a@example.com").await.is_empty());
}

#[tokio::test]
async fn login_works_for_registered_customers_only_and_fails_uniformly() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com").await;
    app.customer(CustomerSpec {
        email: "guest@example.com",
        ..Default::default()
    })
    .await;
    app.customer(CustomerSpec {
        email: "gone@example.com",
        has_account: true,
        deleted: true,
        ..Default::default()
    })
    .await;

    let ok = app.login(" ADA@example.com", PASSWORD).await;
    assert_eq!(ok["data"]["login"]["customer"]["email"], "ada@example.com");
    let token = ok["data"]["login"]["token"].as_str().unwrap();
    app.data(Some(token), ME, json!({})).await;

    let mut messages = Vec::new();
    for (email, password) in [
        ("ada@example.com", "the wrong password"),
        ("nobody@example.com", PASSWORD),
        ("guest@example.com", PASSWORD),
        ("gone@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ] {
        let response = app.login(email, password).await;
        assert_eq!(error_code(&response), "INVALID_CREDENTIALS", "{email}");
        messages.push(response["errors"][0]["message"].clone());
    }
    assert!(
        messages.windows(2).all(|pair| pair[0] == pair[1]),
        "{messages:?}"
    );
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let app = TestApp::spawn().await;
    let (first, _) = app.register("ada@example.com").await;
    let second = app.login("ada@example.com", PASSWORD).await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = app
        .data(Some(&first), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["logout"], true);
    assert_eq!(
        app.error_code(Some(&first), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    app.data(Some(&second), ME, json!({})).await;
}

#[tokio::test]
async fn a_soft_deleted_customers_sessions_stop_at_once() {
    use sea_orm::{ActiveModelTrait, ActiveValue};
    let app = TestApp::spawn().await;
    let (token, id) = app.register("ada@example.com").await;
    entity::customer::ActiveModel {
        id: ActiveValue::Unchanged(id.parse().unwrap()),
        deleted_at: ActiveValue::Set(Some(at(0))),
        ..Default::default()
    }
    .update(app.db())
    .await
    .unwrap();
    assert_eq!(
        app.error_code(Some(&token), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn storefront_and_admin_operations_keep_to_their_side() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (customer, _) = app.register("ada@example.com").await;
    assert_eq!(app.error_code(None, ME, json!({})).await, "UNAUTHENTICATED");
    assert_eq!(
        app.error_code(Some(&admin), ME, json!({})).await,
        "FORBIDDEN"
    );
    for admin_only in [
        "{ customers { nodes { id } } }",
        "{ customerGroups { nodes { id } } }",
        "{ orders { nodes { id } } }",
        "{ currentAdmin { id } }",
        "mutation { adminLogout }",
        "{ exportCustomerData(id: \"0196b0a0-0000-7000-8000-000000000000\") }",
        "{ customerMergeCandidates(id: \"0196b0a0-0000-7000-8000-000000000000\") { reasons } }",
        "mutation { eraseCustomer(id: \"0196b0a0-0000-7000-8000-000000000000\") { id } }",
        "mutation { mergeCustomers(into: \"0196b0a0-0000-7000-8000-000000000000\",
            from: \"0196b0a0-0000-7000-8000-000000000001\") { preview } }",
    ] {
        let code = app.error_code(Some(&customer), admin_only, json!({})).await;
        assert_eq!(code, "FORBIDDEN", "{admin_only}");
    }
    for customer_only in [
        "mutation { logout }",
        "mutation { updateMe(firstName: \"X\") { id } }",
        "mutation { changePassword(currentPassword: \"a\", newPassword: \"b\") }",
        "mutation { requestEmailChange(newEmail: \"x@example.com\", password: \"p\") }",
        "{ exportMyData }",
    ] {
        assert_eq!(
            app.error_code(None, customer_only, json!({})).await,
            "UNAUTHENTICATED",
            "{customer_only}"
        );
        assert_eq!(
            app.error_code(Some(&admin), customer_only, json!({})).await,
            "FORBIDDEN",
            "{customer_only}"
        );
    }
}

#[tokio::test]
async fn me_has_every_relation_but_not_other_customers() {
    let app = TestApp::spawn().await;
    let (token, id) = app.register("ada@example.com").await;
    let ada: uuid::Uuid = id.parse().unwrap();
    let other = app
        .customer(CustomerSpec {
            email: "bob@example.com",
            ..Default::default()
        })
        .await;
    let vip = app.group("VIP").await;
    app.join(vip, ada).await;
    app.join(vip, other).await;
    let older = app
        .order(ada, "ada@example.com", at(10), &[("Tea", 1, 100)])
        .await;
    let newer = app
        .order(ada, "ada@example.com", at(20), &[("Pot", 1, 900)])
        .await;
    app.order(other, "bob@example.com", at(15), &[("Cup", 1, 300)])
        .await;
    let home = app.address(ada, "London").await;
    app.set_billing_address(ada, home).await;

    let data = app
        .data(
            Some(&token),
            "{ me { groups { name } billingAddress { id customer { email } }
                    shippingAddresses { id } orders { totalCount nodes { id customer { email } } } } }",
            json!({}),
        )
        .await;
    let me = &data["me"];
    assert_eq!(me["groups"], json!([{ "name": "VIP" }]));
    assert_eq!(me["billingAddress"]["id"], home.to_string());
    assert_eq!(me["billingAddress"]["customer"]["email"], "ada@example.com");
    assert_eq!(me["shippingAddresses"], json!([{ "id": home.to_string() }]));
    assert_eq!(me["orders"]["totalCount"], 2);
    assert_eq!(
        node_ids(&me["orders"]),
        [newer.to_string(), older.to_string()]
    );

    // A group shows its name to a member, never its other members or its metadata.
    for field in ["customers { nodes { id } }", "metadata"] {
        let query = format!("{{ me {{ groups {{ {field} }} }} }}");
        assert_eq!(
            app.error_code(Some(&token), &query, json!({})).await,
            "FORBIDDEN"
        );
    }
}

#[tokio::test]
async fn update_me_sets_clears_and_keeps_fields() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("ada@example.com").await;
    let update = "mutation($first: String, $phone: String, $meta: JSON) {
        updateMe(firstName: $first, phone: $phone, metadata: $meta) {
            firstName lastName phone metadata } }";
    let set = app
        .data(
            Some(&token),
            update,
            json!({ "first": "Ada", "phone": "+1 555", "meta": { "newsletter": true } }),
        )
        .await;
    assert_eq!(
        set["updateMe"],
        json!({ "firstName": "Ada", "lastName": null, "phone": "+1 555",
                "metadata": { "newsletter": true } })
    );
    // Omitted arguments keep their value; null clears.
    let cleared = app
        .data(
            Some(&token),
            "mutation { updateMe(phone: null, lastName: \"Lovelace\") { firstName lastName phone metadata } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cleared["updateMe"],
        json!({ "firstName": "Ada", "lastName": "Lovelace", "phone": null,
                "metadata": { "newsletter": true } })
    );
    for (variables, field) in [
        (json!({ "meta": [1, 2] }), "metadata"),
        (json!({ "meta": "text" }), "metadata"),
        (json!({ "first": "x".repeat(201) }), "firstName"),
        (json!({ "phone": "1".repeat(51) }), "phone"),
    ] {
        let response = app.gql(Some(&token), update, variables.clone()).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{variables}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field);
    }
}

/// Every storefront operation, called by nobody, by the owner, by another customer
/// and by an admin: account operations act on the caller's own account only, admins
/// are FORBIDDEN there, and the public ones answer everybody alike.
#[tokio::test]
async fn every_storefront_operation_with_every_kind_of_caller() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ada, _) = app.register("ada@example.com").await;
    let (bob, _) = app.register("bob@example.com").await;
    let adas_address = app
        .data(
            Some(&ada),
            "mutation { addShippingAddress(input: { countryCode: \"DE\" }) { id } }",
            json!({}),
        )
        .await["addShippingAddress"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // (operation, expected code for: nobody, the owner, another customer, an admin);
    // "ok" is success. The owner is Ada.
    let id = json!({ "id": adas_address });
    let cases = [
        (
            "{ me { email } }",
            json!({}),
            ["UNAUTHENTICATED", "ok", "ok", "FORBIDDEN"],
        ),
        (
            "mutation { updateMe(firstName: \"A\") { id } }",
            json!({}),
            ["UNAUTHENTICATED", "ok", "ok", "FORBIDDEN"],
        ),
        (
            "mutation($id: ID!) { updateAddress(id: $id, input: { city: \"X\" }) { id } }",
            id.clone(),
            ["UNAUTHENTICATED", "ok", "NOT_FOUND", "FORBIDDEN"],
        ),
        (
            "mutation($id: ID!) { setBillingAddress(id: $id) { id } }",
            id.clone(),
            ["UNAUTHENTICATED", "ok", "NOT_FOUND", "FORBIDDEN"],
        ),
        (
            "mutation { addShippingAddress(input: { countryCode: \"FR\" }) { id } }",
            json!({}),
            ["UNAUTHENTICATED", "ok", "ok", "FORBIDDEN"],
        ),
        (
            "mutation { requestEmailChange(newEmail: \"next@example.com\", password: \"a fine password\") }",
            json!({}),
            ["UNAUTHENTICATED", "ok", "ok", "FORBIDDEN"],
        ),
        (
            "mutation { changePassword(currentPassword: \"a fine password\", newPassword: \"a fine password\") }",
            json!({}),
            ["UNAUTHENTICATED", "ok", "ok", "FORBIDDEN"],
        ),
        (
            "mutation { requestPasswordReset(email: \"ada@example.com\") }",
            json!({}),
            ["ok", "ok", "ok", "ok"],
        ),
        (
            "mutation { resetPassword(token: \"clr_nope\", newPassword: \"a fine password\") }",
            json!({}),
            ["INVALID_TOKEN"; 4],
        ),
        (
            "mutation { confirmEmailChange(token: \"cle_nope\") { id } }",
            json!({}),
            ["INVALID_TOKEN"; 4],
        ),
        (
            "mutation { login(email: \"ada@example.com\", password: \"a fine password\") { token } }",
            json!({}),
            ["ok"; 4],
        ),
        (
            "mutation($id: ID!) { deleteAddress(id: $id) }",
            id,
            ["UNAUTHENTICATED", "ok", "NOT_FOUND", "FORBIDDEN"],
        ),
    ];
    for (operation, variables, expected) in cases {
        // The owner goes last so the others meet the address before it is deleted.
        for (caller, token) in [
            (0, None),
            (2, Some(&bob)),
            (3, Some(&admin)),
            (1, Some(&ada)),
        ] {
            let response = app
                .gql(token.map(String::as_str), operation, variables.clone())
                .await;
            let outcome = match response.get("errors") {
                None => "ok".to_owned(),
                Some(_) => error_code(&response),
            };
            assert_eq!(
                outcome, expected[caller],
                "{operation} by caller {caller}: {response}"
            );
        }
    }
    // Bob's calls changed only Bob's account.
    let me = app
        .data(Some(&bob), "{ me { email firstName } }", json!({}))
        .await;
    assert_eq!(me["me"]["email"], "bob@example.com");
    // The mail the successful calls sent (resets, email changes) goes out as usual.
    assert!(app.deliver_outbox().await > 0);
}
