//! The person's rights over their data: the subject-access export (complete by the
//! database's own catalog), erasure, and the guest retention rule.

use std::collections::{BTreeMap, BTreeSet};

use api::domain::privacy::{COVERED_TABLES, DERIVED_TABLES, EXPORT_FORMAT};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};
use tests::{CustomerSpec, PASSWORD, TestApp, error_code};
use uuid::Uuid;

use crate::claims::{CONFIRM, REQUEST, nth_claim, token, with_webhook};
use crate::orders::{order_input, place};

const EXPORT: &str = "query($id: ID!) { exportCustomerData(id: $id) }";
const MINE: &str = "{ exportMyData }";
const ERASE: &str = "mutation($id: ID!) { eraseCustomer(id: $id) {
    id email firstName lastName phone hasAccount erasedAt deletedAt metadata } }";
const RESTORE: &str = "mutation($id: ID!) { restoreCustomer(id: $id) { id } }";
const TRAIL: &str = "query($id: ID!) { customer(id: $id, includeDeleted: true) {
    adminActions { nodes { action } } events { nodes { kind actor } } } }";
const ADD_ADDRESS: &str = "mutation($input: AddressInput!) {
    addShippingAddress(input: $input, useAsBilling: true) { id } }";
const ADD_NOTE: &str = "mutation($c: ID!, $body: String!) {
    addCustomerNote(customerId: $c, body: $body) { id } }";

/// Every table that refers to a customer, read from the database's catalog: a
/// foreign key to `customer` or to a table that refers to one, or a column named
/// `customer_id` (or `*_customer_id`) where no key is declared.
async fn tables_referring_to_customers(app: &TestApp) -> BTreeSet<String> {
    let db = app.db();
    let (references, columns) = if app.is_postgres() {
        (
            "SELECT c.relname AS from_table, r.relname AS to_table FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid \
             WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace",
            "SELECT table_name AS from_table, column_name AS column_name \
             FROM information_schema.columns WHERE table_schema = current_schema()",
        )
    } else {
        (
            "SELECT m.name AS from_table, f.\"table\" AS to_table FROM sqlite_master m, \
             pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
            "SELECT m.name AS from_table, c.name AS column_name FROM sqlite_master m, \
             pragma_table_info(m.name) c WHERE m.type = 'table'",
        )
    };
    let rows = |sql: &'static str, second: &'static str| async move {
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row.try_get::<String>("", "from_table").unwrap(),
                    row.try_get::<String>("", second).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let keys = rows(references, "to_table").await;
    let mut personal: BTreeSet<String> = rows(columns, "column_name")
        .await
        .into_iter()
        .filter(|(_, column)| column == "customer_id" || column.ends_with("_customer_id"))
        .map(|(table, _)| table)
        .collect();
    personal.insert("customer".to_owned());
    loop {
        let before = personal.len();
        for (from, to) in &keys {
            if personal.contains(to) {
                personal.insert(from.clone());
            }
        }
        if personal.len() == before {
            return personal;
        }
    }
}

/// A registered customer with a row in every table that can refer to one, made
/// through the API: a guest order, registration, an address, an order, a claim of
/// the guest order, a staff note and a group. Returns (app, admin, customer id,
/// session token, the webhook's last claim token).
async fn customer_with_everything() -> (TestApp, String, String, String, String) {
    let (app, webhook) = with_webhook().await;
    let admin = app.admin_token().await;
    let guest_order = place(&app, None, order_input(Some("sam@example.com"))).await;
    let (sam, sam_id) = app.register("sam@example.com").await;
    app.data(
        Some(&sam),
        ADD_ADDRESS,
        json!({ "input": { "firstName": "Sam", "address1": "2 Mill Lane",
                           "city": "Leeds", "postalCode": "LS1 4AP", "countryCode": "GB" } }),
    )
    .await;
    place(&app, Some(&sam), order_input(None)).await;
    app.data(
        Some(&sam),
        "mutation { setMyConsent(purpose: EMAIL_MARKETING, granted: true) { id } }",
        json!({}),
    )
    .await;
    app.data(Some(&sam), REQUEST, json!({ "ids": [guest_order["id"]] }))
        .await;
    let claim_token = token(&nth_claim(&app, &webhook, "sam@example.com", 1).await);
    app.data(Some(&sam), CONFIRM, json!({ "token": claim_token }))
        .await;
    app.data(
        Some(&admin),
        ADD_NOTE,
        json!({ "c": sam_id, "body": "Prefers Tuesday deliveries" }),
    )
    .await;
    let group = app.group("Wholesale").await;
    app.join(group, sam_id.parse().unwrap()).await;
    (app, admin, sam_id, sam, claim_token)
}

fn pointer<'a>(export: &'a Value, path: &str) -> &'a Value {
    export
        .pointer(path)
        .unwrap_or_else(|| panic!("the export has nothing at {path}: {export:#}"))
}

