//! Import and export as CSV: validation with a report per rejected row, nothing
//! half-written, idempotent re-imports, and exports that import back unchanged.

use api::exchange::{
    ImportSummary, Progress, Rejection, export_customers, export_orders, import_customers,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tests::TestApp;
use uuid::Uuid;

use crate::orders::{order_input, place};

/// The admin every import here is recorded under.
async fn admin_id(app: &TestApp) -> Uuid {
    app.admin_token().await;
    api::domain::admins::with_email(app.db(), tests::ADMIN_EMAIL)
        .await
        .unwrap()
        .id
}

async fn import(app: &TestApp, admin: Uuid, csv: &str) -> (ImportSummary, Vec<Rejection>) {
    let mut rejected = Vec::new();
    let summary = import_customers(
        app.db(),
        admin,
        csv.as_bytes(),
        &mut Progress::Silent,
        |rejection| rejected.push(rejection.clone()),
    )
    .await
    .unwrap();
    (summary, rejected)
}

fn rejection(row: u64, column: &str) -> (u64, String) {
    (row, column.to_owned())
}

const FILE: &str = "\
email,external_id,first_name,last_name,phone,metadata
ada@example.com,ERP-1,Ada,Lovelace,+44 20 1234,\"{\"\"tier\"\": \"\"gold\"\"}\"
not-an-email,ERP-2,Bad,Email,,
grace@example.com,,Grace,Hopper,,{not json
linus@example.com,ERP-4,Linus,,,
too,few,cells
ada@example.com,ERP-9,Ada,Twin,,
";

#[tokio::test]
async fn an_import_reports_each_rejected_row_and_imports_the_rest() {
    let app = TestApp::spawn().await;
    let admin = admin_id(&app).await;
    let (summary, rejected) = import(&app, admin, FILE).await;
    assert_eq!(
        summary,
        ImportSummary {
            rows: 6,
            created: 2,
            updated: 0,
            unchanged: 0,
            rejected: 4,
        }
    );
    let where_: Vec<(u64, String)> = rejected.iter().map(|r| (r.row, r.column.clone())).collect();
    assert_eq!(
        where_,
        [
            rejection(3, "email"),
            rejection(4, "metadata"),
            rejection(6, ""),
            rejection(7, "external_id"),
        ]
    );
    assert!(rejected[2].reason.contains("3 cells"), "{}", rejected[2]);
    // The accepted rows are there, as upsertCustomer would have written them.
    let ada = entity::customer::Entity::find()
        .filter(entity::customer::Column::Email.eq("ada@example.com"))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ada.external_id.as_deref(), Some("ERP-1"));
    assert_eq!(ada.phone.as_deref(), Some("+44 20 1234"));
    assert_eq!(
        ada.metadata.unwrap().readable().cloned(),
        Some(json!({ "tier": "gold" }))
    );
    // Nothing of a rejected row: no customer, no audit row, no event.
    let customers = entity::customer::Entity::find()
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(customers, 2);
    let creations = entity::admin_action::Entity::find()
        .filter(entity::admin_action::Column::Action.eq("customer.create"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(creations, 2);
}

#[tokio::test]
async fn importing_the_same_file_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = admin_id(&app).await;
    let (first, _) = import(&app, admin, FILE).await;
    assert_eq!(first.created, 2);
    let actions = entity::admin_action::Entity::find()
        .count(app.db())
        .await
        .unwrap();
    let events = entity::event::Entity::find().count(app.db()).await.unwrap();
    let (again, rejected) = import(&app, admin, FILE).await;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2));
    assert_eq!(rejected.len(), 4);
    assert_eq!(
        entity::admin_action::Entity::find()
            .count(app.db())
            .await
            .unwrap(),
        actions
    );
    assert_eq!(
        entity::event::Entity::find().count(app.db()).await.unwrap(),
        events
    );
    // A changed cell updates that customer, matched by external id; an empty cell
    // leaves its field alone.
    let edited = "email,external_id,first_name,last_name\nada@example.com,ERP-1,Augusta,\n";
    let (summary, _) = import(&app, admin, edited).await;
    assert_eq!((summary.updated, summary.unchanged), (1, 0));
    let ada = entity::customer::Entity::find()
        .filter(entity::customer::Column::ExternalId.eq("ERP-1"))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ada.first_name.as_deref(), Some("Augusta"));
    assert_eq!(ada.last_name.as_deref(), Some("Lovelace"));
}

