//! `edustream-router --supergraph <file> --listen <host:port>`: serves `/graphql` for any
//! Federation v2 supergraph (or one composed at start with `--compose`).

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;

/// The router builds and drops many small JSON trees per request, from many requests at once:
/// glibc's allocator fragments and serialises there; mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "edustream-router", version, about = "A Federation v2 router")]
struct Cli {
    /// A YAML config file (see the README); flags and `ROUTER_*` variables override it.
    #[arg(long, env = "ROUTER_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// The supergraph SDL (or `supergraph:` in the config, or `ROUTER_SUPERGRAPH`).
    #[arg(long)]
    supergraph: Option<std::path::PathBuf>,
    /// Compose the supergraph at start from a JSON list of `{name, url, sdl}` (a file or an http URL).
    #[arg(long, conflicts_with = "supergraph")]
    compose: Option<String>,
    /// Where to listen (default 127.0.0.1:4000).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Return the query plan in `extensions` when a request sends `x-query-plan: true`.
    #[arg(long)]
    expose_query_plan: bool,
    /// Show subgraph error messages to clients (masked by default; codes and paths are kept).
    #[arg(long)]
    expose_subgraph_errors: bool,
    /// Answer `__schema` / `__type` (off by default, as production wants; on for development).
    #[arg(long)]
    introspection: bool,
    /// A request header to forward to subgraphs (repeatable; replaces the configured list).
    #[arg(long = "forward-header", value_name = "NAME")]
    forward_headers: Vec<String>,
    /// A subgraph URL replacing the supergraph's: `name=http://host:port/graphql` (repeatable).
    #[arg(long = "subgraph-url", value_name = "NAME=URL")]
    subgraph_urls: Vec<String>,
    /// Reload the supergraph and the config when their files change (checked every
    /// `--reload-interval`); SIGHUP reloads at any time, re-composing with `--compose`.
    #[arg(long, env = "ROUTER_HOT_RELOAD")]
    hot_reload: bool,
    /// How often files are checked for changes with `--hot-reload`.
    #[arg(long, env = "ROUTER_RELOAD_INTERVAL", default_value = "5s", value_parser = router::config::parse_duration)]
    reload_interval: std::time::Duration,
}

impl Cli {
    /// Defaults, then the YAML file, then `ROUTER_*` variables, then flags.
    fn config(&self) -> anyhow::Result<router::RouterConfig> {
        let env = |name: &str| std::env::var(name).ok();
        let mut config = match &self.config {
            Some(path) => router::RouterConfig::from_yaml_file(path, &env)?,
            None => router::RouterConfig::default(),
        };
        config.apply_env(&env)?;
        if let Some(path) = &self.supergraph {
            config.supergraph = Some(path.clone());
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        config.expose_query_plan |= self.expose_query_plan;
        config.expose_subgraph_errors |= self.expose_subgraph_errors;
        config.introspection |= self.introspection;
        if !self.forward_headers.is_empty() {
            config.forward_headers = router::config::header_list(self.forward_headers.iter().map(String::as_str))?;
        }
        for pair in &self.subgraph_urls {
            let (name, url) = router::config::subgraph_url(pair)?;
            config.subgraph_urls.insert(name, url);
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = router::telemetry::init("router");
    let cli = Arc::new(Cli::parse());
    // One set of metrics for the process: counters survive reloads.
    let metrics = Arc::new(router::telemetry::Metrics::new());
    let router = build(&cli, metrics.clone()).await?;
    let listen = router.config().listen;
    // The files a reload watches: the config and the supergraph it names.
    let files: Vec<std::path::PathBuf> =
        cli.config.iter().cloned().chain(router.config().supergraph.iter().cloned()).collect();
    let live = router::reload::Live::new(Arc::new(router));
    let (trigger, triggered) = tokio::sync::mpsc::channel(1);
    spawn_sighup(trigger);
    let interval = if cli.hot_reload { cli.reload_interval } else { std::time::Duration::from_secs(365 * 24 * 3600) };
    let watched = if cli.hot_reload { files } else { Vec::new() };
    let reloader = {
        let cli = cli.clone();
        tokio::spawn(router::reload::watch(live.clone(), watched, interval, triggered, move || {
            let (cli, metrics) = (cli.clone(), metrics.clone());
            async move {
                let router = build(&cli, metrics).await?;
                if router.config().listen != listen {
                    tracing::warn!(listen = %router.config().listen, "a new listen address needs a restart; still on {listen}");
                }
                Ok(router)
            }
        }))
    };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listen, hot_reload = cli.hot_reload, "router listening on /graphql");
    let app = live.app().into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    reloader.abort();
    Ok(())
}

/// Reads the config, loads (or composes) the supergraph and builds a router; the same path at
/// start and on every reload.
async fn build(cli: &Cli, metrics: Arc<router::telemetry::Metrics>) -> anyhow::Result<router::Router> {
    let config = cli.config()?;
    let sdl = match (&config.supergraph, &cli.compose) {
        (_, Some(source)) => compose_from(source).await?,
        (Some(path), None) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        (None, None) => anyhow::bail!("give --supergraph (or `supergraph:` in the config) or --compose"),
    };
    let supergraph = router::Supergraph::parse(&sdl)?;
    let unknown: Vec<&String> = config
        .subgraph_urls
        .keys()
        .chain(config.subgraphs.keys())
        .filter(|name| !supergraph.graphs.iter().any(|g| &g.name == *name))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = supergraph.graphs.iter().map(|g| g.name.as_str()).collect();
        anyhow::bail!("the config names subgraphs the supergraph does not have: {unknown:?} (it has {known:?})");
    }
    let redis_url = config.redis_url.clone();
    let router = router::Router::build_with(supergraph, config, metrics)?;
    if let Some(url) = redis_url {
        router.share_through_redis(&url).await.context("connecting to Redis (REDIS_URL)")?;
        tracing::info!("persisted queries and cached responses shared through Redis");
    }
    Ok(router)
}

/// SIGHUP asks for a reload.
fn spawn_sighup(trigger: tokio::sync::mpsc::Sender<()>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else { return };
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            let _ = trigger.try_send(());
        }
    });
    #[cfg(not(unix))]
    drop(trigger);
}

/// Composes from a JSON list of `{name, url, sdl}` in a file or at an http URL.
async fn compose_from(source: &str) -> anyhow::Result<String> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        reqwest::get(source).await?.error_for_status()?.text().await?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
    };
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).context("a JSON list of {name, url, sdl}")?;
    let subgraphs: Vec<router::compose::SubgraphSdl> = list
        .iter()
        .map(|s| router::compose::SubgraphSdl {
            name: s["name"].as_str().unwrap_or_default().to_owned(),
            url: s["url"].as_str().unwrap_or_default().to_owned(),
            sdl: s["sdl"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    router::compose::compose(&subgraphs).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("composition failed:\n{}", lines.join("\n"))
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