fn is_filled(value: &Value) -> bool {
    match value {
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

/// The secrets stored for a customer: token hashes and the password hash.
async fn stored_secrets(app: &TestApp, id: Uuid) -> Vec<String> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut secrets: Vec<String> = entity::session::Entity::find()
        .filter(entity::session::Column::CustomerId.eq(id))
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.token_hash)
        .collect();
    secrets.extend(
        entity::customer_token::Entity::find()
            .filter(entity::customer_token::Column::CustomerId.eq(id))
            .all(app.db())
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.token_hash),
    );
    secrets.extend(
        entity::order_claim::Entity::find()
            .filter(entity::order_claim::Column::CustomerId.eq(id))
            .all(app.db())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.token_hash),
    );
    let credential = entity::customer_credential::Entity::find_by_id(id)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    secrets.extend(credential.password_hash);
    secrets
}

#[tokio::test]
async fn the_export_covers_every_table_that_refers_to_a_customer() {
    let (app, admin, sam_id, sam, claim_token) = customer_with_everything().await;

    // The catalog's tables with a customer reference are all exported (or are a
    // search index of the customer's own columns).
    let referring = tables_referring_to_customers(&app).await;
    assert!(
        referring.len() >= 12,
        "the catalog query found too few tables: {referring:?}"
    );
    let covered: BTreeSet<String> = COVERED_TABLES
        .iter()
        .map(|(table, _)| (*table).to_owned())
        .chain(DERIVED_TABLES.iter().map(|table| (*table).to_owned()))
        .collect();
    let missing: Vec<&String> = referring.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "tables that refer to a customer but are not in the export: {missing:?}"
    );

    // And each covered table has its rows in the export of a customer who has some.
    let export = app
        .data(Some(&admin), EXPORT, json!({ "id": sam_id }))
        .await["exportCustomerData"]
        .clone();
    assert_eq!(export["format"], EXPORT_FORMAT);
    for (table, path) in COVERED_TABLES {
        assert!(
            is_filled(pointer(&export, path)),
            "{table} is empty at {path} in {export:#}"
        );
    }

    // What the sections hold.
    assert_eq!(export["customer"]["id"], sam_id);
    assert_eq!(export["customer"]["email"], "sam@example.com");
    assert_eq!(export["customer"]["spend"][0]["currencyCode"], "EUR");
    assert_eq!(export["customer"]["spend"][0]["amount"], 4200);
    assert_eq!(export["addresses"][0]["city"], "Leeds");
    assert_eq!(export["groups"][0]["name"], "Wholesale");
    let orders = export["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "their own order and the claimed one");
    assert_eq!(orders[0]["lines"][0]["title"], "Tea");
    assert_eq!(orders[0]["shippingAddress"]["city"], "London");
    assert_eq!(orders[0]["shippingAddress"]["address1"], "1 Main St");
    assert_eq!(export["claims"][0]["orderIds"], json!([orders[0]["id"]]));
    assert_eq!(export["transfers"][0]["kind"], "claim");
    assert_eq!(export["transfers"][0]["toCustomerId"], sam_id);
    assert_eq!(export["notes"][0]["body"], "Prefers Tuesday deliveries");
    assert_eq!(export["tokens"][0]["purpose"], "email_verification");
    assert_eq!(export["consents"][0]["purpose"], "email_marketing");
    assert_eq!(export["consents"][0]["granted"], true);
    assert_eq!(export["consents"][0]["source"], "customer");
    assert!(export["sessions"][0]["lastUsedAt"].is_string());
    let kinds: BTreeSet<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["order_claim", "verify_email"]));
    let actions: Vec<&str> = export["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"customer.register"), "{actions:?}");
    assert!(actions.contains(&"customer.note_add"), "{actions:?}");

    // No secret: no token (raw or hashed), no password hash.
    let text = export.to_string();
    let mut secrets = stored_secrets(&app, sam_id.parse().unwrap()).await;
    assert!(secrets.len() >= 4, "session, token, claim, password");
    secrets.extend([sam.clone(), claim_token]);
    for secret in secrets {
        assert!(!text.contains(&secret), "the export holds a secret");
    }
    assert!(!text.contains("tokenHash") && !text.contains("passwordHash"));
}

