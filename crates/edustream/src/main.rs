//! `edustream`: the all-in-one dev stack (the default), one context as its own process, and
//! small operator tools.

use std::sync::Arc;

mod bench;
mod bench_live;
mod bench_saga;
mod bench_search;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use platform::bus::{EventBus, MemoryBus};
use platform::{Env, Shutdown};

#[derive(Parser)]
#[command(name = "edustream", version, about = "EduStream TutorConnect: a federated GraphQL tutoring platform")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every context in one process on SQLite under `./.edustream/` and the in-process bus (default).
    Dev {
        /// Where the SQLite files and the generated signing key live.
        #[arg(long, env = "DATA_DIR", default_value = ".edustream")]
        data_dir: String,
        /// The address every service binds to.
        #[arg(long, env = "DEV_HOST", default_value = "127.0.0.1")]
        host: String,
        /// Another origin browsers may call the router from (repeatable; localhost origins on any
        /// port are always allowed in the dev stack; `ROUTER_CORS_*` variables work too).
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
    },
    /// Run one context as its own process, configured from the environment (production).
    Subgraph { name: Context },
    /// Print a context's federated SDL.
    Schema { name: Context },
    /// Compose `supergraph.graphql` from the subgraphs' SDL: the built-in contexts by default, or
    /// live subgraphs (`--subgraph name=url`, SDL fetched with `{ _service { sdl } }`) and files
    /// (`--file name=url=path`).
    Compose {
        #[arg(long, default_value = "supergraph.graphql")]
        out: std::path::PathBuf,
        #[arg(long = "subgraph")]
        subgraphs: Vec<String>,
        #[arg(long = "file")]
        files: Vec<String>,
        /// Print the supergraph instead of writing it.
        #[arg(long)]
        stdout: bool,
    },
    /// Print a new Ed25519 signing key for `JWT_SIGNING_KEY` and its public half.
    Keygen,
    /// Load and latency benchmarks.
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

