//! Scaling out with real servers: hot standbys of a PostgreSQL primary of the test's
//! own (`pg_basebackup -R`), and events published to NATS JetStream. They need
//! PostgreSQL's server programs, a NATS server with JetStream on 127.0.0.1:4222 and
//! (for the crash) the server binary, so they are `#[ignore]`d in a plain
//! `cargo test` and CI runs them: `.ci/run`, step "scaling".

// Tests: an unwrap that fails is a test that fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api::standbys::StandbyState;
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use tests::processes::{Cluster, REGISTER, Server, register};
use tests::{PASSWORD, TestApp};

/// A primary and a standby of it, and the database the servers use on both.
struct Pair {
    primary: Cluster,
    standby: Cluster,
}

const DATABASE: &str = "shop";

impl Pair {
    /// A primary with the database created, then a standby of it (`apply_delay`:
    /// `recovery_min_apply_delay`).
    async fn create(apply_delay: Option<&str>) -> Self {
        let primary = Cluster::create();
        let (db, _) = api::db::connect(&primary.url(), api::db::PoolOptions::small(1))
            .await
            .unwrap();
        db.execute_unprepared(&format!("CREATE DATABASE {DATABASE}"))
            .await
            .unwrap();
        let standby = Cluster::standby_of(&primary, apply_delay);
        Self { primary, standby }
    }

    /// A server on the primary that reads from the standby.
    async fn server(&self, configure: impl Fn(&mut api::config::Settings)) -> TestApp {
        let app = TestApp::spawn_on(&self.primary.url_of(DATABASE), |settings| {
            self.reads_from_standby(settings);
            configure(settings);
        })
        .await;
        wait_for_state(&app, StandbyState::Healthy, Duration::from_secs(60)).await;
        app
    }

    /// A second instance beside `first`, on the same primary and standby.
    async fn second(
        &self,
        first: &TestApp,
        configure: impl Fn(&mut api::config::Settings),
    ) -> TestApp {
        let app = first
            .spawn_beside(|settings| {
                self.reads_from_standby(settings);
                configure(settings);
            })
            .await;
        wait_for_state(&app, StandbyState::Healthy, Duration::from_secs(60)).await;
        app
    }

    fn reads_from_standby(&self, settings: &mut api::config::Settings) {
        settings.standby_urls = vec![self.standby.url_of(DATABASE)];
        settings.standby_check_interval_ms = 100;
    }
}

async fn wait_for_state(app: &TestApp, state: StandbyState, within: Duration) {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if app.standbys()[0].state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the standby never became {state:?}: {:?}", app.standbys());
}

