//! A push/SMS provider for the tests: a local axum endpoint that answers with the statuses it
//! is told to (in order; the last one repeats) and records the JSON it received.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

#[derive(Default)]
struct Inner {
    statuses: VecDeque<u16>,
    received: Vec<Value>,
}

#[derive(Clone, Default)]
pub struct Provider(Arc<Mutex<Inner>>);

impl Provider {
    /// Starts the endpoint; it answers `statuses` in turn (the last one from then on).
    pub async fn start(statuses: &[u16]) -> (Self, String) {
        let provider = Self::default();
        provider.0.lock().expect("not poisoned").statuses = statuses.iter().copied().collect();
        let app = axum::Router::new().route("/send", post(receive)).with_state(provider.clone());
        let (listener, addr): (_, SocketAddr) = testkit::listen().await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        (provider, format!("http://{addr}/send"))
    }

    pub fn received(&self) -> Vec<Value> {
        self.0.lock().expect("not poisoned").received.clone()
    }
}

async fn receive(State(provider): State<Provider>, Json(body): Json<Value>) -> StatusCode {
    let mut inner = provider.0.lock().expect("not poisoned");
    inner.received.push(body);
    let status = if inner.statuses.len() > 1 { inner.statuses.pop_front() } else { inner.statuses.front().copied() };
    StatusCode::from_u16(status.unwrap_or(200)).unwrap_or(StatusCode::OK)
}
