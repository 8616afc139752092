//! Backups and upgrades: an online copy of the SQLite database, and data written under
//! the previous schema surviving the newest migrations.

use chrono::{TimeDelta, Utc};
use entity::{order, session, throttle};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::json;
use tests::{EmptyDatabase, TestApp};
use uuid::Uuid;

const GUEST_ORDER: &str = r#"mutation { placeOrder(input: { email: "g@example.com", currencyCode: "EUR",
    lineItems: [{ title: "Tea", quantity: 2, unitPrice: 450 }],
    shippingAddress: { city: "Lyon", countryCode: "FR" } }) { id } }"#;

/// The copy is taken while orders keep coming; it holds a consistent moment (every
/// order it has comes with its lines) and opens as a working database.
#[tokio::test]
async fn backup_copies_a_live_sqlite_database_consistently() {
    let app = TestApp::spawn().await;
    let target = std::env::temp_dir().join(format!("clientele_t_backup_{}.db", Uuid::now_v7()));
    if app.is_postgres() {
        let refused = api::db::backup(app.db(), &target).await.unwrap_err();
        assert!(refused.to_string().contains("pg_dump"), "{refused}");
        return;
    }
    app.register("ada@example.com").await;
    for _ in 0..5 {
        app.data(None, GUEST_ORDER, json!({})).await;
    }
    let writes: Vec<_> = (0..20)
        .map(|_| Box::pin(app.gql(None, GUEST_ORDER, json!({}))))
        .collect();
    let (answers, copied) =
        tokio::join!(tests::join_all(writes), api::db::backup(app.db(), &target));
    copied.expect("backup written");
    assert!(answers.iter().all(|a| a.get("errors").is_none()));

    let url = format!("sqlite://{}", target.display());
    let (copy, _) = api::db::connect(&url, api::db::PoolOptions::small(1))
        .await
        .unwrap();
    let orders = order::Entity::find().all(&copy).await.unwrap();
    assert!((5..=25).contains(&orders.len()), "{} orders", orders.len());
    let lines = entity::line_item::Entity::find()
        .count(&copy)
        .await
        .unwrap();
    assert_eq!(lines as usize, orders.len(), "every order with its line");
    let mut display_ids: Vec<i64> = orders.iter().map(|o| o.display_id).collect();
    display_ids.sort_unstable();
    assert_eq!(display_ids, (1..=orders.len() as i64).collect::<Vec<_>>());
    let customers = entity::customer::Entity::find().count(&copy).await.unwrap();
    assert_eq!(customers, 2, "ada and the guest");
    copy.close().await.unwrap();

    // An existing file is never overwritten.
    let again = api::db::backup(app.db(), &target).await.unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
    }
}

/// The index of a migration by its name, to migrate up to just before it.
fn migrations_before(name: &str) -> u32 {
    let position = Migrator::migrations()
        .iter()
        .position(|m| m.name() == name)
        .expect("a migration of that name");
    position as u32
}

