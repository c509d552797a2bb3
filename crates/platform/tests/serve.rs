//! `serve()`: in-flight requests finish when shutdown is requested; new ones are not accepted.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use platform::Shutdown;
use tokio::sync::{Notify, oneshot};

#[tokio::test]
async fn shutdown_drains_an_in_flight_request_then_stops_listening() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (entered_in, release_in) = (entered.clone(), release.clone());
    let router = Router::new().route(
        "/slow",
        get(move || {
            let (entered, release) = (entered_in.clone(), release_in.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                "finished"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("address");
    let shutdown = Shutdown::new();
    let server = tokio::spawn(platform::http::serve(listener, router, shutdown.clone(), Duration::from_secs(30)));

    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let response = reqwest::get(format!("http://{addr}/slow")).await.expect("answered");
        let _ = done_tx.send((response.status(), response.text().await.expect("body")));
    });
    entered.notified().await;
    shutdown.trigger();
    release.notify_one();

    let (status, body) = done_rx.await.expect("the in-flight request completed");
    assert_eq!((status.as_u16(), body.as_str()), (200, "finished"));
    server.await.expect("joins").expect("the server stopped cleanly");
    assert!(reqwest::get(format!("http://{addr}/slow")).await.is_err(), "no longer listening");
}
