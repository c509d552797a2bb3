//! `edustream bench subscriptions`: many concurrent subscribers on one router.
//!
//! Starts the dev stack as a child process (so its memory can be read apart from the clients'),
//! signs up one tutor and `conversations` students, starts a conversation per student, and opens
//! `subscribers` WebSocket connections to the router, each subscribed to `messageAdded` of one
//! conversation (as its student: identical subscriptions share one upstream). The tutor then
//! sends `rounds` messages to every conversation; every subscriber's receipt is timed from the
//! moment the mutation was sent, with the sender's name resolved from identity by the router.
//! Reports delivery latency percentiles and the router process's memory per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

pub struct Options {
    pub subscribers: usize,
    pub conversations: usize,
    pub rounds: usize,
}

const ROUTER: &str = "127.0.0.1:4000";

/// The dev stack in a child process; killed when dropped.
struct Stack {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stack {
    fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .args(["dev", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            // The bench's tutor sends far more than a person would.
            .env("MESSAGE_RATE_PER_MINUTE", "1000000")
            .env("MESSAGE_RATE_BURST", "100000")
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting the dev stack")?;
        Ok(Self { child, _dir: dir })
    }

    /// The child's resident memory in KiB (Linux `/proc`).
    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc/<pid>/status")
    }
}

pub async fn subscriptions(options: Options) -> anyhow::Result<()> {
    if options.conversations == 0 || options.subscribers < options.conversations {
        bail!("--subscribers must be at least --conversations (and that at least 1)");
    }
    let stack = Stack::start()?;
    let client = reqwest::Client::new();
    let url = format!("http://{ROUTER}/graphql");
    wait_until_ready(&client).await?;

    let (tutor_id, tutor_token) = register(&client, &url, "TUTOR", 0).await?;
    let mut conversations = Vec::with_capacity(options.conversations);
    for i in 0..options.conversations {
        let (_, token) = register(&client, &url, "STUDENT", i + 1).await?;
        let id = start_conversation(&client, &url, &token, &tutor_id).await?;
        conversations.push((id, token));
    }
    let before = stack.rss_kib()?;

    // Receipts of measured messages: (content, when it arrived); and who got a warm-up message.
    let receipts: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let warmed: Arc<Vec<std::sync::atomic::AtomicBool>> =
        Arc::new((0..options.subscribers).map(|_| std::sync::atomic::AtomicBool::new(false)).collect());
    let opening = Instant::now();
    let mut subscribers = Vec::with_capacity(options.subscribers);
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for i in 0..options.subscribers {
        let (conversation, token) = conversations[i % conversations.len()].clone();
        let (receipts, warmed, gate) = (receipts.clone(), warmed.clone(), gate.clone());
        subscribers.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.expect("never closed");
            let socket = subscribe(&conversation, &token).await?;
            drop(permit);
            listen(socket, receipts, &warmed[i]).await
        }));
    }
    // Subscribing completes asynchronously (router, then subgraph): everyone listens once a
    // warm-up message reached every subscriber.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut round = 0;
    loop {
        let waiting = warmed.iter().filter(|w| !w.load(std::sync::atomic::Ordering::Relaxed)).count();
        if waiting == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{waiting} of {} subscribers never received a message", options.subscribers);
        }
        send_round(&client, &url, &tutor_token, &conversations, &format!("warm-up{round}"), &Mutex::default()).await?;
        round += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let opened = opening.elapsed();
    let after = stack.rss_kib()?;
    let expected_per_round = options.subscribers;

    let sent: Mutex<HashMap<String, Instant>> = Mutex::default();
    for round in 0..options.rounds {
        send_round(&client, &url, &tutor_token, &conversations, &format!("r{round}"), &sent).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected = expected_per_round * options.rounds;
    wait_for(&receipts, expected, Duration::from_secs(120)).await?;
    let sent = sent.into_inner().expect("not poisoned");
    let mut latencies: Vec<Duration> = receipts
        .lock()
        .expect("not poisoned")
        .iter()
        .filter_map(|(content, at)| sent.get(content).map(|from| at.saturating_duration_since(*from)))
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let metrics = client.get(format!("http://{ROUTER}/metrics")).send().await?.text().await?;
    let live: Vec<&str> = metrics.lines().filter(|l| l.starts_with("router_live{")).collect();

    println!(
        "subscriptions: {} subscribers over {} conversations, {} rounds ({} deliveries)",
        options.subscribers,
        options.conversations,
        options.rounds,
        latencies.len()
    );
    println!("  connecting + subscribing  {opened:?} for all ({round} warm-up rounds)");
    println!(
        "  delivery latency          p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  dev stack memory          {} MiB before, {} MiB with everyone subscribed: {:.1} KiB per connection",
        before / 1024,
        after / 1024,
        after.saturating_sub(before) as f64 / options.subscribers as f64
    );
    println!("  router gauges             {}", live.join("  "));
    for subscriber in subscribers {
        subscriber.abort();
    }
    drop(stack);
    Ok(())
}

