//! Marketing consents: the customer's choice with its record, an admin recording it
//! on the customer's word, and who may do which.

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use tests::TestApp;

const SET_MINE: &str = "mutation($purpose: ConsentPurpose!, $granted: Boolean!) {
    setMyConsent(purpose: $purpose, granted: $granted) {
        consents { purpose granted source recordedAt } } }";
const SET_THEIRS: &str = "mutation($id: ID!, $purpose: ConsentPurpose!, $granted: Boolean!) {
    setCustomerConsent(customerId: $id, purpose: $purpose, granted: $granted) {
        consents { purpose granted source } } }";
const TRAIL: &str = "query($id: ID!) { customer(id: $id) {
    events(first: 10) { nodes { kind actor details } }
    adminActions(first: 10) { nodes { action details } } } }";

#[tokio::test]
async fn a_customer_gives_and_withdraws_consent_and_the_store_keeps_the_record() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ada, ada_id) = app.register("ada@example.com").await;
    let me = app
        .data(Some(&ada), "{ me { consents { purpose } } }", json!({}))
        .await;
    assert_eq!(
        me["me"]["consents"],
        json!([]),
        "nothing consented to by default"
    );

    let given = app
        .data(
            Some(&ada),
            SET_MINE,
            json!({ "purpose": "EMAIL_MARKETING", "granted": true }),
        )
        .await["setMyConsent"]["consents"]
        .clone();
    assert_eq!(given[0]["purpose"], "EMAIL_MARKETING");
    assert_eq!(given[0]["granted"], true);
    assert_eq!(given[0]["source"], "CUSTOMER");
    assert!(given[0]["recordedAt"].is_string());
    // Saying it again records nothing; withdrawing records the change.
    app.data(
        Some(&ada),
        SET_MINE,
        json!({ "purpose": "EMAIL_MARKETING", "granted": true }),
    )
    .await;
    let withdrawn = app
        .data(
            Some(&ada),
            SET_MINE,
            json!({ "purpose": "EMAIL_MARKETING", "granted": false }),
        )
        .await["setMyConsent"]["consents"]
        .clone();
    assert_eq!(withdrawn[0]["granted"], false);
    let log = entity::customer_consent::Entity::find()
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(log, 2);

    // An admin records SMS consent given on the phone: source ADMIN, audited.
    let theirs = app
        .data(
            Some(&admin),
            SET_THEIRS,
            json!({ "id": ada_id, "purpose": "SMS_MARKETING", "granted": true }),
        )
        .await["setCustomerConsent"]["consents"]
        .clone();
    assert_eq!(
        theirs,
        json!([
            { "purpose": "EMAIL_MARKETING", "granted": false, "source": "CUSTOMER" },
            { "purpose": "SMS_MARKETING", "granted": true, "source": "ADMIN" },
        ])
    );
    let trail = app.data(Some(&admin), TRAIL, json!({ "id": ada_id })).await;
    let kinds: Vec<&str> = trail["customer"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "CONSENT_CHANGE")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ADMIN", "CUSTOMER", "CUSTOMER"]);
    assert_eq!(
        trail["customer"]["adminActions"]["nodes"][0],
        json!({ "action": "CONSENT_CHANGE",
                "details": { "purpose": "sms_marketing", "granted": true } })
    );
}

#[tokio::test]
async fn consents_keep_to_their_side() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ada, _) = app.register("ada@example.com").await;
    let (_, bob_id) = app.register("bob@example.com").await;
    let mine = json!({ "purpose": "EMAIL_MARKETING", "granted": true });
    assert_eq!(
        app.error_code(None, SET_MINE, mine.clone()).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.error_code(Some(&admin), SET_MINE, mine).await,
        "FORBIDDEN"
    );
    let theirs = json!({ "id": bob_id, "purpose": "EMAIL_MARKETING", "granted": true });
    assert_eq!(
        app.error_code(Some(&ada), SET_THEIRS, theirs).await,
        "FORBIDDEN"
    );
    let missing = json!({ "id": uuid::Uuid::now_v7().to_string(),
                          "purpose": "EMAIL_MARKETING", "granted": true });
    assert_eq!(
        app.error_code(Some(&admin), SET_THEIRS, missing).await,
        "NOT_FOUND"
    );
}
