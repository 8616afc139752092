//! Admin login, logout, token handling, and that every read needs an admin.

use entity::session;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::json;
use tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, at, error_code};

const LOGIN: &str = "mutation($email: String!, $password: String!) {
    adminLogin(email: $email, password: $password) { token expiresAt admin { id email } }
}";

/// One request per admin-only operation.
const ADMIN_ONLY: [&str; 8] = [
    "{ customer(id: \"00000000-0000-0000-0000-000000000000\") { id } }",
    "{ customers { nodes { id } } }",
    "{ customerGroup(id: \"00000000-0000-0000-0000-000000000000\") { id } }",
    "{ customerGroups { nodes { id } } }",
    "{ order(id: \"00000000-0000-0000-0000-000000000000\") { id } }",
    "{ orders { nodes { id } } }",
    "{ currentAdmin { id } }",
    "mutation { adminLogout }",
];

#[tokio::test]
async fn every_admin_operation_rejects_anonymous_and_unknown_tokens() {
    let app = TestApp::spawn().await;
    for operation in ADMIN_ONLY {
        for token in [None, Some("clt_not-a-real-token"), Some("garbage")] {
            let response = app.gql(token, operation, json!({})).await;
            assert_eq!(
                error_code(&response),
                "UNAUTHENTICATED",
                "{operation} with {token:?}"
            );
            assert!(
                response["data"].is_null() || response["data"].as_object().is_some(),
                "{response:#}"
            );
        }
    }
}

