use serde_json::json;

use crate::helpers::*;

const UPDATE: &str = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { profile { firstName lastName avatarUrl preferences { locale timeZone notifications { email push sms } } } } }";

#[tokio::test]
async fn a_profile_update_is_validated_saved_and_published() {
    let app = spawn_app().await;
    let (id, token, _) = app.signed_up(&email()).await;
    let input = json!({
        "firstName": " Grace ",
        "avatarUrl": "https://cdn.example.org/grace.png",
        "preferences": { "locale": "pt-br", "timeZone": "America/Sao_Paulo", "notifications": { "sms": true } }
    });
    let body = app.gql(UPDATE, json!({ "i": input }), Some(&token)).await;
    let profile = &body["data"]["updateProfile"]["profile"];
    assert_eq!(profile["firstName"], "Grace", "{body}");
    assert_eq!(profile["lastName"], "Lovelace");
    assert_eq!(profile["preferences"]["locale"], "pt-BR");
    assert_eq!(profile["preferences"]["notifications"], json!({ "email": true, "push": true, "sms": true }));

    let event = app.event("identity.UserProfileUpdated", &id).await;
    assert_eq!(event.payload["timeZone"], "America/Sao_Paulo");
    assert_eq!(event.payload["firstName"], "Grace");

    let cleared = app.gql(UPDATE, json!({ "i": { "avatarUrl": null } }), Some(&token)).await;
    assert_eq!(cleared["data"]["updateProfile"]["profile"]["avatarUrl"], json!(null));
}

#[tokio::test]
async fn invalid_profile_values_are_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let (_, token, _) = app.signed_up(&email()).await;
    for input in [
        json!({ "avatarUrl": "http://insecure.example.org/a.png" }),
        json!({ "preferences": { "timeZone": "Mars/Olympus_Mons" } }),
        json!({ "preferences": { "locale": "english please" } }),
        json!({ "firstName": "" }),
        json!({ "firstName": "Grace", "avatarUrl": "javascript:alert(1)" }),
    ] {
        let body = app.gql(UPDATE, json!({ "i": input }), Some(&token)).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
    }
    let me = app.gql("{ me { profile { firstName avatarUrl } } }", json!({}), Some(&token)).await;
    assert_eq!(me["data"]["me"]["profile"], json!({ "firstName": "Ada", "avatarUrl": null }));
    assert_eq!(code(&app.gql(UPDATE, json!({ "i": {} }), None).await), "UNAUTHENTICATED");
}