async fn wait_until_ready(client: &reqwest::Client) -> anyhow::Result<()> {
    for _ in 0..600 {
        if client.get(format!("http://{ROUTER}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the dev stack did not answer on {ROUTER} within a minute (is another one running?)")
}

async fn graphql(client: &reqwest::Client, url: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = client.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => response.json().await.unwrap_or_else(|e| json!({ "errors": [{ "message": e.to_string() }] })),
        Err(e) => json!({ "errors": [{ "message": e.to_string() }] }),
    }
}

async fn register(client: &reqwest::Client, url: &str, role: &str, n: usize) -> anyhow::Result<(String, String)> {
    let email = format!("live-{n}-{}@example.org", std::process::id());
    let query = "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }";
    let input = json!({ "email": email, "password": "a long benchmark password", "firstName": format!("{role}{n}"),
                        "lastName": "Bench", "role": role });
    let body = graphql(client, url, None, query, json!({ "i": input })).await;
    let token = body["data"]["register"]["accessToken"].as_str().with_context(|| format!("register: {body}"))?;
    let id = body["data"]["register"]["user"]["id"].as_str().context("a user id")?;
    Ok((id.to_owned(), token.to_owned()))
}

async fn start_conversation(client: &reqwest::Client, url: &str, token: &str, with: &str) -> anyhow::Result<String> {
    let query = "mutation($p: ID!) { startConversation(participantId: $p) { id } }";
    // Messaging learns about new users from identity's events: retry briefly until it has.
    for _ in 0..100 {
        let body = graphql(client, url, Some(token), query, json!({ "p": with })).await;
        if let Some(id) = body["data"]["startConversation"]["id"].as_str() {
            return Ok(id.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("could not start a conversation")
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(conversation: &str, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{ROUTER}/graphql").into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await?;
    let ack = socket.next().await.context("closed before connection_ack")??;
    if !ack.to_text().is_ok_and(|t| t.contains("connection_ack")) {
        bail!("expected connection_ack, got {ack:?}");
    }
    let query =
        "subscription($c: ID!) { messageAdded(conversationId: $c) { id content sender { id profile { firstName } } } }";
    let subscribe =
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "c": conversation } } });
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(socket)
}

/// Records the arrival of every measured message (warm-ups only set `warmed`); fails on anything
/// but `next` with a sender's name.
async fn listen(
    mut socket: Socket,
    receipts: Arc<Mutex<Vec<(String, Instant)>>>,
    warmed: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<()> {
    while let Some(frame) = socket.next().await {
        let Message::Text(text) = frame? else { continue };
        let at = Instant::now();
        let message: Value = serde_json::from_str(text.as_str())?;
        let added = &message["payload"]["data"]["messageAdded"];
        if message["type"] != "next" || added["sender"]["profile"]["firstName"].as_str().is_none() {
            bail!("unexpected message: {message}");
        }
        let content = added["content"].as_str().unwrap_or_default().to_owned();
        if content.starts_with("warm-up") {
            warmed.store(true, std::sync::atomic::Ordering::Relaxed);
        } else {
            receipts.lock().expect("not poisoned").push((content, at));
        }
    }
    Ok(())
}

/// The tutor sends one message to every conversation at once; `sent` records when each left.
async fn send_round(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    conversations: &[(String, String)],
    tag: &str,
    sent: &Mutex<HashMap<String, Instant>>,
) -> anyhow::Result<()> {
    let query = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, content: $t) { id } }";
    let sends = conversations.iter().enumerate().map(|(i, (conversation, _))| async move {
        let content = format!("{tag}-{i}");
        sent.lock().expect("not poisoned").insert(content.clone(), Instant::now());
        let body = graphql(client, url, Some(token), query, json!({ "c": conversation, "t": content })).await;
        if body["data"]["sendMessage"]["id"].is_null() {
            bail!("sendMessage failed: {body}");
        }
        Ok(())
    });
    for result in futures_util::future::join_all(sends).await {
        result?;
    }
    Ok(())
}

async fn wait_for(receipts: &Mutex<Vec<(String, Instant)>>, count: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let received = receipts.lock().expect("not poisoned").len();
        if received >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {received} of {count} deliveries arrived within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
