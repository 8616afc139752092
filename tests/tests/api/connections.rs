//! A request's one connection (`Db::for_request`, api/src/db/held.rs): its
//! statements share a connection, it never waits for a second one while it holds
//! one, and it gives its connection back when it ends.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use tests::TestApp;

/// Behind PgBouncer in transaction mode (CI's pooler step) nothing is held: every
/// statement is a transaction of its own, on whichever server PgBouncer lends.
fn behind_pooler(app: &TestApp) -> bool {
    app.is_postgres() && std::env::var("TEST_POOLER_URL").is_ok_and(|url| !url.is_empty())
}

async fn run(db: &impl ConnectionTrait, sql: &str) {
    let stmt = Statement::from_string(db.get_database_backend(), sql);
    db.execute_raw(stmt).await.unwrap();
}

async fn probe_rows(db: &impl ConnectionTrait) -> usize {
    let stmt = Statement::from_string(db.get_database_backend(), "SELECT n FROM held_probe");
    db.query_all_raw(stmt).await.unwrap().len()
}

#[tokio::test]
async fn a_requests_statements_share_one_connection_while_others_use_the_pool() {
    let app = TestApp::spawn().await;
    if behind_pooler(&app) {
        return;
    }
    let request = app.db().for_request();
    // A temporary table exists on the connection that made it, and on no other.
    run(&request, "CREATE TEMPORARY TABLE held_probe (n INTEGER)").await;
    for n in 0..20 {
        run(
            &request,
            &format!("INSERT INTO held_probe (n) VALUES ({n})"),
        )
        .await;
        // Other requests keep the pool's other connections busy meanwhile, so a
        // statement that went to the pool would land on one of them.
        let others: Vec<_> = (0..4)
            .map(|_| {
                let db = app.db().clone();
                tokio::spawn(async move { run(&db, "SELECT 1").await })
            })
            .collect();
        assert_eq!(probe_rows(&request).await, n + 1);
        for other in others {
            other.await.unwrap();
        }
    }
    request.end_request().await;
}

#[tokio::test]
async fn a_request_gives_its_connection_back_before_a_transaction_and_at_its_end() {
    let app = TestApp::spawn_with(|settings| {
        settings.db_max_connections = 1;
        settings.db_acquire_timeout_ms = 2_000;
    })
    .await;
    let request = app.db().for_request();
    run(&request, "SELECT 1").await;
    // The pool's only connection is the request's: a transaction that waited for a
    // second one would time out instead.
    let txn = tokio::time::timeout(Duration::from_secs(10), request.begin())
        .await
        .expect("the transaction waited for the pool")
        .expect("a transaction on the connection the request gave back");
    run(&txn, "SELECT 1").await;
    txn.commit().await.unwrap();
    // After the transaction the request takes a connection again.
    run(&request, "SELECT 1").await;
    request.end_request().await;
    // `request` is still alive, but its connection is back: the pool can serve.
    tokio::time::timeout(Duration::from_secs(10), run(app.db(), "SELECT 1"))
        .await
        .expect("the request kept its connection after it ended");
    // And a statement the ended request still sends goes to the pool.
    run(&request, "SELECT 1").await;
    app.still_serves().await;
}
