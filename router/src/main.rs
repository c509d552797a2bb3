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
    /// The supergraph SDL.
    #[arg(long, env = "SUPERGRAPH", required_unless_present = "compose")]
    supergraph: Option<std::path::PathBuf>,
    /// Compose the supergraph at start from a JSON list of `{name, url, sdl}` (a file or an http URL).
    #[arg(long, conflicts_with = "supergraph")]
    compose: Option<String>,
    /// Where to listen.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:4000")]
    listen: std::net::SocketAddr,
    /// Return the query plan in `extensions` when a request sends `x-query-plan: true`.
    #[arg(long, env = "ROUTER_EXPOSE_QUERY_PLAN")]
    expose_query_plan: bool,
    /// Show subgraph error messages to clients (masked by default; codes and paths are kept).
    #[arg(long, env = "ROUTER_EXPOSE_SUBGRAPH_ERRORS")]
    expose_subgraph_errors: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let sdl = match (&cli.supergraph, &cli.compose) {
        (Some(path), _) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        (None, Some(source)) => compose_from(source).await?,
        (None, None) => anyhow::bail!("give --supergraph or --compose"),
    };
    let supergraph = router::Supergraph::parse(&sdl)?;
    let config = router::RouterConfig {
        expose_query_plan: cli.expose_query_plan,
        expose_subgraph_errors: cli.expose_subgraph_errors,
        ..Default::default()
    };
    let router = Arc::new(router::Router::new(supergraph, config));
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    tracing::info!(addr = %cli.listen, "router listening on /graphql");
    router::serve(router, listener, shutdown_signal()).await?;
    Ok(())
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