#[tokio::test]
async fn admin_token_reads_and_logout_revokes_it() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let me = app
        .data(Some(&token), "{ currentAdmin { email } }", json!({}))
        .await;
    assert_eq!(me["currentAdmin"]["email"], ADMIN_EMAIL);
    for operation in &ADMIN_ONLY[1..7] {
        let response = app.gql(Some(&token), operation, json!({})).await;
        // The nil ids are simply not found; the lists answer.
        if let Some(errors) = response.get("errors") {
            assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{operation}");
        }
    }

    let out = app
        .data(Some(&token), "mutation { adminLogout }", json!({}))
        .await;
    assert_eq!(out["adminLogout"], true);
    let code = app
        .error_code(Some(&token), "{ currentAdmin { id } }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}

#[tokio::test]
async fn sessions_are_independent_and_store_only_a_hash() {
    let app = TestApp::spawn().await;
    let first = app.admin_token().await;
    let second = app.admin_token().await;
    assert_ne!(first, second);
    assert!(first.starts_with("clt_") && first.len() > 40);

    let stored = session::Entity::find().all(app.db()).await.unwrap();
    assert_eq!(stored.len(), 2);
    for row in &stored {
        assert_ne!(row.token_hash, first);
        assert_ne!(row.token_hash, second);
        assert!(!row.token_hash.contains(&first[4..]));
    }

    app.data(Some(&first), "mutation { adminLogout }", json!({}))
        .await;
    let still = app
        .data(Some(&second), "{ currentAdmin { email } }", json!({}))
        .await;
    assert_eq!(still["currentAdmin"]["email"], ADMIN_EMAIL);
}

#[tokio::test]
async fn expired_sessions_are_rejected() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let row = session::Entity::find()
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    session::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(row.id),
        expires_at: Set(at(0)),
        ..Default::default()
    }
    .update(app.db())
    .await
    .unwrap();
    let code = app
        .error_code(Some(&token), "{ currentAdmin { id } }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}

#[tokio::test]
async fn login_failures_look_the_same_whatever_was_wrong() {
    let app = TestApp::spawn().await;
    app.admin_token().await;
    let mut messages = Vec::new();
    for (email, password) in [
        (ADMIN_EMAIL, "wrong password entirely"),
        ("nobody@example.com", ADMIN_PASSWORD),
        ("not an email", ADMIN_PASSWORD),
    ] {
        let response = app
            .gql(None, LOGIN, json!({ "email": email, "password": password }))
            .await;
        assert_eq!(error_code(&response), "INVALID_CREDENTIALS", "{email}");
        messages.push(response["errors"][0]["message"].clone());
    }
    assert!(
        messages.windows(2).all(|pair| pair[0] == pair[1]),
        "{messages:?}"
    );
}

#[tokio::test]
async fn login_accepts_the_email_in_any_case_and_returns_the_admin() {
    let app = TestApp::spawn().await;
    app.admin_token().await;
    let data = app
        .data(
            None,
            LOGIN,
            json!({ "email": "  Admin@Example.COM ", "password": ADMIN_PASSWORD }),
        )
        .await;
    let session = &data["adminLogin"];
    assert_eq!(session["admin"]["email"], ADMIN_EMAIL);
    assert!(session["expiresAt"].as_str().is_some());
}

#[tokio::test]
async fn admin_emails_are_unique_and_passwords_have_a_minimum_length() {
    let app = TestApp::spawn().await;
    let passwords = api::auth::passwords::Passwords::new(1);
    api::domain::admins::create(app.db(), &passwords, "staff@example.com", ADMIN_PASSWORD)
        .await
        .unwrap();
    let again =
        api::domain::admins::create(app.db(), &passwords, "STAFF@example.com", ADMIN_PASSWORD)
            .await;
    assert!(
        matches!(again, Err(api::error::DomainError::EmailTaken)),
        "{again:?}"
    );
    let short = api::domain::admins::create(app.db(), &passwords, "x@example.com", "short").await;
    assert!(
        matches!(short, Err(api::error::DomainError::BadInput { .. })),
        "{short:?}"
    );
}

#[tokio::test]
async fn housekeeping_removes_expired_sessions_and_old_tokens_only() {
    use api::domain::housekeeping::{Retention, Swept, sweep};
    use entity::customer_token;

    let app = TestApp::spawn().await;
    let live = app.admin_token().await;
    let stale = app.admin_token().await;
    let (_, customer) = app.register("ada@example.com").await;
    // Expire one admin session.
    let rows = session::Entity::find().all(app.db()).await.unwrap();
    let expired = rows.iter().find(|s| s.admin_user_id.is_some()).unwrap();
    session::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(expired.id),
        expires_at: Set(at(0)),
        ..Default::default()
    }
    .update(app.db())
    .await
    .unwrap();
    // One long-expired token, one fresh.
    for (n, expires_at) in [at(0), api::db::now() + chrono::TimeDelta::hours(1)]
        .into_iter()
        .enumerate()
    {
        customer_token::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            customer_id: Set(customer.parse().unwrap()),
            purpose: Set(customer_token::TokenPurpose::PasswordReset),
            token_hash: Set(format!("{n:064}")),
            new_email: Set(None),
            created_at: Set(at(0)),
            expires_at: Set(expires_at),
            used_at: Set(None),
        }
        .insert(app.db())
        .await
        .unwrap();
    }
    assert_eq!(
        sweep(app.db(), Retention::default()).await.unwrap(),
        Swept {
            sessions: 1,
            tokens: 1,
            throttles: 0,
            events: 0,
            guests_erased: 0,
        }
    );
    assert_eq!(
        session::Entity::find().all(app.db()).await.unwrap().len(),
        2
    );
    // (Besides the verification token that registration mailed.)
    assert_eq!(
        customer_token::Entity::find()
            .all(app.db())
            .await
            .unwrap()
            .iter()
            .filter(|t| t.purpose != customer_token::TokenPurpose::EmailVerification)
            .count(),
        1
    );
    // The session that expired is gone; the other still works.
    let mut working = 0;
    for token in [&live, &stale] {
        let response = app
            .gql(Some(token), "{ currentAdmin { id } }", json!({}))
            .await;
        if response.get("errors").is_none() {
            working += 1;
        }
    }
    assert_eq!(working, 1);
}
