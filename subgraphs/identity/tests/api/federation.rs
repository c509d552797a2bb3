use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn user_representations_resolve_in_one_batch_with_nulls_for_unknown_ids() {
    let app = spawn_app().await;
    let (alice, token, _) = app.signed_up(&email()).await;
    let (bob, _, _) = app.signed_up(&email()).await;
    let query =
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id role profile { firstName } } } }";
    let representations = json!([
        { "__typename": "User", "id": alice },
        { "__typename": "User", "id": uuid::Uuid::now_v7().to_string() },
        { "__typename": "User", "id": bob },
        { "__typename": "User", "id": "not-a-uuid" },
    ]);
    let body = app.gql(query, json!({ "r": representations }), Some(&token)).await;
    let entities = body["data"]["_entities"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(entities.len(), 4);
    assert_eq!(entities[0]["id"], alice);
    assert_eq!(entities[1], json!(null));
    assert_eq!(entities[2]["id"], bob);
    assert_eq!(entities[2]["profile"]["firstName"], "Ada");
    assert_eq!(entities[3], json!(null));
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn another_users_private_fields_are_forbidden_through_entities() {
    let app = spawn_app().await;
    let (alice, _, _) = app.signed_up(&email()).await;
    let (_, bob_token, _) = app.signed_up(&email()).await;
    let query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id email \
                 profile { firstName preferences { locale } } } } }";
    let body = app.gql(query, json!({ "r": [{ "__typename": "User", "id": alice }] }), Some(&bob_token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // The private fields are nullable: only they are lost, never the user (nor a payload holding it).
    let user = &body["data"]["_entities"][0];
    assert_eq!(user["id"], alice.as_str(), "{body}");
    assert!(user["email"].is_null() && user["profile"]["preferences"].is_null(), "{body}");
    assert!(user["profile"]["firstName"].is_string(), "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(2), "one error per refused field: {body}");
}

#[tokio::test]
async fn the_service_sdl_declares_the_user_key() {
    let app = spawn_app().await;
    let body = app.gql("{ _service { sdl } }", json!({}), None).await;
    let sdl = str(&body["data"]["_service"]["sdl"]);
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
}
