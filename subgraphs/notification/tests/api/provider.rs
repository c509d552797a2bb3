//! A push/SMS provider for the tests: a local axum endpoint that answers with the statuses it
//! is told to (in order; the last one repeats) and records the JSON it received. It can be held:
//! requests are then recorded on arrival and answered only once it is released.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::sync::watch;

#[derive(Default)]
struct Inner {
    statuses: VecDeque<u16>,
    received: Vec<Value>,
}

#[derive(Clone)]
pub struct Provider {
    inner: Arc<Mutex<Inner>>,
    /// `true`: answer at once; `false`: hold answers until it turns `true`.
    open: Arc<watch::Sender<bool>>,
}

impl Provider {
    /// Starts the endpoint; it answers `statuses` in turn (the last one from then on).
    pub async fn start(statuses: &[u16]) -> (Self, String) {
        let inner = Inner { statuses: statuses.iter().copied().collect(), received: Vec::new() };
        let provider = Self { inner: Arc::new(Mutex::new(inner)), open: Arc::new(watch::Sender::new(true)) };
        let app = axum::Router::new().route("/send", post(receive)).with_state(provider.clone());
        let (listener, addr): (_, SocketAddr) = testkit::listen().await;
        tokio::spawn(async move { axum::serve(listener, app).await });
        (provider, format!("http://{addr}/send"))
    }

    pub fn received(&self) -> Vec<Value> {
        self.inner.lock().expect("not poisoned").received.clone()
    }

    /// From now on requests wait for [`Provider::release`] before they are answered.
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    /// Answers the held requests and every later one at once.
    pub fn release(&self) {
        self.open.send_replace(true);
    }
}

async fn receive(State(provider): State<Provider>, Json(body): Json<Value>) -> StatusCode {
    let status = {
        let mut inner = provider.inner.lock().expect("not poisoned");
        inner.received.push(body);
        if inner.statuses.len() > 1 { inner.statuses.pop_front() } else { inner.statuses.front().copied() }
    };
    let mut open = provider.open.subscribe();
    // The sender lives as long as the provider: it cannot be dropped while we wait.
    let _ = open.wait_for(|open| *open).await;
    StatusCode::from_u16(status.unwrap_or(200)).unwrap_or(StatusCode::OK)
}
