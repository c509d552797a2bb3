//! `edustream-router --supergraph <file> --listen <host:port> [--config <yaml>]`

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;

#[derive(Parser)]
#[command(name = "edustream-router", version, about = "A Federation v2 router")]
struct Cli {
    /// The supergraph SDL.
    #[arg(long, env = "SUPERGRAPH")]
    supergraph: std::path::PathBuf,
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
    let sdl =
        std::fs::read_to_string(&cli.supergraph).with_context(|| format!("reading {}", cli.supergraph.display()))?;
    let supergraph = router::Supergraph::parse(&sdl)?;
    let config = router::RouterConfig { expose_query_plan: cli.expose_query_plan, ..Default::default() };
    let app = router::http::routes(Arc::new(router::Router::new(supergraph, config)));
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    tracing::info!(addr = %cli.listen, "router listening on /graphql");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
