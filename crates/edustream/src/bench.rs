//! `edustream bench me`: load and latency of the `me` query (a signed-in read: JWT
//! verification, one primary-key read, GraphQL execution), closed-loop clients over HTTP/1.1
//! keep-alive. Without `--url` it starts identity in-process on SQLite in a temporary directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use platform::bus::MemoryBus;
use platform::{Env, Shutdown};
use serde_json::{Value, json};

pub struct Options {
    pub url: Option<String>,
    pub requests: usize,
    pub concurrency: usize,
}

pub async fn me(options: Options) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    let dir = tempfile::tempdir()?;
    let url = match options.url {
        Some(url) => url,
        None => embedded_identity(dir.path(), &shutdown).await?,
    };
    let client = reqwest::Client::builder().pool_max_idle_per_host(options.concurrency).build()?;
    let token = sign_up(&client, &url).await?;
    let body =
        json!({ "query": "query Me { me { id email role profile { firstName lastName } } }", "operationName": "Me" });

    // Warm-up: connections, caches, the allocator.
    run(&client, &url, &token, &body, options.concurrency * 20, options.concurrency).await?;
    let started = Instant::now();
    let mut latencies = run(&client, &url, &token, &body, options.requests, options.concurrency).await?;
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("me query: {} requests, {} concurrent clients, against {url}", latencies.len(), options.concurrency);
    println!("  throughput  {:.0} req/s", latencies.len() as f64 / elapsed.as_secs_f64());
    println!("  latency     p50 {:?}  p90 {:?}  p99 {:?}  max {:?}", pct(0.50), pct(0.90), pct(0.99), pct(1.0));
    shutdown.trigger();
    Ok(())
}

async fn embedded_identity(dir: &std::path::Path, shutdown: &Shutdown) -> anyhow::Result<String> {
    let env = Env::process()
        .with("DATABASE_URL", format!("sqlite:{}/identity.db", dir.display()))
        .with("DATA_DIR", dir.display().to_string())
        .with("AMQP_URL", "memory:")
        .with("REDIS_URL", "");
    let config = identity::IdentityConfig::from_env(&env)?;
    let app = identity::build(&config, Arc::new(MemoryBus::new()), shutdown).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(app.serve(listener, shutdown.clone(), Duration::from_secs(1)));
    Ok(format!("http://{addr}/graphql"))
}

async fn sign_up(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let email = format!("bench-{}@example.org", std::process::id() as u64 * 1_000_003 + rand_suffix());
    let query = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }";
    let input =
        json!({ "email": email, "password": "a long benchmark password", "firstName": "Bench", "lastName": "Mark" });
    let response: Value =
        client.post(url).json(&json!({ "query": query, "variables": { "i": input } })).send().await?.json().await?;
    response["data"]["register"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("registration failed: {response}"))
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64 % 1_000_000)
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let per_client = requests.div_ceil(concurrency.max(1));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, url, token, body) = (client.clone(), url.to_owned(), token.to_owned(), body.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let started = Instant::now();
                let response = client.post(&url).bearer_auth(&token).json(&body).send().await?;
                let status = response.status();
                let bytes = response.bytes().await?;
                latencies.push(started.elapsed());
                if !status.is_success() || bytes.windows(9).any(|w| w == b"\"errors\":") {
                    bail!("unexpected answer {status}: {}", String::from_utf8_lossy(&bytes));
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for worker in workers {
        all.extend(worker.await??);
    }
    Ok(all)
}
