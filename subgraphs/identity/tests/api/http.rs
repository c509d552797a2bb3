use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn queries_work_over_get_and_mutations_over_get_are_refused() {
    let app = spawn_app().await;
    let (_, token, _) = app.signed_up(&email()).await;
    let get = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ me { id } }")])
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(get.status(), 200);
    let body: serde_json::Value = get.json().await.expect("json");
    assert!(body["data"]["me"]["id"].is_string(), "{body}");

    let mutation = "mutation { logout(refreshToken: \"x\") }";
    let refused = app.client.get(app.url("/graphql")).query(&[("query", mutation)]).send().await.expect("sent");
    assert_eq!(refused.status(), 405);
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let app = spawn_app_with(&[("BODY_LIMIT_BYTES", "1024")]).await;
    let padding = "x".repeat(4096);
    let response = app.post(&format!("{{ __typename }} # {padding}"), json!({}), None).await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn malformed_requests_get_a_clear_client_error() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let syntax = app.gql("{ me { id ", json!({}), None).await;
    assert!(syntax["errors"][0]["message"].is_string(), "{syntax}");
}

#[tokio::test]
async fn readiness_metrics_and_jwks_are_served() {
    let app = spawn_app().await;
    let ready: serde_json::Value =
        app.client.get(app.url("/health/ready")).send().await.expect("sent").json().await.expect("json");
    assert_eq!(ready, json!({ "status": "ready", "database": "up", "bus": "up" }));
    assert_eq!(app.client.get(app.url("/health/live")).send().await.expect("sent").status(), 200);

    let (_, token, _) = app.signed_up(&email()).await;
    app.client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "query WhoAmI { me { id } }", "operationName": "WhoAmI" }))
        .send()
        .await
        .expect("sent");
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("sent").text().await.expect("text");
    assert!(
        metrics.contains("graphql_requests_total{service=\"identity\",operation=\"WhoAmI\",outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("graphql_request_duration_seconds_bucket"));

    // The published keys verify the tokens the service issues.
    let settings = platform::CommonConfig::from_env(&platform::Env::default(), "identity", 8001).expect("config").jwt;
    let source = platform::auth::JwksKeySource::new(&app.url("/.well-known/jwks.json"));
    let verifier = platform::TokenVerifier::new(std::sync::Arc::new(source), &settings);
    let claims = verifier.verify(&token).await.expect("verifies against the JWKS");
    assert_eq!(claims.aud, "edustream");
}

mod websocket {
    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    use crate::helpers::*;

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    async fn connect(app: &TestApp) -> Socket {
        let mut request = format!("ws://{}/graphql", app.addr).into_client_request().expect("request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrades");
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        socket
    }

    async fn next_json(socket: &mut Socket) -> Option<Value> {
        while let Some(message) = socket.next().await {
            match message.ok()? {
                Message::Text(text) => return serde_json::from_str(&text).ok(),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
        None
    }

    async fn send(socket: &mut Socket, message: Value) {
        socket.send(Message::Text(message.to_string().into())).await.expect("sent");
    }

    #[tokio::test]
    async fn graphql_transport_ws_authenticates_in_connection_init() {
        let app = spawn_app().await;
        let (id, token, _) = app.signed_up(&email()).await;
        let mut socket = connect(&app).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }),
        )
        .await;
        assert_eq!(next_json(&mut socket).await.expect("ack")["type"], "connection_ack");
        send(&mut socket, json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ me { id } }" } })).await;
        let next = next_json(&mut socket).await.expect("a result");
        assert_eq!(next["type"], "next", "{next}");
        assert_eq!(next["payload"]["data"]["me"]["id"], id);
    }

    #[tokio::test]
    async fn a_bad_token_in_connection_init_is_refused() {
        let app = spawn_app().await;
        let mut socket = connect(&app).await;
        send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": "Bearer forged" } })).await;
        let answer = next_json(&mut socket).await;
        assert!(answer.as_ref().is_none_or(|a| a["type"] != "connection_ack"), "{answer:?}");
    }
}
