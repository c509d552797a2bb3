//! `spawn()`: identity and review on fresh databases, sharing an in-process bus, each on a
//! random port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use std::time::Duration;

use kernel::{EventEnvelope, PublishedEvent};
use platform::bus::{Binding, EventBus, EventHandler, HandlerError, MemoryBus, Subscription};
use platform::{Env, Shutdown};
use serde_json::{Value, json};

/// Records the events review publishes.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<EventEnvelope>>);

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        self.0.lock().expect("not poisoned").push(event.clone());
        Ok(())
    }
}

impl Recorder {
    pub fn of_type(&self, event_type: &str) -> Vec<EventEnvelope> {
        self.0.lock().expect("not poisoned").iter().filter(|e| e.event_type == event_type).cloned().collect()
    }

    /// Waits (bounded) until an event of `event_type` about `aggregate` was published.
    pub async fn wait_for(&self, event_type: &str, aggregate: &str) -> EventEnvelope {
        for _ in 0..200 {
            if let Some(e) = self.of_type(event_type).into_iter().rev().find(|e| e.aggregate_id == aggregate) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no {event_type} for {aggregate} was published");
    }
}

pub struct Stack {
    pub events: Arc<Recorder>,
    pub identity: SocketAddr,
    pub review: SocketAddr,
    pub client: reqwest::Client,
    pub service: Arc<review::service::ReviewService>,
    pub bus: Arc<MemoryBus>,
    pub shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub async fn spawn() -> Stack {
    let dir = tempfile::tempdir().expect("temp dir");
    let shutdown = Shutdown::new();
    let bus = Arc::new(MemoryBus::new());
    let events = Arc::new(Recorder::default());
    let recorder = Subscription {
        queue: "test.recorder".into(),
        bindings: vec![Binding::all_of("review")],
        handler: events.clone(),
    };
    bus.subscribe(recorder, shutdown.clone()).await.expect("subscribes");
    // A fixed test seed (base64 of 32 bytes): tokens only need to verify within one stack.
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let identity_env = Env::from_pairs([
        ("DATABASE_URL", platform::db::testing::fresh_database_url(dir.path()).await.as_str()),
        ("AMQP_URL", "memory:"),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "100000"),
    ])
    .with("DATA_DIR", dir.path().display().to_string())
    .with("JWT_SIGNING_KEY", key)
    .with("ADMIN_EMAIL", "admin@example.org");
    let identity_config = identity::IdentityConfig::from_env(&identity_env).expect("identity config");
    let identity = identity::build(&identity_config, bus.clone(), &shutdown).await.expect("identity builds");
    let verifier = identity.verifier.clone();
    let (listener, identity_addr) = listen().await;
    tokio::spawn(identity.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let review_dir = dir.path().join("review");
    std::fs::create_dir_all(&review_dir).expect("dir");
    let review_env = Env::from_pairs([
        ("DATABASE_URL", platform::db::testing::fresh_database_url(&review_dir).await.as_str()),
        ("AMQP_URL", "memory:"),
        ("REVIEW_FLAG_THRESHOLD", "2"),
    ]);
    let config = review::ReviewConfig::from_env(&review_env).expect("review config");
    let app = review::build(&config, bus.clone(), verifier, &shutdown).await.expect("review builds");
    let service = app.service.clone();
    let (listener, review_addr) = listen().await;
    tokio::spawn(app.serve(listener, shutdown.clone(), Duration::from_secs(1)));
    Stack {
        events,
        identity: identity_addr,
        review: review_addr,
        client: reqwest::Client::new(),
        service,
        bus,
        shutdown,
        _dir: dir,
    }
}

async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    (listener, addr)
}

pub struct User {
    pub id: String,
    pub token: String,
}

impl Stack {
    async fn post(&self, addr: SocketAddr, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request =
            self.client.post(format!("http://{addr}/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("sent").json().await.expect("JSON body")
    }

    /// An operation against review.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.post(self.review, query, variables, token).await
    }

    /// Registers a user with identity.
    pub async fn register(&self, role: &str, first_name: &str) -> User {
        let email = if role == "ADMIN" {
            "admin@example.org".to_owned()
        } else {
            format!("u-{}@example.org", uuid::Uuid::now_v7().simple())
        };
        let self_role = if role == "ADMIN" { "STUDENT" } else { role };
        let body = self
            .post(
                self.identity,
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }",
                json!({ "i": { "email": email, "password": "correct horse battery", "firstName": first_name,
                               "lastName": "Tester", "role": self_role } }),
                None,
            )
            .await;
        let id = body["data"]["register"]["user"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        let token = body["data"]["register"]["accessToken"].as_str().expect("token").to_owned();
        User { id, token }
    }

    /// Delivers an event as if another context had published it.
    pub async fn deliver<E: PublishedEvent>(&self, event: &E) -> EventEnvelope {
        let envelope = EventEnvelope::wrap(event, None);
        self.bus.publish(&envelope).await.expect("delivered");
        envelope
    }

    /// Publishes an envelope again (at-least-once delivery).
    pub async fn bus_redeliver(&self, envelope: &EventEnvelope) {
        self.bus.publish(envelope).await.expect("delivered");
    }

    /// A booking of `student` with a new tutor that booking reports completed; returns
    /// (booking id, tutor id).
    pub async fn completed_booking(&self, student: &User) -> (String, String) {
        let slot = kernel::events::booking::BookedSlot {
            booking_id: uuid::Uuid::now_v7().to_string(),
            tutor_id: uuid::Uuid::now_v7().to_string(),
            student_id: student.id.clone(),
            starts_at: chrono::Utc::now() - chrono::Duration::hours(2),
            ends_at: chrono::Utc::now() - chrono::Duration::hours(1),
        };
        self.deliver(&kernel::events::booking::BookingCompleted { slot: slot.clone() }).await;
        (slot.booking_id, slot.tutor_id)
    }
}

/// The `extensions.code` of the first error.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}
