//! Hot reload: the router that serves is swapped as a whole (supergraph, config, HTTP layers)
//! while the listener stays open. A request keeps the router it started with until it ends, so
//! nothing in flight is dropped; a reload that fails (a broken file, a composition error) is
//! logged and the previous router keeps serving.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::Request;
use tower::ServiceExt as _;

use crate::Router;

/// The router currently serving, with its HTTP stack.
pub struct Live {
    current: RwLock<(Arc<Router>, axum::Router)>,
    generation: std::sync::atomic::AtomicU64,
}

impl Live {
    pub fn new(router: Arc<Router>) -> Arc<Self> {
        let app = crate::http::routes(router.clone());
        Arc::new(Self { current: RwLock::new((router, app)), generation: Default::default() })
    }

    /// The router new requests get.
    pub fn router(&self) -> Arc<Router> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// How many times the router was replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves new requests with `router` from now on; requests in flight finish on the old one.
    pub fn replace(&self, router: Arc<Router>) {
        let app = crate::http::routes(router.clone());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (router, app);
        self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The HTTP service: each request is handed to the router current when it arrives.
    pub fn app(self: &Arc<Self>) -> axum::Router {
        let live = self.clone();
        axum::Router::new().fallback_service(tower::service_fn(move |request: Request| {
            let app = live.current.read().unwrap_or_else(|p| p.into_inner()).1.clone();
            async move { app.oneshot(request).await }
        }))
    }
}

/// What identifies a file's version without reading it: modification time and length.
fn fingerprint(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files.iter().map(|path| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
}

/// Rebuilds the router with `load` whenever one of `files` changes (checked every `interval`)
/// or `trigger` fires (SIGHUP in the binary), and swaps it in. Runs until the task is dropped.
pub async fn watch<F, Fut>(
    live: Arc<Live>,
    files: Vec<PathBuf>,
    interval: Duration,
    mut trigger: tokio::sync::mpsc::Receiver<()>,
    load: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Router>>,
{
    let mut seen = fingerprint(&files);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let asked = tokio::select! {
            _ = ticker.tick() => false,
            signal = trigger.recv() => match signal {
                Some(()) => true,
                None => return,
            },
        };
        let now = fingerprint(&files);
        if now == seen && !asked {
            continue;
        }
        seen = now;
        match load().await {
            Ok(router) => {
                live.replace(Arc::new(router));
                tracing::info!(
                    generation = live.generation(),
                    "router reloaded: new requests use the new supergraph and config"
                );
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "reload failed; still serving the previous supergraph and config"
                );
            }
        }
    }
}
