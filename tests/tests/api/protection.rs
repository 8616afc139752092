//! Account protection: throttles shared by every instance on one database, session
//! lifetimes and the customer's list of sessions, common passwords, security events.

use entity::{outbox_message, session};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use tests::{ADMIN_EMAIL, PASSWORD, TestApp, error_code};

const LOGIN: &str = "mutation($email: String!, $password: String!) {
    login(email: $email, password: $password) { token } }";
const ADMIN_LOGIN: &str = "mutation($email: String!, $password: String!) {
    adminLogin(email: $email, password: $password) { token expiresAt } }";
const GUEST_ORDER: &str = r#"mutation { placeOrder(input: { email: "g@example.com", currencyCode: "EUR",
    lineItems: [{ title: "Tea", quantity: 1, unitPrice: 100 }],
    shippingAddress: { city: "Lyon", countryCode: "FR" } }) { id } }"#;
const REGISTER: &str = "mutation($email: String!) {
    registerCustomer(email: $email, password: \"a fine password\") { token } }";
const SESSIONS: &str =
    "{ me { sessions { id userAgent current createdAt lastUsedAt expiresAt } } }";

async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    app.gql(None, LOGIN, json!({ "email": email, "password": password }))
        .await
}

/// Sleeps `seconds` and a little more, as a client told `retryAfter` would.
async fn wait(seconds: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(seconds * 1000 + 100)).await;
}

fn retry_after(response: &Value) -> u64 {
    response["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retryAfter: {response:#}"))
}

