//! Faults with real processes: the built server binary killed with SIGKILL under write
//! load, and a PostgreSQL cluster of the test's own stopped and started under
//! traffic. They need the binary (`CLIENTELE_BIN`) and PostgreSQL's server programs,
//! so they are `#[ignore]`d in a plain `cargo test` (which lists them as ignored) and
//! CI runs them: `.ci/run`, step "faults".

// Tests: an unwrap that fails is a test that fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entity::{customer, customer_token, line_item, order, outbox_message};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tests::processes::{Cluster, REGISTER, Server, gql, register};
use tests::webhook::Webhook;
use uuid::Uuid;

use tests::PASSWORD;

const ORDER: &str = r#"mutation($email: String!) { placeOrder(input: { email: $email, currencyCode: "EUR",
    lineItems: [{ title: "Tea", quantity: 2, unitPrice: 450 }, { title: "Cup", quantity: 1, unitPrice: 1200 }],
    shippingAddress: { city: "Lyon", countryCode: "FR" } }) { id } }"#;
const RESET: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const ME: &str = "{ me { email } }";

/// What the clients were told had happened before the crash.
#[derive(Default)]
struct Acknowledged {
    orders: Vec<Uuid>,
    customers: Vec<Uuid>,
}

/// Writes until the server stops answering: orders, registrations, reset requests.
async fn write_until_gone(base: String, worker: usize, stop: Arc<AtomicBool>) -> Acknowledged {
    let mut acked = Acknowledged::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let email = format!("w{worker}-{n}@example.com");
        let result = match n % 3 {
            0 => gql(
                &base,
                None,
                ORDER,
                json!({ "email": format!("guest{}@example.com", n % 7) }),
            )
            .await
            .map(|r| {
                if let Some(id) = r["data"]["placeOrder"]["id"].as_str() {
                    acked.orders.push(id.parse().unwrap());
                }
            }),
            1 => gql(
                &base,
                None,
                REGISTER,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await
            .map(|r| {
                if let Some(id) = r["data"]["registerCustomer"]["customer"]["id"].as_str() {
                    acked.customers.push(id.parse().unwrap());
                }
            }),
            _ => gql(
                &base,
                None,
                RESET,
                json!({ "email": format!("w{worker}-{}@example.com", n - 1) }),
            )
            .await
            .map(|_| ()),
        };
        if result.is_err() {
            break;
        }
    }
    acked
}

/// Writes until `stop`, through errors: what was acknowledged, and every error code
/// seen (a transport error would be a bug here: the server stays up).
async fn write_through(
    base: String,
    worker: usize,
    stop: Arc<AtomicBool>,
) -> (Acknowledged, Vec<String>) {
    let mut acked = Acknowledged::default();
    let mut codes = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (query, variables) = if n % 2 == 0 {
            (
                ORDER,
                json!({ "email": format!("guest{}@example.com", n % 7) }),
            )
        } else {
            (
                REGISTER,
                json!({ "email": format!("o{worker}-{n}@example.com"), "password": PASSWORD }),
            )
        };
        let answer = gql(&base, None, query, variables)
            .await
            .expect("the server answers");
        if answer.get("errors").is_some() {
            codes.push(tests::error_code(&answer));
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else if let Some(id) = answer["data"]["placeOrder"]["id"].as_str() {
            acked.orders.push(id.parse().unwrap());
        } else if let Some(id) = answer["data"]["registerCustomer"]["customer"]["id"].as_str() {
            acked.customers.push(id.parse().unwrap());
        }
    }
    (acked, codes)
}

