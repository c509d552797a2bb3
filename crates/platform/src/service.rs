//! A context's running parts besides its router: the outbox relay and its event consumers,
//! started together and stopped in order after the server has drained.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use anyhow::Context as _;

use crate::auth::TokenVerifier;
use crate::bus::{BusError, EventBus, Subscription, SubscriptionHandle};
use crate::config::CommonConfig;
use crate::db::Db;
use crate::outbox::Relay;
use crate::shutdown::Shutdown;

/// The relay and consumers of one context.
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
    consumers: Vec<SubscriptionHandle>,
}

impl Background {
    /// Starts `context`'s outbox relay and subscribes its consumers.
    pub async fn start(
        context: &str,
        db: &Db,
        bus: &Arc<dyn EventBus>,
        subscriptions: Vec<Subscription>,
        shutdown: &Shutdown,
    ) -> Result<Self, BusError> {
        let relay = Relay::new(db.clone(), bus.clone(), context);
        let tasks = vec![tokio::spawn(relay.run(shutdown.clone()))];
        let mut consumers = Vec::with_capacity(subscriptions.len());
        for subscription in subscriptions {
            consumers.push(bus.subscribe(subscription, shutdown.clone()).await?);
        }
        Ok(Self { tasks, consumers })
    }

    /// Runs one more background loop of the context (it must end on the shutdown it was given);
    /// `serve` waits for it after the server has drained.
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// Serves `router` until shutdown (draining in-flight requests for up to `grace`), then
    /// stops the consumers, waits for the relay and closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        router: Router,
        db: Db,
        shutdown: Shutdown,
        grace: Duration,
    ) -> std::io::Result<()> {
        let served = crate::http::serve(listener, router, shutdown, grace).await;
        for consumer in self.consumers {
            consumer.stop().await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
        db.close().await;
        served
    }
}

/// What a context run as its own process connects to: the bus named by `AMQP_URL` and a verifier
/// of identity's access tokens (its keys from `JWKS_URL`).
pub fn process_connections(common: &CommonConfig) -> anyhow::Result<(Arc<dyn EventBus>, TokenVerifier)> {
    let bus = crate::bus::open(&common.amqp_url, common.prefetch);
    let verifier = TokenVerifier::from_jwks(&common.jwt).with_context(|| {
        format!("{} needs JWKS_URL (identity's /.well-known/jwks.json) to check access tokens", common.service)
    })?;
    Ok((bus, verifier))
}

/// Binds the context's `LISTEN_ADDR` and logs what it serves there.
pub async fn bind(common: &CommonConfig, serves: &str) -> anyhow::Result<TcpListener> {
    let listener =
        TcpListener::bind(common.listen_addr).await.with_context(|| format!("binding {}", common.listen_addr))?;
    tracing::info!(addr = %common.listen_addr, "{} listening: {serves}", common.service);
    Ok(listener)
}