async fn metrics_of(app: &TestApp) -> String {
    let url = format!("{}/metrics", app.base_url);
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// A client that keeps the newest consistency token it was given and sends it with
/// every request, as the typed clients do.
#[derive(Default)]
struct Client {
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    async fn gql(
        &mut self,
        app: &TestApp,
        bearer: Option<&str>,
        query: &str,
        vars: Value,
    ) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", app.base_url))
            .json(&json!({ "query": query, "variables": vars }));
        if let Some(token) = &self.token {
            request = request.header("Clientele-Consistency", token);
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        let header = response
            .headers()
            .get("clientele-consistency")
            .map(|value| value.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            header.as_deref(),
            body["extensions"]["consistencyToken"].as_str(),
            "the header and the extension carry the same token: {body}"
        );
        assert!(header.is_some(), "every response carries a token: {body}");
        self.token = header;
        body
    }

    async fn data(
        &mut self,
        app: &TestApp,
        bearer: Option<&str>,
        query: &str,
        vars: Value,
    ) -> Value {
        let body = self.gql(app, bearer, query, vars).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }
}

const LIST: &str = "{ customers(first: 20) { totalCount nodes { email groups { name } } } }";

#[tokio::test]
#[ignore = "needs PostgreSQL's server programs; CI runs it (.ci/run, step scaling)"]
async fn queries_are_answered_by_the_standby_and_mutations_by_the_primary() {
    let pair = Pair::create(None).await;
    // One health check at start-up and no more during the test: the checks run on
    // the standby's pool too, and one landing between two counts made the standby
    // seem to have served the mutation.
    let app = pair
        .server(|settings| settings.standby_check_interval_ms = 600_000)
        .await;
    let admin = app.admin_token().await;
    let mut client = Client::default();
    client
        .data(
            &app,
            Some(&admin),
            "mutation { createCustomer(email: \"ada@example.com\") { id } }",
            json!({}),
        )
        .await;
    let primary_before = app.statements();
    let standby_before = app.standbys()[0].statements;
    for _ in 0..10 {
        let data = client.data(&app, Some(&admin), LIST, json!({})).await;
        assert_eq!(data["customers"]["nodes"][0]["email"], "ada@example.com");
    }
    let report = &app.standbys()[0];
    // The primary checks each request's session, and nothing else: the customers,
    // their groups, the count and the token all come from the standby.
    assert_eq!(app.statements() - primary_before, 10);
    assert!(
        report.statements - standby_before >= 10 * 4,
        "{} statements on the standby",
        report.statements - standby_before
    );
    assert_eq!(report.reads, 10);
    // A mutation runs on the primary, the standby untouched.
    let standby_before = app.standbys()[0].statements;
    client
        .data(
            &app,
            Some(&admin),
            "mutation { createCustomer(email: \"bo@example.com\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(app.standbys()[0].statements, standby_before);
    // `/health` and `/metrics` show the standby.
    let health: Value = reqwest::get(format!("{}/health", app.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["standbys"][0]["state"], "healthy", "{health}");
    assert!(
        health["standbys"][0]["lagMs"].as_u64().is_some(),
        "{health}"
    );
    let metrics = metrics_of(&app).await;
    let name = &report.name;
    assert!(metrics.contains(&format!(
        "clientele_standby_in_rotation{{standby=\"{name}\"}} 1"
    )));
    assert!(metrics.contains(&format!(
        "clientele_standby_reads_total{{standby=\"{name}\"}} 10"
    )));
    assert!(metrics.contains(&format!(
        "clientele_standby_lag_seconds{{standby=\"{name}\"}}"
    )));
}

const ME: &str = "{ me { email shippingAddresses { city } orders(first: 10) { nodes { id } } } }";
const ADD_ADDRESS: &str = "mutation($city: String!) {
    addShippingAddress(input: { city: $city, countryCode: \"GB\" }) { id } }";
const ORDER: &str = r#"mutation($email: String!) { placeOrder(input: { email: $email,
    currencyCode: "EUR", lineItems: [{ title: "Tea", quantity: 1, unitPrice: 450 }],
    shippingAddress: { city: "Lyon", countryCode: "FR" } }) { id } }"#;

/// The standby shows each commit three seconds late; two instances share the
/// primary and the standby, and the client goes back and forth between them.
#[tokio::test]
#[ignore = "needs PostgreSQL's server programs; CI runs it (.ci/run, step scaling)"]
async fn a_client_never_reads_older_data_than_it_wrote_through_two_instances() {
    let pair = Pair::create(Some("3s")).await;
    // The lag limit is above the delay: the standby stays in rotation, and only the
    // token keeps the client from its stale rows.
    let lag_limit = |settings: &mut api::config::Settings| settings.standby_max_lag_ms = 60_000;
    let one = pair.server(lag_limit).await;
    let two = pair.second(&one, lag_limit).await;
    let instances = [&one, &two];
    for round in 0..3 {
        let mut client = Client::default();
        let email = format!("ada{round}@example.com");
        let registered = client
            .data(
                instances[round % 2],
                None,
                REGISTER,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        let session = registered["registerCustomer"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let other = instances[(round + 1) % 2];
        // Register, then `me` on the other instance.
        let me = client.data(other, Some(&session), ME, json!({})).await;
        assert_eq!(me["me"]["email"], email.as_str());
        // Without the token the standby answers, three seconds behind: the proof
        // that the token, not luck, served the new data.
        let stale = Client::default()
            .gql(other, Some(&session), ME, json!({}))
            .await;
        assert_ne!(stale["data"]["me"]["email"], email.as_str(), "{stale}");
        // Add an address, then read the book on the first instance.
        let city = format!("Leeds {round}");
        client
            .data(other, Some(&session), ADD_ADDRESS, json!({ "city": city }))
            .await;
        let me = client
            .data(instances[round % 2], Some(&session), ME, json!({}))
            .await;
        assert_eq!(me["me"]["shippingAddresses"][0]["city"], city.as_str());
        // Place an order, then list the orders on the other instance.
        let order = client
            .data(
                instances[round % 2],
                Some(&session),
                ORDER,
                json!({ "email": email }),
            )
            .await;
        let me = client.data(other, Some(&session), ME, json!({})).await;
        assert_eq!(
            me["me"]["orders"]["nodes"][0]["id"],
            order["placeOrder"]["id"]
        );
        // Logged out on one instance, the session is refused on the other at once,
        // token or not: sessions are resolved on the primary.
        client
            .data(
                instances[round % 2],
                Some(&session),
                "mutation { logout }",
                json!({}),
            )
            .await;
        for sent_token in [true, false] {
            let mut asker = if sent_token {
                Client {
                    token: client.token.clone(),
                    ..Client::default()
                }
            } else {
                Client::default()
            };
            let refused = asker.gql(other, Some(&session), ME, json!({})).await;
            assert_eq!(tests::error_code(&refused), "UNAUTHENTICATED", "{refused}");
        }
    }
    // Once the standby has replayed past the token, it answers the same client.
    let reads_before = one.standbys()[0].reads;
    let mut client = Client::default();
    let admin = one.admin_token().await;
    client.data(&one, Some(&admin), LIST, json!({})).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    client.data(&one, Some(&admin), LIST, json!({})).await;
    assert!(
        one.standbys()[0].reads > reads_before,
        "{:?}",
        one.standbys()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL's server programs; CI runs it (.ci/run, step scaling)"]
async fn a_standby_stopped_under_load_loses_no_request_and_comes_back() {
    let pair = Pair::create(None).await;
    let app = Arc::new(pair.server(|_| {}).await);
    let admin = app.admin_token().await;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (app, admin, stop) = (app.clone(), admin.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answered = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = app.gql(Some(&admin), LIST, json!({})).await;
                    assert!(body.get("errors").is_none(), "a read failed: {body}");
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_stop = app.standbys()[0].reads;
    assert!(before_stop > 0, "the standby answered before it stopped");
    pair.standby.stop();
    wait_for_state(&app, StandbyState::Down, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pair.standby.start();
    wait_for_state(&app, StandbyState::Healthy, Duration::from_secs(60)).await;
    let back = app.standbys()[0].reads;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered = 0;
    for reader in readers {
        answered += reader.await.unwrap();
    }
    assert!(
        app.standbys()[0].reads > back,
        "reads came back to the standby"
    );
    let metrics = metrics_of(&app).await;
    let primary_reads: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("clientele_primary_reads_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        primary_reads > 0,
        "the primary answered while the standby was down"
    );
    println!("{answered} reads, none lost; {primary_reads} answered by the primary");
}

#[tokio::test]
#[ignore = "needs PostgreSQL's server programs; CI runs it (.ci/run, step scaling)"]
async fn a_standby_further_behind_than_the_limit_leaves_the_rotation() {
    let pair = Pair::create(Some("3s")).await;
    let app = pair
        .server(|settings| settings.standby_max_lag_ms = 1_000)
        .await;
    let admin = app.admin_token().await;
    // Writes the standby shows three seconds late.
    for n in 0..30 {
        let email = format!("c{n}@example.com");
        app.data(
            Some(&admin),
            "mutation($email: String!) { createCustomer(email: $email) { id } }",
            json!({ "email": email }),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_state(&app, StandbyState::Lagging, Duration::from_secs(10)).await;
    let reads = app.standbys()[0].reads;
    let data = app.data(Some(&admin), LIST, json!({})).await;
    assert_eq!(
        data["customers"]["totalCount"], 30,
        "the primary answered, up to date"
    );
    assert_eq!(app.standbys()[0].reads, reads);
    // Quiet again, it catches up and rejoins.
    wait_for_state(&app, StandbyState::Healthy, Duration::from_secs(30)).await;
}

// ---- Events to NATS JetStream ----

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Every message of the stream, by the `Nats-Msg-Id` it was published with.
async fn stream_messages(stream: &str) -> Vec<(String, Value)> {
    let client = async_nats::connect(NATS_URL)
        .await
        .expect("NATS on 127.0.0.1:4222 (CI needs it)");
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(stream).await.unwrap();
    let count = stream.info().await.unwrap().state.messages;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(count as usize + 10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let id = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("Nats-Msg-Id"))
            .map(|value| value.to_string())
            .expect("every message has its id");
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(
            message.subject.as_str(),
            format!(
                "{}.{}",
                stream.cached_info().config.name.to_lowercase(),
                body["type"].as_str().unwrap()
            )
        );
        seen.push((id, body));
    }
    seen
}

async fn query_one(db: &api::db::Db, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// The broker's outbox messages and their state, for a failing test's message.
async fn outbox_rows(db: &api::db::Db) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT kind || ' attempts ' || attempts || ' next ' || next_attempt_at
                    || ' delivered ' || coalesce(delivered_at::text, '-')
                    || ' error ' || coalesce(last_error, '-')
             FROM outbox_message WHERE recipient = 'broker:nats' ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect()
}

/// Waits until the outbox has sent every event to the broker.
async fn wait_published(db: &api::db::Db) {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        let pending = query_one(
            db,
            "SELECT count(*) FROM outbox_message WHERE recipient = 'broker:nats' AND delivered_at IS NULL",
        )
        .await;
        let undispatched =
            query_one(db, "SELECT count(*) FROM event WHERE dispatched_at IS NULL").await;
        if pending == 0 && undispatched == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the events were never all published");
}

/// The server is killed with SIGKILL after JetStream stored an event and before the
/// outbox marked it sent (a trigger holds the marking). Started again, it publishes
/// the event a second time, and JetStream drops the copy: a consumer gets every
/// committed event exactly once.
#[tokio::test]
#[ignore = "needs the server binary, PostgreSQL's programs and NATS; CI runs it (.ci/run, step scaling)"]
async fn every_committed_event_reaches_jetstream_once_even_after_a_kill() {
    let cluster = Cluster::create();
    let url = cluster.url();
    let stream = format!("CLIENTELE_T{}", uuid::Uuid::now_v7().simple());
    let env = [
        ("CLIENTELE_NATS_URL", NATS_URL.to_owned()),
        ("CLIENTELE_NATS_STREAM", stream.clone()),
        ("CLIENTELE_OUTBOX_POLL_INTERVAL_MS", "50".to_owned()),
    ];
    let mut server = Server::start(&url, &env).await;
    let (db, _) = api::db::connect(&url, api::db::PoolOptions::small(1))
        .await
        .unwrap();
    for n in 0..10 {
        register(&server.base, &format!("before{n}@example.com")).await;
    }
    wait_published(&db).await;
    // Hold the marking of broker messages: the publish happens, the mark waits.
    db.execute_unprepared(
        "CREATE FUNCTION hold_mark() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_sleep(600); RETURN NEW; END $$;
         CREATE TRIGGER hold_mark BEFORE UPDATE ON outbox_message FOR EACH ROW
         WHEN (OLD.recipient = 'broker:nats' AND OLD.delivered_at IS NULL
               AND NEW.delivered_at IS NOT NULL)
         EXECUTE FUNCTION hold_mark()",
    )
    .await
    .unwrap();
    let published_before = stream_messages(&stream).await.len();
    register(&server.base, "during@example.com").await;
    let until = Instant::now() + Duration::from_secs(30);
    while stream_messages(&stream).await.len() == published_before {
        assert!(
            Instant::now() < until,
            "the event never reached JetStream; the outbox: {:?}; the server's log:\n{}",
            outbox_rows(&db).await,
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    // The marking dies with its connection's server process, uncommitted.
    db.execute_unprepared(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE pid <> pg_backend_pid() AND query LIKE '%outbox_message%'",
    )
    .await
    .unwrap();
    db.execute_unprepared("DROP TRIGGER hold_mark ON outbox_message")
        .await
        .unwrap();
    let unmarked = query_one(
        &db,
        "SELECT count(*) FROM outbox_message WHERE recipient = 'broker:nats' AND delivered_at IS NULL",
    )
    .await;
    assert!(
        unmarked >= 1,
        "a published event is still unmarked after the kill"
    );
    // Its lease would end in a minute; the test does not wait for it.
    db.execute_unprepared(
        "UPDATE outbox_message SET next_attempt_at = now() WHERE delivered_at IS NULL",
    )
    .await
    .unwrap();
    let server = Server::start(&url, &env).await;
    for n in 0..5 {
        register(&server.base, &format!("after{n}@example.com")).await;
    }
    wait_published(&db).await;
    let events = query_one(&db, "SELECT count(*) FROM event").await;
    let messages = stream_messages(&stream).await;
    let mut by_event: HashMap<String, usize> = HashMap::new();
    for (_, body) in &messages {
        *by_event
            .entry(body["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        messages.len() as i64,
        events,
        "one message per committed event"
    );
    assert!(by_event.values().all(|&n| n == 1), "{by_event:?}");
    println!(
        "{events} committed events, {} messages in the stream, none twice",
        messages.len()
    );
    let types: Vec<&str> = messages
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"customer.created"), "{types:?}");
    drop(server);
    let client = async_nats::connect(NATS_URL).await.unwrap();
    async_nats::jetstream::new(client)
        .delete_stream(&stream)
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs NATS; CI runs it (.ci/run, step scaling)"]
async fn a_missing_stream_is_created_or_refused_as_the_setting_says() {
    let stream = format!("CLIENTELE_T{}", uuid::Uuid::now_v7().simple());
    let settings = |create: bool| {
        let mut settings = api::config::Settings::defaults().unwrap();
        settings.database_url = "sqlite::memory:".to_owned();
        settings.nats_url = Some(NATS_URL.to_owned());
        settings.nats_stream = stream.clone();
        settings.nats_create_stream = create;
        settings
    };
    let error = api::app::App::build(&settings(false))
        .await
        .err()
        .expect("a missing stream stops start-up")
        .to_string();
    assert!(error.contains("is missing"), "{error}");
    api::app::App::build(&settings(true)).await.unwrap();
    let client = async_nats::connect(NATS_URL).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let mut created = jetstream.get_stream(&stream).await.unwrap();
    let config = created.info().await.unwrap().config.clone();
    assert_eq!(
        config.subjects,
        vec![format!("{}.>", stream.to_lowercase())]
    );
    assert_eq!(config.duplicate_window, api::broker::DUPLICATE_WINDOW);
    // Now that it exists, start-up without creating it succeeds.
    api::app::App::build(&settings(false)).await.unwrap();
    jetstream.delete_stream(&stream).await.unwrap();
}
