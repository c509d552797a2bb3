//! The repository contract, run against whichever backend the environment selects.

use identity::domain::{RefreshToken, Registration, Session};
use identity::store::StoreError;

use crate::helpers::*;

fn user(address: &str) -> identity::domain::User {
    Registration::parse(address, PASSWORD, "Ada", "Lovelace", None).expect("valid").into_user(chrono::Utc::now())
}

#[tokio::test]
async fn users_are_found_by_email_case_insensitively_and_in_batches() {
    let app = spawn_app().await;
    let store = app.identity.store();
    let (a, b) = (user(&email()), user(&email()));
    store.insert_user(&a, "hash-a", &[]).await.expect("inserts");
    store.insert_user(&b, "hash-b", &[]).await.expect("inserts");
    let mut shouting = user(&a.email.as_str().to_uppercase());
    shouting.id = identity::domain::UserId::new();
    assert!(matches!(store.insert_user(&shouting, "h", &[]).await, Err(StoreError::EmailTaken)));

    let (found, hash) = store.user_by_email(&a.email).await.expect("loads").expect("exists");
    assert_eq!((found, hash.as_str()), (a.clone(), "hash-a"));
    let mut batch = store.users(&[a.id, identity::domain::UserId::new(), b.id]).await.expect("loads");
    batch.sort_by_key(|u| u.id);
    assert_eq!(batch.iter().map(|u| u.id).collect::<Vec<_>>(), {
        let mut ids = vec![a.id, b.id];
        ids.sort();
        ids
    });
}

#[tokio::test]
async fn a_refresh_token_rotates_only_once_even_when_raced() {
    let app = spawn_app().await;
    let store = app.identity.store();
    let owner = user(&email());
    store.insert_user(&owner, "h", &[]).await.expect("inserts");
    let now = chrono::Utc::now();
    let session = Session { id: uuid::Uuid::now_v7(), user_id: owner.id, created_at: now, revoked_at: None };
    let token = |hash: &str| RefreshToken {
        id: uuid::Uuid::now_v7(),
        session_id: session.id,
        token_hash: hash.into(),
        created_at: now,
        expires_at: now + chrono::Duration::days(1),
        used_at: None,
    };
    let first = token("first");
    store.start_session(&session, &first, &[]).await.expect("starts");
    let (a, b) = (token("second-a"), token("second-b"));
    let (ra, rb) = tokio::join!(store.rotate_refresh_token(&first, &a), store.rotate_refresh_token(&first, &b));
    let wins = [ra.expect("no error"), rb.expect("no error")].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "exactly one rotation succeeds");
    let (stored, _) = store.refresh_token("first").await.expect("loads").expect("exists");
    assert!(stored.used_at.is_some());
}