/// The invariants a crash must not break, read straight from the database.
async fn check_invariants(database_url: &str, acked: &Acknowledged) {
    let (db, _) = api::db::connect(database_url, api::db::PoolOptions::small(1))
        .await
        .unwrap();
    let orders = order::Entity::find().all(&db).await.unwrap();
    let lines = line_item::Entity::find().all(&db).await.unwrap();
    for o in &orders {
        let own: Vec<_> = lines.iter().filter(|l| l.order_id == o.id).collect();
        assert_eq!(
            own.len(),
            2,
            "order {} has {} lines",
            o.display_id,
            own.len()
        );
        let sum: i64 = own.iter().map(|l| l.total).sum();
        assert_eq!(
            (o.subtotal, o.total),
            (sum, sum),
            "order {} totals",
            o.display_id
        );
    }
    let mut display_ids: Vec<i64> = orders.iter().map(|o| o.display_id).collect();
    display_ids.sort_unstable();
    assert_eq!(
        display_ids,
        (1..=orders.len() as i64).collect::<Vec<_>>(),
        "display ids gapless"
    );
    let counter = entity::counter::Entity::find().all(&db).await.unwrap();
    let counted: i64 = counter.iter().map(|c| c.value).max().unwrap_or(0);
    assert_eq!(
        counted,
        orders.len() as i64,
        "the counter matches the orders"
    );
    for id in &acked.orders {
        assert!(
            orders.iter().any(|o| o.id == *id),
            "acknowledged order {id} lost"
        );
    }
    for id in &acked.customers {
        assert!(
            customer::Entity::find_by_id(*id)
                .one(&db)
                .await
                .unwrap()
                .is_some(),
            "acknowledged registration {id} lost"
        );
    }
    // Every committed reset token has its message, and no message lacks its token.
    let tokens = customer_token::Entity::find()
        .filter(customer_token::Column::Purpose.eq(customer_token::TokenPurpose::PasswordReset))
        .count(&db)
        .await
        .unwrap();
    let messages = outbox_message::Entity::find()
        .filter(outbox_message::Column::Kind.eq("password_reset"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(tokens, messages, "reset tokens and their messages");
    println!(
        "database checked: {} orders ({} acknowledged), {} acknowledged registrations, {tokens} reset messages",
        orders.len(),
        acked.orders.len(),
        acked.customers.len()
    );
    db.close().await.unwrap();
}

async fn crash_under_write_load(database_url: &str) {
    let mut server = Server::start(database_url, &[]).await;
    let token = register(&server.base, "keeper@example.com").await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|w| tokio::spawn(write_until_gone(server.base.clone(), w, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Acknowledged::default();
    for worker in workers {
        let done = worker.await.unwrap();
        acked.orders.extend(done.orders);
        acked.customers.extend(done.customers);
    }
    assert!(
        !acked.orders.is_empty(),
        "the load wrote nothing before the crash"
    );
    check_invariants(database_url, &acked).await;

    // The restarted server serves the sessions issued before the crash.
    let restarted = Server::start(database_url, &[]).await;
    let me = gql(&restarted.base, Some(&token), ME, json!({}))
        .await
        .unwrap();
    assert_eq!(me["data"]["me"]["email"], "keeper@example.com", "{me}");
    let order = gql(
        &restarted.base,
        None,
        ORDER,
        json!({ "email": "after@example.com" }),
    )
    .await
    .unwrap();
    assert!(order.get("errors").is_none(), "{order}");
}

#[tokio::test]
#[ignore = "needs the server binary and PostgreSQL's programs; CI runs it (.ci/run, step faults)"]
async fn a_server_killed_under_write_load_loses_nothing_committed_on_sqlite() {
    let path = std::env::temp_dir().join(format!("clientele_t_crash_{}.db", Uuid::now_v7()));
    crash_under_write_load(&format!("sqlite://{}", path.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
#[ignore = "needs the server binary and PostgreSQL's programs; CI runs it (.ci/run, step faults)"]
async fn a_server_killed_under_write_load_loses_nothing_committed_on_postgres() {
    let cluster = Cluster::create();
    crash_under_write_load(&cluster.url()).await;
}

/// PostgreSQL goes away under traffic and comes back: requests fail fast and typed,
/// `/health` says so, the outbox waits, and the same process serves again.
#[tokio::test]
#[ignore = "needs the server binary and PostgreSQL's programs; CI runs it (.ci/run, step faults)"]
async fn a_database_outage_is_survived_without_a_restart() {
    let cluster = Cluster::create();
    let webhook = Webhook::start(0).await;
    let server = Server::start(
        &cluster.url(),
        &[
            ("CLIENTELE_OUTBOX_WEBHOOK_URL", webhook.url.clone()),
            ("CLIENTELE_OUTBOX_POLL_INTERVAL_MS", "3000".into()),
            ("CLIENTELE_DB_ACQUIRE_TIMEOUT_MS", "1000".into()),
            ("CLIENTELE_REQUEST_TIMEOUT_MS", "5000".into()),
        ],
    )
    .await;
    let base = server.base.clone();
    let token = register(&base, "ada@example.com").await;
    // Messages committed just before the outage; the worker polls every 3 s, so
    // they are still waiting when the database goes.
    for _ in 0..3 {
        gql(&base, None, RESET, json!({ "email": "ada@example.com" }))
            .await
            .unwrap();
    }
    // Writers keep going through the outage and after it.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| tokio::spawn(write_through(base.clone(), w, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop();

    let client = reqwest::Client::new();
    let mut codes = std::collections::BTreeSet::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..6 {
        let started = Instant::now();
        let answer = gql(&base, Some(&token), ME, json!({})).await.unwrap();
        slowest = slowest.max(started.elapsed());
        codes.insert(tests::error_code(&answer));
    }
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    println!(
        "during the outage: codes {codes:?}, slowest answer {slowest:?}, /health {}",
        health.status()
    );
    assert_eq!(codes.into_iter().collect::<Vec<_>>(), ["UNAVAILABLE"]);
    assert!(
        slowest < Duration::from_secs(5),
        "an answer took {slowest:?}"
    );
    assert_eq!(health.status(), 503);

    cluster.start();
    let back = Instant::now();
    let mut served = None;
    while back.elapsed() < Duration::from_secs(30) {
        if let Ok(answer) = gql(&base, Some(&token), ME, json!({})).await
            && answer.get("errors").is_none()
        {
            served = Some(back.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let served = served.expect("the same process serves again");
    println!("served again {served:?} after the database came back");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Acknowledged::default();
    let mut write_codes = std::collections::BTreeMap::<String, usize>::new();
    for writer in writers {
        let (done, codes) = writer.await.unwrap();
        acked.orders.extend(done.orders);
        acked.customers.extend(done.customers);
        for code in codes {
            *write_codes.entry(code).or_default() += 1;
        }
    }
    println!(
        "writers through the outage: {} orders and {} registrations acknowledged, errors {write_codes:?}",
        acked.orders.len(),
        acked.customers.len()
    );
    assert!(
        write_codes.keys().all(|code| code == "UNAVAILABLE"),
        "writes failed otherwise: {write_codes:?}"
    );
    assert!(
        write_codes.contains_key("UNAVAILABLE"),
        "the writers saw the outage"
    );
    // Nothing committed lost, nothing half-written (the messages and tokens of the
    // resets above included).
    check_invariants(&cluster.url(), &acked).await;
    // The outbox resumes: every message sent once the database is back.
    let until = Instant::now() + Duration::from_secs(30);
    while webhook.received().len() < 3 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resets = webhook
        .received()
        .into_iter()
        .filter(|r| r.body["kind"] == "password_reset")
        .count();
    assert_eq!(resets, 3, "the messages committed before the outage");
}

/// SIGTERM to the real process during traffic: requests it accepted get whole
/// answers, it exits cleanly and in bounded time, and then nothing listens.
#[tokio::test]
#[ignore = "needs the server binary and PostgreSQL's programs; CI runs it (.ci/run, step faults)"]
async fn sigterm_under_traffic_drains_and_exits_cleanly() {
    let path = std::env::temp_dir().join(format!("clientele_t_term_{}.db", Uuid::now_v7()));
    let url = format!("sqlite://{}", path.display());
    let mut server = Server::start(&url, &[]).await;
    let base = server.base.clone();
    // Registrations queue for argon2 (one per core), so some are in progress when
    // the signal arrives.
    let requests: Vec<_> = (0..12)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                let email = format!("term{i}@example.com");
                gql(
                    &base,
                    None,
                    REGISTER,
                    json!({ "email": email, "password": PASSWORD }),
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let signalled = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let started = Instant::now();
    let mut answered = 0;
    for request in requests {
        // A request the server had not accepted yet may be refused at connect; one
        // it accepted must come back whole.
        if let Ok(answer) = request.await.unwrap() {
            assert!(
                answer["data"]["registerCustomer"]["token"].is_string(),
                "{answer}"
            );
            answered += 1;
        }
    }
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "SIGTERM: {answered} of 12 requests answered whole, exit {status} after {:?}",
        started.elapsed()
    );
    assert!(status.success(), "exit status {status}");
    assert!(answered > 0, "no request was in progress at the signal");
    assert!(
        tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err(),
        "something still listens"
    );
    // Every answered registration is in the database.
    let (db, _) = api::db::connect(&url, api::db::PoolOptions::small(1))
        .await
        .unwrap();
    let stored = customer::Entity::find().count(&db).await.unwrap();
    assert!(
        stored as usize >= answered,
        "{stored} stored, {answered} answered"
    );
    db.close().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
