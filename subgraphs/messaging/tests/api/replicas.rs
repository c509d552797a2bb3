//! Several replicas of messaging on one database: a subscriber connected to one hears what is
//! sent through another (in-process: one shared fan-out; with `AMQP_URL`: each replica its own
//! RabbitMQ fan-out consumer on a shared exchange).

use platform::live::Fanout;
use serde_json::json;

use crate::helpers::{GENEROUS, Socket, Stack, replica};
use crate::subscriptions::{ADDED, TYPING, typing};

#[tokio::test]
async fn a_subscriber_on_one_replica_hears_what_is_sent_through_another() {
    let graph = testkit::Graph::start_on_broker(&["messaging"]).await;
    let mut env = graph.env_for("messaging").await;
    for (name, value) in GENEROUS {
        env = env.with(name, value);
    }
    let (to_a, to_b) = match testkit::broker_url() {
        Some(url) => {
            // An exchange of this test's own, so concurrent tests never hear each other.
            let exchange = format!("t{}.messaging.live", uuid::Uuid::now_v7().simple());
            (Fanout::rabbit(&url, &exchange, &graph.shutdown), Fanout::rabbit(&url, &exchange, &graph.shutdown))
        }
        None => {
            let shared = Fanout::in_process();
            (shared.clone(), shared)
        }
    };
    let a = replica(&graph, &env, to_a).await;
    let b = replica(&graph, &env, to_b).await;
    let stack = Stack { graph, messaging: a.addr, service: a.service.clone(), db: a.db.clone() };
    let student = stack.user("STUDENT", "Ada").await;
    let tutor = stack.user("TUTOR", "Bob").await;
    let id = stack.conversation(&student.token, &tutor).await;

    let mut on_b = Socket::connect(b.addr, Some(&tutor.token)).await;
    on_b.subscribe("added", ADDED, json!({ "c": id })).await;
    on_b.subscribe("typing", TYPING, json!({ "c": id })).await;

    let (s, token, conversation) = (&stack, student.token.as_str(), id.as_str());
    let mut n = 0;
    on_b.until_live("added", move || {
        n += 1;
        async move { s.sent(token, conversation, &format!("probe {n}")).await }
    })
    .await;
    let message = stack.sent(&student.token, &id, "sent through A").await;
    let heard = on_b.data_matching("added", |d| d["messageAdded"]["id"] == message.as_str()).await;
    assert_eq!(heard["messageAdded"]["content"], "sent through A");
    assert_eq!(heard["messageAdded"]["sender"]["id"], student.id.as_str());

    let typed = on_b.until_live("typing", || typing(s, a.addr, token, conversation)).await;
    assert_eq!(typed["typing"]["user"]["id"], student.id.as_str(), "{typed}");

    // Both replicas read the same history.
    let history = "query($c: ID!) { conversation(id: $c) { messages(first: 1) { edges { node { id } } } } }";
    let body = stack.graph.post(b.addr, history, json!({ "c": id }), Some(&tutor.token)).await;
    assert_eq!(body["data"]["conversation"]["messages"]["edges"][0]["node"]["id"], message.as_str(), "{body}");
}