#[tokio::test]
async fn a_customer_exports_their_own_data_as_the_api_shows_it_to_them() {
    let (app, admin, sam_id, sam, _) = customer_with_everything().await;
    let mine = app.data(Some(&sam), MINE, json!({})).await["exportMyData"].clone();
    assert_eq!(mine["customer"]["id"], sam_id);
    assert_eq!(mine["orders"].as_array().unwrap().len(), 2);
    // No staff notes, no note events, no admin's identity or details.
    assert!(mine.get("notes").is_none());
    for event in mine["timeline"].as_array().unwrap() {
        assert_ne!(event["action"], "customer.note_add");
        assert!(event["adminUserId"].is_null());
        if event["actor"] == "admin" {
            assert!(event["details"].is_null());
        }
    }
    assert!(!mine.to_string().contains("Tuesday"));

    // Only for themselves; the admin's export is the admin's.
    let (other, _) = app.register("other@example.com").await;
    let theirs = app.data(Some(&other), MINE, json!({})).await["exportMyData"].clone();
    assert_eq!(theirs["customer"]["email"], "other@example.com");
    assert!(!theirs.to_string().contains("sam@example.com"));
    assert_eq!(
        app.error_code(None, MINE, json!({})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.error_code(Some(&sam), EXPORT, json!({ "id": sam_id }))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(Some(&admin), MINE, json!({})).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(
            Some(&admin),
            EXPORT,
            json!({ "id": Uuid::now_v7().to_string() })
        )
        .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn erasure_forgets_the_person_and_keeps_the_accounts() {
    let (app, admin, sam_id, sam, _) = customer_with_everything().await;
    let id: Uuid = sam_id.parse().unwrap();
    let before = app
        .data(Some(&admin), EXPORT, json!({ "id": sam_id }))
        .await["exportCustomerData"]
        .clone();

    let erased =
        app.data(Some(&admin), ERASE, json!({ "id": sam_id })).await["eraseCustomer"].clone();
    let placeholder = api::domain::privacy::erased_email(id);
    assert_eq!(erased["email"], placeholder);
    assert!(placeholder.ends_with(".invalid"));
    for field in ["firstName", "lastName", "phone", "metadata"] {
        assert!(erased[field].is_null(), "{field}");
    }
    assert!(erased["erasedAt"].is_string());
    assert!(erased["deletedAt"].is_string());

    // Nothing that named the person is left in the export: not the email, not the
    // names, streets, cities or postcodes of the book or of the orders, not the note.
    let after = app
        .data(Some(&admin), EXPORT, json!({ "id": sam_id }))
        .await["exportCustomerData"]
        .clone();
    let text = after.to_string();
    for personal in [
        "sam@example.com",
        "Sam",
        "Ada",
        "Mill Lane",
        "Main St",
        "Leeds",
        "London",
        "LS1 4AP",
        "Tuesday",
    ] {
        assert!(!text.contains(personal), "{personal} survived: {after:#}");
    }
    for empty in [
        "/addresses",
        "/notes",
        "/sessions",
        "/tokens",
        "/messages",
        "/consents",
    ] {
        assert!(!is_filled(pointer(&after, empty)), "{empty}");
    }
    // The accounts keep every order: amounts, lines, dates, currency, countries.
    let orders = |export: &Value| {
        export["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|order| {
                json!([
                    order["id"],
                    order["displayId"],
                    order["total"],
                    order["subtotal"],
                    order["currencyCode"],
                    order["status"],
                    order["createdAt"],
                    order["lines"],
                    order["shippingAddress"]["countryCode"]
                ])
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(orders(&after), orders(&before));
    assert_eq!(after["customer"]["spend"], before["customer"]["spend"]);
    assert_eq!(after["groups"], before["groups"]);
    assert_eq!(after["transfers"], before["transfers"]);
    assert!(
        after["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|event| event["details"].is_null() || event["action"] == "customer.erase")
    );

    // They cannot log in, their session ended, their email is free, and the record
    // never comes back.
    assert_eq!(
        error_code(&app.login("sam@example.com", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    assert_eq!(
        app.error_code(Some(&sam), MINE, json!({})).await,
        "UNAUTHENTICATED"
    );
    let (_, again) = app.register("sam@example.com").await;
    assert_ne!(again, sam_id);
    assert_eq!(
        app.error_code(Some(&admin), RESTORE, json!({ "id": sam_id }))
            .await,
        "CUSTOMER_ERASED"
    );

    // Audited once: erasing again changes and records nothing.
    let again =
        app.data(Some(&admin), ERASE, json!({ "id": sam_id })).await["eraseCustomer"].clone();
    assert_eq!(again, erased);
    let trail = app.data(Some(&admin), TRAIL, json!({ "id": sam_id })).await;
    let erasures = trail["customer"]["adminActions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|action| action["action"] == "CUSTOMER_ERASE")
        .count();
    assert_eq!(erasures, 1);

    // Only admins erase.
    let (other, other_id) = app.register("other@example.com").await;
    assert_eq!(
        app.error_code(Some(&other), ERASE, json!({ "id": other_id }))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn erasing_a_guest_keeps_the_mail_of_the_same_persons_account() {
    // The guest record and the account share an email: the mail to it is the
    // account's, so erasing the guest leaves it.
    let (app, webhook) = with_webhook().await;
    let admin = app.admin_token().await;
    let order = place(&app, None, order_input(Some("kim@example.com"))).await;
    let guest = app.owner_of(&order["id"]).await["id"].clone();
    let (_, kim) = app.register("kim@example.com").await;
    app.deliver_outbox().await;
    assert!(!webhook.received().is_empty());
    let erased =
        app.data(Some(&admin), ERASE, json!({ "id": guest })).await["eraseCustomer"].clone();
    assert!(erased["erasedAt"].is_string());
    let kims =
        app.data(Some(&admin), EXPORT, json!({ "id": kim })).await["exportCustomerData"].clone();
    assert_eq!(kims["messages"][0]["kind"], "verify_email");
    assert_eq!(kims["customer"]["email"], "kim@example.com");
    // The guest's order stays, with its email gone.
    let owner = app.owner_of(&order["id"]).await;
    assert_eq!(owner["id"], guest);
    assert_ne!(owner["email"], "kim@example.com");
}

#[tokio::test]
async fn the_retention_rule_erases_old_guests_only() {
    let now = api::db::now();
    let old = now - chrono::TimeDelta::days(200);
    let recent = now - chrono::TimeDelta::days(20);
    // Housekeeping runs when a server starts: this one has no retention rule.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut ids = BTreeMap::new();
    for (name, has_account, ordered_at) in [
        ("old-guest", false, Some(old)),
        ("old-guest-never-ordered", false, None),
        ("recent-guest", false, Some(recent)),
        ("old-account", true, Some(old)),
    ] {
        let email = format!("{name}@example.com");
        let id = app
            .customer(CustomerSpec {
                email: &email,
                has_account,
                created_at: Some(old),
                ..Default::default()
            })
            .await;
        if let Some(placed) = ordered_at {
            app.order(id, &email, placed, &[("Tea", 1, 450)]).await;
        }
        ids.insert(name, id);
    }
    // An old guest order, then a recent one: the last order counts.
    app.order(
        ids["recent-guest"],
        "recent-guest@example.com",
        old,
        &[("Cup", 1, 100)],
    )
    .await;
    assert_eq!(app.housekeep().await.guests_erased, 0, "off by default");

    // A second instance with the rule erases the two old guests as it starts, and
    // says how many in its log.
    let ruled = app
        .spawn_beside(|settings| settings.guest_retention_months = Some(6))
        .await;
    let mut logged = false;
    for _ in 0..100 {
        logged = tests::logs::captured().lines().any(|line| {
            line.contains("guest retention applied") && line.contains("guests_erased=2")
        });
        if logged {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(logged, "no log line of two erased guests");
    let erased_at = |id: Uuid| {
        let app = &app;
        async move {
            entity::customer::Entity::find_by_id(id)
                .one(app.db())
                .await
                .unwrap()
                .unwrap()
                .erased_at
        }
    };
    assert!(erased_at(ids["old-guest"]).await.is_some());
    assert!(erased_at(ids["old-guest-never-ordered"]).await.is_some());
    assert!(erased_at(ids["recent-guest"]).await.is_none());
    assert!(erased_at(ids["old-account"]).await.is_none());
    let trail = app
        .data(
            Some(&admin),
            TRAIL,
            json!({ "id": ids["old-guest"].to_string() }),
        )
        .await;
    assert_eq!(
        trail["customer"]["events"]["nodes"][0],
        json!({ "kind": "CUSTOMER_ERASE", "actor": "HOUSEKEEPING" })
    );
    // The next sweep finds nothing more.
    assert_eq!(ruled.housekeep().await.guests_erased, 0);
}

#[tokio::test]
async fn an_export_costs_the_same_statements_whatever_the_customer_has() {
    let (app, admin, sam_id, _, _) = customer_with_everything().await;
    let small = app.register_directly("small@example.com").await;
    let sam: Uuid = sam_id.parse().unwrap();
    for n in 0..20 {
        app.order(
            sam,
            "sam@example.com",
            api::db::now(),
            &[("Tea", n + 1, 450), ("Cup", 1, 100)],
        )
        .await;
    }
    let mut costs = Vec::new();
    for id in [small, sam] {
        let before = app.statements();
        let export = app
            .data(Some(&admin), EXPORT, json!({ "id": id.to_string() }))
            .await;
        costs.push(app.statements() - before);
        assert!(export["exportCustomerData"]["customer"]["id"].is_string());
    }
    // The caller's session, then the export's 16 reads (docs/privacy.md).
    assert_eq!(costs, [17, 17], "statements: nothing vs 22 orders and more");
}