#[derive(Subcommand)]
enum BenchTarget {
    /// The signed-in `me` query against identity (in-process on SQLite unless --url is given).
    Me {
        /// A running identity's /graphql URL.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Tutor search latency over generated tutors (SQLite in a temporary directory unless
    /// --database-url names a PostgreSQL database).
    TutorSearch {
        #[arg(long, default_value_t = 100_000)]
        tutors: usize,
        /// Requests per query shape.
        #[arg(long, default_value_t = 300)]
        requests: usize,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The booking saga's end-to-end latency (request → CONFIRMED) with identity, tutoring,
    /// booking and payment in-process on SQLite, over the in-process bus or `--amqp-url`.
    Saga {
        #[arg(long, default_value_t = 400)]
        bookings: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// RabbitMQ instead of the in-process bus, e.g. amqp://guest:guest@127.0.0.1:5672/%2f
        #[arg(long)]
        amqp_url: Option<String>,
    },
    /// Many WebSocket subscribers on one router: `messageAdded` delivery latency and the memory
    /// per connection (starts the dev stack as a child process on the usual ports).
    Subscriptions {
        #[arg(long, default_value_t = 5_000)]
        subscribers: usize,
        #[arg(long, default_value_t = 50)]
        conversations: usize,
        /// Messages sent to every conversation, 100 ms apart.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Context {
    Identity,
    Tutoring,
    Booking,
    Payment,
    Review,
    Messaging,
    Notification,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default = Command::Dev { data_dir: ".edustream".into(), host: "127.0.0.1".into(), cors_origins: Vec::new() };
    match cli.command.unwrap_or(default) {
        Command::Dev { data_dir, host, cors_origins } => dev(&data_dir, &host, &cors_origins).await,
        Command::Subgraph { name: Context::Identity } => {
            let config = identity::IdentityConfig::from_env(&Env::process())?;
            let _telemetry = platform::telemetry::init_tracing(&config.common);
            identity::run(config, Shutdown::on_signals()).await
        }
        Command::Subgraph { name: Context::Tutoring } => {
            let config = tutoring::TutoringConfig::from_env(&Env::process())?;
            let _telemetry = platform::telemetry::init_tracing(&config.common);
            tutoring::run(config, Shutdown::on_signals()).await
        }
        Command::Subgraph { name: Context::Booking } => {
            let config = booking::BookingConfig::from_env(&Env::process())?;
            let _telemetry = platform::telemetry::init_tracing(&config.common);
            booking::run(config, Shutdown::on_signals()).await
        }
        Command::Subgraph { name: Context::Payment } => {
            let config = payment::PaymentConfig::from_env(&Env::process())?;
            let _telemetry = platform::telemetry::init_tracing(&config.common);
            payment::run(config, Shutdown::on_signals()).await
        }
        Command::Subgraph { name: Context::Review } => {
            let config = review::ReviewConfig::from_env(&Env::process())?;
            let _telemetry = platform::telemetry::init_tracing(&config.common);
            review::run(config, Shutdown::on_signals()).await
        }
        Command::Subgraph { name: Context::Messaging } => {
            let config = messaging::MessagingConfig::from_env(&Env::process())?;
            let _telemetry = platform::telemetry::init_tracing(&config.common);
            messaging::run(config, Shutdown::on_signals()).await
        }
        Command::Subgraph { name: Context::Notification } => {
            let config = notification::NotificationConfig::from_env(&Env::process())?;
            let _telemetry = platform::telemetry::init_tracing(&config.common);
            notification::run(config, Shutdown::on_signals()).await
        }
        Command::Schema { name: Context::Notification } => {
            print!("{}", notification::schema::sdl());
            Ok(())
        }
        Command::Schema { name: Context::Messaging } => {
            print!("{}", messaging::schema::sdl());
            Ok(())
        }
        Command::Schema { name: Context::Booking } => {
            print!("{}", booking::schema::sdl());
            Ok(())
        }
        Command::Schema { name: Context::Payment } => {
            print!("{}", payment::schema::sdl());
            Ok(())
        }
        Command::Schema { name: Context::Review } => {
            print!("{}", review::schema::sdl());
            Ok(())
        }
        Command::Schema { name: Context::Identity } => {
            print!("{}", identity::schema::sdl());
            Ok(())
        }
        Command::Schema { name: Context::Tutoring } => {
            print!("{}", tutoring::schema::sdl());
            Ok(())
        }
        Command::Bench { target: BenchTarget::Me { url, requests, concurrency } } => {
            bench::me(bench::Options { url, requests, concurrency }).await
        }
        Command::Bench { target: BenchTarget::TutorSearch { tutors, requests, database_url } } => {
            bench_search::tutor_search(bench_search::Options { tutors, requests, database_url }).await
        }
        Command::Bench { target: BenchTarget::Saga { bookings, concurrency, amqp_url } } => {
            bench_saga::saga(bench_saga::Options { bookings, concurrency, amqp_url }).await
        }
        Command::Bench { target: BenchTarget::Subscriptions { subscribers, conversations, rounds } } => {
            bench_live::subscriptions(bench_live::Options { subscribers, conversations, rounds }).await
        }
        Command::Compose { out, subgraphs, files, stdout } => compose(&out, &subgraphs, &files, stdout).await,
        Command::Keygen => {
            use base64::Engine;
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let engine = base64::engine::general_purpose::STANDARD;
            println!("JWT_SIGNING_KEY={}", engine.encode(key.to_bytes()));
            println!("# public key (list it in JWT_PREVIOUS_PUBLIC_KEYS after the next rotation):");
            println!("# {}", engine.encode(key.verifying_key().to_bytes()));
            Ok(())
        }
    }
}

/// The contexts built into this binary, at their dev-stack URLs.
/// Browsers may call the dev stack from any localhost origin (a Vite app on :5173, a sandbox
/// page), from `--cors-origin` origins, and as `ROUTER_CORS_*` variables say.
fn dev_cors(config: &mut router::RouterConfig, origins: &[String]) -> anyhow::Result<()> {
    config.cors.allow_localhost = true;
    let cors_only = |name: &str| name.starts_with("ROUTER_CORS_").then(|| std::env::var(name).ok()).flatten();
    config.apply_env(&cors_only).context("ROUTER_CORS_* variables")?;
    if !origins.is_empty() {
        let joined = origins.join(",");
        config
            .apply_env(&|name: &str| (name == "ROUTER_CORS_ALLOW_ORIGINS").then(|| joined.clone()))
            .context("--cors-origin")?;
    }
    Ok(())
}

fn built_in_subgraphs() -> Vec<router::compose::SubgraphSdl> {
    vec![
        router::compose::SubgraphSdl {
            name: "identity".into(),
            url: format!("http://127.0.0.1:{}/graphql", identity::config::DEFAULT_PORT),
            sdl: identity::schema::sdl(),
        },
        router::compose::SubgraphSdl {
            name: "tutoring".into(),
            url: format!("http://127.0.0.1:{}/graphql", tutoring::config::DEFAULT_PORT),
            sdl: tutoring::schema::sdl(),
        },
        router::compose::SubgraphSdl {
            name: "booking".into(),
            url: format!("http://127.0.0.1:{}/graphql", booking::config::DEFAULT_PORT),
            sdl: booking::schema::sdl(),
        },
        router::compose::SubgraphSdl {
            name: "payment".into(),
            url: format!("http://127.0.0.1:{}/graphql", payment::config::DEFAULT_PORT),
            sdl: payment::schema::sdl(),
        },
        router::compose::SubgraphSdl {
            name: "review".into(),
            url: format!("http://127.0.0.1:{}/graphql", review::config::DEFAULT_PORT),
            sdl: review::schema::sdl(),
        },
        router::compose::SubgraphSdl {
            name: "messaging".into(),
            url: format!("http://127.0.0.1:{}/graphql", messaging::config::DEFAULT_PORT),
            sdl: messaging::schema::sdl(),
        },
        router::compose::SubgraphSdl {
            name: "notification".into(),
            url: format!("http://127.0.0.1:{}/graphql", notification::config::DEFAULT_PORT),
            sdl: notification::schema::sdl(),
        },
    ]
}

async fn compose(out: &std::path::Path, live: &[String], files: &[String], stdout: bool) -> anyhow::Result<()> {
    let mut subgraphs = Vec::new();
    for spec in live {
        let (name, url) = spec.split_once('=').context("--subgraph takes name=url")?;
        let body: serde_json::Value = reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({ "query": "{ _service { sdl } }" }))
            .send()
            .await
            .with_context(|| format!("fetching the SDL of {name} from {url}"))?
            .json()
            .await?;
        let sdl =
            body["data"]["_service"]["sdl"].as_str().with_context(|| format!("{name} returned no SDL: {body}"))?;
        subgraphs.push(router::compose::SubgraphSdl { name: name.into(), url: url.into(), sdl: sdl.into() });
    }
    for spec in files {
        let mut parts = spec.splitn(3, '=');
        let (Some(name), Some(url), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("--file takes name=url=path");
        };
        let sdl = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        subgraphs.push(router::compose::SubgraphSdl { name: name.into(), url: url.into(), sdl });
    }
    if subgraphs.is_empty() {
        subgraphs = built_in_subgraphs();
    }
    let supergraph = router::compose::compose(&subgraphs).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("composition failed:\n{}", lines.join("\n"))
    })?;
    if stdout {
        print!("{supergraph}");
    } else {
        std::fs::write(out, &supergraph).with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {} ({} subgraphs)", out.display(), subgraphs.len());
    }
    Ok(())
}

