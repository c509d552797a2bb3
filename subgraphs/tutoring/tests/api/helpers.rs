//! `spawn()`: tutoring on a fresh database, beside a real identity, sharing an in-process bus
//! (see `testkit`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
pub use testkit::{User, code};

pub struct Stack {
    pub graph: testkit::Graph,
    pub tutoring: SocketAddr,
    pub service: Arc<tutoring::service::TutoringService>,
}

impl std::ops::Deref for Stack {
    type Target = testkit::Graph;
    fn deref(&self) -> &testkit::Graph {
        &self.graph
    }
}

pub async fn spawn() -> Stack {
    let graph = testkit::Graph::start(&["tutoring"]).await;
    let config = tutoring::TutoringConfig::from_env(&graph.env_for("tutoring").await).expect("tutoring config");
    let app = tutoring::build(&config, graph.bus.clone(), graph.verifier.clone(), &graph.shutdown)
        .await
        .expect("tutoring builds");
    let service = app.service.clone();
    let (listener, tutoring) = testkit::listen().await;
    tokio::spawn(app.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));
    Stack { graph, tutoring, service }
}

impl Stack {
    /// An operation against tutoring.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graph.post(self.tutoring, query, variables, token).await
    }

    /// Registers a user with identity and waits until tutoring's projection knows them.
    pub async fn register(&self, role: &str, first_name: &str) -> User {
        let user = self.graph.register(role, first_name).await;
        self.wait_for_user(&user.id).await;
        user
    }

    /// Waits (bounded) until identity's registration event reached tutoring's projection.
    pub async fn wait_for_user(&self, id: &str) {
        let id: kernel::UserId = id.parse().expect("a user id");
        for _ in 0..200 {
            if self.service.store().known_user(id).await.expect("store").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the user projection never saw {id}");
    }

    /// Creates a profile for a new tutor; returns (tutor id, the tutor).
    pub async fn tutor(&self, name: &str, subjects: Value) -> (String, User) {
        let user = self.register("TUTOR", name).await;
        let body = self
            .gql(
                "mutation($i: CreateTutorProfileInput!) { createTutorProfile(input: $i) { id } }",
                json!({ "i": { "bio": format!("{name} teaches well"), "subjects": subjects, "timeZone": "Europe/Paris" } }),
                Some(&user.token),
            )
            .await;
        let id = body["data"]["createTutorProfile"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        (id, user)
    }
}
