//! The demo-data seed: the shape the issue promises, deterministic, and never mixed
//! into a database that already holds customers.

use std::collections::HashMap;

use entity::{address, customer, customer_group, customer_group_customer, order};
use sea_orm::{EntityTrait, PaginatorTrait};
use tests::{CustomerSpec, TestApp};
use uuid::Uuid;

#[tokio::test]
async fn seed_writes_realistic_deterministic_data() {
    let app = TestApp::spawn().await;
    let schema_before = schema_objects(&app).await;
    let summary = api::seed::run(app.db(), 400).await.unwrap();
    let db = app.db();
    // What the loader set aside for speed (indexes, foreign keys) is all back.
    assert_eq!(schema_objects(&app).await, schema_before);
    let customers = customer::Entity::find().all(db).await.unwrap();
    assert_eq!(customers.len(), 400);
    assert_eq!(summary.customers, 400);
    let guests = customers.iter().filter(|c| !c.has_account).count();
    assert!((140..=260).contains(&guests), "{guests} guests of 400");
    assert_eq!(customer_group::Entity::find().count(db).await.unwrap(), 20);

    let per_customer = |ids: Vec<Uuid>| {
        let mut counts: HashMap<Uuid, usize> = HashMap::new();
        for id in ids {
            *counts.entry(id).or_default() += 1;
        }
        counts
    };
    let addresses = address::Entity::find().all(db).await.unwrap();
    let address_counts = per_customer(addresses.iter().map(|a| a.customer_id).collect());
    let memberships = customer_group_customer::Entity::find()
        .all(db)
        .await
        .unwrap();
    let membership_counts = per_customer(memberships.iter().map(|m| m.customer_id).collect());
    let orders = order::Entity::find().all(db).await.unwrap();
    let order_counts = per_customer(orders.iter().map(|o| o.customer_id).collect());
    for c in &customers {
        let books = address_counts.get(&c.id).copied().unwrap_or(0);
        assert!((1..=3).contains(&books), "{books} addresses");
        assert!(membership_counts.get(&c.id).copied().unwrap_or(0) <= 3);
        assert!(order_counts.get(&c.id).copied().unwrap_or(0) <= 4);
        // Registered customers bill to an address of their own book.
        if c.has_account {
            let billing = c
                .billing_address_id
                .expect("registered customers have billing");
            assert!(
                addresses
                    .iter()
                    .any(|a| a.id == billing && a.customer_id == c.id)
            );
        }
        assert_eq!(c.email, c.email.trim().to_lowercase());
    }
    assert!(orders.iter().all(|o| o.total > 0 && o.subtotal == o.total));
    // Each customer's stored order numbers agree with their orders.
    for c in &customers {
        let mine: Vec<_> = orders.iter().filter(|o| o.customer_id == c.id).collect();
        assert_eq!(c.order_count as usize, mine.len());
        assert_eq!(c.last_order_at, mine.iter().map(|o| o.created_at).max());
    }
    // Values went in as written: JSON, timestamps, the address copies on orders.
    assert!(
        customers
            .iter()
            .any(|c| c.metadata == Some(serde_json::json!({ "source": "seed" }).into()))
    );
    assert!(orders.iter().all(|o| {
        o.billing_address
            .as_ref()
            .is_some_and(|a| a.address_1.is_some())
            && o.created_at > customers[0].created_at
    }));
    // Registered demo customers log in with the demo password.
    let registered = customers.iter().find(|c| c.has_account).unwrap();
    let login = app.login(&registered.email, api::seed::DEMO_PASSWORD).await;
    assert!(login["errors"].is_null(), "{login}");
    let mut display_ids: Vec<i64> = orders.iter().map(|o| o.display_id).collect();
    display_ids.sort();
    assert_eq!(display_ids, (1..=orders.len() as i64).collect::<Vec<_>>());
    // Numbers follow placement time, as in a live store.
    let mut by_number: Vec<_> = orders.iter().collect();
    by_number.sort_by_key(|o| o.display_id);
    assert!(
        by_number
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at)
    );

    // The same run on another database writes the same rows.
    let other = TestApp::spawn().await;
    api::seed::run(other.db(), 400).await.unwrap();
    let again = customer::Entity::find().all(other.db()).await.unwrap();
    let key = |c: &customer::Model| (c.id, c.email.clone(), c.has_account);
    let mut first: Vec<_> = customers.iter().map(key).collect();
    let mut second: Vec<_> = again.iter().map(key).collect();
    first.sort();
    second.sort();
    assert_eq!(first, second);
}

#[tokio::test]
async fn seed_refuses_a_database_with_customers() {
    let app = TestApp::spawn().await;
    app.customer(CustomerSpec {
        email: "real@example.com",
        ..Default::default()
    })
    .await;
    let refused = api::seed::run(app.db(), 10).await;
    assert!(matches!(
        refused,
        Err(api::error::DomainError::BadInput { .. })
    ));
    assert_eq!(customer::Entity::find().count(app.db()).await.unwrap(), 1);
}

/// The database's indexes and constraints (triggers too on SQLite), by name and definition.
async fn schema_objects(app: &TestApp) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = if app.is_postgres() {
        "SELECT indexname || ' ' || indexdef AS object FROM pg_indexes \
         WHERE schemaname = current_schema() \
         UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace = current_schema()::regnamespace ORDER BY 1"
    } else {
        "SELECT name || ' ' || coalesce(sql, '') AS object FROM sqlite_master \
         WHERE type IN ('index', 'trigger') ORDER BY 1"
    };
    let db = app.db();
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "object").unwrap())
        .collect()
}
