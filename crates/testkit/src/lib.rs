//! Test support shared by the contexts' API tests and the router's end-to-end tests: a real
//! identity on a fresh database (PostgreSQL when `DATABASE_URL` points at a server, else SQLite),
//! an in-process bus shared with the context under test, a recorder of published events, and
//! GraphQL helpers. Used only as a dev-dependency.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kernel::{EventEnvelope, PublishedEvent};
use platform::bus::{Binding, EventBus, EventHandler, HandlerError, MemoryBus, RabbitBus, Subscription};
use platform::{Env, Shutdown, TokenVerifier};
use serde_json::{Value, json};

/// The address identity promotes to admin when it registers (see [`Graph::register`]).
pub const ADMIN_EMAIL: &str = "admin@example.org";

/// Records the events published on the bus by the producers it was bound to.
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

    /// Waits (bounded: 5 s) until an event of `event_type` about `aggregate` was published.
    pub async fn wait_for(&self, event_type: &str, aggregate: &str) -> EventEnvelope {
        self.wait_for_matching(event_type, aggregate, |_| true).await
    }

    /// Waits (bounded: 5 s) until an event of `event_type` about `aggregate` for which `accept`
    /// holds was published (the relay publishes asynchronously: a later event may still be on
    /// its way when an earlier one has arrived).
    pub async fn wait_for_matching(
        &self,
        event_type: &str,
        aggregate: &str,
        accept: impl Fn(&EventEnvelope) -> bool,
    ) -> EventEnvelope {
        for _ in 0..200 {
            let found = self.of_type(event_type).into_iter().rev().find(|e| e.aggregate_id == aggregate && accept(e));
            if let Some(e) = found {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no matching {event_type} for {aggregate} was published");
    }
}

/// A signed-up user: id and access token.
pub struct User {
    pub id: String,
    pub token: String,
}

/// Identity on its own port, the bus, and what a context under test needs to join them.
pub struct Graph {
    pub identity: SocketAddr,
    /// Checks identity's access tokens (give it to the context under test).
    pub verifier: TokenVerifier,
    /// The in-process bus (what [`Graph::start`] connects everything with).
    pub bus: Arc<MemoryBus>,
    /// The bus the graph's contexts share: `bus`, or RabbitMQ for [`Graph::start_on_broker`].
    pub shared: Arc<dyn EventBus>,
    pub events: Arc<Recorder>,
    pub client: reqwest::Client,
    pub shutdown: Shutdown,
    dir: tempfile::TempDir,
}

impl Drop for Graph {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// The RabbitMQ broker tests use when `AMQP_URL` names one.
pub fn broker_url() -> Option<String> {
    std::env::var("AMQP_URL").ok().filter(|u| u.starts_with("amqp://") || u.starts_with("amqps://"))
}

/// A listener on a random local port.
pub async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    (listener, addr)
}

/// The `extensions.code` of the first error.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

impl Graph {
    /// Starts identity on the in-process bus; the recorder records the events of `recorded`
    /// producers.
    pub async fn start(recorded: &[&str]) -> Self {
        let bus = Arc::new(MemoryBus::new());
        Self::start_with(recorded, bus.clone(), bus, &[]).await
    }

    /// [`Graph::start`] with identity's environment changed by `identity_env` (e.g. its login
    /// throttle and `TRUSTED_PROXIES`).
    pub async fn start_with_identity_env(identity_env: &[(&str, &str)]) -> Self {
        let bus = Arc::new(MemoryBus::new());
        Self::start_with(&[], bus.clone(), bus, identity_env).await
    }

    /// Like [`Graph::start`], but on RabbitMQ when `AMQP_URL` names a broker (CI's second pass):
    /// exchanges and queues get a namespace of their own, so tests sharing the broker never
    /// consume each other's events.
    pub async fn start_on_broker(recorded: &[&str]) -> Self {
        let memory = Arc::new(MemoryBus::new());
        match broker_url() {
            Some(url) => {
                let namespace = format!("t{}.", &uuid::Uuid::now_v7().simple().to_string()[16..]);
                let rabbit =
                    RabbitBus::new(&url, 32).with_retry_delay(Duration::from_millis(200)).with_namespace(&namespace);
                Self::start_with(recorded, memory, Arc::new(rabbit), &[]).await
            }
            None => Self::start_with(recorded, memory.clone(), memory, &[]).await,
        }
    }

    async fn start_with(
        recorded: &[&str],
        bus: Arc<MemoryBus>,
        shared: Arc<dyn EventBus>,
        identity_env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let shutdown = Shutdown::new();
        let events = Arc::new(Recorder::default());
        let recorder = Subscription {
            queue: "test.recorder".into(),
            bindings: recorded.iter().map(|p| Binding::all_of(p)).collect(),
            handler: events.clone(),
        };
        shared.subscribe(recorder, shutdown.clone()).await.expect("subscribes");
        let overrides = identity_env;
        let identity_env = Env::from_pairs([
            ("DATABASE_URL", platform::db::testing::fresh_database_url(dir.path()).await.as_str()),
            ("AMQP_URL", "memory:"),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", "100000"),
        ])
        .with("DATA_DIR", dir.path().display().to_string())
        // A fixed test seed (base64 of 32 bytes): tokens only need to verify within one graph.
        .with("JWT_SIGNING_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        .with("ADMIN_EMAIL", ADMIN_EMAIL);
        let identity_env = overrides.iter().fold(identity_env, |env, (name, value)| env.with(name, value.to_string()));
        let config = identity::IdentityConfig::from_env(&identity_env).expect("identity config");
        let app = identity::build(&config, shared.clone(), &shutdown).await.expect("identity builds");
        let verifier = app.verifier.clone();
        let (listener, identity) = listen().await;
        tokio::spawn(app.serve(listener, shutdown.clone(), Duration::from_secs(1)));
        Self { identity, verifier, bus, shared, events, client: reqwest::Client::new(), shutdown, dir }
    }

    /// The environment of a context under test: a fresh database of its own, the in-process bus.
    pub async fn env_for(&self, context: &str) -> Env {
        let dir: PathBuf = self.dir.path().join(context);
        std::fs::create_dir_all(&dir).expect("dir");
        Env::from_pairs([
            ("DATABASE_URL", platform::db::testing::fresh_database_url(&dir).await.as_str()),
            ("AMQP_URL", "memory:"),
        ])
    }

    /// Sends an operation to a service's `/graphql`.
    pub async fn post(&self, addr: SocketAddr, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request =
            self.client.post(format!("http://{addr}/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("sent").json().await.expect("JSON body")
    }

    /// Registers a user with identity (`role` ADMIN: the configured admin address, once per graph).
    pub async fn register(&self, role: &str, first_name: &str) -> User {
        let email = if role == "ADMIN" {
            ADMIN_EMAIL.to_owned()
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
        self.shared.publish(&envelope).await.expect("delivered");
        envelope
    }

    /// Publishes an envelope again (at-least-once delivery).
    pub async fn bus_redeliver(&self, envelope: &EventEnvelope) {
        self.shared.publish(envelope).await.expect("delivered");
    }
}
