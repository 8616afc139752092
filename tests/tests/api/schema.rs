//! The schema file, migrations and the plain HTTP endpoints.

use sea_orm::{ConnectionTrait, Statement};
use tests::TestApp;

#[test]
fn schema_file_matches_the_running_schema() {
    let running = api::graphql::sdl();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).expect("schema.graphql at the root");
    assert!(
        committed == running,
        "schema.graphql is out of date: run `cargo run -q -- export-schema > schema.graphql`"
    );
}

#[tokio::test]
async fn migrations_create_every_table_on_an_empty_database_and_rerun_cleanly() {
    let app = TestApp::spawn().await;
    // The app migrated at start; a second run must find nothing to do.
    api::db::migrate(app.db())
        .await
        .expect("second migration run");
    let backend = app.db().get_database_backend();
    // The tables the entities map, read from their source so the list cannot go stale.
    let mut entities: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../entity/src"))
            .unwrap()
            .flat_map(|file| {
                std::fs::read_to_string(file.unwrap().path())
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter_map(|line| {
                line.split("table_name = \"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .map(str::to_owned)
            })
            .collect();
    entities.sort();
    // `customer_credential` is a second view of the `customer` table.
    entities.dedup();
    let catalog = if app.is_postgres() {
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    };
    let mut tables: Vec<String> = app
        .db()
        .query_all_raw(Statement::from_string(backend, catalog))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .filter(|name| name != "seaql_migrations")
        // SQLite's search index: an FTS5 table and its shadow tables, which the
        // database keeps (by triggers) and the server only queries.
        .filter(|name| !name.starts_with("customer_search"))
        .collect();
    tables.sort();
    assert_eq!(
        tables, entities,
        "every migrated table has an entity and the other way round"
    );
    for table in &tables {
        let count = app
            .db()
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM \"{table}\""),
            ))
            .await
            .unwrap_or_else(|error| panic!("table {table}: {error}"))
            .expect("a row");
        // The counter table starts with its one row (the order numbers).
        let expected = i64::from(table == "counter");
        assert_eq!(count.try_get::<i64>("", "n").unwrap(), expected, "{table}");
    }
}

#[tokio::test]
async fn health_reports_the_database_and_graphiql_is_served() {
    let app = TestApp::spawn().await;
    let health = app
        .http()
        .get(format!("{}/health", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let graphiql = app
        .http()
        .get(format!("{}/graphql", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql.text().await.unwrap().contains("graphiql"));
}

#[tokio::test]
async fn a_customer_cannot_bill_or_ship_by_default_to_another_customers_address() {
    use entity::customer;
    use sea_orm::{ActiveModelTrait, ActiveValue};
    use tests::CustomerSpec;

    let app = TestApp::spawn().await;
    let ada = app
        .customer(CustomerSpec {
            email: "ada@example.com",
            ..Default::default()
        })
        .await;
    let bob = app
        .customer(CustomerSpec {
            email: "bob@example.com",
            ..Default::default()
        })
        .await;
    let bobs_address = app.address(bob, "Leeds").await;
    let stolen = customer::ActiveModel {
        id: ActiveValue::Unchanged(ada),
        billing_address_id: ActiveValue::Set(Some(bobs_address)),
        ..Default::default()
    }
    .update(app.db())
    .await;
    assert!(stolen.is_err(), "the composite foreign key must refuse it");
    // The same for the default shipping address (a trigger on SQLite).
    for missing_or_not_hers in [bobs_address, uuid::Uuid::now_v7()] {
        let stolen = customer::ActiveModel {
            id: ActiveValue::Unchanged(ada),
            default_shipping_address_id: ActiveValue::Set(Some(missing_or_not_hers)),
            ..Default::default()
        }
        .update(app.db())
        .await;
        assert!(
            stolen.is_err(),
            "the default shipping address must be her own"
        );
    }
    let own = app.address(ada, "London").await;
    app.set_billing_address(ada, own).await;
    customer::ActiveModel {
        id: ActiveValue::Unchanged(ada),
        default_shipping_address_id: ActiveValue::Set(Some(own)),
        ..Default::default()
    }
    .update(app.db())
    .await
    .unwrap();
}

#[test]
fn the_configuration_page_matches_the_settings() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let committed = std::fs::read_to_string(path).expect("docs/configuration.md");
    assert!(
        committed == api::config::reference(),
        "docs/configuration.md is out of date: run \
         `cargo run -q -- config-reference > docs/configuration.md`"
    );
}
