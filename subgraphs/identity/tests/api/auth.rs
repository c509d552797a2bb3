use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn registering_then_logging_in_then_asking_me_returns_the_user() {
    let app = spawn_app().await;
    let address = email();
    let registered = app.register(&address.to_uppercase(), Some("TUTOR")).await;
    let user = &registered["data"]["register"]["user"];
    assert_eq!(user["email"], address, "stored normalised: {registered}");
    assert_eq!(user["role"], "TUTOR");
    assert_eq!(registered["data"]["register"]["expiresIn"], 900);

    let login = app.login(&address, PASSWORD).await;
    let token = str(&login["data"]["login"]["accessToken"]);
    let me = app.gql("{ me { id email role profile { firstName lastName avatarUrl preferences { locale timeZone notifications { email push sms } } } createdAt } }", json!({}), Some(&token)).await;
    assert_eq!(me["data"]["me"]["id"], user["id"]);
    assert_eq!(me["data"]["me"]["profile"]["firstName"], "Ada");
    assert_eq!(
        me["data"]["me"]["profile"]["preferences"],
        json!({ "locale": "en", "timeZone": "UTC", "notifications": { "email": true, "push": true, "sms": false } })
    );
}

#[tokio::test]
async fn registration_validates_every_field_and_creates_nothing_on_error() {
    let app = spawn_app().await;
    let cases = [
        (json!({ "email": "not-an-email" }), "not a valid e-mail"),
        (json!({ "password": "short" }), "at least 10"),
        (json!({ "password": "password123" }), "too common"),
        (json!({ "firstName": "   " }), "firstName"),
        (json!({ "lastName": "x".repeat(101) }), "lastName"),
        (json!({ "role": "ADMIN" }), "only STUDENT or TUTOR"),
    ];
    for (change, message) in cases {
        let address = email();
        let mut input = json!({ "email": address, "password": PASSWORD, "firstName": "Ada", "lastName": "L" });
        for (k, v) in change.as_object().expect("object") {
            input[k] = v.clone();
        }
        let body = app
            .gql("mutation($i: RegisterInput!) { register(input: $i) { accessToken } }", json!({ "i": input }), None)
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains(message)), "{message}: {body}");
        assert_eq!(code(&app.login(&address, PASSWORD).await), "UNAUTHENTICATED", "no account was created");
    }
    let same_as_email = email();
    let input = json!({ "email": same_as_email, "password": same_as_email, "firstName": "A", "lastName": "B" });
    let body = app
        .gql("mutation($i: RegisterInput!) { register(input: $i) { accessToken } }", json!({ "i": input }), None)
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn an_email_registers_once_whatever_its_case() {
    let app = spawn_app().await;
    let address = email();
    app.signed_up(&address).await;
    let again = app.register(&address.to_uppercase(), None).await;
    assert_eq!(code(&again), "CONFLICT", "{again}");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_error() {
    let app = spawn_app().await;
    let address = email();
    app.signed_up(&address).await;
    let wrong_password = app.login(&address, "not the password at all").await;
    let unknown = app.login(&email(), PASSWORD).await;
    assert_eq!(wrong_password["errors"][0]["message"], unknown["errors"][0]["message"]);
    assert_eq!(code(&wrong_password), "UNAUTHENTICATED");
    assert_eq!(code(&unknown), "UNAUTHENTICATED");
}

#[tokio::test]
async fn repeated_failures_for_one_account_are_throttled_but_others_are_not() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    let (victim, other) = (email(), email());
    app.signed_up(&victim).await;
    app.signed_up(&other).await;
    for _ in 0..3 {
        assert_eq!(code(&app.login(&victim, "wrong password here").await), "UNAUTHENTICATED");
    }
    let throttled = app.login(&victim, PASSWORD).await;
    assert_eq!(code(&throttled), "RATE_LIMITED", "{throttled}");
    assert!(throttled["errors"][0]["extensions"]["retryAfter"].as_u64().is_some_and(|s| s > 0 && s <= 900));
    assert!(app.login(&other, PASSWORD).await["data"]["login"].is_object(), "another account is unaffected");
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled() {
    // The test client stands in for the router: identity believes its x-forwarded-for.
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_ADDRESS", "3"), ("TRUSTED_PROXIES", "127.0.0.1, ::1")]).await;
    // A documentation-range address unique to this run: Redis-backed counters outlive a test run.
    let ip = format!("2001:db8::{:x}:{:x}", rand::random::<u16>(), rand::random::<u16>());
    let query = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
    let attempt = |address: String| {
        let request = app.client.post(app.url("/graphql")).header("x-forwarded-for", ip.clone());
        let body =
            json!({ "query": query, "variables": { "i": { "email": address, "password": "wrong password here" } } });
        async move { request.json(&body).send().await.expect("sent").json::<serde_json::Value>().await.expect("json") }
    };
    for _ in 0..3 {
        assert_eq!(code(&attempt(email()).await), "UNAUTHENTICATED");
    }
    assert_eq!(code(&attempt(email()).await), "RATE_LIMITED", "a fourth account from the same address");
}

#[tokio::test]
async fn a_refresh_token_rotates_and_its_reuse_revokes_the_whole_session() {
    let app = spawn_app().await;
    let (_, _, first) = app.signed_up(&email()).await;
    let rotated = app.refresh(&first).await;
    let second = str(&rotated["data"]["refreshToken"]["refreshToken"]);
    assert_ne!(first, second);
    let access = str(&rotated["data"]["refreshToken"]["accessToken"]);
    assert!(app.gql("{ me { id } }", json!({}), Some(&access)).await["data"]["me"].is_object());

    let replay = app.refresh(&first).await;
    assert_eq!(code(&replay), "UNAUTHENTICATED");
    assert!(str(&replay["errors"][0]["message"]).contains("already used"), "{replay}");
    assert_eq!(code(&app.refresh(&second).await), "UNAUTHENTICATED", "the family was revoked with it");
    assert_eq!(code(&app.refresh("made-up").await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.signed_up(&email()).await;
    let logout = "mutation($t: String!) { logout(refreshToken: $t) }";
    assert_eq!(app.gql(logout, json!({ "t": refresh }), None).await["data"]["logout"], true);
    assert_eq!(code(&app.refresh(&refresh).await), "UNAUTHENTICATED");
    assert_eq!(app.gql(logout, json!({ "t": "unknown" }), None).await["data"]["logout"], false);
}

#[tokio::test]
async fn changing_the_password_signs_out_every_other_session() {
    let app = spawn_app().await;
    let address = email();
    let (_, access, this_session) = app.signed_up(&address).await;
    let other_session = str(&app.login(&address, PASSWORD).await["data"]["login"]["refreshToken"]);
    let change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) }";

    let wrong = app
        .gql(
            change,
            json!({ "i": { "currentPassword": "not it at all", "newPassword": "a brand new secret" } }),
            Some(&access),
        )
        .await;
    assert_eq!(code(&wrong), "BAD_USER_INPUT");
    let weak =
        app.gql(change, json!({ "i": { "currentPassword": PASSWORD, "newPassword": "short" } }), Some(&access)).await;
    assert_eq!(code(&weak), "BAD_USER_INPUT");
    let ok = app
        .gql(
            change,
            json!({ "i": { "currentPassword": PASSWORD, "newPassword": "a brand new secret" } }),
            Some(&access),
        )
        .await;
    assert_eq!(ok["data"]["changePassword"], true, "{ok}");

    assert_eq!(code(&app.refresh(&other_session).await), "UNAUTHENTICATED", "other sessions are revoked");
    assert!(app.refresh(&this_session).await["data"]["refreshToken"].is_object(), "this session goes on");
    assert_eq!(code(&app.login(&address, PASSWORD).await), "UNAUTHENTICATED");
    assert!(app.login(&address, "a brand new secret").await["data"]["login"].is_object());
    assert_eq!(
        code(&app.gql(change, json!({ "i": { "currentPassword": "x", "newPassword": "y" } }), None).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn events_are_published_without_password_material() {
    let app = spawn_app().await;
    let address = email();
    let (id, _, _) = app.signed_up(&address).await;
    app.login(&address, PASSWORD).await;
    let registered = app.event("identity.UserRegistered", &id).await;
    assert_eq!(registered.payload["email"], address);
    assert_eq!(registered.producer, "identity");
    app.event("identity.UserLoggedIn", &id).await;
    for event in app.recorded() {
        let text = serde_json::to_string(&event).expect("json");
        assert!(!text.contains(PASSWORD) && !text.contains("$argon2"), "password material in {text}");
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_and_anonymous_callers_cannot_ask_me() {
    let app = spawn_app().await;
    let anonymous = app.gql("{ me { id } }", json!({}), None).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    let (_, access, _) = app.signed_up(&email()).await;
    let mut tampered = access.clone();
    tampered.truncate(access.len() - 4);
    tampered.push_str("AAAA");
    let response = app.post("{ me { id } }", json!({}), Some(&tampered)).await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let garbage = app
        .client
        .post(app.url("/graphql"))
        .header("authorization", "Basic abc")
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(garbage.status(), 401);
}
