//! A request's one connection (`Db::for_request`, api/src/db/held.rs): its
//! statements share a connection, it gives that connection back before a
//! transaction, and when it ends hands it to the next request if every statement on
//! it was answered (and the pool lent it less than ten seconds ago); spares never
//! keep a request or a transaction waiting on the pool; and a transaction given up
//! while it began leaves none open (`Db::begun`).

use std::time::{Duration, Instant};

use api::db::{PoolOptions, pool_state};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use tests::{EmptyDatabase, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Behind PgBouncer in transaction mode (CI's pooler step) nothing is held: every
/// statement is a transaction of its own, on whichever server PgBouncer lends.
fn behind_pooler(app: &TestApp) -> bool {
    app.is_postgres() && std::env::var("TEST_POOLER_URL").is_ok_and(|url| !url.is_empty())
}

async fn run(db: &impl ConnectionTrait, sql: &str) {
    let stmt = Statement::from_string(db.get_database_backend(), sql);
    db.execute_raw(stmt).await.unwrap();
}

async fn rows_in(db: &impl ConnectionTrait, table: &str) -> usize {
    let stmt = Statement::from_string(db.get_database_backend(), format!("SELECT n FROM {table}"));
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
        assert_eq!(rows_in(&request, "held_probe").await, n + 1);
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

#[tokio::test]
async fn an_ended_request_hands_its_connection_to_the_next_one() {
    let app = TestApp::spawn_with(|settings| settings.db_max_connections = 3).await;
    if behind_pooler(&app) {
        return;
    }
    // Two requests on connections of their own; the first makes a temporary table.
    let first = app.db().for_request();
    let second = app.db().for_request();
    run(&first, "CREATE TEMPORARY TABLE handed_probe (n INTEGER)").await;
    run(&second, "SELECT 1").await;
    // A third connection, idle in the pool before they end: the pool lends the
    // longest idle first, so a request that took from the pool would get this one.
    run(app.db(), "SELECT 1").await;
    for _ in 0..100 {
        if pool_state(app.db()).idle == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pool_state(app.db()).idle, 1);
    second.end_request().await;
    first.end_request().await;
    assert_eq!(pool_state(app.db()).spare, 2);
    // The next request takes the connection given up last: the first's.
    let next = app.db().for_request();
    assert_eq!(rows_in(&next, "handed_probe").await, 0);
    next.end_request().await;
    // Spares unused for a second go back to the pool (`PING_AFTER_IDLE`).
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let state = pool_state(app.db());
    assert_eq!((state.spare, state.idle), (0, 3));
}

#[tokio::test]
async fn a_connection_cut_off_mid_statement_goes_back_to_the_pool() {
    let app = TestApp::spawn().await;
    if behind_pooler(&app) {
        return;
    }
    // About a second of work on either database.
    let long = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                WHERE x < 3000000) SELECT count(*) FROM c";
    let request = app.db().for_request();
    let cut_off = tokio::time::timeout(Duration::from_millis(50), run(&request, long)).await;
    assert!(cut_off.is_err(), "the statement was meant to be cut off");
    request.end_request().await;
    assert_eq!(pool_state(app.db()).spare, 0);
    // The database's own error leaves the connection ready: it is kept.
    let request = app.db().for_request();
    let stmt = Statement::from_string(
        app.db().get_database_backend(),
        "SELECT * FROM no_such_table",
    );
    assert!(request.query_all_raw(stmt).await.is_err());
    request.end_request().await;
    assert_eq!(pool_state(app.db()).spare, 1);
}

#[tokio::test]
async fn a_connection_in_constant_use_still_goes_back_to_the_pool() {
    let app = TestApp::spawn().await;
    if behind_pooler(&app) {
        return;
    }
    // The pool checks a connection (its lifetime among others) only when it is given
    // back: a spare lent out ten seconds ago goes back (`BACK_TO_POOL_EVERY`).
    let before = Instant::now();
    let mut after_first = None;
    loop {
        let request = app.db().for_request();
        run(&request, "SELECT 1").await;
        // The pool lent the connection between `before` and the first answer.
        let lent_at_least = after_first.get_or_insert_with(Instant::now).elapsed();
        request.end_request().await;
        let lent_at_most = before.elapsed();
        let spare = pool_state(app.db()).spare;
        if lent_at_most < Duration::from_millis(9_900) {
            assert_eq!(spare, 1, "handed on after {lent_at_most:?}");
        }
        if lent_at_least >= Duration::from_secs(10) {
            assert_eq!(spare, 0, "still handed on after {lent_at_least:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn spares_never_keep_a_request_or_a_transaction_waiting() {
    let app = TestApp::spawn_with(|settings| {
        settings.db_max_connections = 2;
        // Shorter than a spare is kept unused before it goes back on its own.
        settings.db_acquire_timeout_ms = 300;
    })
    .await;
    if behind_pooler(&app) {
        return;
    }
    let (first, second) = (app.db().for_request(), app.db().for_request());
    run(&first, "SELECT 1").await;
    run(&second, "SELECT 1").await;
    // Both connections are lent: a third request waits on the pool, and the first
    // request's connection must go there, not to the spares.
    let third = app.db().for_request();
    let waiting = tokio::spawn(async move {
        run(&third, "SELECT 1").await;
        third.end_request().await;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.end_request().await;
    waiting.await.expect("a request waited on a spare");
    assert_eq!(pool_state(app.db()).spare, 0);
    // sqlx tests a connection given back in a task of its own and counts it idle
    // after: until then the pool has none idle, and the last one would go there too.
    let until = Instant::now() + Duration::from_secs(10);
    while pool_state(app.db()).idle == 0 {
        assert!(
            Instant::now() < until,
            "the pool never had the connection back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // With one connection idle in the pool, the last one is kept.
    second.end_request().await;
    assert_eq!(pool_state(app.db()).spare, 1);
    // One transaction takes the pool's idle connection; the next one the spare.
    let txn = app.db().begin().await.unwrap();
    run(&txn, "SELECT 1").await;
    let other = app
        .db()
        .begin()
        .await
        .expect("a transaction waited on a spare");
    run(&other, "SELECT 1").await;
    other.commit().await.unwrap();
    txn.commit().await.unwrap();
    app.db().ping().await.unwrap();
    app.still_serves().await;
}

/// A transaction whose caller is dropped while it begins (a client that left, a
/// deadline) must not leave its connection inside a transaction that nobody ends:
/// the pool's next statements on it would never commit (`Db::begun` says how sqlx
/// gets there). PostgreSQL only: sqlx's SQLite worker counts the transaction itself,
/// with no such window.
#[tokio::test]
async fn a_transaction_given_up_while_it_began_leaves_no_transaction_behind() {
    let database = EmptyDatabase::create().await;
    if !database.url().starts_with("postgres") {
        return;
    }
    // PostgreSQL's answers held for 100 ms on their way back: a begin polled once
    // has sent `BEGIN` and is waiting for the answer, deterministically.
    let relay = slow_relay(database.url(), Duration::from_millis(100)).await;
    let (db, _) = api::db::connect(&relay, PoolOptions::small(1))
        .await
        .unwrap();
    run(&db, "CREATE TABLE given_up_probe (n INTEGER)").await;
    // Back in the pool once sqlx has tested it (a round trip, so 100 ms).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let begin = Box::pin(db.begin());
    assert!(
        tokio::time::timeout(Duration::from_millis(20), begin)
            .await
            .is_err(),
        "the begin was meant to be waiting for PostgreSQL's answer"
    );
    // The pool's one connection: the one the begin had.
    run(&db, "INSERT INTO given_up_probe (n) VALUES (1)").await;
    // Another connection sees the row only if it committed.
    let (other, _) = api::db::connect(database.url(), PoolOptions::small(1))
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), rows_in(&other, "given_up_probe"))
        .await
        .expect("the probe waited on a lock of a transaction left open");
    assert_eq!(seen, 1, "the insert ran inside a transaction left open");
}

/// `url` through a TCP relay on 127.0.0.1 that holds each chunk the server sends
/// back for `delay`.
async fn slow_relay(url: &str, delay: Duration) -> String {
    let (head, rest) = url.split_once('@').unwrap();
    let (server, path) = rest.split_once('/').unwrap();
    let server = server.to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = TcpStream::connect(&server).await.unwrap();
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = upstream.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
            tokio::spawn(async move {
                let mut chunk = vec![0; 64 * 1024];
                while let Ok(read @ 1..) = from_server.read(&mut chunk).await {
                    tokio::time::sleep(delay).await;
                    if to_client.write_all(&chunk[..read]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    format!("{head}@{relay}/{path}")
}
