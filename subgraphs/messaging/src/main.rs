//! The messaging subgraph as its own process (production): configuration from the environment.

use platform::{Env, Shutdown};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = messaging::MessagingConfig::from_env(&Env::process())?;
    let _telemetry = platform::telemetry::init_tracing(&config.common);
    messaging::run(config, Shutdown::on_signals()).await
}