/// The committed supergraph (composed from the subgraphs' SDL).
const SUPERGRAPH: &str = include_str!("../../../supergraph.graphql");

/// Every context that exists, and the router, in one process, each on its own port, sharing one
/// in-process bus.
async fn dev(data_dir: &str, host: &str, cors_origins: &[String]) -> anyhow::Result<()> {
    let mut env = Env::process().with("DATA_DIR", data_dir).with("AMQP_URL", "memory:").with("REDIS_URL", "");
    if env.get("TRUSTED_PROXIES").is_none() {
        // The router calls the subgraphs from this machine: they believe its x-forwarded-for.
        env = env.with("TRUSTED_PROXIES", "127.0.0.1, ::1");
    }
    let common = platform::CommonConfig::from_env(&env, "edustream", 0)?;
    let _telemetry = platform::telemetry::init_tracing(&common);
    let shutdown = Shutdown::on_signals();
    let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::new());

    let identity_env = env
        .clone()
        .with("DATABASE_URL", format!("sqlite:{data_dir}/identity.db"))
        .with("LISTEN_ADDR", format!("{host}:{}", identity::config::DEFAULT_PORT));
    let identity_config = identity::IdentityConfig::from_env(&identity_env)?;
    let identity_addr = identity_config.common.listen_addr;
    let listener =
        tokio::net::TcpListener::bind(identity_addr).await.with_context(|| format!("binding {identity_addr}"))?;
    let identity = identity::build(&identity_config, bus.clone(), &shutdown).await?;
    // In one process the other contexts check tokens with identity's keys directly (no JWKS fetch).
    let verifier = identity.verifier.clone();
    let grace = identity_config.common.shutdown_grace;
    let identity_task = tokio::spawn(identity.serve(listener, shutdown.clone(), grace));

    let tutoring_env = env
        .clone()
        .with("DATABASE_URL", format!("sqlite:{data_dir}/tutoring.db"))
        .with("LISTEN_ADDR", format!("{host}:{}", tutoring::config::DEFAULT_PORT));
    let tutoring_config = tutoring::TutoringConfig::from_env(&tutoring_env)?;
    let tutoring_addr = tutoring_config.common.listen_addr;
    let listener =
        tokio::net::TcpListener::bind(tutoring_addr).await.with_context(|| format!("binding {tutoring_addr}"))?;
    let tutoring = tutoring::build(&tutoring_config, bus.clone(), verifier.clone(), &shutdown).await?;
    let tutoring_task = tokio::spawn(tutoring.serve(listener, shutdown.clone(), tutoring_config.common.shutdown_grace));

    let booking_env = env
        .clone()
        .with("DATABASE_URL", format!("sqlite:{data_dir}/booking.db"))
        .with("LISTEN_ADDR", format!("{host}:{}", booking::config::DEFAULT_PORT));
    let booking_config = booking::BookingConfig::from_env(&booking_env)?;
    let booking_addr = booking_config.common.listen_addr;
    let listener =
        tokio::net::TcpListener::bind(booking_addr).await.with_context(|| format!("binding {booking_addr}"))?;
    let booking = booking::build(&booking_config, bus.clone(), verifier.clone(), &shutdown).await?;
    let booking_task = tokio::spawn(booking.serve(listener, shutdown.clone(), booking_config.common.shutdown_grace));

    let mut payment_env = env
        .clone()
        .with("DATABASE_URL", format!("sqlite:{data_dir}/payment.db"))
        .with("LISTEN_ADDR", format!("{host}:{}", payment::config::DEFAULT_PORT));
    if payment_env.get("PAYMENT_WEBHOOK_SECRET").is_none() {
        // Provider and endpoint share this process: a secret of its own will do.
        payment_env = payment_env.with("PAYMENT_WEBHOOK_SECRET", format!("whsec_dev_{:032x}", rand::random::<u128>()));
    }
    let payment_config = payment::PaymentConfig::from_env(&payment_env)?;
    let payment_addr = payment_config.common.listen_addr;
    let listener =
        tokio::net::TcpListener::bind(payment_addr).await.with_context(|| format!("binding {payment_addr}"))?;
    // The simulated provider (Stripe's test cards) posts its signed webhooks to payment.
    let provider = payment::SimulatedProvider::start(
        payment_config.webhook_secret.clone(),
        payment_config.webhook_url.clone(),
        &shutdown,
    );
    let payment = payment::build(&payment_config, bus.clone(), verifier.clone(), provider, &shutdown).await?;
    let payment_task = tokio::spawn(payment.serve(listener, shutdown.clone(), payment_config.common.shutdown_grace));

    let review_env = env
        .clone()
        .with("DATABASE_URL", format!("sqlite:{data_dir}/review.db"))
        .with("LISTEN_ADDR", format!("{host}:{}", review::config::DEFAULT_PORT));
    let review_config = review::ReviewConfig::from_env(&review_env)?;
    let review_addr = review_config.common.listen_addr;
    let listener =
        tokio::net::TcpListener::bind(review_addr).await.with_context(|| format!("binding {review_addr}"))?;
    let review = review::build(&review_config, bus.clone(), verifier.clone(), &shutdown).await?;
    let review_task = tokio::spawn(review.serve(listener, shutdown.clone(), review_config.common.shutdown_grace));

    // Live fan-out (chat, typing, notifications) within this one process.
    let messaging_env = env
        .clone()
        .with("DATABASE_URL", format!("sqlite:{data_dir}/messaging.db"))
        .with("LISTEN_ADDR", format!("{host}:{}", messaging::config::DEFAULT_PORT));
    let messaging_config = messaging::MessagingConfig::from_env(&messaging_env)?;
    let messaging_addr = messaging_config.common.listen_addr;
    let listener =
        tokio::net::TcpListener::bind(messaging_addr).await.with_context(|| format!("binding {messaging_addr}"))?;
    let messaging_fanout = platform::live::Fanout::in_process();
    let messaging =
        messaging::build(&messaging_config, bus.clone(), messaging_fanout, verifier.clone(), &shutdown).await?;
    let messaging_task =
        tokio::spawn(messaging.serve(listener, shutdown.clone(), messaging_config.common.shutdown_grace));

    // Email goes to .eml files under the data directory unless SMTP_URL names a server.
    let notification_env = env
        .clone()
        .with("DATABASE_URL", format!("sqlite:{data_dir}/notification.db"))
        .with("LISTEN_ADDR", format!("{host}:{}", notification::config::DEFAULT_PORT));
    let notification_env = match notification_env.get("MAIL_DIR") {
        Some(_) => notification_env,
        None => notification_env.with("MAIL_DIR", format!("{data_dir}/mail")),
    };
    let notification_config = notification::NotificationConfig::from_env(&notification_env)?;
    let notification_addr = notification_config.common.listen_addr;
    let listener = tokio::net::TcpListener::bind(notification_addr)
        .await
        .with_context(|| format!("binding {notification_addr}"))?;
    let notification_fanout = platform::live::Fanout::in_process();
    let notification =
        notification::build(&notification_config, bus.clone(), notification_fanout, verifier.clone(), &shutdown)
            .await?;
    let notification_task =
        tokio::spawn(notification.serve(listener, shutdown.clone(), notification_config.common.shutdown_grace));

    // The router, in front of the subgraphs, with the committed supergraph pointed at them.
    let supergraph = router::Supergraph::parse(SUPERGRAPH).context("the committed supergraph.graphql")?;
    // Development: subgraph messages and introspection (for GraphiQL and codegen) are on.
    let mut router_config =
        router::RouterConfig { expose_subgraph_errors: true, introspection: true, ..Default::default() };
    router_config.subgraph_urls.insert("identity".into(), format!("http://{identity_addr}/graphql"));
    router_config.subgraph_urls.insert("tutoring".into(), format!("http://{tutoring_addr}/graphql"));
    router_config.subgraph_urls.insert("booking".into(), format!("http://{booking_addr}/graphql"));
    router_config.subgraph_urls.insert("payment".into(), format!("http://{payment_addr}/graphql"));
    router_config.subgraph_urls.insert("review".into(), format!("http://{review_addr}/graphql"));
    router_config.subgraph_urls.insert("messaging".into(), format!("http://{messaging_addr}/graphql"));
    router_config.subgraph_urls.insert("notification".into(), format!("http://{notification_addr}/graphql"));
    // Our subgraphs speak cleartext HTTP/2: one multiplexed connection each.
    router_config.subgraph_defaults.protocol = router::config::Protocol::Http2;
    dev_cors(&mut router_config, cors_origins)?;
    // Tokens are checked at the edge too, against identity's JWKS (a bad one never reaches a subgraph).
    let jwt = &identity_config.common.jwt;
    router_config.authentication =
        Some(router::config::authentication::AuthSettings::new(vec![router::config::authentication::JwksSettings {
            url: format!("http://{identity_addr}/.well-known/jwks.json"),
            issuer: jwt.issuer.clone(),
            audiences: vec![jwt.audience.clone()],
            algorithms: vec![jsonwebtoken::Algorithm::EdDSA],
        }]));
    let router = Arc::new(router::Router::build(supergraph, router_config)?);
    let router_addr: std::net::SocketAddr = format!("{host}:4000").parse().context("router address")?;
    let router_listener =
        tokio::net::TcpListener::bind(router_addr).await.with_context(|| format!("binding {router_addr}"))?;
    let router_shutdown = shutdown.clone();
    let router_task = tokio::spawn(router::serve(router, router_listener, async move { router_shutdown.wait().await }));

    println!("EduStream dev stack (SQLite under {data_dir}/, in-process event bus)");
    println!("  router    http://{router_addr}/graphql   (one endpoint for the whole graph)");
    println!("  identity  http://{identity_addr}/graphql   JWKS http://{identity_addr}/.well-known/jwks.json");
    println!("  tutoring  http://{tutoring_addr}/graphql");
    println!("  booking   http://{booking_addr}/graphql");
    println!("  payment   http://{payment_addr}/graphql   webhooks http://{payment_addr}/webhooks/provider");
    println!("  review    http://{review_addr}/graphql");
    println!("  messaging http://{messaging_addr}/graphql");
    println!("  notification http://{notification_addr}/graphql   email as .eml files under {data_dir}/mail/");
    println!("Subscriptions: ws://{router_addr}/graphql (graphql-transport-ws) or SSE (Accept: text/event-stream).");
    println!("Press Ctrl-C to stop.");

    router_task.await.context("router task")?.context("router server")?;
    identity_task.await.context("identity task")??;
    tutoring_task.await.context("tutoring task")??;
    booking_task.await.context("booking task")??;
    payment_task.await.context("payment task")??;
    review_task.await.context("review task")??;
    messaging_task.await.context("messaging task")??;
    notification_task.await.context("notification task")??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_stack_allows_localhost_and_the_origins_named_on_the_command_line() {
        let mut config = router::RouterConfig::default();
        dev_cors(&mut config, &["https://app.example.com".to_owned()]).expect("valid origins");
        assert!(config.cors.allow_localhost, "a Vite app on localhost:5173 works out of the box");
        assert_eq!(config.cors.allow_origins, vec!["https://app.example.com".to_owned()]);
        let refused = dev_cors(&mut router::RouterConfig::default(), &["not an origin".to_owned()]);
        assert!(refused.is_err(), "a bad --cors-origin stops the dev stack with a message");
    }
}