/// Three attempts free, then waits of 1 s, 2 s..., then a lock: counted in the
/// database, so two instances see one count. An email without an account goes
/// through exactly the same steps, so a lock tells nothing.
#[tokio::test]
async fn failed_logins_of_one_account_slow_down_then_lock_across_instances() {
    let limits = |s: &mut api::config::Settings| {
        s.login_attempts_per_account = 5;
        s.login_lock_minutes = 15;
    };
    let one = TestApp::spawn_with(limits).await;
    let two = one.spawn_beside(limits).await;
    one.register("ada@example.com").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        for app in [&one, &two, &one] {
            assert_eq!(
                error_code(&login(app, email, "wrong password").await),
                "INVALID_CREDENTIALS"
            );
        }
        // The fourth attempt comes too soon, on the other instance too.
        let early = login(&two, email, "wrong password").await;
        assert_eq!(error_code(&early), "RATE_LIMITED", "{email}");
        let first_wait = retry_after(&early);
        assert!((1..=2).contains(&first_wait), "{early:#}");
        wait(first_wait).await;
        assert_eq!(
            error_code(&login(&two, email, "wrong password").await),
            "INVALID_CREDENTIALS"
        );
        // The wait doubles.
        let early = login(&one, email, "wrong password").await;
        let second_wait = retry_after(&early);
        assert!((2..=3).contains(&second_wait), "{early:#}");
        wait(second_wait).await;
        assert_eq!(
            error_code(&login(&one, email, "wrong password").await),
            "INVALID_CREDENTIALS"
        );
        // Five attempts: locked for the rest of the window, the right password too.
        let locked = login(&two, email, PASSWORD).await;
        assert_eq!(error_code(&locked), "RATE_LIMITED", "{email}");
        assert!(retry_after(&locked) > 14 * 60, "{locked:#}");
    }
    // Another account is untouched; a success clears its count.
    one.register("bob@example.com").await;
    assert_eq!(
        error_code(&login(&one, "bob@example.com", "wrong password").await),
        "INVALID_CREDENTIALS"
    );
    assert!(login(&two, "bob@example.com", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn admin_logins_are_throttled_per_account_too() {
    let app = TestApp::spawn_with(|s| s.login_attempts_per_account = 3).await;
    app.admin_token().await;
    for _ in 0..3 {
        let wrong = app
            .gql(
                None,
                ADMIN_LOGIN,
                json!({ "email": ADMIN_EMAIL, "password": "not the one at all" }),
            )
            .await;
        assert_eq!(error_code(&wrong), "INVALID_CREDENTIALS");
    }
    let locked = app
        .gql(
            None,
            ADMIN_LOGIN,
            json!({ "email": ADMIN_EMAIL, "password": "not the one at all" }),
        )
        .await;
    assert_eq!(error_code(&locked), "RATE_LIMITED");
}

/// Per-address limits count the address the trusted proxy names, on every instance;
/// without the setting, the header is the client's word and is ignored.
#[tokio::test]
async fn per_address_limits_follow_the_trusted_proxy_header_across_instances() {
    let behind_proxy = |s: &mut api::config::Settings| {
        s.trusted_proxy_header = Some("x-forwarded-for".into());
        s.guest_orders_per_address = 2;
        s.registrations_per_address = 1;
        s.login_failures_per_address = 2;
    };
    let one = TestApp::spawn_with(behind_proxy).await;
    let two = one.spawn_beside(behind_proxy).await;
    // The proxy appends the client's address; what the client sent comes first.
    let mallory = [("x-forwarded-for", "10.0.0.1, 203.0.113.7")];
    let alice = [("x-forwarded-for", "198.51.100.1")];
    for app in [&one, &two] {
        let placed = app.gql_with(&mallory, None, GUEST_ORDER, json!({})).await;
        assert!(placed.get("errors").is_none(), "{placed:#}");
    }
    let third = one.gql_with(&mallory, None, GUEST_ORDER, json!({})).await;
    assert_eq!(error_code(&third), "RATE_LIMITED");
    assert!(retry_after(&third) > 50 * 60);
    let other = two.gql_with(&alice, None, GUEST_ORDER, json!({})).await;
    assert!(other.get("errors").is_none(), "{other:#}");

    let first = one
        .gql_with(
            &mallory,
            None,
            REGISTER,
            json!({ "email": "m1@example.com" }),
        )
        .await;
    assert!(first.get("errors").is_none(), "{first:#}");
    let second = two
        .gql_with(
            &mallory,
            None,
            REGISTER,
            json!({ "email": "m2@example.com" }),
        )
        .await;
    assert_eq!(error_code(&second), "RATE_LIMITED");

    // Failed logins from one address, whatever the accounts.
    for (app, email) in [(&one, "a@example.com"), (&two, "b@example.com")] {
        let failed = app
            .gql_with(
                &mallory,
                None,
                LOGIN,
                json!({ "email": email, "password": "guess guess" }),
            )
            .await;
        assert_eq!(error_code(&failed), "INVALID_CREDENTIALS");
    }
    let third = one
        .gql_with(
            &mallory,
            None,
            LOGIN,
            json!({ "email": "c@example.com", "password": "guess guess" }),
        )
        .await;
    assert_eq!(error_code(&third), "RATE_LIMITED");

    // No trusted header configured: the socket address counts, whatever the header says.
    let direct = TestApp::spawn_with(|s| s.guest_orders_per_address = 1).await;
    direct
        .gql_with(&mallory, None, GUEST_ORDER, json!({}))
        .await;
    let forged = direct.gql_with(&alice, None, GUEST_ORDER, json!({})).await;
    assert_eq!(error_code(&forged), "RATE_LIMITED");
}

/// Past the limit the mutation answers as before and nothing more is sent.
#[tokio::test]
async fn mail_to_one_recipient_is_capped_without_telling_the_caller() {
    let app = TestApp::spawn_with(|s| s.mails_per_recipient = 2).await;
    app.register("ada@example.com").await;
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..4 {
            let answer = app
                .data(
                    None,
                    "mutation($email: String!) { requestPasswordReset(email: $email) }",
                    json!({ "email": email }),
                )
                .await;
            assert_eq!(answer["requestPasswordReset"], true);
        }
    }
    let resets = outbox_message::Entity::find()
        .filter(outbox_message::Column::Kind.eq("password_reset"))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(
        resets.len(),
        2,
        "two mails to ada, none to an address without an account"
    );
    assert!(resets.iter().all(|m| m.recipient == "ada@example.com"));
    app.allow_undelivered();
}

#[tokio::test]
async fn customers_list_and_end_their_sessions() {
    let app = TestApp::spawn().await;
    let (first, _) = app.register("ada@example.com").await;
    let phone = app
        .gql_with(
            &[("user-agent", "ShopApp/2.1 (iPhone)")],
            None,
            LOGIN,
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = app.data(Some(&first), SESSIONS, json!({})).await;
    let sessions = listed["me"]["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    // Newest first: the phone's, with its user agent; the caller's own is marked.
    assert_eq!(sessions[0]["userAgent"], "ShopApp/2.1 (iPhone)");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["current"], true);
    assert!(!listed.to_string().contains("clt_"), "no token is listed");

    let ended = app
        .data(
            Some(&first),
            "mutation($id: ID!) { endSession(id: $id) }",
            json!({ "id": sessions[0]["id"] }),
        )
        .await;
    assert_eq!(ended["endSession"], true);
    assert_eq!(
        app.error_code(Some(&phone), SESSIONS, json!({})).await,
        "UNAUTHENTICATED"
    );
    // Another customer's session is not theirs to end.
    let (bob, _) = app.register("bob@example.com").await;
    let not_theirs = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { endSession(id: $id) }",
            json!({ "id": sessions[1]["id"] }),
        )
        .await;
    assert_eq!(error_code(&not_theirs), "NOT_FOUND");
    app.data(Some(&first), SESSIONS, json!({})).await;
}

#[tokio::test]
async fn an_admin_ends_every_session_of_a_customer_and_it_is_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (first, id) = app.register("ada@example.com").await;
    login(&app, "ada@example.com", PASSWORD).await;
    let revoked = app
        .data(
            Some(&admin),
            "mutation($id: ID!) { revokeCustomerSessions(customerId: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(revoked["revokeCustomerSessions"], 2);
    assert_eq!(
        app.error_code(Some(&first), SESSIONS, json!({})).await,
        "UNAUTHENTICATED"
    );
    let trail = app
        .data(
            Some(&admin),
            "query($id: ID!) { customer(id: $id) { adminActions { nodes { action details admin { email } } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        trail["customer"]["adminActions"]["nodes"][0],
        json!({ "action": "CUSTOMER_SESSIONS_REVOKE", "details": { "sessionsEnded": 2 },
                "admin": { "email": ADMIN_EMAIL } })
    );
    // Customers cannot do it.
    let (bob, _) = app.register("bob@example.com").await;
    let refused = app
        .gql(
            Some(&bob),
            "mutation($id: ID!) { revokeCustomerSessions(customerId: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

/// Admins and customers get their own absolute lifetimes; a session unused for the
/// idle timeout ends whatever its absolute expiry.
#[tokio::test]
async fn sessions_end_at_their_kinds_lifetime_or_when_idle() {
    let app = TestApp::spawn_with(|s| {
        s.customer_session_ttl_minutes = 7 * 24 * 60;
        s.admin_session_ttl_minutes = 8 * 60;
        s.admin_session_idle_minutes = 30;
        s.customer_session_idle_minutes = 24 * 60;
    })
    .await;
    app.admin_token().await;
    let admin = app
        .data(
            None,
            ADMIN_LOGIN,
            json!({ "email": ADMIN_EMAIL, "password": tests::ADMIN_PASSWORD }),
        )
        .await;
    let (customer, _) = app.register("ada@example.com").await;
    let now = chrono::Utc::now();
    let hours_left = |at: &Value| {
        let at: chrono::DateTime<chrono::Utc> = at.as_str().unwrap().parse().unwrap();
        (at - now).num_minutes() as f64 / 60.0
    };
    let admin_hours = hours_left(&admin["adminLogin"]["expiresAt"]);
    assert!((7.9..=8.1).contains(&admin_hours), "{admin_hours}");
    let listed = app.data(Some(&customer), SESSIONS, json!({})).await;
    let customer_hours = hours_left(&listed["me"]["sessions"][0]["expiresAt"]);
    assert!(
        (167.9..=168.1).contains(&customer_hours),
        "{customer_hours}"
    );

    // An hour without a request: past the admin's idle timeout, not the customer's.
    let an_hour_ago = api::db::now() - chrono::TimeDelta::hours(1);
    session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(an_hour_ago))
        .exec(app.db())
        .await
        .unwrap();
    let admin_token = admin["adminLogin"]["token"].as_str().unwrap();
    assert_eq!(
        app.error_code(Some(admin_token), "{ currentAdmin { email } }", json!({}))
            .await,
        "UNAUTHENTICATED"
    );
    let still = app.data(Some(&customer), SESSIONS, json!({})).await;
    // Using it moved `lastUsedAt` forward again.
    let last_used: chrono::DateTime<chrono::Utc> = session::Entity::find()
        .filter(session::Column::CustomerId.is_not_null())
        .one(app.db())
        .await
        .unwrap()
        .unwrap()
        .last_used_at;
    assert!(last_used > an_hour_ago, "{still:#}");
}

#[tokio::test]
async fn the_most_common_passwords_are_refused_in_any_case() {
    assert!(api::auth::passwords::common_password_count() >= 10_000);
    let app = TestApp::spawn().await;
    for password in ["iloveyou", "ILoveYou", "password1", "QWERTYUIOP"] {
        let refused = app
            .gql(
                None,
                "mutation($p: String!) { registerCustomer(email: \"ada@example.com\", password: $p) { token } }",
                json!({ "p": password }),
            )
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{password}");
        assert_eq!(refused["errors"][0]["extensions"]["field"], "password");
    }
    // The minimum length is a setting.
    let strict = TestApp::spawn_with(|s| s.min_password_chars = 20).await;
    let short = strict
        .gql(None, REGISTER, json!({ "email": "ada@example.com" }))
        .await;
    assert_eq!(error_code(&short), "BAD_USER_INPUT");
}

/// One structured event per security-relevant step, never a password or token.
#[tokio::test]
async fn security_events_are_logged_without_secrets() {
    let app = TestApp::spawn_with(|s| s.login_attempts_per_account = 1).await;
    let (token, id) = app.register("eve@example.com").await;
    login(&app, "eve@example.com", "not my password").await;
    login(&app, "eve@example.com", "not my password").await;
    app.gql(Some(&token), "{ customers { totalCount } }", json!({}))
        .await;
    let admin = app.admin_token().await;
    app.data(
        Some(&admin),
        "mutation($id: ID!) { revokeCustomerSessions(customerId: $id) }",
        json!({ "id": id }),
    )
    .await;
    let logs = tests::logs::captured();
    let id = id.to_string();
    for event in [
        "event=\"login_failed\"",
        "event=\"throttled\"",
        "event=\"authorization_denied\"",
        "event=\"login_succeeded\"",
        "event=\"sessions_revoked\"",
    ] {
        assert!(logs.contains(event), "{event} not logged");
    }
    let denied = logs
        .lines()
        .find(|line| line.contains("authorization_denied") && line.contains(&id))
        .expect("the denial names the customer");
    assert!(denied.contains("request_id="), "{denied}");
    assert!(denied.contains("principal=\"customer\""), "{denied}");
    for secret in ["not my password", PASSWORD, "clt_", "eve@example.com"] {
        assert!(
            !logs
                .lines()
                .filter(|l| l.contains("security"))
                .any(|l| l.contains(secret)),
            "{secret} in a security event"
        );
    }
}

/// Under a burst the limits hold exactly: the count is taken in the database before
/// the work, so concurrent requests cannot all pass a check they would each fail.
#[tokio::test]
async fn concurrent_bursts_count_exactly_up_to_the_limit() {
    let app = TestApp::spawn_with(|s| {
        s.guest_orders_per_address = 20;
        s.login_attempts_per_account = 10;
    })
    .await;
    let orders: Vec<_> = (0..30)
        .map(|_| Box::pin(app.gql(None, GUEST_ORDER, json!({}))))
        .collect();
    let responses = tests::join_all(orders).await;
    assert_eq!(
        tests::outcomes(&responses),
        tests::tally(&[("ok", 20), ("RATE_LIMITED", 10)])
    );

    app.register("ada@example.com").await;
    let guesses: Vec<_> = (0..12)
        .map(|_| Box::pin(login(&app, "ada@example.com", "wrong password")))
        .collect();
    let responses = tests::join_all(guesses).await;
    let outcomes = tests::outcomes(&responses);
    let checked = outcomes.get("INVALID_CREDENTIALS").copied().unwrap_or(0);
    // How many got through depends on how the burst spreads over the delays (three
    // free, then one a second at most); what must hold is that every one that got
    // through was counted once, and every other was refused before its check.
    assert!((1..=10).contains(&checked), "{outcomes:?}");
    assert_eq!(
        outcomes,
        tests::tally(&[
            ("INVALID_CREDENTIALS", checked),
            ("RATE_LIMITED", 12 - checked)
        ])
    );
    let key = api::auth::tokens::hash("customer_login\0ada@example.com");
    let row = entity::throttle::Entity::find_by_id(key)
        .one(app.db())
        .await
        .unwrap()
        .expect("the account's throttle row");
    assert_eq!(row.hits as usize, checked);
}

/// Asking for the password again (changing it, changing the email) shares the
/// account's login throttle: a stolen session cannot guess without limit.
#[tokio::test]
async fn a_session_cannot_guess_the_password_without_limit() {
    let app = TestApp::spawn_with(|s| s.login_attempts_per_account = 3).await;
    let (token, _) = app.register("ada@example.com").await;
    let change = "mutation($current: String!) {
        changePassword(currentPassword: $current, newPassword: \"a brand new secret\") }";
    for _ in 0..3 {
        let wrong = app
            .gql(Some(&token), change, json!({ "current": "a guess at it" }))
            .await;
        assert_eq!(error_code(&wrong), "INVALID_CREDENTIALS");
    }
    let locked = app
        .gql(Some(&token), change, json!({ "current": PASSWORD }))
        .await;
    assert_eq!(error_code(&locked), "RATE_LIMITED");
    assert_eq!(
        error_code(&login(&app, "ada@example.com", PASSWORD).await),
        "RATE_LIMITED",
        "the same count as logins"
    );
}