#[tokio::test]
async fn a_header_it_cannot_use_stops_the_import_before_any_row() {
    let app = TestApp::spawn().await;
    let admin = admin_id(&app).await;
    for (csv, problem) in [
        (
            "first_name,last_name\nAda,Lovelace\n",
            "email column is required",
        ),
        (
            "email,shoe_size\nada@example.com,38\n",
            "unknown column \"shoe_size\"",
        ),
        ("email,email\na@example.com,b@example.com\n", "twice"),
    ] {
        let error = import_customers(
            app.db(),
            admin,
            csv.as_bytes(),
            &mut Progress::Silent,
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains(problem), "{error}");
    }
    assert_eq!(
        entity::customer::Entity::find()
            .count(app.db())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn an_export_imports_back_unchanged() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 40).await.unwrap();
    let admin = admin_id(&app).await;
    let mut out = Vec::new();
    let written = export_customers(app.db(), &mut out).await.unwrap();
    let live = entity::customer::Entity::find()
        .filter(entity::customer::Column::DeletedAt.is_null())
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(written, live);
    let text = String::from_utf8(out).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().take(3).collect::<Vec<_>>(),
        ["id", "email", "external_id"]
    );
    assert_eq!(reader.records().count() as u64, live);
    // Rows match by their id first: the seed's guest records that share an email
    // with an account stay apart.
    let (summary, rejected) = import(&app, admin, &text).await;
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(summary.unchanged, live, "{summary}");
}

#[tokio::test]
async fn orders_export_with_their_lines() {
    let app = TestApp::spawn().await;
    let order = place(&app, None, order_input(Some("ola@example.com"))).await;
    let mut out = Vec::new();
    assert_eq!(export_orders(app.db(), &mut out).await.unwrap(), 1);
    let text = String::from_utf8(out).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| {
        row.get(header.iter().position(|h| h == name).unwrap())
            .unwrap()
    };
    assert_eq!(cell("id"), order["id"].as_str().unwrap());
    assert_eq!(cell("status"), "pending");
    assert_eq!(cell("total"), "2100");
    assert_eq!(cell("currency_code"), "EUR");
    assert_eq!(cell("shipping_country"), "GB");
    let lines: Value = serde_json::from_str(cell("line_items")).unwrap();
    assert_eq!(lines[0]["title"], "Tea");
    assert_eq!(lines[1]["unitPrice"], 1200);
}

#[tokio::test]
async fn progress_is_plain_lines_away_from_a_terminal() {
    let app = TestApp::spawn().await;
    let admin = admin_id(&app).await;
    let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut progress = Progress::lines(Box::new(Sink(captured.clone())));
    import_customers(app.db(), admin, FILE.as_bytes(), &mut progress, |_| {})
        .await
        .unwrap();
    let lines = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    assert_eq!(
        lines.trim_end(),
        "import finished: 6 rows: 2 created, 0 updated, 0 unchanged, 4 rejected"
    );
}

#[tokio::test]
async fn the_documented_example_file_imports_cleanly() {
    let app = TestApp::spawn().await;
    let admin = admin_id(&app).await;
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/customers.csv"
    ))
    .unwrap();
    let (summary, rejected) = import(&app, admin, &example).await;
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!((summary.rows, summary.created), (3, 3));
}

#[tokio::test]
async fn a_row_that_is_not_utf8_is_rejected_alone() {
    let app = TestApp::spawn().await;
    let admin = admin_id(&app).await;
    let mut file = b"email,first_name\nada@example.com,Ada\nbad@example.com,".to_vec();
    file.extend_from_slice(&[0xff, 0xfe]);
    file.extend_from_slice(b"\nlinus@example.com,Linus\n");
    let mut rejected = Vec::new();
    let summary = import_customers(
        app.db(),
        admin,
        file.as_slice(),
        &mut Progress::Silent,
        |r| rejected.push(r.clone()),
    )
    .await
    .unwrap();
    assert_eq!((summary.rows, summary.created, summary.rejected), (3, 2, 1));
    assert_eq!(rejected[0].row, 3);
    assert_eq!(rejected[0].reason, "not UTF-8 text");
}
