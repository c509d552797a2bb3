//! `spawn()`: review on a fresh database, beside a real identity, sharing an in-process bus
//! (see `testkit`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
pub use testkit::{User, code};

pub struct Stack {
    pub graph: testkit::Graph,
    pub review: SocketAddr,
    pub service: Arc<review::service::ReviewService>,
}

impl std::ops::Deref for Stack {
    type Target = testkit::Graph;
    fn deref(&self) -> &testkit::Graph {
        &self.graph
    }
}

pub async fn spawn() -> Stack {
    let graph = testkit::Graph::start(&["review"]).await;
    let env = graph.env_for("review").await.with("REVIEW_FLAG_THRESHOLD", "2");
    let config = review::ReviewConfig::from_env(&env).expect("review config");
    let app = review::build(&config, graph.bus.clone(), graph.verifier.clone(), &graph.shutdown)
        .await
        .expect("review builds");
    let service = app.service.clone();
    let (listener, review) = testkit::listen().await;
    tokio::spawn(app.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));
    Stack { graph, review, service }
}

impl Stack {
    /// An operation against review.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graph.post(self.review, query, variables, token).await
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
