//! Sending, paging, editing, deleting and reading messages; the send rate limit.

use serde_json::{Value, json};

use crate::helpers::{code, spawn, spawn_with};

const HISTORY: &str = "query($c: ID!, $f: Int, $b: String) { conversation(id: $c) { unreadCount \
    messages(first: $f, before: $b) { edges { cursor node { id content deletedAt editedAt readAt readBy { reader { id } readAt messageId } } } \
    pageInfo { hasNextPage endCursor } } } }";

fn contents(body: &Value) -> Vec<Value> {
    let edges = body["data"]["conversation"]["messages"]["edges"].as_array().unwrap_or_else(|| panic!("{body}"));
    edges.iter().map(|e| e["node"]["content"].clone()).collect()
}

fn reason(body: &Value) -> &str {
    body["errors"][0]["extensions"]["reason"].as_str().unwrap_or_else(|| panic!("no reason in {body}"))
}

#[tokio::test]
async fn messages_are_validated_published_and_paged_newest_first() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Sam").await;
    let tutor = stack.user("TUTOR", "Tia").await;
    let id = stack.conversation(&student.token, &tutor).await;

    let body = stack.send(&student.token, &id, " \n\t ").await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "EMPTY_CONTENT"), "{body}");
    let body = stack.send(&student.token, &id, &"x".repeat(4001)).await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "CONTENT_TOO_LONG"), "{body}");
    let body = stack.send(&student.token, "nope", "hi").await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let longest = "é".repeat(4000);
    let body = stack.send(&student.token, &id, &format!("  {longest}\n")).await;
    assert_eq!(body["data"]["sendMessage"]["content"], longest.as_str(), "trimmed, 4000 characters fit");

    let body = stack.send(&student.token, &id, "  Hello, can we meet on Monday?  ").await;
    let sent = &body["data"]["sendMessage"];
    assert_eq!(sent["content"], "Hello, can we meet on Monday?", "{body}");
    assert_eq!((&sent["sender"]["id"], &sent["conversationId"]), (&json!(student.id), &json!(id)));
    assert_eq!((&sent["editedAt"], &sent["deletedAt"]), (&Value::Null, &Value::Null));
    let message = sent["id"].as_str().expect("id");
    let event = stack.events.wait_for("messaging.MessageSent", message).await;
    assert_eq!(event.payload["recipientIds"], json!([tutor.id]));
    assert_eq!(event.payload["senderId"], student.id.as_str());
    assert_eq!(event.payload["preview"], "Hello, can we meet on Monday?");
    let long = stack.events.of_type("messaging.MessageSent");
    assert!(long[0].payload["preview"].as_str().expect("preview").ends_with('…'), "long contents are cut");

    for text in ["one", "two", "three"] {
        stack.sent(&tutor.token, &id, text).await;
    }
    let page = stack.gql(HISTORY, json!({ "c": id, "f": 2 }), Some(&student.token)).await;
    assert_eq!(contents(&page), vec![json!("three"), json!("two")], "newest first: {page}");
    let info = &page["data"]["conversation"]["messages"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    let older = stack.gql(HISTORY, json!({ "c": id, "f": 2, "b": info["endCursor"] }), Some(&student.token)).await;
    assert_eq!(contents(&older), vec![json!("one"), json!("Hello, can we meet on Monday?")], "{older}");
    let info = &older["data"]["conversation"]["messages"]["pageInfo"];
    let oldest = stack.gql(HISTORY, json!({ "c": id, "f": 2, "b": info["endCursor"] }), Some(&student.token)).await;
    assert_eq!(contents(&oldest), vec![json!(longest)]);
    assert_eq!(oldest["data"]["conversation"]["messages"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(page["data"]["conversation"]["unreadCount"], 3, "the tutor's three: {page}");
    for bad in [json!({ "c": id, "f": 0 }), json!({ "c": id, "f": 51 }), json!({ "c": id, "b": "x" })] {
        let body = stack.gql(HISTORY, bad.clone(), Some(&student.token)).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
    }

    // The last message of every conversation in a list comes in one batch.
    let list = "{ conversations { edges { node { messages(first: 1) { edges { node { content } } } } } } }";
    let body = stack.gql(list, json!({}), Some(&tutor.token)).await;
    assert_eq!(body["data"]["conversations"]["edges"][0]["node"]["messages"]["edges"][0]["node"]["content"], "three");
}

#[tokio::test]
async fn the_sender_edits_within_fifteen_minutes_and_deletes_to_a_tombstone() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Eda").await;
    let tutor = stack.user("TUTOR", "Ted").await;
    let id = stack.conversation(&student.token, &tutor).await;
    let message = stack.sent(&student.token, &id, "helo").await;
    let edit =
        "mutation($m: ID!, $t: String!) { editMessage(messageId: $m, content: $t) { id content editedAt deletedAt } }";
    let delete = "mutation($m: ID!) { deleteMessage(messageId: $m) { id content deletedAt } }";

    let body = stack.gql(edit, json!({ "m": message, "t": "hi" }), Some(&tutor.token)).await;
    assert_eq!((code(&body), reason(&body)), ("FORBIDDEN", "NOT_SENDER"), "{body}");
    let body = stack.gql(edit, json!({ "m": message, "t": "   " }), Some(&student.token)).await;
    assert_eq!(reason(&body), "EMPTY_CONTENT", "{body}");
    let body = stack.gql(edit, json!({ "m": message, "t": " hello " }), Some(&student.token)).await;
    let edited = &body["data"]["editMessage"];
    assert_eq!(edited["content"], "hello", "{body}");
    assert!(edited["editedAt"].is_string());
    let event = stack.events.wait_for("messaging.MessageEdited", &message).await;
    assert_eq!(
        (event.payload["conversationId"].as_str(), event.payload["senderId"].as_str()),
        (Some(id.as_str()), Some(student.id.as_str()))
    );

    // Fourteen minutes after sending it is still editable, sixteen minutes after it is not.
    stack.backdate(&message, 14).await;
    let body = stack.gql(edit, json!({ "m": message, "t": "hello!" }), Some(&student.token)).await;
    assert_eq!(body["data"]["editMessage"]["content"], "hello!", "{body}");
    stack.backdate(&message, 16).await;
    let body = stack.gql(edit, json!({ "m": message, "t": "too late" }), Some(&student.token)).await;
    assert_eq!((code(&body), reason(&body)), ("FORBIDDEN", "EDIT_WINDOW_PASSED"), "{body}");

    let body = stack.gql(delete, json!({ "m": message }), Some(&tutor.token)).await;
    assert_eq!((code(&body), reason(&body)), ("FORBIDDEN", "NOT_SENDER"), "{body}");
    let body = stack.gql(delete, json!({ "m": message }), Some(&student.token)).await;
    let tombstone = &body["data"]["deleteMessage"];
    assert_eq!(tombstone["content"], Value::Null, "{body}");
    assert!(tombstone["deletedAt"].is_string());
    let event = stack.events.wait_for("messaging.MessageDeleted", &message).await;
    assert_eq!(event.payload["senderId"], student.id.as_str());
    let body = stack.gql(delete, json!({ "m": message }), Some(&student.token)).await;
    assert_eq!((code(&body), reason(&body)), ("CONFLICT", "MESSAGE_DELETED"), "{body}");
    stack.backdate(&message, 1).await;
    let body = stack.gql(edit, json!({ "m": message, "t": "back" }), Some(&student.token)).await;
    assert_eq!((code(&body), reason(&body)), ("CONFLICT", "MESSAGE_DELETED"), "no editing after deletion: {body}");

    // The tombstone stays in the history and no longer counts as unread.
    let history = stack.gql(HISTORY, json!({ "c": id }), Some(&tutor.token)).await;
    let node = &history["data"]["conversation"]["messages"]["edges"][0]["node"];
    assert_eq!((&node["id"], &node["content"]), (&json!(message), &Value::Null), "{history}");
    assert!(node["deletedAt"].is_string());
    assert_eq!(history["data"]["conversation"]["unreadCount"], 0);
    let missing = stack.gql(delete, json!({ "m": uuid::Uuid::now_v7().to_string() }), Some(&student.token)).await;
    assert_eq!(code(&missing), "NOT_FOUND");
}

#[tokio::test]
async fn reading_a_message_marks_the_conversation_read_up_to_it() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Rea").await;
    let tutor = stack.user("TUTOR", "Der").await;
    let id = stack.conversation(&student.token, &tutor).await;
    let mut messages = Vec::new();
    for text in ["m1", "m2", "m3"] {
        messages.push(stack.sent(&student.token, &id, text).await);
    }
    let reply = stack.sent(&tutor.token, &id, "reply").await;
    let mark = "mutation($m: ID!) { markMessageRead(messageId: $m) { conversationId messageId reader { id } readAt } }";

    let body = stack.gql(mark, json!({ "m": messages[1] }), Some(&tutor.token)).await;
    let receipt = &body["data"]["markMessageRead"];
    assert_eq!((&receipt["messageId"], &receipt["conversationId"]), (&json!(messages[1]), &json!(id)), "{body}");
    assert_eq!(receipt["reader"]["id"], tutor.id.as_str());
    let read_at = receipt["readAt"].as_str().expect("readAt").to_owned();
    let event = stack.events.wait_for("messaging.MessageRead", &messages[1]).await;
    assert_eq!(event.payload["readerId"], tutor.id.as_str());

    let history = stack.gql(HISTORY, json!({ "c": id }), Some(&tutor.token)).await;
    assert_eq!(history["data"]["conversation"]["unreadCount"], 1, "m3 is left: {history}");
    let nodes: Vec<&Value> = (0..4).map(|i| &history["data"]["conversation"]["messages"]["edges"][i]["node"]).collect();
    // Newest first: reply, m3, m2, m1. Up to m2, the tutor's receipts; none on their own reply.
    assert_eq!(nodes[0]["readBy"], json!([]), "{history}");
    assert_eq!(nodes[1]["readBy"], json!([]));
    assert_eq!(
        nodes[2]["readBy"],
        json!([{ "reader": { "id": tutor.id }, "readAt": read_at, "messageId": messages[1] }])
    );
    assert_eq!(nodes[3]["readBy"][0]["reader"]["id"], tutor.id.as_str(), "m1 too");
    assert_eq!(nodes[3]["readAt"], read_at.as_str());
    assert_eq!(nodes[1]["readAt"], Value::Null);

    // Reading an older one again changes nothing and publishes nothing.
    let body = stack.gql(mark, json!({ "m": messages[0] }), Some(&tutor.token)).await;
    assert_eq!(body["data"]["markMessageRead"]["readAt"], read_at.as_str(), "the receipt as it was: {body}");
    let body = stack.gql(mark, json!({ "m": reply }), Some(&tutor.token)).await;
    assert!(body["data"]["markMessageRead"]["readAt"].is_string(), "{body}");
    stack.events.wait_for("messaging.MessageRead", &reply).await;
    let reads = stack.events.of_type("messaging.MessageRead");
    assert_eq!(reads.iter().filter(|e| e.aggregate_id == messages[0]).count(), 0, "nothing for the older one");
    let history = stack.gql(HISTORY, json!({ "c": id }), Some(&tutor.token)).await;
    assert_eq!(history["data"]["conversation"]["unreadCount"], 0, "{history}");
    let nodes = &history["data"]["conversation"]["messages"]["edges"];
    assert_eq!(nodes[1]["node"]["readBy"][0]["reader"]["id"], tutor.id.as_str(), "m3 read with the reply: {history}");
    let theirs = stack.gql(HISTORY, json!({ "c": id }), Some(&student.token)).await;
    assert_eq!(theirs["data"]["conversation"]["unreadCount"], 1, "the student has not read the reply: {theirs}");
}

#[tokio::test]
async fn sending_is_rate_limited_per_sender() {
    let stack = spawn_with(&[("MESSAGE_RATE_PER_MINUTE", "1"), ("MESSAGE_RATE_BURST", "3")]).await;
    let student = stack.user("STUDENT", "Fast").await;
    let tutor = stack.user("TUTOR", "Calm").await;
    let id = stack.conversation(&student.token, &tutor).await;
    for n in 0..3 {
        stack.sent(&student.token, &id, &format!("message {n}")).await;
    }
    let body = stack.send(&student.token, &id, "one too many").await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    let retry_after = body["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
    assert!((1..=60).contains(&retry_after), "{body}");
    stack.sent(&tutor.token, &id, "the tutor has a bucket of their own").await;
    let history = stack.gql(HISTORY, json!({ "c": id }), Some(&tutor.token)).await;
    let refused = json!("one too many");
    assert!(!contents(&history).contains(&refused), "nothing stored: {history}");
    assert_eq!(contents(&history).len(), 4);
}