/// Sessions written before the session-activity migration keep working after it:
/// their `last_used_at` is filled from `created_at`, and the throttle table appears.
#[tokio::test]
async fn the_session_activity_migration_keeps_sessions_written_before_it() {
    let database = EmptyDatabase::create().await;
    let (db, _) = api::db::connect(database.url(), api::db::PoolOptions::small(1))
        .await
        .unwrap();
    let before = migrations_before("m20261201_000009_add_session_activity_and_throttles");
    Migrator::up(db.pool(), Some(before)).await.unwrap();

    let admin = Uuid::now_v7();
    let session_id = Uuid::now_v7();
    let created = api::db::now() - TimeDelta::hours(1);
    let expires = created + TimeDelta::hours(12);
    let backend = db.get_database_backend();
    let insert_admin = Query::insert()
        .into_table(Alias::new("admin_user"))
        .columns(["id", "email", "password_hash", "created_at", "updated_at"].map(Alias::new))
        .values_panic([
            admin.into(),
            "old@example.com".into(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
            created.into(),
            created.into(),
        ])
        .to_owned();
    db.execute_raw(backend.build(&insert_admin)).await.unwrap();
    let insert_session = Query::insert()
        .into_table(Alias::new("session"))
        .columns(
            [
                "id",
                "token_hash",
                "admin_user_id",
                "created_at",
                "expires_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            session_id.into(),
            "00".repeat(32).into(),
            admin.into(),
            created.into(),
            expires.into(),
        ])
        .to_owned();
    db.execute_raw(backend.build(&insert_session))
        .await
        .unwrap();

    Migrator::up(db.pool(), None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    let upgraded = session::Entity::find_by_id(session_id)
        .one(&db)
        .await
        .unwrap()
        .expect("the session survived");
    assert_eq!(upgraded.last_used_at, created);
    assert_eq!(upgraded.user_agent, None);
    assert_eq!(upgraded.admin_user_id, Some(admin));
    assert!(upgraded.expires_at > Utc::now());
    assert_eq!(throttle::Entity::find().count(&db).await.unwrap(), 0);
    db.close().await.unwrap();
}

/// Customers written before the search index existed are found by search after the
/// migration that adds it (the index is filled from the rows already there).
#[tokio::test]
async fn the_search_migration_indexes_customers_written_before_it() {
    let database = EmptyDatabase::create().await;
    let (db, _) = api::db::connect(database.url(), api::db::PoolOptions::small(1))
        .await
        .unwrap();
    let before = migrations_before("m20261201_000010_add_customer_search");
    Migrator::up(db.pool(), Some(before)).await.unwrap();
    let created = api::db::now();
    let backend = db.get_database_backend();
    for (email, last_name, deleted) in [
        ("ada@example.com", "Lovelace", false),
        ("alan@example.com", "Turing", false),
        ("gone@example.com", "Lovelace", true),
    ] {
        let insert = Query::insert()
            .into_table(Alias::new("customer"))
            .columns(
                [
                    "id",
                    "email",
                    "last_name",
                    "has_account",
                    "created_at",
                    "updated_at",
                    "deleted_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Uuid::now_v7().into(),
                email.into(),
                last_name.into(),
                false.into(),
                created.into(),
                created.into(),
                deleted.then_some(created).into(),
            ])
            .to_owned();
        db.execute_raw(backend.build(&insert)).await.unwrap();
    }
    Migrator::up(db.pool(), None).await.unwrap();

    // Soft-deleted customers stay out of a search unless asked for (SQLite's search
    // rows carry the flag since migration 18).
    let search = |text: &str| api::domain::customers::CustomerFilter {
        search: api::domain::search::SearchText::parse(Some(text), "search").unwrap(),
        include_deleted: text.contains('@'),
        ..Default::default()
    };
    let request = api::domain::pagination::PageArgs::forward(10)
        .validate()
        .unwrap();
    for (text, expected) in [
        ("lovelace", vec!["ada@example.com"]),
        ("example", vec!["alan@example.com", "ada@example.com"]),
        (
            "@example",
            vec!["alan@example.com", "ada@example.com", "gone@example.com"],
        ),
    ] {
        let page = api::domain::customers::list(&db, &search(text), Default::default(), &request)
            .await
            .unwrap();
        let emails: Vec<&str> = page.items.iter().map(|(_, c)| c.email.as_str()).collect();
        let mut sorted = emails.clone();
        sorted.sort();
        let mut wanted = expected.clone();
        wanted.sort();
        assert_eq!(sorted, wanted, "{text}");
    }

    // Migration 18 rolls back to migration 10's index (SQLite; nothing to undo on
    // PostgreSQL) and forward again, finding the same customers each way.
    Migrator::down(db.pool(), Some(1)).await.unwrap();
    if backend == sea_orm::DbBackend::Sqlite {
        let found = db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                "SELECT COUNT(*) AS n FROM customer_search WHERE customer_search MATCH '\"lovelace\"'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(found, 2, "migration 10's index holds deleted customers too");
    }
    Migrator::up(db.pool(), None).await.unwrap();
    let page = api::domain::customers::list(&db, &search("lovelace"), Default::default(), &request)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    db.close().await.unwrap();
}

/// Orders written before the order-numbers migration are counted by it: each
/// customer's count, last order and spend per currency (canceled orders spend nothing).
#[tokio::test]
async fn the_order_numbers_migration_counts_orders_written_before_it() {
    let database = EmptyDatabase::create().await;
    let (db, _) = api::db::connect(database.url(), api::db::PoolOptions::small(1))
        .await
        .unwrap();
    let before = migrations_before("m20261201_000015_add_customer_order_stats");
    Migrator::up(db.pool(), Some(before)).await.unwrap();
    let backend = db.get_database_backend();
    let customer = Uuid::now_v7();
    let created = api::db::now() - TimeDelta::days(3);
    let insert = Query::insert()
        .into_table(Alias::new("customer"))
        .columns(["id", "email", "has_account", "created_at", "updated_at"].map(Alias::new))
        .values_panic([
            customer.into(),
            "ada@example.com".into(),
            false.into(),
            created.into(),
            created.into(),
        ])
        .to_owned();
    db.execute_raw(backend.build(&insert)).await.unwrap();
    let orders = [
        (1_i64, "EUR", 450_i64, "pending", created),
        (2, "EUR", 1000, "completed", created + TimeDelta::days(1)),
        (3, "GBP", 700, "canceled", created + TimeDelta::days(2)),
    ];
    for (display_id, currency, total, status, at) in orders {
        let insert = Query::insert()
            .into_table(Alias::new("order"))
            .columns(
                [
                    "id",
                    "display_id",
                    "customer_id",
                    "email",
                    "status",
                    "currency_code",
                    "subtotal",
                    "total",
                    "created_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Uuid::now_v7().into(),
                display_id.into(),
                customer.into(),
                "ada@example.com".into(),
                status.into(),
                currency.into(),
                total.into(),
                total.into(),
                at.into(),
                at.into(),
            ])
            .to_owned();
        db.execute_raw(backend.build(&insert)).await.unwrap();
    }
    Migrator::up(db.pool(), None).await.unwrap();
    let after = entity::customer::Entity::find_by_id(customer)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.order_count, 3);
    assert_eq!(after.last_order_at, Some(created + TimeDelta::days(2)));
    let spend = api::domain::stats::spend_of_customers(&db, &[customer])
        .await
        .unwrap();
    let spend: Vec<(String, i64)> = spend[&customer]
        .iter()
        .map(|row| (row.currency_code.clone(), row.amount))
        .collect();
    assert_eq!(
        spend,
        [("EUR".to_owned(), 1450)],
        "the canceled GBP order spends nothing"
    );
    db.close().await.unwrap();
}

/// The audit trail written before the timeline migration is kept whole (SQLite
/// rebuilds the table), marked as admins' actions, and customers' own events fit in.
#[tokio::test]
async fn the_timeline_migration_keeps_the_audit_trail() {
    let database = EmptyDatabase::create().await;
    let (db, _) = api::db::connect(database.url(), api::db::PoolOptions::small(1))
        .await
        .unwrap();
    let before = migrations_before("m20261201_000017_open_admin_action_to_customer_events");
    Migrator::up(db.pool(), Some(before)).await.unwrap();
    let backend = db.get_database_backend();
    let (id, admin, customer) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let insert = Query::insert()
        .into_table(Alias::new("admin_action"))
        .columns(
            [
                "id",
                "admin_user_id",
                "action",
                "customer_id",
                "details",
                "created_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            admin.into(),
            "customer.update".into(),
            customer.into(),
            json!({ "email": "ada@example.com" }).into(),
            api::db::now().into(),
        ])
        .to_owned();
    db.execute_raw(backend.build(&insert)).await.unwrap();
    Migrator::up(db.pool(), None).await.unwrap();
    let kept = entity::admin_action::Entity::find_by_id(id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.admin_user_id, Some(admin));
    assert_eq!(kept.actor, "admin");
    assert_eq!(kept.customer_id, Some(customer));
    assert_eq!(kept.details, Some(json!({ "email": "ada@example.com" })));
    api::domain::audit::record_by(
        &db,
        api::domain::audit::Event {
            actor: api::domain::audit::Actor::Customer,
            kind: api::domain::audit::ActionKind::ProfileChange,
            customer_id: customer,
            details: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        entity::admin_action::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        2
    );
    db.close().await.unwrap();
}

/// Migrations run on the server's own pool of several connections, as `serve` runs
/// them: a table rebuilt in steps spread over two SQLite connections once failed at
/// its rename (the other connection still saw the old table).
#[tokio::test]
async fn migrations_run_on_a_pool_of_several_connections() {
    let database = EmptyDatabase::create().await;
    let pool = api::db::PoolOptions {
        max_connections: 8,
        acquire_timeout: std::time::Duration::from_secs(5),
        statement_timeout: None,
        memory_map: true,
        statement_cache: api::db::DEFAULT_STATEMENT_CACHE,
        transaction_pooler: false,
    };
    let (db, _) = api::db::connect(database.url(), pool).await.unwrap();
    api::db::migrate(&db).await.unwrap();
    assert_eq!(
        entity::admin_action::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        0
    );
    db.close().await.unwrap();
}
