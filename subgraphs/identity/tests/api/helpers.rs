//! `spawn_app()`: a fresh database, the service on a random port, and a recorder of the events
//! it publishes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use kernel::EventEnvelope;
use platform::bus::{Binding, EventBus, EventHandler, HandlerError, MemoryBus, Subscription};
use platform::{Env, Shutdown};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

#[derive(Default)]
pub struct Recorder(Mutex<Vec<EventEnvelope>>);

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        self.0.lock().expect("not poisoned").push(event.clone());
        Ok(())
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub events: Arc<Recorder>,
    pub identity: Arc<identity::service::IdentityService>,
    pub db: platform::Db,
    pub database_url: String,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = platform::db::testing::fresh_database_url(dir.path()).await;
    spawn_on(url, dir, overrides).await
}

impl TestApp {
    /// Stops this instance and starts another on the same database (a redeploy). The first one
    /// is stopped first: its relay would otherwise publish the new instance's events on its own bus.
    pub async fn restart_with(mut self, overrides: &[(&str, &str)]) -> TestApp {
        let url = self.database_url.clone();
        // The directory holds the SQLite database: it moves to the new instance.
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("temp dir"));
        drop(self);
        spawn_on(url, dir, overrides).await
    }
}

async fn spawn_on(url: String, dir: tempfile::TempDir, overrides: &[(&str, &str)]) -> TestApp {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let mut env = Env::from_pairs([
        ("DATABASE_URL", url.as_str()),
        ("AMQP_URL", "memory:"),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "100000"),
        ("SHUTDOWN_GRACE", "1s"),
    ])
    .with("DATA_DIR", dir.path().display().to_string())
    .with("JWT_SIGNING_KEY", base64::engine::general_purpose::STANDARD.encode(key.to_bytes()));
    if let Ok(redis) = std::env::var("REDIS_URL") {
        env = env.with("REDIS_URL", redis);
    }
    for (name, value) in overrides {
        env = env.with(name, *value);
    }
    let config = identity::IdentityConfig::from_env(&env).expect("valid test config");
    let bus = Arc::new(MemoryBus::new());
    let shutdown = Shutdown::new();
    let events = Arc::new(Recorder::default());
    let recorder = Subscription {
        queue: "test.recorder".into(),
        bindings: vec![Binding::all_of("identity")],
        handler: events.clone(),
    };
    bus.subscribe(recorder, shutdown.clone()).await.expect("subscribes");

    let app = identity::build(&config, bus, &shutdown).await.expect("identity builds");
    let (service, db) = (app.service.clone(), app.db.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(app.serve(listener, shutdown.clone(), Duration::from_secs(1)));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        events,
        identity: service,
        db,
        database_url: url,
        shutdown,
        _dir: dir,
    }
}

/// A unique e-mail address.
pub fn email() -> String {
    format!("user-{}@example.org", uuid::Uuid::now_v7().simple())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post(&self, query: &str, variables: Value, token: Option<&str>) -> reqwest::Response {
        let mut request =
            self.client.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// Sends an operation and returns the JSON body.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.post(query, variables, token).await.json().await.expect("JSON body")
    }

    pub async fn register(&self, email: &str, role: Option<&str>) -> Value {
        let query = "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken expiresIn user { id email role } } }";
        let mut input = json!({ "email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace" });
        if let Some(role) = role {
            input["role"] = json!(role);
        }
        self.gql(query, json!({ "input": input }), None).await
    }

    /// Registers a user and returns (user id, access token, refresh token).
    pub async fn signed_up(&self, email: &str) -> (String, String, String) {
        let body = self.register(email, None).await;
        let payload = &body["data"]["register"];
        assert!(payload.is_object(), "registration failed: {body}");
        (str(&payload["user"]["id"]), str(&payload["accessToken"]), str(&payload["refreshToken"]))
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let query = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id } } }";
        self.gql(query, json!({ "input": { "email": email, "password": password } }), None).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Value {
        let query = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }";
        self.gql(query, json!({ "t": refresh_token }), None).await
    }

    /// Waits until the outbox relay has delivered an event of this type for this user.
    pub async fn event(&self, event_type: &str, user_id: &str) -> EventEnvelope {
        for _ in 0..600 {
            let found = self
                .events
                .0
                .lock()
                .expect("not poisoned")
                .iter()
                .find(|e| e.event_type == event_type && e.aggregate_id == user_id)
                .cloned();
            if let Some(event) = found {
                return event;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {event_type} event for {user_id}");
    }

    pub fn recorded(&self) -> Vec<EventEnvelope> {
        self.events.0.lock().expect("not poisoned").clone()
    }
}

pub fn str(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("expected a string, got {value}")).to_owned()
}

/// The `extensions.code` of the first error.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("expected an error code in {body}"))
}
