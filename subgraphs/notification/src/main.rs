//! The notification subgraph as its own process (production): configuration from the environment.

use platform::{Env, Shutdown};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = notification::NotificationConfig::from_env(&Env::process())?;
    let _telemetry = platform::telemetry::init_tracing(&config.common);
    notification::run(config, Shutdown::on_signals()).await
}
