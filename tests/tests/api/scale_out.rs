//! The scaling-out settings as far as one server on one database shows them; the
//! standbys, PgBouncer and NATS themselves are in `tests/tests/scaling.rs` and CI's
//! "pooler" step (docs/scaling.md).

use serde_json::json;
use tests::TestApp;

async fn refused(configure: impl FnOnce(&mut api::config::Settings)) -> String {
    let mut settings = api::config::Settings::defaults().unwrap();
    settings.database_url = "sqlite::memory:".to_owned();
    configure(&mut settings);
    match api::app::App::build(&settings).await {
        Ok(_) => panic!("start-up accepted {settings:?}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn start_up_refuses_scaling_settings_that_cannot_work() {
    let error = refused(|s| s.standby_urls = vec!["postgres://127.0.0.1:1/shop".to_owned()]).await;
    assert!(
        error.contains("standbys need a PostgreSQL primary"),
        "{error}"
    );
    let error = refused(|s| s.db_transaction_pooler = true).await;
    assert!(error.contains("--db-statement-cache 0"), "{error}");
    let error = refused(|s| {
        s.db_transaction_pooler = true;
        s.db_statement_cache = 0;
    })
    .await;
    assert!(error.contains("--db-direct-url"), "{error}");
    // A broker that cannot be reached is seen at start-up, not when events pile up.
    let error = refused(|s| s.nats_url = Some("nats://127.0.0.1:1".to_owned())).await;
    assert!(error.contains("cannot connect to NATS"), "{error}");
    let error = refused(|s| {
        s.nats_url = Some("nats://127.0.0.1:1".to_owned());
        s.nats_stream = "events.all".to_owned();
    })
    .await;
    assert!(error.contains("--nats-stream"), "{error}");
}

#[tokio::test]
async fn without_standbys_no_token_is_given_and_a_bad_one_is_refused() {
    let app = TestApp::spawn().await;
    let send = |token: &'static str| {
        app.http()
            .post(format!("{}/graphql", app.base_url))
            .header("Clientele-Consistency", token)
            .json(&json!({ "query": "{ errorCodes }" }))
            .send()
    };
    // A token is only worth its statement when a standby might answer.
    let answer = send("0/3000148").await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("clientele-consistency").is_none());
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(body["data"]["errorCodes"].is_array());
    assert!(body.get("extensions").is_none(), "{body}");
    for bad in ["yesterday", "0/", "1/2/3", "G/0"] {
        let answer = send(bad).await.unwrap();
        assert_eq!(answer.status(), 400, "{bad}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(tests::error_code(&body), "BAD_REQUEST", "{bad}: {body}");
    }
}
