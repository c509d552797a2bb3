use serde_json::json;

use crate::helpers::*;

const CHANGE_ROLE: &str = "mutation($id: ID!, $role: Role!) { changeRole(userId: $id, role: $role) { id role } }";

#[tokio::test]
async fn the_configured_admin_manages_roles_but_cannot_demote_the_last_admin() {
    let admin_email = email();
    let app = spawn_app_with(&[("ADMIN_EMAIL", &admin_email)]).await;
    let registered = app.register(&admin_email, None).await;
    assert_eq!(registered["data"]["register"]["user"]["role"], "ADMIN", "{registered}");
    let admin_id = str(&registered["data"]["register"]["user"]["id"]);
    let admin = str(&registered["data"]["register"]["accessToken"]);
    let (student_id, student, _) = app.signed_up(&email()).await;

    let promoted = app.gql(CHANGE_ROLE, json!({ "id": student_id, "role": "TUTOR" }), Some(&admin)).await;
    assert_eq!(promoted["data"]["changeRole"]["role"], "TUTOR", "{promoted}");
    let event = app.event("identity.UserRoleChanged", &student_id).await;
    assert_eq!(
        (event.payload["previousRole"].as_str(), event.payload["role"].as_str()),
        (Some("STUDENT"), Some("TUTOR"))
    );
    assert_eq!(event.payload["changedBy"], admin_id);

    let forbidden = app.gql(CHANGE_ROLE, json!({ "id": student_id, "role": "ADMIN" }), Some(&student)).await;
    assert_eq!(code(&forbidden), "FORBIDDEN");
    let last = app.gql(CHANGE_ROLE, json!({ "id": admin_id, "role": "STUDENT" }), Some(&admin)).await;
    assert_eq!(code(&last), "CONFLICT", "{last}");
    let unknown =
        app.gql(CHANGE_ROLE, json!({ "id": uuid::Uuid::now_v7().to_string(), "role": "TUTOR" }), Some(&admin)).await;
    assert_eq!(code(&unknown), "NOT_FOUND");
    let malformed = app.gql(CHANGE_ROLE, json!({ "id": "nope", "role": "TUTOR" }), Some(&admin)).await;
    assert_eq!(code(&malformed), "BAD_USER_INPUT");

    // With a second admin, the first may step down.
    app.gql(CHANGE_ROLE, json!({ "id": student_id, "role": "ADMIN" }), Some(&admin)).await;
    let stepped_down = app.gql(CHANGE_ROLE, json!({ "id": admin_id, "role": "STUDENT" }), Some(&admin)).await;
    assert_eq!(stepped_down["data"]["changeRole"]["role"], "STUDENT", "{stepped_down}");
}

#[tokio::test]
async fn an_existing_account_named_as_admin_is_promoted_at_start_up() {
    let admin_email = email();
    let app = spawn_app().await;
    let (id, _, _) = app.signed_up(&admin_email).await;
    let restarted = app.restart_with(&[("ADMIN_EMAIL", &admin_email)]).await;
    let user = restarted.identity.user(id.parse().expect("id")).await.expect("loads").expect("exists");
    assert_eq!(user.role, identity::domain::Role::Admin);
    assert!(restarted.event("identity.UserRoleChanged", &id).await.payload["changedBy"].is_null());
}

#[tokio::test]
async fn users_see_themselves_admins_see_everyone_and_others_are_forbidden() {
    let admin_email = email();
    let app = spawn_app_with(&[("ADMIN_EMAIL", &admin_email)]).await;
    let admin = str(&app.register(&admin_email, None).await["data"]["register"]["accessToken"]);
    let (alice_id, alice, _) = app.signed_up(&email()).await;
    let (_, bob, _) = app.signed_up(&email()).await;
    let query = "query($id: ID!) { user(id: $id) { id email } }";
    assert_eq!(app.gql(query, json!({ "id": alice_id }), Some(&alice)).await["data"]["user"]["id"], alice_id);
    assert_eq!(app.gql(query, json!({ "id": alice_id }), Some(&admin)).await["data"]["user"]["id"], alice_id);
    assert_eq!(code(&app.gql(query, json!({ "id": alice_id }), Some(&bob)).await), "FORBIDDEN");
    assert_eq!(code(&app.gql(query, json!({ "id": alice_id }), None).await), "UNAUTHENTICATED");
}
