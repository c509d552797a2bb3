//! Subscriptions over a real WebSocket (`graphql-transport-ws`): new messages, edits and
//! deletions, read receipts and typing reach the other participant; outsiders are refused.

use chrono::SubsecRound as _;
use serde_json::{Value, json};

use crate::helpers::{Socket, Stack, spawn};

pub const ADDED: &str =
    "subscription($c: ID!) { messageAdded(conversationId: $c) { id conversationId content sender { id } sentAt } }";
pub const UPDATED: &str =
    "subscription($c: ID!) { messageUpdated(conversationId: $c) { id content editedAt deletedAt } }";
pub const READ: &str =
    "subscription($c: ID!) { messageRead(conversationId: $c) { conversationId messageId reader { id } readAt } }";
pub const TYPING: &str = "subscription($c: ID!) { typing(conversationId: $c) { conversationId user { id } at } }";

const TYPE: &str = "mutation($c: ID!) { sendTyping(conversationId: $c) }";

/// Sends `token`'s typing notice, expecting it accepted.
pub async fn typing(stack: &Stack, addr: std::net::SocketAddr, token: &str, conversation: &str) {
    let body = stack.graph.post(addr, TYPE, json!({ "c": conversation }), Some(token)).await;
    assert_eq!(body["data"]["sendTyping"], true, "{body}");
}

#[tokio::test]
async fn the_other_participant_hears_messages_edits_deletions_and_reads_live() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Sara").await;
    let tutor = stack.user("TUTOR", "Theo").await;
    let id = stack.conversation(&student.token, &tutor).await;
    let mut socket = Socket::connect(stack.messaging, Some(&tutor.token)).await;
    let variables = json!({ "c": id });
    socket.subscribe("added", ADDED, variables.clone()).await;
    socket.subscribe("updated", UPDATED, variables.clone()).await;
    socket.subscribe("read", READ, variables.clone()).await;

    // messageAdded: probe until the subscription is registered, then the real message.
    let (s, student_token, tutor_token, conversation) =
        (&stack, student.token.as_str(), tutor.token.as_str(), id.as_str());
    let mut n = 0;
    socket
        .until_live("added", move || {
            n += 1;
            async move { s.sent(student_token, conversation, &format!("probe {n}")).await }
        })
        .await;
    let message = stack.sent(&student.token, &id, "Is Monday fine?").await;
    let added = socket.data_matching("added", |d| d["messageAdded"]["content"] == "Is Monday fine?").await;
    assert_eq!(
        added["messageAdded"],
        json!({ "id": message, "conversationId": id, "content": "Is Monday fine?", "sender": { "id": student.id },
                "sentAt": added["messageAdded"]["sentAt"] }),
    );

    // messageUpdated: edits (probing with edits of the message), then the deletion's tombstone.
    let edit = "mutation($m: ID!, $t: String!) { editMessage(messageId: $m, content: $t) { id } }";
    let message_id = message.as_str();
    let mut n = 0;
    socket
        .until_live("updated", move || {
            n += 1;
            let text = format!("Is Monday fine? ({n})");
            async move { s.gql(edit, json!({ "m": message_id, "t": text }), Some(student_token)).await }
        })
        .await;
    let delete = "mutation($m: ID!) { deleteMessage(messageId: $m) { id } }";
    stack.gql(delete, json!({ "m": message }), Some(&student.token)).await;
    let tombstone = socket.data_matching("updated", |d| d["messageUpdated"]["deletedAt"].is_string()).await;
    assert_eq!(
        (&tombstone["messageUpdated"]["id"], &tombstone["messageUpdated"]["content"]),
        (&json!(message), &Value::Null)
    );

    // messageRead: the student reads new messages of the tutor until the first receipt arrives.
    let mark = "mutation($m: ID!) { markMessageRead(messageId: $m) { readAt } }";
    let mut n = 0;
    let receipt = socket
        .until_live("read", move || {
            n += 1;
            async move {
                let reply = s.sent(tutor_token, conversation, &format!("reply {n}")).await;
                s.gql(mark, json!({ "m": reply }), Some(student_token)).await
            }
        })
        .await;
    let receipt = &receipt["messageRead"];
    assert_eq!((&receipt["conversationId"], &receipt["reader"]["id"]), (&json!(id), &json!(student.id)), "{receipt}");
    assert!(receipt["messageId"].is_string() && receipt["readAt"].is_string());
}

#[tokio::test]
async fn typing_reaches_the_others_and_is_not_echoed_back() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Tyra").await;
    let tutor = stack.user("TUTOR", "Pete").await;
    let id = stack.conversation(&student.token, &tutor).await;
    let mut socket = Socket::connect(stack.messaging, Some(&student.token)).await;
    socket.subscribe("typing", TYPING, json!({ "c": id })).await;

    let first = socket.until_live("typing", || typing(&stack, stack.messaging, &tutor.token, &id)).await;
    assert_eq!((&first["typing"]["conversationId"], &first["typing"]["user"]["id"]), (&json!(id), &json!(tutor.id)));

    // Every probe so far happened before `mark`; the student's own typing and then the
    // tutor's happen after it. Live updates of a topic arrive in order, so the first update
    // stamped at or after `mark` is the student's own if it were echoed.
    let mark = next_millisecond().await;
    typing(&stack, stack.messaging, &student.token, &id).await;
    typing(&stack, stack.messaging, &tutor.token, &id).await;
    loop {
        let update = socket.data("typing").await;
        assert_eq!(update["typing"]["user"]["id"], tutor.id.as_str(), "only the tutor's typing: {update}");
        let at: chrono::DateTime<chrono::Utc> = update["typing"]["at"].as_str().expect("at").parse().expect("a time");
        if at >= mark {
            break;
        }
    }
}

/// The next millisecond of the clock (the service stamps typing with millisecond precision): at
/// most a millisecond of yielding.
async fn next_millisecond() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now().trunc_subsecs(3);
    loop {
        let later = chrono::Utc::now().trunc_subsecs(3);
        if later > now {
            return later;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn only_signed_in_participants_may_subscribe() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Pia").await;
    let tutor = stack.user("TUTOR", "Pat").await;
    let outsider = stack.user("STUDENT", "Oz").await;
    let id = stack.conversation(&student.token, &tutor).await;
    let missing = uuid::Uuid::now_v7().to_string();

    let mut socket = Socket::connect(stack.messaging, Some(&outsider.token)).await;
    for (n, query) in [ADDED, UPDATED, READ, TYPING].into_iter().enumerate() {
        socket.subscribe(&format!("theirs{n}"), query, json!({ "c": id })).await;
        assert_eq!(socket.refusal(&format!("theirs{n}")).await, "NOT_FOUND", "{query}");
    }
    socket.subscribe("missing", ADDED, json!({ "c": missing })).await;
    assert_eq!(socket.refusal("missing").await, "NOT_FOUND");
    socket.subscribe("garbage", ADDED, json!({ "c": "garbage" })).await;
    assert_eq!(socket.refusal("garbage").await, "BAD_USER_INPUT");

    let mut anonymous = Socket::connect(stack.messaging, None).await;
    anonymous.subscribe("anon", ADDED, json!({ "c": id })).await;
    assert_eq!(anonymous.refusal("anon").await, "UNAUTHENTICATED");
}
